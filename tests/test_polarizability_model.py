"""PolarizabilityModel and its λ = 0 ⊕ λ = 2 descriptor: exact gradients
(against central differences), α → R α Rᵀ with an invariant trace,
translation and permutation invariance, and the fit on α and/or ∂α/∂x of an
exact α(R) (ASE's bond-polarizability model on rattled, rotated water)."""

import numpy as np
import pytest
from ase.build import molecule
from scipy.spatial.transform import Rotation

from ase_dipole.descriptors.lambda2 import Lambda2SOAP
from ase_dipole.io.polarizability import set_polarizability, set_polarizability_derivatives
from ase_dipole.learning.polarizability import PolarizabilityModel
from raman_helpers import AnalyticBondPolarizability

#: central-difference step for the gradient checks, Å
STEP_A = 1e-5


def _methanol():
    atoms = molecule("CH3OH")
    atoms.rattle(0.05, seed=1)
    return atoms


def test_descriptor_gradients_equal_central_differences():
    atoms = _methanol()
    descriptor = Lambda2SOAP(["C", "H", "O"], cutoff=4.0, n_max=2)
    D2, D0, G2, G0 = descriptor.gradients(atoms)
    reference = atoms.get_positions()
    displaced = atoms.copy()
    for k in range(len(atoms)):
        for c in range(3):
            values = []
            for sign in (1.0, -1.0):
                moved = reference.copy()
                moved[k, c] += sign * STEP_A
                displaced.positions = moved
                values.append(descriptor.features(displaced))
            np.testing.assert_allclose((values[0][0] - values[1][0]) / (2 * STEP_A), G2[k, c],
                                       atol=1e-7 * np.abs(G2).max())
            np.testing.assert_allclose((values[0][1] - values[1][1]) / (2 * STEP_A), G0[k, c],
                                       atol=1e-7 * np.abs(G0).max())


def _labelled_water(n_frames, seed=0):
    rng = np.random.default_rng(seed)
    base = molecule("H2O")
    source = AnalyticBondPolarizability(base)
    frames = []
    for index in range(n_frames):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.06, size=atoms.positions.shape)
        atoms.positions = atoms.positions @ Rotation.random(random_state=seed * 1000 + index).as_matrix().T
        alpha, derivatives = source.predict(atoms)
        set_polarizability(atoms, alpha)
        set_polarizability_derivatives(atoms, derivatives)
        frames.append(atoms)
    return frames


def _rmspe(predicted, reference):
    predicted, reference = np.asarray(predicted), np.asarray(reference)
    return 100.0 * np.sqrt(np.mean((predicted - reference) ** 2)) / np.std(reference)


@pytest.fixture(scope="module")
def fitted():
    frames = _labelled_water(16)
    return PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3).fit(frames, n_folds=4), frames


def test_model_derivatives_equal_finite_differences_and_symmetries(fitted):
    model, _ = fitted
    atoms = _methanol()[[0, 1, 3, 4]]  # C, O, H, H: species the model does not know
    with pytest.raises(ValueError, match=r"unknown species \['C'\]"):
        model.predict(atoms)
    atoms = _labelled_water(1, seed=7)[0]
    alpha, derivatives = model.predict(atoms)
    reference = atoms.get_positions()
    displaced = atoms.copy()
    for k in range(len(atoms)):
        for c in range(3):
            moved = reference.copy()
            moved[k, c] += STEP_A
            displaced.positions = moved
            plus = model.predict_polarizability(displaced)
            moved[k, c] -= 2 * STEP_A
            displaced.positions = moved
            minus = model.predict_polarizability(displaced)
            np.testing.assert_allclose((plus - minus) / (2 * STEP_A), derivatives[k, :, :, c],
                                       atol=1e-7 * np.abs(derivatives).max())
    np.testing.assert_allclose(alpha, alpha.T, atol=1e-12 * np.abs(alpha).max())
    rotation = Rotation.random(random_state=5).as_matrix()
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated_alpha, rotated_derivatives = model.predict(rotated)
    np.testing.assert_allclose(rotated_alpha, rotation @ alpha @ rotation.T, atol=1e-10 * np.abs(alpha).max())
    assert np.trace(rotated_alpha) == pytest.approx(np.trace(alpha), rel=1e-12)
    np.testing.assert_allclose(rotated_derivatives,
                               np.einsum("ap,bq,cr,kpqr->kabc", rotation, rotation, rotation, derivatives),
                               atol=1e-10 * np.abs(derivatives).max())
    shifted = atoms.copy()
    shifted.positions += [2.0, -1.0, 0.5]
    np.testing.assert_allclose(model.predict_polarizability(shifted), alpha, atol=1e-12 * np.abs(alpha).max())
    order = [2, 0, 1]
    permuted_alpha, permuted_derivatives = model.predict(atoms[order])
    np.testing.assert_allclose(permuted_alpha, alpha, atol=1e-12 * np.abs(alpha).max())
    np.testing.assert_allclose(permuted_derivatives, derivatives[order], atol=1e-12 * np.abs(derivatives).max())
    np.testing.assert_allclose(derivatives.sum(axis=0), 0.0, atol=1e-10 * np.abs(derivatives).max())


