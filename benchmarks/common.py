"""Shared pieces of the benchmark scripts: single-thread CPU timing, the
in-process 1024³ dgemm every figure is divided by, interleaved medians, the
liquid-like water box and the default model fitted on real data.

Every figure is CPU time of the calling thread (``time.thread_time``) with
BLAS, OpenMP and numba all held to one thread, and the same figure divided by
the CPU time of one 1024³ ``numpy`` dgemm timed in the same process,
interleaved with what is measured (so a busy machine slows both alike).
"""

import contextlib
import os
import platform
import statistics
import time

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

#: order of the reference matrix product
DGEMM_SIZE = 1024


def median_time(function, repeats):
    """Median wall time of ``function()`` over ``repeats`` calls, s (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def single_thread():
    """Hold BLAS/OpenMP (threadpoolctl) and numba to one thread."""
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(previous)


def blas_description():
    """One line naming numpy's BLAS, the kernel it runs and OPENBLAS_* overrides."""
    from threadpoolctl import threadpool_info

    parts = []
    for info in threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
            parts.append(f"{info.get('internal_api')} {info.get('version')} "
                         f"kernel {info.get('architecture')}")
    overrides = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if overrides:
        parts.append(f"overrides {overrides}")
    return "; ".join(parts) or "BLAS unknown"


def machine_description():
    """Processor, core count and the 1-minute load average."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load average {load:.2f}"


class Dgemm:
    """One 1024³ double-precision matrix product (2·1024³ flop)."""

    def __init__(self, size=DGEMM_SIZE):
        rng = np.random.default_rng(0)
        self.a = rng.normal(size=(size, size))
        self.b = rng.normal(size=(size, size))
        self.c = np.empty((size, size))
        self.flop = 2.0 * size**3

    def __call__(self):
        np.matmul(self.a, self.b, out=self.c)


def interleaved_cpu_times(tasks, repeats, *, warmup=1):
    """CPU times (``time.thread_time``) of every task, run in turn ``repeats``
    times (after ``warmup`` untimed rounds), with a 1024³ dgemm interleaved.

    Parameters
    ----------
    tasks : dict of str to callable
    repeats : int

    Returns
    -------
    dict of str to list of float
        Seconds per call, one entry per round; key ``"dgemm"`` holds the
        reference product.
    """
    everything = dict(tasks)
    everything["dgemm"] = Dgemm()
    for _ in range(warmup):
        for function in everything.values():
            function()
    times = {name: [] for name in everything}
    for _ in range(repeats):
        for name, function in everything.items():
            start = time.thread_time()
            function()
            times[name].append(time.thread_time() - start)
    return times


def ratios(times):
    """``{name: (median CPU s, median CPU s / median dgemm CPU s)}``."""
    reference = statistics.median(times["dgemm"])
    return {name: (statistics.median(t), statistics.median(t) / reference) for name, t in times.items()}


def paper_water_frame(index=0):
    """One 192-atom liquid-water frame of the paper-water set (shipped data)."""
    from ase_dipole.io import load_paper_water

    frames = load_paper_water(index=index)
    return frames[0] if isinstance(frames, list) else frames


def default_model(n_frames=3):
    """A :class:`PolarizationModel` with default settings fitted on the Z* of
    the first ``n_frames`` paper-water frames (λ fixed, so no cross-validation)."""
    from ase_dipole.io import load_paper_water
    from ase_dipole.learning.model import PolarizationModel

    frames = load_paper_water(index=f":{n_frames}")
    return PolarizationModel(regularization=1e-6).fit(frames, targets="born", progress=False)


def water_box(n_molecules=64, box_A=12.42, *, min_oo_A=2.5, seed=0):
    """Periodic box of ``n_molecules`` rigid H2O (O–H 0.9572 Å, H–O–H 104.52°,
    O H H order) placed at random with random orientations in a cubic cell,
    rejecting placements with an O–O distance below ``min_oo_A`` (Å)."""
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(104.52)
    monomer = np.array([[0.0, 0.0, 0.0],
                        [0.9572, 0.0, 0.0],
                        [0.9572 * np.cos(angle), 0.9572 * np.sin(angle), 0.0]])
    oxygens = []
    while len(oxygens) < n_molecules:
        trial = rng.uniform(0, box_A, 3)
        if oxygens:
            delta = np.array(oxygens) - trial
            delta -= box_A * np.round(delta / box_A)
            if np.min(np.linalg.norm(delta, axis=1)) < min_oo_A:
                continue
        oxygens.append(trial)
    positions = []
    for centre in oxygens:
        rotation = Rotation.random(random_state=rng.integers(2**31)).as_matrix()
        positions.extend(centre + monomer @ rotation.T)
    return Atoms("OH2" * n_molecules, positions=positions, cell=[box_A] * 3, pbc=True)
