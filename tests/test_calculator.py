"""DipoleCalculator and FixedChargesModel: ASE property names, agreement with
the model, Z* = dμ/dx, forces from the wrapped calculator, and harmonic IR
intensities through ase.vibrations.Infrared on GFN2-xTB water."""

import itertools
import os
import warnings

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError, all_properties
from ase.vibrations import Infrared

from ase_dipole.dynamics.calculator import DIPOLE_PROPERTIES, DipoleCalculator
from ase_dipole.io import read_extxyz_born
from ase_dipole.io.extxyz import set_born_charges, set_dipole
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.learning.model import PolarizationModel
from ase_dipole.units import E_PER_A2_TO_C_PER_M2, KM_PER_MOL_PER_E2_AMU
from md_helpers import (
    dipole_finite_difference,
    gfn2_xtb,
    harmonic_modes,
    mode_charges,
    relaxed_water,
    water_model,
)

#: |Z*_Na| = |Z*_Cl| of rock-salt NaCl, isotropic, read from phonopy's
#: example/NaCl/BORN (tests/data/phonopy_born/BORN_NaCl)
NACL_BORN_CHARGE = 1.086875
DIMERS = os.path.join(os.path.dirname(__file__), "data", "water_dimer",
                      "water_dimer_b3lyp_gfn2_apt.extxyz")


def displaced_water(seed=3, amplitude_A=0.05):
    model, atoms = water_model()
    rng = np.random.default_rng(seed)
    atoms.positions += amplitude_A * rng.standard_normal(atoms.positions.shape)
    return model, atoms


def test_property_names_are_ase_names():
    assert set(DIPOLE_PROPERTIES) <= set(all_properties)
    model, _ = water_model()
    calculator = DipoleCalculator(model, calculator=gfn2_xtb())
    assert {"energy", "forces", "dipole", "born_effective_charges", "polarization"} <= set(
        calculator.implemented_properties
    )
    assert set(calculator.implemented_properties) <= set(all_properties)
    alone = DipoleCalculator(model)
    assert "forces" not in alone.implemented_properties


def test_dipole_and_born_charges_match_model():
    model, atoms = displaced_water()
    atoms.calc = DipoleCalculator(model)
    np.testing.assert_allclose(atoms.get_dipole_moment(), model.predict_dipole(atoms), atol=1e-14)
    dipole, born = model.predict(atoms)
    np.testing.assert_allclose(atoms.calc.get_property("born_effective_charges", atoms), born,
                               atol=1e-14)
    # the charges are not symmetric, so a transposed convention would fail here
    assert np.abs(born - born.transpose(0, 2, 1)).max() > 0.03


def test_born_charges_are_finite_difference_of_calculator_dipole():
    model, atoms = displaced_water()
    atoms.calc = DipoleCalculator(model)
    born = atoms.calc.get_property("born_effective_charges", atoms)
    numeric = dipole_finite_difference(atoms, lambda a: a.get_dipole_moment(), step_A=1e-4)
    np.testing.assert_allclose(born, numeric, atol=1e-9)


def test_fixed_charges_model_reproduces_gfn2_dipole_to_first_order():
    """μ0 + Σ Z*·u from GFN2-xTB Z* at the minimum vs the GFN2-xTB dipole of a
    slightly displaced molecule: the difference is second order in u."""
    model, atoms = water_model()
    rng = np.random.default_rng(7)
    direction = rng.standard_normal(atoms.positions.shape)
    errors = []
    for amplitude in (0.01, 0.02):
        displaced = atoms.copy()
        displaced.positions += amplitude * direction
        displaced.calc = gfn2_xtb()
        errors.append(np.linalg.norm(model.predict_dipole(displaced) - displaced.get_dipole_moment()))
    assert errors[1] / errors[0] == pytest.approx(4.0, rel=0.15)


def test_forces_and_energy_come_from_wrapped_calculator():
    model, atoms = displaced_water()
    reference = atoms.copy()
    reference.calc = gfn2_xtb()
    atoms.calc = DipoleCalculator(model, calculator=gfn2_xtb())
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), atol=1e-10)
    assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-10)
    # the dipole is the model's, not GFN2-xTB's own
    np.testing.assert_allclose(atoms.get_dipole_moment(), model.predict_dipole(atoms), atol=1e-14)
    assert np.linalg.norm(atoms.get_dipole_moment() - reference.get_dipole_moment()) > 1e-3


def test_born_charges_only_computed_when_asked():
    calls = []

    class CountingModel(FixedChargesModel):
        def predict(self, atoms):
            calls.append("predict")
            return super().predict(atoms)

    model, atoms = water_model()
    counting = CountingModel(model.born_charges, reference_positions=model.reference_positions,
                             symbols=model.symbols)
    atoms.calc = DipoleCalculator(counting)
    atoms.get_dipole_moment()
    assert calls == []
    atoms.calc.get_property("born_effective_charges", atoms)
    assert calls == ["predict"]


def test_unknown_species_and_missing_properties_are_clear_errors():
    model, atoms = water_model()
    methanol_like = Atoms("COH", positions=atoms.positions)
    methanol_like.calc = DipoleCalculator(model)
    with pytest.raises(ValueError, match=r"knows species \('H', 'O'\).*\['C'\]"):
        methanol_like.get_dipole_moment()
    atoms.calc = DipoleCalculator(model)
    with pytest.raises(PropertyNotImplementedError, match="energy"):
        atoms.get_potential_energy()
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.calc.get_property("polarization", atoms)


