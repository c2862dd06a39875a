"""The dielectric function ε(ω) from dipole logs (ase_dipole.spectra.dielectric):
α n of the dielectric route against ir_spectrum, Kramers–Kronig against the
direct μ route and an analytic Lorentz oscillator, the static limit, the sum
rule, optical constants, the CSV round trip, the CLI and bad input.

MD: NVE trajectories of harmonic NaCl (VASP force constants, Born charges
and ε∞ of phonopy's example, tests/data/phonopy_NaCl), see dielectric_helpers.
"""

import glob
import os
import warnings

import numpy as np
import pytest
from ase import units

from ase_dipole.cli import main
from ase_dipole.dynamics.dipole_log import DipoleLog, read_dipole_log
from ase_dipole.io import read_born_charges
from ase_dipole.spectra.dielectric import (
    CSV_COLUMNS,
    check_epsilon_inf,
    dielectric_function,
    epsilon_inf_from_file,
    kramers_kronig,
    read_dielectric_csv,
)
from ase_dipole.spectra.green_kubo import ir_spectrum

from dielectric_helpers import BORN, nacl_logs, nacl_supercell

DATA = os.path.join(os.path.dirname(__file__), "data")
#: resolution of the tests: the NaCl TO line sits at 154 cm⁻¹, 50 FWHM away from 0
FWHM_CM1 = 3.0
E, AMU, C, EPS0, KB = units._e, units._amu, units._c, units._eps0, units._k


@pytest.fixture(scope="module")
def nacl(tmp_path_factory):
    """8 NVE trajectories of 21.2 ps (5300 steps of 4 fs), 300 K."""
    return nacl_logs(tmp_path_factory.mktemp("nacl_dynamic"), n_trajectories=8, n_steps=5300,
                     timestep_fs=4.0, seed=11)


@pytest.fixture(scope="module")
def epsilon(nacl):
    return dielectric_function(nacl, epsilon_inf=2.435, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=600.0)


def test_alpha_n_equals_ir_spectrum(nacl, epsilon):
    """ω ε''/c of the dielectric route is today's α n on the same grid (1e-6)."""
    spectrum = ir_spectrum(nacl, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=600.0)
    assert spectrum.wavenumber_cm1[0] == 0.0
    np.testing.assert_array_equal(epsilon.wavenumber_cm1, spectrum.wavenumber_cm1[1:])
    peak = spectrum.intensity.max()
    assert np.max(np.abs(epsilon.alpha_n_cm1 - spectrum.intensity[1:])) < 1e-6 * peak
    strong = spectrum.intensity[1:] > 1e-3 * peak
    np.testing.assert_allclose(epsilon.alpha_n_cm1[strong], spectrum.intensity[1:][strong], rtol=1e-6)
    np.testing.assert_allclose(epsilon.alpha_n_cm1_error[strong], spectrum.error[1:][strong], rtol=1e-6)
    # and it is the product of the two optical quantities reported on their own
    # (where ε'' > 0: n and κ count the estimator's small negative ε'' as 0)
    absorbing = epsilon.eps_imag > 0
    np.testing.assert_allclose((epsilon.absorption_cm1 * epsilon.refractive_index)[absorbing],
                               epsilon.alpha_n_cm1[absorbing], rtol=1e-10, atol=1e-12 * peak)


def test_sum_rule_of_the_dielectric_route(nacl):
    """∫ α n dν̃ over the whole band = β/(3Vcε0)(π/2)⟨Ṗ·Ṗ⟩/(2πc) exactly, and
    = π/(6Vcε0) Σ_i Tr(Z*_i Z*_iᵀ)/m_i/(2πc) within the sampling error."""
    result = dielectric_function(nacl, epsilon_inf=2.435, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=None)
    spectrum = ir_spectrum(nacl, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=None)
    grid = np.concatenate([[0.0], result.wavenumber_cm1])
    area = np.trapezoid(np.concatenate([[spectrum.intensity[0]], result.alpha_n_cm1]), grid)
    logs = [read_dipole_log(path) for path in nacl]
    volume_m3 = logs[0].metadata["volume_A3"] * 1e-30
    per_log = np.array([np.mean(np.sum(log.pdot**2, axis=1)) for log in logs]) * (E * 1e-10 / 1e-15) ** 2
    exact = np.pi / 2 * per_log.mean() / (3 * KB * 300.0 * volume_m3 * C * EPS0) / (2 * np.pi * C) * 1e-4
    assert area == pytest.approx(exact, rel=1e-9)
    _, _, born, _, _ = nacl_supercell()
    masses = np.array(logs[0].metadata["masses_amu"])
    maxwell = np.pi / (6 * C * EPS0 * volume_m3) * np.sum(np.einsum("iab,iab->i", born, born) / masses) \
        * E**2 / AMU / (2 * np.pi * C) * 1e-4
    # the 3 TO modes of one trajectory hold a random (canonical) energy: 8 trajectories sample it
    error = per_log.std(ddof=1) / np.sqrt(len(per_log)) / per_log.mean() * exact
    assert abs(area - maxwell) < 3 * error


