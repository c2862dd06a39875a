"""Protocol files and the step engine: validation errors, skipping and
rerunning on edits (with the reasons), resuming, and a tiny real protocol
end to end (GFN2-xTB water: sample, select, label, fit, MD, spectrum,
harmonic, compare)."""

import json
import os

import numpy as np
import pytest

from ase_dipole.cli import main
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.workflow.engine import Engine, Step
from ase_dipole.workflow.protocol import (SCHEMA, ProtocolError, check_protocol, load_protocol,
                                          parse_override)
from ase_dipole.workflow.steps import plan_protocol, run_protocol

BASE = {"system": {"structure": "collection:g2/H2O"},
        "data": {"file": "set.extxyz"}, "fit": {}}


def _with(**sections):
    data = {name: dict(section) for name, section in BASE.items()}
    for name, section in sections.items():
        if section is None:
            data.pop(name, None)
        else:
            data[name] = section
    return data


# ----------------------------------------------------------------------------
# validation


def test_unknown_key_names_it_and_the_allowed_ones():
    data = _with(md={"temperature_K": 300.0, "temprature_K": 300.0})
    allowed = str(sorted(SCHEMA["md"])).replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ProtocolError, match=r"unknown key\(s\) \['temprature_K'\] in \[md\]; "
                                            r"allowed keys: " + allowed):
        check_protocol(data)


def test_unknown_section_is_named():
    with pytest.raises(ProtocolError, match=r"unknown section\(s\) \['dynamics'\]; allowed "
                                            r"sections: \['cluster', 'compare'"):
        check_protocol(_with(dynamics={}))


@pytest.mark.parametrize("section, key, value, message", [
    ("md", "temperature_K", "300 K", r"\[md\] temperature_K = '300 K': expected a number"),
    ("md", "n_trajectories", 2.5, r"\[md\] n_trajectories = 2.5: expected a whole number"),
    ("md", "temperature_K", -5.0, r"\[md\] temperature_K = -5.0: must be positive"),
    ("md", "ensemble", "nve", r"\[md\] ensemble = 'nve': use one of \['nvt', 'npt'\]"),
    ("fit", "targets", "charges", r"\[fit\] targets = 'charges': use one of"),
    ("system", "supercell", [2, 2], r"\[system\] supercell = \[2, 2\]: give three"),
    ("harmonic", "symmetry", 1, r"\[harmonic\] symmetry = 1: expected true or false"),
])
def test_bad_values_are_named(section, key, value, message):
    data = _with(md={"temperature_K": 300.0}, spectrum={}, harmonic={})
    data[section] = dict(data.get(section, {}), **{key: value})
    with pytest.raises(ProtocolError, match=message):
        check_protocol(data)


def test_missing_and_conflicting_sections():
    with pytest.raises(ProtocolError, match=r"\[md\] needs 'temperature_K' \(a number\)"):
        check_protocol(_with(md={}))
    with pytest.raises(ProtocolError, match=r"missing section\(s\) \['fit'\]"):
        check_protocol(_with(fit=None))
    with pytest.raises(ProtocolError, match="exactly one source of Born charges"):
        check_protocol(_with(data=None))
    with pytest.raises(ProtocolError, match=r"\['sample'\] without \['select', 'label'\]"):
        check_protocol(_with(data=None, sample={"temperatures_K": [300.0], "steps": 10}))
    with pytest.raises(ProtocolError, match=r"\[compare\] compares .* needs \[spectrum\]"):
        check_protocol(_with(md={"temperature_K": 300.0}, harmonic={}, compare={}))
    with pytest.raises(ProtocolError, match=r"bands.bend = \[1800.0, 1400.0\]: give \[low, high\]"):
        check_protocol(_with(md={"temperature_K": 300.0}, spectrum={}, harmonic={},
                             compare={"bands": {"bend": [1800.0, 1400.0]}}))


def test_defaults_and_paths_relative_to_the_protocol(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[system]\nstructure = "start.xyz"\n[data]\nfile = "sub/set.extxyz"\n'
                    "[fit]\n[md]\ntemperature_K = 300\n")
    protocol = load_protocol(path)
    assert protocol["data"]["file"] == str(tmp_path / "sub" / "set.extxyz")
    assert protocol["system"]["structure"] == str(tmp_path / "start.xyz")
    assert protocol["md"]["temperature_K"] == 300.0 and protocol["md"]["timestep_fs"] == 0.5
    assert protocol["system"]["calculator"] == "tblite"
    overridden = load_protocol(path, overrides={("md", "seed"): 7})
    assert overridden["md"]["seed"] == 7
    path.write_text("[system\n")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(path)


