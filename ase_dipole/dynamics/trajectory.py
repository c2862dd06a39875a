"""Dipole logs from existing MD trajectories.

:func:`read_trajectory` reads ASE ``.traj``, extxyz, VASP ``XDATCAR`` and
``vasprun.xml`` MD runs and LAMMPS text dumps (in their ``units`` style);
:func:`log_from_trajectory` turns the frames into a dipole log. A trajectory
that stores velocities (``.traj``, extxyz with ``momenta``, LAMMPS dumps with
``vx vy vz``) gives Ṗ = Σ_i Z*_i v_i frame by frame, exactly as
:class:`DipoleObserver` would have logged it. A trajectory of positions only
(XDATCAR, vasprun.xml, most extxyz dumps) gives Ṗ by central differences of
μ along the unwrapped positions, which is accurate to O(Δt²) and only if
frames are written often (a few per period of the fastest vibration).
"""

import os
import warnings

import numpy as np
from ase import units

from ase_dipole.dynamics.calculator import check_species, load_model
from ase_dipole.dynamics.dipole_log import DipoleLogWriter
from ase_dipole.dynamics.observer import log_metadata


#: trajectory formats :func:`read_trajectory` knows (``ase.io`` names)
TRAJECTORY_FORMATS = ("traj", "extxyz", "vasp-xdatcar", "vasp-xml", "lammps-dump-text")
#: LAMMPS ``units`` styles (ASE's converter)
LAMMPS_UNITS = ("metal", "real", "si", "cgs", "electron", "micro", "nano")


def guess_trajectory_format(path):
    """The ``ase.io`` format name of a trajectory file, from its name.

    ``*.traj`` → ``traj``; ``*.xyz``/``*.extxyz`` → ``extxyz``; ``XDATCAR*``
    → ``vasp-xdatcar``; ``vasprun*.xml`` → ``vasp-xml``; ``*.dump``,
    ``*.lammpstrj``, ``dump.*`` → ``lammps-dump-text``. Anything else is left to
    ``ase.io.read`` (``None``).
    """
    name = os.path.basename(os.fspath(path)).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".traj"):
        return "traj"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if name.startswith("xdatcar"):
        return "vasp-xdatcar"
    if name.endswith(".xml") and "vasprun" in name:
        return "vasp-xml"
    if name.endswith((".dump", ".lammpstrj")) or name.startswith("dump."):
        return "lammps-dump-text"
    return None


def _lammps_columns(path):
    """Column names of the first ``ITEM: ATOMS`` line of a LAMMPS text dump."""
    import gzip

    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rt") as handle:
        for line in handle:
            if line.startswith("ITEM: ATOMS"):
                return line.split()[2:]
    raise ValueError(f"{os.fspath(path)!r} has no 'ITEM: ATOMS' line; is it a LAMMPS text dump?")


def read_trajectory(path, *, index=":", format=None, lammps_units=None, lammps_types=None):
    """Frames of an MD trajectory file, in time order.

    Parameters
    ----------
    path : str or path-like
        ASE ``.traj``, extxyz, VASP ``XDATCAR`` or ``vasprun.xml`` of an MD
        run, or a LAMMPS text dump (``.gz`` accepted where ASE accepts it).
    index : str or slice, keyword-only
        Frames to keep, ``ase.io.read`` syntax.
    format : str, optional, keyword-only
        One of :data:`TRAJECTORY_FORMATS` (or any ``ase.io`` format); default
        :func:`guess_trajectory_format`.
    lammps_units : str, keyword-only
        LAMMPS ``units`` style of a dump (:data:`LAMMPS_UNITS`); required for
        dumps, which do not record it. ``metal``: Å and Å/ps; ``real``: Å and Å/fs.
    lammps_types : sequence of str, optional, keyword-only
        Element of each LAMMPS atom type (type 1 first), needed when the dump
        has neither an ``element`` nor a ``mass`` column.

    Returns
    -------
    list of ase.Atoms
        Positions in Å; velocities (``'momenta'``) where the file has them,
        converted to ASE units.
    """
    import ase.io

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"trajectory {path!r} does not exist")
    format = format or guess_trajectory_format(path)
    kwargs = {}
    if format == "lammps-dump-text":
        if lammps_units is None:
            raise ValueError(
                f"{path!r} is a LAMMPS dump, which does not record its unit style: pass "
                f"lammps_units= (CLI: --lammps-units), one of {', '.join(LAMMPS_UNITS)}"
            )
        if lammps_units not in LAMMPS_UNITS:
            raise ValueError(f"unknown LAMMPS unit style {lammps_units!r}; use one of "
                             f"{', '.join(LAMMPS_UNITS)}")
        columns = _lammps_columns(path)
        if "element" not in columns and "mass" not in columns and not lammps_types:
            raise ValueError(
                f"{path!r} names atoms only by LAMMPS type ({' '.join(columns)}): pass the "
                "element of each type with lammps_types= (CLI: --lammps-types O H ...)"
            )
        kwargs["units"] = lammps_units
        if lammps_types:
            kwargs["specorder"] = list(lammps_types)
    elif lammps_units is not None or lammps_types:
        raise ValueError(f"lammps_units/lammps_types apply to LAMMPS dumps only, and {path!r} "
                         f"is read as {format or 'a guessed format'}")
    try:
        frames = ase.io.read(path, index=index, format=format, **kwargs)
    except (ValueError, KeyError, IndexError, StopIteration) as error:
        raise ValueError(f"cannot read trajectory {path!r} as {format or 'a guessed format'}: "
                         f"{error}; give the format (CLI: --format)") from error
    return frames if isinstance(frames, list) else [frames]


