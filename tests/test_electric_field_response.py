"""Linear response of MD in a static field: the canonical shift of the cell
dipole, ⟨M⟩_E − ⟨M⟩_0, equals β⟨δM δMᵀ⟩·E from a zero-field run (the
fluctuation formula of ε(0) − ε∞ at conducting boundary conditions), within
the combined statistical error from block averages; a reversed field or a
factor 2 in the field forces would miss by many σ.

System: rock-salt NaCl, the 64-atom 2×2×2 supercell of phonopy's NaCl
example, harmonic with its VASP (PBE) force constants (ASE's
HarmonicCalculator) and the Born charges of its BORN file held fixed
(FixedChargesModel, acoustic sum rule imposed), Langevin at 300 K. Harmonic
with a linear dipole, the response is linear at any field and its exact
value, V ε0 χ E with χ = Zᵀ Φ⁺ Z / (V ε0), follows from the force constants
(χ = 3.82; experiment ε(0) − ε∞ = 5.9 − 2.34): the MD must reproduce it too."""

import numpy as np
import pytest
from ase import units
from ase.calculators.harmonic import HarmonicCalculator, HarmonicForceField
from ase.md.langevin import Langevin

from ase_dipole.dynamics.calculator import DipoleCalculator
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.spectra.dielectric import static_susceptibility

from dielectric_helpers import nacl_supercell

#: vacuum permittivity in e/(V·Å)
EPS0_E_PER_V_A = 1.0 / (4.0 * np.pi * units.Hartree * units.Bohr)
TEMPERATURE_K = 300.0
#: |E| = 0.06 V/Å along no symmetry direction: β|E|δM_rms ≈ 2 (the
#: response of a harmonic crystal is linear at any field)
FIELD_V_PER_A = 0.06 * np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
TIMESTEP_FS = 5.0
STEPS = 3200
#: steps between samples (the dipole decorrelates over ~15 steps)
SAMPLE_INTERVAL = 2
DISCARD = 200
BLOCKS = 10


@pytest.fixture(scope="module")
def nacl():
    """Supercell, its Hessian (192, 192) eV/Å² and its FixedChargesModel."""
    supercell, hessian, born, _, _ = nacl_supercell()
    model = FixedChargesModel(born, reference_positions=supercell.positions,
                              symbols=supercell.get_chemical_symbols())
    return supercell, hessian, model


def _dipoles(nacl, field, seed):
    """Cell dipoles (3,) e·Å every SAMPLE_INTERVAL steps of a Langevin run
    in ``field``, after DISCARD steps."""
    supercell, hessian, model = nacl
    atoms = supercell.copy()
    force_field = HarmonicCalculator(HarmonicForceField(ref_atoms=supercell, hessian_x=hessian))
    atoms.calc = DipoleCalculator(model, calculator=force_field, electric_field_V_per_A=field)
    dyn = Langevin(atoms, TIMESTEP_FS * units.fs, temperature_K=TEMPERATURE_K,
                   friction=0.02 / units.fs, fixcm=False, rng=np.random.default_rng(seed))
    dipoles = []
    dyn.attach(lambda: dipoles.append(atoms.get_dipole_moment()), interval=SAMPLE_INTERVAL)
    dyn.run(STEPS)
    return np.array(dipoles[DISCARD // SAMPLE_INTERVAL:])


def _mean_and_error(samples):
    """Mean over axis 0 and its standard error from BLOCKS block means."""
    means = np.array([block.mean(axis=0) for block in np.array_split(samples, BLOCKS)])
    return samples.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(BLOCKS)


def _fluctuation_response(dipoles, field, volume_A3):
    """β⟨δM δMᵀ⟩·E = V ε0 χ E (3,) e·Å, χ the static susceptibility of the
    zero-field dipoles (ase_dipole.spectra.dielectric.static_susceptibility),
    and its standard error from its BLOCKS block estimates."""
    susceptibility = static_susceptibility(dipoles, volume_A3=volume_A3,
                                           temperature_K=TEMPERATURE_K, n_blocks=BLOCKS)
    to_dipole = volume_A3 * EPS0_E_PER_V_A
    per_block = susceptibility.samples @ field * to_dipole
    return (susceptibility.tensor @ field * to_dipole,
            per_block.std(axis=0, ddof=1) / np.sqrt(BLOCKS))


@pytest.fixture(scope="module")
def runs(nacl):
    return _dipoles(nacl, None, seed=11), _dipoles(nacl, FIELD_V_PER_A, seed=12)


def test_field_shift_of_dipole_follows_fluctuation_formula(nacl, runs):
    """Measured: along E, shift 2.01 against 1.91 e·Å predicted, combined
    σ = 0.15 e·Å (0.6σ apart); a reversed field would be 27σ off, twice the
    field force 12σ, half of it 7σ."""
    zero, field = runs
    volume = nacl[0].get_volume()
    mean_zero, error_zero = _mean_and_error(zero)
    mean_field, error_field = _mean_and_error(field)
    shift = mean_field - mean_zero
    shift_error = np.hypot(error_zero, error_field)
    predicted, predicted_error = _fluctuation_response(zero, FIELD_V_PER_A, volume)
    sigma = np.hypot(shift_error, predicted_error)
    assert np.all(np.abs(shift - predicted) < 3.0 * sigma), (shift, predicted, sigma)
    # the check has teeth: the component along E is many σ from zero, and a
    # reversed field or twice the field force would be rejected
    unit = FIELD_V_PER_A / np.linalg.norm(FIELD_V_PER_A)
    along, predicted_along = shift @ unit, predicted @ unit
    sigma_along = np.sqrt((shift_error**2 + predicted_error**2) @ unit**2)
    assert along > 10.0 * sigma_along
    assert abs(along + predicted_along) > 15.0 * sigma_along
    assert abs(along - 2.0 * predicted_along) > 8.0 * sigma_along
    assert abs(along - 0.5 * predicted_along) > 4.0 * sigma_along


def test_response_matches_harmonic_susceptibility(nacl, runs):
    """Both sides against the exact harmonic value V ε0 χ E, χ = Zᵀ Φ⁺ Z/(V ε0)."""
    supercell, hessian, model = nacl
    zero, field = runs
    n_atoms = len(supercell)
    charges = model.born_charges.transpose(0, 2, 1).reshape(3 * n_atoms, 3)  # rows (i, β)
    response = charges.T @ np.linalg.pinv(hessian, rcond=1e-8, hermitian=True) @ charges
    volume = supercell.get_volume()
    chi = response / (volume * EPS0_E_PER_V_A)
    np.testing.assert_allclose(chi, 3.816 * np.eye(3), atol=2e-3)
    exact = response @ FIELD_V_PER_A
    mean_zero, error_zero = _mean_and_error(zero)
    mean_field, error_field = _mean_and_error(field)
    shift_error = np.hypot(error_zero, error_field)
    assert np.all(np.abs(mean_field - mean_zero - exact) < 3.0 * shift_error)
    predicted, predicted_error = _fluctuation_response(zero, FIELD_V_PER_A, volume)
    assert np.all(np.abs(predicted - exact) < 3.0 * predicted_error)
