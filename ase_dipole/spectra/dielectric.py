r"""Dielectric response of a periodic cell from its dipole logs.

Classical fluctuation–dissipation theorem for a cell of volume V under
conducting (tin-foil) boundary conditions, M the cell dipole (smooth in
unwrapped positions), β = 1/(k_B T), SI units inside:

- static: :math:`\varepsilon_{ab}(0) - \varepsilon_{\infty,ab} = \beta
  (\langle M_a M_b\rangle - \langle M_a\rangle\langle M_b\rangle) / (V
  \varepsilon_0)`; its isotropic part is a third of the trace,
  :math:`\beta \langle \delta\mathbf M^2\rangle / (3 V \varepsilon_0)`
  (:func:`static_susceptibility`);
- dynamic (:func:`dielectric_function`), ε = ε' + iε'' (ε'' ≥ 0 absorbs):
  :math:`\varepsilon''(\omega) = \frac{\beta}{3 V \varepsilon_0 \omega}
  \int_0^T \langle \dot{\mathbf P}(0)\cdot\dot{\mathbf P}(t)\rangle w(t)
  \cos\omega t \, \mathrm dt` with the window, estimator and grid of
  :func:`ase_dipole.spectra.green_kubo.ir_spectrum`, so that
  :math:`\omega\varepsilon''/c = \alpha n` is today's spectrum;
  ε'(ω) from ε'' by Kramers–Kronig (:func:`kramers_kronig`) with ε'(∞) =
  ε∞; as a cross-check ε'(ω) directly from the dipole autocorrelation C(t) =
  ⟨δM(0)·δM(t)⟩, :math:`\varepsilon'(\omega) = \varepsilon_\infty +
  \frac{\beta}{3V\varepsilon_0}[C(0) - \omega\int_0^T C(t) w(t) \sin\omega t
  \,\mathrm dt]` (C·w linear between samples, integrated exactly);
- n + iκ = √ε, the absorption coefficient α = 2ωκ/c and α n = ωε''/c.

The window w(t) = e^{−t²/2τ²} sets the resolution (``fwhm_cm1``): below about
one FWHM the dynamic quantities are not resolved, and relaxations slower
than τ (a liquid's Debye relaxation) are cut off. The Ṗ route applies the
window before the factor 1/ω, the μ route before the factor ω, so their ε'
differ by a relative amount of order fwhm/ν̃ of the band.

The model gives the ionic (nuclear) response only: ε∞, the electronic part
at frequencies far above the vibrations and far below the electronic
excitations, is not in it and is supplied by the user.

Units: M in e·Å (the logs' μ columns), V in Å³, T in K; ε is dimensionless.
"""

import json
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ase_dipole import __version__
from ase_dipole.atomic import atomic_write
from ase_dipole.dynamics.dipole_log import DipoleLog, read_dipole_log
from ase_dipole.spectra.csv_table import read_headed_csv
from ase_dipole.spectra.green_kubo import (
    A3_M3,
    C_CM_PER_S,
    DIPOLE_SI,
    IRSpectrum,
    _common,
    _correlation,
    _load,
    _log_spectrum,
    spectral_grid,
)
from ase_dipole.units import EPS0_SI, FS_S, KB_SI

#: the suggestion for finite systems, used in the error messages
MOLECULAR_HINT = (
    "the dielectric function needs a periodic cell (volume_A3 in the log); for a molecule "
    "or cluster use the cross-section per molecule instead (ase-dipole spectrum, or "
    "ir_spectrum(), which reports sigma = alpha*n*V in cm^2 for finite systems)"
)


@dataclass
class StaticSusceptibility:
    """The static ionic susceptibility ε(0) − ε∞ from dipole fluctuations.

    Attributes
    ----------
    tensor : (3, 3) float array
        χ_ab = β ⟨δM_a δM_b⟩ / (V ε0), dimensionless: the mean over
        trajectories (each about its own mean dipole).
    tensor_error : (3, 3) float array
        Standard error of ``tensor``: std/√n over trajectories, or over
        blocks of a single trajectory (see ``error_from``).
    isotropic : float
        Tr(tensor)/3 = β ⟨δM²⟩ / (3 V ε0).
    isotropic_error : float
        Standard error of ``isotropic``, from the same samples.
    samples : (S, 3, 3) float array
        The per-trajectory (or per-block) tensors the errors come from.
    error_from : str
        ``"trajectories"`` (two or more) or ``"blocks"`` (one trajectory
        cut into ``S`` consecutive blocks).
    temperature_K, volume_A3 : float
        T (K) in β and the cell volume V (Å³).
    n_samples : list of int
        Rows (dipole samples) of each trajectory.
    metadata : dict
        Where the numbers came from (logs, n_blocks, ...).
    """

    tensor: np.ndarray
    tensor_error: np.ndarray
    isotropic: float
    isotropic_error: float
    samples: np.ndarray
    error_from: str
    temperature_K: float
    volume_A3: float
    n_samples: list
    metadata: dict = field(default_factory=dict)

    def epsilon_static(self, epsilon_inf):
        """Isotropic ε(0) = ε∞ + ``isotropic`` for a given ε∞ (dimensionless)."""
        return float(epsilon_inf) + self.isotropic


