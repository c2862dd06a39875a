"""Tests of ase_dipole.spectra.compare and the ``harmonic`` / ``compare`` commands,
on spectra made from the real SnO2 and NaCl phonopy data."""

import os
from dataclasses import replace

import numpy as np
import pytest

from ase_dipole.cli import main
from ase_dipole.spectra.compare import compare_spectra, find_spectrum_peaks
from ase_dipole.spectra.harmonic import HarmonicIR, read_peaks
from ase_dipole.spectra.green_kubo import read_spectrum_csv
from harmonic_helpers import NACL, SNO2, nacl_harmonic, sno2_phonon

STEP = 0.05  # cm⁻¹


@pytest.fixture(scope="module")
def sno2_spectrum():
    harmonic = HarmonicIR(sno2_phonon(), os.path.join(SNO2, "example_BORN")).run()
    grid = np.arange(0.0, 900.0, STEP)
    return harmonic, harmonic.spectrum(grid, fwhm_cm1=6.0, lineshape="gaussian")


def _stretched(spectrum, factor):
    """The same curve on the axis ν̃·factor (area kept): a blue shift by factor."""
    return replace(
        spectrum,
        wavenumber_cm1=spectrum.wavenumber_cm1 * factor,
        intensity=spectrum.intensity / factor,
        metadata={**spectrum.metadata, "method": "synthetic finite-T"},
    )


def test_peaks_are_the_ir_active_modes(sno2_spectrum):
    """SnO2: four peaks at the Eu, Eu, A2u, Eu frequencies with the mode areas."""
    harmonic, spectrum = sno2_spectrum
    peaks = find_spectrum_peaks(spectrum.wavenumber_cm1, spectrum.intensity, prominence=0.01)
    active = harmonic.active & (harmonic.intensities > 1e-3 * harmonic.intensities.max())
    centres = np.unique(np.round(harmonic.frequencies_cm1[active], 3))
    assert peaks.position_cm1.size == centres.size == 4
    np.testing.assert_allclose(peaks.position_cm1, centres, atol=STEP)
    single = harmonic.spectrum(spectrum.wavenumber_cm1, fwhm_cm1=6.0, lineshape="gaussian")
    total = np.trapezoid(single.intensity, single.wavenumber_cm1)
    np.testing.assert_allclose(peaks.area.sum(), total, rtol=1e-6)
    strength = np.array([harmonic.intensities[np.abs(harmonic.frequencies_cm1 - c) < 1e-3].sum() for c in centres])
    # well separated Gaussians: each peak area is its modes' share
    np.testing.assert_allclose(peaks.area / peaks.area.sum(), strength / strength.sum(), atol=1e-4)


def test_shifts_and_frequency_scale(sno2_spectrum):
    """A copy blue-shifted by 1/0.985 gives shifts ν̃(1/0.985 − 1) and equal
    areas; with frequency_scale=0.985 the shifts vanish."""
    _, spectrum = sno2_spectrum
    finite_T = _stretched(spectrum, 1 / 0.985)
    raw = compare_spectra(finite_T, spectrum, prominence=0.01)
    assert raw.harmonic_cm1.size == 4 and raw.unmatched_harmonic_cm1.size == 0
    np.testing.assert_allclose(raw.shift_cm1, raw.harmonic_cm1 * (1 / 0.985 - 1), atol=2 * STEP)
    np.testing.assert_allclose(raw.area_ratio, 1.0, rtol=1e-3)
    scaled = compare_spectra(finite_T, spectrum, frequency_scale=0.985, prominence=0.01)
    np.testing.assert_allclose(scaled.shift_cm1, 0.0, atol=2 * STEP)
    np.testing.assert_allclose(scaled.area_ratio, 1.0, rtol=1e-3)
    tight = compare_spectra(finite_T, spectrum, prominence=0.01, max_shift_cm1=5.0)
    assert tight.harmonic_cm1.size == 2  # 219 and 272 cm⁻¹ shift < 5 cm⁻¹; 450 and 579 do not
    assert tight.unmatched_harmonic_cm1.size == 2 and tight.unmatched_finite_T_cm1.size == 2


def test_compare_rejects_mixed_units(sno2_spectrum):
    harmonic, spectrum = sno2_spectrum
    molecule = harmonic.spectrum(spectrum.wavenumber_cm1, fwhm_cm1=6.0, periodic=False)
    with pytest.raises(ValueError, match="cannot compare a spectrum in 'cm\\^2' with one in 'cm\\^-1'"):
        compare_spectra(molecule, spectrum)
    with pytest.raises(ValueError, match="fewer than 3 points in the window"):
        compare_spectra(spectrum, spectrum, window_cm1=(2000.0, 2001.0))


def test_cli_harmonic_then_compare(tmp_path, capsys):
    """``ase-dipole harmonic`` writes a spectrum and mode table equal to the API;
    ``ase-dipole compare`` finds the NaCl TO peak shifted by the scale."""
    csv, peaks = tmp_path / "harmonic.csv", tmp_path / "peaks.txt"
    code = main([
        "harmonic", "--phonopy", os.path.join(NACL, "phonopy_disp.yaml"),
        "--force-sets", os.path.join(NACL, "FORCE_SETS"), "--born", os.path.join(NACL, "BORN"),
        "--range-cm1", "0", "400", "--step-cm1", "0.1", "--fwhm-cm1", "5", "-o", str(csv), "--peaks", str(peaks),
    ])
    assert code == 0
    api = nacl_harmonic()
    spectrum = read_spectrum_csv(csv)
    expected = api.spectrum(spectrum.wavenumber_cm1, fwhm_cm1=5.0)
    np.testing.assert_allclose(spectrum.intensity, expected.intensity, rtol=1e-10)
    assert spectrum.unit == "cm^-1" and spectrum.metadata["method"] == "harmonic"
    np.testing.assert_allclose(read_peaks(peaks)["frequency_cm1"], api.frequencies_cm1, atol=1e-4)

    shifted = tmp_path / "finite.csv"
    _stretched(spectrum, 1 / 0.985).write_csv(shifted)
    table = tmp_path / "cmp.txt"
    capsys.readouterr()
    assert main(["compare", str(shifted), str(csv), "-o", str(table)]) == 0
    row = np.loadtxt(table, comments="#", ndmin=2)
    assert row.shape[0] == 1
    to = api.frequencies_cm1[3]
    np.testing.assert_allclose(row[0, :3], [to, to / 0.985, to * (1 / 0.985 - 1)], atol=0.15)
    assert "shift_cm1" in capsys.readouterr().out
    assert main(["compare", str(shifted), str(csv), "--frequency-scale", "0.985", "-o", str(table)]) == 0
    assert abs(np.loadtxt(table, comments="#", ndmin=2)[0, 2]) < 0.15


def test_cli_errors(tmp_path, capsys):
    nacl = ["--phonopy", os.path.join(NACL, "phonopy_disp.yaml"), "--force-sets", os.path.join(NACL, "FORCE_SETS")]
    with pytest.raises(SystemExit):
        main(["harmonic", *nacl])
    assert "exactly one of --born FILE, --model MODEL and --dipole-calculator" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["harmonic", *nacl, "--born", os.path.join(SNO2, "example_BORN"), "-o", str(tmp_path / "x.csv")])
    assert "written for another structure" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", str(tmp_path / "missing.csv"), str(tmp_path / "missing2.csv")])
    assert "missing.csv" in capsys.readouterr().err
