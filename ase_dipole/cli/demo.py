"""``ase-dipole demo``: the water-dimer demo (:func:`ase_dipole.workflow.demo.run_demo`)."""

import sys

from ase_dipole.workflow.demo import DEFAULT_OUTDIR, FULL, QUICK

help = ("run the water-dimer demo: fit on Born charges, GFN2-xTB MD, finite-T and "
        "harmonic IR spectra (2-3 minutes; --quick: under a minute)")


def add_arguments(parser):
    parser.add_argument("-o", "--outdir", default=DEFAULT_OUTDIR,
                        help="output folder (tables, figures, summary.txt)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke version: {QUICK.n_trajectories} × "
                        f"{QUICK.production_steps * QUICK.timestep_fs / 1000:g} ps MD, "
                        f"{QUICK.fwhm_cm1:g} cm^-1 lines")
    parser.add_argument("--regenerate", action="store_true",
                        help="generate a small fresh GFN2-xTB reference set instead of the "
                        "shipped one")
    parser.add_argument("--force", action="store_true",
                        help="redo every step, even those a previous run finished")
    parser.add_argument("--temperature-K", type=float, default=None,
                        help=f"MD temperature, K (default {FULL.temperature_K:g})")
    parser.add_argument("--trajectories", type=int, default=None,
                        help=f"NVE trajectories (default {FULL.n_trajectories}, "
                        f"quick {QUICK.n_trajectories})")
    parser.add_argument("--production-steps", type=int, default=None,
                        help=f"NVE steps per trajectory (default {FULL.production_steps}, "
                        f"quick {QUICK.production_steps})")
    parser.add_argument("--seed", type=int, default=None, help="seed of the MD (default 0)")
    parser.add_argument("--silent", action="store_true", help="no progress output")


def run(args, parser):
    from ase_dipole.workflow.demo import run_demo

    overrides = {name: value for name, value in (
        ("temperature_K", args.temperature_K), ("n_trajectories", args.trajectories),
        ("production_steps", args.production_steps), ("seed", args.seed),
    ) if value is not None}
    try:
        result = run_demo(args.outdir, quick=args.quick, regenerate=args.regenerate,
                          force=args.force, stream=None if args.silent else sys.stderr,
                          **overrides)
    except (ImportError, FileNotFoundError, ValueError, RuntimeError) as error:
        parser.error(str(error))
    with open(result.summary_path) as handle:
        print(handle.read(), end="")
    return 0
