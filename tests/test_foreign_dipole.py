"""A foreign dipole model (an ASE calculator returning 'dipole', with or
without 'born_effective_charges') feeds the observer, the trajectory logs,
the spectrum and the harmonic bridge; the Z*·v and dμ/dt routes agree."""

import numpy as np
import pytest
from ase import units
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet

from ase_dipole.cli import main
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.dynamics.foreign_dipole import CalculatorDipoleModel
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.spectra.green_kubo import ir_spectrum, read_spectrum_csv
from ase_dipole.spectra.harmonic import HarmonicIR, phonopy_from_calculator
from foreign_dipole_helpers import BondChargeDipole, BondChargeDipoleOnly
from md_helpers import dipole_finite_difference, gfn2_xtb, relaxed_water

TIMESTEP_FS = 0.25


def test_adapter_born_charges_are_the_derivative_of_its_dipole():
    atoms, _, _ = relaxed_water()
    atoms.positions[1] += [0.03, -0.02, 0.05]  # off the minimum: the bond term is nonlinear
    with_born = CalculatorDipoleModel(BondChargeDipole())
    dipole, born = with_born.predict(atoms)
    np.testing.assert_allclose(born, dipole_finite_difference(atoms, with_born.predict_dipole, step_A=1e-4),
                               atol=1e-8)
    dipole_only = CalculatorDipoleModel(BondChargeDipoleOnly())
    dipole_fd, born_fd = dipole_only.predict(atoms)
    np.testing.assert_allclose(dipole_fd, dipole, rtol=1e-14)
    np.testing.assert_allclose(born_fd, born, atol=1e-6)  # O(δ²), δ = 1e-3 Å
    np.testing.assert_allclose(born.sum(axis=0), 0.0, atol=1e-14)  # neutral: acoustic sum rule
    velocities = np.random.default_rng(1).normal(0.0, 0.02, (3, 3))
    _, pdot = with_born.predict_pdot(atoms, velocities)
    np.testing.assert_allclose(pdot, np.einsum("iab,ib->a", born, velocities), rtol=1e-12)
    with pytest.warns(UserWarning, match="gives no Born charges: Ṗ is dμ/dt along the velocities"):
        _, pdot_fd = dipole_only.predict_pdot(atoms, velocities)
    np.testing.assert_allclose(pdot_fd, pdot, rtol=1e-6)
    with pytest.raises(ValueError, match="EMT does not implement 'dipole'"):
        CalculatorDipoleModel(EMT())
    assert with_born.sha256 == CalculatorDipoleModel(BondChargeDipole()).sha256
    assert len(with_born.sha256) == 64


@pytest.fixture(scope="module")
def water_run(tmp_path_factory):
    """300 K GFN2-xTB water, 1200 steps of 0.25 fs, logged by the observer
    through both adapters."""
    directory = tmp_path_factory.mktemp("foreign")
    atoms, _, _ = relaxed_water()
    atoms.calc = gfn2_xtb()
    atoms.set_velocities(np.random.default_rng(3).normal(0.0, 0.02, (3, 3)) / units.fs)
    dyn = VelocityVerlet(atoms, TIMESTEP_FS * units.fs)
    with_born = DipoleObserver(dyn, CalculatorDipoleModel(BondChargeDipole()), directory / "born.log",
                               interval=1, temperature_K=300)
    with pytest.warns(UserWarning, match="gives no Born charges"):
        dipole_only = DipoleObserver(dyn, CalculatorDipoleModel(BondChargeDipoleOnly()),
                                     directory / "dmudt.log", interval=1, temperature_K=300)
        dyn.attach(with_born, interval=1)
        dyn.attach(dipole_only, interval=1)
        frames = []
        dyn.attach(lambda: frames.append(atoms.copy()), interval=1)
        dyn.run(1200)
    with_born.close()
    dipole_only.close()
    import ase.io

    for frame in frames:
        frame.calc = None
    ase.io.write(directory / "md.traj", frames)
    return directory


def test_observer_routes_agree_and_feed_the_spectrum(water_run):
    born_log = read_dipole_log(water_run / "born.log")
    dmudt_log = read_dipole_log(water_run / "dmudt.log")
    scale = np.abs(born_log.pdot).max()
    # central differences along v with a 1e-3 Å step: measured 8e-7 of max|Ṗ|
    np.testing.assert_allclose(dmudt_log.pdot, born_log.pdot, atol=5e-6 * scale)
    np.testing.assert_array_equal(dmudt_log.dipole, born_log.dipole)
    # Ṗ integrates to the logged μ (trapezoid rule, O(Δt²))
    integrated = born_log.dipole[0] + np.concatenate(
        [[np.zeros(3)], np.cumsum(0.5 * (born_log.pdot[1:] + born_log.pdot[:-1]) * TIMESTEP_FS, axis=0)])
    np.testing.assert_allclose(integrated, born_log.dipole, atol=2e-3 * np.abs(born_log.dipole).max())
    spectra = [ir_spectrum([log], fwhm_cm1=250.0, max_wavenumber_cm1=4500.0) for log in (born_log, dmudt_log)]
    np.testing.assert_allclose(spectra[1].intensity, spectra[0].intensity,
                               atol=1e-5 * spectra[0].intensity.max())
    assert spectra[0].metadata["model_sha256"] == [born_log.metadata["model_sha256"]]


def test_log_cli_with_a_dipole_calculator(water_run):
    out = water_run / "cli.log"
    assert main(["log", str(water_run / "md.traj"), "--dipole-calculator",
                 "foreign_dipole_helpers:bond_charges", "--timestep-fs", str(TIMESTEP_FS),
                 "-o", str(out), "--temperature-K", "300"]) == 0
    np.testing.assert_allclose(read_dipole_log(out).pdot, read_dipole_log(water_run / "born.log").pdot,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:1 imaginary modes at Γ")
def test_harmonic_bridge_with_a_dipole_calculator(tmp_path):
    atoms, _, _ = relaxed_water()
    atoms.center(vacuum=4.0)
    phonon = phonopy_from_calculator(atoms, gfn2_xtb(), log=None)
    reference = HarmonicIR(phonon, BondChargeDipole().get_property("born_effective_charges", atoms)).run()
    adapted = HarmonicIR(phonon, CalculatorDipoleModel(BondChargeDipole())).run()
    by_differences = HarmonicIR(phonon, CalculatorDipoleModel(BondChargeDipoleOnly())).run()
    vibrations = reference.frequencies_cm1 > 500.0
    assert vibrations.sum() == 3
    np.testing.assert_allclose(adapted.intensities, reference.intensities, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(by_differences.intensities[vibrations], reference.intensities[vibrations],
                               rtol=1e-6)
    out = tmp_path / "harmonic.csv"
    phonopy_yaml = tmp_path / "phonopy_disp.yaml"
    phonon.save(phonopy_yaml, settings={"force_constants": True})
    assert main(["harmonic", "--phonopy", str(phonopy_yaml), "--dipole-calculator",
                 "foreign_dipole_helpers:bond_charges", "--molecule", "-o", str(out)]) == 0
    spectrum = read_spectrum_csv(out)
    expected = adapted.spectrum(spectrum.wavenumber_cm1, periodic=False)
    np.testing.assert_allclose(spectrum.intensity, expected.intensity, rtol=1e-6,
                               atol=1e-6 * expected.intensity.max())