def test_kramers_kronig_matches_dipole_route(epsilon):
    """ε'(ω) by Kramers–Kronig from the Ṗ route's ε'' equals ε'(ω) from the μ
    autocorrelation within 2 % of the ε'' peak height."""
    peak = epsilon.eps_imag.max()
    assert 100.0 < epsilon.wavenumber_cm1[np.argmax(epsilon.eps_imag)] < 200.0  # the TO line
    difference = np.abs(epsilon.eps_real - epsilon.eps_real_dipole)
    assert difference.max() < 0.02 * peak
    # a real test: ε' swings through the resonance by more than the ε'' peak
    assert np.ptp(epsilon.eps_real) > peak
    # Lyddane–Sachs–Teller: ε' crosses 0 upwards at ν_LO = ν_TO √(ε(0)/ε∞)
    nu, eps_real = epsilon.wavenumber_cm1, epsilon.eps_real
    nu_to = nu[np.argmax(epsilon.eps_imag)]
    up = np.nonzero((eps_real[:-1] < 0) & (eps_real[1:] >= 0))[0][-1]
    nu_lo = nu[up] - eps_real[up] * (nu[up + 1] - nu[up]) / (eps_real[up + 1] - eps_real[up])
    assert nu_lo == pytest.approx(nu_to * np.sqrt(epsilon.metadata["eps_static_kk"] / 2.435), rel=0.01)
    # far above the band both routes tend to ε∞
    assert epsilon.eps_real[-1] == pytest.approx(2.435, abs=0.02 * peak)


def test_dipole_route_needs_fine_sampling(nacl):
    """Logged every 48 fs (ωΔt = 1.4 at the TO line, as 2 fs is for the O–H
    stretch of water) the μ route's ε' departs from Kramers–Kronig by several
    % of the ε'' peak; the Ṗ route's α n, ε'' and its KK barely change."""
    coarse = []
    for path in nacl:
        log = read_dipole_log(path)
        coarse.append(DipoleLog(log.time_fs[::12], log.pdot[::12], log.dipole[::12],
                                dict(log.metadata, interval=12)))
    result = dielectric_function(coarse, epsilon_inf=2.435, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=None)
    peak = result.eps_imag.max()
    assert np.max(np.abs(result.eps_real - result.eps_real_dipole)) > 0.05 * peak
    fine = dielectric_function(nacl, epsilon_inf=2.435, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=None)
    grid = fine.wavenumber_cm1 <= result.wavenumber_cm1[-1]
    kk_fine = np.interp(result.wavenumber_cm1, fine.wavenumber_cm1[grid], fine.eps_real[grid])
    assert np.max(np.abs(result.eps_real - kk_fine)) < 0.005 * peak


def test_static_limit(nacl, epsilon):
    """ε'(ω → 0) of the Kramers–Kronig route equals ε∞ + β⟨δM²⟩/(3Vε0) within
    the statistical error, and both the exact harmonic ε(0). Trajectory by
    trajectory (the same amplitudes in both) they agree to 1 % of ε(0) − ε∞."""
    meta = epsilon.metadata
    combined = np.hypot(meta["eps_static_kk_error"], meta["eps_static_fluctuation_error"])
    assert abs(meta["eps_static_kk"] - meta["eps_static_fluctuation"]) < 2 * combined
    _, _, _, epsilon_inf, chi = nacl_supercell()
    exact = np.trace(epsilon_inf + chi) / 3  # 6.25 for the PBE NaCl of the phonopy example
    assert abs(meta["eps_static_fluctuation"] - exact) < 3 * meta["eps_static_fluctuation_error"]
    for path in nacl[:3]:
        one = dielectric_function(path, epsilon_inf=2.435, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=100.0)
        ionic = one.metadata["eps_static_fluctuation"] - 2.435
        assert one.metadata["eps_static_kk"] - 2.435 == pytest.approx(ionic, rel=0.01)
    # well below the TO line ν0, ε' rises as a single oscillator: ε∞ + χ(0)/(1 − ν²/ν0²)
    nu0 = epsilon.wavenumber_cm1[np.argmax(epsilon.eps_imag)]
    low = epsilon.wavenumber_cm1 < 60.0
    oscillator = 2.435 + (meta["eps_static_kk"] - 2.435) / (1 - (epsilon.wavenumber_cm1[low] / nu0) ** 2)
    np.testing.assert_allclose(epsilon.eps_real[low], oscillator, rtol=0.005)