def _describe(log):
    return repr(log.path) if log.path is not None else "<in-memory log>"


def _positive(value, name, unit, hint):
    if value is None:
        raise ValueError(f"{name} is missing; {hint}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of {unit}, got {value!r}")
    return value


def _check_periodic_logs(logs):
    """Raise the molecular-cross-section error for a finite-system log; the
    common volume (Å³) of periodic logs."""
    volume = None
    for log in logs:
        v = log.metadata.get("volume_A3")
        if not log.metadata.get("periodic") or v is None:
            raise ValueError(f"log {_describe(log)} is not of a periodic cell (periodic="
                             f"{log.metadata.get('periodic')!r}, volume_A3={v!r}): " + MOLECULAR_HINT)
        v = _positive(v, f"volume_A3 of log {_describe(log)}", "Å^3", "the log is damaged")
        if volume is None:
            volume = v
        elif not np.isclose(v, volume, rtol=1e-6):
            raise ValueError(f"log {_describe(log)} has volume_A3={v!r} but {_describe(logs[0])} has "
                             f"{volume!r}; average only logs of the same cell")
    return volume


def _as_logs(source):
    """A list of DipoleLog from a log, a path or a sequence of them; None if
    ``source`` holds arrays."""
    if isinstance(source, (DipoleLog, str, os.PathLike)):
        source = [source]
    if isinstance(source, np.ndarray):
        return None
    items = list(source)
    if not items:
        raise ValueError("no dipole logs or dipole arrays given")
    if all(isinstance(item, (DipoleLog, str, os.PathLike)) for item in items):
        return [item if isinstance(item, DipoleLog) else read_dipole_log(item) for item in items]
    if any(isinstance(item, (DipoleLog, str, os.PathLike)) for item in items):
        raise TypeError("pass either dipole logs (DipoleLog or paths) or dipole arrays, not a mixture")
    return None


def _as_dipole_arrays(source):
    """A list of (T, 3) float arrays (e·Å) from one array or a sequence of them."""
    array = np.asarray(source, dtype=float) if isinstance(source, np.ndarray) else None
    if array is not None and array.ndim == 2:
        series = [array]
    elif array is not None and array.ndim == 3:
        series = list(array)
    else:
        series = [np.asarray(item, dtype=float) for item in source]
    for index, item in enumerate(series):
        if item.ndim != 2 or item.shape[1] != 3:
            raise ValueError(f"dipole array {index} has shape {item.shape}; give (T, 3) cell dipoles "
                             "in e*A, one array per trajectory")
        if not np.all(np.isfinite(item)):
            raise ValueError(f"dipole array {index} holds NaN or infinite values; remove those rows")
    return series


def _fluctuation_tensor(dipole):
    """⟨δM δMᵀ⟩ (3, 3) of a (T, 3) series about its own mean (e²Å²)."""
    delta = dipole - dipole.mean(axis=0)
    return delta.T @ delta / len(delta)


