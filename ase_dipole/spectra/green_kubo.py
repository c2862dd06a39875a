r"""Green–Kubo infrared spectrum from Ṗ logs (paper eq. 5).

The classical absorption coefficient times the refractive index is

.. math::

    \alpha(\omega) n(\omega) = \frac{\beta}{3 V c \varepsilon_0}
    \,\mathrm{Re} \int_0^{T} \langle \dot{\mathbf P}(0) \cdot
    \dot{\mathbf P}(t) \rangle \, w(t) \, e^{-i \omega t} \, \mathrm{d}t ,

with the Gaussian window :math:`w(t) = e^{-t^2 / 2\tau^2}` in place of the
paper's Lorentzian damping. Multiplying the correlation function by
:math:`w` convolves every line with the Fourier transform of :math:`w`, a
Gaussian of standard deviation :math:`1/\tau` in ω. Its full width at half
maximum in wavenumbers is therefore

.. math::

    \Gamma = \frac{2\sqrt{2\ln 2}}{2\pi c \tau}
    \quad\Longleftrightarrow\quad
    \tau = \frac{\sqrt{2 \ln 2}}{\pi c \Gamma},

so ``fwhm_cm1`` = 20 cm⁻¹ means τ ≈ 625 fs. The window is cut at
``WINDOW_CUTOFF_SIGMAS`` τ (where it is below 4e-6), and every trajectory
must be at least that long (:func:`minimum_duration_fs`).

The correlation functions use the unbiased estimator
:math:`C(k\Delta t) = \frac{1}{T-k} \sum_j x_j \cdot y_{j+k}` (T samples),
computed by zero-padded FFTs (no wrap-around). The time integral is the
trapezoid rule, so over the whole sampled band (up to the Nyquist
wavenumber, ``max_wavenumber_cm1=None``) the trapezoid integral of the
classical spectrum reproduces the sum rule
:math:`\int_0^\infty \alpha n \, \mathrm{d}\omega = \frac{\beta}{3 V c
\varepsilon_0} \frac{\pi}{2} \langle \dot{\mathbf P}^2 \rangle` to rounding
(``route="pdot"``).

Units: Ṗ in e·Å/fs and μ in e·Å as logged (:mod:`ase_dipole.dynamics.dipole_log`),
time in fs, volume in Å³; the output is :math:`\alpha n` in cm⁻¹ against
wavenumber ν̃ = ω/(2πc) in cm⁻¹ for periodic cells, and for finite systems
(where V is arbitrary) the cross-section per simulated system
:math:`\sigma = \alpha n V` in cm². Divide σ by the number of molecules in
the simulation for a cross-section per molecule.
"""

import json
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from scipy.fft import next_fast_len

from ase_dipole import __version__
from ase_dipole.atomic import atomic_write
from ase_dipole.dynamics.dipole_log import DipoleLog, read_dipole_log
from ase_dipole.spectra.csv_table import read_headed_csv
from ase_dipole.spectra.quantum_correction import QUANTUM_CORRECTIONS as QUANTUM_CORRECTION_NAMES
from ase_dipole.spectra.quantum_correction import quantum_corrected
from ase_dipole.units import (
    ANGSTROM_M,
    C_M_PER_S,
    E_C,
    EPS0_SI,
    FS_S,
    KB_SI,
)

#: correlation routes of eq. 5 and its two equivalent forms
ROUTES = ("pdot", "dipole", "cross")
#: quantum correction factors applied to the classical spectrum (see quantum_correction)
QUANTUM_CORRECTIONS = (None,) + QUANTUM_CORRECTION_NAMES
#: the Gaussian window is cut at this many widths τ (w = e^{-12.5} ≈ 4e-6 there)
WINDOW_CUTOFF_SIGMAS = 5.0
#: spectral grid points per FWHM of the line shape (the transform is zero-padded)
POINTS_PER_FWHM = 16
#: speed of light in cm/s
C_CM_PER_S = C_M_PER_S * 100.0  # [cm / s]
#: Ṗ conversion e·Å/fs -> C·m/s
PDOT_SI = E_C * ANGSTROM_M / FS_S  # [(C·m/s) / (e·Å/fs)]
#: dipole conversion e·Å -> C·m
DIPOLE_SI = E_C * ANGSTROM_M  # [(C·m) / (e·Å)]
#: volume conversion Å³ -> m³
A3_M3 = ANGSTROM_M**3  # [m³ / Å³]
#: relative tolerance when comparing sample intervals, volumes and temperatures of logs
_RTOL = 1e-6
CSV_MAGIC = "# ase-dipole IR spectrum"
CSV_COLUMNS = "wavenumber_cm1,intensity,error"