def test_polarization_of_displaced_nacl_sublattice():
    """Rock salt with the phonopy Z* = ±1.0869 e: shifting the Na sublattice by
    u along x polarizes the cell by P = N_Na Z u / V."""
    crystal = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    charges = np.where(crystal.numbers == 11, NACL_BORN_CHARGE, -NACL_BORN_CHARGE)
    model = FixedChargesModel(charges[:, None, None] * np.eye(3),
                              reference_positions=crystal.positions,
                              symbols=crystal.get_chemical_symbols())
    shift_A = 0.02
    crystal.positions[crystal.numbers == 11, 0] += shift_A
    crystal.calc = DipoleCalculator(model)
    polarization = crystal.calc.get_property("polarization", crystal)
    expected = 4 * NACL_BORN_CHARGE * shift_A / crystal.get_volume()
    np.testing.assert_allclose(polarization, [expected, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(polarization, crystal.get_dipole_moment() / crystal.get_volume())
    assert E_PER_A2_TO_C_PER_M2 == pytest.approx(16.0218, rel=1e-5)


def test_model_file_round_trip_and_bad_files(tmp_path):
    model, atoms = displaced_water()
    path = tmp_path / "water_charges.npz"
    model.save(path)
    calculator = DipoleCalculator(str(path))
    assert calculator.model.sha256 == model.sha256
    atoms.calc = calculator
    np.testing.assert_allclose(atoms.get_dipole_moment(), model.predict_dipole(atoms), atol=1e-14)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["fixed_charges_format_version"] = np.array(99)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="format version 99"):
        FixedChargesModel.load(tmp_path / "future.npz")
    arrays["fixed_charges_format_version"] = np.array(1)
    arrays["born_charges"] = 100.0 * arrays["born_charges"]
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(ValueError, match="edited.npz' has been modified since it was written"):
        FixedChargesModel.load(tmp_path / "edited.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DipoleCalculator(str(tmp_path / "missing.model"))


def test_from_atoms_uses_extxyz_convention():
    atoms, born, dipole = relaxed_water()
    set_born_charges(atoms, born)
    set_dipole(atoms, dipole)
    model = FixedChargesModel.from_atoms(atoms)
    np.testing.assert_allclose(model.born_charges, born)
    np.testing.assert_allclose(model.predict_dipole(atoms), dipole)
    with pytest.raises(ValueError, match="no Born charges"):
        FixedChargesModel.from_atoms(Atoms("H2"))
    with pytest.raises(ValueError, match=r"shape \(3, 3\); expected \(N, 3, 3\)"):
        FixedChargesModel(np.eye(3))
    shuffled = atoms[[1, 0, 2]]
    with pytest.raises(ValueError, match="atom 0 is 'H'"):
        model.predict_dipole(shuffled)


def test_infrared_intensities_follow_mode_charges(tmp_path):
    """ase.vibrations.Infrared on DipoleCalculator(FixedChargesModel, GFN2-xTB):
    its intensities in (D/Å)²/amu are |Z̃_ν|²/D², Z̃ = Σ Z* e_ν/√m (docs/conventions.md),
    and agree with Infrared on GFN2-xTB's own dipole."""
    model, atoms = water_model()
    atoms.calc = DipoleCalculator(model, calculator=gfn2_xtb())
    infrared = Infrared(atoms, name=str(tmp_path / "ir"), delta=0.01)
    infrared.run()
    infrared.read()
    masses = atoms.get_masses()
    wavenumbers, modes = harmonic_modes(infrared.H, masses)
    np.testing.assert_allclose(wavenumbers[-3:], infrared.get_frequencies().real[-3:], rtol=1e-8)
    charges = mode_charges(model.born_charges, infrared.modes, masses)
    expected = np.sum(charges**2, axis=1) / units.Debye**2
    np.testing.assert_allclose(infrared.intensities[-3:], expected[-3:], rtol=1e-6)
    # ASE's km/mol factor (Porezag) equals ours, (km/mol)/(e²/amu) times D²
    assert KM_PER_MOL_PER_E2_AMU * units.Debye**2 == pytest.approx(42.255, rel=1e-4)

    own = atoms.copy()
    own.calc = gfn2_xtb()
    reference = Infrared(own, name=str(tmp_path / "ir_gfn2"), delta=0.01)
    reference.run()
    reference.read()
    np.testing.assert_allclose(infrared.intensities[-3:], reference.intensities[-3:], rtol=0.02)


def test_nan_positions_are_one_clear_error_for_every_model():
    """A NaN coordinate (a blown-up MD) is a ValueError naming the atom, raised
    before anything else looks at the positions: no numpy warning first, and
    never a NaN dipole, whichever model and boundary conditions."""
    fixed, molecule = water_model()
    frames = read_extxyz_born(DIMERS, born_key="apt_gfn2", dipole_key="dipole_gfn2")
    fitted = PolarizationModel(cutoff=4.5, n_max=2, l_max=1, regularization=1e-6).fit(
        frames, targets="born", progress=False)
    for model, pbc, blown_up_later in itertools.product((fixed, fitted), (False, True), (False, True)):
        atoms = molecule.copy()
        atoms.cell, atoms.pbc = [20.0] * 3, pbc
        atoms.calc = DipoleCalculator(model)
        if blown_up_later:  # the box is checked already: the model's check
            atoms.get_dipole_moment()
        atoms.positions[1, 2] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for name in ("dipole", "born_effective_charges"):
                with pytest.raises(ValueError, match=r"atoms \[1\] are not finite.*blown up"):
                    atoms.calc.get_property(name, atoms)
            with pytest.raises(ValueError, match=r"atoms \[1\] are not finite"):
                model.predict(atoms)