def test_kramers_kronig_lorentz_oscillator():
    """ε(ν) = ε∞ + S ν0²/(ν0² − ν² − iγν): KK of its ε'' gives its ε'."""
    nu = np.arange(0.0, 40000.0, 0.5)
    nu0, gamma, strength = 500.0, 20.0, 3.0
    denominator = (nu0**2 - nu**2) ** 2 + (gamma * nu) ** 2
    eps_imag = strength * nu0**2 * gamma * nu / denominator
    eps_real = 2.0 + strength * nu0**2 * (nu0**2 - nu**2) / denominator
    result = kramers_kronig(nu, eps_imag, epsilon_inf=2.0)
    band = nu < 3000.0
    assert np.max(np.abs(result - eps_real)[band]) < 1e-4 * eps_imag.max()
    assert result[0] == pytest.approx(2.0 + strength, rel=1e-4)  # ε(0) = ε∞ + S
    # a grid that does not reach the decay of ε'' misses the tail: the error shows
    short = nu < 600.0
    truncated = kramers_kronig(nu[short], eps_imag[short], epsilon_inf=2.0)
    assert np.max(np.abs(truncated - eps_real[short])) > 1e-2 * eps_imag.max()


def test_optical_constants(epsilon):
    """n + iκ = √ε (κ ≥ 0: ε'' below 0, estimator noise, counts as 0);
    α = 2ωκ/c = 4π ν̃ κ; α n = ω ε''/c."""
    n, kappa = epsilon.refractive_index, epsilon.extinction_coefficient
    peak = epsilon.eps_imag.max()
    assert epsilon.metadata["min_eps_imag"] > -1e-3 * peak
    np.testing.assert_allclose(n**2 - kappa**2, epsilon.eps_real, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(2 * n * kappa, np.maximum(epsilon.eps_imag, 0), rtol=1e-10, atol=1e-12)
    assert np.all(n >= 0) and np.all(kappa >= 0)
    # the reststrahlen band of the crystal: between TO and LO ε' < 0, n ≈ 0, κ large
    reststrahlen = (epsilon.eps_real < 0) & (np.abs(epsilon.eps_imag) < 0.01 * np.abs(epsilon.eps_real))
    assert reststrahlen.any() and np.all(n[reststrahlen] < 0.1 * kappa[reststrahlen])
    np.testing.assert_allclose(epsilon.absorption_cm1, 4 * np.pi * epsilon.wavenumber_cm1 * kappa, rtol=1e-12)
    finite = np.isfinite(epsilon.refractive_index_error)
    assert finite.all() and np.all(epsilon.refractive_index_error >= 0)


def test_csv_round_trip(nacl, epsilon, tmp_path):
    path = tmp_path / "eps.csv"
    epsilon.write_csv(path)
    with open(path) as handle:
        head = [next(handle) for _ in range(5)]
    assert head[4].strip() == CSV_COLUMNS and "alpha_cm1" in CSV_COLUMNS
    assert head[1].startswith("# units:")
    back = read_dielectric_csv(path)
    for name in ("wavenumber_cm1", "eps_imag", "eps_real", "eps_real_dipole", "refractive_index",
                 "extinction_coefficient", "absorption_cm1", "alpha_n_cm1", "eps_real_error"):
        np.testing.assert_allclose(getattr(back, name), getattr(epsilon, name), rtol=1e-11)
    assert back.epsilon_inf == epsilon.epsilon_inf
    assert back.metadata == epsilon.metadata
    # one trajectory: the errors are NaN and survive the round trip
    single = dielectric_function(nacl[0], epsilon_inf=2.435, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=300.0)
    single.write_csv(path)
    assert np.all(np.isnan(read_dielectric_csv(path).eps_imag_error))
    (tmp_path / "other.csv").write_text("wavenumber_cm1,intensity\n")
    with pytest.raises(ValueError, match="not an ase-dipole dielectric-function CSV"):
        read_dielectric_csv(tmp_path / "other.csv")


def test_epsilon_inf_from_files():
    """ε∞ from the readers of ase_dipole.io: a third of the trace."""
    assert epsilon_inf_from_file(BORN) == pytest.approx(2.43533967, rel=1e-12)
    for path in (os.path.join(DATA, "vasp_outcar", "OUTCAR.0006.001.gz"),
                 os.path.join(DATA, "qe_ph", "alas.ph.out.gz")):
        tensor = np.array(read_born_charges(path)[-1].info["epsilon"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the amorphous SiO2 OUTCAR is slightly anisotropic
            value = epsilon_inf_from_file(path)
        assert value == pytest.approx(np.trace(tensor) / 3, rel=1e-12) and value > 1
    with pytest.warns(UserWarning, match="anisotropic"):
        epsilon_inf_from_file(os.path.join(DATA, "vasp_outcar", "OUTCAR.0006.001.gz"))
    with pytest.warns(UserWarning, match="anisotropic"):
        assert check_epsilon_inf(np.diag([2.0, 2.0, 3.0])) == pytest.approx(7 / 3)


def test_bad_input(nacl, tmp_path):
    log = read_dipole_log(nacl[0])
    molecule = DipoleLog(time_fs=log.time_fs, pdot=log.pdot, dipole=log.dipole,
                         metadata=dict(log.metadata, periodic=False, volume_A3=None))
    with pytest.raises(ValueError, match=r"needs a periodic cell.*cross-section per molecule.*ase-dipole spectrum"):
        dielectric_function(molecule, epsilon_inf=2.0, fwhm_cm1=FWHM_CM1)
    for bad in (0.5, float("nan"), float("inf"), -2.0):
        with pytest.raises(ValueError, match=r"epsilon_inf must be a finite number >= 1"):
            dielectric_function(log, epsilon_inf=bad, fwhm_cm1=FWHM_CM1)
    with pytest.raises(ValueError, match=r"number or a 3x3 tensor"):
        check_epsilon_inf([1.5, 2.0])
    with pytest.raises(ValueError, match=r"evenly spaced grid 0, d, 2d"):
        kramers_kronig(np.array([1.0, 2.0, 3.0]), np.ones(3), epsilon_inf=1.0)
    with pytest.raises(ValueError, match=r"shorter than the .* Gaussian window"):
        dielectric_function(log, epsilon_inf=2.0, fwhm_cm1=0.5, max_wavenumber_cm1=600.0)
    with pytest.raises(ValueError, match=r"exceeds the Nyquist wavenumber"):
        dielectric_function(log, epsilon_inf=2.0, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=1e5)
    (tmp_path / "OUTCAR").write_text("vasp.6 nothing else\n")
    with pytest.raises(ValueError):
        epsilon_inf_from_file(tmp_path / "OUTCAR")


def test_cli(nacl, tmp_path, capsys):
    out, plot = tmp_path / "eps.csv", tmp_path / "eps.png"
    assert main(["dielectric", *nacl, "--epsilon-inf-from", BORN, "-o", str(out), "--plot", str(plot),
                 "--fwhm-cm1", str(FWHM_CM1), "--max-wavenumber-cm1", "400"]) == 0
    result = read_dielectric_csv(out)
    api = dielectric_function(nacl, epsilon_inf=2.43533967, fwhm_cm1=FWHM_CM1, max_wavenumber_cm1=400.0)
    np.testing.assert_allclose(result.eps_real, api.eps_real, rtol=1e-11)
    assert result.epsilon_inf == pytest.approx(2.43533967)
    assert result.metadata["command"].startswith("ase-dipole dielectric")
    assert {entry["path"] for entry in result.metadata["inputs"]} == set(nacl) | {BORN}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "eps(0) =" in printed and str(out) in printed

    def error_of(argv):
        with pytest.raises(SystemExit):
            main(["dielectric", *argv])
        return capsys.readouterr().err

    assert "one of the arguments --epsilon-inf --epsilon-inf-from is required" in error_of([nacl[0]])
    assert "--epsilon-inf: epsilon_inf must be a finite number >= 1" in error_of(
        [nacl[0], "--epsilon-inf", "0.8", "--fwhm-cm1", "3"])
    assert "--epsilon-inf: epsilon_inf must be a finite number >= 1" in error_of(
        [nacl[0], "--epsilon-inf", "nan", "--fwhm-cm1", "3"])
    assert "--epsilon-inf-from" in error_of([nacl[0], "--epsilon-inf-from", str(tmp_path / "missing")])
    log = read_dipole_log(nacl[0])
    finite = tmp_path / "molecule.log"
    from ase_dipole.dynamics.dipole_log import DipoleLogWriter

    with DipoleLogWriter(finite, dict(log.metadata, periodic=False, volume_A3=None)) as writer:
        for t, p, m in zip(log.time_fs, log.pdot, log.dipole):
            writer.write(t, p, m)
    assert "cross-section per molecule" in error_of([str(finite), "--epsilon-inf", "2", "--fwhm-cm1", "3"])
    assert glob.glob(str(tmp_path / "*.csv")) == [str(out)]
