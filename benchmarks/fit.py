"""Fit time of a Z*-only PolarizationModel on 100 liquid-water frames of 192
atoms (paper-water set, default settings, 5-fold cross-validation of λ).

    python benchmarks/fit.py [--frames 100] [--threads 1]

Prints the CPU time of the whole fit on one thread (``time.thread_time``,
BLAS and numba held to one thread) and as a ratio to a 1024³ dgemm timed in
the same process just before and after, the time of its parts, and the
training figures.
"""

import argparse
import cProfile
import pstats
import statistics
import time

from common import Dgemm, blas_description, machine_description, single_thread

from ase_dipole.io import load_paper_water
from ase_dipole.learning.model import PolarizationModel


def dgemm_seconds(repeats=5):
    dgemm = Dgemm()
    dgemm()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        dgemm()
        times.append(time.thread_time() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="print the 12 costliest functions (CPU time)")
    args = parser.parse_args()
    print(f"machine: {machine_description()}; BLAS: {blas_description()}")
    frames = load_paper_water()[:args.frames]
    with single_thread():
        # numba compilation (or cache loading) of every kernel the fit runs, cross-validation included
        PolarizationModel(regularization=1e-6).fit(frames[:1], progress=False)
        PolarizationModel().fit(frames[:2], progress=False)
        before = dgemm_seconds()
        profile = cProfile.Profile(time.thread_time) if args.profile else None  # CPU time
        wall, cpu = time.perf_counter(), time.thread_time()
        if profile:
            profile.enable()
        model = PolarizationModel().fit(frames, progress=False)
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        after = dgemm_seconds()
    reference = 0.5 * (before + after)
    metrics = model.training_metrics
    print(f"fit of {len(frames)} frames x {len(frames[0])} atoms (Z* only, r_c = {model.descriptor.cutoff} Å, "
          f"{model.descriptor.n_features} features/species), one thread: CPU {cpu:.1f} s "
          f"({cpu / reference:.0f} dgemm of {reference * 1e3:.1f} ms), wall {wall:.1f} s")
    print(f"λ = {model.regularization:.1e}, training RMSE {metrics['rmse_born_charges_e']:.4f} e, "
          f"CV RMSE {metrics['cv_rmse_born_charges_e']:.4f} e")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
