"""Acceptance figures of the polarization model (paper Sec. II.F, II.G).

1. Water dimer (GFN2-xTB, package data ``water_dimer_gfn2.extxyz.gz``):
   held-out dipole and Z* RMSPE of fits on 100 Z* configurations (Z* only,
   and μ + Z* combined) and on 500 dipoles; learning curves of the three
   kinds of fit (paper Fig. 1), table + plot.
2. Liquid water, default settings, Z* only: paper-water set (train frames 0–79,
   test 80–99) and Schienbein set (5 train, 10 test frames); learning curve
   on the paper-water set (5, 10, 20, 40, 80 frames).
3. Reproducibility: the same data and settings give a byte-identical model file.

Run (about 10 minutes on 2 cores)::

    python examples/accuracy/accuracy.py --outdir /tmp/accuracy
    python examples/accuracy/accuracy.py --cutoff-scan   # also r_c = 4.0 ... 5.5 Å on liquid water
"""

import argparse
import hashlib
import os
import time

import ase.io
import numpy as np

import ase_dipole
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.io import load_paper_water, load_schienbein_water
from ase_dipole.learning.learning_curve import learning_curve
from ase_dipole.learning.model import DEFAULT_CUTOFF, PolarizationModel, rmspe


def dimer_groups():
    path = os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz")
    groups = {}
    for frame in ase.io.read(path, index=":"):
        groups.setdefault(frame.info["split"], []).append(frame)
    return groups


def born_rmse(model, frames):
    predicted = np.array([model.predict(f)[1] for f in frames])
    reference = np.array([get_born_charges(f) for f in frames])
    return float(np.sqrt(np.mean((predicted - reference) ** 2))), rmspe(predicted, reference)


def dimer(outdir):
    g = dimer_groups()
    dipole_pool = sorted(g["dipole_train"] + g["born_train"], key=lambda f: f.info["step"])
    test = g["dipole_test"] + g["born_test"]
    print(f"== water dimer (GFN2-xTB): {len(g['born_train'])} Z* training, {len(g['born_test'])} Z* test, "
          f"{len(dipole_pool)} dipole training, {len(test)} dipole test configurations")
    mu_ref = np.array([get_dipole(f) for f in test])
    for label, targets, frames in (("Z* only, 100 configurations", "born", g["born_train"]),
                                   ("μ + Z* combined, 100 configurations", "both", g["born_train"]),
                                   ("μ only, 500 configurations", "dipole", dipole_pool)):
        start = time.perf_counter()
        model = PolarizationModel().fit(frames, targets=targets, progress=False)
        mu = np.array([model.predict_dipole(f) for f in test])
        _, born = born_rmse(model, g["born_test"])
        print(f"{label:<38} dipole RMSPE {100 * rmspe(mu, mu_ref):6.3f} %   Z* RMSPE {100 * born:6.3f} %"
              f"   (λ = {model.regularization:.1e}, fit {time.perf_counter() - start:.1f} s)")
    curve = learning_curve({"dipole": dipole_pool, "born": g["born_train"], "both": g["born_train"]}, test,
                           sizes=[5, 10, 20, 50, 100, 200, 500])
    print("learning curves (held-out; RMSPE = RMSE / std of the test set):")
    print(curve.table())
    curve.write_csv(os.path.join(outdir, "dimer_learning_curve.csv"))
    curve.plot(os.path.join(outdir, "dimer_learning_curve.png"), title="water dimer (GFN2-xTB)")


def liquid_water(outdir, cutoff_scan):
    paper_water = load_paper_water()
    train, test = paper_water[:80], paper_water[80:]
    s_train, s_test = load_schienbein_water("train"), load_schienbein_water("test")
    print(f"== liquid water, Z* only, default settings (r_c = {DEFAULT_CUTOFF} Å)")
    for name, tr, te in (("paper-water (train 0-79, test 80-99)", train, test),
                         ("Schienbein (5 train, 10 test)", s_train, s_test)):
        start = time.perf_counter()
        model = PolarizationModel().fit(tr, progress=False)
        elapsed = time.perf_counter() - start
        rmse, relative = born_rmse(model, te)
        print(f"{name:<36} Z* RMSE {rmse:.4f} e   RMSPE {100 * relative:.2f} %   "
              f"(λ = {model.regularization:.1e}, CV RMSE {model.training_metrics['cv_rmse_born_charges_e']:.4f} e, "
              f"fit {elapsed:.1f} s)")
    if cutoff_scan:
        print("cut-off scan (Z* RMSE on the test frames, e):")
        for cutoff in (4.0, 4.5, 5.0, 5.5):
            values = [born_rmse(PolarizationModel(cutoff=cutoff).fit(tr, progress=False), te)[0]
                      for tr, te in ((train, test), (s_train, s_test))]
            print(f"  r_c = {cutoff:.1f} Å   paper-water {values[0]:.4f}   Schienbein {values[1]:.4f}")
    curve = learning_curve({"born": train}, test, sizes=[5, 10, 20, 40, 80])
    print("learning curve, paper-water set (Z* only):")
    print(curve.table())
    curve.write_csv(os.path.join(outdir, "water_learning_curve.csv"))
    curve.plot(os.path.join(outdir, "water_learning_curve.png"), title="liquid water (the paper's RPBE-D3 set)")


def reproducibility(outdir):
    frames = dimer_groups()["born_train"][:20]
    digests = []
    for copy in range(2):
        path = os.path.join(outdir, f"model_{copy}.json")
        PolarizationModel().fit([f.copy() for f in frames], targets="born", progress=False).save(path)
        with open(path, "rb") as handle:
            digests.append(hashlib.sha256(handle.read()).hexdigest())
    print(f"== reproducibility: two fits of the same 20 frames -> sha256 {digests[0][:16]}… and "
          f"{digests[1][:16]}… ({'byte-identical' if digests[0] == digests[1] else 'DIFFERENT'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", default="accuracy_output", help="directory for CSV tables and plots")
    parser.add_argument("--cutoff-scan", action="store_true", help="also fit liquid water at r_c = 4.0–5.5 Å")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    print(f"ase-dipole {ase_dipole.__version__}")
    dimer(args.outdir)
    liquid_water(args.outdir, args.cutoff_scan)
    reproducibility(args.outdir)


if __name__ == "__main__":
    main()
