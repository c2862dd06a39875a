"""Acceptance figures of the uncertainty, the active selection and the
default accuracy (issue "trust the Born charges").

1. Calibration: default model fitted on paper-water frames 0–79 (Z* only),
   held-out frames 80–99: Z* RMSE, share of Z* components with |error| ≤ σ
   and ≤ 2σ, Spearman correlation of per-frame σ and per-frame error, mean σ;
   mean σ on LES-BEC superionic water (a configuration space the model never
   saw) and its ratio to the liquid test frames.
2. Default accuracy: superionic water (LES-BEC, frames 0–39 → 40–49),
   Schienbein liquid water (5 → 10, in the corrected index order), GFN2 water
   dimer (100 Z* → held-out dipole / Z* RMSPE).
3. Active selection: from paper-water frames 0–9, add 10 frames chosen from
   10–79 by uncertainty (``select_frames(by="uncertainty")``), by farthest
   point sampling, and at random (5 seeds); Z* RMSE on frames 80–99.
4. Cost (single thread, ``time.thread_time``): μ + all Z* of a 192-atom
   water frame, ``predict_pdot`` (an observer row), ``predict_std``; the
   observer's cost with σ every 10 rows relative to without.

Run (about 20 minutes on 2 cores)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python examples/accuracy/uncertainty.py
"""

import argparse
import os
import time

import ase.io
import numpy as np
from scipy.stats import spearmanr

import ase_dipole
from ase_dipole.io import load_paper_water, load_schienbein_water
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.io.water import read_extxyz_born
from ase_dipole.learning.model import PolarizationModel, rmspe
from ase_dipole.learning.selection import select_frames

HERE = os.path.dirname(os.path.abspath(__file__))
SUPERIONIC = os.path.join(HERE, "data", "S-2cc-T2000K-BEC.xyz.gz")


def fit(frames, **options):
    start = time.perf_counter()
    model = PolarizationModel(**options).fit(frames, targets="born", progress=False)
    return model, time.perf_counter() - start


def errors_and_sigmas(model, frames):
    """Per-component |error| and σ (flat), per-frame RMS error and RMS σ."""
    errors, sigmas = [], []
    for atoms in frames:
        errors.append(model.predict(atoms)[1] - get_born_charges(atoms))
        sigmas.append(model.predict_std(atoms)[1])
    frame_error = np.array([np.sqrt(np.mean(e ** 2)) for e in errors])
    frame_sigma = np.array([np.sqrt(np.mean(s ** 2)) for s in sigmas])
    return (np.abs(np.concatenate([e.ravel() for e in errors])),
            np.concatenate([s.ravel() for s in sigmas]), frame_error, frame_sigma)


def born_rmse(model, frames):
    predicted = np.concatenate([model.predict(a)[1].ravel() for a in frames])
    reference = np.concatenate([get_born_charges(a).ravel() for a in frames])
    return float(np.sqrt(np.mean((predicted - reference) ** 2)))


def calibration(paper_water, superionic):
    print("== 1. calibration: default model, paper-water frames 0-79 -> 80-99 (Z* only)")
    model, seconds = fit(paper_water[:80])
    error, sigma, frame_error, frame_sigma = errors_and_sigmas(model, paper_water[80:])
    rho = spearmanr(frame_sigma, frame_error)
    print(f"fit {seconds:.1f} s wall (λ = {model.regularization:.1e}, noise σ_n = "
          f"{np.sqrt(model._fitted()['posterior'].noise_variance['born']):.4f} e from CV residuals)")
    print(f"paper-water 80->20 Z* RMSE {np.sqrt(np.mean(error ** 2)):.4f} e   (acceptance ≤ 0.0175 e)")
    print(f"share |err| <= 1σ {np.mean(error <= sigma):.3f}   (acceptance [0.55, 0.85])")
    print(f"share |err| <= 2σ {np.mean(error <= 2 * sigma):.3f}   (acceptance [0.88, 0.995])")
    print(f"Spearman(per-frame σ, per-frame error) {rho.statistic:.3f} (p = {rho.pvalue:.2g}, 20 frames)")
    _, s_sigma, _, _ = errors_and_sigmas(model, superionic)
    print(f"mean σ: liquid test {sigma.mean():.4f} e, superionic (LES-BEC, 50 frames) "
          f"{s_sigma.mean():.4f} e, ratio {s_sigma.mean() / sigma.mean():.1f}   (acceptance ≥ 2)")
    print(f"default flagging threshold (largest per-atom σ): {model.uncertainty_threshold:.4f} e")
    return model