def static_susceptibility(source, *, volume_A3=None, temperature_K=None, n_blocks=8):
    r"""ε(0) − ε∞ of a periodic cell from the fluctuations of its dipole.

    .. math::

        \chi_{ab} = \frac{\langle M_a M_b\rangle - \langle M_a\rangle
        \langle M_b\rangle}{V \varepsilon_0 k_B T},
        \qquad \varepsilon(0) - \varepsilon_\infty = \tfrac13 \mathrm{Tr}\,\chi

    (conducting boundary conditions; classical nuclei).

    Parameters
    ----------
    source : DipoleLog, path, sequence of them, or array(s)
        Dipole logs of periodic cells (one per trajectory; their μ columns,
        e·Å, metadata ``volume_A3`` and ``temperature_K``), or the cell
        dipoles themselves: a (T, 3) array in e·Å, or a sequence of such
        arrays (one per trajectory, lengths may differ).
    volume_A3 : float, keyword-only
        Cell volume V in Å³. Required with arrays; with logs it must be
        omitted (it comes from their metadata).
    temperature_K : float, keyword-only
        T in K. Required with arrays; with logs the default is their
        metadata ``temperature_K`` (pass the measured mean temperature of
        NVE runs here if it differs from the thermostat's).
    n_blocks : int, keyword-only
        With a single trajectory the standard error comes from this many
        consecutive blocks (each block's ⟨δMδM⟩ about the trajectory mean);
        correlated blocks make it an underestimate when a block is not much
        longer than the dipole's correlation time.

    Returns
    -------
    StaticSusceptibility
        ``tensor`` (3, 3) and ``isotropic`` (Tr/3), dimensionless, with
        standard errors across trajectories (two or more) or blocks (one).
    """
    logs = _as_logs(source)
    if logs is not None:
        if volume_A3 is not None:
            raise ValueError("volume_A3= is taken from the logs' metadata; pass it only with dipole arrays")
        volume_A3 = _check_periodic_logs(logs)
        for log in logs:
            if not np.all(np.isfinite(log.dipole)):
                raise ValueError(f"log {_describe(log)} holds NaN in the dipole column (mu not "
                                 "recorded): the static susceptibility needs the cell dipole at "
                                 "every row; rerun the MD logging mu")
        if temperature_K is None:
            temperatures = {log.metadata.get("temperature_K") for log in logs}
            if None in temperatures:
                raise ValueError("a log has no temperature_K in its metadata; pass temperature_K=")
            if len(temperatures) > 1:
                raise ValueError(f"the logs have different temperature_K {sorted(temperatures)}; "
                                 "use logs of one temperature or pass temperature_K=")
            temperature_K = temperatures.pop()
        series = [log.dipole for log in logs]
        names = [log.path for log in logs]
    else:
        series = _as_dipole_arrays(source)
        volume_A3 = _positive(volume_A3, "volume_A3", "Å^3",
                              "pass volume_A3= (the cell volume in Å^3) with dipole arrays; "
                              + MOLECULAR_HINT)
        names = None
    temperature_K = _positive(temperature_K, "temperature_K", "kelvin",
                              "pass temperature_K= (K) with dipole arrays")
    if int(n_blocks) != n_blocks or n_blocks < 2:
        raise ValueError(f"n_blocks must be an integer >= 2, got {n_blocks!r}")
    n_blocks = int(n_blocks)
    scale = DIPOLE_SI**2 / (volume_A3 * A3_M3 * EPS0_SI * KB_SI * temperature_K)
    for index, dipole in enumerate(series):
        if len(dipole) < 2:
            raise ValueError(f"trajectory {index} has {len(dipole)} dipole sample(s); run longer")

    if len(series) >= 2:
        samples = np.stack([_fluctuation_tensor(d) for d in series]) * scale
        tensor = samples.mean(axis=0)
        error_from = "trajectories"
    else:
        dipole = series[0]
        if len(dipole) < 2 * n_blocks:
            raise ValueError(f"one trajectory of {len(dipole)} samples cannot be cut into "
                             f"n_blocks={n_blocks} blocks of two or more; give more samples, "
                             "more trajectories or fewer blocks")
        delta = dipole - dipole.mean(axis=0)
        tensor = delta.T @ delta / len(delta) * scale
        samples = np.stack([block.T @ block / len(block)
                            for block in np.array_split(delta, n_blocks)]) * scale
        error_from = "blocks"
    n = len(samples)
    tensor_error = samples.std(axis=0, ddof=1) / np.sqrt(n)
    traces = np.trace(samples, axis1=1, axis2=2) / 3.0
    return StaticSusceptibility(
        tensor=tensor,
        tensor_error=tensor_error,
        isotropic=float(np.trace(tensor) / 3.0),
        isotropic_error=float(traces.std(ddof=1) / np.sqrt(n)),
        samples=samples,
        error_from=error_from,
        temperature_K=temperature_K,
        volume_A3=volume_A3,
        n_samples=[int(len(d)) for d in series],
        metadata={"logs": names, "n_blocks": n_blocks if error_from == "blocks" else None,
                  "boundary_conditions": "conducting (tin-foil)"},
    )


