"""Checkpoints inside an MD run, so a killed run resumes where it stood.

A checkpoint holds what the next step needs and what the outputs already
hold: positions, momenta and cell, the step count, the number of dipole-log
rows and the log's length in bytes at that step (and the length of every
other log written beside it, e.g. the polarizability log of a Raman run), the state of the
thermostat's random generator, and the samples of the NVE monitor. It is one
``.npz`` file written atomically beside the log
(:func:`ase_dipole.atomic.write_bytes_atomic`), so a run killed at any instant
leaves either the previous checkpoint or the new one.

Resuming cuts the log back to the checkpoint's length (rows written after it
are recomputed, bit for bit the same) and continues the dynamics from the
stored state with the step counter set, so the resumed log equals an
uninterrupted one.
"""

import io
import json
import os
import time

import numpy as np

from ase_dipole.atomic import write_bytes_atomic

CHECKPOINT_FORMAT_VERSION = 1
#: default wall time between checkpoints, s
DEFAULT_CHECKPOINT_WALL_S = 60.0


def _sync_file(path):
    """Push a file's written data to disk (its rows must not be younger than
    the checkpoint that counts them)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_checkpoint(path, *, atoms, step, identity, log_path=None, other_logs=(), rng=None, samples=None):
    """Write a checkpoint of ``atoms`` after MD step ``step``.

    Parameters
    ----------
    path : str
        Checkpoint file (``.npz``), replaced atomically.
    atoms : ase.Atoms
        State after step ``step`` (positions Å, momenta amu·Å·(eV/amu)^½, cell Å).
    step : int
        Number of MD steps done.
    identity : dict
        JSON-serialisable description of the run the state belongs to;
        :func:`load_checkpoint` refuses a checkpoint of another run.
    log_path : str, optional
        The dipole log being written; its row count and byte length are stored.
    other_logs : sequence of str
        Further logs written along (e.g. a polarizability log); their byte
        lengths are stored under their file names.
    rng : numpy.random.Generator, optional
        Random generator of a thermostat; its bit-generator state is stored.
    samples : dict of str to list of float, optional
        Running series to restore (e.g. the NVE monitor's temperatures, K).
    """
    log_rows = log_bytes = -1
    if log_path is not None:
        _sync_file(log_path)
        with open(log_path, "rb") as handle:
            content = handle.read()
        log_bytes = len(content)
        log_rows = sum(1 for line in content.splitlines() if line and not line.startswith(b"#"))
    other_log_bytes = {}
    for other in other_logs:
        _sync_file(other)
        other_log_bytes[os.path.basename(other)] = os.path.getsize(other)
    header = dict(format_version=CHECKPOINT_FORMAT_VERSION, step=int(step), identity=identity,
                  log_rows=log_rows, log_bytes=log_bytes, other_log_bytes=other_log_bytes,
                  rng_state=None if rng is None else rng.bit_generator.state)
    arrays = dict(header=np.array(json.dumps(header, sort_keys=True)),
                  positions=atoms.get_positions(), momenta=atoms.get_momenta(),
                  cell=np.asarray(atoms.cell))
    for name, values in (samples or {}).items():
        arrays[f"samples_{name}"] = np.asarray(values, dtype=float)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path, identity):
    """Read a checkpoint; ``None`` if there is none.

    Parameters
    ----------
    path : str
    identity : dict
        Must equal the identity the checkpoint was written with.

    Returns
    -------
    dict or None
        ``step``, ``log_rows``, ``log_bytes``, ``other_log_bytes`` (file name
        to byte length), ``rng_state``, ``positions`` (N, 3) Å, ``momenta``
        (N, 3), ``cell`` (3, 3) Å and ``samples`` (dict of float arrays).
    """
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            state = {name: data[name].copy() for name in ("positions", "momenta", "cell")}
            state["samples"] = {name[len("samples_"):]: data[name].copy()
                                for name in data.files if name.startswith("samples_")}
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"checkpoint {path!r} is damaged ({error}); delete it to restart "
                         "this trajectory from its beginning") from None
    if header.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(f"checkpoint {path!r} has format {header.get('format_version')!r}, "
                         f"this ase-dipole reads {CHECKPOINT_FORMAT_VERSION}; delete it")
    if header["identity"] != json.loads(json.dumps(identity, sort_keys=True)):
        raise ValueError(f"checkpoint {path!r} belongs to another run "
                         f"({header['identity']} ≠ {identity}); delete it or use a new "
                         "output directory")
    state.update((key, header[key]) for key in ("step", "log_rows", "log_bytes", "rng_state"))
    state["other_log_bytes"] = header.get("other_log_bytes", {})
    return state


def restore_log(log_path, state):
    """Cut ``log_path`` back to the length it had at checkpoint ``state``
    (one of the checkpoint's ``other_logs`` when its file name is one of
    them, else the checkpoint's log).

    Raises ``ValueError`` when the log is shorter than the checkpoint says
    (rows lost, e.g. by a crash of the file system): the trajectory must
    then restart from its beginning.
    """
    n_bytes = state.get("other_log_bytes", {}).get(os.path.basename(log_path), state["log_bytes"])
    size = os.path.getsize(log_path) if os.path.exists(log_path) else -1
    if size < n_bytes:
        raise ValueError(f"{log_path!r} is shorter ({size} bytes) than its checkpoint "
                         f"records ({n_bytes} bytes)")
    with open(log_path, "rb+") as handle:
        handle.truncate(n_bytes)


def restore_atoms(atoms, state):
    """Put the checkpoint's cell, positions and momenta on ``atoms``."""
    atoms.set_cell(state["cell"])
    atoms.set_positions(state["positions"], apply_constraint=False)
    atoms.set_momenta(state["momenta"], apply_constraint=False)


class CheckpointWriter:
    """An ASE dynamics observer writing checkpoints.

    Attach it with the interval of the log (``dyn.attach(writer,
    interval=interval)``); it writes when ``every_steps`` steps have passed
    since the last checkpoint or, with ``every_steps=None``, when
    ``every_wall_s`` seconds of wall time have.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
    path : str
        Checkpoint file.
    identity : dict
        See :func:`save_checkpoint`.
    every_steps : int, optional
        MD steps between checkpoints (a multiple of the log interval).
    every_wall_s : float
        Wall time between checkpoints, s, when ``every_steps`` is None.
    log_path, other_logs, rng : see :func:`save_checkpoint`
    samples : callable, optional
        Returns the ``samples`` dict of :func:`save_checkpoint`.
    """

    def __init__(self, dyn, path, *, identity, every_steps=None,
                 every_wall_s=DEFAULT_CHECKPOINT_WALL_S, log_path=None, other_logs=(), rng=None,
                 samples=None):
        self.dyn = dyn
        self.path = path
        self.identity = identity
        self.every_steps = every_steps
        self.every_wall_s = float(every_wall_s)
        self.log_path = log_path
        self.other_logs = tuple(other_logs)
        self.rng = rng
        self.samples = samples
        self.last_step = dyn.nsteps
        self.last_time_s = time.monotonic()
        self.written = 0

    def __call__(self):
        step = self.dyn.nsteps
        if step == self.last_step:
            return
        if self.every_steps is not None:
            due = step - self.last_step >= self.every_steps
        else:
            due = time.monotonic() - self.last_time_s >= self.every_wall_s
        if due:
            self.write()

    def write(self):
        """Write a checkpoint of the current state now."""
        save_checkpoint(self.path, atoms=self.dyn.atoms, step=self.dyn.nsteps,
                        identity=self.identity, log_path=self.log_path, other_logs=self.other_logs,
                        rng=self.rng,
                        samples=None if self.samples is None else self.samples())
        self.last_step = self.dyn.nsteps
        self.last_time_s = time.monotonic()
        self.written += 1