@dataclass
class IRSpectrum:
    """A spectrum on a wavenumber grid with its standard error.

    Attributes
    ----------
    wavenumber_cm1 : (F,) float array
        Wavenumber ν̃ in cm⁻¹, increasing.
    intensity : (F,) float array
        α n in cm⁻¹ (periodic cells) or σ = α n V in cm² per simulated system
        (finite systems); see ``unit``.
    error : (F,) float array
        Standard error of the mean over trajectories, std/√n (same unit);
        NaN when a single trajectory gives no estimate of the spread.
    unit : str
        Unit of ``intensity`` and ``error`` (``"cm^-1"`` or ``"cm^2"``).
    metadata : dict
        Provenance: temperature_K, fwhm_cm1, route, n_logs, volume_A3,
        periodic, logs, ase_dipole_version, date, ...
    """

    wavenumber_cm1: np.ndarray
    intensity: np.ndarray
    error: np.ndarray
    unit: str
    metadata: dict = field(default_factory=dict)

    def integral(self, *, min_wavenumber_cm1=None, max_wavenumber_cm1=None):
        """∫ intensity dν̃ by the trapezoid rule over the grid points inside
        [min_wavenumber_cm1, max_wavenumber_cm1] (default: all).

        Returns a float in ``unit`` × cm⁻¹.
        """
        keep = np.ones(self.wavenumber_cm1.shape, dtype=bool)
        if min_wavenumber_cm1 is not None:
            keep &= self.wavenumber_cm1 >= min_wavenumber_cm1
        if max_wavenumber_cm1 is not None:
            keep &= self.wavenumber_cm1 <= max_wavenumber_cm1
        return float(np.trapezoid(self.intensity[keep], self.wavenumber_cm1[keep]))

    def write_csv(self, path):
        """Write ``# key: value`` header lines (unit, JSON metadata), the
        column line ``wavenumber_cm1,intensity,error`` and one row per point.

        Read back with :func:`read_spectrum_csv`. Written atomically: a
        failed write leaves a previous file intact.
        """
        with atomic_write(path) as handle:
            handle.write(CSV_MAGIC + "\n")
            handle.write(f"# unit: {self.unit}\n")
            handle.write("# metadata: " + json.dumps(self.metadata, sort_keys=True) + "\n")
            handle.write(CSV_COLUMNS + "\n")
            table = np.column_stack([self.wavenumber_cm1, self.intensity, self.error])
            np.savetxt(handle, table, delimiter=",", fmt="%.12e")


def read_spectrum_csv(path):
    """Read a spectrum written by :meth:`IRSpectrum.write_csv`.

    Returns an :class:`IRSpectrum`.
    """
    header, table = read_headed_csv(
        path, magic=CSV_MAGIC, columns=CSV_COLUMNS, required=("unit", "metadata"), kind="spectrum",
        hint="; for experimental two-column data use read_experiment()")
    return IRSpectrum(
        wavenumber_cm1=table[:, 0].copy(),
        intensity=table[:, 1].copy(),
        error=table[:, 2].copy(),
        unit=header["unit"],
        metadata=json.loads(header["metadata"]),
    )


def read_experiment(path, *, scale=1.0, unit="cm^-1"):
    """Read a two-column experimental spectrum (wavenumber in cm⁻¹, value)
    for overlays; ``#`` starts a comment. Rows are sorted by wavenumber.

    Parameters
    ----------
    path : str or path-like
    scale : float, keyword-only
        Factor applied to column 2. The Bertie–Lan liquid-water file shipped in
        ``tests/data/water_ir_expt`` holds n(ω)α(ω) in 10³ cm⁻¹: pass
        ``scale=1000`` to get cm⁻¹, the unit of :func:`ir_spectrum` for
        periodic cells.
    unit : str, keyword-only
        Unit of the scaled values.

    Returns
    -------
    IRSpectrum
        ``error`` is NaN (no uncertainty in the file); ``metadata`` holds the
        source path and the scale.
    """
    table = np.loadtxt(path, comments="#", ndmin=2)
    if table.shape[1] != 2:
        raise ValueError(
            f"{os.fspath(path)!r} has {table.shape[1]} columns; read_experiment needs two "
            "(wavenumber in cm^-1, value)"
        )
    if not np.all(np.isfinite(table)):
        raise ValueError(f"{os.fspath(path)!r} holds NaN or infinite values; clean the file")
    order = np.argsort(table[:, 0], kind="stable")
    return IRSpectrum(
        wavenumber_cm1=table[order, 0],
        intensity=table[order, 1] * scale,
        error=np.full(len(order), np.nan),
        unit=unit,
        metadata={"source": os.fspath(path), "scale": scale},
    )