def test_fit_on_derivatives_alone_and_combined():
    """∂α/∂x alone fixes the anisotropic part and the trace's fluctuations
    (not the species' constant); ∂α/∂x plus α of 3 frames fixes α; α alone
    of the same frames is worse."""
    train, test = _labelled_water(12, seed=1), _labelled_water(10, seed=2)
    reference = np.array([frame.info["polarizability"] for frame in test])

    def parts(values):
        trace = np.trace(values, axis1=1, axis2=2)
        return values - trace[:, None, None] / 3 * np.eye(3), trace - trace.mean()

    derivative_only = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3).fit(
        train, weights={"alpha": 0.0, "dalpha": 1.0}, n_folds=3)
    predicted = np.array([derivative_only.predict_polarizability(frame) for frame in test])
    for got, expected in zip(parts(predicted), parts(reference)):
        assert _rmspe(got, expected) < 2.0
    few_alpha = [frame.copy() for frame in train]
    for frame in few_alpha[3:]:
        del frame.info["polarizability"]
    combined = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3).fit(few_alpha, n_folds=3)
    combined_error = _rmspe([combined.predict_polarizability(f) for f in test], reference)
    assert combined_error < 2.0
    alpha_only = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3).fit(
        train[:3], weights={"alpha": 1.0, "dalpha": 0.0}, regularization=1e-6)
    assert _rmspe([alpha_only.predict_polarizability(f) for f in test], reference) > combined_error


def test_model_file_round_trip_and_bad_files(fitted, tmp_path):
    model, frames = fitted
    model.save(tmp_path / "alpha.npz")
    back = PolarizabilityModel.load(tmp_path / "alpha.npz")
    assert back.sha256 == model.sha256 and back.has_uncertainty
    np.testing.assert_array_equal(back.predict_std(frames[0])[0], model.predict_std(frames[0])[0])
    np.testing.assert_array_equal(back.predict(frames[0])[1], model.predict(frames[0])[1])
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a PolarizabilityModel file"):
        PolarizabilityModel.load(tmp_path / "bad.npz")
    with pytest.raises(RuntimeError, match=r"PolarizabilityModel.fit\(\) has to be done"):
        PolarizabilityModel(["H", "O"]).predict(frames[0])


def test_observer_logs_alpha_dot_of_the_model(fitted, tmp_path):
    """The PolarizabilityObserver's α̇ = Σ_k ∂α/∂x_k·v_k equals central
    differences of its logged α along a short NVE run (0.25 fs rows)."""
    import ase.units
    from ase.calculators.emt import EMT
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    from ase_dipole.dynamics.polarizability_log import PolarizabilityObserver, read_polarizability_log

    model, frames = fitted
    atoms = frames[0].copy()
    atoms.calc = EMT()
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(2))
    dyn = VelocityVerlet(atoms, 0.25 * ase.units.fs)
    observer = PolarizabilityObserver(dyn, model, tmp_path / "run.alog", interval=1, temperature_K=300)
    dyn.attach(observer, interval=1)
    dyn.run(60)
    observer.close()
    log = read_polarizability_log(tmp_path / "run.alog")
    assert log.metadata["model_sha256"] == model.sha256
    central = (log.alpha[2:] - log.alpha[:-2]) / (log.time_fs[2:] - log.time_fs[:-2])[:, None]
    np.testing.assert_allclose(central, log.alphadot[1:-1], atol=0.01 * np.abs(log.alphadot).max())
    with pytest.raises(ValueError, match=r"cannot append to .*run\.alog': its temperature_K is 300\.0, "
                       "this run has None; a log holds one run"):
        PolarizabilityObserver(dyn, model, tmp_path / "run.alog")