def default_accuracy(superionic):
    print("== 2. default accuracy")
    model, seconds = fit(superionic[:40])
    print(f"superionic LES-BEC 0-39 -> 40-49  Z* RMSE {born_rmse(model, superionic[40:]):.4f} e   "
          f"(fit {seconds:.1f} s; acceptance ≤ 0.10 e)")
    train, test = load_schienbein_water("train"), load_schienbein_water("test")
    model, _ = fit(train)
    print(f"Schienbein 5 -> 10 (corrected order, file transposed on reading)  Z* RMSE "
          f"{born_rmse(model, test):.4f} e")
    path = os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz")
    groups = {}
    for frame in ase.io.read(path, index=":"):
        groups.setdefault(frame.info["split"], []).append(frame)
    model, _ = fit(groups["born_train"])
    held_out = groups["dipole_test"] + groups["born_test"]
    mu = np.array([model.predict_dipole(a) for a in held_out])
    mu_ref = np.array([get_dipole(a) for a in held_out])
    z = np.array([model.predict(a)[1] for a in groups["born_test"]])
    z_ref = np.array([get_born_charges(a) for a in groups["born_test"]])
    print(f"GFN2 water dimer, 100 Z*: dipole RMSPE {100 * rmspe(mu, mu_ref):.2f} %, Z* RMSPE "
          f"{100 * rmspe(z, z_ref):.2f} %   (acceptance ≤ 0.41 % / 1.62 %)")


def active_selection(paper_water, seeds):
    print("== 3. active selection: paper-water 0-9 + 10 of frames 10-79, test 80-99 (Z* RMSE, e)")
    base, _ = fit(paper_water[:10])
    pool = paper_water[10:80]
    test = paper_water[80:]
    print(f"10 frames only: {born_rmse(base, test):.4f}")
    results = {}
    chosen = select_frames(pool, 10, by="uncertainty", model=base)
    results["uncertainty"] = born_rmse(fit(paper_water[:10] + [pool[i] for i in chosen])[0], test)
    print(f"+10 by uncertainty (frames {sorted(int(i) + 10 for i in chosen)}): {results['uncertainty']:.4f}")
    chosen = select_frames(pool, 10, by="fps", model=base)
    results["fps"] = born_rmse(fit(paper_water[:10] + [pool[i] for i in chosen])[0], test)
    print(f"+10 by farthest points (frames {sorted(int(i) + 10 for i in chosen)}): {results['fps']:.4f}")
    random = []
    for seed in range(seeds):
        picks = np.random.default_rng(seed).choice(len(pool), 10, replace=False)
        random.append(born_rmse(fit(paper_water[:10] + [pool[i] for i in picks])[0], test))
    print(f"+10 at random, {seeds} seeds: mean {np.mean(random):.4f} (each: "
          f"{', '.join(f'{r:.4f}' for r in random)})")
    print(f"uncertainty vs random: {100 * (1 - results['uncertainty'] / np.mean(random)):+.1f} % lower error")


def cost(model, paper_water):
    print("== 4. cost, one thread (time.thread_time), 192-atom water frame")
    atoms = paper_water[90].copy()
    velocities = np.random.default_rng(0).normal(scale=0.01, size=(len(atoms), 3))

    def timed(function, repeats):
        function()
        start = time.thread_time()
        for _ in range(repeats):
            function()
        return (time.thread_time() - start) / repeats

    born = timed(lambda: model.predict(atoms), 10)
    pdot = timed(lambda: model.predict_pdot(atoms, velocities), 10)
    std = timed(lambda: model.predict_std(atoms), 3)
    print(f"μ + all Z* {1e3 * born:.1f} ms (default model = the linear model: ratio 1.0; acceptance ≤ 3)")
    print(f"observer row (predict_pdot) {1e3 * pdot:.1f} ms; predict_std {1e3 * std:.0f} ms")
    print(f"predict_std every 10 rows adds {100 * std / 10 / pdot:.0f} % to an observer row "
          f"(acceptance ≤ 20 %)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="random selections to average")
    args = parser.parse_args()
    print(f"ase-dipole {ase_dipole.__version__}")
    paper_water = load_paper_water()
    superionic = read_extxyz_born(SUPERIONIC)
    model = calibration(paper_water, superionic)
    cost(model, paper_water)
    default_accuracy(superionic)
    active_selection(paper_water, args.seeds)


if __name__ == "__main__":
    main()