def gaussian_window_width_fs(fwhm_cm1):
    r"""Width τ (fs) of the time window :math:`e^{-t^2/2\tau^2}` that gives
    lines of full width at half maximum ``fwhm_cm1`` (cm⁻¹):
    :math:`\tau = \sqrt{2\ln 2}/(\pi c \Gamma)`."""
    return np.sqrt(2.0 * np.log(2.0)) / (np.pi * C_CM_PER_S * fwhm_cm1) / FS_S


def minimum_duration_fs(fwhm_cm1):
    """Shortest trajectory (fs, first to last row) that holds the Gaussian
    window for ``fwhm_cm1``: ``WINDOW_CUTOFF_SIGMAS`` × τ (3.13 ps for 20 cm⁻¹).
    """
    return WINDOW_CUTOFF_SIGMAS * gaussian_window_width_fs(fwhm_cm1)


def _describe(log):
    return repr(log.path) if log.path is not None else "<in-memory log>"


def _load(logs):
    if isinstance(logs, (DipoleLog, str, os.PathLike)):
        logs = [logs]
    loaded = []
    for item in logs:
        if isinstance(item, DipoleLog):
            loaded.append(item)
        elif isinstance(item, (str, os.PathLike)):
            loaded.append(read_dipole_log(item))
        else:
            raise TypeError(
                f"ir_spectrum takes DipoleLog objects or paths to dipole logs, got {type(item).__name__}"
            )
    if not loaded:
        raise ValueError("ir_spectrum needs at least one dipole log")
    return loaded


def _warn_mixed_models(logs):
    """Warn when the logs were written with different dipole models."""
    by_model = {}
    for log in logs:
        by_model.setdefault(log.metadata.get("model_sha256"), []).append(_describe(log))
    if len(by_model) > 1:
        groups = "; ".join(f"sha256 {str(sha)[:12]}: {', '.join(names)}"
                           for sha, names in by_model.items())
        warnings.warn(
            f"averaging logs of {len(by_model)} different dipole models ({groups}); their "
            "spectra differ by the models' errors: average logs of one model"
        )


