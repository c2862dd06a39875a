"""``ase-dipole convert``: Born-charge files of any supported format to extxyz."""

import json

from ase_dipole.io import READERS, BornChargeFormatError, read_born_charges
from ase_dipole.io.extxyz import write_extxyz
from ase_dipole.provenance import command_line, provenance

#: API keywords passed under another name: an error naming one names the option
keywords = {"cell": "cell_A"}

help = "convert VASP/phonopy/QE/APT Born-charge files to extended XYZ (born_charges, dipole, epsilon)"


def add_arguments(parser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files (.gz accepted)")
    parser.add_argument("-o", "--output", required=True,
                        help="output extended-XYZ file (each frame's 'conversion_provenance': "
                             "version, date, command, sha256 of its input files)")
    parser.add_argument("--format", choices=sorted(READERS), default=None,
                        help="input format (default: guessed from name/content)")
    parser.add_argument("--structure", default=None,
                        help="POSCAR of the cell (required for phonopy BORN files)")
    parser.add_argument("--cell-A", type=float, nargs="+", default=None,
                        help="box in Å (1, 3 or 9 numbers) for AtomicPolarTensor xyz files")
    parser.add_argument("--born-key", default=None,
                        help="extxyz array/info key holding Z* (default: born_charges or BEC)")
    parser.add_argument("--dipole-key", default=None, help="extxyz info key holding the dipole in e·Å")


def run(args, parser):
    kwargs = {}
    if args.structure is not None:
        kwargs["structure"] = args.structure
    if args.cell_A is not None:
        if len(args.cell_A) not in (1, 3, 9):
            parser.error(f"--cell-A takes 1, 3 or 9 numbers, got {len(args.cell_A)}")
        kwargs["cell"] = args.cell_A
    if args.born_key is not None:
        kwargs["born_key"] = args.born_key
    if args.dipole_key is not None:
        kwargs["dipole_key"] = args.dipole_key
    command = command_line(args._argv)
    frames = []
    for path in args.inputs:
        try:
            read = read_born_charges(path, format=args.format, **kwargs)
        except (OSError, ValueError, TypeError) as error:
            hint = "" if isinstance(error, BornChargeFormatError) else " (see --help for --format/--structure/--cell-A)"
            parser.error(f"{path}: {error}{hint}")
        record = json.dumps(provenance(inputs=[path, *([args.structure] if args.structure else [])],
                                       command=command), sort_keys=True)
        for atoms in read:
            atoms.info["conversion_provenance"] = record
        frames.extend(read)
    try:
        write_extxyz(args.output, frames)
    except OSError as error:
        parser.error(f"--output: {error.strerror}")
    print(f"wrote {len(frames)} frame(s) to {args.output}")
    return 0
