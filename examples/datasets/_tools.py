"""Helpers shared by the make-scripts of ``examples/datasets/*/make.py``.

Labelling goes through the package's cached labeller
(:func:`ase_dipole.reference.label_frames_parallel`), one frame per call so
that each frame's single-thread CPU time (``time.process_time``) can be
measured and kept beside the cache (``cpu_seconds/<cache digest>.json``,
one file per frame, so two processes can share a cache): an interrupted run
resumes from the cache and the timing table still covers every frame. Run
the scripts with
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15``.
"""

import gzip
import importlib.metadata
import io
import json
import os
import platform
import time

import ase.io
import numpy as np

import ase_dipole
from ase_dipole.atomic import write_bytes_atomic
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.reference import dft_dipole, label_frames_parallel
from ase_dipole.reference.parallel import request_digest


def log(message):
    """Print with the UTC time and the load average."""
    load = os.getloadavg()[0]
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())} load {load:.1f}] {message}", flush=True)


def versions():
    """Versions of the codes that made a data set (for SOURCE.md / the log)."""
    names = ("ase", "numpy", "scipy", "pyscf", "tblite")
    found = {"ase-dipole": ase_dipole.__version__, "python": platform.python_version()}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def label_cached(frames, *, cache_dir, method, options, compute=True):
    """Label frames through the package's cache, one frame at a time.

    Parameters
    ----------
    frames : list of ase.Atoms
    cache_dir : str
        Cache folder of :func:`label_frames_parallel` (reused by reruns).
    method : {"dft", "gfn2"}
    options : dict
        The labeller's options (``xc``, ``basis``, ``grid_level``, ... or
        ``accuracy``, ``step_A``).
    compute : bool or sequence of bool
        Per frame (or for all): True computes a frame missing from the
        cache, False skips it (ship what is done; or leave it to another
        process sharing the cache, see :func:`shard_mask`). The cache is
        checked just before each frame.

    Returns
    -------
    labelled : list of ase.Atoms
        In input order, without the skipped ones.
    kept : numpy.ndarray of int
        Input index of each labelled frame.
    wall_s, cpu_s : numpy.ndarray, (n_labelled,)
        Wall time (from the cache) and single-process CPU time per frame, s
        (NaN for a frame whose CPU time was not recorded).
    """
    os.makedirs(os.path.join(cache_dir, "cpu_seconds"), exist_ok=True)
    cpu_by_key = {}
    legacy = os.path.join(cache_dir, "cpu_seconds.json")
    if os.path.exists(legacy):
        with open(legacy) as handle:
            cpu_by_key = json.load(handle)
    compute = np.broadcast_to(np.asarray(compute, dtype=bool), (len(frames),))
    labelled, kept, wall, cpu = [], [], [], []
    for count, (frame, do_compute) in enumerate(zip(frames, compute), start=1):
        key = request_digest(frame, method=method, dipole=True, born_charges=True,
                             options=options)
        if not do_compute and not os.path.exists(os.path.join(cache_dir, f"{key}.npz")):
            continue
        start = time.process_time()
        run = label_frames_parallel([frame], cache_dir=cache_dir, method=method,
                                    options=options, progress=False)
        spent = time.process_time() - start
        if run.failures:
            raise RuntimeError(f"frame {count - 1} ({frame.get_chemical_formula()}) failed: "
                               f"{run.failures[0]['error']}")
        timing_path = os.path.join(cache_dir, "cpu_seconds", f"{key}.json")
        if run.computed:
            write_bytes_atomic(timing_path, json.dumps(spent).encode())
            log(f"frame {count}/{len(frames)} {frame.get_chemical_formula()}: "
                f"{run.seconds[0]:.3g} s wall, {spent:.3g} s CPU")
        if os.path.exists(timing_path):
            with open(timing_path) as handle:
                cpu_by_key[key] = json.load(handle)
        labelled.append(run.frames[0])
        kept.append(count - 1)
        wall.append(run.seconds[0])
        cpu.append(cpu_by_key.get(key, float("nan")))
    return labelled, np.array(kept, dtype=int), np.array(wall), np.array(cpu)


def label_in_order(frames, order, *, cache_dir, method, options, shard=None, cached_only=False):
    """Label ``frames`` in the priority ``order`` through the cache; results in input order.

    Parameters
    ----------
    frames : list of ase.Atoms
    order : sequence of int
        Labelling order (indices into ``frames``; frames not listed are skipped).
    shard : str, optional
        ``"k/m"`` (:func:`shard_mask` over ``order``): compute only this
        process's share, take the rest from the cache if there.
    cached_only : bool
        Compute nothing; collect what the cache holds.

    Returns
    -------
    labelled, wall_s, cpu_s
        As :func:`label_cached`, sorted by input index.
    """
    order = np.asarray(order, dtype=int)
    compute = shard_mask(len(order), shard) & (not cached_only)
    labelled, kept, wall, cpu = label_cached([frames[i] for i in order], cache_dir=cache_dir,
                                             method=method, options=options, compute=compute)
    sort = np.argsort(order[kept], kind="stable")
    return [labelled[i] for i in sort], wall[sort], cpu[sort]


def van_der_corput(n):
    """0..n-1 in base-2 van der Corput order: every prefix spreads over the range."""
    keys = []
    for k in range(n):
        value, denominator, m = 0.0, 1.0, k
        while m:
            denominator *= 2
            value += (m % 2) / denominator
            m //= 2
        keys.append(value)
    return [int(i) for i in np.argsort(keys, kind="stable")]


