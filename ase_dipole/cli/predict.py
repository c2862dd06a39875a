"""``ase-dipole predict``: dipoles and Born charges of structures from a model.

A thin layer over :meth:`ase_dipole.learning.model.PolarizationModel.predict`;
``--parity PNG`` draws predicted against reference Z* per element
(:func:`ase_dipole.learning.parity.born_charge_parity`, the paper's Fig. 2),
with ``--training TRAIN`` as a second panel.
"""

import json
import os
import sys

import numpy as np

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
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="extxyz with the predicted 'dipole' (e·Å) and 'born_charges' (e); "
                             "reference values of the input are kept as 'dipole_reference' and "
                             "'born_charges_reference'; each frame's 'prediction_provenance': "
                             "version, date, command, model sha256, sha256 of the inputs")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--parity", metavar="FIGURE",
                        help="parity plot of predicted against reference Z* components per "
                             "element (.png/.pdf/.svg; the frames need reference Born charges), "
                             "with RMSE and RMSPE per element and overall, also printed")
    parser.add_argument("--training", metavar="TRAIN",
                        help="with --parity: the model's training frames, drawn as a first panel")


def _reference(getter, frame, index, path):
    """A reference value of the input (dipole or Z*), or None; one that does
    not fit is not needed for a prediction and is dropped with a note."""
    try:
        return getter(frame)
    except ValueError as error:
        print(f"{path}, frame {index}: ignoring its reference {error}", file=sys.stderr)
        return None


def _parity(args, parser, model, frames, reference, predicted):
    """Draw ``--parity`` and print its statistics; ``reference`` and
    ``predicted`` are the Z* of ``frames`` (lists of (N, 3, 3) arrays, e)."""
    from ase_dipole.learning.parity import born_charge_parity

    sets = {}
    if args.training is not None:
        training = read_frames(args.training, parser)
        sets[f"training: {os.path.basename(args.training)} ({len(training)} frames)"] = training
    label = "held out: " if args.training is not None else ""
    missing = [index for index, value in enumerate(reference) if value is None]
    if missing:
        parser.error(f"--parity: {args.structures}, frame {missing[0]} has no reference Born "
                     f"charges ({len(missing)} of {len(frames)} frames lack them); give frames "
                     "with 'born_charges'")
    symbols = [symbol for frame in frames for symbol in frame.get_chemical_symbols()]
    sets[f"{label}{os.path.basename(args.structures)} ({len(frames)} frames)"] = (
        np.concatenate(reference), np.concatenate(predicted), symbols)
    try:
        statistics = born_charge_parity(sets, args.parity, model=model)
    except ValueError as error:
        parser.error(f"--parity: {error}")
    except OSError as error:
        parser.error(f"--parity: {error.strerror or error}")
    print(f"{'set':<40} {'element':>7} {'atoms':>7} {'RMSE (e)':>9} {'RMSPE (%)':>9}")
    for name, table in statistics.items():
        for element, row in table.items():
            print(f"{name:<40} {element:>7} {row['n_atoms']:>7} {row['rmse_e']:>9.4f} "
                  f"{row['rmspe_percent']:>9.2f}")
    print(f"wrote {args.parity}")


def run(args, parser):
    if args.output is None and args.parity is None:
        parser.error("give -o OUT (predictions as extxyz) and/or --parity FIGURE")
    if args.training is not None and args.parity is None:
        parser.error("--training only adds a panel to --parity FIGURE; give --parity too")
    if args.parity is not None:
        from ase_dipole.spectra.plot import _check_path

        try:
            _check_path(args.parity)
        except ValueError as error:
            parser.error(f"--parity: {error}")
    try:
        model = PolarizationModel.load(args.model)
    except OSError as error:
        parser.error(f"cannot read MODEL {args.model}: {error.strerror or error}")
    except ValueError as error:
        parser.error(str(error))
    frames = read_frames(args.structures, parser)
    record = json.dumps(provenance(inputs=[args.model, args.structures], model_sha256=model.sha256,
                                   command=command_line(args._argv)), sort_keys=True)
    out, references, predictions = [], [], []
    bar = progress_bar(len(frames), "predict", unit="frame", stream=None if args.quiet else sys.stderr)
    for index, frame in enumerate(frames):
        check_box(frame, model.descriptor.cutoff)
        try:
            dipole, born = model.predict(frame)
        except ValueError as error:
            parser.error(f"{args.structures}, frame {index}: {error}")
        reference_dipole = _reference(get_dipole, frame, index, args.structures)
        reference_born = _reference(get_born_charges, frame, index, args.structures)
        references.append(reference_born)
        predictions.append(born)
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
    if args.parity is not None:
        _parity(args, parser, model, frames, references, predictions)
    if args.output is not None:
        try:
            write_extxyz(args.output, out)
        except OSError as error:
            parser.error(f"--output: {error.strerror}")
        print(f"wrote {len(out)} frame(s) to {args.output}")
    return 0
