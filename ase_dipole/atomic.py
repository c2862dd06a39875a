"""Atomic file writes: a reader sees the old file or the new one, never a part.

The content goes to a temporary file in the same folder, is flushed and
fsynced, then renamed over the target (``os.replace``, atomic on POSIX). A
failed write (disk full, an exception while writing) removes the temporary
file, leaves any previous file intact and raises an :class:`OSError` that
names the target.
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="w", *, encoding="utf-8", newline=None):
    """Open a temporary file that replaces ``path`` when the block ends.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    mode : {"w", "wb"}
        Text or binary.
    encoding : str
        Text encoding (text mode only).
    newline : str, optional
        As for :func:`open` (text mode only; ``""`` for the csv module).

    Yields
    ------
    file object
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode {mode!r}: use 'w' or 'wb'")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                         suffix=".tmp")
    try:
        text_options = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with os.fdopen(handle, mode, **text_options) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        if os.path.exists(path):
            os.chmod(temporary, os.stat(path).st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OSError(err.errno, f"could not write {path}: {err.strerror or err}; "
                      "the previous file, if any, is unchanged") from err
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as out:
        out.write(text)


def write_bytes_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as out:
        out.write(data)
