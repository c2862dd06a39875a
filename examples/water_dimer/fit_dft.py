"""Fit the polarization model to the B3LYP/def2-SVP water-dimer subset on
Born charges only and report held-out errors (paper Sec. II.F with DFT labels).

Usage: python examples/water_dimer/fit_dft.py [--data water_dimer_b3lyp.extxyz.gz]
"""

import argparse
import gzip
import os

import numpy as np
from ase.io import read

from ase_dipole import PolarizationModel, get_born_charges, get_dipole, rmspe

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(HERE, "water_dimer_b3lyp.extxyz.gz"))
    args = parser.parse_args()
    with gzip.open(args.data, "rt") as handle:
        frames = read(handle, ":", format="extxyz")
    train = [f for f in frames if f.info["split"] == "born_train"]
    test = [f for f in frames if f.info["split"] == "born_test"]
    model = PolarizationModel().fit(train, targets="born", progress=False)
    predicted = [model.predict(f) for f in test]
    dipole_ref = np.array([get_dipole(f) for f in test])
    born_ref = np.array([get_born_charges(f) for f in test])
    dipole = np.array([p[0] for p in predicted])
    born = np.array([p[1] for p in predicted])
    print(f"B3LYP/def2-SVP water dimer: {len(train)} Z* training frames, {len(test)} test frames")
    print(f"held-out dipole RMSPE {100 * rmspe(dipole, dipole_ref):.2f} %  "
          f"(RMSE {np.sqrt(np.mean((dipole - dipole_ref) ** 2)):.4f} e·Å)")
    print(f"held-out Z* RMSPE     {100 * rmspe(born, born_ref):.2f} %  "
          f"(RMSE {np.sqrt(np.mean((born - born_ref) ** 2)):.4f} e)")


if __name__ == "__main__":
    main()
