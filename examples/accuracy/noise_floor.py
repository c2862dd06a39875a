"""Is the superionic Z* floor (0.10 e) a data / locality limit or a model limit?

Measurements on the reference data and on fits to them (Z* only):

1. Acoustic sum rule Σ_i Z*_i per frame of the reference tensors (LES-BEC
   superionic water and liquid water (the paper's RPBE-D3 set)): uncorrelated per-atom noise
   σ_n would violate it by about σ_n·√N per component.
2. The antisymmetric part of the reference tensors, and how much of it a fit
   reproduces.
3. Residual structure of the linear model (the defaults, Z̄ fixed at the
   mean diagonal): the frame mean of the residuals of each species against
   the σ/√n of independent residuals, the error left after removing one
   constant tensor per frame and species, the residual correlation with
   distance (0–6 Å) and the mean diagonal Z* of each species predicted vs
   reference; the same with the charges fitted (``charges="fit"``).
4. Error against the cut-off (3–6 Å) with both charge settings.
5. A deliberately over-flexible fit (n_max 12, l_max 6, λ = 1e-7, 6960
   coefficients): training vs held-out error.

Superionic: frames 0–39 → 40–49 (``data/S-2cc-T2000K-BEC.xyz.gz``); paper-water:
frames 0–79 → 80–99 (the package's copy).

Run (about 30 CPU-minutes)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python examples/accuracy/noise_floor.py
"""

import argparse
import os
import time
import warnings

import numpy as np

import ase_dipole
from ase_dipole.io import load_paper_water
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.io.water import read_extxyz_born
from ase_dipole.learning.model import PolarizationModel

HERE = os.path.dirname(os.path.abspath(__file__))
SUPERIONIC = os.path.join(HERE, "data", "S-2cc-T2000K-BEC.xyz.gz")
DISTANCE_BINS_A = np.arange(0.0, 6.5, 0.5)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def fit_predict(train, test, **options):
    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PolarizationModel(**options)
        model._with_uncertainty = False
        model.fit(train, targets="born", progress=False)
    seconds = time.process_time() - start
    predicted = {name: np.array([model.predict(a)[1] for a in frames])
                 for name, frames in (("train", train), ("test", test))}
    return model, predicted, seconds


def reference(frames):
    return np.array([get_born_charges(a) for a in frames])


def sum_rule(name, frames):
    Z = reference(frames)
    violation = Z.sum(axis=1)
    n_atoms = Z.shape[1]
    antisymmetric = 0.5 * (Z - Z.transpose(0, 1, 3, 2))[..., [0, 0, 1], [1, 2, 2]]
    symmetric = 0.5 * (Z + Z.transpose(0, 1, 3, 2))[..., [0, 0, 1], [1, 2, 2]]
    print(f"{name}: {len(Z)} frames × {n_atoms} atoms; |Σ_i Z*_i| RMS {rms(violation):.1e} e, "
          f"max {np.abs(violation).max():.1e} e per component -> uncorrelated per-atom noise "
          f"≤ {rms(violation) / np.sqrt(n_atoms):.1e} e; antisymmetric part RMS {rms(antisymmetric):.4f} e "
          f"(symmetric off-diagonal {rms(symmetric):.4f} e)")


