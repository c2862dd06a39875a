"""Defaults chosen by frame-grouped cross-validation on molecules (issue 23,
item 4): ``cutoff=None`` searches the cut-off when every training frame is
finite, ``model="auto"`` compares the linear and the kernel model at each
candidate cut-off; periodic sets keep the 4 Å linear model."""

import numpy as np
import pytest

from ase_dipole.learning.model import (AUTO_MODELS, CUTOFF_CANDIDATES, DEFAULT_CUTOFF,
                                       PolarizationModel)

OPTIONS = dict(n_max=3, l_max=2, kernel_references=8, n_invariants=4, n_vectors=4)


@pytest.fixture(scope="module")
def searched(dimer):
    frames = dimer["born_train"][:10]
    return frames, PolarizationModel(**OPTIONS).fit(frames, targets="born", progress=False)


def test_finite_training_set_searches_cutoff_and_model(searched):
    frames, model = searched
    search = model.training_metrics["cutoff_search"]
    assert sorted(zip(search["models"], search["candidates"])) == sorted(
        (m, c) for m in AUTO_MODELS for c in CUTOFF_CANDIDATES)
    best = int(np.argmin(search["cv_loss"]))
    assert (model.kind, model.descriptor.cutoff) == (search["models"][best], search["candidates"][best])
    # each loss is the cross-validated loss of that fit on the same frames and λ grid
    # (every other λ of the default grid)
    assert search["regularization_grid"] == list(PolarizationModel().parameters["regularization_grid"][::2])
    subset = [frames[i] for i in search["frames"]]
    for form, cutoff, loss in list(zip(search["models"], search["candidates"], search["cv_loss"]))[::5]:
        trial = PolarizationModel(**dict(OPTIONS, cutoff=cutoff, model=form,
                                         regularization_grid=search["regularization_grid"])).fit(
            subset, targets="born", progress=False)
        assert loss == pytest.approx(min(trial.cross_validation["loss"]), rel=1e-9)


def test_searched_model_round_trips(searched, dimer, tmp_path):
    _, model = searched
    model.save(tmp_path / "auto.json")
    loaded = PolarizationModel.load(tmp_path / "auto.json")
    assert loaded.kind == model.kind and loaded.descriptor.cutoff == model.descriptor.cutoff
    atoms = dimer["born_test"][0]
    np.testing.assert_allclose(loaded.predict(atoms)[1], model.predict(atoms)[1], rtol=0, atol=1e-12)


def test_periodic_or_given_cutoff_keeps_the_linear_default(dimer):
    frames = []
    for atoms in dimer["born_train"][:4]:
        boxed = atoms.copy()
        boxed.cell = np.eye(3) * 12.0
        boxed.pbc = True
        boxed.arrays["born_charges"] = atoms.arrays["born_charges"]
        frames.append(boxed)
    periodic = PolarizationModel(n_max=3, l_max=2).fit(frames, targets="born", progress=False)
    assert "cutoff_search" not in periodic.training_metrics
    assert (periodic.kind, periodic.descriptor.cutoff) == ("linear", DEFAULT_CUTOFF)
    given = PolarizationModel(cutoff=5.0, n_max=3, l_max=2).fit(dimer["born_train"][:4],
                                                                targets="born", progress=False)
    assert "cutoff_search" not in given.training_metrics
    assert (given.kind, given.descriptor.cutoff) == ("linear", 5.0)
