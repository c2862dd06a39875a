"""Born effective charges from a Quantum ESPRESSO ph.x output.

ph.x (``epsil=.true.``, ``zeu=.true.``) prints two estimates of Z*:

* "Effective charges (d Force / dE) in cartesian axis": rows labelled
  ``Ex, Ey, Ez``: row α is the field direction, the three columns are the
  force components β — ``Z[i, α, β] = ∂F_{iβ}/∂E_α``, QE's
  ``zstareu(E, force, atom)``;
* "Effective charges (d P / du) in cartesian axis" (``zue=.true.``, or the
  ``trans`` path for insulators): rows ``Px, Py, Pz``: row α the polarization
  component, columns the displacement β — ``Z[i, α, β] = Ω ∂P_α/∂u_{iβ}``.

Both are therefore already in our convention ``∂μ_α/∂x_{iβ}`` (first index
field/dipole) and are not transposed; they agree to the accuracy of the
acoustic sum rule (tests: AlAs, 2.14176 vs 2.14189 e). Lengths in the file are
in units of ``alat`` (bohr) and are converted to Å with
:data:`ase_dipole.units.BOHR`.
"""

import re

import numpy as np
from ase import Atoms

from ase_dipole.io._common import BornChargeFormatError, check_file, finish_frame, read_text
from ase_dipole.units import BOHR

_FLOAT = r"[-+]?\d*\.\d+(?:[eEdD][-+]?\d+)?"
_ALAT = re.compile(r"lattice parameter \(alat\)\s*=\s*(" + _FLOAT + r")\s*a\.u\.")
_AXIS = re.compile(r"a\(([123])\) = \(\s*(" + _FLOAT + r")\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")\s*\)")
_SITE = re.compile(
    r"^\s*(\d+)\s+([A-Za-z][A-Za-z0-9_]*)\s+" + _FLOAT + r"\s+tau\(\s*\d+\)\s*=\s*\(\s*("
    + _FLOAT + r")\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")\s*\)",
    re.M,
)
_ROW = re.compile(r"^\s*([EP][xyz])\s*\(\s*(" + _FLOAT + r")\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")\s*\)")
_ATOM = re.compile(r"^\s*atom\s+(\d+)\s+\S+")
_TRIPLE = re.compile(r"^\s*\(\s*(" + _FLOAT + r")\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")\s*\)")

FORCE_HEADER = "Effective charges (d Force / dE) in cartesian axis"
POLARIZATION_HEADER = "Effective charges (d P / du) in cartesian axis"
EPSILON_HEADER = "Dielectric constant in cartesian axis"


def _structure(text, source):
    alat = _ALAT.search(text)
    axes = {int(m.group(1)): [float(m.group(k)) for k in (2, 3, 4)] for m in _AXIS.finditer(text)}
    header = text.find("positions (alat units)")
    if alat is None or len(axes) != 3 or header < 0:
        raise BornChargeFormatError(
            f"{source}: no 'lattice parameter (alat)', 'crystal axes' or atomic "
            "positions found; is this a ph.x output?"
        )
    sites = []
    for match in _SITE.finditer(text, header):
        if int(match.group(1)) != len(sites) + 1:
            break
        sites.append(match)
    alat_A = float(alat.group(1)) * BOHR
    symbols = [re.sub(r"[^A-Za-z].*$", "", m.group(2)) for m in sites]
    positions = np.array([[float(m.group(k)) for k in (3, 4, 5)] for m in sites]) * alat_A
    cell = np.array([axes[k] for k in (1, 2, 3)]) * alat_A
    return Atoms(symbols=symbols, positions=positions, cell=cell, pbc=True)


def _last_block(text, header, n_atoms, source):
    start = text.rfind(header)
    if start < 0:
        return None
    tensors = np.full((n_atoms, 3, 3), np.nan)
    atom = None
    for line in text[start + len(header):].splitlines()[1:]:
        atom_match = _ATOM.match(line)
        row_match = _ROW.match(line)
        if atom_match:
            atom = int(atom_match.group(1)) - 1
        elif row_match and atom is not None:
            tensors[atom, "xyz".index(row_match.group(1)[1])] = [float(row_match.group(k)) for k in (2, 3, 4)]
        elif line.strip():
            break
    if np.isnan(tensors).any():
        raise BornChargeFormatError(f"{source}: incomplete '{header}' block for {n_atoms} atoms")
    return tensors


def _last_epsilon(text):
    start = text.rfind(EPSILON_HEADER)
    if start < 0:
        return None
    rows = [m for m in map(_TRIPLE.match, text[start:].splitlines()[1:6]) if m]
    return np.array([[float(m.group(k)) for k in (1, 2, 3)] for m in rows[:3]])


def read_qe_ph(path, *, block="dF/dE"):
    """Born charges, ε∞ and the structure from a Quantum ESPRESSO ph.x output.

    Parameters
    ----------
    path : str or path-like
        ph.x standard output (optionally gzipped); the last printed block is used.
    block : {'dF/dE', 'dP/du'}, optional
        Which estimate becomes ``born_charges``; the other, when printed, is
        kept as ``arrays['born_charges_dp_du']`` or
        ``arrays['born_charges_df_de']`` (N, 9).

    Returns
    -------
    ase.Atoms
        Cell and positions in Å (from ``alat`` in bohr), ``arrays['born_charges']``
        (N, 9) e in our convention, ``info['epsilon']`` (3, 3), ``info['source']``.
    """
    if block not in ("dF/dE", "dP/du"):
        raise ValueError(f"unknown block '{block}'; use one of 'dF/dE', 'dP/du'")
    path = check_file(path)
    text = read_text(path)
    atoms = _structure(text, path)
    force = _last_block(text, FORCE_HEADER, len(atoms), path)
    polarization = _last_block(text, POLARIZATION_HEADER, len(atoms), path)
    chosen, other, other_key = (
        (force, polarization, "born_charges_dp_du") if block == "dF/dE" else (polarization, force, "born_charges_df_de")
    )
    if chosen is None:
        raise BornChargeFormatError(
            f"{path}: no '{FORCE_HEADER if block == 'dF/dE' else POLARIZATION_HEADER}' "
            "block; run ph.x with epsil=.true. (and zeu=.true. / zue=.true.)"
        )
    if other is not None:
        atoms.arrays[other_key] = other.reshape(len(atoms), 9)
    return finish_frame(atoms, chosen, source=f"{path} (QE ph.x, {block})", epsilon=_last_epsilon(text))
