"""Neighbour list against ASE's, for molecules, triclinic cells, cells
smaller than the cut-off and mixed boundary conditions."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from ase_dipole.descriptors.neighbours import VerletList, neighbour_list


def pair_set(centres, neighbours, vectors):
    return sorted((int(i), int(j), *np.round(v, 8)) for i, j, v in zip(centres, neighbours, vectors))


def assert_same_pairs_as_a_fresh_list(nl, atoms, cutoff=4.0):
    """``nl`` holds the pairs :func:`neighbour_list` finds for ``atoms`` now."""
    fresh = neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    assert pair_set(nl.centres, nl.neighbours, nl.vectors) == pair_set(
        fresh.centres, fresh.neighbours, fresh.vectors)


def structures():
    yield molecule("CH3CH2OH"), 3.0
    silicon = bulk("Si", "diamond", 5.43)
    silicon.rattle(0.05, seed=1)
    yield silicon, 5.5
    sheared = bulk("Cu", "fcc", 3.6) * (1, 2, 1)
    sheared.set_cell(sheared.cell.array + [[0, 0.3, 0.1], [0.2, 0, 0], [0.5, 0.1, 0]], scale_atoms=True)
    sheared.rattle(0.05, seed=2)
    yield sheared, 5.5
    tiny = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.48, 0.52, 0.5]],
                 cell=[[2.9, 0, 0], [0.7, 2.8, 0], [0.4, 0.5, 3.1]], pbc=True)
    yield tiny, 6.0
    slab = molecule("H2O")
    slab.center(vacuum=3.0)
    slab.pbc = [True, False, True]
    yield slab, 5.0


@pytest.mark.parametrize("atoms, cutoff", list(structures()))
def test_same_pairs_as_ase(atoms, cutoff):
    nl = neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    i, j, D = ase_neighbor_list("ijD", atoms, cutoff)
    assert len(i) > 0
    assert pair_set(nl.centres, nl.neighbours, nl.vectors) == pair_set(i, j, D)


def test_list_is_symmetric_and_sorted_by_centre():
    atoms = bulk("NaCl", "rocksalt", 5.64) * (2, 1, 1)
    atoms.rattle(0.1, seed=3)
    nl = neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    forward = pair_set(nl.centres, nl.neighbours, nl.vectors)
    backward = pair_set(nl.neighbours, nl.centres, -nl.vectors)
    assert forward == backward
    assert np.all(np.diff(nl.centres) >= 0)


@pytest.mark.parametrize("atoms, cutoff", list(structures()))
def test_each_pair_knows_its_reverse_with_the_exact_opposite_vector(atoms, cutoff):
    """reverse[p] is the pair k→c of p = c→k, its vector exactly −vectors[p]
    (bit for bit, so both are kept or dropped at the cut-off together), and
    reversing twice gives p back; also for a reused (Verlet) list after a move
    and in cells smaller than the cut-off, where an atom is its own neighbour."""
    verlet = VerletList(cutoff, skin=0.5)
    verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
    moved = atoms.positions + np.random.default_rng(9).normal(scale=0.05, size=atoms.positions.shape)
    for nl in (neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff),
               verlet.update(moved, atoms.cell.array, atoms.pbc)):
        assert np.array_equal(nl.reverse[nl.reverse], np.arange(len(nl.reverse)))
        assert np.array_equal(nl.neighbours[nl.reverse], nl.centres)
        assert np.array_equal(nl.vectors[nl.reverse], -nl.vectors)
        assert np.all(nl.reverse != np.arange(len(nl.reverse)))
    assert verlet.n_builds == 1


def test_bad_cells_are_reported():
    with pytest.raises(ValueError, match="cell vector 2 is zero"):
        neighbour_list(np.zeros((1, 3)), [[3, 0, 0], [0, 3, 0], [0, 0, 0]], True, 2.0)
    with pytest.raises(ValueError, match="linearly dependent"):
        neighbour_list(np.zeros((1, 3)), [[3, 0, 0], [3, 0, 0], [0, 0, 3]], True, 2.0)
    with pytest.raises(ValueError, match=r"shape \(3,\); expected \(N, 3\)"):
        neighbour_list(np.zeros(3), np.eye(3), False, 2.0)


def test_verlet_list_reuses_its_pairs_and_matches_a_fresh_list():
    atoms = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    atoms.rattle(0.1, seed=4)
    verlet = VerletList(4.0, skin=0.6)
    rng = np.random.default_rng(5)
    for step in range(6):
        if step:
            atoms.positions += rng.normal(scale=0.04, size=atoms.positions.shape)
        nl = verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
        assert_same_pairs_as_a_fresh_list(nl, atoms)
    assert verlet.n_builds == 1
    atoms.positions[0] += [0.7, 0.0, 0.0]  # beyond skin / 2: rebuilt
    verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
    assert verlet.n_builds == 2
    atoms.wrap()
    atoms.positions[1] -= atoms.cell[0]  # an image jump is a large move: rebuilt, same pairs
    nl = verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
    assert verlet.n_builds == 3
    assert_same_pairs_as_a_fresh_list(nl, atoms)
    atoms.positions[2] = atoms.positions[3] + [0.05, 0.0, 0.0]
    with pytest.raises(ValueError, match="overlapping atoms"):
        verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)


def test_verlet_list_rebuilds_on_cell_and_atom_count_changes():
    atoms = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    atoms.rattle(0.1, seed=6)
    verlet = VerletList(4.0, skin=0.6)
    verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
    assert verlet.n_builds == 1
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array * 1.01, scale_atoms=False)  # same positions, new cell
    nl = verlet.update(strained.positions, strained.cell.array, strained.pbc)
    assert verlet.n_builds == 2
    assert_same_pairs_as_a_fresh_list(nl, strained)
    smaller = strained[:-1]  # one atom fewer
    nl = verlet.update(smaller.positions, smaller.cell.array, smaller.pbc)
    assert verlet.n_builds == 3
    assert_same_pairs_as_a_fresh_list(nl, smaller)
    periodic_in_two = smaller.copy()
    periodic_in_two.pbc = [True, True, False]
    verlet.update(periodic_in_two.positions, periodic_in_two.cell.array, periodic_in_two.pbc)
    assert verlet.n_builds == 4


def test_verlet_list_keeps_one_list_per_system():
    """Two systems alternating on one list (two calculators sharing a model)
    are each built once; frames of one box far apart replace that box's list
    instead of crowding out the other system's; ``kept`` bounds how many stay."""
    crystal = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    crystal.rattle(0.1, seed=7)
    ethanol = molecule("CH3CH2OH")
    verlet = VerletList(4.0, skin=0.6, kept=2)
    rng = np.random.default_rng(8)
    for step in range(4):
        for atoms in (crystal, ethanol):
            atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
            nl = verlet.update(atoms.positions, atoms.cell.array, atoms.pbc)
            assert_same_pairs_as_a_fresh_list(nl, atoms)
    assert verlet.n_builds == 2
    for frame in range(3):  # new frames of the crystal's box: one rebuild each
        crystal.rattle(0.3, seed=10 + frame)
        verlet.update(crystal.positions, crystal.cell.array, crystal.pbc)
    assert verlet.n_builds == 5
    verlet.update(ethanol.positions, ethanol.cell.array, ethanol.pbc)
    assert verlet.n_builds == 5  # the ethanol's list survived the frames
    third = crystal[:-1]
    verlet.update(third.positions, third.cell.array, third.pbc)
    verlet.update(crystal.positions, crystal.cell.array, crystal.pbc)
    assert verlet.n_builds == 7  # kept=2: the third system pushed the crystal's out
    with pytest.raises(ValueError, match="kept must be a positive integer"):
        VerletList(4.0, kept=0)