#: first line of a dielectric-function CSV
CSV_MAGIC = "# ase-dipole dielectric function"
#: (attribute, CSV column) of DielectricFunction, in file order; every value has an error column
QUANTITIES = (
    ("eps_imag", "eps_imag"),
    ("eps_real", "eps_real"),
    ("eps_real_dipole", "eps_real_dipole"),
    ("refractive_index", "n"),
    ("extinction_coefficient", "kappa"),
    ("absorption_cm1", "alpha_cm1"),
    ("alpha_n_cm1", "alpha_n_cm1"),
)
CSV_COLUMNS = ",".join(["wavenumber_cm1"] + [f"{c},{c}_error" for _, c in QUANTITIES])
CSV_UNITS = ("wavenumber_cm1 in cm^-1; eps_imag, eps_real, eps_real_dipole, n, kappa dimensionless; "
             "alpha_cm1 and alpha_n_cm1 in cm^-1; *_error: standard error over trajectories "
             "(nan for one trajectory)")
#: ε∞ tensors more anisotropic than this (relative spread of the diagonal) are reported
ANISOTROPY_WARNING = 0.01


@dataclass
class DielectricFunction:
    """The isotropic ionic dielectric function on a wavenumber grid.

    Every array has shape (F,) on ``wavenumber_cm1``; each quantity ``q``
    has a standard error ``q_error`` (std/√n over trajectories; NaN for one).
    The values of n, κ and α are those of the mean ε; their errors come from
    the spread of the per-trajectory values.

    Attributes
    ----------
    wavenumber_cm1 : ν̃ in cm⁻¹, increasing, > 0 (the ω = 0 point is left out:
        there ε'' is 0/0; the static limit is in ``metadata``).
    eps_imag : ε''(ω) from the Ṗ autocorrelation, dimensionless.
    eps_real : ε'(ω) by Kramers–Kronig from ε'', with ε'(∞) = ``epsilon_inf``.
    eps_real_dipole : ε'(ω) directly from the μ autocorrelation (NaN when the
        logs hold no μ).
    refractive_index, extinction_coefficient : n and κ, n + iκ = √(ε' + iε''),
        with ε'' < 0 (estimator noise far from the bands; a passive medium
        has ε'' ≥ 0) taken as 0, so that κ ≥ 0. Where ε' < 0 and ε'' ≈ 0 (a
        crystal's reststrahlen band) κ and α are large without absorption:
        the wave is evanescent and reflected.
    absorption_cm1 : α = 2ωκ/c = 4π ν̃ κ in cm⁻¹.
    alpha_n_cm1 : α n = ωε''/c = 2π ν̃ ε'' in cm⁻¹ (= ``ir_spectrum``).
    epsilon_inf : float, the electronic ε∞ used.
    metadata : dict
        Provenance and the static limits: ``eps_static_kk`` (ε'(ω→0) of the
        Kramers–Kronig route) and ``eps_static_fluctuation`` (ε∞ + β⟨δM²⟩/(3Vε0))
        with their ``_error``, ``static_tensor`` (3×3, without ε∞), settings.
    """

    wavenumber_cm1: np.ndarray
    eps_imag: np.ndarray
    eps_imag_error: np.ndarray
    eps_real: np.ndarray
    eps_real_error: np.ndarray
    eps_real_dipole: np.ndarray
    eps_real_dipole_error: np.ndarray
    refractive_index: np.ndarray
    refractive_index_error: np.ndarray
    extinction_coefficient: np.ndarray
    extinction_coefficient_error: np.ndarray
    absorption_cm1: np.ndarray
    absorption_cm1_error: np.ndarray
    alpha_n_cm1: np.ndarray
    alpha_n_cm1_error: np.ndarray
    epsilon_inf: float
    metadata: dict = field(default_factory=dict)

    def alpha_n_spectrum(self):
        """α n as an :class:`~ase_dipole.spectra.green_kubo.IRSpectrum` (cm⁻¹),
        for plots and comparisons with the spectrum tools."""
        return IRSpectrum(wavenumber_cm1=self.wavenumber_cm1, intensity=self.alpha_n_cm1,
                          error=self.alpha_n_cm1_error, unit="cm^-1", metadata=dict(self.metadata))

    def absorption_spectrum(self):
        """α alone (cm⁻¹) as an :class:`~ase_dipole.spectra.green_kubo.IRSpectrum`."""
        return IRSpectrum(wavenumber_cm1=self.wavenumber_cm1, intensity=self.absorption_cm1,
                          error=self.absorption_cm1_error, unit="cm^-1", metadata=dict(self.metadata))

    def write_csv(self, path):
        """Write the header (``# units:``, ``# epsilon_inf:``, ``# metadata:``
        JSON with the provenance), the column line :data:`CSV_COLUMNS` and one
        row per wavenumber. Atomic; read back with :func:`read_dielectric_csv`."""
        columns = [self.wavenumber_cm1]
        for attribute, _ in QUANTITIES:
            columns += [getattr(self, attribute), getattr(self, attribute + "_error")]
        with atomic_write(path) as handle:
            handle.write(CSV_MAGIC + "\n")
            handle.write(f"# units: {CSV_UNITS}\n")
            handle.write(f"# epsilon_inf: {self.epsilon_inf!r}\n")
            handle.write("# metadata: " + json.dumps(self.metadata, sort_keys=True) + "\n")
            handle.write(CSV_COLUMNS + "\n")
            np.savetxt(handle, np.column_stack(columns), delimiter=",", fmt="%.12e")


