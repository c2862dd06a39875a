"""``predict_std(samples=K)``: the posterior-sample estimate of the epistemic
variance is unbiased (many draws reproduce the exact ``gᵀΣg`` of the design
rows, for the linear model with fixed and with fitted charges and for the
kernel model), its spread shrinks as √(2/K), the noise term is added exactly,
and bad values are refused."""

import numpy as np
import pytest

from ase_dipole.learning.model import PolarizationModel

SMALL = dict(cutoff=4.0, n_max=4, l_max=3)
DRAWS = 800


@pytest.mark.parametrize("options", [dict(), dict(charges="fit"),
                                     dict(model="kernel", zeta=2, kernel_references=8, n_invariants=3,
                                          n_vectors=4, charges="fit")],
                         ids=["linear", "linear-fitted-charges", "kernel"])
def test_sampled_variance_is_unbiased(dimer, options):
    model = PolarizationModel(regularization=1e-2, **SMALL, **options).fit(
        dimer["born_train"][::10], targets="born", progress=False)
    atoms = dimer["born_test"][1]
    exact_dipole, exact_born = model.predict_std(atoms, include_noise=False)
    dipole, born = model.predict_std(atoms, include_noise=False, samples=DRAWS)
    # the relative standard error of a variance from K draws is sqrt(2/K) = 0.05
    ratio = (born / exact_born) ** 2
    assert abs(ratio.mean() - 1) < 0.05, ratio.mean()
    assert np.abs(ratio - 1).max() < 5 * np.sqrt(2 / DRAWS), np.abs(ratio - 1).max()
    assert np.abs((dipole / exact_dipole) ** 2 - 1).max() < 5 * np.sqrt(2 / DRAWS)
    # noise added exactly; a few draws scatter as expected around the exact variance
    noise = model._fitted()["posterior"].noise_variance["born"]
    _, with_noise = model.predict_std(atoms, samples=4, seed=1)
    _, without = model.predict_std(atoms, include_noise=False, samples=4, seed=1)
    np.testing.assert_allclose(with_noise ** 2, without ** 2 + noise, rtol=1e-12)
    few = np.array([(model.predict_std(atoms, include_noise=False, samples=4, seed=s)[1] / exact_born) ** 2
                    for s in range(30)])
    assert abs(few.mean() - 1) < 0.15
    assert 0.3 < few.std() < 1.2  # √(2/4) = 0.71 for independent components


def test_bad_samples(dimer):
    model = PolarizationModel(regularization=1e-2, **SMALL).fit(dimer["born_train"][::20], targets="born",
                                                               progress=False)
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(ValueError, match="samples must be a positive integer .*or None"):
            model.predict_std(dimer["born_test"][0], samples=bad)


def test_observer_logs_the_sampled_sigma(dimer, tmp_path):
    from ase.md.velocitydistribution import thermalize_momenta

    from ase_dipole.dynamics.dipole_log import read_dipole_log
    from ase_dipole.dynamics.observer import DipoleObserver
    from ase_dipole.learning.posterior import atom_sigma

    model = PolarizationModel(regularization=1e-2, **SMALL).fit(dimer["born_train"][::20], targets="born",
                                                               progress=False)
    atoms = dimer["born_test"][2].copy()
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    path = str(tmp_path / "run.log")
    observer = DipoleObserver(atoms, model, path, timestep_fs=0.5, uncertainty_interval=1,
                              uncertainty_samples=3, uncertainty_threshold_e=10.0)
    observer()
    observer.close()
    expected = atom_sigma(model.predict_std(atoms, samples=3)[1]).max()
    assert read_dipole_log(path).sigma_born_max_e[0] == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx(atom_sigma(model.predict_std(atoms)[1]).max(), rel=1e-9)
    with pytest.raises(ValueError, match="uncertainty_samples must be a positive integer"):
        DipoleObserver(atoms, model, str(tmp_path / "bad.log"), timestep_fs=0.5, uncertainty_samples=0)
