"""Raman spectra (ase_dipole.spectra.raman): the harmonic bridge against ASE's
own static-Placzek Raman (ase.vibrations.raman) fed the same α(R) (ASE's
bond-polarizability model), the invariants and channels, the absolute
cross-section by an independent SI route, and low-temperature MD against the
harmonic spectrum."""

import os

import ase.units
import numpy as np
import pytest
from ase.calculators.bond_polarizability import BondPolarizability
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet
from ase.vibrations.placzek import PlaczekStatic
from ase.vibrations.raman import StaticRamanCalculator

from ase_dipole.dynamics.polarizability_log import PolarizabilityObserver, read_polarizability_log
from ase_dipole.io.polarizability import check_polarizability, set_polarizability_derivatives
from ase_dipole.spectra.harmonic import phonopy_from_calculator
from ase_dipole.spectra.raman import (
    CHANNELS,
    HarmonicRaman,
    raman_invariants,
    raman_spectrum,
    read_raman_csv,
    read_raman_peaks,
    scattering_factor,
)
from raman_helpers import (
    AnalyticBondPolarizability,
    ase_bond_polarizability_A3,
    emt_water,
    QuadraticCalculator,
    finite_difference_derivatives,
    internal_hessian,
)

#: displacement of ASE's Raman run and of phonopy's, Å
DELTA_A = 0.01


def _water_phonon(atoms):
    # no force-constant symmetrization: then phonopy's ± displacements give the
    # same Hessian as ase.vibrations (central differences, same step)
    return phonopy_from_calculator(atoms, EMT(), displacement_A=DELTA_A, symmetry=False,
                                   symmetrize_fc=False, log=None)


def test_harmonic_raman_equals_ase_static_placzek(tmp_path, monkeypatch):
    """Same α(R) (ASE's BondPolarizability), same step: frequencies within
    0.01 cm⁻¹ and activities 45ā² + 7γ² within 1e-5 relative of
    ase.vibrations.placzek.PlaczekStatic; the analytic ∂α/∂x moves every
    activity by < 1e-3 of the strongest (ASE's finite-difference error)."""
    monkeypatch.chdir(tmp_path)
    atoms = emt_water()
    reference = atoms.copy()
    reference.calc = EMT()
    StaticRamanCalculator(reference, BondPolarizability, name="bp", delta=DELTA_A, txt=None).run()
    placzek = PlaczekStatic(reference, name="bp", txt=None)
    ase_cm1 = placzek.get_energies().real / ase.units.invcm
    ase_activity = placzek.get_absolute_intensities()

    phonon = _water_phonon(atoms)
    fd = finite_difference_derivatives(atoms, ase_bond_polarizability_A3, DELTA_A)
    harmonic = HarmonicRaman(phonon, fd).run()
    active = harmonic.active
    assert active.sum() == 3
    np.testing.assert_allclose(harmonic.frequencies_cm1[active], ase_cm1[6:], atol=0.01)
    np.testing.assert_allclose(harmonic.activities()[active], ase_activity[6:], rtol=1e-5)

    analytic = HarmonicRaman(phonon, AnalyticBondPolarizability(atoms)).run()
    relative = analytic.activities()[active] / analytic.activities()[active].max()
    np.testing.assert_allclose(relative, ase_activity[6:] / ase_activity[6:].max(), atol=1e-3)


def test_channels_invariants_and_depolarization():
    """total = parallel + perpendicular = isotropic + anisotropic; ρ of an
    isotropic tensor is 0, of a traceless one 3/4; invariants are rotation invariant."""
    atoms = emt_water()
    harmonic = HarmonicRaman(_water_phonon(atoms), AnalyticBondPolarizability(atoms)).run()
    total = harmonic.activities("total")
    np.testing.assert_allclose(harmonic.activities("parallel") + harmonic.activities("perpendicular"), total)
    np.testing.assert_allclose(harmonic.activities("isotropic") + harmonic.activities("anisotropic"), total)
    # water: the B2 stretch is fully depolarized, the A1 modes polarized
    rho = harmonic.depolarization_ratios[harmonic.active]
    assert np.sum(np.isclose(rho, 0.75, atol=1e-6)) == 1 and np.all(rho < 0.75 + 1e-9)

    rng = np.random.default_rng(3)
    tensor = rng.normal(size=(3, 3))
    tensor += tensor.T
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a2, g2 = raman_invariants(np.stack([tensor, rotation @ tensor @ rotation.T]))
    assert a2[1] == pytest.approx(a2[0]) and g2[1] == pytest.approx(g2[0])
    from ase_dipole.spectra.raman import depolarization_ratios
    traceless = tensor - np.trace(tensor) / 3 * np.eye(3)
    np.testing.assert_allclose(depolarization_ratios(np.stack([np.eye(3), traceless])), [0.0, 0.75])


