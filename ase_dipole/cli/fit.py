"""``ase-dipole fit``: fit a PolarizationModel to Born charges and/or dipoles.

A thin layer over :meth:`ase_dipole.learning.model.PolarizationModel.fit`.
"""

import argparse
import os

import ase.io
import numpy as np
from ase.io.formats import UnknownFileTypeError

from ase_dipole.io._common import BornChargeFormatError
from ase_dipole.io.water import adopt_bec
from ase_dipole.learning.kernel import (DEFAULT_KERNEL_FEATURES, DEFAULT_KERNEL_REFERENCES,
                                        DEFAULT_KERNEL_VECTORS, DEFAULT_ZETA)
from ase_dipole.learning.model import (CHARGES, CUTOFF_CANDIDATES, DEFAULT_CUTOFF, MODELS, TARGETS,
                                       PolarizationModel)
from ase_dipole.learning.product import DEFAULT_N_INVARIANTS, DEFAULT_N_VECTORS
from ase_dipole.provenance import command_line

help = "fit a λ-SOAP polarization model to Born charges and/or dipoles of an extxyz file"


def _cutoff(text):
    """``--cutoff`` value: a positive number of Å, ``auto`` or ``default``."""
    if text in ("auto", "default"):
        return None if text == "default" else text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a cut-off in Å or 'auto', got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"the cut-off must be a positive number of Å, got {text!r}")
    return value


def _max_features(text):
    """``--max-features`` value: a positive integer, ``auto`` or ``all``."""
    if text in ("auto", "all"):
        return None if text == "all" else text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, 'auto' or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, 'auto' or 'all', got {text!r}")
    return value


def add_model_arguments(parser):
    """Options of :class:`PolarizationModel` (shared with ``learning-curve``)."""
    parser.add_argument("--dipole-weight", type=float, default=10.0,
                        help="weight of a dipole row relative to a Z* row (each scaled by its target std)")
    parser.add_argument("--n-references", type=int, default=None,
                        help="reference environments per species (farthest point sampling); "
                             "default: the full linear model")
    parser.add_argument("--max-features", type=_max_features, default="auto",
                        help="λ = 1 columns of the linear model kept per centre species (a CUR "
                             "selection on the training rows): an integer, 'all', or 'auto' (all "
                             "for one or two species, a share of a fixed coefficient budget "
                             "beyond)")
    parser.add_argument("--cutoff", type=_cutoff, default=None,
                        help="descriptor cut-off, Å, or 'auto': chosen among "
                             f"{', '.join(map(str, CUTOFF_CANDIDATES))} Å by frame-grouped "
                             "cross-validation; default: 'auto' when every training frame is "
                             f"finite (molecules), else {DEFAULT_CUTOFF} Å")
    parser.add_argument("--n-max", type=int, default=8, help="radial functions per angular channel")
    parser.add_argument("--l-max", type=int, default=4, help="largest angular momentum")
    parser.add_argument("--regularization", type=float, default=None,
                        help="relative ridge strength λ; default: chosen by cross-validation")
    parser.add_argument("--cv-folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--model", choices=("auto",) + MODELS, default="auto",
                        help="'auto' (default): 'linear' or 'kernel' by frame-grouped "
                             "cross-validation when the cut-off is searched too (molecules), "
                             "else 'linear'; 'linear': linear λ-SOAP regression; 'product': adds products of the "
                             "λ = 1 features with λ = 0 invariants; 'kernel': sparse λ-SOAP kernel "
                             "K¹·(K⁰)^ζ with a centred, normalised λ = 0 kernel (both more accurate "
                             "on bulk water, several times slower)")
    parser.add_argument("--n-invariants", type=int, default=None,
                        help="λ = 0 projections per species of the product model, or Nyström "
                             f"features of the kernel model (default {DEFAULT_N_INVARIANTS} and "
                             f"{DEFAULT_KERNEL_FEATURES})")
    parser.add_argument("--n-vectors", type=int, default=None,
                        help="compressed λ = 1 directions per species of the product or the "
                             f"kernel model (default {DEFAULT_N_VECTORS} and {DEFAULT_KERNEL_VECTORS})")
    parser.add_argument("--charges", choices=CHARGES, default="fit",
                        help="species charges Z̄: 'fit' (default): the mean diagonal Z* of the "
                             "training atoms plus a correction fitted with the coefficients (much "
                             "more accurate on bulk and superionic water), or 'mean': that mean, "
                             "held fixed")
    parser.add_argument("--zeta", type=int, default=DEFAULT_ZETA,
                        help="exponent ζ of the λ = 0 kernel of the kernel model")
    parser.add_argument("--kernel-references", type=int, default=DEFAULT_KERNEL_REFERENCES,
                        help="reference environments per species of the kernel model")