def _read_frames(frames_or_path, index, **read_options):
    if isinstance(frames_or_path, (str, os.PathLike)):
        return read_trajectory(frames_or_path, index=index, **read_options)
    return list(frames_or_path)


def apply_masses(atoms, masses_amu):
    """Set the mass of every atom of the given elements, keeping the velocities.

    Parameters
    ----------
    atoms : ase.Atoms
        Changed in place.
    masses_amu : dict of str to float or None
        Element symbol → mass in amu (e.g. ``{"H": 2.014}`` for deuterium).

    Raises
    ------
    ValueError
        For a symbol not in ``atoms`` or a mass that is not positive.
    """
    if not masses_amu:
        return atoms
    present = atoms.get_chemical_symbols()
    symbols = np.array(present)
    velocities = atoms.get_velocities() if atoms.has("momenta") else None
    masses = atoms.get_masses()
    for symbol, mass in masses_amu.items():
        if not (np.isfinite(mass) and mass > 0):
            raise ValueError(f"the mass of {symbol} must be a positive number of amu, got {mass!r}")
        if symbol not in symbols:
            raise ValueError(f"a mass is given for {symbol}, but the atoms hold only "
                             f"{sorted(set(present))}")
        masses[symbols == symbol] = mass
    atoms.set_masses(masses)
    if velocities is not None:
        atoms.set_velocities(velocities)
    return atoms


def unwrap_positions(frames):
    """Positions continued across periodic boundaries, (T, N, 3) float, Å.

    Between consecutive frames every atom takes the minimum-image step
    (in fractional coordinates of the periodic directions), so atoms must
    move less than half a cell between frames. Non-periodic directions are
    left as they are.
    """
    positions = np.array([frame.get_positions() for frame in frames])
    pbc = np.asarray(frames[0].pbc, dtype=bool)
    if not pbc.any():
        return positions
    if frames[0].cell.rank != 3:
        raise ValueError("periodic frames need a full 3-D cell to unwrap positions")
    cells = np.array([frame.cell.array for frame in frames])
    scaled = np.einsum("tia,tab->tib", positions, np.linalg.inv(cells))
    steps = np.diff(scaled, axis=0)
    steps[..., pbc] -= np.round(steps[..., pbc])
    scaled_unwrapped = np.concatenate([scaled[:1], scaled[:1] + np.cumsum(steps, axis=0)])
    unwrapped = np.einsum("tib,tba->tia", scaled_unwrapped, cells)
    unwrapped[..., ~pbc] = positions[..., ~pbc]
    return unwrapped


#: accepted range of (timestep implied by the velocities) / (timestep given):
#: the trapezoidal estimate Δx ≈ Δt (v(t) + v(t+Δt))/2 of a harmonic mode of
#: frequency ω implies Δt·tan(u)/u with u = ωΔt/2, between 1 and 1.5 for
#: frames written more than 3.4 times per period of the fastest vibration
#: (below that the spectrum aliases anyway); a timestep off by a factor 2, or
#: velocities in a unit 1000 times too large or small, fall outside.
IMPLIED_TIMESTEP_RATIO_RANGE = (0.8, 1.5)


def check_velocities_match_positions(positions_A, velocities_A_per_fs, timestep_fs):
    """Refuse a timestep (or a velocity unit) that the frames contradict.

    The timestep implied by the frames is the least-squares Δt of
    x(t+Δt) − x(t) ≈ Δt (v(t) + v(t+Δt)) / 2 over all atoms and frame pairs;
    its ratio to ``timestep_fs`` must lie in
    :data:`IMPLIED_TIMESTEP_RATIO_RANGE`.

    Parameters
    ----------
    positions_A : numpy.ndarray
        (T, N, 3) unwrapped positions, Å.
    velocities_A_per_fs : numpy.ndarray
        (T, N, 3) velocities, Å/fs.
    timestep_fs : float
        Time between consecutive frames claimed by the caller, fs.

    Raises
    ------
    ValueError
        Naming the implied timestep, when the ratio is out of range.
    """
    steps = np.diff(positions_A, axis=0)
    mean_velocities = 0.5 * (velocities_A_per_fs[1:] + velocities_A_per_fs[:-1])
    norm = float(np.sum(mean_velocities * mean_velocities))
    moved = float(np.sum(steps * steps))
    if moved == 0.0:
        return
    implied_fs = float(np.sum(steps * mean_velocities)) / norm if norm > 0 else np.inf
    low, high = IMPLIED_TIMESTEP_RATIO_RANGE
    if not low <= implied_fs / timestep_fs <= high:
        raise ValueError(
            f"the frames' positions and velocities imply {implied_fs:.4g} fs between frames, "
            f"not timestep_fs={timestep_fs:g} fs (ratio {implied_fs / timestep_fs:.3g}); give "
            "the time between the frames as written (after index), and for a LAMMPS dump the "
            "units style it was written in (metal velocities are Å/ps, real Å/fs)"
        )


