"""Posterior predictive uncertainty of PolarizationModel and the selection of
frames to label: the variance against the explicit Bayesian-ridge formula,
calibration on held-out DFT liquid water, larger σ on superionic water (a
configuration space the model never saw), invariances, old model files, and
farthest-point / uncertainty selection."""

import json
import os

import numpy as np
import pytest

from ase_dipole.io import load_paper_water
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.io.water import read_extxyz_born
from ase_dipole.learning.model import DIGEST_KEY, PolarizationModel, _content_digest, atom_sigma
from ase_dipole.learning.selection import frame_summaries, select_frames, weighted_farthest_points

SMALL = dict(cutoff=4.0, n_max=4, l_max=2)
DATA = os.path.join(os.path.dirname(__file__), "data")
SUPERIONIC = os.path.join(DATA, "les_bec_superionic", "S-2cc-T2000K-BEC_first3.xyz")


@pytest.fixture(scope="module")
def paper_water():
    return load_paper_water(index=":")


@pytest.fixture(scope="module")
def model(paper_water):
    """Z*-only model on every 4th of paper-water frames 0–79 (λ by 5-fold CV)."""
    return PolarizationModel(**SMALL).fit(paper_water[0:80:4], targets="born", progress=False)


def _errors_and_sigmas(model, frames):
    errors, sigmas = [], []
    for atoms in frames:
        _, born = model.predict(atoms)
        _, born_std = model.predict_std(atoms)
        errors.append(np.abs(born - get_born_charges(atoms)).ravel())
        sigmas.append(born_std.ravel())
    return np.concatenate(errors), np.concatenate(sigmas)


def test_variance_is_the_bayesian_ridge_posterior(paper_water):
    """σ² = gᵀ s²(G + λD²)⁻¹ g (+ s²/w) with G, D built here from the design rows
    (species charges held at the mean: no charge columns; test_fitted_charges
    covers those)."""
    frames = paper_water[:3]
    model = PolarizationModel(**SMALL, regularization=1e-4, charges="mean").fit(
        frames, targets="born", progress=False)
    d = model.descriptor
    rows = np.concatenate([d.summed_gradients(a).reshape(len(a) * 9, -1) for a in frames])
    zbar = np.array([model.mean_born_charges[s] for s in d.species])
    targets = np.concatenate([(get_born_charges(a) - zbar[np.searchsorted(d.numbers, a.numbers)]
                               [:, None, None] * np.eye(3)).ravel() for a in frames])
    w = model.training_metrics["row_weight_born"]
    live = np.sum(rows ** 2, axis=0) > 1e-20 * np.max(np.sum(rows ** 2, axis=0))
    rows = rows[:, live]  # features that vanish by symmetry have zero coefficient and variance
    G = w * rows.T @ rows
    scale = np.sqrt(np.diag(G))
    precision = G + 1e-4 * np.diag(scale ** 2)
    coefficients = np.linalg.solve(precision, w * rows.T @ targets)
    assert np.allclose(coefficients, model.coefficients.ravel()[live], rtol=1e-6, atol=1e-9)
    residual = w * np.sum((rows @ coefficients - targets) ** 2)
    eigen = np.linalg.eigvalsh(G / scale[:, None] / scale[None, :])
    gamma = np.sum(eigen / (eigen + 1e-4))
    s2 = residual / (len(targets) - gamma)
    test = paper_water[90]
    g = d.summed_gradients(test).reshape(len(test) * 9, -1)[:, live]
    expected = s2 * np.einsum("mp,pm->m", g, np.linalg.solve(precision, g.T))
    _, epistemic = model.predict_std(test, include_noise=False)
    assert np.allclose(epistemic.ravel() ** 2, expected, rtol=1e-3)
    _, total = model.predict_std(test)
    assert np.allclose(total.ravel() ** 2, expected + s2 / w, rtol=1e-3)


def test_held_out_calibration_on_liquid_water(model, paper_water):
    errors, sigmas = _errors_and_sigmas(model, paper_water[80:100:4])
    assert 0.55 <= np.mean(errors <= sigmas) <= 0.85
    assert 0.88 <= np.mean(errors <= 2 * sigmas) <= 0.995


def test_superionic_water_is_more_uncertain(model, paper_water):
    _, liquid = _errors_and_sigmas(model, paper_water[80:100:4])
    _, superionic = _errors_and_sigmas(model, read_extxyz_born(SUPERIONIC))
    assert superionic.mean() >= 2.0 * liquid.mean()
    assert atom_sigma(model.predict_std(read_extxyz_born(SUPERIONIC)[0])[1]).max() > \
        model.uncertainty_threshold


def test_sigma_is_invariant_under_translation_and_permutes_with_atoms(model, paper_water):
    atoms = paper_water[85].copy()
    dipole_std, born_std = model.predict_std(atoms)
    moved = atoms.copy()
    moved.positions += [0.3, -1.1, 2.0]
    assert np.allclose(model.predict_std(moved)[1], born_std, rtol=1e-5)
    order = np.random.default_rng(0).permutation(len(atoms))
    permuted = atoms[order]
    assert np.allclose(model.predict_std(permuted)[1], born_std[order], rtol=1e-5)
    assert np.allclose(model.predict_std(permuted)[0], dipole_std, rtol=1e-5)


