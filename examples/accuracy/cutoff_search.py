"""The automatic cut-off (``PolarizationModel(cutoff="auto")``) against the
4.0 Å default: held-out errors and fit times on the GFN2 water dimer (100 Z*
configurations → held-out dipoles and Z*) and on liquid water (the paper's RPBE-D3 set)
(frames 0–79 → 80–99).

Run (about 15 minutes on 2 cores)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python examples/accuracy/cutoff_search.py
"""

import os
import time

import ase.io
import numpy as np

import ase_dipole
from ase_dipole.io import load_paper_water
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.learning.model import PolarizationModel, rmspe


def fit(frames, cutoff):
    start = time.perf_counter()
    model = PolarizationModel(cutoff=cutoff).fit(frames, targets="born", progress=False)
    return model, time.perf_counter() - start


def describe(model):
    search = model.training_metrics.get("cutoff_search")
    if not search:
        return f"r_c {model.descriptor.cutoff:g} Å"
    losses = ", ".join(f"{c:g} Å: {loss:.4g}" for c, loss in zip(search["candidates"], search["cv_loss"]))
    return f"r_c {search['chosen']:g} Å chosen (CV loss on {len(search['frames'])} frames: {losses})"


def main():
    path = os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz")
    groups = {}
    for frame in ase.io.read(path, index=":"):
        groups.setdefault(frame.info["split"], []).append(frame)
    held_out = groups["dipole_test"] + groups["born_test"]
    mu_ref = np.array([get_dipole(a) for a in held_out])
    z_ref = np.array([get_born_charges(a) for a in groups["born_test"]])
    print("== water dimer, GFN2-xTB, 100 Z* configurations")
    for cutoff in (4.0, "auto"):
        model, seconds = fit(groups["born_train"], cutoff)
        mu = np.array([model.predict_dipole(a) for a in held_out])
        z = np.array([model.predict(a)[1] for a in groups["born_test"]])
        print(f"cutoff={cutoff!s:<5} dipole RMSPE {100 * rmspe(mu, mu_ref):.2f} %  Z* RMSPE "
              f"{100 * rmspe(z, z_ref):.2f} %  fit {seconds:.0f} s wall  {describe(model)}")
    paper_water = load_paper_water()
    print("== liquid water (the paper's RPBE-D3 set), 0-79 -> 80-99")
    for cutoff in (4.0, "auto"):
        model, seconds = fit(paper_water[:80], cutoff)
        predicted = np.concatenate([model.predict(a)[1].ravel() for a in paper_water[80:]])
        reference = np.concatenate([get_born_charges(a).ravel() for a in paper_water[80:]])
        print(f"cutoff={cutoff!s:<5} Z* RMSE {np.sqrt(np.mean((predicted - reference) ** 2)):.4f} e  "
              f"fit {seconds:.0f} s wall  {describe(model)}")


if __name__ == "__main__":
    main()
