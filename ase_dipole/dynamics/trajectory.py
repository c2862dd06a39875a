"""Dipole logs from existing MD trajectories.

An ASE ``.traj`` or extxyz trajectory that stores velocities gives
Ṗ = Σ_i Z*_i v_i frame by frame, exactly as :class:`DipoleObserver` would
have logged it. A trajectory of positions only (VASP XDATCAR, most extxyz
dumps) gives Ṗ by central differences of μ along the unwrapped positions,
which is accurate to O(Δt²) and only if frames are written often (a few per
period of the fastest vibration).
"""

import os
import warnings

import numpy as np
from ase import units

from ase_dipole.dynamics.calculator import check_species, load_model
from ase_dipole.dynamics.dipole_log import DipoleLogWriter
from ase_dipole.dynamics.observer import log_metadata


def _read_frames(frames_or_path, index):
    if isinstance(frames_or_path, (str, os.PathLike)):
        import ase.io

        frames = ase.io.read(frames_or_path, index=index)
        return frames if isinstance(frames, list) else [frames]
    return list(frames_or_path)


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


def log_from_trajectory(frames_or_path, model, path, *, timestep_fs, temperature_K=None,
                        index=":", overwrite=False):
    """Write the dipole log of an existing trajectory.

    Parameters
    ----------
    frames_or_path : sequence of ase.Atoms or str or path-like
        Frames in time order, or any file ``ase.io.read`` understands (ASE
        ``.traj``, extxyz, VASP ``XDATCAR``, ...).
    model : object or str or path-like
        Dipole model (see :func:`ase_dipole.dynamics.calculator.load_model`).
    path : str or path-like
        Dipole log to write.
    timestep_fs : float, keyword-only
        Time between consecutive frames (after ``index``), fs.
    temperature_K : float, optional
        Temperature of the ensemble the trajectory samples, K.
    index : str or slice, optional
        Frames to read from a file, ``ase.io.read`` syntax.
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
    frames = _read_frames(frames_or_path, index)
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
    work = first.copy()
    work.calc = None
    if os.path.exists(path):
        os.remove(path)
    metadata = log_metadata(first, model, timestep_fs=timestep_fs, interval=1,
                            temperature_K=temperature_K,
                            pdot_source="velocities" if with_velocities else "finite-differences")
    with DipoleLogWriter(path, metadata) as writer:
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
