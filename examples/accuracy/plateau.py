"""Past the linear plateau: the linear model with the species charges Z̄
fixed at the mean diagonal Z* (``charges="mean"``, today's default) and the
linear, product and kernel models with Z̄ fitted with the coefficients
(``charges="fit"``), all fitted on Z* alone and measured in one run (the
product model with fixed charges: ``product.py``):

1. liquid water (the paper's RPBE-D3 set) (train frames 0–79, test 80–99) and LES-BEC
   superionic water (frames 0–39 → 40–49): held-out and training Z* RMSE,
   cross-validated RMSE, λ, fitted Z̄, fit time (single-thread CPU).
2. Calibration of ``predict_std`` on the paper-water test frames for the
   linear model with fitted charges (shares within 1σ and 2σ).
3. Cost (single thread, ``time.thread_time``, best of 5): μ + all Z* of a
   192-atom water frame and ``predict_std``, each model against the linear
   one of the same run (models fitted on 4 frames: the cost does not depend
   on the training set).
4. ``predict_std(samples=K)`` against the exact σ: cost, and the ratio of
   the largest per-atom σ(Z*) (what the observer records) and of the mean σ
   to the exact ones on 5 liquid test frames and 5 superionic frames (never
   seen by the liquid model); the observer budget (σ every 10 rows).
5. GFN2 water dimer (100 Z* configurations → held-out dipole and Z*
   RMSPE) and Schienbein liquid water (5 → 10 frames, corrected index
   order), linear model with both charge settings and the kernel model.

Run (about 30 CPU-minutes; the parts are independent)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python examples/accuracy/plateau.py [--part PART ...]
"""

import argparse
import os
import time
import warnings

import numpy as np

import ase_dipole
from ase_dipole.io import load_paper_water, load_schienbein_water
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.io.water import read_extxyz_born
from ase_dipole.learning.model import PolarizationModel
from product import best_cpu_seconds, born_rmse, dimer_errors, dimer_splits

HERE = os.path.dirname(os.path.abspath(__file__))
SUPERIONIC = os.path.join(HERE, "data", "S-2cc-T2000K-BEC.xyz.gz")
MODELS = {"linear/mean": {"model": "linear", "charges": "mean"},
          "linear/fit": {"model": "linear", "charges": "fit"},
          "product/fit": {"model": "product", "charges": "fit"},
          "kernel/fit": {"model": "kernel", "charges": "fit"}}
#: posterior draws compared with the exact σ
SIGMA_SAMPLES = (1, 2, 4)


def fit(frames, options):
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PolarizationModel(**options).fit(frames, targets="born", progress=False)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def charges_text(model):
    return ", ".join(f"{s} {v:+.3f}" for s, v in model.mean_born_charges.items())


def bulk(name, train, test, models_to_fit):
    print(f"== {name}: {len(train)} training, {len(test)} test frames, Z* only")
    models = {}
    for label, options in models_to_fit.items():
        model, wall, cpu = fit(train, options)
        models[label] = model
        print(f"{label:<15} test Z* RMSE {born_rmse(model, test):.4f} e   train {born_rmse(model, train[::4]):.4f} e"
              f"   (cv {model.training_metrics['cv_rmse_born_charges_e']:.4f}, λ = {model.regularization:.1e},"
              f" Z̄ {charges_text(model)}; fit {wall:.0f} s wall, {cpu:.0f} s CPU)", flush=True)
    return models


def calibration(model, test):
    errors, sigmas = [], []
    for atoms in test:
        errors.append(np.abs(model.predict(atoms)[1] - get_born_charges(atoms)).ravel())
        sigmas.append(model.predict_std(atoms)[1].ravel())
    errors, sigmas = np.concatenate(errors), np.concatenate(sigmas)
    print(f"calibration, linear/fit on the paper-water test frames: |err| ≤ σ {np.mean(errors <= sigmas):.3f}, "
          f"≤ 2σ {np.mean(errors <= 2 * sigmas):.3f} (acceptance [0.55, 0.85] / [0.88, 0.995]); mean σ "
          f"{sigmas.mean():.4f} e", flush=True)


def cost(models, atoms):
    print(f"== cost, {len(atoms)}-atom water frame, single thread (time.thread_time, best of 5; "
          "predict_std best of 2)")
    seconds = {label: best_cpu_seconds(lambda m=m: m.predict(atoms)) for label, m in models.items()}
    stds = {label: best_cpu_seconds(lambda m=m: m.predict_std(atoms), 2) for label, m in models.items()}
    base, base_std = seconds["linear/mean"], stds["linear/mean"]
    for label in models:
        print(f"{label:<15} μ + all Z* {1000 * seconds[label]:7.1f} ms ({seconds[label] / base:.1f}x linear)"
              f"   predict_std {1000 * stds[label]:6.0f} ms ({stds[label] / base_std:.1f}x)", flush=True)


