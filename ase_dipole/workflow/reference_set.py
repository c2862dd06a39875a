"""Labelled reference sets split into training and held-out frames.

A reference set is an extended XYZ file in the convention of
:mod:`ase_dipole.io.extxyz` whose frames carry ``info['split']``, one of
:data:`SPLITS`: ``born_*`` frames have Born charges (and dipoles, except
for periodic cells, whose polarization a DFPT labeller does not give),
``dipole_*`` frames only dipoles. A set without splits is split here:
alternate frames of each kind go to training and to the test (paper
protocol: the held-out half at odd positions).
"""

import os

import numpy as np

from ase_dipole.io.extxyz import get_born_charges, get_dipole

SPLITS = ("dipole_train", "dipole_test", "born_train", "born_test")


def assign_splits(frames):
    """Give frames without ``info['split']`` one: Z* frames alternate
    ``born_train``/``born_test``, dipole-only frames ``dipole_train``/``dipole_test``.

    Frames that already carry a split keep it. Returns ``frames``.
    """
    counters = {"born": 0, "dipole": 0}
    for frame in frames:
        if "split" in frame.info:
            continue
        kind = "born" if get_born_charges(frame) is not None else "dipole"
        frame.info["split"] = f"{kind}_{'test' if counters[kind] % 2 else 'train'}"
        counters[kind] += 1
    return frames


def group_frames(frames, source, *, need=("born_train", "born_test")):
    """Group frames by ``info['split']`` and check their labels.

    Parameters
    ----------
    frames : list of ase.Atoms
    source : str
        Name used in error messages.
    need : tuple of str
        Splits that must have at least one frame.

    Returns
    -------
    dict
        Split name (:data:`SPLITS`) -> list of ase.Atoms.
    """
    groups = {name: [] for name in SPLITS}
    for k, frame in enumerate(frames):
        name = frame.info.get("split")
        if name not in groups:
            raise ValueError(
                f"frame {k} of '{source}' has info['split'] = {name!r}; use one of {SPLITS}"
            )
        groups[name].append(frame)
    missing = [name for name in need if not groups[name]]
    if missing:
        raise ValueError(f"'{source}' has no {missing} frames; the protocol needs all of "
                         f"{list(need)}")
    for name, members in groups.items():
        for k, frame in enumerate(members):
            if name.startswith("born") and get_born_charges(frame) is None:
                raise ValueError(f"'{source}': {name} frame {k} has no born_charges")
            if name.startswith("dipole") and get_dipole(frame) is None:
                raise ValueError(f"'{source}': {name} frame {k} has no dipole")
    return groups


def read_reference_set(path, *, need=("born_train", "born_test")):
    """Read a reference set and group its frames by split (see :func:`group_frames`)."""
    import ase.io

    frames = ase.io.read(os.fspath(path), ":", format="extxyz")
    return group_frames(assign_splits(frames), path, need=need)


def held_out_frames(groups):
    """The held-out frames of the dipole test: those of ``dipole_test`` and
    ``born_test`` that carry a dipole."""
    return [frame for frame in groups["dipole_test"] + groups["born_test"]
            if get_dipole(frame) is not None]


def uniform_indices(n_pool, n):
    """``n`` indices spread uniformly over ``range(n_pool)`` (centres of n equal bins)."""
    if not 0 < n <= n_pool:
        raise ValueError(f"cannot pick {n} of {n_pool} frames")
    return np.floor((np.arange(n) + 0.5) * n_pool / n).astype(int)
