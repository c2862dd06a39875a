"""The Ṗ log: an append-only text file written during MD and read by the
spectrum code.

Layout::

    # ase-dipole dipole log
    # metadata: {"format_version": 2, "timestep_fs": 0.5, ...}
    # columns: time_fs pdot_x pdot_y pdot_z [e*A/fs] mu_x mu_y mu_z [e*A] sigma_zstar_max [e]
    0.000000 ...

Format version 2 adds the last column: the largest per-atom posterior σ(Z*)
of the row's configuration, e (RMS of the nine component σ of an atom;
``nan`` on rows where it was not computed, see
:class:`ase_dipole.dynamics.observer.DipoleObserver`). Version-1 logs (7
columns) are still read, with σ all ``nan``; appending to one keeps its
layout (σ is then not recorded).

Every row is flushed as it is written, so a run killed mid-way leaves a
readable log (a truncated last line is skipped with a warning).

A log holds one run. Its identity is the header's ``RUN_IDENTITY`` entries
(model sha256, time step, interval, temperature, atoms, cell); opening an
existing log appends only to continue that run: the same identity, and the
first new row one sample interval after the last one. Anything else (a rerun
of a script, another model or temperature) is refused with an error naming
the mismatch; ``overwrite=True`` replaces the log instead.
"""

import gzip
import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ase_dipole.atomic import write_text_atomic

LOG_FORMAT_VERSION = 2
#: log format versions this ase-dipole reads
READABLE_VERSIONS = (1, 2)
MAGIC = "# ase-dipole dipole log"
#: the column line of each format version
COLUMN_LINES = {
    1: "# columns: time_fs pdot_x pdot_y pdot_z [e*A/fs] mu_x mu_y mu_z [e*A]",
    2: "# columns: time_fs pdot_x pdot_y pdot_z [e*A/fs] mu_x mu_y mu_z [e*A] sigma_zstar_max [e]",
}
COLUMNS = COLUMN_LINES[LOG_FORMAT_VERSION]
#: numbers per row of each format version
N_COLUMNS = {1: 7, 2: 8}
#: metadata keys every log header must hold
APPEND_MUST_MATCH = ("timestep_fs", "interval", "n_atoms", "volume_A3", "periodic")
#: metadata keys that identify a run: appending requires them all to agree
RUN_IDENTITY = ("model_sha256", "timestep_fs", "interval", "temperature_K", "n_atoms",
                "volume_A3", "periodic", "symbols", "masses_amu", "electric_field_V_per_A")
#: relative tolerance on the time of the first appended row, in sample intervals
_TIME_RTOL = 1e-6


@dataclass
class DipoleLog:
    """One trajectory's Ṗ and μ time series.

    Attributes
    ----------
    time_fs : (T,) float array, fs
    pdot : (T, 3) float array, Ṗ = Σ_i Z*_i v_i in e·Å/fs
    dipole : (T, 3) float array, μ in e·Å (NaN where not recorded)
    metadata : dict (timestep_fs, interval, volume_A3, periodic, temperature_K,
        masses_amu, n_atoms, model_sha256, ase_dipole_version, ...)
    path : str or None
    sigma_born_max_e : (T,) float array or None
        Largest per-atom σ(Z*) of each row, e (NaN where not computed; all
        NaN for a version-1 log); ``None`` is read as all NaN.
    """

    time_fs: np.ndarray
    pdot: np.ndarray
    dipole: np.ndarray
    metadata: dict = field(default_factory=dict)
    path: str | None = None
    sigma_born_max_e: np.ndarray | None = None

    def __post_init__(self):
        if self.sigma_born_max_e is None:
            self.sigma_born_max_e = np.full(len(self.time_fs), np.nan)

    @property
    def sample_interval_fs(self):
        """Time between rows, fs."""
        if len(self.time_fs) < 2:
            raise ValueError(f"log {self.path!r} has fewer than two rows; run longer")
        return float(self.time_fs[1] - self.time_fs[0])