def _common(logs, temperature_K, route):
    """Validate the logs against each other; return (dt_fs, T_K, periodic, volume_A3)."""
    _warn_mixed_models(logs)
    first = logs[0]
    periodic = bool(first.metadata.get("periodic"))
    dt_fs = None
    temperatures = []
    volume = None
    for log in logs:
        name = _describe(log)
        if len(log.time_fs) < 2:
            raise ValueError(f"log {name} has fewer than two rows; run the MD longer")
        steps = np.diff(log.time_fs)
        interval = steps[0]
        if interval <= 0 or not np.allclose(steps, interval, rtol=1e-6, atol=1e-9):
            bad = int(np.argmax(~np.isclose(steps, interval, rtol=1e-6, atol=1e-9))) + 1
            raise ValueError(
                f"log {name} is not evenly sampled (time step changes at row {bad}, "
                f"t = {log.time_fs[bad]:.6g} fs); split it at the gap or rerun with one interval"
            )
        if dt_fs is None:
            dt_fs = float(interval)
        elif not np.isclose(interval, dt_fs, rtol=_RTOL):
            raise ValueError(
                f"log {name} is sampled every {interval:.6g} fs but {_describe(first)} every "
                f"{dt_fs:.6g} fs; average only logs written with the same timestep and interval"
            )
        if bool(log.metadata.get("periodic")) != periodic:
            raise ValueError(
                f"log {name} has periodic={log.metadata.get('periodic')!r} but {_describe(first)} "
                f"has periodic={first.metadata.get('periodic')!r}; do not average bulk and "
                "finite-system logs (their spectra have different units)"
            )
        field = log.metadata.get("electric_field_V_per_A")
        if field != first.metadata.get("electric_field_V_per_A"):
            raise ValueError(
                f"log {name} was run in the electric field {field!r} V/Å but {_describe(first)} "
                f"in {first.metadata.get('electric_field_V_per_A')!r} (None: no field); average "
                "only logs of one field"
            )
        if periodic:
            v = log.metadata.get("volume_A3")
            if v is None or not np.isfinite(v) or v <= 0:
                raise ValueError(
                    f"log {name} is periodic but its metadata volume_A3 is {v!r}; "
                    "a periodic spectrum needs the cell volume in Å^3"
                )
            if volume is None:
                volume = float(v)
            elif not np.isclose(v, volume, rtol=_RTOL):
                raise ValueError(
                    f"log {name} has volume_A3={v!r} but {_describe(first)} has {volume!r}; "
                    "average only logs of the same cell (NVE runs at one density)"
                )
        if not np.all(np.isfinite(log.pdot)):
            row = int(np.argmax(~np.all(np.isfinite(log.pdot), axis=1)))
            raise ValueError(
                f"log {name} holds NaN/inf in Ṗ (row {row}, t = {log.time_fs[row]:.6g} fs); "
                "the MD blew up or the file is damaged: truncate the log before that row"
            )
        if route != "pdot" and not np.all(np.isfinite(log.dipole)):
            raise ValueError(
                f"log {name} holds NaN in the dipole column (μ not recorded), which "
                f"route={route!r} needs; use route='pdot'"
            )
        if temperature_K is None:
            t = log.metadata.get("temperature_K")
            if t is None:
                raise ValueError(
                    f"log {name} has no temperature_K in its metadata; pass temperature_K= "
                    "(CLI: --temperature-K) to set the temperature of the ensemble"
                )
            temperatures.append(float(t))
    if temperature_K is None:
        if not np.allclose(temperatures, temperatures[0], rtol=_RTOL):
            raise ValueError(
                f"the logs have different temperature_K {sorted(set(temperatures))}; average "
                "logs of one temperature, or pass temperature_K= to override the metadata"
            )
        temperature_K = temperatures[0]
    if not np.isfinite(temperature_K) or temperature_K <= 0:
        raise ValueError(f"temperature_K must be a positive number of kelvin, got {temperature_K!r}")
    return dt_fs, float(temperature_K), periodic, volume


def _correlation(x, y, n_lags):
    """Unbiased correlation ⟨x(0)·y(t)⟩ for lags 0..n_lags-1 of (T, 3) series.

    For ``y is None`` the autocorrelation of x; otherwise the cross
    correlation, antisymmetrised as ½(⟨x(0)·y(t)⟩ − ⟨y(0)·x(t)⟩) (exact for a
    stationary x with y = ẋ; halves the noise).
    """
    n_rows = x.shape[0]
    n_fft = next_fast_len(n_rows + n_lags, real=True)
    fx = np.fft.rfft(x, n=n_fft, axis=0)
    if y is None:
        raw = np.fft.irfft(np.sum(fx.real**2 + fx.imag**2, axis=1), n=n_fft)
        corr = raw[:n_lags]
    else:
        fy = np.fft.rfft(y, n=n_fft, axis=0)
        raw = np.fft.irfft(np.sum(np.conj(fx) * fy, axis=1), n=n_fft)
        negative = raw[(n_fft - np.arange(n_lags)) % n_fft]
        corr = 0.5 * (raw[:n_lags] - negative)
    return corr / (n_rows - np.arange(n_lags))


def _log_spectrum(log, route, window, n_grid, dt_s):
    """One log's classical ∫_0 ⟨Ṗ(0)·Ṗ(t)⟩ w(t) cos(ωt) dt in (C·m/s)²·s, on the rfft grid."""
    n_lags = len(window)
    if route == "pdot":
        corr = _correlation(log.pdot * PDOT_SI, None, n_lags)
    else:
        dipole = (log.dipole - log.dipole.mean(axis=0)) * DIPOLE_SI
        if route == "dipole":
            corr = _correlation(dipole, None, n_lags)
        else:
            corr = _correlation(dipole, log.pdot * PDOT_SI, n_lags)
    weighted = corr * window
    transform = np.fft.rfft(weighted, n=n_grid)
    omega = 2.0 * np.pi * np.fft.rfftfreq(n_grid, d=dt_s)
    if route == "cross":
        # Re[-iω ∫ C_PṖ e^{-iωt} dt] = ω Im ∫ C_PṖ e^{-iωt} dt (C_PṖ odd, sin(0) = 0)
        return omega * dt_s * transform.imag
    # trapezoid rule: the t = 0 sample carries half weight
    cosine = dt_s * (transform.real - 0.5 * weighted[0])
    return cosine if route == "pdot" else omega**2 * cosine