def test_harmonic_raman_of_a_saved_model_from_the_command_line(fitted, tmp_path):
    """``ase-dipole harmonic --raman MODEL.npz`` gives the activities of
    HarmonicRaman(phonon, model) for the same force constants."""
    from ase.calculators.emt import EMT
    from ase.io import write

    from ase_dipole.cli import main
    from ase_dipole.spectra.harmonic import phonopy_from_calculator
    from ase_dipole.spectra.raman import HarmonicRaman, read_raman_peaks
    from raman_helpers import emt_water

    model, _ = fitted
    model.save(tmp_path / "alpha.npz")
    atoms = emt_water()
    write(tmp_path / "water.extxyz", atoms)
    assert main(["harmonic", "--structure", str(tmp_path / "water.extxyz"), "--calculator",
                 "ase.calculators.emt:EMT", "--molecule", "--raman", str(tmp_path / "alpha.npz"),
                 "-o", str(tmp_path / "h.csv"), "--peaks", str(tmp_path / "h.dat")]) == 0
    api = HarmonicRaman(phonopy_from_calculator(atoms, EMT(), log=None), model).run()
    table = read_raman_peaks(tmp_path / "h.dat")
    np.testing.assert_allclose(table["activity_A4_amu"][api.active], api.activities()[api.active], rtol=1e-5)


def test_folded_prediction_equals_the_design_rows():
    """The fast route (coefficients folded into the densities) gives the α and
    ∂α/∂x of the design rows the fit uses, for random coefficients, a periodic
    cell and three species."""
    from ase.build import bulk

    model = PolarizabilityModel(["C", "H", "O"], cutoff=3.5, n_max=3)
    model.coefficients = np.random.default_rng(4).normal(size=model.n_columns)
    crystal = bulk("C", "diamond", a=3.6).repeat((1, 1, 2))
    crystal.symbols[1] = "O"
    crystal.symbols[3] = "H"
    crystal.rattle(0.05, seed=3)
    for atoms in (_methanol(), crystal):
        fast_alpha, fast_derivatives = model.predict(atoms)
        rows_alpha, rows_derivatives = model.predict_from_features(atoms)
        np.testing.assert_allclose(fast_alpha, rows_alpha, atol=1e-10 * np.abs(rows_alpha).max())
        np.testing.assert_allclose(fast_derivatives, rows_derivatives,
                                   atol=1e-10 * np.abs(rows_derivatives).max())
        np.testing.assert_allclose(model.predict_polarizability(atoms), rows_alpha,
                                   atol=1e-10 * np.abs(rows_alpha).max())


def test_ase_calculator_properties(fitted, tmp_path):
    """'polarizability' and 'polarizability_derivatives' through ASE's
    get_property, from a model or its file; energy and forces forwarded."""
    from ase.calculators.emt import EMT
    from ase.calculators.calculator import PropertyNotImplementedError

    from ase_dipole.dynamics.polarizability_calculator import PolarizabilityCalculator

    model, frames = fitted
    model.save(tmp_path / "alpha.npz")
    atoms = frames[1].copy()
    atoms.calc = PolarizabilityCalculator(tmp_path / "alpha.npz", calculator=EMT())
    alpha, derivatives = model.predict(atoms)
    np.testing.assert_allclose(atoms.calc.get_property("polarizability", atoms), alpha, rtol=1e-12)
    np.testing.assert_allclose(atoms.calc.get_property("polarizability_derivatives", atoms), derivatives,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(atoms.get_forces(), _emt_forces(atoms), rtol=1e-12)
    bare = frames[1].copy()
    bare.calc = PolarizabilityCalculator(model)
    with pytest.raises(PropertyNotImplementedError, match="forces"):
        bare.get_forces()


def _emt_forces(atoms):
    from ase.calculators.emt import EMT

    copy = atoms.copy()
    copy.calc = EMT()
    return copy.get_forces()


def test_posterior_sigma_shrinks_with_data_and_covers_errors():
    """σ of α from the cross-validated posterior (fit on α and ∂α/∂x): it
    shrinks as frames are added, and with 24 frames the held-out RMS error is
    within a factor 3 of the RMS σ. (With few frames and a tiny λ the ridge
    posterior is conservative: σ ≫ error along poorly fixed directions.)"""
    test = _labelled_water(8, seed=3)
    reference = np.array([frame.info["polarizability"] for frame in test])
    spreads, ratios = [], []
    for n_frames in (6, 24):
        model = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=2).fit(_labelled_water(n_frames, seed=4), n_folds=3)
        assert model.has_uncertainty
        sigma = np.array([model.predict_std(frame)[0] for frame in test])
        error = np.array([model.predict_polarizability(frame) for frame in test]) - reference
        spreads.append(np.sqrt(np.mean(sigma**2)))
        ratios.append(np.sqrt(np.mean(error**2)) / spreads[-1])
    assert spreads[1] < 0.5 * spreads[0]
    assert 1 / 3 < ratios[1] < 3
    with pytest.raises(RuntimeError, match="no posterior: fit with cross-validation"):
        PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=2).fit(test[:2], regularization=1e-6).predict_std(test[0])