def shard_mask(n, shard):
    """Which of ``n`` frames (in labelling order) this process computes.

    ``shard`` is ``"k/m"``: every m-th frame starting at k (0 <= k < m);
    ``None`` computes all. m processes with shards 0/m … (m-1)/m on one cache
    split the work; each one's finished prefix stays balanced.
    """
    if shard is None:
        return np.ones(n, dtype=bool)
    try:
        k, m = (int(part) for part in shard.split("/"))
    except ValueError:
        raise SystemExit(f"--shard {shard!r}: use k/m with integers, e.g. 0/2") from None
    if not 0 <= k < m:
        raise SystemExit(f"--shard {shard!r}: need 0 <= k < m")
    return np.arange(n) % m == k


def sum_rule_violation(frames, charges=None):
    """Per-frame acoustic-sum-rule violation max_αβ |Σ_i Z*_iαβ − q δ_αβ|, e.

    Parameters
    ----------
    frames : list of ase.Atoms with Born charges
    charges : sequence of int, optional
        Total charge per frame (default 0).

    Returns
    -------
    numpy.ndarray, (n_frames,), e
    """
    charges = np.zeros(len(frames)) if charges is None else np.asarray(charges, dtype=float)
    return np.array([np.abs(get_born_charges(f).sum(axis=0) - q * np.eye(3)).max()
                     for f, q in zip(frames, charges)])


def fd_check_dft(frame, *, options, atom_indices=None, step_A=2e-3):
    """Analytic DFT Z* against central differences of the DFT dipole.

    Parameters
    ----------
    frame : ase.Atoms
        A labelled frame (``born_charges`` from :func:`dft_born_charges`).
    options : dict
        The DFT options it was labelled with.
    atom_indices : sequence of int, optional
        Atoms whose columns are checked (default: all; 6 SCFs per atom).
    step_A : float
        Displacement, Å (central differences: error O(h²)).

    Returns
    -------
    max_abs_e : float
        max |Z*_analytic − Z*_FD| over the checked atoms, e.
    rms_e : float
        RMS of the same difference, e.
    seconds : float
        CPU time of the check, s.
    """
    start = time.process_time()
    indices = range(len(frame)) if atom_indices is None else atom_indices
    analytic = get_born_charges(frame)[list(indices)]
    numeric = np.empty_like(analytic)
    atoms = frame.copy()
    atoms.calc = None
    for row, i in enumerate(indices):
        for beta in range(3):
            dipoles = []
            for sign in (1.0, -1.0):
                shifted = atoms.copy()
                shifted.positions[i, beta] += sign * step_A
                dipoles.append(dft_dipole(shifted, **options))
            numeric[row, :, beta] = (dipoles[0] - dipoles[1]) / (2.0 * step_A)
    difference = analytic - numeric
    return (float(np.abs(difference).max()), float(np.sqrt(np.mean(difference ** 2))),
            time.process_time() - start)


def write_gz(path, frames):
    """Write frames as gzipped extended XYZ, atomically and reproducibly (mtime 0)."""
    text = io.StringIO()
    ase.io.write(text, frames, format="extxyz")
    write_bytes_atomic(path, gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0))


def write_text(path, text):
    """Write a text file atomically."""
    write_bytes_atomic(path, (text.rstrip("\n") + "\n").encode())


def label_summary(frames):
    """One line: counts, |μ| range, RMS Z*, of labelled frames."""
    dipoles = np.array([get_dipole(f) for f in frames])
    born = np.concatenate([get_born_charges(f).ravel() for f in frames])
    norms = np.linalg.norm(dipoles, axis=1)
    return (f"{len(frames)} frames, |mu| {norms.min():.3f}-{norms.max():.3f} e*A, "
            f"RMS Z* {np.sqrt(np.mean(born ** 2)):.3f} e")


def build_from_smiles(smiles, *, seed, name=None):
    """3-D molecule from a SMILES string: RDKit ETKDG embedding + MMFF94 relaxation.

    RDKit is a data-set-generation tool only (``pip install rdkit``), not a
    dependency of ase-dipole: ASE's collections have no amino acids or
    peptides, and this machine has no internet to fetch structures.

    Parameters
    ----------
    smiles : str
    seed : int
        ETKDG random seed (the embedding is reproducible for a given seed and
        RDKit version).
    name : str, optional
        Stored as ``info['molecule']``.

    Returns
    -------
    ase.Atoms
        Positions (N, 3), Å, hydrogens explicit, ``info['smiles']``.
    """
    try:
        from rdkit import Chem
        from rdkit.Chem import AllChem
    except ImportError as err:
        raise ImportError("building molecules from SMILES needs RDKit: pip install rdkit") from err
    from ase import Atoms

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if AllChem.EmbedMolecule(mol, randomSeed=int(seed)) != 0:
        raise RuntimeError(f"RDKit could not embed {smiles}; try another seed")
    if not AllChem.MMFFHasAllMoleculeParams(mol):
        raise RuntimeError(f"MMFF94 has no parameters for {smiles}")
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    atoms = Atoms([a.GetSymbol() for a in mol.GetAtoms()],
                  positions=mol.GetConformer().GetPositions())
    atoms.info["smiles"] = smiles
    if name is not None:
        atoms.info["molecule"] = name
    return atoms