def log_from_trajectory(frames_or_path, model, path, *, timestep_fs, temperature_K=None,
                        index=":", format=None, lammps_units=None, lammps_types=None,
                        masses_amu=None, metadata=None, overwrite=False):
    """Write the dipole log of an existing trajectory.

    Parameters
    ----------
    frames_or_path : sequence of ase.Atoms or str or path-like
        Frames in time order, or a trajectory file (:func:`read_trajectory`:
        ASE ``.traj``, extxyz, VASP ``XDATCAR`` and ``vasprun.xml``, LAMMPS
        text dumps).
    model : object or str or path-like
        Dipole model (see :func:`ase_dipole.dynamics.calculator.load_model`).
    path : str or path-like
        Dipole log to write.
    timestep_fs : float, keyword-only
        Time between consecutive frames (after ``index``), fs. With
        velocities it must agree with the frames (see
        :func:`check_velocities_match_positions`).
    temperature_K : float, optional
        Temperature of the ensemble the trajectory samples, K.
    index : str or slice, optional
        Frames to read from a file, ``ase.io.read`` syntax.
    format, lammps_units, lammps_types : optional
        How to read a file, see :func:`read_trajectory`.
    masses_amu : dict of str to float, optional
        Element → mass (amu) recorded in the log's ``masses_amu`` (isotopes);
        Ṗ depends on velocities only, not on masses.
    metadata : dict, optional
        Extra JSON-serialisable header entries (provenance).
    overwrite : bool, optional
        Replace an existing ``path``; by default an existing log is an error.

    Returns
    -------
    str
        ``"velocities"`` or ``"finite-differences"``: how Ṗ was obtained.

    Notes
    -----
    With velocities in every frame (``'momenta'`` array) each row is
    ``model.predict_pdot`` at that frame, time ``k·timestep_fs``. Without
    them Ṗ is ``(μ(t+Δt) − μ(t−Δt)) / 2Δt`` on unwrapped positions, so the
    first and last frames give no row; a ``UserWarning`` says so.
    """
    if not (np.isfinite(timestep_fs) and timestep_fs > 0):
        raise ValueError(f"timestep_fs must be a positive number of fs between frames, "
                         f"got {timestep_fs}")
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists; remove it or pass overwrite=True")
    frames = _read_frames(frames_or_path, index, format=format, lammps_units=lammps_units,
                          lammps_types=lammps_types)
    model = load_model(model)
    if not frames:
        raise ValueError("the trajectory holds no frames")
    first = frames[0]
    for number, frame in enumerate(frames):
        if frame.get_chemical_symbols() != first.get_chemical_symbols():
            raise ValueError(
                f"frame {number} has different atoms from frame 0; a trajectory must keep "
                "its atoms and their order"
            )
    check_species(model, first)
    with_velocities = all(frame.has("momenta") for frame in frames)
    if len(frames) < (2 if with_velocities else 3):
        raise ValueError(
            f"the trajectory has {len(frames)} frame(s); a spectrum needs many, and Ṗ by "
            "finite differences at least 3"
        )
    positions = unwrap_positions(frames)
    if with_velocities:
        check_velocities_match_positions(
            positions, np.array([frame.get_velocities() for frame in frames]) * units.fs,
            timestep_fs)
    work = apply_masses(first.copy(), masses_amu)
    work.calc = None
    header = log_metadata(work, model, timestep_fs=timestep_fs, interval=1,
                          temperature_K=temperature_K,
                          pdot_source="velocities" if with_velocities else "finite-differences",
                          **(metadata or {}))
    with DipoleLogWriter(path, header, overwrite=overwrite) as writer:
        if with_velocities:
            for number, frame in enumerate(frames):
                work.set_cell(frame.cell)
                work.set_positions(positions[number])
                dipole, pdot = model.predict_pdot(work, frame.get_velocities() * units.fs)
                writer.write(number * timestep_fs, pdot, dipole)
            return "velocities"
        warnings.warn(
            "the trajectory has no velocities: Ṗ is taken from central finite differences "
            f"of μ between frames {timestep_fs} fs apart (error O(Δt²)); the first and last "
            "frames give no row"
        )
        dipoles = np.empty((len(frames), 3))
        for number, frame in enumerate(frames):
            work.set_cell(frame.cell)
            work.set_positions(positions[number])
            dipoles[number] = model.predict_dipole(work)
        pdots = (dipoles[2:] - dipoles[:-2]) / (2.0 * timestep_fs)
        for number in range(1, len(frames) - 1):
            writer.write(number * timestep_fs, pdots[number - 1], dipoles[number])
    return "finite-differences"
