"""The water-dimer demo: end to end (quick version), reuse of finished steps,
held-out accuracy, and the MD bend band against the harmonic one."""

import csv
import json
import os
import shutil
import sys
import time

import numpy as np
import pytest

from ase_dipole.workflow import demo
from ase_dipole.cli import main
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.spectra.green_kubo import IRSpectrum, read_spectrum_csv

pytest.importorskip("tblite")

STEPS = ("data", "fit", "learning_curve", "harmonic", "md", "spectra")


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


def test_quick_demo_writes_tables_figures_and_summary(quick_run):
    result, _ = quick_run
    assert result.reused == ()
    for name, path in result.files.items():
        assert os.path.getsize(path) > 0, name
        if path.endswith(".png"):
            with open(path, "rb") as handle:
                assert handle.read(8) == b"\x89PNG\r\n\x1a\n", name
    for step in STEPS:
        with open(os.path.join(result.outdir, demo.MARKER_DIR, f"{step}.json")) as handle:
            marker = json.load(handle)
        assert marker["status"] == "done" and marker["elapsed_s"] >= 0
    md = read_spectrum_csv(result.files["MD spectrum"])
    harmonic = read_spectrum_csv(result.files["harmonic spectrum"])
    assert md.unit == harmonic.unit == "cm^2"  # both cross-sections per dimer
    assert md.metadata["n_logs"] == demo.QUICK.n_trajectories
    with open(result.files["learning curve table"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["n_train"]) for row in rows] == list(demo.QUICK.learning_curve_sizes)
    assert {row["targets"] for row in rows} == {"born"}


def test_held_out_accuracy_is_reported(quick_run):
    result, _ = quick_run
    fit = result.results["fit"]
    # paper Fig. 1 (Z*-only, 100 frames): ~1 % for μ, ~3 % for Z*
    assert fit["dipole_rmspe"] < 0.03
    assert fit["born_rmspe"] < 0.05
    with open(result.summary_path) as handle:
        summary = handle.read()
    assert f"held-out dipole RMSPE  {100 * fit['dipole_rmspe']:6.2f} %" in summary
    assert f"held-out Z* RMSPE      {100 * fit['born_rmspe']:6.2f} %" in summary
    # the parity table holds the predictions the RMSPE was computed from
    table = np.loadtxt(result.files["Z* parity table"], delimiter=",", skiprows=1)
    reference, predicted = table[:, -2], table[:, -1]
    rmse = np.sqrt(np.mean((reference - predicted) ** 2))
    assert rmse == pytest.approx(fit["born_rmse_e"], rel=1e-6)


def test_learning_curve_decreases(quick_run):
    curve = quick_run[0].results["learning_curve"]
    assert curve["sizes"] == list(demo.QUICK.learning_curve_sizes)
    assert curve["born_rmspe"][-1] < curve["born_rmspe"][0]
    assert curve["dipole_rmspe"][-1] < curve["dipole_rmspe"][0]


def test_md_bend_band_sits_on_the_harmonic_bend(quick_run):
    result, _ = quick_run
    harmonic = np.array(result.results["harmonic"]["frequencies_cm1"])
    bend_modes = harmonic[(harmonic > 1400) & (harmonic < 1800)]
    assert len(bend_modes) == 2  # one H-O-H bend per molecule
    bend = result.results["spectra"]["bands"]["bend"]
    assert bend["md"]["area"] > 0 and bend["harmonic"]["area"] > 0
    assert bend["tolerance_cm1"] == pytest.approx(
        demo.QUICK.fwhm_cm1 + demo.QUICK.band_tolerance_fraction * bend["harmonic"]["centroid_cm1"])
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
    assert again.reused == ("data", "fit", "learning_curve", "md")
    assert read_spectrum_csv(again.files["MD spectrum"]).metadata["fwhm_cm1"] == 60.0


def test_force_redoes_every_step(quick_run, tmp_path, monkeypatch):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    calls = []
    monkeypatch.setattr(demo, "_step_spectra",
                        lambda steps, p, md: calls.append(md) or ({}, "skipped by test"))
    monkeypatch.setattr(demo, "_step_md", lambda steps, p: ({"logs": []}, "skipped by test"))
    monkeypatch.setattr(demo, "_format_summary", lambda *args: "")
    again = demo.run_demo(outdir, quick=True, stream=None, force=True)
    assert again.reused == ()
    assert calls == [{"logs": []}]


def test_cli_prints_the_summary(quick_run, tmp_path, capsys):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    assert main(["demo", "-o", str(outdir), "--quick", "--silent"]) == 0
    assert "held-out dipole RMSPE" in capsys.readouterr().out


def test_cli_reports_bad_parameters(quick_run, tmp_path, capsys):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    with pytest.raises(SystemExit):
        main(["demo", "-o", str(outdir), "--quick", "--silent", "--temperature-K", "-5"])
    assert "temperature_K must be positive" in capsys.readouterr().err


def test_missing_tblite_names_the_extra(quick_run, tmp_path, monkeypatch):
    result, _ = quick_run
    outdir = _copy(result, tmp_path)
    monkeypatch.setitem(sys.modules, "tblite.ase", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'ase-dipole\[reference\]'"):
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
        demo.read_reference_set(path)
    frames[2].info["split"] = "born_test"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match=r"no \['born_train'\] frames"):
        demo.read_reference_set(path)
    frames.append(frames[2].copy())
    frames[-1].info["split"] = "born_train"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match="born_train frame 0 has no born_charges"):
        demo.read_reference_set(path)


def test_regenerated_set_follows_the_split_protocol(tmp_path):
    path = tmp_path / "dimer.extxyz"
    with demo.serial_threads():
        frames = demo.make_water_dimer_set(path, n_steps=300, n_dipole=20, n_born_train=4,
                                           n_born_test=2, stream=None)
    groups = demo.read_reference_set(path)
    assert {name: len(members) for name, members in groups.items()} == \
        {"dipole_train": 6, "dipole_test": 8, "born_train": 4, "born_test": 2}
    for k, frame in enumerate(frames):
        split = frame.info["split"]
        # train frames at even positions, test frames at odd ones
        assert (k % 2 == 1) == split.endswith("test")
        born = get_born_charges(frame)
        assert (born is not None) == split.startswith("born")
        if born is not None:  # acoustic sum rule of a neutral molecule
            assert np.abs(born.sum(axis=0)).max() < 1e-4


def test_band_position_of_a_gaussian():
    x = np.arange(1000.0, 2000.0, 0.5)
    y = 3.0 * np.exp(-0.5 * ((x - 1600.0) / 15.0) ** 2)
    spectrum = IRSpectrum(x, y, np.zeros_like(x), "cm^2")
    band = demo.band_position(spectrum, (1400.0, 1800.0))
    assert band["centroid_cm1"] == pytest.approx(1600.0, abs=1e-6)
    assert band["maximum_cm1"] == 1600.0
    assert band["area"] == pytest.approx(3.0 * 15.0 * np.sqrt(2 * np.pi), rel=1e-9)
    shifted = IRSpectrum(x + 40.0, y, np.zeros_like(x), "cm^2")
    check = demo.band_check(shifted, spectrum, fwhm_cm1=20.0, tolerance_fraction=0.01,
                            bands={"bend": (1400.0, 1800.0)})["bend"]
    assert check["shift_cm1"] == pytest.approx(40.0, abs=1e-6)
    assert check["tolerance_cm1"] == pytest.approx(36.0)
    assert not check["agree"]
