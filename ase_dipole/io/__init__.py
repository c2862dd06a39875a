"""Readers of Born effective charges into the extxyz convention.

Every reader returns :class:`ase.Atoms` with ``arrays['born_charges']``
(N, 9) e holding ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` row-major (first index the
field/dipole component), ``info['epsilon']`` (3, 3) where the file has ε∞,
``info['dipole']`` (e·Å) where it has a dipole, and ``info['source']``. Each
format module states the index order of its source and the evidence.

:func:`read_born_charges` picks the reader from the file name or content.
"""

import os

from ase_dipole.io._common import BornChargeFormatError, check_file, open_text
from ase_dipole.io.phonopy_born import read_phonopy_born, write_phonopy_born
from ase_dipole.io.qe import read_qe_ph
from ase_dipole.io.vasp import read_vasp_outcar, read_vasprun_born
from ase_dipole.io.water import (
    SCHIENBEIN_BOX_A,
    load_falletta_water,
    load_paper_water,
    load_schienbein_water,
    read_extxyz_born,
    read_schienbein_apt,
)

#: format name -> reader(path, **kwargs) returning Atoms or a list of Atoms
READERS = {
    "vasp-out": read_vasp_outcar,
    "vasp-xml": read_vasprun_born,
    "phonopy-born": read_phonopy_born,
    "qe-ph": read_qe_ph,
    "extxyz": read_extxyz_born,
    "schienbein-apt": read_schienbein_apt,
}

__all__ = [
    "BornChargeFormatError",
    "READERS",
    "SCHIENBEIN_BOX_A",
    "guess_format",
    "load_paper_water",
    "load_schienbein_water",
    "read_born_charges",
    "read_extxyz_born",
    "read_phonopy_born",
    "read_qe_ph",
    "read_schienbein_apt",
    "read_vasp_outcar",
    "read_vasprun_born",
    "write_phonopy_born",
]


def _looks_like_born(head):
    lines = head.splitlines()
    if len(lines) < 2:
        return False
    try:
        values = [float(token) for token in lines[1].split()]
        [float(token) for token in lines[0].split()[:1]]
    except ValueError:
        return False
    return len(values) == 9


def guess_format(path):
    """Name of the reader for ``path`` (a key of :data:`READERS`), from the
    file name, then from the first 4 kB of content."""
    path = check_file(path)
    name = os.path.basename(path)
    name = name[:-3] if name.endswith(".gz") else name
    if name.startswith("OUTCAR"):
        return "vasp-out"
    if name.startswith("vasprun") or name.endswith(".xml"):
        return "vasp-xml"
    if name.startswith("BORN"):
        return "phonopy-born"
    if name.endswith(".ph.out"):
        return "qe-ph"
    with open_text(path) as handle:
        head = handle.read(4096)
    if "<modeling>" in head:
        return "vasp-xml"
    if "Program PHONON" in head:
        return "qe-ph"
    if head.lstrip().startswith("vasp."):
        return "vasp-out"
    if head.startswith("# epsilon and Z*") or _looks_like_born(head):
        return "phonopy-born"
    second = head.splitlines()[1] if head.count("\n") >= 1 else ""
    if "fmt=" in second and ":a" in second:
        return "schienbein-apt"
    if "Properties=" in second:
        return "extxyz"
    raise BornChargeFormatError(
        f"cannot tell the format of '{path}'; pass format= one of {sorted(READERS)}"
    )


def read_born_charges(path, *, format=None, **kwargs):
    """Read Born charges from any supported file into a list of frames.

    Parameters
    ----------
    path : str or path-like
        Input file (``.gz`` accepted).
    format : str, optional
        One of :data:`READERS` (``'vasp-out'``, ``'vasp-xml'``,
        ``'phonopy-born'``, ``'qe-ph'``, ``'extxyz'``, ``'schienbein-apt'``);
        guessed by :func:`guess_format` when omitted.
    **kwargs
        Passed to the reader: ``structure=`` (Atoms or POSCAR path; required for
        ``'phonopy-born'``, optional for VASP), ``cell=`` (required for
        ``'schienbein-apt'``), ``born_key=``/``dipole_key=``/``index=`` for
        ``'extxyz'``, ``block=`` for ``'qe-ph'``.

    Returns
    -------
    list of ase.Atoms
        Frames with ``arrays['born_charges']`` (N, 9) e in our convention.
    """
    path = check_file(path)
    format = guess_format(path) if format is None else format
    if format not in READERS:
        raise ValueError(f"unknown format '{format}'; use one of {sorted(READERS)}")
    if format == "phonopy-born" and kwargs.get("structure") is None:
        raise ValueError(
            f"'{path}' is a phonopy BORN file, which holds no structure; pass "
            "structure= (Atoms or the POSCAR it was written for)"
        )
    if format == "schienbein-apt" and kwargs.get("cell") is None:
        raise ValueError(
            f"'{path}' is an AtomicPolarTensor xyz file without a box; pass cell= in Å "
            f"(the liquid-water example uses {SCHIENBEIN_BOX_A})"
        )
    result = READERS[format](path, **kwargs)
    return result if isinstance(result, list) else [result]
