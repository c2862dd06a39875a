"""``ase-dipole predict``: dipoles and Born charges of structures from a model.

A thin layer over :meth:`ase_dipole.learning.model.PolarizationModel.predict`.
"""

import json
import sys

from ase_dipole.cli.fit import read_frames
from ase_dipole.dynamics.calculator import check_box
from ase_dipole.io.extxyz import (
    BORN_KEY,
    DIPOLE_KEY,
    get_born_charges,
    get_dipole,
    set_born_charges,
    set_dipole,
    write_extxyz,
)
from ase_dipole.learning.model import PolarizationModel
from ase_dipole.progress import progress_bar
from ase_dipole.provenance import command_line, provenance

help = "predict dipoles and Born charges with a fitted model; write extxyz"


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL", help="model file written by 'ase-dipole fit'")
    parser.add_argument("structures", metavar="STRUCTURES", help="structures (any file ase.io.read understands)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="extxyz with the predicted 'dipole' (e·Å) and 'born_charges' (e); "
                             "reference values of the input are kept as 'dipole_reference' and "
                             "'born_charges_reference'; each frame's 'prediction_provenance': "
                             "version, date, command, model sha256, sha256 of the inputs")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _reference(getter, frame, index, path):
    """A reference value of the input (dipole or Z*), or None; one that does
    not fit is not needed for a prediction and is dropped with a note."""
    try:
        return getter(frame)
    except ValueError as error:
        print(f"{path}, frame {index}: ignoring its reference {error}", file=sys.stderr)
        return None


def run(args, parser):
    try:
        model = PolarizationModel.load(args.model)
    except OSError as error:
        parser.error(f"cannot read MODEL {args.model}: {error.strerror or error}")
    except ValueError as error:
        parser.error(str(error))
    frames = read_frames(args.structures, parser)
    record = json.dumps(provenance(inputs=[args.model, args.structures], model_sha256=model.sha256,
                                   command=command_line(args._argv)), sort_keys=True)
    out = []
    bar = progress_bar(len(frames), "predict", unit="frame", stream=None if args.quiet else sys.stderr)
    for index, frame in enumerate(frames):
        check_box(frame, model.descriptor.cutoff)
        try:
            dipole, born = model.predict(frame)
        except ValueError as error:
            parser.error(f"{args.structures}, frame {index}: {error}")
        reference_dipole = _reference(get_dipole, frame, index, args.structures)
        reference_born = _reference(get_born_charges, frame, index, args.structures)
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
        atoms.info["prediction_provenance"] = record
        out.append(atoms)
        bar.update(1)
    bar.close()
    try:
        write_extxyz(args.output, out)
    except OSError as error:
        parser.error(f"--output: {error.strerror}")
    print(f"wrote {len(out)} frame(s) to {args.output}")
    return 0
