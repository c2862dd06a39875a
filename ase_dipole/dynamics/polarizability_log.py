"""The α̇ log of a Raman trajectory, and an MD observer that writes it.

Layout (one row per sample, every row flushed as it is written)::

    # ase-dipole polarizability log
    # metadata: {"format_version": 1, "timestep_fs": 0.25, "interval": 2, ...}
    # columns: time_fs adot_xx adot_yy adot_zz adot_yz adot_xz adot_xy [A^3/fs] alpha_xx alpha_yy alpha_zz alpha_yz alpha_xz alpha_xy [A^3]

α̇ = Σ_i ∂α/∂x_i · v_i (Å³/fs) and α (Å³) are symmetric; the six
components are in Voigt order xx yy zz yz xz xy. Read with
:func:`read_polarizability_log`; :func:`ase_dipole.spectra.raman.raman_spectrum`
turns logs into spectra.

A log holds one run and is resumed as the dipole log is
(:mod:`ase_dipole.dynamics.dipole_log`): opening an existing log appends
only to continue that run — the same ``RUN_IDENTITY`` entries, and the first
new row one sample interval after the last one (a truncated last row is
dropped first); anything else is refused with an error naming the mismatch,
and ``overwrite=True`` replaces the log. With the checkpoints of
:mod:`ase_dipole.dynamics.checkpoint` (``log_path`` the polarizability log) a
killed run resumes to the log of an uninterrupted one.
"""

import json
import os
import warnings
import weakref
from dataclasses import dataclass, field

import numpy as np
from ase import units

from ase_dipole import __version__
from ase_dipole.atomic import write_text_atomic
from ase_dipole.dynamics.dipole_log import _drop_partial_last_line, _short, open_text
from ase_dipole.io.polarizability import check_polarizability, check_polarizability_derivatives

MAGIC = "# ase-dipole polarizability log"
FORMAT_VERSION = 1
COLUMNS = ("# columns: time_fs adot_xx adot_yy adot_zz adot_yz adot_xz adot_xy [A^3/fs] "
           "alpha_xx alpha_yy alpha_zz alpha_yz alpha_xz alpha_xy [A^3]")
N_COLUMNS = 13
#: Voigt order of the six stored components
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
#: metadata keys that identify a run: appending requires them all to agree
RUN_IDENTITY = ("model_sha256", "timestep_fs", "interval", "temperature_K", "n_atoms", "volume_A3",
                "periodic", "symbols", "masses_amu")
_RTOL = 1e-6
#: relative tolerance on the time of the first appended row, in sample intervals
_TIME_RTOL = 1e-6


def to_voigt(tensors):
    """(..., 3, 3) symmetric → (..., 6) in the order xx yy zz yz xz xy."""
    tensors = np.asarray(tensors, dtype=float)
    return np.stack([tensors[..., a, b] for a, b in VOIGT], axis=-1)


@dataclass
class PolarizabilityLog:
    """One trajectory's α̇ and α.

    Attributes
    ----------
    time_fs : (T,) float array, fs
    alphadot : (T, 6) float array, α̇ in Å³/fs (Voigt order xx yy zz yz xz xy)
    alpha : (T, 6) float array, α in Å³
    metadata : dict (timestep_fs, interval, temperature_K, periodic, n_atoms, ...)
    path : str or None
    """

    time_fs: np.ndarray
    alphadot: np.ndarray
    alpha: np.ndarray
    metadata: dict = field(default_factory=dict)
    path: str | None = None


