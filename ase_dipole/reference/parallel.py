"""Reference labelling as independent, cached tasks: one Dask task per frame.

Every frame's labels go to a cache file named by a digest of the frame's
content (atomic numbers, positions, cell, periodicity) and of the labelling
request (method, which labels, options), written atomically by the task that
computed it. A rerun of the same request finds the finished frames in the
cache and computes only the missing ones, so an interrupted campaign
(``kill``, a lost worker, a pre-empted job) resumes where it stopped. A frame
whose calculation raises is recorded with its error and reported, never
dropped silently; it is not cached, so the next run tries it again.

The numbers are those of the serial :func:`ase_dipole.reference.label_frames`:
both call :func:`~ase_dipole.reference.labelling.compute_labels` and
:func:`~ase_dipole.reference.labelling.apply_labels`, and the cache stores
the float64 arrays unchanged.
"""

import dataclasses
import hashlib
import io
import json
import os
import sys
import time
import traceback

import numpy as np

from ase_dipole.atomic import write_bytes_atomic
from ase_dipole.progress import progress_bar
from ase_dipole.reference.labelling import apply_labels, check_request, compute_labels

_CACHE_FORMAT = 1
#: arrays a cache file may hold
_LABEL_ARRAYS = ("dipole", "born_charges", "epsilon", "polarizability", "polarizability_derivatives")


def frame_digest(atoms):
    """sha256 (hex) of a frame's atomic numbers, positions (Å), cell (Å) and pbc."""
    digest = hashlib.sha256()
    for array in (np.asarray(atoms.numbers, dtype=np.int64),
                  np.ascontiguousarray(atoms.positions, dtype=np.float64),
                  np.ascontiguousarray(atoms.cell.array, dtype=np.float64),
                  np.asarray(atoms.pbc, dtype=np.bool_)):
        digest.update(array.tobytes())
    return digest.hexdigest()


def request_digest(atoms, *, method, dipole, born_charges, options, polarizability=False):
    """Cache key of one frame under one labelling request (sha256 hex); a
    request without polarizability keeps the key it had before that label existed."""
    request = {"format": _CACHE_FORMAT, "method": method, "dipole": bool(dipole),
               "born_charges": bool(born_charges),
               "options": {k: v for k, v in options.items() if k != "keep_outputs"}}
    if polarizability:
        request["polarizability"] = True
    request = json.dumps(request, sort_keys=True, default=list)
    return hashlib.sha256((frame_digest(atoms) + request).encode()).hexdigest()


def _save(path, labels, seconds):
    arrays = {key: labels.get(key) for key in _LABEL_ARRAYS
              if labels.get(key) is not None}
    meta = {"reference": labels["reference"], "details": labels["details"], "seconds": seconds}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def load_cached(path):
    """Labels stored by a finished task (the dict of
    :func:`~ase_dipole.reference.labelling.compute_labels` plus ``"seconds"``)."""
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
        labels = {key: (stored[key].copy() if key in stored.files else None)
                  for key in _LABEL_ARRAYS}
    labels.update(reference=meta["reference"], details=meta["details"], seconds=meta["seconds"])
    return labels


