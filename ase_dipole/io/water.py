"""Extended-XYZ Born-charge data sets, including the liquid-water sets
shipped with the package.

Index order of each source (every reader returns ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``,
first index field/dipole):

* Schienbein & Marx liquid water (CP2K Wannier-centre finite differences,
  pschienbein/AtomicPolarTensor @ 33f70a3d). **The shipped files store the
  transpose**, ``A[β, α] = ∂μ_α/∂x_β`` (row = displaced coordinate), and
  :func:`read_schienbein_apt` transposes them by default
  (``order="displacement-first"``; ``order="dipole-first"`` reads the
  numbers as rows = dipole). Upstream ``scripts/compute-apt.py`` forms
  ``dx = (M[+x] − M[−x]) / (2 δ)`` and stores ``[dx[0], dy[0], dz[0], dx[1],
  ...]``, which would be rows = dipole, but the data say otherwise. The
  evidence (``examples/accuracy/README.md``): transposition flips exactly the
  antisymmetric part of Z*, so a model trained on data of known order must
  predict the antisymmetric parts with a positive correlation. A model
  fitted on paper-water frames 0–79 (VASP order, rows = field) gives +0.915 on
  paper-water frames 80–99 and −0.886 on the Schienbein files as stored
  (+0.886 transposed); its Z* RMSE on Schienbein is 0.0381 e as stored and
  0.0221 e transposed. A model fitted on the GFN2-xTB water dimer (order
  fixed by the exact rotational sum rule, see the last item) gives +0.20 on
  paper-water and −0.16 on Schienbein as stored. Within the set, a fit on the 5
  training frames predicts the 10 test frames better transposed (0.0216 vs
  0.0282 e). The per-molecule rotational sum rule of the liquid cannot tell
  (symmetric residual 0.214 as stored, 0.201 transposed; paper-water 0.210 as
  read, 0.226 transposed). The box (cubic 15.6627 Å) is not in the file: it
  is given on the command line in ``examples/liquid-water/10/do.sh``. The
  finite-difference APTs violate the acoustic sum rule by up to ~0.5 e per
  384-atom frame (≈ 1e-3 e per atom), which this reader leaves as it is.
* Schmiedmayer & Kresse liquid water (BingqingCheng/LES-BEC
  ``water/training_set/H2O_BEC.xyz``, converted from Zenodo 12622341): the
  comment key ``BEC`` is a JSON list (N, 3, 3) in the VASP layout (rows = field),
  per the data set's upstream description; in the liquid the per-molecule rotational sum
  rule cannot tell Z from Zᵀ (relative residual 0.22 as read vs 0.25
  transposed), so this rests on the provenance, not on a physical test.
* LES-BEC superionic water (VASP LEPSILON): per-atom ``BEC:R:9`` row-major,
  VASP rows = field.
* ``water_dimer_b3lyp_gfn2_apt.extxyz`` (made for this project): arrays
  ``apt_b3lyp``/``apt_gfn2`` with ``APT[i, a, b] = dμ_a/dR_ib``; the rotational
  sum rule ``Σ_i Z_i (ω × r_i) = ω × μ`` holds to 2e-5 e·Å as read and fails
  by 0.06–0.1 e·Å transposed (tests).
"""

import os
import warnings
from importlib import resources

import ase.io
import numpy as np
from ase import Atoms

from ase_dipole.io.extxyz import get_dipole
from ase_dipole.io._common import BornChargeFormatError, check_file, finish_frame, open_text

#: index orders of the 9 APT numbers accepted by :func:`read_schienbein_apt`
SCHIENBEIN_ORDERS = ("displacement-first", "dipole-first")
#: the order of the shipped Schienbein liquid-water files (module docstring)
SCHIENBEIN_ORDER = "displacement-first"
#: Box edge of the Schienbein liquid-water set, from examples/liquid-water/10/do.sh.
SCHIENBEIN_BOX_A = 15.6627  # [Å]

_PACKAGE_FILES = {
    "paper_water": "paper_water_rpbe_d3_bec.xyz.gz",
    "schienbein-train": "schienbein_water_train_05.xyz.gz",
    "schienbein-test": "schienbein_water_test.xyz.gz",
}
_AUTO_KEYS = ("born_charges", "BEC")