def test_posterior_round_trips_and_old_files_need_a_refit(model, paper_water, tmp_path):
    path = tmp_path / "m.json"
    model.save(path)
    loaded = PolarizationModel.load(path)
    atoms = paper_water[95]
    assert np.array_equal(loaded.predict_std(atoms)[1], model.predict_std(atoms)[1])
    assert loaded.uncertainty_threshold == model.uncertainty_threshold
    document = json.loads(path.read_text())
    del document["posterior"], document["uncertainty"]  # as a file written before predict_std
    document[DIGEST_KEY] = _content_digest(document)
    path.write_text(json.dumps(document))
    old = PolarizationModel.load(path)
    assert np.allclose(old.predict(atoms)[1], model.predict(atoms)[1])
    with pytest.raises(ValueError, match="no posterior statistics.*refit the model"):
        old.predict_std(atoms)


# -- selection ---------------------------------------------------------------------
def test_weighted_farthest_points_definition():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.1, 0.0]])
    assert weighted_farthest_points(points, 2).tolist() == [2, 1]
    weights = np.array([1.0, 0.1, 0.1, 5.0])
    # first the heaviest, then the largest weight × distance: 0 (1·0.1) < 2 (0.1·3.0)
    assert weighted_farthest_points(points, 2, weights).tolist() == [3, 2]
    with pytest.raises(ValueError, match="cannot pick 5 of 4 frames"):
        weighted_farthest_points(points, 5)


def test_selection_never_picks_copies_of_one_frame(model, paper_water):
    superionic = read_extxyz_born(SUPERIONIC)[0]
    candidates = [superionic] * 3 + paper_water[80:84] + [paper_water[81]] * 2
    chosen = select_frames(candidates, 3, by="uncertainty", model=model)
    assert chosen[0] in (0, 1, 2)  # the most uncertain first
    assert sum(int(c) in (0, 1, 2) for c in chosen) == 1
    assert len({tuple(frame_summaries([candidates[c]], model.descriptor)[0].round(12))
                for c in chosen}) == 3
    fps = select_frames(candidates, 3, by="fps", model=model)
    assert len({id(candidates[c]) for c in fps}) == 3


def test_selection_rejects_bad_requests(model, paper_water):
    with pytest.raises(ValueError, match="n must be an integer from 1 to the number of candidates"):
        select_frames(paper_water[:2], 3)
    with pytest.raises(ValueError, match="needs the fitted model"):
        select_frames(paper_water[:2], 1, by="uncertainty")
    with pytest.raises(ValueError, match="unknown selection 'random'"):
        select_frames(paper_water[:2], 1, by="random")


def test_select_cli_writes_the_chosen_frames(model, paper_water, tmp_path, capsys):
    import ase.io

    from ase_dipole.cli import main

    model_path = tmp_path / "m.json"
    model.save(model_path)
    candidates = tmp_path / "candidates.extxyz"
    superionic = read_extxyz_born(SUPERIONIC)[0]
    ase.io.write(candidates, [paper_water[80], superionic, paper_water[81], superionic], format="extxyz")
    out = tmp_path / "to_label.extxyz"
    assert main(["select", str(candidates), "--n", "2", "--model", str(model_path),
                 "--by", "uncertainty", "-o", str(out), "--quiet"]) == 0
    chosen = ase.io.read(out, index=":")
    assert [a.info["selected_from"].split("@")[1] for a in chosen][0] in ("1", "3")
    assert sorted(len(a) for a in chosen) == sorted([len(superionic), len(paper_water[80])])
    assert "model_sha256" in json.loads(chosen[0].info["selection_provenance"])
    with pytest.raises(SystemExit):
        main(["select", str(candidates), "--n", "2", "--by", "uncertainty", "-o", str(out)])
    assert "--by uncertainty needs --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["select", str(candidates), "--n", "9", "--by", "fps", "-o", str(out)])
    assert "--n 9 is more than the 4 candidate frames" in capsys.readouterr().err


# -- calculator, observer and log -------------------------------------------------------
def test_calculator_offers_the_standard_deviations(model, paper_water):
    from ase_dipole.dynamics.calculator import DipoleCalculator
    from ase_dipole.learning.fixed_charges import FixedChargesModel

    atoms = paper_water[88].copy()
    atoms.calc = DipoleCalculator(model)
    dipole_std, born_std = model.predict_std(atoms)
    assert np.array_equal(atoms.calc.get_property("born_effective_charges_std", atoms), born_std)
    assert np.array_equal(atoms.calc.results["dipole_std"], dipole_std)
    fixed = FixedChargesModel(np.zeros((len(atoms), 3, 3)))
    assert "dipole_std" not in DipoleCalculator(fixed).implemented_properties