def sampled_sigma(model, label, liquid, superionic):
    """Cost and accuracy of predict_std(samples=K) against the exact σ."""
    from ase_dipole.learning.posterior import atom_sigma
    atoms = liquid[0]
    velocities = np.random.default_rng(0).normal(size=(len(atoms), 3)) * 0.01
    row = best_cpu_seconds(lambda: model.predict_pdot(atoms, velocities))
    exact = best_cpu_seconds(lambda: model.predict_std(atoms), 2)
    print(f"== predict_std(samples=K), {label}, {len(atoms)}-atom frame: observer row (predict_pdot) "
          f"{1000 * row:.1f} ms, exact σ {1000 * exact:.0f} ms (σ every 10 rows +{100 * exact / (10 * row):.0f} %)")
    for samples in SIGMA_SAMPLES:
        seconds = best_cpu_seconds(lambda k=samples: model.predict_std(atoms, samples=k))
        ratios = {}
        for name, frames in (("liquid", liquid), ("superionic", superionic)):
            largest, mean, epistemic = [], [], []
            for frame in frames:
                exact_std = model.predict_std(frame)[1]
                sampled_std = model.predict_std(frame, samples=samples)[1]
                largest.append(atom_sigma(sampled_std).max() / atom_sigma(exact_std).max())
                mean.append(sampled_std.mean() / exact_std.mean())
                epistemic.append(np.mean(model.predict_std(frame, include_noise=False, samples=samples)[1] ** 2)
                                 / np.mean(model.predict_std(frame, include_noise=False)[1] ** 2))
            ratios[name] = (np.mean(largest), np.min(largest), np.max(largest), np.mean(mean), np.mean(epistemic))
        text = "; ".join(f"{name}: largest per-atom σ {r[0]:.3f} (range {r[1]:.3f}-{r[2]:.3f}), mean σ "
                         f"{r[3]:.3f}, epistemic variance {r[4]:.3f} × exact" for name, r in ratios.items())
        print(f"K = {samples}: {1000 * seconds:.1f} ms (σ every 10 rows +{100 * seconds / (10 * row):.0f} %); "
              f"{text}", flush=True)


def dimer():
    groups = dimer_splits()
    print(f"== water dimer (GFN2-xTB): {len(groups['born_train'])} Z* training configurations, "
          f"{len(groups['dipole_test']) + len(groups['born_test'])} dipole / "
          f"{len(groups['born_test'])} Z* test configurations (today 0.41 % / 1.62 %)")
    for label in ("linear/mean", "linear/fit", "kernel/fit"):
        model, wall, _ = fit(groups["born_train"], MODELS[label])
        dipole_error, born_error = dimer_errors(model, groups)
        print(f"{label:<15} dipole RMSPE {100 * dipole_error:.3f} %   Z* RMSPE {100 * born_error:.3f} %"
              f"   (λ = {model.regularization:.1e}, Z̄ {charges_text(model)}, fit {wall:.0f} s)", flush=True)


def schienbein():
    train, test = load_schienbein_water("train"), load_schienbein_water("test")
    print(f"== Schienbein liquid water (corrected order): {len(train)} training, {len(test)} test frames")
    for label in ("linear/mean", "linear/fit", "kernel/fit"):
        model, wall, _ = fit(train, MODELS[label])
        print(f"{label:<15} test Z* RMSE {born_rmse(model, test):.4f} e   (λ = {model.regularization:.1e}, "
              f"Z̄ {charges_text(model)}, fit {wall:.0f} s)", flush=True)


PARTS = ("superionic", "paper-water-linear", "paper-water-product", "paper-water-kernel", "cost", "small")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=PARTS, action="append",
                        help="run only these parts (repeatable; they are independent, so they can "
                             "run in parallel processes); default all")
    parts = parser.parse_args().part or PARTS
    print(f"ase-dipole {ase_dipole.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS')}, load average at start "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; parts {', '.join(parts)}")
    superionic = read_extxyz_born(SUPERIONIC)
    paper_water = load_paper_water()
    if "superionic" in parts:
        bulk("LES-BEC superionic water (2000 K)", superionic[:40], superionic[40:], MODELS)
    if "paper-water-linear" in parts:
        linear = {label: MODELS[label] for label in ("linear/mean", "linear/fit")}
        models = bulk("liquid water (the paper's RPBE-D3 set)", paper_water[:80], paper_water[80:], linear)
        calibration(models["linear/fit"], paper_water[80:])
        for label in linear:
            sampled_sigma(models[label], label, paper_water[80:85], superionic[40:45])
    for kind in ("product", "kernel"):
        if f"paper-water-{kind}" in parts:
            bulk("liquid water (the paper's RPBE-D3 set)", paper_water[:80], paper_water[80:], {f"{kind}/fit": MODELS[f"{kind}/fit"]})
    if "cost" in parts:
        # the cost does not depend on the number of training frames: 4 frames fit each model
        models = {label: fit(paper_water[0:80:20], options)[0] for label, options in MODELS.items()}
        cost(models, paper_water[80])
    if "small" in parts:
        dimer()
        schienbein()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