def _package_file(name):
    return str(resources.files("ase_dipole") / "data" / _PACKAGE_FILES[name])


def _born_values(atoms, key, source):
    if key in atoms.arrays:
        values = atoms.arrays[key]
    elif key in atoms.info:
        values = atoms.info[key]
    else:
        return None
    values = np.asarray(values, dtype=float)
    if values.size != 9 * len(atoms):
        raise BornChargeFormatError(
            f"{source}: '{key}' has shape {values.shape} for {len(atoms)} atoms; "
            "expected (N, 9) row-major or (N, 3, 3)"
        )
    return values.reshape(len(atoms), 3, 3)


def adopt_bec(atoms, source):
    """Move the ``BEC`` entry of a frame read by plain :func:`ase.io.read`
    (LES-BEC ``BEC:R:9`` arrays, the paper-water ``BEC`` comment) into
    ``arrays['born_charges']``, as :func:`read_extxyz_born` does, unless the
    frame has ``born_charges`` already.

    Returns
    -------
    bool
        Whether a ``BEC`` entry was moved.
    """
    if "born_charges" in atoms.arrays:
        return False
    born = _born_values(atoms, "BEC", source)
    if born is None:
        return False
    atoms.arrays.pop("BEC", None)
    atoms.info.pop("BEC", None)
    finish_frame(atoms, born, source=f"{source} (extxyz 'BEC')")
    return True


def read_extxyz_born(path, *, index=":", born_key=None, dipole_key=None):
    """Frames with Born charges from an extended-XYZ file.

    Parameters
    ----------
    path : str or path-like
        extxyz file (optionally gzipped).
    index : str or int, optional
        ASE frame selection, default all frames.
    born_key : str, optional
        Per-atom array (N, 9) or info entry (N, 3, 3) holding Z* in our
        convention; default the first of ``born_charges``, ``BEC`` (LES-BEC
        ``BEC:R:9`` arrays, paper-water ``BEC="_JSON ..."`` comment). A ``BEC``
        entry is moved into ``born_charges``.
    dipole_key : str, optional
        info entry holding the dipole (3,) e·Å; default ``info['dipole']`` or a
        SinglePointCalculator ``'dipole'`` (see :func:`ase_dipole.io.extxyz.get_dipole`).

    Returns
    -------
    list of ase.Atoms
        ``arrays['born_charges']`` (N, 9) e, ``info['dipole']`` when present,
        ``info['source']``.
    """
    path = check_file(path)
    frames = ase.io.read(path, index=index, format="extxyz")
    frames = frames if isinstance(frames, list) else [frames]
    keys = (born_key,) if born_key is not None else _AUTO_KEYS
    out = []
    for number, atoms in enumerate(frames):
        source = f"{path} frame {number}"
        born = None
        for key in keys:
            born = _born_values(atoms, key, source)
            if born is not None:
                break
        if born is None:
            raise BornChargeFormatError(
                f"{source}: no Born charges under {list(keys)}; name the per-atom "
                "array with born_key= (e.g. born_key='apt_b3lyp')"
            )
        if key == "BEC":
            atoms.arrays.pop("BEC", None)
            atoms.info.pop("BEC", None)
        if dipole_key is not None:
            if dipole_key not in atoms.info:
                raise BornChargeFormatError(f"{source}: no info['{dipole_key}'] (dipole_key)")
            dipole = atoms.info[dipole_key]
        else:
            dipole = get_dipole(atoms)
        out.append(finish_frame(atoms, born, source=f"{source} (extxyz '{key}')", dipole=dipole))
    return out


