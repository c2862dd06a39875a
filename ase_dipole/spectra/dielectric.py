r"""Dielectric response of a periodic cell from its dipole logs.

Classical fluctuation–dissipation theorem for a cell of volume V under
conducting (tin-foil) boundary conditions, M the cell dipole (smooth in
unwrapped positions), β = 1/(k_B T), SI units inside:

- static: :math:`\varepsilon_{ab}(0) - \varepsilon_{\infty,ab} = \beta
  (\langle M_a M_b\rangle - \langle M_a\rangle\langle M_b\rangle) / (V
  \varepsilon_0)`; its isotropic part is a third of the trace,
  :math:`\beta \langle \delta\mathbf M^2\rangle / (3 V \varepsilon_0)`.

The model gives the ionic (nuclear) response only: ε∞, the electronic part
at frequencies far above the vibrations and far below the electronic
excitations, is not in it and is supplied by the user.

Units: M in e·Å (the logs' μ columns), V in Å³, T in K; ε is dimensionless.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from ase_dipole.dynamics.dipole_log import DipoleLog, read_dipole_log
from ase_dipole.units import ANGSTROM_M, E_C, EPS0_SI, KB_SI

#: dipole conversion e·Å -> C·m
DIPOLE_SI = E_C * ANGSTROM_M  # [(C·m) / (e·Å)]
#: volume conversion Å³ -> m³
A3_M3 = ANGSTROM_M**3  # [m³ / Å³]
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
