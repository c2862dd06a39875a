"""``ase-dipole md``: thermostatted sampling, then NVE runs logging Ṗ.

A thin layer over :func:`ase_dipole.dynamics.md.run_ir_md`: in this process
by default, on a Dask cluster with ``--workers``, ``--scheduler`` or
``--slurm-jobs`` (:mod:`ase_dipole.distributed`). Rerunning a killed command
resumes every unfinished run from its last checkpoint and says so.
"""

import math
import os
import sys

from ase_dipole.cli.options import add_mass_argument, masses_from_args
from ase_dipole.distributed import add_cluster_arguments
from ase_dipole.dynamics.md import XTB_ACCURACY

#: API keywords passed under another name: an error naming one names the option
keywords = {"polarizability_model": "raman"}

help = "run the IR MD protocol (Langevin sampling, NVE production runs logging Ṗ)"


def add_arguments(parser):
    parser.add_argument("structure", help="starting structure, any file ase.io.read understands")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="saved dipole model (PolarizationModel or FixedChargesModel)")
    source.add_argument(
        "--fixed-charges", metavar="EXTXYZ",
        help="frame with Born charges (extxyz 'born_charges'): hold them fixed "
             "(FixedChargesModel with this frame as reference)",
    )
    parser.add_argument(
        "--calculator", required=True,
        help="force calculator: 'tblite' (GFN2-xTB), 'mace:PATH' (a MACE model file on the CPU, "
             "float64; 'mace:PATH?dtype=float32' about twice as fast; needs ase-dipole[mace]) or "
             "'module:factory', a callable returning an ASE calculator, e.g. "
             "'ase.calculators.emt:EMT'; built on each Dask worker",
    )
    parser.add_argument("--xtb-accuracy", type=float, default=None, metavar="X",
                        help="tblite's accuracy multiplier with --calculator tblite (default "
                             f"{XTB_ACCURACY:g}: a tight SCF; tblite's own 1.0 lets NVE runs "
                             "drift visibly); recorded in run.json")
    parser.add_argument("-o", "--outdir", required=True,
                        help="output folder (run.json, traj_000.log, ...)")
    parser.add_argument("--temperature-K", type=float, required=True, help="temperature, K")
    parser.add_argument("--timestep-fs", type=float, default=0.5, help="MD time step, fs")
    parser.add_argument("--n-trajectories", type=int, default=4, help="number of NVE runs")
    parser.add_argument("--equilibration-steps", type=int, default=2000,
                        help="thermostatted steps before the first start")
    parser.add_argument("--decorrelation-steps", type=int, default=1000,
                        help="thermostatted steps between starting configurations")
    parser.add_argument("--production-steps", type=int, default=20000,
                        help="NVE steps per trajectory")
    parser.add_argument("--interval", type=int, default=1, help="MD steps between logged rows")
    parser.add_argument("--friction-per-fs", type=float, default=0.01,
                        help="Langevin friction, 1/fs (0.01 = 10 ps^-1)")
    parser.add_argument("--ensemble", choices=("nvt", "npt"), default="nvt",
                        help="sampling ensemble; npt lets a periodic cell breathe")
    parser.add_argument("--pressure-bar", type=float, default=1.0, help="pressure for npt, bar")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    add_mass_argument(parser)
    parser.add_argument("--sampling-chains", type=int, default=1, metavar="C",
                        help="independent thermostatted chains supplying the starts "
                             "(trajectory k continues chain k mod C); run in parallel on a cluster")
    parser.add_argument("--checkpoint-steps", type=int, metavar="K",
                        help="MD steps between checkpoints (a multiple of --interval; default: "
                             "one checkpoint per minute of wall time)")
    parser.add_argument("--electric-field-V-per-A", type=float, nargs=3, metavar=("EX", "EY", "EZ"),
                        help="static electric field of every phase, V/Å (adds −μ·E and E·Z* from "
                             "the dipole model to the force calculator; linear clamped-ion "
                             "approximation, warns above 0.1 V/Å, refused above 1 V/Å; not with "
                             "--ensemble npt); "
                             "recorded in run.json and the logs")
    parser.add_argument("--raman", metavar="MODEL.npz",
                        help="saved PolarizabilityModel: every NVE run also logs α̇ and α "
                             "(traj_000.alog ..., for 'ase-dipole raman'), checkpointed and resumed "
                             "with its dipole log")
    parser.add_argument("--retries", type=int, default=2,
                        help="Dask retries of a failed task (each resumes from its checkpoint)")
    add_cluster_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args, parser):
    import ase.io

    from ase_dipole.distributed import client_from_args
    from ase_dipole.dynamics.md import MDBlowUpError, is_running_elsewhere, run_ir_md
    from ase_dipole.provenance import command_line
    from ase_dipole.dynamics.trajectory import apply_masses
    from ase_dipole.learning.fixed_charges import FixedChargesModel

    masses = masses_from_args(args, parser)
    try:
        atoms = ase.io.read(args.structure)
    except (OSError, ValueError) as error:
        parser.error(f"cannot read structure {args.structure!r}: {error}")
    try:
        apply_masses(atoms, masses)
    except ValueError as error:
        parser.error(f"--mass: {error}")
    if args.fixed_charges is not None:
        try:
            model = FixedChargesModel.from_atoms(ase.io.read(args.fixed_charges))
        except (OSError, ValueError) as error:
            parser.error(f"--fixed-charges {args.fixed_charges!r}: {error}")
    else:
        model = args.model
    field = args.electric_field_V_per_A
    if field is not None and not all(math.isfinite(value) for value in field):
        parser.error(f"--electric-field-V-per-A {' '.join(map(str, field))}: the components must "
                     "be finite numbers in V/Å")
    if field is not None and args.ensemble == "npt":
        parser.error("--electric-field-V-per-A cannot be used with --ensemble npt (the field term "
                     "has no stress); use --ensemble nvt")
    if args.xtb_accuracy is not None and args.calculator != "tblite":
        parser.error(f"--xtb-accuracy is tblite's setting of --calculator tblite, not of "
                     f"{args.calculator!r}; drop it or use --calculator tblite")
    finished_before = _finished_trajectories(args.outdir)
    started_before = _started_logs(args.outdir) - finished_before
    running_elsewhere = {name for name in started_before if is_running_elsewhere(
        os.path.join(args.outdir, "start_" + name[len("traj_"):] + ".traj"))}
    started_before -= running_elsewhere
    try:
        with client_from_args(args) as client:
            logs = run_ir_md(
                atoms, args.calculator, model, args.outdir,
                temperature_K=args.temperature_K, timestep_fs=args.timestep_fs,
                n_trajectories=args.n_trajectories, equilibration_steps=args.equilibration_steps,
                decorrelation_steps=args.decorrelation_steps,
                production_steps=args.production_steps, interval=args.interval,
                friction_per_fs=args.friction_per_fs, ensemble=args.ensemble,
                pressure_bar=args.pressure_bar, seed=args.seed,
                sampling_chains=args.sampling_chains, checkpoint_steps=args.checkpoint_steps,
                electric_field_V_per_A=field, client=client, retries=args.retries,
                progress=None if args.quiet else sys.stderr,
                xtb_accuracy=XTB_ACCURACY if args.xtb_accuracy is None else args.xtb_accuracy,
                command=command_line(args._argv), polarizability_model=args.raman,
            )
    except (ValueError, TypeError, ImportError, FileNotFoundError, ConnectionError,
            MDBlowUpError) as error:
        parser.error(str(error))
    names = [os.path.splitext(os.path.basename(log))[0] for log in logs]
    skipped = [name for name in names if name in finished_before]
    resumed = [name for name in names if name in started_before]
    if skipped:
        print(f"skipped {len(skipped)} finished trajectory(ies) of a previous run: {', '.join(skipped)}")
    if resumed:
        print(f"resumed {len(resumed)} interrupted trajectory(ies) from their last checkpoint "
              f"(or their start without one): {', '.join(resumed)}")
    waited = [name for name in names if name in running_elsewhere]
    if waited:
        print(f"waited for {len(waited)} trajectory(ies) that another process was running (not "
              f"interrupted): {', '.join(waited)}")
    print("\n".join(logs))
    return 0


def _finished_trajectories(outdir):
    """Names (``traj_000``, ...) of the NVE runs in ``outdir`` that finished
    (their ``.nve.json`` record exists)."""
    if not os.path.isdir(outdir):
        return set()
    return {name[:-len(".nve.json")] for name in os.listdir(outdir) if name.endswith(".nve.json")}


def _started_logs(outdir):
    """Names of the dipole logs present in ``outdir``."""
    if not os.path.isdir(outdir):
        return set()
    return {name[:-len(".log")] for name in os.listdir(outdir)
            if name.startswith("traj_") and name.endswith(".log")}