def read_schienbein_apt(path, *, cell, order=SCHIENBEIN_ORDER):
    """Frames of the AtomicPolarTensor (Schienbein) xyz format.

    Parameters
    ----------
    path : str or path-like
        File with frames of: atom count, comment (``fmt='p:a'``), then per atom
        ``symbol x y z`` (Å) and 9 APT components (e).
    cell : float or array_like, shape (3,) or (3, 3)
        Periodic box in Å; the file does not hold it (15.6627 Å cubic for the
        liquid-water example, :data:`SCHIENBEIN_BOX_A`).
    order : {"displacement-first", "dipole-first"}, keyword-only
        What the 9 numbers (3×3 row-major) index first. ``"displacement-first"``
        (the default, :data:`SCHIENBEIN_ORDER`): the row is the displaced
        coordinate, ``A[β, α] = ∂μ_α/∂x_β``, so the reader transposes; this is
        what the shipped liquid-water files hold, by the evidence in the
        module docstring. ``"dipole-first"``: row = dipole component (what
        the upstream ``compute-apt.py`` comment describes); nothing is
        transposed.

    Returns
    -------
    list of ase.Atoms
        Periodic frames with ``arrays['born_charges']`` (N, 9) e in our
        convention ``Z[i, α, β] = ∂μ_α/∂x_iβ``.
    """
    if order not in SCHIENBEIN_ORDERS:
        raise ValueError(f"unknown order {order!r}; use one of {', '.join(map(repr, SCHIENBEIN_ORDERS))}")
    path = check_file(path)
    with open_text(path) as handle:
        lines = handle.read().splitlines()
    cell = np.asarray(cell, dtype=float)
    cell = np.eye(3) * cell if cell.size in (1, 3) else cell.reshape(3, 3)
    frames = []
    start = 0
    while start < len(lines) and lines[start].strip():
        n_atoms = int(lines[start])
        rows = [line.split() for line in lines[start + 2:start + 2 + n_atoms]]
        if len(rows) != n_atoms or any(len(row) != 13 for row in rows):
            raise BornChargeFormatError(
                f"{path}: frame {len(frames)} is not 'symbol x y z' + 9 APT components per line"
            )
        values = np.array([row[1:] for row in rows], dtype=float)
        atoms = Atoms([row[0] for row in rows], positions=values[:, :3], cell=cell, pbc=True)
        born = values[:, 3:].reshape(n_atoms, 3, 3)
        if order == "displacement-first":
            born = born.transpose(0, 2, 1)
        frames.append(
            finish_frame(
                atoms, np.ascontiguousarray(born),
                source=f"{path} frame {len(frames)} (AtomicPolarTensor xyz)",
            )
        )
        start += n_atoms + 2
    if not frames:
        raise BornChargeFormatError(f"{path}: no frames found")
    return frames


def load_paper_water(path=None, *, index=":"):
    """The paper's liquid-water Born-charge set (Schmiedmayer & Kresse 2024,
    Zenodo 12622341): 100 frames × 192 atoms (128 H, 64 O), cubic 12.429 Å
    (997 kg/m³), RPBE-D3, drawn uniformly from a 298.2 K Langevin run; Born
    charges (e) in our convention, energies (eV), forces (eV/Å).

    Parameters
    ----------
    path : str, optional
        Default: the gzipped copy shipped in ``ase_dipole/data``
        (see ``ase_dipole/data/SOURCE.md``).
    index : str or int, optional
        ASE frame selection.
    """
    return read_extxyz_born(_package_file("paper_water") if path is None else os.fspath(path), index=index)


def load_falletta_water(path=None, *, index=":"):
    """Deprecated alias of :func:`load_paper_water` (the set was wrongly
    credited to Falletta et al.); removed in the next release."""
    warnings.warn("load_falletta_water is deprecated: the set is the paper's own (Schmiedmayer & Kresse, "
                  "Zenodo 12622341); use load_paper_water", DeprecationWarning, stacklevel=2)
    return load_paper_water(path, index=index)


def load_schienbein_water(split, path=None, *, order=SCHIENBEIN_ORDER):
    """Schienbein liquid water (128 H2O, cubic 15.6627 Å, CP2K APTs), Born
    charges transposed on reading into ``Z[i, α, β] = ∂μ_α/∂x_iβ`` (see
    :func:`read_schienbein_apt` and the module docstring; ``order`` as there).

    Parameters
    ----------
    split : {'train', 'test'}
        ``'train'``: the 5-frame training set (examples/liquid-water/05),
        ``'test'``: the 10-frame test set (examples/liquid-water/10).
    path : str, optional
        Default: the gzipped copy shipped in ``ase_dipole/data``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown split '{split}'; use one of 'train', 'test'")
    path = _package_file(f"schienbein-{split}") if path is None else os.fspath(path)
    return read_schienbein_apt(path, cell=SCHIENBEIN_BOX_A, order=order)
