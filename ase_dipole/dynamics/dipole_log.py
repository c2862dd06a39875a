"""The Ṗ log: an append-only text file written during MD and read by the
spectrum code.

Layout::

    # ase-dipole dipole log
    # metadata: {"format_version": 1, "timestep_fs": 0.5, ...}
    # columns: time_fs pdot_x pdot_y pdot_z [e*A/fs] mu_x mu_y mu_z [e*A]
    0.000000 ...

Every row is flushed as it is written, so a run killed mid-way leaves a
readable log (a truncated last line is skipped with a warning). Opening an
existing log appends after checking that its metadata agree.
"""

import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

LOG_FORMAT_VERSION = 1
MAGIC = "# ase-dipole dipole log"
COLUMNS = "# columns: time_fs pdot_x pdot_y pdot_z [e*A/fs] mu_x mu_y mu_z [e*A]"
#: metadata keys that must agree when a log is appended to
APPEND_MUST_MATCH = ("timestep_fs", "interval", "n_atoms", "volume_A3", "periodic")


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
    """

    time_fs: np.ndarray
    pdot: np.ndarray
    dipole: np.ndarray
    metadata: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def sample_interval_fs(self):
        """Time between rows, fs."""
        if len(self.time_fs) < 2:
            raise ValueError(f"log {self.path!r} has fewer than two rows; run longer")
        return float(self.time_fs[1] - self.time_fs[0])


def _parse_header(path, lines):
    if not lines or lines[0].rstrip("\n") != MAGIC:
        raise ValueError(f"{path!r} is not an ase-dipole dipole log (first line must be {MAGIC!r})")
    for line in lines[1:]:
        if line.startswith("# metadata:"):
            metadata = json.loads(line[len("# metadata:"):])
            version = metadata.get("format_version")
            if version != LOG_FORMAT_VERSION:
                raise ValueError(
                    f"{path!r} has log format version {version!r}; this ase-dipole reads "
                    f"version {LOG_FORMAT_VERSION}"
                )
            return metadata
    raise ValueError(f"{path!r} has no '# metadata:' line; the file is damaged")


def _bad_row(path, lines):
    """Line number and column count of the first row that is not 7 numbers."""
    for number, line in enumerate(lines):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        try:
            [float(p) for p in parts]
        except ValueError:
            return number + 1, "a non-numeric value"
        if len(parts) != 7:
            return number + 1, f"{len(parts)} columns"
    return None, "unreadable rows"


def read_dipole_log(path):
    """Read a dipole log written by :class:`DipoleLogWriter`.

    A truncated last row (a run killed while writing) is skipped with a
    warning. Returns a :class:`DipoleLog`.
    """
    with open(path) as handle:
        lines = handle.readlines()
    metadata = _parse_header(path, lines)
    rows = [line for line in lines if not line.startswith("#") and line.strip()]
    if rows and (not rows[-1].endswith("\n") or len(rows[-1].split()) != 7):
        warnings.warn(f"{path!r}: skipping a truncated last row (the run was interrupted)")
        rows.pop()
    try:
        data = np.loadtxt(rows, dtype=float, ndmin=2) if rows else np.empty((0, 7))
    except ValueError:
        data = None
    if data is None or data.shape[1] != 7:
        number, problem = _bad_row(path, lines)
        raise ValueError(f"{path!r} line {number} has {problem}; expected 7 numbers per row")
    return DipoleLog(
        time_fs=data[:, 0].copy(),
        pdot=data[:, 1:4].copy(),
        dipole=data[:, 4:7].copy(),
        metadata=metadata,
        path=str(path),
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


class DipoleLogWriter:
    """Append-only writer of a dipole log; every row is flushed at once.

    Parameters
    ----------
    path : str or path-like
    metadata : dict
        JSON-serialisable run description; must contain the keys in
        ``APPEND_MUST_MATCH``. If ``path`` exists, its metadata must agree on
        those keys and rows are appended after the last one.
    """

    def __init__(self, path, metadata):
        self.path = os.fspath(path)
        missing = [key for key in APPEND_MUST_MATCH if key not in metadata]
        if missing:
            raise ValueError(f"dipole log metadata lacks {missing}")
        self.metadata = dict(metadata, format_version=LOG_FORMAT_VERSION)
        self.last_time_fs = None
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            if _drop_partial_last_line(self.path):
                warnings.warn(f"{self.path!r}: dropped a truncated last row before appending")
            previous = read_dipole_log(self.path)
            for key in APPEND_MUST_MATCH:
                if previous.metadata.get(key) != self.metadata[key]:
                    raise ValueError(
                        f"cannot append to {self.path!r}: its {key} is "
                        f"{previous.metadata.get(key)!r}, this run has {self.metadata[key]!r}; "
                        "write to a new file"
                    )
            if len(previous.time_fs):
                self.last_time_fs = float(previous.time_fs[-1])
            self._handle = open(self.path, "a")
        else:
            self._handle = open(self.path, "w")
            self._handle.write(MAGIC + "\n")
            self._handle.write("# metadata: " + json.dumps(self.metadata, sort_keys=True) + "\n")
            self._handle.write(COLUMNS + "\n")
        self._handle.flush()

    def write(self, time_fs, pdot, dipole):
        """Append one row: time (fs), Ṗ (3,) e·Å/fs, μ (3,) e·Å."""
        values = np.concatenate([[time_fs], np.ravel(pdot), np.ravel(dipole)])
        if values.shape != (7,):
            raise ValueError("write() needs a time, a (3,) Ṗ and a (3,) dipole")
        self._handle.write(" ".join(f"{v:.10e}" for v in values) + "\n")
        self._handle.flush()
        self.last_time_fs = float(time_fs)

    def close(self):
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