def model_from_args(args, parser):
    """A :class:`PolarizationModel` from the options; bad values via ``parser.error``."""
    try:
        return PolarizationModel(cutoff=args.cutoff, n_max=args.n_max, l_max=args.l_max,
                                 n_references=args.n_references, max_features=args.max_features,
                                 dipole_weight=args.dipole_weight,
                                 regularization=args.regularization, cv_folds=args.cv_folds,
                                 model=args.model, n_invariants=args.n_invariants,
                                 n_vectors=args.n_vectors, zeta=args.zeta,
                                 kernel_references=args.kernel_references, charges=args.charges)
    except ValueError as error:
        flag = ("--n-references" if "n_references" in str(error) else
                "--n-invariants/--n-vectors" if "n_invariants" in str(error) else
                "--zeta" if "zeta" in str(error) else
                "--kernel-references" if "kernel_references" in str(error) else None)
        parser.error(f"{flag}: {error}" if flag else str(error))


def read_frames(path, parser):
    """All frames of an extxyz (or any ASE-readable) file, at least one;
    errors via ``parser.error``."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        parser.error(f"{path} is empty (no frames); give a file with at least one structure")
    try:
        frames = ase.io.read(path, index=":")
    except (OSError, ValueError, KeyError, UnknownFileTypeError) as error:
        parser.error(f"cannot read {path}: {error}")
    if not frames:
        parser.error(f"{path} holds no frames; give a file with at least one structure")
    try:  # Z* stored as BEC (LES-BEC, the paper's water set) are read as born_charges
        for number, atoms in enumerate(frames):
            adopt_bec(atoms, f"{path} frame {number}")
    except BornChargeFormatError as error:
        parser.error(str(error))
    return frames


def add_arguments(parser):
    parser.add_argument("train", metavar="TRAIN", help="training frames (extxyz: born_charges and/or dipole)")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (JSON)")
    parser.add_argument("--targets", choices=TARGETS, default="auto",
                        help="what to fit: Z* ('born'), dipoles ('dipole'), both, or 'auto' "
                             "(Z* where present, dipoles of finite frames only)")
    add_model_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args, parser):
    frames = read_frames(args.train, parser)
    model = model_from_args(args, parser)
    try:
        model.fit(frames, targets=args.targets, progress=not args.quiet,
                  command=command_line(args._argv))
    except ValueError as error:
        parser.error(f"{args.train}: {error}")
    try:
        model.save(args.output)
    except OSError as error:
        parser.error(f"--output: {error.strerror}")
    metrics = model.training_metrics
    figures = ", ".join(f"{key} {metrics[key]:.5g}" for key in sorted(metrics)
                        if key.startswith(("rmse", "cv_rmse")))
    fitted = [f"Z* of {metrics['n_born_frames']} frame(s)" if metrics["n_born_frames"] else "",
              f"dipoles of {metrics['n_dipole_frames']} frame(s)" if metrics["n_dipole_frames"] else ""]
    search = metrics.get("cutoff_search")
    chosen = (f"{model.kind} model, r_c = {model.descriptor.cutoff:g} Å chosen by cross-validation "
              f"over {', '.join(sorted(set(search['models'])))} at "
              f"{', '.join(map(str, sorted(set(search['candidates']))))} Å on "
              f"{len(search['frames'])} frames"
              if search else f"{model.kind} model, r_c = {model.descriptor.cutoff:g} Å")
    print(f"fitted {' and '.join(part for part in fitted if part)} of {metrics['n_frames']} "
          f"(--targets {args.targets}; {chosen}; λ = {model.regularization:.3g}; {figures})")
    print(f"wrote {args.output} (sha256 {model.sha256})")
    return 0
