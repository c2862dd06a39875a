"""The calculator's check of what changed since its last call agrees with ASE's."""

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.calculator import compare_atoms

from ase_dipole.dynamics.changes import system_changes


def _edits():
    """(description, function editing an Atoms in place, whether ASE counts it
    as a change: momenta, masses and tags are not in ``all_changes``)."""
    return [
        ("nothing", lambda a: None, False),
        ("positions by 1e-3 Å", lambda a: a.positions.__iadd__(1e-3), True),
        ("positions by 1e-16 Å (within tol)", lambda a: a.positions.__iadd__(1e-16), False),
        ("one coordinate NaN", lambda a: a.positions.__setitem__((0, 0), np.nan), True),
        ("numbers", lambda a: a.numbers.__setitem__(0, 7), True),
        ("cell", lambda a: a.set_cell(np.eye(3) * 11.0), True),
        ("pbc", lambda a: a.set_pbc([True, False, False]), True),
        ("initial charges", lambda a: a.set_initial_charges(np.arange(len(a), dtype=float)), True),
        ("initial charges removed", lambda a: a.arrays.pop("initial_charges"), True),
        ("magnetic moments added", lambda a: a.set_initial_magnetic_moments(np.ones(len(a))), True),
        ("momenta added", lambda a: a.set_momenta(np.ones((len(a), 3))), False),
        ("masses", lambda a: a.set_masses(a.get_masses() * 2), False),
        ("tags", lambda a: a.set_tags(1), False),
    ]


@pytest.mark.parametrize("description,edit,changed", _edits(), ids=[d for d, _, _ in _edits()])
def test_system_changes_are_ases(description, edit, changed):
    old = molecule("H2O")
    old.set_cell(np.eye(3) * 10.0)
    old.set_initial_charges(np.zeros(len(old)))
    new = old.copy()
    edit(new)
    expected = compare_atoms(old, new, tol=1e-15)
    assert sorted(system_changes(old, new, tol=1e-15)) == sorted(expected)
    assert bool(expected) == changed
    assert sorted(system_changes(new, old, tol=1e-15)) == sorted(compare_atoms(new, old, tol=1e-15))


def test_no_previous_atoms_means_everything_changed():
    assert sorted(system_changes(None, molecule("H2O"))) == sorted(compare_atoms(None, molecule("H2O")))
