"""Checks of the SPC/Fw OpenMM calculator and the box builder.

Run from the repository root: ``python -m pytest -q examples/liquid_water``
(needs ``pip install openmm``; about half a minute on 2 cores).
"""

import numpy as np
import pytest
from ase import Atoms, units
from ase.geometry import get_distances
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE

pytest.importorskip("openmm")

from spcfw_openmm import (  # noqa: E402
    SPCFW_ANGLE_K_KCAL_MOL_RAD2,
    SPCFW_ANGLE_THETA0_DEG,
    SPCFW_BOND_K_KCAL_MOL_A2,
    SPCFW_BOND_R0_A,
    SPCFW_CHARGE_H,
    SPCFW_CHARGE_O,
    SPCFW_EPSILON_OO_KCAL_MOL,
    SPCFW_SIGMA_OO_A,
    SPCFwOpenMM,
    water_molecules,
)
from water_box import box_edge_A, build_water_box  # noqa: E402

#: Coulomb constant e²/(4πε0) in eV·Å
COULOMB_EV_A = 1.0 / (4 * np.pi * units._eps0) * units._e / units.Angstrom * 1e10  # [eV·Å/e²]
KCAL_MOL_EV = units.kcal / units.mol  # [eV / (kcal/mol)]


def _intramolecular_energy(positions):
    """SPC/Fw bond + angle energy of one molecule (O, H, H), eV, plain NumPy."""
    oh = positions[1:] - positions[0]
    r = np.linalg.norm(oh, axis=1)
    theta = np.arccos(oh[0] @ oh[1] / (r[0] * r[1]))
    return (0.5 * SPCFW_BOND_K_KCAL_MOL_A2 * np.sum((r - SPCFW_BOND_R0_A) ** 2)
            + 0.5 * SPCFW_ANGLE_K_KCAL_MOL_RAD2
            * (theta - np.deg2rad(SPCFW_ANGLE_THETA0_DEG)) ** 2) * KCAL_MOL_EV


def _pair_energy(first, second):
    """Coulomb + O–O Lennard-Jones between two molecules (O, H, H), eV."""
    charges = np.array([SPCFW_CHARGE_O, SPCFW_CHARGE_H, SPCFW_CHARGE_H])
    r = np.linalg.norm(first[:, None] - second[None], axis=-1)
    coulomb = COULOMB_EV_A * np.sum(charges[:, None] * charges[None] / r)
    x = (SPCFW_SIGMA_OO_A / r[0, 0]) ** 6
    return coulomb + 4 * SPCFW_EPSILON_OO_KCAL_MOL * KCAL_MOL_EV * (x * x - x)


@pytest.fixture(scope="module")
def dimer():
    """Two distorted molecules 2.9 Å apart (O–O) in a 30 Å box."""
    rng = np.random.default_rng(3)
    template = np.array([[0.0, 0.0, 0.0], [0.95, 0.2, 0.0], [-0.3, 0.98, 0.1]])
    second = template @ np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1.0]]) + [2.9, 0.3, 0.2]
    positions = np.vstack([template, second]) + 15.0 + rng.normal(scale=0.02, size=(6, 3))
    return Atoms("OHHOHH", positions=positions, cell=[30.0] * 3, pbc=True)


def test_dimer_energy_matches_plain_coulomb_lj_and_harmonic_terms(dimer):
    # Absolute energy and unit conversions: OpenMM (double precision, tight
    # PME) against the SPC/Fw formula evaluated by hand. PME sums with
    # tin-foil boundary conditions; the isolated pair is that plus the
    # surface term 2π|M|²/(3V) (M the cell dipole; images beyond the dipole
    # order are ~1e-5 eV at 30 Å).
    atoms = dimer.copy()
    atoms.calc = SPCFwOpenMM(platform="Reference", cutoff_A=12.0, switch_A=11.0,
                             ewald_tolerance=1e-7)
    positions = atoms.get_positions()
    charges = np.tile([SPCFW_CHARGE_O, SPCFW_CHARGE_H, SPCFW_CHARGE_H], 2)
    cell_dipole = charges @ positions
    surface = 2 * np.pi / (3 * atoms.get_volume()) * (cell_dipole @ cell_dipole) * COULOMB_EV_A
    pair = _pair_energy(positions[:3], positions[3:])
    expected = (_intramolecular_energy(positions[:3]) + _intramolecular_energy(positions[3:])
                + pair)
    assert abs(pair) > 0.1 and surface > 5e-4
    assert atoms.get_potential_energy() + surface == pytest.approx(expected, abs=5e-5)


