"""Green–Kubo IR spectrum: sum rules, harmonic limit, routes, window, averaging, I/O.

The Ṗ logs come from real ASE molecular dynamics of Morse molecules with
fixed Born charges (tests/spectrum_helpers.py).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from ase import units

from ase_dipole.cli import main
from ase_dipole.dynamics.dipole_log import DipoleLog, DipoleLogWriter, read_dipole_log
from ase_dipole.spectra.green_kubo import (
    IRSpectrum,
    gaussian_window_width_fs,
    ir_spectrum,
    minimum_duration_fs,
    read_experiment,
    read_spectrum_csv,
)
from spectrum_helpers import SPACING_A, harmonic_dimer_logs, langevin_triatomic_logs

EXPERIMENT = Path(__file__).parent / "data" / "water_ir_expt" / "IR_light_expt_BertieLan1996_digitized.txt"

# SI constants straight from ase.units, independent of ase_dipole.units
E, AMU, C, EPS0, KB = units._e, units._amu, units._c, units._eps0, units._k
PDOT_SI = E * 1e-10 / 1e-15  # (C·m/s) per (e·Å/fs)


def in_output_units(area_m, volume_A3):
    """∫ σ dν̃ in SI (m) -> cm² cm⁻¹ (finite system), or ∫ α n dν̃ = that / V
    in cm⁻¹ cm⁻¹ (periodic cell of ``volume_A3``)."""
    if volume_A3 is None:
        return area_m * 1e2
    return area_m / (volume_A3 * 1e-30) * 1e-4


def sum_rule_area(pdot2_si, temperature_K, volume_A3=None):
    """β/(3Vcε0)·(π/2)·⟨Ṗ·Ṗ⟩/(2πc) (docs/conventions.md), ⟨Ṗ·Ṗ⟩ in (C·m/s)²."""
    return in_output_units(
        np.pi / 2 * pdot2_si / (3.0 * KB * temperature_K * C * EPS0) / (2.0 * np.pi * C), volume_A3
    )


def harmonic_band_area(charge2_e2_amu, volume_A3=None):
    """π/(6Vcε0)·Σ|Z̃|²/(2πc) (docs/conventions.md, harmonic limit; with Σ_i Tr(Z*_i Z*_iᵀ)/m_i
    the Maxwellian sum rule), ``charge2_e2_amu`` in e²/amu."""
    return in_output_units(
        np.pi / (6.0 * C * EPS0) * charge2_e2_amu * E**2 / AMU / (2.0 * np.pi * C), volume_A3
    )


@pytest.fixture(scope="module", params=[(150.0, False), (600.0, True)], ids=["150K-finite", "600K-periodic"])
def langevin(request, tmp_path_factory):
    temperature_K, periodic = request.param
    directory = tmp_path_factory.mktemp(f"langevin{temperature_K:g}")
    paths, born, masses = langevin_triatomic_logs(
        directory, temperature_K=temperature_K, periodic=periodic, seed=int(temperature_K)
    )
    logs = [read_dipole_log(path) for path in paths]
    return {"T": temperature_K, "periodic": periodic, "logs": logs, "born": born, "masses": masses}


@pytest.fixture(scope="module")
def dimers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dimers")
    paths, frequencies, mode_charges2 = harmonic_dimer_logs(directory, temperature_K=300.0)
    return {"paths": paths, "frequencies": frequencies, "z2": mode_charges2}


def test_sum_rule(langevin):
    """∫ α n dν̃ = β/(3Vcε0)(π/2)⟨Ṗ·Ṗ⟩/(2πc) exactly (same data), and
    = π/(6Vcε0) Σ_i Tr(Z*_i Z*_iᵀ)/m_i /(2πc) for Maxwellian velocities (1 %)."""
    logs, periodic, temperature = langevin["logs"], langevin["periodic"], langevin["T"]
    spectrum = ir_spectrum(logs, fwhm_cm1=50.0, max_wavenumber_cm1=None)
    volume = SPACING_A**3 if periodic else None
    assert spectrum.unit == ("cm^-1" if periodic else "cm^2")

    pdot2 = np.mean([np.mean(np.sum(log.pdot**2, axis=1)) for log in logs]) * PDOT_SI**2
    assert spectrum.integral() == pytest.approx(sum_rule_area(pdot2, temperature, volume), rel=1e-9)

    born, masses = langevin["born"], langevin["masses"]
    traces = np.einsum("iab,iab->i", born, born)
    maxwell = harmonic_band_area(np.sum(traces / masses), volume)
    assert spectrum.integral() == pytest.approx(maxwell, rel=0.01)


def test_harmonic_peaks(dimers):
    """Each stretching dimer gives one line at √(k/μ) with area π/(6cε0)|Z̃|²."""
    fwhm = 30.0
    for path, frequency, z2 in zip(dimers["paths"], dimers["frequencies"], dimers["z2"]):
        spectrum = ir_spectrum([path], fwhm_cm1=fwhm)
        peak = spectrum.wavenumber_cm1[np.argmax(spectrum.intensity)]
        assert abs(peak - frequency) < 0.25 * fwhm
        area = spectrum.integral(min_wavenumber_cm1=frequency - 5 * fwhm, max_wavenumber_cm1=frequency + 5 * fwhm)
        assert area == pytest.approx(harmonic_band_area(z2), rel=0.015)
        assert np.all(np.isnan(spectrum.error))


def test_routes_agree(dimers):
    """Ṗ–Ṗ, ω²·(μ–μ) and −iω·(μ–Ṗ) give the same spectrum (paper, after eq. 5).

    The window acts before the factor ω² (ω) is applied, which tilts a line
    of width σ at ν̃0 by at most 2σ/ν̃0·e^{-1/2} (σ/ν̃0·e^{-1/2}) of its height;
    areas agree to second order.
    """
    fwhm = 30.0
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    for path, frequency in zip(dimers["paths"], dimers["frequencies"]):
        spectra = {route: ir_spectrum([path], fwhm_cm1=fwhm, route=route) for route in ("pdot", "dipole", "cross")}
        reference = spectra["pdot"]
        height = reference.intensity.max()
        for route, power in (("dipole", 2), ("cross", 1)):
            other = spectra[route]
            np.testing.assert_array_equal(other.wavenumber_cm1, reference.wavenumber_cm1)
            tilt = power * sigma / frequency * np.exp(-0.5)
            assert np.max(np.abs(other.intensity - reference.intensity)) < 1.5 * tilt * height
            assert np.argmax(other.intensity) == np.argmax(reference.intensity)
            assert other.integral() == pytest.approx(reference.integral(), rel=0.01)
            assert other.metadata["route"] == route


def _measured_fwhm(spectrum):
    """FWHM of the highest line by linear interpolation of the half-maximum crossings."""
    x, y = spectrum.wavenumber_cm1, spectrum.intensity
    top = int(np.argmax(y))
    half = y[top] / 2.0
    right = top + int(np.argmax(y[top:] < half))
    left = top - int(np.argmax(y[top::-1] < half))
    x_right = np.interp(half, [y[right], y[right - 1]], [x[right], x[right - 1]])
    x_left = np.interp(half, [y[left], y[left + 1]], [x[left], x[left + 1]])
    return x_right - x_left


@pytest.mark.parametrize("fwhm", [30.0, 60.0])
def test_window_sets_line_width(dimers, fwhm):
    spectrum = ir_spectrum([dimers["paths"][0]], fwhm_cm1=fwhm)
    assert _measured_fwhm(spectrum) == pytest.approx(fwhm, rel=0.01)
    # τ = √(2 ln 2)/(π c Γ): 20 cm⁻¹ -> 625 fs; the window needs 5 τ of trajectory
    tau = gaussian_window_width_fs(fwhm)
    assert 2 * np.sqrt(2 * np.log(2)) / (2 * np.pi * tau * 1e-15 * C * 100) == pytest.approx(fwhm, rel=1e-12)
    assert minimum_duration_fs(fwhm) == pytest.approx(5 * tau)


def test_average_and_standard_error(langevin):
    logs = langevin["logs"]
    singles = np.stack([ir_spectrum([log], fwhm_cm1=50.0, max_wavenumber_cm1=4000.0).intensity for log in logs])
    full = ir_spectrum(logs, fwhm_cm1=50.0, max_wavenumber_cm1=4000.0)
    np.testing.assert_allclose(full.intensity, singles.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(full.error, singles.std(axis=0, ddof=1) / np.sqrt(len(logs)), rtol=1e-12)
    quarter = ir_spectrum(logs[:25], fwhm_cm1=50.0, max_wavenumber_cm1=4000.0)
    ratio = np.median(quarter.error / full.error)
    assert ratio == pytest.approx(2.0, rel=0.15)
    assert full.metadata["n_logs"] == len(logs)


def test_quantum_correction(dimers):
    """The classical spectrum is the harmonic-corrected one; the standard and
    Schofield factors multiply it by tanh(x/2)/(x/2) and sinh(x/2)/(x/2)."""
    temperature = 300.0
    classical = ir_spectrum(dimers["paths"][:1], fwhm_cm1=30.0)
    harmonic = ir_spectrum(dimers["paths"][:1], fwhm_cm1=30.0, quantum_correction="harmonic")
    np.testing.assert_array_equal(harmonic.intensity, classical.intensity)
    assert harmonic.metadata["quantum_correction"] == "harmonic"
    x = units._hbar * 2 * np.pi * C * 100.0 * classical.wavenumber_cm1 / (KB * temperature)
    half = np.where(x == 0, 1.0, x / 2)
    for name, factor in (("standard", np.tanh(half) / half), ("schofield", np.sinh(half) / half)):
        corrected = ir_spectrum(dimers["paths"][:1], fwhm_cm1=30.0, quantum_correction=name)
        np.testing.assert_allclose(corrected.intensity, classical.intensity * np.where(x == 0, 1.0, factor),
                                   rtol=1e-12)
        assert corrected.metadata["quantum_correction"] == name


def test_csv_round_trip(dimers, tmp_path):
    spectrum = ir_spectrum(dimers["paths"], fwhm_cm1=30.0, temperature_K=310.0)
    spectrum.write_csv(tmp_path / "ir.csv")
    back = read_spectrum_csv(tmp_path / "ir.csv")
    np.testing.assert_allclose(back.wavenumber_cm1, spectrum.wavenumber_cm1, rtol=1e-11)
    np.testing.assert_allclose(back.intensity, spectrum.intensity, rtol=1e-11)
    np.testing.assert_allclose(back.error, spectrum.error, rtol=1e-11)
    assert back.unit == spectrum.unit == "cm^2"
    assert back.metadata == json.loads(json.dumps(spectrum.metadata))
    assert back.metadata["temperature_K"] == 310.0
    assert back.metadata["logs"] == [str(p) for p in dimers["paths"]]
    with pytest.raises(ValueError, match="not an ase-dipole spectrum CSV"):
        read_spectrum_csv(EXPERIMENT)


def test_read_experiment():
    raw = np.loadtxt(EXPERIMENT)
    experiment = read_experiment(EXPERIMENT, scale=1000.0)
    assert len(experiment.wavenumber_cm1) == len(raw)
    assert np.all(np.diff(experiment.wavenumber_cm1) >= 0)
    assert experiment.unit == "cm^-1"
    np.testing.assert_allclose(np.sort(experiment.intensity), np.sort(raw[:, 1]) * 1000.0)
    # the O–H stretch band of liquid water peaks between 3300 and 3500 cm⁻¹
    assert 3300 < experiment.wavenumber_cm1[np.argmax(experiment.intensity)] < 3500


def _rewrite(source, path, *, metadata=None, time_fs=None, pdot=None, dipole=None):
    """Write a copy of a log with some fields replaced (for the bad-input tests)."""
    meta = dict(source.metadata, **(metadata or {}))
    meta.pop("format_version")
    with DipoleLogWriter(path, meta) as writer:
        for t, p, m in zip(
            source.time_fs if time_fs is None else time_fs,
            source.pdot if pdot is None else pdot,
            source.dipole if dipole is None else dipole,
        ):
            writer.write(t, p, m)
    return path


def test_bad_input(dimers, tmp_path):
    good_path = dimers["paths"][0]
    good = read_dipole_log(good_path)
    pdot_nan = good.pdot.copy()
    pdot_nan[100, 1] = np.nan
    gap = good.time_fs.copy()
    gap[2000:] += 7.0
    cases = [
        ({"metadata": {"interval": 2, "timestep_fs": 0.5}, "time_fs": 2 * good.time_fs}, "sampled every 1 fs"),
        ({"metadata": {"periodic": True, "volume_A3": 1000.0}}, "periodic=True"),
        ({"pdot": pdot_nan}, r"NaN/inf in Ṗ \(row 100"),
        ({"time_fs": gap}, "not evenly sampled"),
    ]
    for index, (change, message) in enumerate(cases):
        bad = _rewrite(good, tmp_path / f"bad{index}.log", **change)
        logs = [good_path, bad] if index < 2 else [bad]
        with pytest.raises(ValueError, match=message) as info:
            ir_spectrum(logs, fwhm_cm1=30.0)
        assert str(bad) in str(info.value)

    short = _rewrite(good, tmp_path / "short.log", time_fs=good.time_fs[:1000], pdot=good.pdot[:1000])
    with pytest.raises(ValueError, match=r"spans 499.5 fs, shorter than the 2083.* fs Gaussian window.*fwhm_cm1 >= 125"):
        ir_spectrum([short], fwhm_cm1=30.0)

    cold = _rewrite(good, tmp_path / "cold.log", metadata={"temperature_K": 100.0})
    with pytest.raises(ValueError, match="different temperature_K"):
        ir_spectrum([good_path, cold], fwhm_cm1=30.0)
    assert ir_spectrum([good_path, cold], fwhm_cm1=30.0, temperature_K=300.0).metadata["n_logs"] == 2

    other_model = _rewrite(good, tmp_path / "other_model.log", metadata={"model_sha256": "f" * 64})
    with pytest.warns(UserWarning, match=r"averaging logs of 2 different dipole models .*"
                                         r"sha256 ffffffffffff: .*other_model.log"):
        ir_spectrum([good_path, other_model], fwhm_cm1=30.0)

    bare = DipoleLog(good.time_fs, good.pdot, good.dipole, {"periodic": False})
    with pytest.raises(ValueError, match="no temperature_K in its metadata; pass temperature_K="):
        ir_spectrum([bare], fwhm_cm1=30.0)
    cell = DipoleLog(good.time_fs, good.pdot, good.dipole, {"periodic": True, "volume_A3": None, "temperature_K": 300})
    with pytest.raises(ValueError, match="volume_A3 is None"):
        ir_spectrum([cell], fwhm_cm1=30.0)
    cells = [DipoleLog(good.time_fs, good.pdot, good.dipole,
                       {"periodic": True, "volume_A3": volume, "temperature_K": 300}, f"cell{volume}.log")
             for volume in (1000.0, 900.0)]
    with pytest.raises(ValueError, match="'cell900.0.log' has volume_A3=900.0 but 'cell1000.0.log' has 1000.0"):
        ir_spectrum(cells, fwhm_cm1=30.0)
    no_dipole = DipoleLog(good.time_fs, good.pdot, np.full_like(good.dipole, np.nan), good.metadata, "x.log")
    with pytest.raises(ValueError, match="dipole column .* route='dipole' needs; use route='pdot'"):
        ir_spectrum([no_dipole], fwhm_cm1=30.0, route="dipole")
    with pytest.raises(ValueError, match="unknown route 'pp'; use one of 'pdot', 'dipole', 'cross'"):
        ir_spectrum([good], route="pp")
    with pytest.raises(ValueError, match="unknown quantum_correction 'kubo'; use None or one of 'harmonic'"):
        ir_spectrum([good], quantum_correction="kubo")
    with pytest.raises(ValueError, match="exceeds the Nyquist wavenumber 33356"):
        ir_spectrum([good], fwhm_cm1=30.0, max_wavenumber_cm1=40000.0)
    with pytest.raises(ValueError, match="fwhm_cm1 must be a positive"):
        ir_spectrum([good], fwhm_cm1=0.0)
    with pytest.raises(TypeError, match="DipoleLog objects or paths"):
        ir_spectrum([good.pdot])
    with pytest.raises(ValueError, match="at least one dipole log"):
        ir_spectrum([])


def test_cli(dimers, tmp_path, capsys):
    out = tmp_path / "ir.csv"
    plot = tmp_path / "ir.png"
    argv = ["spectrum", *map(str, dimers["paths"]), "-o", str(out), "--plot", str(plot), "--fwhm-cm1", "30",
            "--route", "cross"]
    assert main(argv) == 0
    spectrum = read_spectrum_csv(out)
    api = ir_spectrum(dimers["paths"], fwhm_cm1=30.0, route="cross")
    np.testing.assert_allclose(spectrum.intensity, api.intensity, rtol=1e-11)
    assert spectrum.unit == "cm^2"
    assert spectrum.metadata["route"] == "cross"
    assert spectrum.metadata["ase_dipole_version"]
    assert spectrum.metadata["date"]
    assert spectrum.metadata["command"].startswith("ase-dipole spectrum")
    assert "--fwhm-cm1 30.0" in spectrum.metadata["command"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out

    # the Bertie–Lan α n (cm⁻¹) overlays a periodic spectrum, not a cross-section
    experiment = ["--experiment", str(EXPERIMENT), "--experiment-scale", "1000"]
    before = out.read_bytes(), plot.read_bytes()
    for other in (str(tmp_path / "new.csv"), str(out)):  # refused before ir.csv is written
        with pytest.raises(SystemExit):
            main(argv[:-8] + ["-o", other] + argv[-6:] + experiment)
        assert "is read as cm^-1 (--experiment-unit) but the spectrum is in cm^2; pass " \
            "--experiment-unit cm^2" in capsys.readouterr().err
    assert not (tmp_path / "new.csv").exists()
    assert (out.read_bytes(), plot.read_bytes()) == before
    with pytest.raises(SystemExit):
        main(argv[:-8] + ["-o", str(tmp_path / "new.csv"), "--plot", "ir.gif"] + argv[-4:])
    assert "--plot ir.gif: unknown image type" in capsys.readouterr().err
    assert not (tmp_path / "new.csv").exists()
    good = read_dipole_log(dimers["paths"][0])
    bulk = _rewrite(good, tmp_path / "bulk.log", metadata={"periodic": True, "volume_A3": 1000.0})
    assert main(["spectrum", str(bulk), "-o", str(out), "--plot", str(plot), "--fwhm-cm1", "30"] + experiment) == 0
    assert read_spectrum_csv(out).unit == "cm^-1"

    with pytest.raises(SystemExit):
        main(["spectrum", str(dimers["paths"][0]), "-o", str(out), "--fwhm-cm1", "1"])
    assert "shorter than the" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["spectrum", str(dimers["paths"][0]), "-o", str(out), "--route", "xx"])
    assert "invalid choice" in capsys.readouterr().err


def test_irspectrum_integral_limits():
    spectrum = IRSpectrum(np.linspace(0, 10, 11), np.ones(11), np.zeros(11), "cm^-1")
    assert spectrum.integral() == pytest.approx(10.0)
    assert spectrum.integral(min_wavenumber_cm1=2.0, max_wavenumber_cm1=5.0) == pytest.approx(3.0)
