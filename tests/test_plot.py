"""Figures: what is drawn equals the data given, files have the right format."""

from pathlib import Path

import numpy as np
import pytest

from ase_dipole.spectra.plot import plot_learning_curve, plot_parity, plot_spectra
from ase_dipole.spectra.green_kubo import IRSpectrum, read_experiment

EXPERIMENT = Path(__file__).parent / "data" / "water_ir_expt" / "IR_light_expt_BertieLan1996_digitized.txt"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def water():
    """The Bertie–Lan liquid-water spectrum in cm⁻¹ and a copy on a regular grid with a band."""
    experiment = read_experiment(EXPERIMENT, scale=1000.0)
    grid = np.arange(500.0, 4000.0, 5.0)
    values = np.interp(grid, experiment.wavenumber_cm1, experiment.intensity)
    resampled = IRSpectrum(grid, values, 0.05 * values, "cm^-1", {"label": "resampled"})
    return experiment, resampled


def test_plot_spectra_draws_the_data(water, tmp_path):
    experiment, resampled = water
    no_band = {"label": "no band", "wavenumber_cm1": resampled.wavenumber_cm1,
               "intensity": 0.5 * resampled.intensity, "error": None, "unit": "cm^-1"}
    figure = plot_spectra([resampled, no_band], tmp_path / "ir.png", experiment=experiment,
                          experiment_label="Bertie & Lan", xlim=(400, 4000), title="water")
    assert (tmp_path / "ir.png").read_bytes()[:8] == PNG
    axes = figure.axes[0]
    lines = axes.get_lines()
    assert [line.get_label() for line in lines] == ["resampled", "no band", "Bertie & Lan"]
    np.testing.assert_array_equal(lines[0].get_ydata(), resampled.intensity)
    np.testing.assert_array_equal(lines[2].get_xdata(), experiment.wavenumber_cm1)
    assert len(axes.collections) == 1  # one error band: the dict curve has none
    band = axes.collections[0].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(1.05 * resampled.intensity.max())
    assert "cm$^{-1}$" in axes.get_ylabel() and "wavenumber" in axes.get_xlabel()
    assert axes.get_xlim() == (400, 4000)


def test_plot_spectra_label_forms_and_pdf(water, tmp_path):
    _, resampled = water
    figure = plot_spectra({"MD": resampled}, tmp_path / "ir.pdf")
    assert (tmp_path / "ir.pdf").read_bytes()[:5] == b"%PDF-"
    assert figure.axes[0].get_lines()[0].get_label() == "MD"
    figure = plot_spectra([(resampled, "harmonic")], tmp_path / "ir.svg")
    assert figure.axes[0].get_lines()[0].get_label() == "harmonic"


def test_plot_spectra_bad_input(water, tmp_path):
    experiment, resampled = water
    cross_section = IRSpectrum(resampled.wavenumber_cm1, resampled.intensity, resampled.error, "cm^2")
    with pytest.raises(ValueError, match="different units"):
        plot_spectra([resampled, cross_section], tmp_path / "ir.png")
    with pytest.raises(ValueError, match=r"unknown extension '.jpg'; use one of .png, .pdf, .svg"):
        plot_spectra([resampled], tmp_path / "ir.jpg")
    with pytest.raises(ValueError, match="must be equal 1-D shapes"):
        plot_spectra([{"label": "x", "wavenumber_cm1": [1, 2, 3], "intensity": [1, 2]}], tmp_path / "ir.png")
    with pytest.raises(TypeError, match="give an IRSpectrum"):
        plot_spectra([42], tmp_path / "ir.png")


def test_plot_parity(tmp_path):
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(20, 3, 3))
    predicted = reference + 0.1 * rng.normal(size=reference.shape)
    figure = plot_parity(reference, predicted, tmp_path / "parity.png", label="Z*", unit="e")
    rmse = np.sqrt(np.mean((predicted - reference) ** 2))
    legend = figure.axes[0].get_legend().get_texts()[0].get_text()
    assert f"RMSE {rmse:.3g} e" in legend
    assert f"RMSPE {100 * rmse / reference.std():.2f} %" in legend
    offsets = figure.axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(offsets[:, 0], reference.ravel())
    assert (tmp_path / "parity.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="equal shapes"):
        plot_parity(reference, predicted[:3], tmp_path / "parity.png", label="Z*", unit="e")


def test_plot_learning_curve(tmp_path):
    table = {"Z*": ([10, 50, 100], [12.0, 5.0, 3.0]), "P + Z*": ([10, 50, 100], [8.0, 3.0, 2.5])}
    figure = plot_learning_curve(table, tmp_path / "learning.png")
    axes = figure.axes[0]
    assert axes.get_xscale() == axes.get_yscale() == "log"
    assert [line.get_label() for line in axes.get_lines()] == ["Z*", "P + Z*"]
    assert "RMSPE (%)" in axes.get_ylabel()
    with pytest.raises(ValueError, match="values <= 0"):
        plot_learning_curve({"bad": ([1, 2], [1.0, 0.0])}, tmp_path / "learning.png")
