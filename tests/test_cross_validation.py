"""Cross-validation that measures what it claims: identical training frames
are kept in one fold (issue 27: 20 identical frames gave a cross-validation
error equal to the training error, silently)."""

import warnings

import numpy as np
import pytest

from ase_dipole.learning import ridge
from ase_dipole.learning.model import PolarizationModel

SMALL = dict(cutoff=4.0, n_max=4, l_max=2)


def test_folds_without_repeats_are_the_contiguous_blocks():
    for n, k in [(10, 5), (64, 5), (7, 3), (2, 2)]:
        assert ridge.grouped_folds(np.arange(n), k).tolist() == [i * k // n for i in range(n)]


def test_identical_frames_share_a_group_and_a_fold(dimer):
    frames = dimer["born_train"][:6]
    moved = frames[2].copy()
    moved.positions[0, 0] += 1e-4  # a different frame, not a repeat
    groups = ridge.identical_frame_groups(frames + [frames[4].copy(), moved, frames[0].copy()])
    assert groups.tolist() == [0, 1, 2, 3, 4, 5, 4, 6, 0]
    folds = ridge.grouped_folds(groups, 3)
    assert folds[6] == folds[4] and folds[8] == folds[0]


def test_twenty_identical_frames_cannot_be_cross_validated(dimer):
    frames = [dimer["born_train"][0].copy() for _ in range(20)]
    with pytest.raises(ValueError, match=r"needs at least 2 distinct training frames, but all 20 are "
                                         r"identical .*; give distinct frames, or a regularization"):
        PolarizationModel(**SMALL).fit(frames, progress=False)
    PolarizationModel(**SMALL, regularization=1e-6).fit(frames, progress=False)


def test_a_repeated_training_set_has_the_cross_validation_error_of_the_set(dimer):
    """A + A has, fold by fold, twice the normal equations of A (each copy in
    the fold of its original): the same relative λ and the same validation
    RMSE. Split across folds, the copies would make it a training error."""
    frames = dimer["born_train"][:10]
    once = PolarizationModel(**SMALL).fit(frames, progress=False)
    with pytest.warns(UserWarning, match=r"training frame\(s\) 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 "
                                         r"repeat an earlier frame .*20 frames, 10 distinct; identical "
                                         r"frames are kept in one cross-validation fold"):
        twice = PolarizationModel(**SMALL).fit(frames + frames, progress=False)  # with their dipoles
    assert twice.regularization == once.regularization
    for key in ("cv_rmse_born_charges_e", "cv_rmse_dipole_eA"):
        assert twice.training_metrics[key] == pytest.approx(once.training_metrics[key], rel=1e-6)
    assert twice.training_metrics["cv_rmse_born_charges_e"] > 1.5 * twice.training_metrics["rmse_born_charges_e"]


def test_distinct_frames_give_no_repeat_warning(dimer):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="training frame")
        PolarizationModel(**SMALL).fit(dimer["born_train"][:6], progress=False)


