"""Learn the polarizability of water from its nuclear derivatives (PySCF references).

48 water geometries (random displacements of 0.05 Å rms per coordinate about
the ASE geometry, each randomly rotated) are labelled with the Hartree–Fock
α (analytic CPHF) and ∂α/∂x (central differences) through the cached,
resumable labelling of ``ase-dipole label --property polarizability``; 32
are for training, 16 held out. For growing training sets the script fits

* ∂α/∂x alone (the per-species constant of the trace stays unfit),
* ∂α/∂x plus α of at most 5 frames,
* α alone,

and prints the held-out RMSPE (RMSE / std of the reference, %) of α, of its
anisotropic (traceless) part and of the trace's fluctuations (trace minus its
mean), and writes them to learning_curve.json beside this file.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 nice -n 15 python water_polarizability.py [--basis 6-31g]
"""

import argparse
import json
import os
import time

import numpy as np
from ase.build import molecule
from scipy.spatial.transform import Rotation

from ase_dipole.atomic import write_text_atomic
from ase_dipole.learning.model import rmspe
from ase_dipole.learning.polarizability import PolarizabilityModel
from ase_dipole.reference.parallel import label_frames_parallel

HERE = os.path.dirname(os.path.abspath(__file__))
N_FRAMES, N_TRAIN = 48, 32
SIZES = (2, 4, 8, 16, 32)
MAX_ALPHA_FRAMES = 5


def geometries(n_frames, seed=0):
    rng = np.random.default_rng(seed)
    base = molecule("H2O")
    frames = []
    for index in range(n_frames):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.positions = atoms.positions @ Rotation.random(random_state=seed * 1000 + index).as_matrix().T
        frames.append(atoms)
    return frames


def errors(model, test):
    reference = np.array([frame.info["polarizability"] for frame in test])
    predicted = np.array([model.predict_polarizability(frame) for frame in test])

    def parts(values):
        trace = np.trace(values, axis1=1, axis2=2)
        return values - trace[:, None, None] / 3 * np.eye(3), trace - trace.mean()

    (aniso_p, fluct_p), (aniso_r, fluct_r) = parts(predicted), parts(reference)
    return {"alpha_rmspe_percent": 100 * rmspe(predicted, reference),
            "anisotropic_rmspe_percent": 100 * rmspe(aniso_p, aniso_r),
            "trace_fluctuation_rmspe_percent": 100 * rmspe(fluct_p, fluct_r)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xc", default="hf")
    parser.add_argument("--basis", default="6-31g")
    parser.add_argument("--cache", default=os.path.join(HERE, "labels.cache"))
    args = parser.parse_args()
    start = time.process_time()
    run = label_frames_parallel(geometries(N_FRAMES), cache_dir=args.cache, method="pyscf",
                                options={"xc": args.xc, "basis": args.basis}, dipole=False,
                                born_charges=False, polarizability=True)
    if run.failures:
        raise SystemExit(f"{len(run.failures)} frames failed: {run.failures[0]['error']}")
    label_cpu = time.process_time() - start
    frames = run.frames
    train, test = frames[:N_TRAIN], frames[N_TRAIN:]
    results = {"reference": f"{args.xc}/{args.basis} (PySCF, CPHF α, ∂α/∂x by central differences)",
               "n_test": len(test), "label_cpu_s_this_run": label_cpu, "curves": []}
    for size in SIZES:
        subset = [frame.copy() for frame in train[:size]]
        for frame in subset[MAX_ALPHA_FRAMES:]:
            del frame.info["polarizability"]
        fits = {
            "dalpha_only": (train[:size], {"alpha": 0.0, "dalpha": 1.0}),
            f"dalpha_plus_alpha_of_{min(size, MAX_ALPHA_FRAMES)}": (subset, {"alpha": 1.0, "dalpha": 1.0}),
            "alpha_only": (train[:size], {"alpha": 1.0, "dalpha": 0.0}),
        }
        for name, (data, weights) in fits.items():
            folds = min(4, size)
            model = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=4).fit(data, weights=weights, n_folds=folds)
            row = {"n_train": size, "fit": name, "regularization": model.fit_report["regularization"],
                   **errors(model, test)}
            results["curves"].append(row)
            print(f"{size:3d} {name:28s} α {row['alpha_rmspe_percent']:9.3f} %   anisotropic "
                  f"{row['anisotropic_rmspe_percent']:8.3f} %   trace fluctuation "
                  f"{row['trace_fluctuation_rmspe_percent']:8.3f} %")
    write_text_atomic(os.path.join(HERE, "learning_curve.json"), json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
