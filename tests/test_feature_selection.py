"""Feature selection for many species (issue 23, item 1): a five-species
model keeps a data-chosen subset of its λ = 1 columns; its Z* are still the
exact derivatives of its dipole, it transforms like the full model, and its
files, uncertainty and older files work."""

import json

import ase.io
import numpy as np
import pytest

from finite_difference import assert_matches, position_derivative

from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.learning import feature_selection
from ase_dipole.learning.model import FORMAT_VERSION, PolarizationModel, _content_digest

FIVE = "tests/data/five_species/rattled_gfn2.extxyz.gz"
#: a small descriptor: F = 465 per species, 2 325 coefficients in the full model
SMALL = dict(cutoff=4.0, n_max=3, l_max=2, model="linear")


@pytest.fixture(scope="module")
def frames():
    return ase.io.read(FIVE, index=":")


@pytest.fixture(scope="module")
def selected(frames):
    """A fit on 8 frames keeping 100 of 465 columns per species."""
    return PolarizationModel(max_features=100, **SMALL).fit(frames[:8], progress=False)


def test_auto_keeps_water_full_and_compresses_five_species():
    assert feature_selection.features_per_species("auto", 2, 1040) is None
    assert feature_selection.features_per_species("auto", 5, 6440) == feature_selection.AUTO_COEFFICIENTS // 5
    assert feature_selection.features_per_species(None, 5, 6440) is None
    assert feature_selection.features_per_species(7000, 5, 6440) is None


def test_selection_spans_a_low_rank_row_space():
    # columns 0..3 span everything: the other columns are combinations of them
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 4))
    rows = np.hstack([base, base @ rng.normal(size=(4, 20))])
    kept = feature_selection.select_columns(rows, 10)
    assert len(kept) == 4  # rank 4: no more than four columns are independent
    residual = rows - rows[:, kept] @ np.linalg.lstsq(rows[:, kept], rows, rcond=None)[0]
    assert np.abs(residual).max() < 1e-8 * np.abs(rows).max()


def test_selection_prefers_large_columns_to_rare_ones():
    # a rare feature (tiny norm, two nearly equal columns) against a common one:
    # on unit-norm columns the rare pair spans the dominant direction and would be kept
    rng = np.random.default_rng(3)
    common, rare = rng.normal(size=(2, 40))
    rows = np.stack([common, 1e-6 * rare, 1e-6 * (rare + 1e-3 * rng.normal(size=40))], axis=1)
    assert feature_selection.select_columns(rows, 1).tolist() == [0]


def test_selection_never_keeps_zero_columns():
    rows = np.zeros((6, 5))
    rows[:, 1] = np.arange(6.0)
    assert feature_selection.select_columns(rows, 3).tolist() == [1]


def test_five_species_fit_keeps_the_chosen_columns(selected):
    kept = selected.training_metrics["feature_selection"]["kept_per_species"]
    assert set(kept) == {"H", "C", "N", "O", "S"}
    assert all(0 < n <= 100 for n in kept.values())
    nonzero = (selected.coefficients != 0).sum(axis=1)
    assert np.all(nonzero <= 100)


def _held_out_born_rmse(model, frames):
    predicted = np.concatenate([model.predict(a)[1] for a in frames])
    reference = np.concatenate([get_born_charges(a) for a in frames])
    return np.sqrt(np.mean((predicted - reference) ** 2))


def test_selected_model_is_as_accurate_as_the_full_one(selected, frames):
    # 14 rattled copies of one C, H, N, O, S cluster: 8 train, 6 held out
    full = PolarizationModel(max_features=None, **SMALL).fit(frames[:8], progress=False)
    error = _held_out_born_rmse(selected, frames[8:])
    assert error <= 1.2 * _held_out_born_rmse(full, frames[8:])
    # and well below the error of each atom's mean training Z* (a model that learnt nothing)
    born = np.array([get_born_charges(a) for a in frames])
    assert error < 0.7 * np.sqrt(np.mean((born[8:] - born[:8].mean(axis=0)) ** 2))


def test_selected_born_charges_are_the_derivative_of_the_dipole(selected, frames):
    atoms = frames[9]
    numeric = position_derivative(selected.predict_dipole, atoms)  # (N, β, α)
    assert_matches(selected.predict(atoms)[1], numeric.transpose(0, 2, 1))


def test_selected_model_rotates_translates_and_permutes(selected, frames):
    atoms = frames[9]
    dipole, born = selected.predict(atoms)
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T
    dipole_r, born_r = selected.predict(turned)
    np.testing.assert_allclose(dipole_r, rotation @ dipole, atol=1e-10)
    np.testing.assert_allclose(born_r, rotation @ born @ rotation.T, atol=1e-10)
    moved = atoms.copy()
    moved.positions += [1.5, -2.0, 0.7]
    np.testing.assert_allclose(selected.predict(moved)[1], born, atol=1e-10)
    order = np.random.default_rng(2).permutation(len(atoms))
    np.testing.assert_allclose(selected.predict(atoms[order])[1], born[order], atol=1e-10)


