"""The CSV layout of the spectra's files: a magic first line, ``# key: value``
header lines, one column line, then the rows (written by
:meth:`IRSpectrum.write_csv` and :meth:`DielectricFunction.write_csv`)."""

import os

import numpy as np


def read_headed_csv(path, *, magic, columns, required, kind, hint=""):
    """The header values and the table of a headed CSV file.

    Parameters
    ----------
    path : str or path-like
    magic : str
        The first line the file must have.
    columns : str
        The column line that ends the header.
    required : sequence of str
        Header keys the file must have (``# key: value``).
    kind : str
        What the file holds, for the errors ("spectrum", ...).
    hint : str
        Appended to the error of a file without the magic line.

    Returns
    -------
    header : dict
        Every header key → its value (str, stripped).
    table : ndarray, shape (n_rows, n_columns)
    """
    header = {}
    with open(path) as handle:
        if handle.readline().rstrip("\n") != magic:
            raise ValueError(f"{os.fspath(path)!r} is not an ase-dipole {kind} CSV "
                             f"(first line must be {magic!r}){hint}")
        for line in handle:
            if not line.startswith("#"):
                if line.strip() != columns:
                    raise ValueError(f"{os.fspath(path)!r}: expected the column line {columns!r}, "
                                     f"found {line.strip()!r}; the file is damaged")
                break
            key, separator, value = line[1:].partition(":")
            if separator:
                header[key.strip()] = value.strip()
        missing = [key for key in required if key not in header]
        if missing:
            raise ValueError(f"{os.fspath(path)!r} lacks the "
                             + " or ".join(f"'# {key}:'" for key in missing) + " line")
        table = np.loadtxt(handle, delimiter=",", ndmin=2)
    return header, table