def label_one(frame, cache_path, *, method, dipole, born_charges, options, polarizability=False):
    """Task body: label one frame and cache the result atomically.

    Returns ``{"status": "done", "seconds": ...}`` or, when the calculation
    raises, ``{"status": "failed", "error": "Type: message", "traceback": ...}``.
    """
    start = time.perf_counter()
    try:
        labels = compute_labels(frame, method, options, dipole=dipole, born_charges=born_charges,
                                polarizability=polarizability)
    except Exception as error:  # a failed frame is reported, not fatal for the others
        return {"status": "failed", "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()}
    seconds = time.perf_counter() - start
    _save(cache_path, labels, seconds)
    return {"status": "done", "seconds": seconds}


@dataclasses.dataclass
class LabelRun:
    """What :func:`label_frames_parallel` did.

    Attributes
    ----------
    frames : list
        Per input frame: the labelled ase.Atoms, or None if it failed.
    failures : list of dict
        ``{"index", "formula", "digest", "error", "traceback"}`` per failed frame.
    computed, reused : list of int
        Indices of the frames computed in this run / read from the cache.
    seconds : list of float
        Wall time of each frame's calculation, s (from the cache for reused ones).
    """

    frames: list
    failures: list
    computed: list
    reused: list
    seconds: list

    @property
    def labelled(self):
        """The successfully labelled frames, in input order."""
        return [atoms for atoms in self.frames if atoms is not None]


def label_frames_parallel(frames, *, cache_dir, method="gfn2", options=None, dipole=True,
                          born_charges=True, client=None, progress=True, polarizability=False):
    """Label frames as one task per frame, cached in ``cache_dir``, resumable.

    Parameters
    ----------
    frames : sequence of ase.Atoms
    cache_dir : str or path-like
        Folder of the per-frame results (created; reused by later runs).
        With a cluster it must be reachable from the workers.
    method, dipole, born_charges
        As in :func:`ase_dipole.reference.label_frames`.
    options : dict, optional
        The method's options, as the keyword options of
        :func:`ase_dipole.reference.label_frames` (e.g. ``{"method":
        "GFN1-xTB"}`` for tblite, ``{"pseudopotentials": {...}, "kpts": ...}``
        for QE).
    polarizability : bool
        Also store α (Å³) and ∂α/∂x (Å²) (PySCF only; see
        :func:`~ase_dipole.reference.labelling.compute_labels`).
    client : distributed.Client, optional
        Run the tasks on its workers; None runs them here one after another.
    progress : bool
        Show progress on stderr.

    Returns
    -------
    LabelRun
    """
    options = dict(options or {})
    method = check_request(method, dipole=dipole, born_charges=born_charges, options=options,
                           polarizability=polarizability)
    frames = list(frames)
    os.makedirs(cache_dir, exist_ok=True)
    keys = [request_digest(f, method=method, dipole=dipole, born_charges=born_charges,
                           options=options, polarizability=polarizability) for f in frames]
    paths = [os.path.join(cache_dir, f"{key}.npz") for key in keys]
    missing = [i for i, path in enumerate(paths) if not os.path.exists(path)]
    reused = [i for i in range(len(frames)) if i not in set(missing)]
    report = progress_bar(len(missing), f"label [{method}]", unit="frame",
                          stream=sys.stderr if progress else None)
    task = dict(method=method, dipole=dipole, born_charges=born_charges, polarizability=polarizability)
    outcomes = {}
    if client is None:
        for i in missing:
            frame_options = _frame_options(options, keys[i])
            outcomes[i] = label_one(frames[i], paths[i], options=frame_options, **task)
            report.update(1)
    else:
        import distributed

        futures = {}
        for i in missing:
            future = client.submit(label_one, frames[i], paths[i], key=f"label-{keys[i]}",
                                   options=_frame_options(options, keys[i]), **task)
            futures.setdefault(future.key, (future, []))[1].append(i)
        by_future = {future: indices for future, indices in futures.values()}
        for future in distributed.as_completed(list(by_future)):
            for i in by_future[future]:
                outcomes[i] = future.result()
            report.update(len(by_future[future]))
    report.close()
    labelled, failures, seconds = [], [], []
    for i, frame in enumerate(frames):
        outcome = outcomes.get(i, {"status": "done"})
        if outcome["status"] == "failed":
            failures.append({"index": i, "formula": frame.get_chemical_formula(),
                             "digest": frame_digest(frame), "error": outcome["error"],
                             "traceback": outcome["traceback"]})
            labelled.append(None)
            seconds.append(float("nan"))
            continue
        labels = load_cached(paths[i])
        labelled.append(apply_labels(frame, labels))
        seconds.append(labels["seconds"])
    return LabelRun(frames=labelled, failures=failures,
                    computed=[i for i in missing if outcomes[i]["status"] == "done"],
                    reused=reused, seconds=seconds)


def _frame_options(options, key):
    """Per-frame options: ``keep_outputs`` becomes a sub-folder named by the key."""
    if options.get("keep_outputs") is None:
        return dict(options)
    return dict(options, keep_outputs=os.path.join(options["keep_outputs"], key[:16]))