def test_selected_uncertainty_round_trips_and_samples(selected, frames, tmp_path):
    atoms = frames[9]
    dipole_std, born_std = selected.predict_std(atoms, include_noise=False)
    assert np.all(born_std > 0)
    _, sampled = selected.predict_std(atoms, include_noise=False, samples=400)
    # the sampled variance is unbiased with relative spread sqrt(2/K) per component
    assert abs(np.mean(sampled ** 2) / np.mean(born_std ** 2) - 1) < 0.2
    path = tmp_path / "five.json"
    selected.save(path)
    document = json.loads(path.read_text())
    assert document["format_version"] == FORMAT_VERSION == 4
    assert len(document["posterior"]["columns"]) <= 5 * 100 + 5  # kept columns and the charges
    loaded = PolarizationModel.load(path)
    np.testing.assert_array_equal(loaded.predict(atoms)[1], selected.predict(atoms)[1])
    np.testing.assert_allclose(loaded.predict_std(atoms)[1], selected.predict_std(atoms)[1], rtol=1e-6)


def test_version_3_file_loads_as_a_full_model(dimer, tmp_path):
    model = PolarizationModel(regularization=1e-6, **SMALL).fit(dimer["born_train"][:4], targets="born",
                                                       progress=False)
    document = json.loads(model.to_bytes())
    document["format_version"] = 3
    del document["parameters"]["max_features"]
    document.pop("content_sha256")
    document["content_sha256"] = _content_digest(document)
    path = tmp_path / "v3.json"
    path.write_text(json.dumps(document))
    loaded = PolarizationModel.load(path)
    assert loaded.parameters["max_features"] is None
    atoms = dimer["born_test"][0]
    np.testing.assert_array_equal(loaded.predict(atoms)[1], model.predict(atoms)[1])


def test_species_without_born_charges_is_one_clear_error(frames):
    with_born = [a for a in frames[:4]]
    no_sulfur = []
    for atoms in with_born:
        keep = atoms[[s != "S" for s in atoms.get_chemical_symbols()]]
        no_sulfur.append(keep)
    dipole_only = frames[4].copy()  # the copy drops the calculator that held the dipole
    del dipole_only.arrays["born_charges"]
    dipole_only.info["dipole"] = get_dipole(frames[4])
    with pytest.raises(ValueError, match=r"species \['S'\] occur in no frame with Born charges.*"
                                         r"add Born-charge frames that contain them"):
        PolarizationModel(max_features=50, **SMALL).fit(no_sulfur + [dipole_only], progress=False)


def test_unknown_species_in_a_frame_is_one_clear_error(selected):
    from ase import Atoms
    with pytest.raises(ValueError, match=r"species \['Cl'\] not known to this model \(trained on "
                                         r"\['H', 'C', 'N', 'O', 'S'\]\)"):
        selected.predict(Atoms("CCl", positions=[[0, 0, 0], [0, 0, 1.7]]))


def test_auto_keeps_at_most_three_columns_per_training_environment(frames):
    # 6440 columns per species: "auto" would keep 720, the data of 8 frames allow fewer
    model = PolarizationModel(cutoff=4.0, model="linear").fit(frames[:8], progress=False)
    counts = {s: 8 * frames[0].get_chemical_symbols().count(s) for s in model.species}
    kept = model.training_metrics["feature_selection"]["kept_per_species"]
    assert all(0 < kept[s] <= min(3 * counts[s], feature_selection.AUTO_COEFFICIENTS // 5)
               for s in model.species)
    assert kept["N"] <= 24 < kept["H"]


def test_cli_max_features(tmp_path, capsys):
    from ase_dipole.cli import main

    with pytest.raises(SystemExit):
        main(["fit", FIVE, "-o", str(tmp_path / "m.json"), "--max-features", "0"])
    assert "expected a positive integer, 'auto' or 'all', got '0'" in capsys.readouterr().err
    assert main(["fit", FIVE, "-o", str(tmp_path / "m.json"), "--max-features", "40", "--cutoff", "4",
                 "--n-max", "3", "--l-max", "2", "--quiet"]) == 0
    assert "linear model, r_c = 4 Å" in capsys.readouterr().out
    model = PolarizationModel.load(tmp_path / "m.json")
    assert model.parameters["max_features"] == 40
    assert max(model.training_metrics["feature_selection"]["kept_per_species"].values()) <= 40