def test_overrides_parse_toml_values():
    assert parse_override("md.temperature_K=300") == ("md", "temperature_K", 300)
    assert parse_override("fit.learning_curve_sizes=[5, 10]") == \
        ("fit", "learning_curve_sizes", [5, 10])
    assert parse_override("system.calculator=ase.calculators.emt:EMT") == \
        ("system", "calculator", "ase.calculators.emt:EMT")
    with pytest.raises(ProtocolError, match=r"use SECTION.KEY=VALUE"):
        parse_override("temperature_K=300")


def test_cli_reports_unknown_key(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text('[system]\nstructure = "collection:g2/H2O"\n[fit]\nfixed_charges = "x"\n'
                    "[md]\ntemperature_K = 300\nsteps = 10\n")
    with pytest.raises(SystemExit):
        main(["run", str(path), "-o", str(tmp_path / "out")])
    assert "unknown key(s) ['steps'] in [md]; allowed keys:" in capsys.readouterr().err


# ----------------------------------------------------------------------------
# the engine on small steps


def _writer(name, text, calls):
    def function(engine):
        calls.append(name)
        with open(engine.path(f"{name}.txt"), "w") as handle:
            handle.write(text)
        return {"text": text}, f"wrote {name}"
    return function


def _chain(options_a, options_b, calls, input_path):
    return [Step("a", "first", options_a, _writer("a", str(options_a), calls),
                 input_files={"input": input_path}, outputs=("a.txt",)),
            Step("b", "second", options_b, _writer("b", str(options_b), calls), uses=("a",),
                 outputs=("b.txt",))]


def test_steps_are_skipped_and_rerun_with_reasons(tmp_path):
    source = tmp_path / "input.txt"
    source.write_text("one")
    calls = []
    Engine(tmp_path / "out", stream=None).run(_chain({"x": 1}, {"y": 1}, calls, source))
    assert calls == ["a", "b"]
    plan = Engine(tmp_path / "out", stream=None).run(_chain({"x": 1}, {"y": 1}, calls, source))
    assert calls == ["a", "b"] and [e.action for e in plan] == ["skip", "skip"]
    # an option of the second step: only it reruns
    plan = Engine(tmp_path / "out", stream=None).run(_chain({"x": 1}, {"y": 2}, calls, source))
    assert calls[2:] == ["b"] and plan[1].reasons == ["option y 1 -> 2"]
    # an option of the first: both, the second because the first reruns
    engine = Engine(tmp_path / "out", stream=None)
    lines = engine.describe(engine.plan(_chain({"x": 2, "z": 0}, {"y": 2}, calls, source)))
    assert lines == ["[1/2] a: reruns because option x 1 -> 2; option z added (0)",
                     "[2/2] b: reruns because step a reruns"]
    # an input file's content
    source.write_text("two")
    plan = Engine(tmp_path / "out", stream=None).run(_chain({"x": 1}, {"y": 2}, calls, source))
    assert plan[0].reasons == ["input file input changed"]
    assert calls[3:] == ["a", "b"]


def test_edited_or_missing_outputs_rerun_the_step(tmp_path):
    source = tmp_path / "input.txt"
    source.write_text("one")
    calls = []
    Engine(tmp_path / "out", stream=None).run(_chain({}, {}, calls, source))
    (tmp_path / "out" / "b.txt").write_text("edited by hand")
    plan = Engine(tmp_path / "out", stream=None).run(_chain({}, {}, calls, source))
    assert plan[1].reasons == ["output b.txt was changed after the step"]
    os.remove(tmp_path / "out" / "a.txt")
    engine = Engine(tmp_path / "out", stream=None)
    assert engine.describe(engine.plan(_chain({}, {}, calls, source))) == [
        "[1/2] a: reruns because output a.txt is missing", "[2/2] b: reruns because step a reruns"]
    plan = engine.run(_chain({}, {}, calls, source))
    # a wrote the same bytes again, so b (same key) stays valid
    assert [e.action for e in plan] == ["rerun", "skip"]
    assert calls == ["a", "b", "b", "a"]
    plan = Engine(tmp_path / "out", stream=None, force=True).run(_chain({}, {}, calls, source))
    assert [e.reasons for e in plan] == [["forced"], ["forced"]]


def test_a_failed_step_is_recorded_and_resumed_in_its_workdir(tmp_path):
    attempts = []

    def flaky(engine):
        folder = engine.path("work")
        os.makedirs(folder, exist_ok=True)
        done = sorted(os.listdir(folder))
        attempts.append(len(done))
        for k in range(len(done), 3):
            if k == 1 and len(attempts) == 1:
                raise RuntimeError("killed")
            open(os.path.join(folder, f"part{k}"), "w").close()
        with open(engine.path("result.txt"), "w") as handle:
            handle.write("done")
        return {}, "ok"

    def steps(n):
        return [Step("s", "flaky", {"n": n}, flaky, outputs=("result.txt",), workdir="work")]

    with pytest.raises(RuntimeError, match="killed"):
        Engine(tmp_path, stream=None).run(steps(3))
    with open(tmp_path / "steps" / "s.json") as handle:
        marker = json.load(handle)
    assert marker["status"] == "failed" and marker["error"] == "RuntimeError: killed"
    plan = Engine(tmp_path, stream=None).run(steps(3))
    assert plan[0].reasons == ["the last run stopped (failed); continuing"]
    assert attempts == [0, 1]  # the finished part was kept
    import io

    said = io.StringIO()
    Engine(tmp_path, stream=said).run(steps(4))  # new key: the work folder starts empty
    assert attempts == [0, 1, 0]
    # ... and the earlier one is moved aside, not deleted (it deleted the MD logs silently)
    earlier = [name for name in os.listdir(tmp_path) if name.startswith("work.earlier-")]
    assert len(earlier) == 1 and sorted(os.listdir(tmp_path / earlier[0])) == \
        ["part0", "part1", "part2"]
    assert f"moved the work folder of the earlier run, work/, to {earlier[0]}/ (kept" \
        in said.getvalue()
    Engine(tmp_path, stream=None, force=True).run(steps(4))
    assert len([name for name in os.listdir(tmp_path) if name.startswith("work.earlier-")]) == 2


def test_steps_must_come_after_those_they_use(tmp_path):
    step = Step("b", "second", {}, lambda engine: ({}, ""), uses=("a",))
    with pytest.raises(ValueError, match=r"step 'b' uses \['a'\], which come later"):
        Engine(tmp_path, stream=None).plan([step])


# ----------------------------------------------------------------------------
# a tiny real protocol: GFN2-xTB water from scratch

TINY = """
[system]
title = "water, GFN2-xTB (test)"
structure = "collection:g2/H2O"
calculator = "tblite"
relax_fmax_eV_A = 1e-3
vacuum_A = 5.0

[sample]
temperatures_K = [300.0, 600.0]
steps = 300
interval = 10
timestep_fs = 0.5
seed = 1

[select]
n_train = 8
n_test = 4
method = "fps"

[label]
method = "xtb"

[fit]
n_max = 4
l_max = 3
regularization = 1e-6

[md]
temperature_K = 100.0
timestep_fs = 0.5
n_trajectories = 1
equilibration_steps = 100
decorrelation_steps = 0
production_steps = 1400
interval = 2

[spectrum]
fwhm_cm1 = 100.0
max_wavenumber_cm1 = 4500.0

[harmonic]
symmetry = false

[compare]
from_cm1 = 300.0
bands = { bend = [1300.0, 1900.0] }
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    pytest.importorskip("tblite")
    folder = tmp_path_factory.mktemp("tiny")
    path = folder / "water.toml"
    path.write_text(TINY)
    return path, run_protocol(load_protocol(path), folder / "out", threads=1, stream=None)


def test_tiny_protocol_end_to_end(tiny_run):
    import ase.io

    path, result = tiny_run
    assert [entry.step.name for entry in result.plan] == [
        "structure", "sample", "select", "label", "fit", "md", "spectrum", "harmonic", "compare"]
    assert result.reused == ()
    select = result.results["select"]
    assert not set(select["train"]) & set(select["test"])  # held-out frames never trained on
    labelled = ase.io.read(os.path.join(result.outdir, "labelled.extxyz"), ":")
    assert len(labelled) == 12
    for frame in labelled:  # acoustic sum rule of a neutral molecule
        assert np.abs(get_born_charges(frame).sum(axis=0)).max() < 1e-3
    fit = result.results["fit"]
    assert fit["n_train"] == 8 and fit["n_born_test"] == 4
    assert fit["born_rmspe"] < 0.05 and fit["dipole_rmspe"] < 0.05
    # the MD bend of the model's Ṗ lies on the harmonic bend of the same calculator
    bend = result.results["compare"]["bands"]["bend"]
    assert bend["agree"], bend
    assert 1500 < bend["harmonic"]["centroid_cm1"] < 1700
    with open(result.summary_path) as handle:
        assert "held-out Z* RMSPE" in handle.read()


def test_tiny_protocol_edit_reruns_only_what_changed(tiny_run, tmp_path, capsys):
    import shutil

    path, result = tiny_run
    outdir = tmp_path / "out"
    shutil.copytree(result.outdir, outdir)
    assert all(line.endswith("up to date")
               for line in plan_protocol(load_protocol(path), outdir))
    before = {marker.name: marker.read_bytes() for marker in (outdir / "steps").glob("*.json")}
    assert main(["run", str(path), "-o", str(outdir), "--quiet", "--threads", "1",
                 "--set", "spectrum.fwhm_cm1=120"]) == 0
    after = {marker.name: marker.read_bytes() for marker in (outdir / "steps").glob("*.json")}
    # every step before the spectrum is reused untouched (its record not rewritten), the
    # spectrum and what follows from it are redone
    rerun = {name for name in before if after[name] != before[name]}
    assert rerun and rerun <= {"spectrum.json", "compare.json", "harmonic.json"}, sorted(rerun)
    markers = {}
    for name in ("fit", "md", "spectrum", "compare"):
        with open(outdir / "steps" / f"{name}.json") as handle:
            markers[name] = json.load(handle)
    assert markers["spectrum"]["reasons"] == ["option fwhm_cm1 100.0 -> 120.0"]
    assert "step spectrum reruns" in markers["compare"]["reasons"]
    assert markers["md"]["key"] == result.plan[5].key  # reused, not rerun
    assert markers["spectrum"]["provenance"]["command"].endswith("--set spectrum.fwhm_cm1=120")
    # a dry run says what an edit of the MD would redo, and why
    capsys.readouterr()
    assert main(["run", str(path), "-o", str(outdir), "--dry-run",
                 "--set", "md.temperature_K=150", "--set", "spectrum.fwhm_cm1=120"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[5] == "[6/9] md: reruns because option temperature_K 100.0 -> 150.0"
    assert lines[6] == "[7/9] spectrum: reruns because step md reruns"
    assert lines[7] == "[8/9] harmonic: up to date"


def test_uncertainty_selection_needs_a_model():
    sampling = dict(data=None, sample={"temperatures_K": [300.0], "steps": 10}, label={})
    with pytest.raises(ProtocolError, match=r"method = 'uncertainty' ranks frames .* add model"):
        check_protocol(_with(select={"n_train": 2, "n_test": 1, "method": "uncertainty"},
                             **sampling))
    with pytest.raises(ProtocolError, match=r"\[select\] model is used by method = 'uncertainty'"):
        check_protocol(_with(select={"n_train": 2, "n_test": 1, "model": "m.json"}, **sampling))


def test_tiny_protocol_label_resumes_from_its_cache(tiny_run, tmp_path):
    import shutil

    path, result = tiny_run
    outdir = tmp_path / "out"
    shutil.copytree(result.outdir, outdir)
    cached = sorted(os.listdir(outdir / "label"))
    assert len(cached) == 12  # one file per labelled frame
    os.remove(outdir / "label" / cached[0])
    os.remove(outdir / "labelled.extxyz")
    again = run_protocol(load_protocol(path), outdir, threads=1, stream=None)
    actions = {entry.step.name: entry.action for entry in again.plan}
    assert actions["label"] == "rerun"
    assert again.results["label"]["computed"] == 1 and again.results["label"]["reused"] == 11
    # the labels came out byte for byte the same: nothing after them reruns
    assert [name for name, action in actions.items() if action != "skip"] == ["label"]


def test_restraints_are_checked():
    sampling = dict(data=None, select={"n_train": 2, "n_test": 1}, label={})
    good = {"atoms": [0, 3], "distance_A": 4.0, "spring_eV_A2": 5.0}
    check_protocol(_with(sample={"temperatures_K": [10.0], "steps": 10, "restraints": [good]},
                         **sampling))
    for bad, message in (
            (dict(good, k=1.0), r"restraints\[0\]: unknown key\(s\) \['k'\]"),
            ({"atoms": [0, 3]}, r"missing \['distance_A', 'spring_eV_A2'\]"),
            (dict(good, atoms=[2, 2]), r"atoms = \[2, 2\]: give two different atom indices"),
            (dict(good, distance_A=-1.0), r"distance_A = -1.0: must be a positive number")):
        with pytest.raises(ProtocolError, match=message):
            check_protocol(_with(sample={"temperatures_K": [10.0], "steps": 10,
                                         "restraints": [bad]}, **sampling))


@pytest.mark.parametrize("name", ["water_dimer", "water_dimer_from_scratch"])
def test_shipped_protocols_load_and_plan(name, tmp_path):
    from ase_dipole.workflow.protocol import shipped_protocol

    protocol = load_protocol(shipped_protocol(name))
    lines = plan_protocol(protocol, tmp_path)
    assert all(line.endswith("runs (first time)") for line in lines)
    assert [line.split("] ")[1].split(":")[0] for line in lines][-4:] == \
        ["md", "spectrum", "harmonic", "compare"]
    with pytest.raises(FileNotFoundError, match=r"no shipped protocol 'water'; available: "
                                                r"\['water_dimer', 'water_dimer_from_scratch'\]"):
        shipped_protocol("water")


def test_calculator_that_fails_to_import_is_named(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(TINY)
    with pytest.raises(SystemExit):
        main(["run", str(path), "-o", str(tmp_path / "out"), "--quiet",
              "--set", "system.calculator=no_such_module:make_calculator"])
    assert "cannot import 'no_such_module' for calculator 'no_such_module:make_calculator'" \
        in capsys.readouterr().err
    with open(tmp_path / "out" / "steps" / "structure.json") as handle:
        marker = json.load(handle)
    assert marker["status"] == "failed" and "no_such_module" in marker["error"]


def test_tiny_protocol_md_on_a_local_cluster_gives_the_same_log(tiny_run, tmp_path):
    import shutil

    from ase_dipole.dynamics.dipole_log import read_dipole_log

    pytest.importorskip("distributed")
    path, result = tiny_run
    outdir = tmp_path / "out"
    shutil.copytree(result.outdir, outdir)
    os.remove(outdir / "md" / "traj_000.log")
    again = run_protocol(load_protocol(path), outdir, threads=1, stream=None,
                         cluster={"workers": 2})
    md = next(entry for entry in again.plan if entry.step.name == "md")
    assert md.reasons == ["output md/traj_000.log is missing"]
    assert md.key == result.plan[5].key  # where a step runs is not part of its key
    local = read_dipole_log(os.path.join(result.outdir, "md", "traj_000.log"))
    remote = read_dipole_log(outdir / "md" / "traj_000.log")
    for name in ("time_fs", "pdot", "dipole"):
        np.testing.assert_allclose(getattr(remote, name), getattr(local, name), rtol=1e-9,
                                   atol=1e-12)


def test_unreachable_scheduler_is_named(tmp_path, capsys):
    pytest.importorskip("tblite")
    pytest.importorskip("distributed")
    path = tmp_path / "p.toml"
    path.write_text(TINY)
    with pytest.raises(SystemExit):
        main(["run", str(path), "-o", str(tmp_path / "out"), "--quiet", "--threads", "1",
              "--set", "sample.steps=100", "--set", "select.n_train=4",
              "--set", "select.n_test=2", "--scheduler", "tcp://127.0.0.1:9",
              "--connect-timeout-s", "2"])
    error = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in error
    assert "dask scheduler" in error  # what to start
    with open(tmp_path / "out" / "steps" / "select.json") as handle:
        assert json.load(handle)["status"] == "done"  # the steps before it are kept


def test_tiny_protocol_selects_by_the_uncertainty_of_an_earlier_model(tiny_run, tmp_path):
    import contextlib
    import shutil

    from ase_dipole.workflow.steps import _Context, build_steps

    path, result = tiny_run
    outdir = tmp_path / "out"
    shutil.copytree(result.outdir, outdir)
    model = str(tmp_path / "round1.json")
    shutil.copy(os.path.join(result.outdir, "model.json"), model)
    protocol = load_protocol(path, overrides={("select", "method"): "uncertainty",
                                              ("select", "model"): model})
    engine = Engine(outdir, stream=None)
    with contextlib.ExitStack() as stack:
        plan = engine.run(build_steps(protocol)[:3], context=_Context(engine, protocol, {}, stack))
    assert [entry.action for entry in plan] == ["skip", "skip", "rerun"]
    assert plan[2].reasons[0] == "option method 'fps' -> 'uncertainty'"
    select = engine.records["select"]["results"]
    assert select["test"] == result.results["select"]["test"]  # the held-out frames stay
    assert len(select["train"]) == 8 and not set(select["train"]) & set(select["test"])
    assert select["train"] != result.results["select"]["train"]