def read_dielectric_csv(path):
    """Read a file written by :meth:`DielectricFunction.write_csv`.

    Returns a :class:`DielectricFunction`.
    """
    header, table = read_headed_csv(path, magic=CSV_MAGIC, columns=CSV_COLUMNS,
                                    required=("epsilon_inf", "metadata"),
                                    kind="dielectric-function")
    values = {"wavenumber_cm1": table[:, 0].copy()}
    for index, (attribute, _) in enumerate(QUANTITIES):
        values[attribute] = table[:, 1 + 2 * index].copy()
        values[attribute + "_error"] = table[:, 2 + 2 * index].copy()
    return DielectricFunction(**values, epsilon_inf=float(header["epsilon_inf"]),
                              metadata=json.loads(header["metadata"]))


def check_epsilon_inf(epsilon_inf):
    """ε∞ as an isotropic float: a number, or a (3, 3) tensor (a third of its
    trace; a warning when it is anisotropic). Refuses values < 1 and NaN/inf."""
    value = np.asarray(epsilon_inf, dtype=float)
    if value.shape == (3, 3):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"epsilon_inf tensor holds NaN or infinite values: {value.tolist()}")
        diagonal = np.diag(value)
        isotropic = float(np.trace(value) / 3.0)
        if np.ptp(diagonal) > ANISOTROPY_WARNING * abs(isotropic):
            warnings.warn(f"epsilon_inf tensor is anisotropic (diagonal {diagonal.tolist()}); using "
                          f"a third of its trace, {isotropic:.6g}, for the isotropic dielectric function")
        value = isotropic
    elif value.shape != ():
        raise ValueError(f"epsilon_inf must be a number or a 3x3 tensor, got shape {value.shape}")
    value = float(value)
    if not np.isfinite(value) or value < 1.0:
        raise ValueError(f"epsilon_inf must be a finite number >= 1 (the electronic dielectric "
                         f"constant, n^2 at frequencies above the vibrations), got {value!r}")
    return value


def epsilon_inf_from_file(path, *, structure=None):
    """The isotropic ε∞ (a third of the trace) printed in a VASP OUTCAR or
    vasprun.xml, a phonopy BORN file or a Quantum ESPRESSO ph.x output.

    Read with :func:`ase_dipole.io.read_born_charges`. A BORN file holds no
    structure; without ``structure`` (Atoms or POSCAR) only its ε∞ line is
    read (the first line of nine numbers).
    """
    from ase_dipole.io import guess_format, read_born_charges

    if guess_format(path) == "phonopy-born" and structure is None:
        tensor = _born_file_epsilon(path)
    else:
        frames = read_born_charges(path, structure=structure) if structure is not None \
            else read_born_charges(path)
        tensor = frames[-1].info.get("epsilon")
        if tensor is None:
            raise ValueError(f"{os.fspath(path)!r} holds no dielectric tensor (epsilon); pass "
                             "epsilon_inf= (CLI: --epsilon-inf) instead")
    return check_epsilon_inf(tensor)


def _born_file_epsilon(path):
    from ase_dipole.io._common import read_text

    for line in read_text(path).splitlines():
        tokens = line.split()
        if line.lstrip().startswith("#") or len(tokens) != 9:
            continue
        try:
            return np.array([float(token) for token in tokens]).reshape(3, 3)
        except ValueError:
            break
    raise ValueError(f"{os.fspath(path)!r}: no line of nine numbers (the dielectric tensor) in this "
                     "BORN file; the file is damaged")


