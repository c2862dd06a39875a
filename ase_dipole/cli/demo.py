"""``ase-dipole demo``: the water-dimer demo, run as ``ase-dipole run`` on the
shipped protocol (:mod:`ase_dipole.workflow.demo`)."""

import shlex
import sys

from ase_dipole.workflow.demo import DEFAULT_OUTDIR, QUICK

help = ("run the water-dimer demo: fit on Born charges, GFN2-xTB MD, finite-T and "
        "harmonic IR spectra (about 5 minutes on one idle core; --quick: under a minute)")


def add_arguments(parser):
    parser.add_argument("-o", "--outdir", default=DEFAULT_OUTDIR,
                        help="output folder (tables, figures, summary.txt)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke version: {QUICK['md.n_trajectories']} × "
                        f"{QUICK['md.production_steps'] * 0.5 / 1000:g} ps MD, "
                        f"{QUICK['spectrum.fwhm_cm1']:g} cm^-1 lines")
    parser.add_argument("--regenerate", action="store_true",
                        help="sample, select and label new frames with GFN2-xTB instead of "
                        "using the shipped reference set")
    parser.add_argument("--force", action="store_true",
                        help="redo every step, even those a previous run finished")
    parser.add_argument("--temperature-K", type=float, default=None,
                        help="MD temperature, K (default 100)")
    parser.add_argument("--trajectories", type=int, default=None,
                        help="NVE trajectories (default 12, quick 2)")
    parser.add_argument("--production-steps", type=int, default=None,
                        help="NVE steps per trajectory (default 10000, quick 4000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the MD (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args, parser):
    from ase_dipole.cli import main
    from ase_dipole.workflow.demo import run_arguments

    overrides = {name: value for name, value in (
        ("temperature_K", args.temperature_K), ("n_trajectories", args.trajectories),
        ("production_steps", args.production_steps), ("seed", args.seed),
    ) if value is not None}
    arguments = run_arguments(args.outdir, quick=args.quick, regenerate=args.regenerate,
                              force=args.force, threads=args.threads, **overrides)
    if args.quiet:
        arguments.append("--quiet")
    else:
        sys.stderr.write("ase-dipole " + shlex.join(arguments) + "\n")
    return main(arguments)
