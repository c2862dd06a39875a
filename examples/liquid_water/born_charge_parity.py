"""The paper's Fig. 2 with the package's default model: Z* parity on liquid water.

The paper's own RPBE-D3 Born-charge set (:func:`ase_dipole.io.load_paper_water`,
100 frames × 192 atoms) is cut into five contiguous folds of 20 frames. For
each fold the default :class:`ase_dipole.learning.model.PolarizationModel`
(its λ chosen by its own 5-fold cross-validation on the 80 training frames)
is fitted on the other 80 frames and predicts the held-out 20. Two figures:

``parity_80_20.png``
    the fold holding out frames 80–99: training (0–79) and held-out panels;
``parity_cv5.png``
    all 100 frames, each predicted by the model that did not see it (the
    way the paper reports a model trained on all 100).

``parity.json`` holds RMSE and RMSPE per element and overall of every panel
and each fold's λ. Models are cached in ``work/parity/`` (git-ignored), so a
rerun only redraws.

Usage::

    OMP_NUM_THREADS=1 python examples/liquid_water/born_charge_parity.py
"""

import argparse
import json
import os
import time

import numpy as np

from ase_dipole.atomic import write_text_atomic
from ase_dipole.io import load_paper_water
from ase_dipole.learning.model import PolarizationModel
from ase_dipole.learning.parity import born_charge_parity, predicted_and_reference
from ase_dipole.provenance import provenance

HERE = os.path.dirname(os.path.abspath(__file__))
N_FOLDS = 5


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--outdir", default=os.path.join(HERE, "results"),
                        help="where the figures and parity.json go")
    parser.add_argument("--work", default=os.path.join(HERE, "work", "parity"),
                        help="cache of the fitted models")
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    frames = load_paper_water()
    size = len(frames) // N_FOLDS
    folds = [list(range(k * size, (k + 1) * size)) for k in range(N_FOLDS)]
    out_of_fold, lambdas, seconds = [], [], []
    for k, held in enumerate(folds):
        path = os.path.join(args.work, f"model_without_{held[0]:02d}_{held[-1]:02d}.json")
        training = [frame for index, frame in enumerate(frames) if index not in held]
        if not os.path.exists(path):
            start = time.process_time()
            PolarizationModel().fit(training, targets="born", progress=False).save(path)
            write_text_atomic(path + ".cpu_s", f"{time.process_time() - start}\n")
        model = PolarizationModel.load(path)
        with open(path + ".cpu_s") as handle:
            seconds.append(float(handle.read()))
        lambdas.append(model.regularization)
        out_of_fold.append(predicted_and_reference(model, [frames[i] for i in held]))
        if held[0] == 80:
            last = (model, training, [frames[i] for i in held])
    model, training, held_out = last
    statistics = {}
    statistics["80_20"] = born_charge_parity(
        {"training: frames 0–79": training, "held out: frames 80–99": held_out},
        os.path.join(args.outdir, "parity_80_20.png"), model=model,
        title="default model, RPBE-D3 liquid water (paper's set)")
    reference = np.concatenate([part[0] for part in out_of_fold])
    predicted = np.concatenate([part[1] for part in out_of_fold])
    symbols = [symbol for part in out_of_fold for symbol in part[2]]
    statistics["cv5"] = born_charge_parity(
        {"5-fold CV: 100 frames, each by the model without it":
         (reference, predicted, symbols)},
        os.path.join(args.outdir, "parity_cv5.png"),
        title="default model, RPBE-D3 liquid water (paper's set)")
    record = dict(statistics=statistics, folds=[[f[0], f[-1]] for f in folds],
                  regularization_per_fold=lambdas,
                  cpu_s_per_fit=seconds, load_average=list(os.getloadavg()),
                  provenance=provenance())
    write_text_atomic(os.path.join(args.outdir, "parity.json"), json.dumps(record, indent=1) + "\n")
    for name, panels in statistics.items():
        for label, table in panels.items():
            print(f"{name} | {label}")
            for element, row in table.items():
                print(f"    {element:>3}: RMSE {row['rmse_e']:.4f} e, RMSPE {row['rmspe_percent']:.2f} %"
                      f" ({row['n_atoms']} atoms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
