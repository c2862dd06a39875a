"""Provenance of output files: version, date, command, input digests, model identity.

Every table, spectrum and log the package writes carries one
:func:`provenance` dict (as JSON in a ``#`` header line or a metadata
entry), so a result can be traced to the code, the command and the exact
input files that made it.
"""

import hashlib
import os
import shlex
import sys
from datetime import datetime, timezone

import numpy as np

from ase_dipole import __version__

#: bytes read at a time when hashing a file
_CHUNK = 1 << 20


def file_sha256(path):
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(os.fspath(path), "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(arrays):
    """sha256 hex digest of the content of a sequence of arrays.

    Each array enters with its dtype, shape and little-endian bytes (``None``
    as a marker of its own), so equal numbers give equal digests whatever the
    file they were read from, and one changed number changes the digest.

    Parameters
    ----------
    arrays : iterable of array_like or None
    """
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none;")
            continue
        values = np.ascontiguousarray(array)
        values = values.astype(values.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{values.dtype.str}{values.shape};".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def date_now():
    """The current date and time, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line(argv=None):
    """The command as typed: ``ase-dipole`` and ``argv`` (default
    ``sys.argv[1:]``), shell-quoted."""
    return shlex.join(["ase-dipole", *(sys.argv[1:] if argv is None else argv)])


def provenance(*, inputs=(), model_sha256=None, command=None):
    """Where an output comes from.

    Parameters
    ----------
    inputs : iterable of str or path-like, keyword-only
        Input files; each existing file is listed with its sha256.
    model_sha256 : str or sequence of str, optional, keyword-only
        Identity of the dipole model(s) used.
    command : str, optional, keyword-only
        The command line; default :func:`command_line` of this process.

    Returns
    -------
    dict
        ``ase_dipole_version``, ``date`` (UTC, ISO 8601), ``command``,
        ``inputs`` (list of {``path``, ``sha256``}) and, when given,
        ``model_sha256``.
    """
    record = {
        "ase_dipole_version": __version__,
        "date": date_now(),
        "command": command_line() if command is None else command,
        "inputs": [{"path": os.fspath(path), "sha256": file_sha256(path)}
                   for path in inputs if os.path.isfile(os.fspath(path))],
    }
    if model_sha256 is not None:
        record["model_sha256"] = model_sha256
    return record