def residual_report(label, numbers, frames, predicted, ref):
    error = (predicted - ref).reshape(len(ref), len(numbers), 9)
    parts = []
    for z, symbol in ((1, "H"), (8, "O")):
        mine = numbers == z
        frame_mean = error[:, mine].mean(axis=1)
        parts.append(f"{symbol} {rms(frame_mean):.4f} (indep. {rms(error[:, mine]) / np.sqrt(mine.sum()):.4f})")
    removed = error.copy()
    for z in (1, 8):
        mine = numbers == z
        removed[:, mine] -= removed[:, mine].mean(axis=1, keepdims=True)
    diag = []
    for z, symbol in ((1, "H"), (8, "O")):
        mine = numbers == z
        diag.append(f"{symbol} {np.trace(predicted[:, mine], axis1=2, axis2=3).mean() / 3:+.3f} vs "
                    f"{np.trace(ref[:, mine], axis1=2, axis2=3).mean() / 3:+.3f}")
    anti_error = 0.5 * (predicted - ref - (predicted - ref).transpose(0, 1, 3, 2))[..., [0, 0, 1], [1, 2, 2]]
    anti_ref = 0.5 * (ref - ref.transpose(0, 1, 3, 2))[..., [0, 0, 1], [1, 2, 2]]
    print(f"  {label}: RMSE {rms(error):.4f} e; frame-mean residual {', '.join(parts)}; "
          f"one constant per frame and species removed -> {rms(removed):.4f} e")
    print(f"  {label}: mean diagonal Z* predicted vs reference {'; '.join(diag)}; antisymmetric part "
          f"error {rms(anti_error):.4f} of {rms(anti_ref):.4f} e")
    total = np.mean(error ** 2) * 9
    numerator = np.zeros(len(DISTANCE_BINS_A) - 1)
    count = np.zeros(len(DISTANCE_BINS_A) - 1)
    for f, atoms in enumerate(frames):
        distances = atoms.get_all_distances(mic=True)
        upper = np.triu_indices(len(atoms), 1)
        products = (error[f] @ error[f].T)[upper]
        index = np.digitize(distances[upper], DISTANCE_BINS_A) - 1
        ok = (index >= 0) & (index < len(count))
        np.add.at(numerator, index[ok], products[ok])
        np.add.at(count, index[ok], 1)
    shown = [f"{DISTANCE_BINS_A[i]:.1f}-{DISTANCE_BINS_A[i + 1]:.1f} {numerator[i] / count[i] / total:+.3f}"
             for i in range(len(count)) if count[i]]
    print(f"  {label}: residual correlation <e_i·e_j>/<e·e> by distance (Å): {', '.join(shown)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-flexible", action="store_true", help="skip the over-flexible fits")
    args = parser.parse_args()
    print(f"ase-dipole {ase_dipole.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    superionic = read_extxyz_born(SUPERIONIC)
    paper_water = load_paper_water()
    print("== 1-2. sum rule and antisymmetric part of the reference tensors")
    sum_rule("superionic LES-BEC", superionic)
    sum_rule("paper-water liquid", paper_water)
    sets = {"superionic LES-BEC 0-39 -> 40-49": (superionic[:40], superionic[40:]),
            "paper-water 0-79 -> 80-99": (paper_water[:80], paper_water[80:])}
    print("== 3. residuals of the linear model (defaults: r_c 4 Å, n_max 8, l_max 4)")
    for name, (train, test) in sets.items():
        ref = reference(test)
        for charges in ("mean", "fit"):
            model, predicted, seconds = fit_predict(train, test, charges=charges)
            train_error = rms(predicted["train"] - reference(train))
            print(f"{name}, charges={charges}: train {train_error:.4f} e, test "
                  f"{rms(predicted['test'] - ref):.4f} e (λ = {model.regularization:.1e}, "
                  f"Z̄ {', '.join(f'{s} {v:+.3f}' for s, v in model.mean_born_charges.items())}; "
                  f"fit {seconds:.0f} s CPU)")
            residual_report("test", test[0].numbers, test, predicted["test"], ref)
    print("== 4. error against the cut-off, superionic 0-39 -> 40-49 (train / test Z* RMSE, e)")
    train, test = sets["superionic LES-BEC 0-39 -> 40-49"]
    for cutoff in (3.0, 4.0, 5.0, 6.0):
        line = []
        for charges in ("mean", "fit"):
            _, predicted, _ = fit_predict(train, test, cutoff=cutoff, charges=charges)
            line.append(f"charges={charges} {rms(predicted['train'] - reference(train)):.4f} / "
                        f"{rms(predicted['test'] - reference(test)):.4f}")
        print(f"  r_c = {cutoff:.1f} Å: {'   '.join(line)}")
    if not args.skip_flexible:
        print("== 5. over-flexible linear fit (n_max 12, l_max 6, λ = 1e-7), superionic 0-39 -> 40-49")
        for charges in ("mean", "fit"):
            model, predicted, seconds = fit_predict(train, test, n_max=12, l_max=6, regularization=1e-7,
                                                    charges=charges)
            print(f"  charges={charges}: {model.coefficients.size} coefficients, train "
                  f"{rms(predicted['train'] - reference(train)):.4f} e, test "
                  f"{rms(predicted['test'] - reference(test)):.4f} e (fit {seconds:.0f} s CPU)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
