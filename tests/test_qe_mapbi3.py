"""The QE labeller on the 12-atom pseudo-cubic MAPbI₃ cell of examples/mapbi3
with the PseudoDojo set shipped there (gzip-compressed, decompressed per run).

The cell has C–N along [111], so it keeps the cage's 3-fold axis and three
mirror planes (C3v); pw.x finds these 6 operations and ph.x symmetrises Z*
with them. At the tiny settings of the test (12 Ry, Γ only: the cheapest
run that exercises the whole path; examples/mapbi3/README.md gives the
converged settings and their cost) the charges are far from converged, so
the test checks what holds at any settings: the C3v form of every tensor
(the 3-fold rotation maps I1 → I2 → I3 and each methyl/ammonium H onto the
next), the signs of the cation and anion charges, and the sum-rule bookkeeping of
the raw charges (not sum-rule corrected: ph.x with trans = .false. prints
them before any ASR, which only dynmat.x applies; ``acoustic_sum_rule=
"simple"`` is tested on AlAs in test_qe.py).

Under CI (``CI=true``) a missing ``pw.x`` is a failure (see test_qe.py);
elsewhere the test is skipped.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ase_dipole.reference.qe import qe_born_charges

from test_qe import HAVE_QE

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mapbi3"
PSEUDOPOTENTIALS = {"Pb": "Pb-d.upf.gz", "I": "I.upf.gz", "C": "C.upf.gz", "N": "N.upf.gz",
                    "H": "H.upf.gz"}
needs_pw = pytest.mark.skipif(not HAVE_QE, reason="Quantum ESPRESSO (pw.x, ph.x) not installed")
#: x -> y -> z: the 3-fold rotation about [111]
C3 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def structures():
    spec = importlib.util.spec_from_file_location("mapbi3_structures", EXAMPLE / "structures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cubic_cell_geometry():
    module = structures()
    atoms = module.cubic_cell()
    assert atoms.get_chemical_symbols() == ["Pb", "I", "I", "I", "C", "N"] + ["H"] * 6
    distances = atoms.get_all_distances(mic=True)
    assert distances[0, 1:4] == pytest.approx([module.A_CUBIC_A / 2] * 3)  # Pb-I
    assert distances[4, 5] == pytest.approx(module.CN_A)
    assert distances[4, 6:9] == pytest.approx([module.CH_A] * 3)
    assert distances[5, 9:12] == pytest.approx([module.NH_A] * 3)
    bond = atoms.positions[5] - atoms.positions[4]
    assert np.cross(bond, [1, 1, 1]) == pytest.approx(np.zeros(3), abs=1e-12)
    # C3 about [111] through the cage centre maps the cell onto itself, atom i -> PERMUTATION[i]
    centre = atoms.positions[4:6].mean(axis=0)
    rotated = (atoms.positions - centre) @ C3.T + centre
    cell_frac = np.linalg.solve(atoms.cell.array.T, (rotated - atoms.positions[PERMUTATION]).T).T
    assert np.abs(cell_frac - np.round(cell_frac)).max() < 1e-9
    for direction in ((0, 0, 0), (1, 2)):
        with pytest.raises(ValueError, match=r"direction = .*; give 3 numbers, not all zero"):
            module.cubic_cell(direction=direction)


def test_supercells_keep_bonds_and_have_no_short_contacts():
    module = structures()
    for lattice in (module.TETRAGONAL_A, module.ORTHORHOMBIC_A):
        atoms = module.supercell_48(lattice)
        assert len(atoms) == 48 and atoms.cell.lengths() == pytest.approx(lattice)
        symbols = np.array(atoms.get_chemical_symbols())
        distances = atoms.get_all_distances(mic=True)
        carbons, nitrogens = np.flatnonzero(symbols == "C"), np.flatnonzero(symbols == "N")
        assert distances[carbons, nitrogens] == pytest.approx([module.CN_A] * 4)
        heavy = np.flatnonzero(symbols == "I")
        assert distances[np.ix_(np.flatnonzero(symbols != "I"), heavy)].min() > 2.9  # H...I


#: where the C3 rotation x -> y -> z about [111] sends each atom (Pb, I1-3, C, N, 3 CH, 3 NH)
PERMUTATION = np.array([0, 2, 3, 1, 4, 5, 7, 8, 6, 10, 11, 9])


@pytest.fixture(scope="module")
def tiny_run():
    atoms = structures().cubic_cell()
    # Γ-only sampling of a 6.3 Å cell: the reader flags the unconverged sum rule, as it should
    with pytest.warns(UserWarning, match="break the acoustic sum rule.*converge the calculation"):
        result = qe_born_charges(atoms, pseudopotentials=PSEUDOPOTENTIALS,
                                 pseudo_dir=EXAMPLE / "pseudo", ecutwfc_Ry=12.0, kpts=(1, 1, 1),
                                 conv_thr_Ry=1e-8, tr2_ph=1e-10, threads=1)
    return atoms, result


@needs_pw
def test_mapbi3_born_charges_have_the_cell_symmetry_and_ionic_signs(tiny_run):
    atoms, (born, epsilon, details) = tiny_run
    assert born.shape == (12, 3, 3) and np.all(np.isfinite(born))
    # C3v: each tensor maps onto the tensor of its image atom, Z_j = R Z_i R^T (pw.x finds
    # the 6 operations, ph.x symmetrises with them: this checks the atom order and indices)
    rotated = np.einsum("ab,ibc,dc->iad", C3, born, C3)
    assert np.abs(rotated - born[PERMUTATION]).max() < 2e-3
    assert np.abs(C3 @ epsilon @ C3.T - epsilon).max() < 1e-4 and np.all(np.linalg.eigvalsh(epsilon) > 1)
    # the Pb cation positive, the I anions negative, the molecule positive (traces; at these
    # settings +4.1, -0.37 each, +2.2: the sizes are not converged, the signs are)
    traces = np.trace(born, axis1=1, axis2=2) / 3
    assert traces[0] > 1.0
    assert np.all(traces[1:4] < 0.0)
    assert traces[4:].sum() > 0.5
    # raw charges (no sum rule imposed): the violation reported is that of the returned sum,
    # itself a tensor of the whole cell with the C3v form
    total = born.sum(axis=0)
    assert details["acoustic_sum_rule_violation_e"] == pytest.approx(np.abs(total).max())
    assert np.abs(C3 @ total @ C3.T - total).max() < 2e-3
    assert details["pw_cpu_s"] > 0 and details["ph_cpu_s"] > 0