def kramers_kronig(wavenumber_cm1, eps_imag, *, epsilon_inf):
    r"""ε'(ν̃) from ε''(ν̃) by the Kramers–Kronig relation

    .. math::

        \varepsilon'(\tilde\nu) = \varepsilon_\infty + \frac{2}{\pi}
        \,\mathrm{P}\!\int_0^\infty \frac{\tilde\nu' \varepsilon''(\tilde\nu')}
        {\tilde\nu'^2 - \tilde\nu^2} \,\mathrm d\tilde\nu' .

    Parameters
    ----------
    wavenumber_cm1 : (F,) float array
        Evenly spaced grid 0, Δ, 2Δ, ... in cm⁻¹ (any unit of frequency
        works: the relation is scale-free). It must start at 0 and reach the
        frequencies where ε'' has decayed: ε'' beyond the grid is taken as 0.
    eps_imag : (F,) float array
        ε'' on that grid (its value at 0 is not used).
    epsilon_inf : float, keyword-only
        ε'(∞).

    Returns
    -------
    (F,) float array
        ε' on the same grid; at ν̃ = 0 the limit (Richardson extrapolation of
        the first two points, ε' being even in ν̃).

    Notes
    -----
    With g(ν̃) = ν̃ ε''(ν̃) extended as an even function, ε' − ε∞ =
    −H[g](ν̃)/ν̃ for the Hilbert transform H (H[cos νt] = sin νt), computed
    by FFT with the even extension zero-padded to four times its length.
    Working with g keeps a finite ν̃ε'' at ν̃ → 0 (the window's leakage of
    the Ṗ route, a spurious DC conductivity) out of ε': a constant g has no
    Hilbert transform.
    """
    grid = np.asarray(wavenumber_cm1, dtype=float)
    values = np.asarray(eps_imag, dtype=float)
    if grid.ndim != 1 or grid.shape != values.shape or len(grid) < 3:
        raise ValueError(f"wavenumber_cm1 {grid.shape} and eps_imag {values.shape} must be 1-D of "
                         "the same length (>= 3)")
    step = grid[1] - grid[0]
    if grid[0] != 0 or step <= 0 or not np.allclose(np.diff(grid), step, rtol=1e-9, atol=0):
        raise ValueError("kramers_kronig needs an evenly spaced grid 0, d, 2d, ... starting at 0")
    g = grid * np.where(grid > 0, values, 0.0)
    return _kramers_kronig_g(g, grid, check_epsilon_inf(epsilon_inf))


def _kramers_kronig_g(g, grid, epsilon_inf):
    """ε' on ``grid`` (even, from 0) from g = ν̃ ε'' (the last axis), ε'(∞) = ε∞;
    g is taken as 0 beyond the grid (the even extension zero-padded to four
    times its length)."""
    n_points = g.shape[-1]
    size = 8 * n_points
    extended = np.zeros(g.shape[:-1] + (size,))
    extended[..., :n_points] = g
    extended[..., size - n_points + 1:] = g[..., :0:-1]
    frequencies = np.fft.fftfreq(size)
    hilbert = np.fft.ifft(-1j * np.sign(frequencies) * np.fft.fft(extended, axis=-1), axis=-1).real
    eps_real = np.empty(g.shape)
    eps_real[..., 1:] = epsilon_inf - hilbert[..., 1:n_points] / grid[1:]
    eps_real[..., 0] = (4.0 * eps_real[..., 1] - eps_real[..., 2]) / 3.0
    return eps_real


def _mean_and_error(samples):
    mean = samples.mean(axis=0)
    if len(samples) > 1:
        return mean, samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    return mean, np.full(mean.shape, np.nan)


def _optical_constants(eps_real, eps_imag, wavenumber_cm1):
    """n, κ, α (cm⁻¹) from ε' and ε'' (broadcast over leading axes):
    n + iκ = √(ε' + i max(ε'', 0)), the root with n ≥ 0 and κ ≥ 0."""
    root = np.sqrt(eps_real + 1j * np.maximum(eps_imag, 0.0))
    return root.real, root.imag, 4.0 * np.pi * wavenumber_cm1 * root.imag


