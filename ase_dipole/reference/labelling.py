"""Labelling molecular frames with reference dipoles and Born charges."""

import sys

from ase_dipole.io.extxyz import set_born_charges, set_dipole
from ase_dipole.progress import Progress
from ase_dipole.reference.pyscf_dft import dft_born_charges, dft_dipole
from ase_dipole.reference.xtb import xtb_born_charges, xtb_dipole

_METHODS = ("gfn2", "dft")


def _check_options(options, allowed, method):
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for method '{method}'; allowed: {sorted(allowed)}"
        )


def label_frames(frames, *, method="gfn2", dipole=True, born_charges=True,
                 progress=True, **options):
    """Label molecular frames with reference dipoles and/or Born charges.

    Returns copies of the frames in the extended-XYZ convention of
    :mod:`ase_dipole.io.extxyz`: ``info['dipole']`` (3,) e·Å and the per-atom
    array ``born_charges`` (N, 9) row-major, e; plus ``info['reference']``
    naming the method. Calculators attached to the input are dropped.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Molecules (``pbc`` all False).
    method : {"gfn2", "dft"}
        ``"gfn2"``: :func:`xtb_dipole` / :func:`xtb_born_charges`;
        ``"dft"``: :func:`dft_dipole` / :func:`dft_born_charges`.
    dipole, born_charges : bool
        Which labels to store (at least one).
    progress : bool
        Show progress on stderr (:class:`ase_dipole.progress.Progress`).
    **options
        Passed to the underlying functions (e.g. ``xc``, ``basis`` for
        ``"dft"``; ``accuracy``, ``step_A`` for ``"gfn2"``).

    Returns
    -------
    list of ase.Atoms
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method '{method}'; use one of {', '.join(map(repr, _METHODS))}")
    if not (dipole or born_charges):
        raise ValueError("nothing to compute: set dipole=True and/or born_charges=True")
    if method == "gfn2":
        _check_options(options, {"method", "charge", "accuracy", "electronic_temperature_K",
                                 "step_A"}, method)
        dipole_only = {k: v for k, v in options.items() if k != "step_A"}
        compute_born, compute_dipole = xtb_born_charges, xtb_dipole
        name = f"{options.get('method', 'GFN2-xTB')} (tblite)"
    else:
        _check_options(options, {"xc", "basis", "charge", "spin", "grid_level", "conv_tol"},
                       method)
        dipole_only = options
        compute_born, compute_dipole = dft_born_charges, dft_dipole
        name = f"{options.get('xc', 'b3lyp')}/{options.get('basis', 'def2-svp')} (PySCF)"

    frames = list(frames)
    labelled = []
    report = Progress(len(frames), f"label_frames [{name}]", unit="frames",
                      stream=sys.stderr if progress else None)
    for count, frame in enumerate(frames, start=1):
        atoms = frame.copy()
        atoms.calc = None
        if born_charges:
            mu, born = compute_born(atoms, **options)
            set_born_charges(atoms, born)
        else:
            mu = compute_dipole(atoms, **dipole_only)
        if dipole:
            set_dipole(atoms, mu)
        atoms.info["reference"] = name
        labelled.append(atoms)
        report.update(count)
    return labelled
