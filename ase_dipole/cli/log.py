"""``ase-dipole log``: the Ṗ log of an existing MD trajectory.

A thin layer over :func:`ase_dipole.dynamics.trajectory.log_from_trajectory`.
"""

from ase_dipole.cli.options import add_dipole_source_arguments, add_mass_argument, dipole_model_from_args

#: API keywords passed under another name: an error naming one names the option
keywords = {"masses_amu": "mass"}

help = ("dipole log (Ṗ, μ) of an existing trajectory: ASE .traj, extxyz, VASP XDATCAR or "
        "vasprun.xml, LAMMPS dump")


def add_arguments(parser):
    from ase_dipole.dynamics.trajectory import LAMMPS_UNITS, TRAJECTORY_FORMATS

    parser.add_argument("trajectory", metavar="TRAJ", help="MD trajectory, frames in time order")
    add_dipole_source_arguments(parser)
    parser.add_argument("--timestep-fs", type=float, required=True,
                        help="time between consecutive frames (after --index), fs")
    parser.add_argument("-o", "--output", required=True, metavar="LOG", help="dipole log to write")
    parser.add_argument("--temperature-K", type=float,
                        help="temperature of the ensemble, K (recorded for the spectrum)")
    parser.add_argument("--format", choices=TRAJECTORY_FORMATS,
                        help="trajectory format (default: from the file name)")
    parser.add_argument("--index", default=":", help="frames to use, ase.io.read syntax")
    parser.add_argument("--lammps-units", choices=LAMMPS_UNITS,
                        help="LAMMPS unit style of a dump (required for dumps: metal = Å, Å/ps; "
                             "real = Å, Å/fs)")
    parser.add_argument("--lammps-types", nargs="+", metavar="ELEMENT",
                        help="element of each LAMMPS atom type, type 1 first (dumps without an "
                             "element column)")
    add_mass_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing log")


def run(args, parser):
    from ase_dipole.dynamics.trajectory import log_from_trajectory
    from ase_dipole.cli.options import masses_from_args
    from ase_dipole.provenance import command_line, provenance

    if not args.timestep_fs > 0:
        parser.error(f"--timestep-fs must be a positive number of fs between frames, got {args.timestep_fs:g}")
    model, model_inputs = dipole_model_from_args(args, parser)
    masses = masses_from_args(args, parser)
    record = provenance(inputs=[args.trajectory, *model_inputs], command=command_line(args._argv))
    record.pop("ase_dipole_version")
    try:
        route = log_from_trajectory(
            args.trajectory, model, args.output, timestep_fs=args.timestep_fs,
            temperature_K=args.temperature_K, index=args.index, format=args.format,
            lammps_units=args.lammps_units, lammps_types=args.lammps_types,
            masses_amu=masses, metadata={"provenance": record}, overwrite=args.overwrite,
        )
    except FileExistsError as error:
        parser.error(f"{error} (CLI: --overwrite)")
    except (ValueError, TypeError, FileNotFoundError) as error:
        parser.error(str(error))
    how = "Z*·v from the velocities" if route == "velocities" else "central finite differences of μ"
    print(f"wrote {args.output} (Ṗ by {how})")
    return 0