def _dipole_route_real(windowed, omega, dt_s, n_grid):
    r"""C(0) − ω ∫_0 f(t) sin ωt dt for f = C·w sampled every ``dt_s``
    (f(0) = C(0), f ≈ 0 at the last lag), with f linear between samples and
    the integral done exactly (Filon-type):

    .. math::

        f(0) - \omega \int_0^\infty f \sin\omega t\,\mathrm dt
        = -\frac{1}{\omega} \sum_j s_j [\sin\omega t_{j+1} - \sin\omega t_j],
        \qquad s_j = (f_{j+1} - f_j)/\Delta t,

    so C(0) cancels exactly at every ω. (The trapezoid rule would leave a
    fraction ≈ (ωΔt)²/12 of C(0) near the Nyquist wavenumber, which for a
    liquid's slow orientational fluctuations is many times ε∞.) At ω = 0
    the limit C(0). Returns (n_grid // 2 + 1,) values in the unit of C.
    """
    slopes = np.diff(windowed) / dt_s
    # Σ_j s_j e^{iωt_j} = conj(rfft(s))
    transform = np.conj(np.fft.rfft(slopes, n=n_grid))
    values = np.empty(omega.shape)
    values[1:] = -np.imag((np.exp(1j * omega[1:] * dt_s) - 1.0) * transform[1:]) / omega[1:]
    values[0] = windowed[0] - windowed[-1]
    return values