def test_cross_section_by_an_independent_si_route():
    """dσ/dΩ = k_s⁴ ħ/(2ω_ν) (1 + n) S/45, S in m⁴/kg (SI, k_s = 2π ν̃_s)."""
    shift_cm1 = np.array([400.0, 1600.0, 3000.0])
    temperature_K, laser_nm = 300.0, 785.0
    activity = 1.0  # Å⁴/amu
    s_si = activity * 1e-40 / ase.units._amu  # m⁴/kg
    k_s = 2 * np.pi * (1e9 / laser_nm - 100.0 * shift_cm1)  # 1/m
    omega = 2 * np.pi * ase.units._c * 100.0 * shift_cm1
    bose = 1.0 / (1.0 - np.exp(-ase.units._hbar * omega / (ase.units._k * temperature_K)))
    expected_m2 = k_s**4 * ase.units._hbar / (2 * omega) * bose * s_si / 45.0
    got = scattering_factor(shift_cm1, laser_wavelength_nm=laser_nm, temperature_K=temperature_K)
    np.testing.assert_allclose(got, expected_m2 * 1e4, rtol=1e-10)


def test_spectrum_csv_and_peak_table_round_trip(tmp_path):
    atoms = emt_water()
    harmonic = HarmonicRaman(_water_phonon(atoms), AnalyticBondPolarizability(atoms),
                             laser_wavelength_nm=633.0, temperature_K=300.0).run()
    spectrum = harmonic.spectrum(fwhm_cm1=10.0)
    # the band areas are the mode cross-sections
    assert spectrum.integral() == pytest.approx(harmonic.cross_sections().sum(), rel=0.01)
    spectrum.write_csv(tmp_path / "raman.csv")
    back = read_raman_csv(tmp_path / "raman.csv")
    np.testing.assert_allclose(back.intensity, spectrum.intensity, rtol=1e-11)
    assert back.unit == "cm^2/sr/cm^-1" and back.metadata["laser_wavelength_nm"] == 633.0
    harmonic.write_peaks(tmp_path / "peaks.dat")
    table = read_raman_peaks(tmp_path / "peaks.dat")
    np.testing.assert_allclose(table["activity_A4_amu"][harmonic.active],
                               harmonic.activities()[harmonic.active], rtol=1e-6)


