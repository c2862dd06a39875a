"""Fit time of a Z*-only PolarizationModel on 100 liquid-water frames of 192
atoms (Falletta set, default settings, 5-fold cross-validation of λ).

    python benchmarks/fit.py [--frames 100]

Prints wall and CPU time of the whole fit and the held-out-free training
figures; the target is under a minute on 2 cores.
"""

import argparse
import time

from ase_dipole.io import load_falletta_water
from ase_dipole.learning.model import PolarizationModel


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args()
    frames = load_falletta_water()[:args.frames]
    PolarizationModel(regularization=1e-6).fit(frames[:1], progress=False)  # numba compilation
    wall, cpu = time.perf_counter(), time.process_time()
    model = PolarizationModel().fit(frames, progress=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    metrics = model.training_metrics
    print(f"fit of {len(frames)} frames x {len(frames[0])} atoms (Z* only, r_c = {model.descriptor.cutoff} Å, "
          f"{model.descriptor.n_features} features/species): wall {wall:.1f} s, CPU {cpu:.1f} s; "
          f"λ = {model.regularization:.1e}, training RMSE {metrics['rmse_born_charges_e']:.4f} e, "
          f"CV RMSE {metrics['cv_rmse_born_charges_e']:.4f} e")


if __name__ == "__main__":
    main()
