"""The α-quartz Raman example (examples/raman_quartz/): its polarizability model
fitted on the shipped VASP ε∞ cut, and its committed harmonic results. No torch."""

import importlib.util
import lzma
from pathlib import Path

import numpy as np
import pytest

from ase_dipole.spectra.raman import raman_invariants, raman_tensor_from_mode_displacement, read_raman_csv

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "raman_quartz"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"raman_quartz_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fit_module():
    return load_example("fit_polarizability")


@pytest.fixture(scope="module")
def pairs(fit_module):
    return fit_module.read_pairs()


def activity(tensors):
    mean_square, anisotropy_square = raman_invariants(np.asarray(tensors))
    return 45 * mean_square + 7 * anisotropy_square


def test_equilibrium_derivatives_from_the_mode_pairs_obey_the_translation_sum_rule(fit_module, pairs):
    # Σ_k ∂α/∂x_k = 0 holds only if the 20 displacement directions are
    # orthogonal to rigid translations, as VASP's eigenvectors are
    frame = fit_module.equilibrium_derivative_frame(pairs)
    derivatives = frame.arrays["polarizability_derivatives"].reshape(len(frame), 3, 3, 3)
    assert np.abs(derivatives.sum(axis=0)).max() < 5e-3 * np.abs(derivatives).max()  # 2.3e-3 here: Δx from 5-decimal OUTCAR positions
    # projected back on each mode, the full ∂α/∂x gives that mode's tensor
    for mode in list(pairs)[:4]:
        minus, plus = pairs[mode]
        delta = fit_module.minimum_image(plus.positions - minus.positions, minus.cell)
        amplitude = np.linalg.norm(np.sqrt(minus.get_masses())[:, None] * delta)
        projected = np.einsum("kabc,kc->ab", derivatives, delta) / amplitude
        reference = raman_tensor_from_mode_displacement(minus, plus)
        assert np.abs(projected - reference).max() < 1e-2 * np.abs(reference).max()


def test_model_fitted_on_the_shipped_cut_reproduces_the_vasp_raman_activities(fit_module, pairs):
    model = fit_module.fit(pairs, list(pairs), cutoff=5.0, n_max=4, derivatives=True)
    errors = fit_module.held_out_errors(model, pairs, list(pairs))
    reference = np.array(errors["activity_reference_A4_per_amu"])
    predicted = np.array(errors["activity_model_A4_per_amu"])
    # the 20 VASP activities (0.2-6.9 Å⁴/amu) within 1 %; this run: 0.1 % in the tensors
    assert np.all(np.abs(predicted / reference - 1) < 0.01)
    assert errors["raman_tensor_relative_rmse"] < 0.01
    assert errors["alpha_rmse_A3"] < 0.1 * errors["alpha_spread_rms_A3"]


def test_committed_harmonic_raman_obeys_the_selection_rules_of_point_group_32():
    rows = [line.split() for line in (EXAMPLE / "results" / "modes_harmonic.txt").read_text().splitlines()
            if not line.startswith("#")]
    labels = [row[0] for row in rows]
    assert labels.count("A1") == 4 and labels.count("E") == 8 and labels.count("A2") == 4
    for row in rows:
        if row[0] == "E":
            assert row[1] == "2" and float(row[4]) == pytest.approx(0.75, abs=1e-3)
        if row[0] == "A1":
            assert row[1] == "1" and float(row[4]) < 0.7
    peaks = np.loadtxt(EXAMPLE / "results" / "peaks_harmonic.txt")
    optical = peaks[peaks[:, 1] > 20.0]
    strongest = optical[:, 2].max()
    # the four A2 (and any acoustic) modes carry no activity: the model is equivariant
    assert np.sort(optical[:, 2])[:4].max() < 1e-6 * strongest


def test_committed_harmonic_activity_spectrum_integrates_to_the_mode_activities():
    spectrum = read_raman_csv(EXAMPLE / "results" / "raman_harmonic_activity.csv")
    peaks = np.loadtxt(EXAMPLE / "results" / "peaks_harmonic.txt")
    active = peaks[:, 5].astype(bool)
    area = np.trapezoid(spectrum.intensity, spectrum.wavenumber_cm1)
    assert area == pytest.approx(peaks[active, 2].sum(), rel=5e-3)


def test_shipped_phonopy_file_is_the_chgnet_force_set():
    text = lzma.decompress((EXAMPLE / "results" / "phonopy_chgnet.yaml.xz").read_bytes()).decode()
    assert "displacements:" in text and "forces:" in text


def test_committed_md_raman_channels_add_up_and_match_the_logs_it_names():
    results = EXAMPLE / "results"
    total, isotropic, anisotropic = (read_raman_csv(results / f"raman_md_300K{suffix}.csv")
                                     for suffix in ("", "_isotropic", "_anisotropic"))
    np.testing.assert_allclose(isotropic.wavenumber_cm1, total.wavenumber_cm1)
    # total = isotropic + anisotropic (45 ā² + 7 γ² = 45 ā² + 7 γ², channel by channel)
    scale = np.abs(total.intensity).max()
    assert np.abs(isotropic.intensity + anisotropic.intensity - total.intensity).max() < 1e-9 * scale
    logs = sorted(path.name for path in (results / "logs").glob("traj_*.alog.gz"))
    assert total.metadata["n_logs"] == len(logs) >= 2
    assert total.metadata["temperature_K"] == 300.0