def read_polarizability_log(path):
    """Read a log written by :class:`PolarizabilityObserver`; a truncated last
    row is skipped with a warning; a gzip-compressed log is read as it is.
    Returns a :class:`PolarizabilityLog`."""
    with open_text(path) as handle:
        lines = handle.readlines()
    if not lines or lines[0].rstrip("\n") != MAGIC:
        raise ValueError(f"{os.fspath(path)!r} is not an ase-dipole polarizability log (first line must be {MAGIC!r})")
    metadata = None
    for line in lines[1:]:
        if line.startswith("# metadata:"):
            metadata = json.loads(line[len("# metadata:"):])
            break
    if metadata is None or metadata.get("format_version") != FORMAT_VERSION:
        found = None if metadata is None else metadata.get("format_version")
        raise ValueError(f"{os.fspath(path)!r} has polarizability-log format version {found!r}; "
                         f"this ase-dipole reads version {FORMAT_VERSION}")
    rows = [line for line in lines if not line.startswith("#") and line.strip()]
    if rows and (not rows[-1].endswith("\n") or len(rows[-1].split()) != N_COLUMNS):
        warnings.warn(f"{os.fspath(path)!r}: skipping a truncated last row (the run was interrupted)")
        rows.pop()
    data = np.loadtxt(rows, dtype=float, ndmin=2) if rows else np.empty((0, N_COLUMNS))
    if data.shape[1] != N_COLUMNS:
        raise ValueError(f"{os.fspath(path)!r} rows have {data.shape[1]} numbers; expected {N_COLUMNS}")
    return PolarizabilityLog(time_fs=data[:, 0].copy(), alphadot=data[:, 1:7].copy(),
                             alpha=data[:, 7:13].copy(), metadata=metadata, path=str(path))


def write_polarizability_log(path, log):
    """Write a :class:`PolarizabilityLog` (e.g. computed from a stored
    trajectory) atomically; ``format_version`` is added to its metadata."""
    from ase_dipole.atomic import atomic_write

    metadata = {**log.metadata, "format_version": FORMAT_VERSION}
    with atomic_write(path) as handle:
        handle.write(MAGIC + "\n# metadata: " + json.dumps(metadata) + "\n" + COLUMNS + "\n")
        np.savetxt(handle, np.column_stack([log.time_fs, log.alphadot, log.alpha]), fmt="%.12e")


def load_polarizability_logs(logs, temperature_K=None):
    """Read and cross-check logs for :func:`ase_dipole.spectra.raman.raman_spectrum`.

    Returns
    -------
    logs : list of PolarizabilityLog
    dt_fs : float
        Common sample interval, fs.
    temperature_K : float
        The argument, or the logs' common metadata value.
    """
    if isinstance(logs, (PolarizabilityLog, str, os.PathLike)):
        logs = [logs]
    loaded = []
    for item in logs:
        if isinstance(item, PolarizabilityLog):
            loaded.append(item)
        elif isinstance(item, (str, os.PathLike)):
            loaded.append(read_polarizability_log(item))
        else:
            raise TypeError(f"raman_spectrum takes PolarizabilityLog objects or paths, got {type(item).__name__}")
    if not loaded:
        raise ValueError("raman_spectrum needs at least one polarizability log")
    dt_fs, temperatures = None, []
    for log in loaded:
        name = repr(log.path) if log.path is not None else "<in-memory log>"
        if len(log.time_fs) < 2:
            raise ValueError(f"log {name} has fewer than two rows; run the MD longer")
        steps = np.diff(log.time_fs)
        if steps[0] <= 0 or not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9):
            raise ValueError(f"log {name} is not evenly sampled; split it at the gap or rerun with one interval")
        if dt_fs is None:
            dt_fs = float(steps[0])
        elif not np.isclose(steps[0], dt_fs, rtol=_RTOL):
            raise ValueError(f"log {name} is sampled every {steps[0]:.6g} fs, another every {dt_fs:.6g} fs; "
                             "average only logs with one sample interval")
        if not np.all(np.isfinite(log.alphadot)):
            raise ValueError(f"log {name} holds NaN/inf in α̇; truncate it before the bad row")
        if temperature_K is None:
            value = log.metadata.get("temperature_K")
            if value is None:
                raise ValueError(f"log {name} has no temperature_K in its metadata; pass temperature_K=")
            temperatures.append(float(value))
    if temperature_K is None:
        if not np.allclose(temperatures, temperatures[0], rtol=_RTOL):
            raise ValueError(f"the logs have different temperature_K {sorted(set(temperatures))}; "
                             "average logs of one temperature, or pass temperature_K=")
        temperature_K = temperatures[0]
    if not (np.isfinite(temperature_K) and temperature_K > 0):
        raise ValueError(f"temperature_K must be a positive number of kelvin, got {temperature_K!r}")
    return loaded, dt_fs, float(temperature_K)


