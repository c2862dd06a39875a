"""Memory guard: a fit or a prediction that would need more memory than the
machine has available says so, in one line, before it allocates.

Without it a fit whose normal matrices do not fit in memory dies inside BLAS
(five species with the default descriptor: 32 205 coefficients, one
32 205 × 32 205 normal matrix of 8.3 GB per cross-validation fold and target
kind, a segmentation fault in OpenBLAS ``dsyrk`` on a 24 GB machine; issue
23). The estimates below count the large arrays a run holds at its peak; the
available memory is ``MemAvailable`` of ``/proc/meminfo`` (what the kernel
can hand out without swapping), and where that is unknown (not Linux) the
guard lets every run through.
"""

#: bytes of one float64
FLOAT64 = 8
#: (P, P) float64 arrays a solve holds besides the fold normal matrices: the
#: summed system, the scaled fold system, the band reduction's update (or
#: the eigensolver's two-matrix workspace), and the posterior factor with
#: its temporaries (counted in ase_dipole/learning/ridge.py and posterior.py)
SOLVE_MATRICES = 5
#: float64 copies of a frame's (9N, P) Z* design rows alive at once (the
#: descriptor gradients and the rows reduced or extended from them)
ROW_COPIES = 2
#: bytes per entry of the (9N, P) design rows of an exact σ prediction: the
#: float64 rows, their float64 copy with the charge columns, their float32 copy
STD_ROW_BYTES = 8 + 8 + 4


class InsufficientMemoryError(MemoryError, ValueError):
    """A run would need more memory than is available. A :class:`MemoryError`,
    and a :class:`ValueError` so that callers that report bad input in one
    line report this too."""


def available_bytes():
    """Memory available to this process without swapping, bytes
    (``MemAvailable`` of ``/proc/meminfo``); ``None`` where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    value, unit = line.split()[1:3]
                    return int(value) * {"kB": 1024}.get(unit, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def format_bytes(n_bytes):
    """``n_bytes`` as a short decimal figure: ``'8.3 GB'``, ``'512 MB'``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{int(n_bytes)} B"


def require(need_bytes, what, fix):
    """Raise :class:`InsufficientMemoryError` when ``need_bytes`` exceed the
    available memory.

    Parameters
    ----------
    need_bytes : int
        Estimated peak of the run, bytes.
    what : str
        The run and its size ("a fit of 32205 coefficients with 5-fold
        cross-validation").
    fix : str
        The option(s) that make it fit.
    """
    available = available_bytes()
    if available is not None and need_bytes > available:
        raise InsufficientMemoryError(f"{what} needs about {format_bytes(need_bytes)} of memory but "
                                      f"{format_bytes(available)} is available; {fix}")


def fit_bytes(n_columns, n_systems, largest_frame_rows):
    """Peak memory of a ridge fit, bytes.

    Parameters
    ----------
    n_columns : int
        Number P of coefficients.
    n_systems : int
        Normal matrices accumulated: cross-validation folds × target kinds.
    largest_frame_rows : int
        Design rows of the largest frame (9N for Z*).

    Returns
    -------
    int
        ``8 P² (n_systems + SOLVE_MATRICES) + 8 ROW_COPIES · rows · P``.
    """
    P = int(n_columns)
    return FLOAT64 * P * (P * (int(n_systems) + SOLVE_MATRICES) + ROW_COPIES * int(largest_frame_rows))


def largest_fitting_columns(n_systems, largest_frame_rows, available):
    """The largest coefficient count P whose :func:`fit_bytes` is within ``available`` bytes."""
    a = FLOAT64 * (int(n_systems) + SOLVE_MATRICES)
    b = FLOAT64 * ROW_COPIES * int(largest_frame_rows)
    return int((-b + (b * b + 4.0 * a * available) ** 0.5) / (2.0 * a))


def check_fit(n_columns, *, n_folds, n_kinds, largest_frame_rows, n_species):
    """:func:`require` for a fit of a :class:`~ase_dipole.learning.model.PolarizationModel`,
    with the options that bring it within the available memory.

    Parameters
    ----------
    n_columns : int
        Coefficients P of the fit.
    n_folds : int
        Cross-validation folds (1 with a given regularization).
    n_kinds : int
        Target kinds fitted (Z*, dipoles).
    largest_frame_rows : int
        Design rows of the largest training frame.
    n_species : int
        Species of the model (each has its own coefficient block).
    """
    n_systems = int(n_folds) * int(n_kinds)
    need = fit_bytes(n_columns, n_systems, largest_frame_rows)
    available = available_bytes()
    if available is None or need <= available:
        return
    fitting = largest_fitting_columns(n_systems, largest_frame_rows, available)
    single = largest_fitting_columns(int(n_kinds), largest_frame_rows, available)
    options = [f"n_references <= {max(fitting // (3 * int(n_species)), 1)} "
               f"(at most 3 coefficients per reference environment and species)"]
    if n_folds > 1:
        options.append(f"a fixed regularization (no cross-validation: fits {single} coefficients)")
    options.append("a smaller n_max / l_max, fewer species, or fewer atoms per frame")
    require(need, f"a fit of {int(n_columns)} coefficients ({int(n_species)} species, {int(n_folds)} "
                  f"fold(s) x {int(n_kinds)} target kind(s), largest frame {int(largest_frame_rows)} rows)",
            f"at most {fitting} coefficients fit; use " + ", or ".join(options))


def check_rows(n_rows, n_columns, *, bytes_per_entry, what, fix):
    """:func:`require` for a (n_rows, n_columns) block of design rows held at
    ``bytes_per_entry`` bytes per entry in all its copies."""
    require(int(n_rows) * int(n_columns) * int(bytes_per_entry),
            f"{what} ({int(n_rows)} x {int(n_columns)} design rows)", fix)