def test_alphadot_in_the_kernel_equals_the_contracted_derivative():
    """predict_alphadot contracts ∂α/∂x with the velocities inside the kernel:
    the same α, and α̇ equal to Σ_k ∂α/∂x_k·v_k of the full derivative to
    round-off (molecule and a periodic three-species cell); a rigid
    translation gives α̇ = 0 and a rigid rotation v = ω × r gives α̇ = Ωα − αΩ."""
    from ase.build import bulk

    model = PolarizabilityModel(["C", "H", "O"], cutoff=3.5, n_max=3)
    model.coefficients = np.random.default_rng(5).normal(size=model.n_columns)
    crystal = bulk("C", "diamond", a=3.6).repeat((1, 1, 2))
    crystal.symbols[1] = "O"
    crystal.symbols[3] = "H"
    crystal.rattle(0.05, seed=3)
    rng = np.random.default_rng(6)
    for atoms in (_methanol(), crystal):
        velocities = rng.normal(scale=0.01, size=(len(atoms), 3))
        alpha, derivatives = model.predict(atoms)
        kernel_alpha, alphadot = model.predict_alphadot(atoms, velocities)
        contracted = np.einsum("kabc,kc->ab", derivatives, velocities)
        np.testing.assert_allclose(kernel_alpha, alpha, atol=1e-13 * np.abs(alpha).max())
        np.testing.assert_allclose(alphadot, contracted, atol=1e-12 * np.abs(contracted).max())
        assert np.abs(contracted).max() > 1e-3 * np.abs(alpha).max()
        _, translated = model.predict_alphadot(atoms, np.tile([0.003, -0.002, 0.001], (len(atoms), 1)))
        np.testing.assert_allclose(translated, 0.0, atol=1e-12 * np.abs(contracted).max())
    atoms = _methanol()
    omega = np.array([0.002, -0.001, 0.003])  # rad/fs
    Omega = np.cross(omega, np.eye(3)).T  # Ω x = ω × x
    alpha, alphadot = model.predict_alphadot(atoms, np.cross(omega, atoms.positions))
    np.testing.assert_allclose(alphadot, Omega @ alpha - alpha @ Omega, atol=1e-10 * np.abs(alpha).max())
    with pytest.raises(ValueError, match=r"velocities have shape \(3, 3\); expected \(6, 3\)"):
        model.predict_alphadot(atoms, np.zeros((3, 3)))


def test_calculator_gives_dipole_and_polarizability_from_one_call(fitted):
    """A PolarizabilityCalculator around a DipoleCalculator: μ, Z*, α and
    ∂α/∂x of one calculate() equal each model's own, and are recomputed
    after the atoms move (no stale forwarded results)."""
    from ase.calculators.calculator import all_changes

    from ase_dipole.dynamics.calculator import DipoleCalculator
    from ase_dipole.dynamics.polarizability_calculator import PolarizabilityCalculator
    from ase_dipole.learning.fixed_charges import FixedChargesModel

    model, frames = fitted
    atoms = frames[2].copy()
    charges = np.array([-0.8, 0.4, 0.4])[:, None, None] * np.eye(3)
    dipole_model = FixedChargesModel(charges, reference_positions=atoms.positions,
                                     symbols=atoms.get_chemical_symbols())
    calculator = PolarizabilityCalculator(model, calculator=DipoleCalculator(dipole_model))
    names = ["dipole", "born_effective_charges", "polarizability", "polarizability_derivatives"]
    for shift in (0.0, 0.03):
        atoms.positions[1] += shift
        calculator.calculate(atoms, names, all_changes)
        alpha, derivatives = model.predict(atoms)
        np.testing.assert_allclose(calculator.results["dipole"], dipole_model.predict_dipole(atoms), atol=1e-14)
        np.testing.assert_allclose(calculator.results["born_effective_charges"], charges, atol=1e-14)
        np.testing.assert_allclose(calculator.results["polarizability"], alpha, rtol=1e-12)
        np.testing.assert_allclose(calculator.results["polarizability_derivatives"], derivatives,
                                   rtol=1e-12, atol=1e-15)
