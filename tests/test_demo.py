"""The water-dimer demo (the shipped protocol run by the protocol engine):
end to end (quick version), reuse of finished steps, held-out accuracy, and
the MD bend band against the harmonic one."""

import csv
import json
import os
import shutil
import sys
import time

import numpy as np
import pytest

from ase_dipole.workflow import demo
from ase_dipole.workflow.engine import MARKER_DIR
from ase_dipole.workflow.reference_set import read_reference_set
from ase_dipole.workflow.steps import plan_protocol
from ase_dipole.workflow.protocol import load_protocol
from ase_dipole.cli import main
from ase_dipole.spectra.bands import band_check, band_position
from ase_dipole.spectra.green_kubo import IRSpectrum, read_spectrum_csv

pytest.importorskip("tblite")

STEPS = ("structure", "data", "fit", "md", "spectrum", "harmonic", "compare")
FIGURES = ("parity_born_charges.png", "parity_dipole.png", "learning_curve.png", "spectra.png",
           "spectra_bend.png", "spectra_stretch.png", "spectrum_md.png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The quick demo, run once for the module: (result, wall time in s)."""
    outdir = tmp_path_factory.mktemp("demo") / "out"
    start = time.perf_counter()
    result = demo.run_demo(outdir, quick=True, stream=None)
    return result, time.perf_counter() - start


def _copy(result, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(result.outdir, target)
    return target


def _path(result, name):
    return os.path.join(result.outdir, name)


def test_quick_demo_writes_tables_figures_and_summary(quick_run):
    result, _ = quick_run
    assert result.reused == ()
    assert tuple(entry.step.name for entry in result.plan) == STEPS
    for step in STEPS:
        with open(os.path.join(result.outdir, MARKER_DIR, f"{step}.json")) as handle:
            marker = json.load(handle)
        assert marker["status"] == "done" and marker["elapsed_s"] >= 0
        assert marker["provenance"]["command"].startswith("ase-dipole run ")
        for name, digest in marker["outputs"].items():
            assert os.path.getsize(_path(result, name)) > 0, name
            assert len(digest) == 64
    for name in FIGURES:
        with open(_path(result, name), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n", name
    md = read_spectrum_csv(_path(result, "spectrum_md.csv"))
    harmonic = read_spectrum_csv(_path(result, "spectrum_harmonic.csv"))
    assert md.unit == harmonic.unit == "cm^2"  # both cross-sections per dimer
    assert md.metadata["n_logs"] == demo.QUICK["md.n_trajectories"]
    with open(_path(result, "learning_curve.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["n_train"]) for row in rows] == demo.QUICK["fit.learning_curve_sizes"]
    assert {row["targets"] for row in rows} == {"born"}


def test_held_out_accuracy_is_reported(quick_run):
    result, _ = quick_run
    fit = result.results["fit"]
    assert fit["n_train"] == 100 and fit["n_born_test"] == 50
    # paper Fig. 1 (Z*-only, 100 frames): ~1 % for μ, ~3 % for Z*
    assert fit["dipole_rmspe"] < 0.03
    assert fit["born_rmspe"] < 0.05
    with open(result.summary_path) as handle:
        summary = handle.read()
    assert f"held-out dipole RMSPE  {100 * fit['dipole_rmspe']:6.2f} %" in summary
    assert f"held-out Z* RMSPE      {100 * fit['born_rmspe']:6.2f} %" in summary
    # the parity table holds the predictions the RMSPE was computed from
    table = np.loadtxt(_path(result, "parity_born_charges.csv"), delimiter=",", skiprows=1)
    reference, predicted = table[:, -2], table[:, -1]
    rmse = np.sqrt(np.mean((reference - predicted) ** 2))
    assert rmse == pytest.approx(fit["born_rmse_e"], rel=1e-6)


def test_learning_curve_decreases(quick_run):
    curve = quick_run[0].results["fit"]["learning_curve"]
    assert curve["sizes"] == demo.QUICK["fit.learning_curve_sizes"]
    assert curve["born_rmspe"][-1] < curve["born_rmspe"][0]
    assert curve["dipole_rmspe"][-1] < curve["dipole_rmspe"][0]


def test_md_bend_band_sits_on_the_harmonic_bend(quick_run):
    result, _ = quick_run
    harmonic = np.array(result.results["harmonic"]["frequencies_cm1"])
    bend_modes = harmonic[(harmonic > 1400) & (harmonic < 1800)]
    assert len(bend_modes) == 2  # one H-O-H bend per molecule
    bend = result.results["compare"]["bands"]["bend"]
    assert bend["md"]["area"] > 0 and bend["harmonic"]["area"] > 0
    assert bend["tolerance_cm1"] == pytest.approx(
        demo.QUICK["spectrum.fwhm_cm1"] + 0.01 * bend["harmonic"]["centroid_cm1"])
    assert abs(bend["md"]["centroid_cm1"] - bend["harmonic"]["centroid_cm1"]) \
        <= bend["tolerance_cm1"]
    assert bend_modes.min() - 30 < bend["harmonic"]["centroid_cm1"] < bend_modes.max() + 30


def test_rerun_reuses_every_step(quick_run, tmp_path):
    result, first = quick_run
    outdir = _copy(result, tmp_path)
    start = time.perf_counter()
    again = demo.run_demo(outdir, quick=True, stream=None)
    elapsed = time.perf_counter() - start
    assert again.reused == STEPS
    assert elapsed < first / 5
    assert again.results["fit"] == result.results["fit"]


def test_changed_line_width_redoes_only_the_spectra(quick_run, tmp_path):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    again = demo.run_demo(outdir, quick=True, stream=None, fwhm_cm1=60.0)
    assert again.reused == ("structure", "data", "fit", "md")
    reasons = {entry.step.name: entry.reasons for entry in again.plan}
    assert reasons["spectrum"] == ["option fwhm_cm1 50.0 -> 60.0"]
    assert read_spectrum_csv(_path(again, "spectrum_md.csv")).metadata["fwhm_cm1"] == 60.0


def test_force_plans_every_step(quick_run):
    result, _ = quick_run
    path, settings = demo.demo_settings(quick=True)
    protocol = load_protocol(path, overrides={tuple(k.split(".", 1)): v
                                              for k, v in settings.items()})
    assert all(line.endswith("up to date") for line in plan_protocol(protocol, result.outdir))
    forced = plan_protocol(protocol, result.outdir, force=True)
    assert forced == [f"[{k}/7] {name}: reruns because forced"
                      for k, name in enumerate(STEPS, start=1)]


def test_cli_prints_the_summary(quick_run, tmp_path, capsys):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    assert main(["demo", "-o", str(outdir), "--quick", "--quiet"]) == 0
    assert "held-out dipole RMSPE" in capsys.readouterr().out


def test_demo_is_the_run_command(quick_run, tmp_path, capsys):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    arguments = demo.run_arguments(outdir, quick=True)
    assert arguments[:2] == ["run", demo.shipped_protocol("water_dimer")]
    assert main(arguments + ["--quiet"]) == 0
    assert "held-out Z* RMSPE" in capsys.readouterr().out
    with open(os.path.join(outdir, MARKER_DIR, "md.json")) as handle:
        assert json.load(handle)["key"] == result.plan[3].key  # the same step, reused


def test_cli_reports_bad_parameters(quick_run, tmp_path, capsys):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    with pytest.raises(SystemExit):
        main(["demo", "-o", str(outdir), "--quick", "--quiet", "--temperature-K", "-5"])
    assert r"[md] temperature_K = -5.0: must be positive" in capsys.readouterr().err


def test_missing_tblite_names_the_extra(quick_run, tmp_path, monkeypatch):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    monkeypatch.setitem(sys.modules, "tblite.ase", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install ase-dipole\[reference\]"):
        demo.run_demo(outdir, quick=True, stream=None, fwhm_cm1=60.0)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="unknown demo parameter.*'temperature'"):
        demo.run_demo("unused", temperature=100)


def test_reference_set_needs_every_split(tmp_path):
    import ase.io
    from ase.build import molecule

    frames = []
    for name in ("dipole_train", "dipole_test", "born_train"):
        atoms = molecule("H2O")
        atoms.info.update(dipole=np.zeros(3), split=name)
        frames.append(atoms)
    path = tmp_path / "set.extxyz"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match=r"no \['born_test'\] frames"):
        read_reference_set(path)
    frames[2].info["split"] = "born_test"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match=r"no \['born_train'\] frames"):
        read_reference_set(path)
    frames.append(frames[2].copy())
    frames[-1].info["split"] = "born_train"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match="born_train frame 0 has no born_charges"):
        read_reference_set(path)


def test_band_position_of_a_gaussian():
    x = np.arange(1000.0, 2000.0, 0.5)
    y = 3.0 * np.exp(-0.5 * ((x - 1600.0) / 15.0) ** 2)
    spectrum = IRSpectrum(x, y, np.zeros_like(x), "cm^2")
    band = band_position(spectrum, (1400.0, 1800.0))
    assert band["centroid_cm1"] == pytest.approx(1600.0, abs=1e-6)
    assert band["maximum_cm1"] == 1600.0
    assert band["area"] == pytest.approx(3.0 * 15.0 * np.sqrt(2 * np.pi), rel=1e-9)
    shifted = IRSpectrum(x + 40.0, y, np.zeros_like(x), "cm^2")
    check = band_check(shifted, spectrum, {"bend": (1400.0, 1800.0)}, fwhm_cm1=20.0,
                       tolerance_fraction=0.01)["bend"]
    assert check["shift_cm1"] == pytest.approx(40.0, abs=1e-6)
    assert check["tolerance_cm1"] == pytest.approx(36.0)
    assert not check["agree"]
