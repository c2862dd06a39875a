"""Fit time of the default PolarizationModel (5-fold cross-validation of λ):
64 water-dimer frames (Z* and dipoles, package GFN2-xTB set) and 100
liquid-water frames of 192 atoms (Z* only, paper-water set).

    python benchmarks/fit.py [--case dimer|liquid|both] [--frames 100] [--dimer-frames 64] [--profile]

Prints, per case, the CPU time of the whole fit on one thread
(``time.thread_time``, BLAS and numba held to one thread) and as a ratio to
a 1024³ dgemm timed in the same process just before and after, the rows and
coefficients of the least-squares problem and the form its cross-validation
took (dual when rows ≤ coefficients), and the training figures.
"""

import argparse
import cProfile
import pstats
import statistics
import time

import ase.io
from common import Dgemm, blas_description, machine_description, single_thread

import ase_dipole
from ase_dipole.io import load_paper_water
from ase_dipole.learning import ridge
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


def dimer_frames(n_frames):
    """The first ``n_frames`` Z*-training frames of the package's GFN2-xTB water-dimer set."""
    frames = ase.io.read(f"{ase_dipole.__path__[0]}/data/water_dimer_gfn2.extxyz.gz", index=":")
    return [frame for frame in frames if frame.info["split"] == "born_train"][:n_frames]


class FormSpy:
    """Records the form (primal/dual) of each cross-validation while installed."""

    def __init__(self):
        self.forms, self._original = [], ridge.cross_validate

    def __call__(self, *args, **kwargs):
        solution = self._original(*args, **kwargs)
        self.forms.append(solution.form)
        return solution

    def __enter__(self):
        ridge.cross_validate = self
        return self

    def __exit__(self, *exc):
        ridge.cross_validate = self._original


def time_fit(label, frames, profile, **options):
    """Fit the default model (with ``options``) to ``frames`` on one thread;
    print CPU time and figures."""
    with single_thread():
        # numba compilation (or cache loading) of every kernel the fit runs, cross-validation included
        PolarizationModel(regularization=1e-6).fit(frames[:1], progress=False)
        PolarizationModel(**options).fit(frames[:2], progress=False)
        before = dgemm_seconds()
        profiler = cProfile.Profile(time.thread_time) if profile else None  # CPU time
        with FormSpy() as spy:
            wall, cpu = time.perf_counter(), time.thread_time()
            if profiler:
                profiler.enable()
            model = PolarizationModel(**options).fit(frames, progress=False)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        after = dgemm_seconds()
    reference = 0.5 * (before + after)
    metrics = model.training_metrics
    rows = 9 * sum(len(f) for f in frames[:metrics["n_born_frames"]]) + 3 * metrics["n_dipole_frames"]
    columns = model.coefficients.size + (len(model.species) if model.parameters["charges"] == "fit" else 0)
    print(f"{label}: fit of {len(frames)} frames x {len(frames[0])} atoms ({metrics['targets']} targets, "
          f"r_c = {model.descriptor.cutoff} Å), {rows} rows, {columns} coefficients, "
          f"{spy.forms[-1]} cross-validation; one thread: CPU {cpu:.1f} s "
          f"({cpu / reference:.0f} dgemm of {reference * 1e3:.1f} ms), wall {wall:.1f} s")
    errors = ", ".join(f"{kind} training RMSE {metrics[f'rmse_{kind}']:.4g}, CV {metrics[f'cv_rmse_{kind}']:.4g}"
                       for kind in ("born_charges_e", "dipole_eA") if f"rmse_{kind}" in metrics)
    print(f"  λ = {model.regularization:.1e}; {errors}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("dimer", "liquid", "both"), default="both")
    parser.add_argument("--frames", type=int, default=100, help="liquid-water frames")
    parser.add_argument("--dimer-frames", type=int, default=64, help="water-dimer frames (at most 100)")
    parser.add_argument("--profile", action="store_true", help="print the 12 costliest functions (CPU time)")
    args = parser.parse_args()
    print(f"machine: {machine_description()}; BLAS: {blas_description()}")
    if args.case in ("dimer", "both"):
        frames = dimer_frames(args.dimer_frames)
        time_fit("water dimer, r_c 4 Å linear", frames, args.profile, cutoff=4.0, model="linear")
        time_fit("water dimer, defaults (r_c and model searched)", frames, args.profile)
    if args.case in ("liquid", "both"):
        time_fit("liquid water", load_paper_water()[:args.frames], args.profile)
    print(f"load average at the end: {machine_description().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    main()
