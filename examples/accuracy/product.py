"""Figures of the product model (``PolarizationModel(model="product")``, λ = 1
features × λ = 0 invariants, body order ν = 3) against the linear default, all
fitted on Z* alone and measured in one run:

1. liquid water (the paper's RPBE-D3 set) (train frames 0–79, test 80–99): held-out and
   training Z* RMSE, fit time.
2. LES-BEC superionic water (frames 0–39 → 40–49): the same.
3. GFN2 water dimer (100 Z* configurations → held-out dipole and Z* RMSPE).
4. Cost (single thread, ``time.thread_time``, best of 5): μ + all Z* of a
   192-atom water frame, and ``predict_std``, product vs linear.

Run (about 10 minutes on 2 idle cores; far longer on busy ones)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python examples/accuracy/product.py
"""

import argparse
import os
import time

import ase.io
import numpy as np

import ase_dipole
from ase_dipole.io import load_paper_water
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.io.water import read_extxyz_born
from ase_dipole.learning.model import PolarizationModel, rmspe

HERE = os.path.dirname(os.path.abspath(__file__))
SUPERIONIC = os.path.join(HERE, "data", "S-2cc-T2000K-BEC.xyz.gz")
MODELS = {"linear": {}, "product": {"model": "product"}}


def fit(frames, options):
    wall, cpu = time.perf_counter(), time.process_time()
    model = PolarizationModel(**options).fit(frames, targets="born", progress=False)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def born_rmse(model, frames):
    errors = np.concatenate([(model.predict(f)[1] - get_born_charges(f)).ravel() for f in frames])
    return float(np.sqrt(np.mean(errors ** 2)))


def bulk(name, train, test):
    print(f"== {name}: {len(train)} training, {len(test)} test frames, Z* only")
    models = {}
    for label, options in MODELS.items():
        model, wall, cpu = fit(train, options)
        models[label] = model
        print(f"{label:<8} test Z* RMSE {born_rmse(model, test):.4f} e   train {born_rmse(model, train[::8]):.4f} e"
              f"   (cv {model.training_metrics['cv_rmse_born_charges_e']:.4f}, λ = {model.regularization:.1e},"
              f" fit {wall:.0f} s wall, {cpu:.0f} s CPU)", flush=True)
    return models


def dimer_splits():
    """The shipped GFN2 water-dimer set by its ``split`` label: {split: frames}."""
    groups = {}
    path = os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz")
    for frame in ase.io.read(path, index=":"):
        groups.setdefault(frame.info["split"], []).append(frame)
    return groups


def dimer_errors(model, groups):
    """Held-out dipole and Z* RMSPE (fractions) of ``model`` on the dimer's test frames
    (dipoles of the dipole and Z* test frames, Z* of the Z* test frames)."""
    test = groups["dipole_test"] + groups["born_test"]
    mu = np.array([model.predict_dipole(f) for f in test])
    born = np.array([model.predict(f)[1] for f in groups["born_test"]])
    return (rmspe(mu, np.array([get_dipole(f) for f in test])),
            rmspe(born, np.array([get_born_charges(f) for f in groups["born_test"]])))


def dimer():
    groups = dimer_splits()
    print(f"== water dimer (GFN2-xTB): {len(groups['born_train'])} Z* training configurations, "
          f"{len(groups['dipole_test']) + len(groups['born_test'])} dipole / "
          f"{len(groups['born_test'])} Z* test configurations")
    for label, options in MODELS.items():
        model, wall, _ = fit(groups["born_train"], options)
        dipole_error, born_error = dimer_errors(model, groups)
        print(f"{label:<8} dipole RMSPE {100 * dipole_error:.3f} %   Z* RMSPE {100 * born_error:.3f} %"
              f"   (λ = {model.regularization:.1e}, fit {wall:.0f} s)", flush=True)


def best_cpu_seconds(call, repeats=5):
    call()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        call()
        times.append(time.thread_time() - start)
    return min(times)


def cost(models, atoms):
    print(f"== cost, {len(atoms)}-atom water frame, single thread (time.thread_time, best of 5)")
    seconds = {label: best_cpu_seconds(lambda m=m: m.predict(atoms)) for label, m in models.items()}
    stds = {label: best_cpu_seconds(lambda m=m: m.predict_std(atoms), 2) for label, m in models.items()}
    for label in models:
        print(f"{label:<8} μ + all Z* {1000 * seconds[label]:7.1f} ms   predict_std {1000 * stds[label]:7.0f} ms")
    print(f"product / linear: μ + all Z* {seconds['product'] / seconds['linear']:.1f}x, "
          f"predict_std {stds['product'] / stds['linear']:.1f}x")


def main():
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    print(f"ase-dipole {ase_dipole.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}, load average at start "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    paper_water = load_paper_water()
    models = bulk("liquid water (the paper's RPBE-D3 set)", paper_water[:80], paper_water[80:])
    cost(models, paper_water[80])
    superionic = read_extxyz_born(SUPERIONIC)
    bulk("LES-BEC superionic water (2000 K)", superionic[:40], superionic[40:])
    dimer()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
