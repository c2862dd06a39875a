"""Shared pieces of the benchmark scripts: the liquid-like water box and a
median timer."""

import statistics
import time

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation


def median_time(function, repeats):
    """Median wall time of ``function()`` over ``repeats`` calls, s (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