def test_bad_input_is_one_clear_line():
    atoms = emt_water()
    phonon = _water_phonon(atoms)
    derivatives = AnalyticBondPolarizability(atoms).predict(atoms)[1]
    skewed = derivatives.copy()
    skewed[:, 0, 1, :] += 0.1 * np.abs(derivatives).max()
    with pytest.raises(ValueError, match=r"not symmetric in its two polarizability indices.*tolerance"):
        HarmonicRaman(phonon, skewed)
    with pytest.raises(ValueError, match=r"shape \(3, 3, 3\); expected \(3, 3, 3, 3\) or \(3, 27\)"):
        HarmonicRaman(phonon, derivatives[0])
    for wavelength in (0.0, -532.0, "green"):
        with pytest.raises(ValueError, match="laser_wavelength_nm must be a positive number of nm"):
            HarmonicRaman(phonon, derivatives, laser_wavelength_nm=wavelength)
    with pytest.raises(ValueError, match="not symmetric"):
        check_polarizability([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="unknown channel 'xx'"):
        HarmonicRaman(phonon, derivatives).run().activities("xx")
    # the exchange format feeds the bridge the same numbers
    frame = atoms.copy()
    set_polarizability_derivatives(frame, derivatives)
    assert frame.arrays["polarizability_derivatives"].shape == (3, 27)
    np.testing.assert_allclose(HarmonicRaman(phonon, frame).polarizability_derivatives, derivatives)


def _peak_cm1(spectrum, centre, half_width):
    window = np.abs(spectrum.wavenumber_cm1 - centre) < half_width
    grid, intensity = spectrum.wavenumber_cm1[window], spectrum.intensity[window]
    peak = int(np.argmax(intensity))
    left, middle, right = intensity[peak - 1:peak + 2]
    return grid[peak] + 0.5 * (grid[1] - grid[0]) * (left - right) / (left - 2 * middle + right)


def test_low_temperature_md_reproduces_harmonic_raman(tmp_path):
    """1 K NVE of water on the exactly harmonic potential of its EMT modes,
    every mode started with energy k_B T, α̇ logged from the analytic bond
    polarizability: in every channel, peaks within 0.5 % of the harmonic
    frequencies and band areas within 5 % of the harmonic activities (and,
    for the total, of the cross-sections). The potential is quadratic so that
    only the spectrum code is under test (EMT's own water bend is strongly
    anharmonic); at 1 K the second-order terms of the nonlinear α(R) move the
    weak bend's area by ~1 % (2 % at 2 K)."""
    temperature_K, fwhm_cm1, timestep_fs = 1.0, 20.0, 0.25
    atoms = emt_water()
    source = AnalyticBondPolarizability(atoms)
    phonon = _water_phonon(atoms)
    harmonic = HarmonicRaman(phonon, source, temperature_K=temperature_K).run()
    active = np.flatnonzero(harmonic.active)
    masses = atoms.get_masses()
    speed = np.sqrt(2.0 * ase.units.kB * temperature_K)
    velocities = speed * harmonic.eigenvectors[active].sum(axis=0) / np.sqrt(masses)[:, None]
    atoms.calc = QuadraticCalculator(atoms.get_positions(), internal_hessian(harmonic, phonon))
    atoms.set_velocities(velocities)
    dyn = VelocityVerlet(atoms, timestep_fs * ase.units.fs)
    observer = PolarizabilityObserver(dyn, source, tmp_path / "nve.alog", interval=4, temperature_K=temperature_K)
    dyn.attach(observer, interval=4)
    dyn.run(16000)
    observer.close()
    log = read_polarizability_log(tmp_path / "nve.alog")
    assert log.alphadot.shape == (4001, 6)

    for channel in CHANNELS:
        md = raman_spectrum(log, channel=channel, quantity="activity", fwhm_cm1=fwhm_cm1)
        activities = harmonic.activities(channel)
        for mode in active:
            centre = harmonic.frequencies_cm1[mode]
            band = dict(min_wavenumber_cm1=centre - 5 * fwhm_cm1, max_wavenumber_cm1=centre + 5 * fwhm_cm1)
            if activities[mode] < 1e-3 * activities.max():
                assert abs(md.integral(**band)) < 2e-3 * activities.max()
                continue
            assert _peak_cm1(md, centre, 5 * fwhm_cm1) / centre == pytest.approx(1.0, abs=0.005)
            assert md.integral(**band) / activities[mode] == pytest.approx(1.0, abs=0.05)
    md = raman_spectrum(log, fwhm_cm1=fwhm_cm1)
    assert md.unit == "cm^2/sr/cm^-1" and md.wavenumber_cm1[0] > 0
    for mode in active:
        centre = harmonic.frequencies_cm1[mode]
        area = md.integral(min_wavenumber_cm1=centre - 5 * fwhm_cm1, max_wavenumber_cm1=centre + 5 * fwhm_cm1)
        assert area / harmonic.cross_sections()[mode] == pytest.approx(1.0, abs=0.05)


def test_trajectory_average_and_error_band():
    """Two logs: the mean of their spectra and std/√2 as error; logs of different
    sample intervals or without a temperature are refused."""
    from ase_dipole.dynamics.polarizability_log import PolarizabilityLog

    rng = np.random.default_rng(5)
    time_fs = np.arange(4000) * 1.0
    logs = [PolarizabilityLog(time_fs=time_fs, alphadot=rng.normal(size=(4000, 6)),
                              alpha=np.zeros((4000, 6)), metadata={"temperature_K": 300.0}) for _ in range(2)]
    both = raman_spectrum(logs, quantity="activity")
    single = [raman_spectrum(log, quantity="activity") for log in logs]
    np.testing.assert_allclose(both.intensity, 0.5 * (single[0].intensity + single[1].intensity))
    np.testing.assert_allclose(both.error, np.abs(single[0].intensity - single[1].intensity) / 2.0)
    assert np.all(np.isnan(single[0].error))
    slow = PolarizabilityLog(time_fs=2.0 * time_fs, alphadot=logs[0].alphadot, alpha=logs[0].alpha,
                             metadata={"temperature_K": 300.0})
    with pytest.raises(ValueError, match="sampled every 2 fs, another every 1 fs"):
        raman_spectrum([logs[0], slow])
    bare = PolarizabilityLog(time_fs=time_fs, alphadot=logs[0].alphadot, alpha=logs[0].alpha)
    with pytest.raises(ValueError, match="no temperature_K in its metadata; pass temperature_K="):
        raman_spectrum(bare)
    with pytest.raises(ValueError, match="laser_wavelength_nm must be a positive number of nm"):
        raman_spectrum(logs, laser_wavelength_nm=-1)


def test_command_lines(tmp_path):
    """``ase-dipole raman LOG`` writes what raman_spectrum computes;
    ``ase-dipole harmonic --raman`` what HarmonicRaman computes; bad input is
    one parser error."""
    from ase.io import write

    from ase_dipole.cli import main
    from ase_dipole.dynamics.polarizability_log import PolarizabilityLog, write_polarizability_log

    rng = np.random.default_rng(7)
    log = PolarizabilityLog(time_fs=np.arange(4000) * 1.0, alphadot=rng.normal(size=(4000, 6)),
                            alpha=np.zeros((4000, 6)), metadata={"temperature_K": 300.0})
    write_polarizability_log(tmp_path / "a.alog", log)
    assert main(["raman", str(tmp_path / "a.alog"), "-o", str(tmp_path / "r.csv"), "--channel", "perpendicular",
                 "--laser-nm", "633"]) == 0
    written = read_raman_csv(tmp_path / "r.csv")
    expected = raman_spectrum(log, channel="perpendicular", laser_wavelength_nm=633.0)
    np.testing.assert_allclose(written.intensity, expected.intensity, rtol=1e-10)
    with pytest.raises(SystemExit):
        main(["raman", str(tmp_path / "a.alog"), "-o", str(tmp_path / "bad.csv"), "--laser-nm", "0"])
    assert not (tmp_path / "bad.csv").exists()

    atoms = emt_water()
    frame = atoms.copy()
    set_polarizability_derivatives(frame, AnalyticBondPolarizability(atoms).predict(atoms)[1])
    write(tmp_path / "water.extxyz", frame)
    assert main(["harmonic", "--structure", str(tmp_path / "water.extxyz"), "--calculator",
                 "ase.calculators.emt:EMT", "--raman", str(tmp_path / "water.extxyz"), "--molecule",
                 "-o", str(tmp_path / "h.csv"), "--peaks", str(tmp_path / "h.dat")]) == 0
    api = HarmonicRaman(phonopy_from_calculator(atoms, EMT(), log=None), frame).run()
    table = read_raman_peaks(tmp_path / "h.dat")
    np.testing.assert_allclose(table["activity_A4_amu"][api.active], api.activities()[api.active], rtol=1e-5)
    assert read_raman_csv(tmp_path / "h.csv").unit == "cm^2/sr/cm^-1"


VASP = os.path.join(os.path.dirname(__file__), "data", "vasp_outcar")


def test_quartz_raman_tensors_from_vasp_epsilon_match_phonopy_spectroscopy():
    """α = V(ε∞ − 1)/4π from the real α-quartz OUTCARs displaced ± along
    Raman modes 4, 5 (E pair) and 6 (A1): activities 45ā² + 7γ² and ρ as in
    Phonopy-Spectroscopy's own peak table (3 decimals; the E pair summed)."""
    from ase_dipole.io.polarizability import read_vasp_polarizability
    from ase_dipole.spectra.raman import depolarization_ratios, raman_tensor_from_mode_displacement

    table = np.genfromtxt(os.path.join(VASP, "aSiO2_peak_table_README.txt"), dtype=None, encoding=None)
    reference = {round(float(row[0]), 2): (float(row[3]), float(row[5])) for row in table if row[3] != "Inactive"}
    tensors = {}
    for mode in (4, 5, 6):
        minus, plus = (read_vasp_polarizability(os.path.join(VASP, f"OUTCAR.{mode:04d}.00{k}.gz")) for k in (1, 2))
        epsilon = minus.info["epsilon"]
        np.testing.assert_allclose(minus.info["polarizability"], minus.get_volume() / (4 * np.pi)
                                   * (0.5 * (epsilon + epsilon.T) - np.eye(3)), rtol=1e-12, atol=1e-12)
        tensors[mode] = raman_tensor_from_mode_displacement(minus, plus)
    stacked = np.stack([tensors[4], tensors[5], tensors[6]])
    a2, g2 = raman_invariants(stacked)
    activity = 45 * a2 + 7 * g2
    rho = depolarization_ratios(stacked)
    assert activity[0] + activity[1] == pytest.approx(reference[127.37][0], rel=2e-3)
    assert activity[2] == pytest.approx(reference[223.52][0], abs=6e-4)
    np.testing.assert_allclose(rho, [reference[127.37][1], reference[127.37][1], reference[223.52][1]], atol=5e-3)
    with pytest.raises(ValueError, match="same geometry"):
        raman_tensor_from_mode_displacement(minus, minus)


def test_compare_command_takes_raman_spectra(tmp_path, capsys):
    """``ase-dipole compare`` matches the peaks of two Raman CSVs (here the
    harmonic spectrum with Gaussian and with Lorentzian lines: same positions,
    same areas within the Lorentzian tails cut by the window) and refuses a
    Raman against an IR spectrum (different units)."""
    from ase_dipole.cli import main
    from ase_dipole.spectra.compare import compare_spectra
    from ase_dipole.spectra.green_kubo import IRSpectrum

    atoms = emt_water()
    harmonic = HarmonicRaman(_water_phonon(atoms), AnalyticBondPolarizability(atoms)).run()
    grid = np.arange(1.0, 3500.0, 0.5)
    harmonic.spectrum(grid, lineshape="gaussian").write_csv(tmp_path / "gauss.csv")
    harmonic.spectrum(grid).write_csv(tmp_path / "lorentz.csv")
    assert main(["compare", str(tmp_path / "gauss.csv"), str(tmp_path / "lorentz.csv"),
                 "-o", str(tmp_path / "peaks.txt")]) == 0
    comparison = compare_spectra(read_raman_csv(tmp_path / "gauss.csv"), read_raman_csv(tmp_path / "lorentz.csv"))
    np.testing.assert_allclose(comparison.shift_cm1, 0.0, atol=0.5)
    assert len(comparison.shift_cm1) == 3
    np.testing.assert_allclose(comparison.area_ratio, 1.0, atol=0.02)
    IRSpectrum(wavenumber_cm1=grid, intensity=np.ones_like(grid), error=np.zeros_like(grid),
               unit="cm^2").write_csv(tmp_path / "ir.csv")
    with pytest.raises(SystemExit):
        main(["compare", str(tmp_path / "ir.csv"), str(tmp_path / "lorentz.csv")])
    assert "cannot compare a spectrum in 'cm^2' with one in 'cm^2/sr/cm^-1'" in capsys.readouterr().err


def test_polarizability_log_survives_a_killed_run(tmp_path):
    """A last row cut short (a run killed mid-write) is skipped with a
    warning; a file of another kind is one clear error."""
    from ase_dipole.dynamics.polarizability_log import (PolarizabilityLog, read_polarizability_log,
                                                        write_polarizability_log)

    rng = np.random.default_rng(1)
    log = PolarizabilityLog(time_fs=np.arange(5) * 0.5, alphadot=rng.normal(size=(5, 6)),
                            alpha=rng.normal(size=(5, 6)), metadata={"temperature_K": 300.0})
    path = tmp_path / "cut.alog"
    write_polarizability_log(path, log)
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind(" ")])
    with pytest.warns(UserWarning, match="skipping a truncated last row"):
        back = read_polarizability_log(path)
    np.testing.assert_allclose(back.alphadot, log.alphadot[:4], rtol=1e-11)
    (tmp_path / "other.log").write_text("# ase-dipole dipole log\n")
    with pytest.raises(ValueError, match="is not an ase-dipole polarizability log"):
        read_polarizability_log(tmp_path / "other.log")


def test_gzip_compressed_polarizability_log_reads_as_the_plain_one(tmp_path):
    import gzip

    from ase_dipole.dynamics.polarizability_log import (PolarizabilityLog, read_polarizability_log,
                                                        write_polarizability_log)

    rng = np.random.default_rng(2)
    log = PolarizabilityLog(time_fs=np.arange(4) * 0.5, alphadot=rng.normal(size=(4, 6)),
                            alpha=rng.normal(size=(4, 6)), metadata={"temperature_K": 300.0})
    write_polarizability_log(tmp_path / "a.alog", log)
    with gzip.open(tmp_path / "a.alog.gz", "wb") as packed:
        packed.write((tmp_path / "a.alog").read_bytes())
    plain, packed_log = (read_polarizability_log(tmp_path / name) for name in ("a.alog", "a.alog.gz"))
    np.testing.assert_array_equal(packed_log.alphadot, plain.alphadot)
    np.testing.assert_array_equal(packed_log.alpha, plain.alpha)