def open_text(path):
    """``path`` opened for reading text, through gzip when it starts with
    the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if compressed else open(path)


def _parse_header(path, lines):
    if not lines or lines[0].rstrip("\n") != MAGIC:
        raise ValueError(f"{path!r} is not an ase-dipole dipole log (first line must be {MAGIC!r})")
    for line in lines[1:]:
        if line.startswith("# metadata:"):
            metadata = json.loads(line[len("# metadata:"):])
            version = metadata.get("format_version")
            if version not in READABLE_VERSIONS:
                raise ValueError(
                    f"{path!r} has log format version {version!r}; this ase-dipole reads "
                    f"versions {', '.join(map(str, READABLE_VERSIONS))}"
                )
            return metadata
    raise ValueError(f"{path!r} has no '# metadata:' line; the file is damaged")


def _bad_row(path, lines, n_columns):
    """Line number and column count of the first row that is not ``n_columns`` numbers."""
    for number, line in enumerate(lines):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        try:
            [float(p) for p in parts]
        except ValueError:
            return number + 1, "a non-numeric value"
        if len(parts) != n_columns:
            return number + 1, f"{len(parts)} columns"
    return None, "unreadable rows"


def read_dipole_log(path):
    """Read a dipole log written by :class:`DipoleLogWriter`.

    A truncated last row (a run killed while writing) is skipped with a
    warning. A gzip-compressed log (as committed or archived) is read as it
    is. Returns a :class:`DipoleLog`.
    """
    with open_text(path) as handle:
        lines = handle.readlines()
    metadata = _parse_header(path, lines)
    n_columns = N_COLUMNS[metadata["format_version"]]
    rows = [line for line in lines if not line.startswith("#") and line.strip()]
    if rows and (not rows[-1].endswith("\n") or len(rows[-1].split()) != n_columns):
        warnings.warn(f"{path!r}: skipping a truncated last row (the run was interrupted)")
        rows.pop()
    try:
        data = np.loadtxt(rows, dtype=float, ndmin=2) if rows else np.empty((0, n_columns))
    except ValueError:
        data = None
    if data is None or data.shape[1] != n_columns:
        number, problem = _bad_row(path, lines, n_columns)
        raise ValueError(f"{path!r} line {number} has {problem}; expected {n_columns} numbers "
                         f"per row (log format version {metadata['format_version']})")
    return DipoleLog(
        time_fs=data[:, 0].copy(),
        pdot=data[:, 1:4].copy(),
        dipole=data[:, 4:7].copy(),
        metadata=metadata,
        path=str(path),
        sigma_born_max_e=data[:, 7].copy() if n_columns == 8 else None,
    )


def _drop_partial_last_line(path):
    """Cut a last line that has no newline (a row cut short by a killed run);
    True if one was cut."""
    with open(path, "rb+") as raw:
        content = raw.read()
        if content and not content.endswith(b"\n"):
            raw.truncate(content.rfind(b"\n") + 1)
            return True
    return False


def _short(value):
    """A metadata value for an error message (sha256 digests cut to 12 digits)."""
    if isinstance(value, str) and len(value) == 64:
        return repr(value[:12] + "…")
    return repr(value)


class DipoleLogWriter:
    """Writer of a dipole log; every row is flushed at once.

    Parameters
    ----------
    path : str or path-like
    metadata : dict
        JSON-serialisable run description; must contain the keys in
        ``APPEND_MUST_MATCH``; the keys in ``RUN_IDENTITY`` identify the run.
    overwrite : bool, keyword-only
        Replace an existing log at ``path``. Without it an existing log is
        appended to, and only as a continuation of the same run: its
        ``RUN_IDENTITY`` entries must equal those of ``metadata`` and the
        first row written must come one sample interval (``interval ×
        timestep_fs``) after its last row; otherwise a ``ValueError`` names
        the mismatch.

    Attributes
    ----------
    last_time_fs : float or None
        Time of the last row in the file, fs (None for an empty log).
    version : int
        Format version of the rows written: :data:`LOG_FORMAT_VERSION` for a
        new log, the existing log's version when appending (a version-1 log
        keeps its 7 columns and σ is not recorded).
    sample_interval_fs : float
        ``interval × timestep_fs``, fs.
    """

    def __init__(self, path, metadata, *, overwrite=False):
        self.path = os.fspath(path)
        missing = [key for key in APPEND_MUST_MATCH if key not in metadata]
        if missing:
            raise ValueError(f"dipole log metadata lacks {missing}")
        self.metadata = dict(metadata, format_version=LOG_FORMAT_VERSION)
        self.sample_interval_fs = float(self.metadata["timestep_fs"]) * int(self.metadata["interval"])
        self.last_time_fs = None
        self._appending = False
        self.version = LOG_FORMAT_VERSION
        if not overwrite and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            if _drop_partial_last_line(self.path):
                warnings.warn(f"{self.path!r}: dropped a truncated last row before appending")
            previous = read_dipole_log(self.path)
            for key in RUN_IDENTITY:
                if previous.metadata.get(key) != self.metadata.get(key):
                    raise ValueError(
                        f"cannot append to {self.path!r}: its {key} is "
                        f"{_short(previous.metadata.get(key))}, this run has "
                        f"{_short(self.metadata.get(key))}; a log holds one run: write to a "
                        "new file or pass overwrite=True to replace it"
                    )
            self.version = int(previous.metadata["format_version"])
            self.metadata["format_version"] = self.version
            if len(previous.time_fs):
                self.last_time_fs = float(previous.time_fs[-1])
            self._appending = self.last_time_fs is not None
            self._handle = open(self.path, "a")
        else:
            header = (MAGIC + "\n" + "# metadata: " + json.dumps(self.metadata, sort_keys=True)
                      + "\n" + COLUMNS + "\n")
            write_text_atomic(self.path, header)
            self._handle = open(self.path, "a")

    def _check_continues(self, time_fs):
        expected_fs = self.last_time_fs + self.sample_interval_fs
        if abs(time_fs - expected_fs) > _TIME_RTOL * self.sample_interval_fs:
            raise ValueError(
                f"cannot append to {self.path!r}: its last row is at t = {self.last_time_fs:.6g} "
                f"fs, so the run continues at t = {expected_fs:.6g} fs, not {time_fs:.6g} fs; "
                "write to a new file or pass overwrite=True to replace it"
            )
        self._appending = False

    def write(self, time_fs, pdot, dipole, sigma_born_max_e=np.nan):
        """Append one row: time (fs), Ṗ (3,) e·Å/fs, μ (3,) e·Å and the
        largest per-atom σ(Z*) in e (NaN when not computed; dropped for a
        version-1 log)."""
        values = np.concatenate([[time_fs], np.ravel(pdot), np.ravel(dipole)])
        if values.shape != (7,):
            raise ValueError("write() needs a time, a (3,) Ṗ and a (3,) dipole")
        if self.version >= 2:
            values = np.append(values, float(sigma_born_max_e))
        if self._appending:
            self._check_continues(float(time_fs))
        self._handle.write(" ".join(f"{v:.10e}" for v in values) + "\n")
        self._handle.flush()
        self.last_time_fs = float(time_fs)

    def close(self):
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
