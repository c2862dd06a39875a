"""Cross-validation that measures what it claims: identical training frames
are kept in one fold (issue 27: 20 identical frames gave a cross-validation
error equal to the training error, silently)."""

import warnings

import numpy as np
import pytest

from ase_dipole.learning import ridge
from ase_dipole.learning.model import PolarizationModel

SMALL = dict(n_max=4, l_max=2)


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