def spectral_grid(logs, dt_fs, fwhm_cm1):
    """The Gaussian window and the wavenumber grid of :func:`ir_spectrum`.

    Parameters
    ----------
    logs : list of DipoleLog
        Checked to be at least as long as the window (5 τ).
    dt_fs : float
        Sample interval of the logs, fs.
    fwhm_cm1 : float
        Line width (FWHM, cm⁻¹) the window imposes.

    Returns
    -------
    tau_fs : float
        Window width τ, fs.
    lag_fs : (L,) float array
        Lags 0, Δt, ..., ≥ 5τ of the correlation functions, fs.
    window : (L,) float array
        e^{−t²/2τ²} at those lags.
    n_grid : int
        Length of the zero-padded transform (≥ L and ≥ ``POINTS_PER_FWHM``
        points per FWHM).
    wavenumber : (n_grid // 2 + 1,) float array
        The rfft grid in cm⁻¹, from 0 to the Nyquist wavenumber.
    """
    tau_fs = gaussian_window_width_fs(fwhm_cm1)
    n_lags = int(np.ceil(WINDOW_CUTOFF_SIGMAS * tau_fs / dt_fs)) + 1
    for log in logs:
        if len(log.time_fs) < n_lags:
            span = log.time_fs[-1] - log.time_fs[0]
            narrowest = np.ceil(10.0 * WINDOW_CUTOFF_SIGMAS * gaussian_window_width_fs(1.0) / span) / 10.0
            raise ValueError(
                f"log {_describe(log)} spans {span:.6g} fs, shorter than the "
                f"{minimum_duration_fs(fwhm_cm1):.6g} fs Gaussian window needed for "
                f"fwhm_cm1={fwhm_cm1:g} (5 widths, tau = {tau_fs:.4g} fs); run longer or use "
                f"fwhm_cm1 >= {narrowest:g}"
            )
    lag_fs = dt_fs * np.arange(n_lags)
    window = np.exp(-0.5 * (lag_fs / tau_fs) ** 2)
    dt_s = dt_fs * FS_S
    n_grid = 2 * next_fast_len(
        int(np.ceil(max(n_lags, POINTS_PER_FWHM / (fwhm_cm1 * C_CM_PER_S * dt_s)) / 2)),
        real=True,
    )
    wavenumber = np.fft.rfftfreq(n_grid, d=dt_s) / C_CM_PER_S
    return tau_fs, lag_fs, window, n_grid, wavenumber