class PolarizabilityLogWriter:
    """Writer of a polarizability log; every row is flushed at once.

    Parameters
    ----------
    path : str or path-like
    metadata : dict
        JSON-serialisable run description with ``timestep_fs`` and
        ``interval``; the keys in :data:`RUN_IDENTITY` identify the run.
    overwrite : bool, keyword-only
        Replace an existing log at ``path``. Without it an existing log is
        appended to, and only as a continuation of the same run: its
        :data:`RUN_IDENTITY` entries must equal those of ``metadata`` and the
        first row written must come one sample interval after its last row;
        otherwise a ``ValueError`` names the mismatch.

    Attributes
    ----------
    last_time_fs : float or None
        Time of the last row in the file, fs (None for an empty log).
    last_row : (12,) float array or None
        α̇ and α (Voigt) of that row, as read back.
    sample_interval_fs : float
    """

    def __init__(self, path, metadata, *, overwrite=False):
        self.path = os.fspath(path)
        self.metadata = dict(metadata, format_version=FORMAT_VERSION)
        self.sample_interval_fs = float(self.metadata["timestep_fs"]) * int(self.metadata["interval"])
        self.last_time_fs = None
        self.last_row = None
        self._appending = False
        if not overwrite and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            if _drop_partial_last_line(self.path):
                warnings.warn(f"{self.path!r}: dropped a truncated last row before appending")
            previous = read_polarizability_log(self.path)
            for key in RUN_IDENTITY:
                if previous.metadata.get(key) != self.metadata.get(key):
                    raise ValueError(
                        f"cannot append to {self.path!r}: its {key} is {_short(previous.metadata.get(key))}, "
                        f"this run has {_short(self.metadata.get(key))}; a log holds one run: write to a new "
                        "file or pass overwrite=True to replace it")
            if len(previous.time_fs):
                self.last_time_fs = float(previous.time_fs[-1])
                self.last_row = np.concatenate([previous.alphadot[-1], previous.alpha[-1]])
            self._appending = self.last_time_fs is not None
        else:
            write_text_atomic(self.path, MAGIC + "\n# metadata: " + json.dumps(self.metadata, sort_keys=True)
                              + "\n" + COLUMNS + "\n")
        self._handle = open(self.path, "a")

    def write(self, time_fs, alphadot, alpha):
        """Append one row: time (fs), α̇ (3, 3) Å³/fs and α (3, 3) Å³."""
        if self._appending:
            expected_fs = self.last_time_fs + self.sample_interval_fs
            if abs(time_fs - expected_fs) > _TIME_RTOL * self.sample_interval_fs:
                raise ValueError(
                    f"cannot append to {self.path!r}: its last row is at t = {self.last_time_fs:.6g} fs, "
                    f"so the run continues at t = {expected_fs:.6g} fs, not {time_fs:.6g} fs; write to a "
                    "new file or pass overwrite=True to replace it")
            self._appending = False
        row = np.concatenate([[time_fs], to_voigt(alphadot), to_voigt(alpha)])
        self._handle.write(" ".join(f"{x:.12e}" for x in row) + "\n")
        self._handle.flush()
        self.last_time_fs = float(time_fs)

    def close(self):
        self._handle.close()