def synthetic_equations(n_frames, n_columns, n_folds, seed=2):
    """Normal equations of a noisy linear problem with 18 Z*-like and 3
    dipole-like rows per frame, column norms spread over 30x, one dead column."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n_columns)
    spread = np.linspace(0.1, 3.0, n_columns)
    equations = ridge.NormalEquations(n_columns, n_folds=n_folds, kinds=("born", "dipole"))
    for frame in range(n_frames):
        fold = frame * n_folds // n_frames
        for kind, m in (("born", 18), ("dipole", 3)):
            rows = rng.normal(size=(m, n_columns)) * spread
            rows[:, 5] = 0.0
            equations.add(fold, kind, rows, rows @ truth + rng.normal(scale=2.0, size=m))
    return equations


def test_dual_and_primal_cross_validation_agree():
    """Rows ≤ coefficients: the Gram form gives the losses of the normal
    equations (to round-off where the grid's λ leaves the systems well
    conditioned), hence the same λ and the same final solve."""
    weights = {"born": 1.0, "dipole": 10.0}
    primal = ridge.cross_validate(synthetic_equations(12, 300, 4), weights, form="primal")
    ticks = []
    dual = ridge.cross_validate(synthetic_equations(12, 300, 4), weights,
                                progress=lambda done, total: ticks.append((done, total)))
    assert (primal.form, dual.form) == ("primal", "dual")
    assert ticks == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    conditioned = primal.grid >= 1e-8
    assert np.allclose(dual.cv_loss[conditioned], primal.cv_loss[conditioned], rtol=1e-7, atol=0)
    for kind in weights:
        assert np.allclose(dual.cv_rmse[kind][conditioned], primal.cv_rmse[kind][conditioned],
                           rtol=1e-7, atol=0)
    assert np.argmin(dual.cv_loss) == np.argmin(primal.cv_loss)
    assert np.array_equal(dual.coefficients, primal.coefficients)


def test_dual_and_primal_fall_back_to_the_same_diagonalisation(monkeypatch):
    """Where a shifted system is not numerically positive definite both forms
    diagonalise instead (eigenvalues clipped at 0); forced here for every fold."""
    monkeypatch.setattr(ridge, "_shifted_solves", lambda *args: None)
    weights, grid = {"born": 1.0, "dipole": 10.0}, np.logspace(-8.0, 0.0, 17)
    primal = ridge.cross_validate(synthetic_equations(12, 300, 4), weights, grid=grid, form="primal")
    dual = ridge.cross_validate(synthetic_equations(12, 300, 4), weights, grid=grid, form="dual")
    assert np.allclose(dual.cv_loss, primal.cv_loss, rtol=1e-7, atol=0)
    assert dual.regularization == primal.regularization
    assert np.array_equal(dual.coefficients, primal.coefficients)


def test_more_rows_than_coefficients_are_not_kept():
    equations = synthetic_equations(20, 300, 4)  # 420 rows > 300
    assert equations.kept_rows() is None
    with pytest.raises(ValueError, match="the dual form needs the rows kept, i.e. at most 300 rows"):
        ridge.cross_validate(equations, {"born": 1.0, "dipole": 10.0}, form="dual")
    assert ridge.cross_validate(equations, {"born": 1.0}).form == "primal"


def test_dual_fit_of_a_model_matches_the_primal_fit(dimer, monkeypatch):
    """10 dimer frames, 570 rows < coefficients: the fit takes the dual form;
    λ, held-out errors, coefficients and posterior σ are those of the
    normal-equation route."""
    frames, atoms = dimer["born_train"][:10], dimer["born_test"][0]
    cross_validate, forms = ridge.cross_validate, []

    def spy(*args, form="auto", **kwargs):
        solution = cross_validate(*args, form=form, **kwargs)
        forms.append(solution.form)
        return solution

    monkeypatch.setattr(ridge, "cross_validate", spy)
    dual = PolarizationModel(cutoff=4.0, n_max=6, l_max=3).fit(frames, progress=False)
    monkeypatch.setattr(ridge, "cross_validate", lambda *args, **kwargs: spy(*args, form="primal", **kwargs))
    primal = PolarizationModel(cutoff=4.0, n_max=6, l_max=3).fit(frames, progress=False)
    assert forms == ["dual", "primal"]
    assert dual.regularization == primal.regularization
    for key, value in primal.training_metrics.items():
        if isinstance(value, float):
            assert dual.training_metrics[key] == pytest.approx(value, rel=1e-7, abs=1e-12), key
    assert np.allclose(dual.coefficients, primal.coefficients, rtol=0, atol=1e-12)
    for a, b in zip(dual.predict_std(atoms), primal.predict_std(atoms)):
        assert np.allclose(a, b, rtol=1e-6, atol=0)


def test_busy_machine_runs_the_fit_linear_algebra_on_one_blas_thread(monkeypatch):
    """At load ≥ cores the cross-validation runs its BLAS on one thread (a BLAS
    thread waiting for a descheduled partner spins: 56 s of CPU instead of
    3.5 s for the 64-frame dimer fit at load 11–17), and restores it after."""
    from threadpoolctl import threadpool_info

    from ase_dipole import threads

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    seen = []
    shifted_solves = ridge._shifted_solves
    monkeypatch.setattr(ridge, "_shifted_solves",
                        lambda *args: seen.append(blas_threads()) or shifted_solves(*args))
    previous = [library.get_num_threads() for library in threads._blas_libraries()]
    for library in threads._blas_libraries():
        library.set_num_threads(2)
    try:
        monkeypatch.setattr(ridge.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        ridge.cross_validate(synthetic_equations(20, 60, 4), {"born": 1.0, "dipole": 10.0})
        assert all(max(counts) == 2 for counts in seen), seen
        seen.clear()
        monkeypatch.setattr(ridge.os, "getloadavg", lambda: (64.0, 64.0, 64.0))
        ridge.cross_validate(synthetic_equations(20, 60, 4), {"born": 1.0, "dipole": 10.0})
        assert len(seen) == 4 and all(max(counts) == 1 for counts in seen), seen
        assert max(blas_threads()) == 2
    finally:
        for library, count in zip(threads._blas_libraries(), previous):
            library.set_num_threads(count)
