"""Index order of the Schienbein liquid-water APTs, decided across data sets:
transposing Z* flips exactly its antisymmetric part, so a model trained on
data of known order (paper-water, VASP: rows = field) must predict the
antisymmetric parts of correctly ordered data with a positive correlation."""

import numpy as np
import pytest

from ase_dipole.io import load_paper_water, load_schienbein_water
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.learning.model import PolarizationModel


def _antisymmetric(born):
    A = 0.5 * (born - born.transpose(0, 2, 1))
    return np.concatenate([A[:, 0, 1], A[:, 0, 2], A[:, 1, 2]])


@pytest.fixture(scope="module")
def paper_water_model():
    frames = load_paper_water(index="0:80:8")
    return PolarizationModel(cutoff=4.0, n_max=4, l_max=2).fit(frames, targets="born", progress=False)


def test_schienbein_files_hold_the_transpose(paper_water_model):
    control = load_paper_water(index="90:91")[0]
    corr = {}
    for name, atoms in (("paper_water", control),
                        ("schienbein", load_schienbein_water("test")[0]),
                        ("schienbein as stored", load_schienbein_water("test", order="dipole-first")[0])):
        predicted = _antisymmetric(paper_water_model.predict(atoms)[1])
        corr[name] = np.corrcoef(predicted, _antisymmetric(get_born_charges(atoms)))[0, 1]
    assert corr["paper_water"] > 0.5
    assert corr["schienbein"] > 0.5
    assert corr["schienbein as stored"] == pytest.approx(-corr["schienbein"])