def dielectric_function(logs, *, epsilon_inf, temperature_K=None, fwhm_cm1=20.0,
                        max_wavenumber_cm1=5000.0):
    r"""The ionic dielectric function ε(ω) = ε∞ + χ(ω) of a periodic cell.

    Parameters
    ----------
    logs : DipoleLog, path, or sequence of them
        NVE trajectories of one periodic cell at one temperature (as for
        :func:`~ase_dipole.spectra.green_kubo.ir_spectrum`). Each gives an
        ε(ω); they are averaged with equal weights. Finite systems (no
        volume) are refused: use the cross-section of ``ir_spectrum``.
    epsilon_inf : float or (3, 3) array, keyword-only
        Electronic dielectric constant ε∞ = ε'(∞) (≥ 1; a tensor is reduced to
        a third of its trace). Not in the dipole model: take it from
        experiment (n² in the visible) or from a DFPT file
        (:func:`epsilon_inf_from_file`).
    temperature_K : float, optional, keyword-only
        T in β; default the logs' metadata ``temperature_K``.
    fwhm_cm1 : float, keyword-only
        Resolution: the Gaussian window of ``ir_spectrum`` (each log must
        span 5τ).
    max_wavenumber_cm1 : float or None, keyword-only
        Highest wavenumber in the result (``None``: Nyquist). Kramers–Kronig
        always integrates ε'' over the whole band up to the Nyquist
        wavenumber (and takes ε'' = 0 above it).

    Returns
    -------
    DielectricFunction
        ε'', ε' (Kramers–Kronig and direct μ route), n, κ, α and α n on the
        grid of ``ir_spectrum`` (without ν̃ = 0), with standard errors across
        trajectories, and the static limits in ``metadata``.
    """
    epsilon_inf = check_epsilon_inf(epsilon_inf)
    if not (np.isfinite(fwhm_cm1) and fwhm_cm1 > 0):
        raise ValueError(f"fwhm_cm1 must be a positive number of cm^-1, got {fwhm_cm1!r}")
    logs = _load(logs)
    _check_periodic_logs(logs)
    dt_fs, temperature_K, _, volume_A3 = _common(logs, temperature_K, "pdot")
    nyquist_cm1 = 1.0 / (2.0 * C_CM_PER_S * dt_fs * FS_S)
    if max_wavenumber_cm1 is None:
        max_wavenumber_cm1 = nyquist_cm1
    elif max_wavenumber_cm1 > nyquist_cm1 * (1 + 1e-12):
        raise ValueError(f"max_wavenumber_cm1={max_wavenumber_cm1:g} exceeds the Nyquist wavenumber "
                         f"{nyquist_cm1:.1f} cm^-1 of logs sampled every {dt_fs:g} fs; lower "
                         "max_wavenumber_cm1 or log more often")
    tau_fs, lag_fs, window, n_grid, wavenumber = spectral_grid(logs, dt_fs, fwhm_cm1)
    dt_s = dt_fs * FS_S
    omega = 2.0 * np.pi * C_CM_PER_S * wavenumber  # [rad/s]
    susceptibility = 1.0 / (3.0 * volume_A3 * A3_M3 * EPS0_SI * KB_SI * temperature_K)  # β/(3Vε0)

    # ε'' per trajectory from ⟨Ṗ(0)·Ṗ(t)⟩: g = ν̃ ε'' = β S / (3 V ε0 2π c) is finite at ν̃ = 0
    transforms = np.stack([_log_spectrum(log, "pdot", window, n_grid, dt_s) for log in logs])
    g = susceptibility * transforms / (2.0 * np.pi * C_CM_PER_S)
    eps_imag = np.zeros(g.shape)
    eps_imag[:, 1:] = susceptibility * transforms[:, 1:] / omega[1:]
    eps_real = _kramers_kronig_g(g, wavenumber, epsilon_inf)

    has_dipole = all(np.all(np.isfinite(log.dipole)) for log in logs)
    if has_dipole:
        eps_real_dipole = []
        for log in logs:
            delta = (log.dipole - log.dipole.mean(axis=0)) * DIPOLE_SI
            correlation = _correlation(delta, None, len(window))
            eps_real_dipole.append(epsilon_inf + susceptibility * _dipole_route_real(
                correlation * window, omega, dt_s, n_grid))
        eps_real_dipole = np.stack(eps_real_dipole)
        static = static_susceptibility(logs, temperature_K=temperature_K)
    else:
        warnings.warn("some logs hold no dipole (mu not recorded): eps_real_dipole and the "
                      "static fluctuation estimate are left out (NaN)")
        eps_real_dipole = np.full(eps_real.shape, np.nan)
        static = None

    keep = (wavenumber > 0) & (wavenumber <= max_wavenumber_cm1 * (1 + 1e-12))
    nu = wavenumber[keep]
    mean_imag, error_imag = _mean_and_error(eps_imag[:, keep])
    mean_real, error_real = _mean_and_error(eps_real[:, keep])
    mean_dipole, error_dipole = _mean_and_error(eps_real_dipole[:, keep])
    n, kappa, alpha = _optical_constants(mean_real, mean_imag, nu)
    per_log_n, per_log_kappa, _ = _optical_constants(eps_real[:, keep], eps_imag[:, keep], nu)
    error_n = _mean_and_error(per_log_n)[1]
    error_kappa = _mean_and_error(per_log_kappa)[1]
    static_kk, static_kk_error = _mean_and_error(eps_real[:, 0])
    metadata = {
        "temperature_K": temperature_K,
        "volume_A3": volume_A3,
        "epsilon_inf": epsilon_inf,
        "fwhm_cm1": float(fwhm_cm1),
        "window": "gaussian",
        "window_tau_fs": float(tau_fs),
        "window_cutoff_fs": float(lag_fs[-1]),
        "max_wavenumber_cm1": float(max_wavenumber_cm1),
        "kramers_kronig_band_cm1": [0.0, float(wavenumber[-1])],
        "sample_interval_fs": dt_fs,
        "boundary_conditions": "conducting (tin-foil)",
        "n_logs": len(logs),
        "n_samples": [int(len(log.time_fs)) for log in logs],
        "logs": [log.path for log in logs],
        "model_sha256": sorted({str(log.metadata["model_sha256"]) for log in logs
                                if "model_sha256" in log.metadata}),
        "min_eps_imag": float(mean_imag.min()),
        "eps_static_kk": float(static_kk),
        "eps_static_kk_error": float(static_kk_error),
        "eps_static_fluctuation": None if static is None else static.epsilon_static(epsilon_inf),
        "eps_static_fluctuation_error": None if static is None else static.isotropic_error,
        "static_tensor": None if static is None else static.tensor.tolist(),
        "ase_dipole_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return DielectricFunction(
        wavenumber_cm1=nu,
        eps_imag=mean_imag, eps_imag_error=error_imag,
        eps_real=mean_real, eps_real_error=error_real,
        eps_real_dipole=mean_dipole, eps_real_dipole_error=error_dipole,
        refractive_index=n, refractive_index_error=error_n,
        extinction_coefficient=kappa, extinction_coefficient_error=error_kappa,
        absorption_cm1=alpha, absorption_cm1_error=4.0 * np.pi * nu * error_kappa,
        alpha_n_cm1=2.0 * np.pi * nu * mean_imag, alpha_n_cm1_error=2.0 * np.pi * nu * error_imag,
        epsilon_inf=epsilon_inf,
        metadata=metadata,
    )