def ir_spectrum(
    logs,
    *,
    temperature_K=None,
    fwhm_cm1=20.0,
    max_wavenumber_cm1=5000.0,
    quantum_correction=None,
    route="pdot",
):
    r"""Classical IR spectrum α(ν̃)n(ν̃) (paper eq. 5), averaged over trajectories.

    Parameters
    ----------
    logs : DipoleLog, path, or sequence of them
        NVE trajectories of one system at one temperature, all sampled at the
        same interval (paths are read with
        :func:`ase_dipole.dynamics.dipole_log.read_dipole_log`). Each trajectory gives a
        spectrum; they are averaged with equal weights.
    temperature_K : float, optional, keyword-only
        Temperature (K) in β = 1/(k_B T). Default: the logs' metadata
        ``temperature_K`` (which must agree).
    fwhm_cm1 : float, keyword-only
        Full width at half maximum (cm⁻¹) of the Gaussian line shape set by
        the time window (τ = √(2 ln 2)/(π c fwhm)). Each trajectory must span
        at least :func:`minimum_duration_fs` (5 τ).
    max_wavenumber_cm1 : float or None, keyword-only
        Highest wavenumber (cm⁻¹) kept; ``None`` keeps everything up to the
        Nyquist wavenumber 1/(2 c Δt). Must not exceed the Nyquist wavenumber.
    quantum_correction : {None, "harmonic", "standard", "schofield"}, keyword-only
        Quantum correction factor (:mod:`ase_dipole.spectra.quantum_correction`).
        The classical spectrum is the quantum one with the harmonic factor, so
        ``None`` and ``"harmonic"`` give the same numbers; ``"standard"``
        multiplies it by tanh(x/2)/(x/2), ``"schofield"`` by sinh(x/2)/(x/2),
        x = βħω.
    route : {"pdot", "dipole", "cross"}, keyword-only
        ``"pdot"``: ⟨Ṗ(0)·Ṗ(t)⟩ (eq. 5). ``"dipole"``: ω² × transform of
        ⟨δμ(0)·δμ(t)⟩ (logged μ minus its mean). ``"cross"``: Re[−iω ×
        transform of ⟨δμ(0)·Ṗ(t)⟩]. The three agree for a stationary, bounded
        μ (no net charge transport). The window acts before the factor ω²
        (ω) is applied, which tilts a line at ν̃0 by a relative amount of
        order fwhm/ν̃0; line areas agree to order (fwhm/ν̃0)².

    Returns
    -------
    IRSpectrum
        ``wavenumber_cm1`` (F,), mean ``intensity`` (F,) and standard error
        std/√n over the logs (NaN for one log). Periodic logs
        (``metadata['periodic']``): α n in cm⁻¹ with V = ``volume_A3``. Finite
        systems: σ = α n V in cm² per simulated system.
    """
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; use one of {', '.join(map(repr, ROUTES))}")
    if quantum_correction not in QUANTUM_CORRECTIONS:
        raise ValueError(
            f"unknown quantum_correction {quantum_correction!r}; use None or one of "
            f"{', '.join(map(repr, QUANTUM_CORRECTION_NAMES))}"
        )
    if not (np.isfinite(fwhm_cm1) and fwhm_cm1 > 0):
        raise ValueError(f"fwhm_cm1 must be a positive number of cm^-1, got {fwhm_cm1!r}")
    logs = _load(logs)
    dt_fs, temperature_K, periodic, volume_A3 = _common(logs, temperature_K, route)

    nyquist_cm1 = 1.0 / (2.0 * C_CM_PER_S * dt_fs * FS_S)
    if max_wavenumber_cm1 is None:
        max_wavenumber_cm1 = nyquist_cm1
    elif max_wavenumber_cm1 > nyquist_cm1 * (1 + 1e-12):
        raise ValueError(
            f"max_wavenumber_cm1={max_wavenumber_cm1:g} exceeds the Nyquist wavenumber "
            f"{nyquist_cm1:.1f} cm^-1 of logs sampled every {dt_fs:g} fs; log more often "
            "(smaller observer interval) or lower max_wavenumber_cm1"
        )

    tau_fs, lag_fs, window, n_grid, wavenumber = spectral_grid(logs, dt_fs, fwhm_cm1)
    dt_s = dt_fs * FS_S
    keep = wavenumber <= max_wavenumber_cm1 * (1 + 1e-12)

    beta = 1.0 / (KB_SI * temperature_K)
    if periodic:
        prefactor = beta / (3.0 * volume_A3 * A3_M3 * C_M_PER_S * EPS0_SI) * 1e-2  # [cm^-1]
        unit = "cm^-1"
    else:
        prefactor = beta / (3.0 * C_M_PER_S * EPS0_SI) * 1e4  # [cm^2]
        unit = "cm^2"
    spectra = np.stack(
        [_log_spectrum(log, route, window, n_grid, dt_s)[keep] for log in logs]
    ) * prefactor
    spectra = quantum_corrected(quantum_correction, wavenumber[keep], spectra, temperature_K)
    n_logs = len(logs)
    mean = spectra.mean(axis=0)
    if n_logs > 1:
        error = spectra.std(axis=0, ddof=1) / np.sqrt(n_logs)
    else:
        error = np.full(mean.shape, np.nan)
    metadata = {
        "temperature_K": temperature_K,
        "fwhm_cm1": float(fwhm_cm1),
        "window": "gaussian",
        "window_tau_fs": float(tau_fs),
        "window_cutoff_fs": float(lag_fs[-1]),
        "estimator": "unbiased",
        "route": route,
        "quantum_correction": quantum_correction,
        "max_wavenumber_cm1": float(max_wavenumber_cm1),
        "sample_interval_fs": dt_fs,
        "n_logs": n_logs,
        "n_samples": [int(len(log.time_fs)) for log in logs],
        "periodic": periodic,
        "volume_A3": volume_A3,
        "logs": [log.path for log in logs],
        "model_sha256": sorted({str(log.metadata["model_sha256"]) for log in logs
                                if "model_sha256" in log.metadata}),
        "ase_dipole_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return IRSpectrum(
        wavenumber_cm1=wavenumber[keep],
        intensity=mean,
        error=error,
        unit=unit,
        metadata=metadata,
    )