class PolarizabilityObserver:
    """Log α̇ = Σ_i ∂α/∂x_i · v_i and α along an ASE MD run.

    Parameters
    ----------
    dynamics : ase.md.md.MolecularDynamics
        Held by a weak proxy, as ``ase.md.MDLogger`` does; atoms, time step
        and time come from it.
    source : object
        ``source.predict(atoms) -> (alpha (3, 3) Å³, dalpha (N, 3, 3, 3) Å²)``
        (e.g. a polarizability model, or an analytic α(R)); a source with
        ``predict_alphadot(atoms, velocities_A_per_fs) -> (alpha, alphadot)``
        (a :class:`~ase_dipole.learning.polarizability.PolarizabilityModel`)
        is asked for α̇ directly, without ∂α/∂x.
    path : str or path-like
        Log to write. An existing log is appended to only when this run
        continues it (see Notes); otherwise a ``ValueError`` says why.
    interval : int, keyword-only
        MD steps between rows (the same as given to ``dyn.attach``).
    temperature_K : float, keyword-only, optional
        Temperature of the ensemble, recorded for the spectrum.
    metadata : dict, keyword-only, optional
        Extra JSON-serialisable header entries.
    overwrite : bool, keyword-only
        Replace an existing log at ``path`` instead of continuing it.

    Notes
    -----
    As :class:`ase_dipole.dynamics.observer.DipoleObserver`: a new log starts
    at t = 0; an existing one is continued when its run identity matches and
    either the first state equals the last logged one (a run resumed from its
    last logged frame: that row is not written twice and the time goes on
    from it) or the dynamics' own time is one interval past the last row (the
    same dynamics run further, or one restored from a checkpoint with its
    step count). A run starting from another state is refused.
    """

    def __init__(self, dynamics, source, path, *, interval=1, temperature_K=None, metadata=None,
                 overwrite=False):
        if not hasattr(source, "predict"):
            raise TypeError(f"source must have predict(atoms) -> (alpha, dalpha), got {type(source).__name__}")
        if int(interval) != interval or interval < 1:
            raise ValueError(f"interval must be a positive integer, got {interval!r}")
        self._dynamics = weakref.proxy(dynamics)
        self._source = source
        self._interval = int(interval)
        atoms = dynamics.atoms
        self._timestep_fs = dynamics.dt / units.fs
        header = dict(
            timestep_fs=float(self._timestep_fs), interval=self._interval,
            n_atoms=len(atoms), periodic=bool(np.all(atoms.pbc) and atoms.cell.rank == 3),
            volume_A3=float(atoms.get_volume()) if atoms.cell.rank == 3 else None,
            temperature_K=None if temperature_K is None else float(temperature_K),
            symbols=atoms.get_chemical_symbols(), masses_amu=[float(m) for m in atoms.get_masses()],
            source=type(source).__name__, model_sha256=str(getattr(source, "sha256", None)),
            ase_dipole_version=__version__, **(metadata or {}),
        )
        self.writer = PolarizabilityLogWriter(path, header, overwrite=overwrite)
        self.path = self.writer.path
        self._time_offset_fs = None

    @property
    def sample_interval_fs(self):
        """Time between logged rows, fs."""
        return self._interval * self._timestep_fs

    def _elapsed_fs(self):
        return self._dynamics.get_time() / units.fs

    def __call__(self):
        atoms = self._dynamics.atoms
        if not atoms.has("momenta"):
            raise ValueError("the atoms have no velocities (no 'momenta' array); attach the observer to an ASE dynamics")
        velocities = atoms.get_velocities() * units.fs  # [Å/fs]
        if hasattr(self._source, "predict_alphadot"):
            alpha, alphadot = self._source.predict_alphadot(atoms, velocities)
        else:
            alpha, dalpha = self._source.predict(atoms)
            dalpha = check_polarizability_derivatives(dalpha, len(atoms))
            alphadot = np.einsum("iabc,ic->ab", dalpha, velocities)
        alpha = check_polarizability(alpha)
        if self._time_offset_fs is None:
            start_fs, already_logged = self._start(alphadot, alpha)
            self._time_offset_fs = start_fs - self._elapsed_fs()
            if already_logged:
                return
        self.writer.write(self._time_offset_fs + self._elapsed_fs(), alphadot, alpha)

    def _start(self, alphadot, alpha):
        """Time of this run's first row, fs, and whether the log already holds
        its state (a run resumed from its last logged frame)."""
        if self.writer.last_time_fs is None:
            return 0.0, False
        row = np.concatenate([to_voigt(alphadot), to_voigt(alpha)])
        if np.allclose(row, self.writer.last_row, rtol=1e-8, atol=1e-10):
            return self.writer.last_time_fs, True
        next_fs = self.writer.last_time_fs + self.sample_interval_fs
        if np.isclose(self._elapsed_fs(), next_fs, rtol=0.0, atol=1e-6 * self.sample_interval_fs):
            return next_fs, False
        raise ValueError(
            f"cannot append to {self.path!r}: this run does not continue it (its first state differs from "
            f"the last logged one, at t = {self.writer.last_time_fs:.6g} fs, and the dynamics' time does "
            "not follow it); write to a new file or pass overwrite=True to replace it")

    def close(self):
        """Close the log file."""
        self.writer.close()