def _moving(atoms):
    from ase.md.velocitydistribution import thermalize_momenta

    atoms = atoms.copy()
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(1))
    return atoms


def test_observer_records_sigma_and_flags_uncertain_configurations(model, paper_water, tmp_path):
    from ase_dipole.dynamics.dipole_log import read_dipole_log
    from ase_dipole.dynamics.observer import DipoleObserver

    atoms = _moving(paper_water[84])
    path = str(tmp_path / "run.log")
    threshold = 0.5 * atom_sigma(model.predict_std(atoms)[1]).max()
    observer = DipoleObserver(atoms, model, path, timestep_fs=0.25, uncertainty_interval=2,
                              uncertainty_threshold_e=threshold)
    with pytest.warns(UserWarning, match=r"step 0 \(t = 0 fs\): the largest per-atom σ\(Z\*\)"):
        for _ in range(3):
            observer()
            atoms.positions += 0.001
    observer.close()
    log = read_dipole_log(path)
    assert log.metadata["format_version"] == 2
    assert np.isnan(log.sigma_born_max_e[1]) and not np.isnan(log.sigma_born_max_e[[0, 2]]).any()
    assert log.sigma_born_max_e[0] == pytest.approx(2 * threshold, rel=1e-6)
    flagged = read_extxyz_frames(path + ".uncertain.extxyz")
    assert [f.info["step"] for f in flagged] == [0, 2]
    assert flagged[0].arrays["sigma_born_e"].max() == pytest.approx(2 * threshold, rel=1e-6)
    # the default threshold comes from the training frames: liquid frames are not flagged
    quiet = DipoleObserver(_moving(paper_water[86]), model, str(tmp_path / "quiet.log"), timestep_fs=0.25)
    assert quiet.uncertainty_threshold_e == model.uncertainty_threshold
    quiet()
    quiet.close()
    assert quiet.n_flagged == 0


def test_observer_refuses_a_threshold_that_is_not_positive(model, paper_water, tmp_path):
    from ase_dipole.dynamics.observer import DipoleObserver

    for bad in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"uncertainty_threshold_e must be a positive number of "
                                             r"e \(0 < threshold < inf\)"):
            DipoleObserver(_moving(paper_water[84]), model, str(tmp_path / "bad.log"),
                           timestep_fs=0.25, uncertainty_threshold_e=bad, overwrite=True)


def test_version_1_logs_are_still_read(tmp_path):
    from ase_dipole.dynamics.dipole_log import COLUMN_LINES, MAGIC, read_dipole_log

    metadata = {"format_version": 1, "timestep_fs": 0.5, "interval": 1, "n_atoms": 3,
                "volume_A3": None, "periodic": False}
    path = tmp_path / "old.log"
    path.write_text(MAGIC + "\n# metadata: " + json.dumps(metadata) + "\n" + COLUMN_LINES[1] + "\n"
                    "0.0 1 2 3 4 5 6\n0.5 1 2 3 4 5 7\n")
    log = read_dipole_log(path)
    assert log.dipole[1, 2] == 7 and np.isnan(log.sigma_born_max_e).all()
    path.write_text(path.read_text().replace('"format_version": 1', '"format_version": 2'))
    with pytest.raises(ValueError, match="line 4 has 7 columns; expected 8 numbers per row"), \
            pytest.warns(UserWarning, match="skipping a truncated last row"):
        read_dipole_log(path)


def read_extxyz_frames(path):
    import ase.io

    return ase.io.read(path, index=":", format="extxyz")


# -- hyper-parameters by cross-validation -------------------------------------------------
def test_automatic_cutoff_is_the_cross_validated_best(tmp_path):
    import ase.io

    import ase_dipole
    from ase_dipole.learning.model import CUTOFF_CANDIDATES

    path = os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz")
    frames = [f for f in ase.io.read(path, index=":") if f.info["split"] == "born_train"][:24]
    options = dict(n_max=4, l_max=2)
    model = PolarizationModel(cutoff="auto", model="linear", **options).fit(frames, targets="born",
                                                                          progress=False)
    search = model.training_metrics["cutoff_search"]
    assert search["candidates"] == list(CUTOFF_CANDIDATES)
    assert search["chosen"] == CUTOFF_CANDIDATES[int(np.argmin(search["cv_loss"]))]
    assert model.descriptor.cutoff == search["chosen"]
    subset = [frames[i] for i in search["frames"]]
    for cutoff, loss in zip(CUTOFF_CANDIDATES, search["cv_loss"]):
        trial = PolarizationModel(cutoff=cutoff, regularization_grid=search["regularization_grid"],
                                  **options).fit(subset, targets="born", progress=False)
        assert loss == pytest.approx(min(trial.cross_validation["loss"]), rel=1e-9)
    model.save(tmp_path / "auto.json")
    loaded = PolarizationModel.load(tmp_path / "auto.json")
    assert loaded.descriptor.cutoff == search["chosen"] and loaded.parameters["cutoff"] == "auto"
    assert np.allclose(loaded.predict(frames[0])[1], model.predict(frames[0])[1])