def test_atom_order_does_not_matter(dimer):
    # All H first, then all O (the paper-water layout) gives the same energy and
    # permuted forces.
    order = [1, 2, 4, 5, 0, 3]
    reference = dimer.copy()
    reference.calc = SPCFwOpenMM(platform="Reference", cutoff_A=12.0, switch_A=11.0)
    permuted = dimer[order]
    permuted.calc = SPCFwOpenMM(platform="Reference", cutoff_A=12.0, switch_A=11.0)
    assert permuted.get_potential_energy() == pytest.approx(
        reference.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(permuted.get_forces(), reference.get_forces()[order], atol=1e-9)


@pytest.fixture(scope="module")
def liquid():
    """64-molecule box, minimised briefly."""
    atoms = build_water_box(64, seed=1)
    atoms.calc = SPCFwOpenMM()
    FIRE(atoms, logfile=None).run(fmax=0.5, steps=200)
    return atoms


def test_box_builder_density_and_contacts():
    atoms = build_water_box(64, seed=4)
    density = atoms.get_masses().sum() * units._amu / (atoms.get_volume() * 1e-30)
    assert density == pytest.approx(997.0, rel=1e-9)
    assert atoms.cell.lengths() == pytest.approx([box_edge_A(64, 997.0)] * 3)
    _, oo = get_distances(atoms.positions[::3], cell=atoms.cell, pbc=True)
    assert np.sort(oo, axis=1)[:, 1].min() >= 2.5
    molecules = water_molecules(atoms)
    assert molecules.tolist() == np.arange(192).reshape(64, 3).tolist()


def test_forces_are_minus_finite_difference_of_energy(liquid):
    # Central differences, step 1e-3 Å, on the CPU platform used for the MD
    # (single-precision nonbonded kernels: the tolerance covers its rounding).
    atoms = liquid.copy()
    atoms.calc = SPCFwOpenMM()
    forces = atoms.get_forces()
    rng = np.random.default_rng(0)
    step = 1e-3
    for index in rng.choice(len(atoms), size=6, replace=False):
        for direction in range(3):
            shifted = []
            for sign in (1, -1):
                atoms.positions[index, direction] += sign * step
                shifted.append(atoms.get_potential_energy())
                atoms.positions[index, direction] -= sign * step
            numeric = -(shifted[0] - shifted[1]) / (2 * step)
            assert numeric == pytest.approx(forces[index, direction], abs=5e-3, rel=1e-3)


def test_nve_conserves_energy_over_one_picosecond(liquid):
    # 4000 velocity-Verlet steps of 0.25 fs at ~300 K: the total energy
    # wanders by far less than the kinetic energy of one degree of freedom
    # per molecule.
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    atoms = liquid.copy()
    atoms.calc = SPCFwOpenMM()
    thermalize_momenta(atoms, 300, rng=np.random.default_rng(2))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, 0.25 * units.fs)
    total = []
    dyn.attach(lambda: total.append(atoms.get_total_energy()), interval=20)
    dyn.run(4000)
    total = np.array(total)
    kinetic_per_dof = 0.5 * units.kB * 300
    assert np.ptp(total) < 64 * kinetic_per_dof * 0.1
    assert abs(total[-1] - total[0]) < 64 * kinetic_per_dof * 0.05


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="not a set of water molecules"):
        SPCFwOpenMM().get_potential_energy(Atoms("OH", positions=[[0, 0, 0], [1, 0, 0]],
                                                 cell=[20] * 3, pbc=True))
    with pytest.raises(ValueError, match="3-D periodic cell"):
        SPCFwOpenMM().get_potential_energy(Atoms("OH2", positions=[[0, 0, 0], [1, 0, 0],
                                                                   [0, 1, 0]]))
    with pytest.raises(ValueError, match="not below half the shortest box"):
        SPCFwOpenMM(cutoff_A=6.0).get_potential_energy(
            Atoms("OH2", positions=[[0, 0, 0], [1, 0, 0], [0, 1, 0]], cell=[10] * 3, pbc=True))
    with pytest.raises(ValueError, match="knows only H and O"):
        water_molecules(Atoms("NaCl", cell=[10] * 3, pbc=True))


def test_gas_phase_normal_modes_match_wilson_gf_analysis(tmp_path):
    # One molecule at the SPC/Fw minimum in a 20 Å box: the finite-difference
    # harmonic frequencies (ase.vibrations) must equal the exact Wilson GF
    # result for a bent XY2 molecule with F = diag(k_b, k_θ) (no cross terms):
    # this checks the force constants, their k/2 convention and the units.
    from ase.vibrations import Vibrations

    from water_box import _molecule_template

    atoms = Atoms("OHH", positions=_molecule_template() + 10.0, cell=[20.0] * 3, pbc=True)
    atoms.calc = SPCFwOpenMM(platform="Reference", cutoff_A=8.0, switch_A=7.0)
    vibrations = Vibrations(atoms, name=str(tmp_path / "vib"), delta=1e-3, nfree=4)
    vibrations.run()
    computed = np.sort(vibrations.get_frequencies().real)[-3:]

    masses = atoms.get_masses()
    mu_h, mu_o = 1 / masses[1], 1 / masses[0]
    r, alpha = SPCFW_BOND_R0_A, np.deg2rad(SPCFW_ANGLE_THETA0_DEG)
    k_b = SPCFW_BOND_K_KCAL_MOL_A2 * KCAL_MOL_EV  # eV/Å²
    k_theta = SPCFW_ANGLE_K_KCAL_MOL_RAD2 * KCAL_MOL_EV  # eV/rad²
    g_sym = np.array([
        [mu_h + mu_o * (1 + np.cos(alpha)), -np.sqrt(2) * mu_o * np.sin(alpha) / r],
        [-np.sqrt(2) * mu_o * np.sin(alpha) / r, 2 / r**2 * (mu_h + mu_o * (1 - np.cos(alpha)))],
    ])
    eigenvalues = np.linalg.eigvals(g_sym @ np.diag([k_b, k_theta])).real
    eigenvalues = np.append(eigenvalues, k_b * (mu_h + mu_o * (1 - np.cos(alpha))))
    # ω² in eV/(amu Å²) -> wavenumber in cm⁻¹
    omega = np.sqrt(eigenvalues * units._e / units._amu) * 1e10  # rad/s
    expected = np.sort(omega / (2 * np.pi * units._c * 100))
    np.testing.assert_allclose(computed, expected, atol=1.0)
