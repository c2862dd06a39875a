"""``ase-dipole predict``: dipoles and Born charges of structures from a model.

A thin layer over :meth:`ase_dipole.learning.model.PolarizationModel.predict`.
"""

import ase.io

from ase_dipole import __version__
from ase_dipole.cli.fit import read_frames
from ase_dipole.io.extxyz import BORN_KEY, DIPOLE_KEY, get_born_charges, get_dipole, set_born_charges, set_dipole
from ase_dipole.learning.model import PolarizationModel

help = "predict dipoles and Born charges with a fitted model; write extxyz"


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL", help="model file written by 'ase-dipole fit'")
    parser.add_argument("structures", metavar="STRUCTURES", help="structures (any file ase.io.read understands)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="extxyz with the predicted 'dipole' (e·Å) and 'born_charges' (e); "
                             "reference values of the input are kept as 'dipole_reference' and "
                             "'born_charges_reference'")


def run(args, parser):
    try:
        model = PolarizationModel.load(args.model)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    frames = read_frames(args.structures, parser)
    out = []
    for index, frame in enumerate(frames):
        try:
            dipole, born = model.predict(frame)
        except ValueError as error:
            parser.error(f"{args.structures}, frame {index}: {error}")
        reference_dipole, reference_born = get_dipole(frame), get_born_charges(frame)
        atoms = frame.copy()
        atoms.calc = None
        atoms.info.pop(DIPOLE_KEY, None)
        atoms.arrays.pop(BORN_KEY, None)
        if reference_dipole is not None:
            atoms.info["dipole_reference"] = reference_dipole
        if reference_born is not None:
            atoms.arrays["born_charges_reference"] = reference_born.reshape(len(atoms), 9)
        set_dipole(atoms, dipole)
        set_born_charges(atoms, born)
        atoms.info["predicted_by"] = f"ase-dipole {__version__} model sha256 {model.sha256}"
        out.append(atoms)
    ase.io.write(args.output, out, format="extxyz")
    print(f"wrote {len(out)} frame(s) to {args.output}")
    return 0
