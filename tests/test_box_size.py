"""A molecule in a periodic box smaller than its extent + 2 × cut-off sees its
own images: its predicted dipole depends on the box, and the package warns,
naming the box and the size needed; larger boxes, free molecules, liquids and
crystals pass silently."""

import os
import warnings

import numpy as np
import pytest
from ase.build import bulk

from ase_dipole.dynamics.calculator import DipoleCalculator, check_box
from ase_dipole.io import read_extxyz_born
from ase_dipole.learning.model import PolarizationModel

DIMERS = os.path.join(os.path.dirname(__file__), "data", "water_dimer",
                      "water_dimer_b3lyp_gfn2_apt.extxyz")
CUTOFF_A = 4.5


@pytest.fixture(scope="module")
def monomer_and_model():
    frames = read_extxyz_born(DIMERS, born_key="apt_gfn2", dipole_key="dipole_gfn2")
    model = PolarizationModel(cutoff=CUTOFF_A, n_max=2, l_max=1, regularization=1e-6).fit(
        frames, targets="born", progress=False)
    monomer = frames[0][:3]  # O, H, H of the first dimer (GFN2-xTB geometry)
    assert monomer.get_chemical_symbols() == ["O", "H", "H"]
    monomer.calc = None
    return monomer, model


def _in_box(atoms, length_A):
    boxed = atoms.copy()
    boxed.cell = [length_A] * 3
    boxed.pbc = True
    return boxed


def _dipole(atoms, model):
    atoms = atoms.copy()
    atoms.calc = DipoleCalculator(model)
    return atoms.get_dipole_moment()


def test_small_box_warns_and_changes_the_dipole(monomer_and_model):
    monomer, model = monomer_and_model
    free = _dipole(monomer, model)
    with pytest.warns(UserWarning, match=r"one molecule \(H2O\) in a periodic box of widths "
                                         r"\[3\. 3\. 3\.\] Å.*at least \[.*\] Å \(extent \+ 2 × "
                                         r"cut-off\) or pbc=False"):
        small = _dipole(_in_box(monomer, 3.0), model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        large = _dipole(_in_box(monomer, 2 * CUTOFF_A + 2.0), model)
        _dipole(_in_box(monomer, 15.0), model)
    # the warning is not a false alarm: the 3 Å box changes μ, a large one does not
    np.testing.assert_allclose(large, free, atol=1e-10)
    assert np.abs(small - free).max() > 0.05


def test_needed_size_is_extent_plus_twice_the_cutoff(monomer_and_model):
    monomer, _ = monomer_and_model
    boxed = _in_box(monomer, 20.0)
    boxed.positions[:, 0] += 9.8  # across the boundary: the molecule is made whole
    boxed.wrap()
    extent = np.ptp(monomer.positions, axis=0)
    for axis in range(3):
        cell = np.diag([20.0, 20.0, 20.0])
        cell[axis, axis] = extent[axis] + 2 * CUTOFF_A - 0.01
        tight = boxed.copy()
        tight.set_cell(cell, scale_atoms=False)
        tight.positions[:, axis] = monomer.positions[:, axis] - monomer.positions[:, axis].min()
        with pytest.warns(UserWarning, match="depends on the box"):
            check_box(tight, CUTOFF_A)
        cell[axis, axis] += 0.02
        tight.set_cell(cell, scale_atoms=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_box(tight, CUTOFF_A)


def test_free_molecules_liquids_and_crystals_do_not_warn(monomer_and_model):
    monomer, _ = monomer_and_model
    two = _in_box(monomer, 6.0)
    two.positions += 1.5
    other = two.copy()
    other.positions += [3.0, 0.0, 0.0]
    two += other
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_box(monomer, CUTOFF_A)  # pbc False
        check_box(two, CUTOFF_A)  # two molecules: a (tiny) molecular liquid
        check_box(bulk("NaCl", "rocksalt", a=5.64), CUTOFF_A)  # bonded to its images


def test_water_dimer_in_a_small_box_warns(monomer_and_model):
    """A cluster of molecules (bonds, and hydrogen bonds between them) is
    checked as one molecule is: a dimer in a 6–8 Å box warned nothing."""
    _, model = monomer_and_model
    dimer = read_extxyz_born(DIMERS, born_key="apt_gfn2", dipole_key="dipole_gfn2")[0]
    dimer.calc = None
    for length in (6.0, 7.0, 8.0, 2 * CUTOFF_A + 4.0):
        boxed = _in_box(dimer, length)
        boxed.center()
        free = boxed.copy()
        free.pbc = False
        free = _dipole(free, model)
        if length > 2 * CUTOFF_A + 3.8:  # wider than extent + 2 × cut-off
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                np.testing.assert_allclose(_dipole(boxed, model), free, atol=1e-10)
            continue
        with pytest.warns(UserWarning, match=r"one cluster of 2 molecules \(H4O2\) in a periodic "
                                             r"box of widths .*depends on the box"):
            boxed_dipole = _dipole(boxed, model)
        if length < 8.0:  # atoms within 4.5 Å of an image: not a false alarm
            assert np.abs(boxed_dipole - free).max() > 0.01


def test_liquid_water_does_not_warn():
    from ase.io import read

    liquid = read(os.path.join(os.path.dirname(__file__), "..", "ase_dipole", "data",
                               "paper_water_rpbe_d3_bec.xyz.gz"), index=0)
    assert len(liquid) == 192 and liquid.pbc.all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_box(liquid, CUTOFF_A)


def test_predict_warns_for_a_small_box(monomer_and_model, tmp_path, capsys):
    from ase_dipole.cli import main
    from ase_dipole.io.extxyz import write_extxyz

    monomer, model = monomer_and_model
    model_path = tmp_path / "model.json"
    model.save(model_path)
    boxed = tmp_path / "boxed.extxyz"
    write_extxyz(boxed, [_in_box(monomer, 3.0)])
    with pytest.warns(UserWarning, match=r"widths \[3\. 3\. 3\.\] Å"):
        assert main(["predict", str(model_path), str(boxed), "-o", str(tmp_path / "p.extxyz")]) == 0
