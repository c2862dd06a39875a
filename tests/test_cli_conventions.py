"""What every command shares (docs/cli_conventions.md): one-line errors that
name the options the user typed, --quiet and --threads, the order of the
commands in --help, and provenance in every output."""

import ast
import glob
import os
import re

import numpy as np
import pytest

from ase_dipole.cli import COMMANDS, THREADED, build_parser, main


def subparsers():
    action = next(a for a in build_parser()._actions if a.dest == "command")
    return action.choices


def one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "usage:" not in error, error
    return error.strip()


# -- errors -------------------------------------------------------------------------------
def test_argparse_and_api_errors_are_one_line(tmp_path, capsys):
    assert one_line_error(capsys, ["md", "x.xyz"]).startswith(
        "ase-dipole md: error: the following arguments are required: --calculator")
    assert one_line_error(capsys, ["spectrum", "a.log", "--fwhm-cm1", "x"]) == \
        "ase-dipole spectrum: error: argument --fwhm-cm1: invalid float value: 'x'"
    assert one_line_error(capsys, ["bogus"]).startswith(
        "ase-dipole: error: argument COMMAND: invalid choice: 'bogus'")
    assert one_line_error(capsys, ["fit", str(tmp_path / "missing.extxyz"), "-o",
                                   str(tmp_path / "m.json")]).startswith(
        "ase-dipole fit: error: cannot read")


def _keyword_passes(path):
    """(keyword, dest) of every ``keyword=args.dest`` (call keyword, dict entry
    or ``d["keyword"] = args.dest``) in a command module whose names differ."""
    pairs = set()

    def dest(node):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "args"):
            return node.attr
        return None

    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) != "update":
            pairs |= {(k.arg, dest(k.value)) for k in node.keywords if k.arg and dest(k.value)}
        elif isinstance(node, ast.Dict):
            pairs |= {(k.value, dest(v)) for k, v in zip(node.keys, node.values)
                      if isinstance(k, ast.Constant) and isinstance(k.value, str) and dest(v)}
        elif isinstance(node, ast.Assign) and dest(node.value):
            pairs |= {(t.slice.value, dest(node.value)) for t in node.targets
                      if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)}
    return {(keyword, name) for keyword, name in pairs if keyword != name}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_keyword_an_error_can_name_becomes_the_flag_typed(command):
    """Every option's Python name, and every API keyword the command passes an
    option under another name, reads as the option in an error: with its value
    (``fwhm_cm1=120`` -> ``--fwhm-cm1 120``, the '=' not lost), bare
    (``pass format=`` -> ``pass --format``, names without '_' too) and in a
    bound (``fwhm_cm1 >= 3`` -> ``--fwhm-cm1 >= 3``)."""
    parser = subparsers()[command]
    flags = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.dest not in ("help",):
            flags[action.dest] = max(longs, key=len)
    module = os.path.join(os.path.dirname(__file__), "..", "ase_dipole", "cli",
                          COMMANDS[command] + ".py")
    for keyword, dest in _keyword_passes(module):
        if dest in flags and keyword not in flags:
            flags[keyword] = flags[dest]
            assert keyword in parser.keywords, f"{command}: {keyword}=args.{dest} is not in keywords"
    assert flags
    for name, flag in flags.items():
        text = parser.name_flags(f"{name}=120 is too wide; pass {name}= now; use {name} >= 3.5")
        assert text == f"{flag} 120 is too wide; pass {flag} now; use {flag} >= 3.5", (name, text)


def test_api_hints_fold_into_the_flag(tmp_path):
    parsers = subparsers()
    assert parsers["log"].name_flags("give lammps_units= (CLI: --lammps-units), one of metal") \
        == "give --lammps-units, one of metal"
    assert parsers["label"].name_flags("or pass pw_command=/ph_command= with the full path") \
        == "or pass --pw-command/--ph-command with the full path"
    assert parsers["label"].name_flags("pass pseudopotentials={symbol: file} with files") \
        == "pass --pseudopotential SYMBOL=FILE with files"
    # a Python name that is not followed by '=' or a bound stays prose
    assert parsers["spectrum"].name_flags("log x has no temperature_K in its metadata") \
        == "log x has no temperature_K in its metadata"


def test_real_errors_name_the_flags(tmp_path, capsys, monkeypatch):
    """The messages of issue 27: a too wide Nyquist range, a BORN file without
    its structure, a QE frame without its pseudopotential."""
    from ase_dipole.dynamics.dipole_log import DipoleLogWriter

    log = tmp_path / "a.log"
    with DipoleLogWriter(log, dict(timestep_fs=2.0, interval=1, n_atoms=2, volume_A3=None,
                                   periodic=False, temperature_K=300.0)) as writer:
        for t in range(2000):  # 4 ps, every 2 fs: Nyquist at 8339 cm^-1
            writer.write(2.0 * t, np.sin([0.3 * t, 0.1 * t, 0.2 * t]), np.zeros(3))
    error = one_line_error(capsys, ["spectrum", str(log), "--max-wavenumber-cm1", "15000",
                                    "--fwhm-cm1", "40", "-o", str(tmp_path / "ir.csv")])
    assert "--max-wavenumber-cm1 15000 exceeds" in error, error
    error = one_line_error(capsys, ["spectrum", str(log), "--fwhm-cm1", "0.5",
                                    "-o", str(tmp_path / "ir.csv")])
    assert "for --fwhm-cm1 0.5 (5 widths" in error and "use --fwhm-cm1 >= " in error, error

    born = os.path.join(os.path.dirname(__file__), "data", "phonopy_born", "BORN_NaCl")
    error = one_line_error(capsys, ["convert", born, "-o", str(tmp_path / "x.extxyz")])
    assert "pass --structure" in error and "structure=" not in error, error

    import ase.io
    from ase.build import bulk

    ase.io.write(tmp_path / "si.extxyz", bulk("Si"))
    (tmp_path / "pseudo").mkdir()
    (tmp_path / "pseudo" / "Si.pbe-rrkj.UPF").write_text("")
    (tmp_path / "bin").mkdir()
    for program in ("pw.x", "ph.x"):
        (tmp_path / "bin" / program).write_text("#!/bin/sh\nexit 1\n")
        (tmp_path / "bin" / program).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert main(["label", str(tmp_path / "si.extxyz"), "-o", str(tmp_path / "si_out.extxyz"),
                 "--method", "qe", "--pseudo-dir", str(tmp_path / "pseudo"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "no pseudopotential given for ['Si']; pass --pseudopotential SYMBOL=FILE" in error
    assert "pseudopotentials=" not in error


# -- one CLI ------------------------------------------------------------------------------
def test_help_lists_the_commands_in_the_order_of_the_method_and_ends_with_demo_and_run():
    text = build_parser().format_help()
    listed = re.findall(r"^    (\S+)", text, flags=re.MULTILINE)
    assert listed == list(COMMANDS)
    order = ["label", "fit", "md", "spectrum", "harmonic", "compare", "run", "demo"]
    assert [listed.index(name) for name in order] == sorted(listed.index(name) for name in order)
    last = text.strip().split("\n\n")[-1]
    assert "ase-dipole demo" in last and "ase-dipole run" in last


PROGRESS_COMMANDS = ("select", "label", "fit", "learning-curve", "predict", "md", "harmonic",
                     "run", "demo")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_quiet_and_threads_where_they_mean_something(command):
    options = {s for a in subparsers()[command]._actions for s in a.option_strings}
    assert ("--quiet" in options) == (command in PROGRESS_COMMANDS)
    assert ("--threads" in options) == (command in THREADED)


def test_threads_hold_numba_and_blas_inside_a_command(monkeypatch):
    import numba
    from threadpoolctl import threadpool_info

    seen = {}

    def run(args, parser):
        seen["numba"] = numba.get_num_threads()
        seen["blas"] = {info["num_threads"] for info in threadpool_info()
                        if info["user_api"] == "blas"}
        return 0

    monkeypatch.setattr("ase_dipole.cli.spectrum.run", run)
    assert main(["spectrum", "a.log", "--threads", "1"]) == 0
    assert seen == {"numba": 1, "blas": {1}}


def test_threads_must_be_positive(capsys):
    assert "--threads 0: give a whole number >= 1" in one_line_error(
        capsys, ["spectrum", "a.log", "--threads", "0"])


def test_output_option_help_says_file_or_folder():
    """-o is a file everywhere except md, run and demo, where it is a folder
    (and says so)."""
    for name, parser in subparsers().items():
        action = next((a for a in parser._actions if "-o" in a.option_strings), None)
        assert action is not None, name
        if name in ("md", "run", "demo"):
            assert action.dest == "outdir" and "folder" in action.help, name
        else:
            assert action.dest == "output" and "folder" not in action.help, name


def test_cli_modules_have_no_private_argv_parsing():
    """Every command reads its options through the shared parser (no sys.argv)."""
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "..", "ase_dipole", "cli", "*.py")):
        if path.endswith(("__main__.py", "__init__.py")):
            continue
        assert "sys.argv" not in open(path).read(), path


# -- progress -----------------------------------------------------------------------------
def test_fit_shows_the_cross_validation_as_it_goes(dimer, capsys):
    """The cross-validation after the last frame was silent: it is a bar of
    its own, one tick per fold and one for the final solve."""
    from ase_dipole.learning.model import PolarizationModel

    PolarizationModel(cutoff=4.5, n_max=4, l_max=2, cv_folds=4).fit(
        dimer["born_train"][:12], targets="born", progress=True)
    bars = [line for line in capsys.readouterr().err.splitlines() if "%|" in line]
    assert any(line.startswith("fit: 100%") and "| 12/12 [" in line for line in bars), bars
    assert any(line.startswith("cross-validation: 100%") and "| 5/5 [" in line
               for line in bars), bars


def test_cross_validation_ticks_once_per_fold_and_for_the_final_solve(dimer):
    from ase_dipole.learning import ridge

    calls = []
    equations = ridge.NormalEquations(4, n_folds=3)
    rng = np.random.default_rng(0)
    for fold in range(3):
        equations.add(fold, "born", rng.normal(size=(10, 4)), rng.normal(size=10))
    ridge.cross_validate(equations, {"born": 1.0}, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_learning_curve_says_each_fit_as_it_starts(dimer, capsys):
    from ase_dipole.learning.learning_curve import learning_curve

    learning_curve({"born": dimer["born_train"][:8]}, dimer["born_test"][:2], sizes=[4, 8],
                   parameters=dict(cutoff=4.5, n_max=4, l_max=2, regularization=1e-6),
                   progress=True)
    lines = capsys.readouterr().err.splitlines()
    first_bar = next(i for i, line in enumerate(lines) if "%|" in line)
    assert lines[0] == "learning curve: fit 1/2, Z* on 4 frame(s)" and first_bar > 0, lines


# -- provenance ---------------------------------------------------------------------------
def _dimer_file(tmp_path, frames, name="train.extxyz"):
    from ase_dipole.io.extxyz import write_extxyz

    path = tmp_path / name
    write_extxyz(path, frames)
    return path


def test_model_file_carries_date_command_and_the_digest_of_its_training_data(dimer, tmp_path):
    import json

    import ase.io

    from ase_dipole import __version__
    from ase_dipole.learning.model import PolarizationModel

    frames = dimer["born_train"][:6]
    train = _dimer_file(tmp_path, frames)
    small = ["--cutoff", "4.5", "--n-max", "4", "--l-max", "2", "--regularization", "1e-6"]
    assert main(["fit", str(train), "-o", str(tmp_path / "m.json"), "--quiet", *small]) == 0
    record = PolarizationModel.load(tmp_path / "m.json").provenance
    assert record["command"].startswith(f"ase-dipole fit {train} -o ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record["date"])
    assert record["ase_dipole_version"] == __version__ and record["n_training_frames"] == 6
    # the digest is of the content: the same frames in another file (other
    # extra keys, another order of them) give the same digest, one moved atom another
    shuffled = []
    for frame in ase.io.read(train, index=":"):
        frame.info = {"note": "copy", **frame.info}
        shuffled.append(frame)
    copy = _dimer_file(tmp_path, shuffled, "copy.extxyz")
    moved = [frame.copy() for frame in frames]
    moved[3].positions[1, 2] += 1e-6
    moved_file = _dimer_file(tmp_path, moved, "moved.extxyz")
    for path, same in ((copy, True), (moved_file, False)):
        assert main(["fit", str(path), "-o", str(tmp_path / "n.json"), "--quiet", *small]) == 0
        other = PolarizationModel.load(tmp_path / "n.json").provenance
        assert (other["training_data_sha256"] == record["training_data_sha256"]) == same
    # files written before provenance (no entry) still load
    document = json.loads((tmp_path / "m.json").read_text())
    del document["provenance"]
    from ase_dipole.learning.model import DIGEST_KEY, _content_digest

    document[DIGEST_KEY] = _content_digest(document)
    (tmp_path / "old.json").write_text(json.dumps(document))
    assert PolarizationModel.load(tmp_path / "old.json").provenance is None


def test_api_fit_without_a_command_has_no_date(dimer):
    from ase_dipole.learning.model import PolarizationModel

    model = PolarizationModel(cutoff=4.5, n_max=4, l_max=2, regularization=1e-6).fit(
        dimer["born_train"][:3], targets="born", progress=False)
    assert set(model.provenance) == {"training_data_sha256", "n_training_frames",
                                     "ase_dipole_version"}


def test_convert_and_predict_outputs_carry_input_digests(dimer, tmp_path):
    import json

    import ase.io

    from ase_dipole.learning.model import PolarizationModel
    from ase_dipole.provenance import file_sha256

    born = os.path.join(os.path.dirname(__file__), "data", "phonopy_born", "BORN_NaCl")
    poscar = os.path.join(os.path.dirname(__file__), "data", "phonopy_born", "POSCAR_NaCl")
    assert main(["convert", born, "--structure", poscar, "-o", str(tmp_path / "nacl.extxyz")]) == 0
    record = json.loads(ase.io.read(tmp_path / "nacl.extxyz").info["conversion_provenance"])
    assert record["inputs"] == [{"path": born, "sha256": file_sha256(born)},
                                {"path": poscar, "sha256": file_sha256(poscar)}]
    assert record["command"].startswith("ase-dipole convert ")

    model = PolarizationModel(cutoff=4.5, n_max=4, l_max=2, regularization=1e-6).fit(
        dimer["born_train"][:3], targets="born", progress=False)
    model.save(tmp_path / "m.json")
    structures = _dimer_file(tmp_path, dimer["born_test"][:2], "test.extxyz")
    assert main(["predict", str(tmp_path / "m.json"), str(structures), "-o",
                 str(tmp_path / "p.extxyz"), "--quiet"]) == 0
    for frame in ase.io.read(tmp_path / "p.extxyz", index=":"):
        record = json.loads(frame.info["prediction_provenance"])
        assert record["model_sha256"] == model.sha256 == file_sha256(tmp_path / "m.json")
        assert [item["sha256"] for item in record["inputs"]] == [
            file_sha256(tmp_path / "m.json"), file_sha256(structures)]


def test_md_logs_and_run_file_carry_date_command_and_xtb_accuracy(tmp_path, capsys):
    import json

    import ase.io

    from ase_dipole.dynamics.dipole_log import read_dipole_log
    from ase_dipole.dynamics.md import make_force_calculator
    from md_helpers import water_model

    model, atoms = water_model()
    model.save(tmp_path / "water.npz")
    ase.io.write(tmp_path / "water.extxyz", atoms)
    arguments = ["md", str(tmp_path / "water.extxyz"), "--model", str(tmp_path / "water.npz"),
                 "--calculator", "tblite", "-o", str(tmp_path / "run"), "--temperature-K", "200",
                 "--n-trajectories", "1", "--equilibration-steps", "2", "--decorrelation-steps",
                 "0", "--production-steps", "4", "--quiet", "--threads", "1"]
    assert main(arguments + ["--xtb-accuracy", "0.5"]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["parameters"]["xtb_accuracy"] == 0.5
    assert run["command"].startswith("ase-dipole md ") and "--xtb-accuracy 0.5" in run["command"]
    log = read_dipole_log(tmp_path / "run" / "traj_000.log").metadata
    assert log["command"] == run["command"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", log["date"])
    assert make_force_calculator("tblite", xtb_accuracy=0.5).parameters["accuracy"] == 0.5
    assert make_force_calculator("tblite").parameters["accuracy"] == 0.01
    error = one_line_error(capsys, arguments[:4] + ["--calculator", "ase.calculators.emt:EMT"]
                           + arguments[6:] + ["--xtb-accuracy", "0.5"])
    assert "--xtb-accuracy is tblite's setting of --calculator tblite" in error


def test_remaining_time_follows_the_measured_speed_after_the_first_steps():
    """A first step ten times slower (start-up, compilation) must not hold the
    estimate: after 50 of 200 one-second steps it says ~150 s left (the old
    average since the start said 177 s)."""
    import io

    from ase_dipole.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock = [0.0]
    stream = Terminal()
    bar = progress_bar(200, "production", stream=stream)
    bar._time = lambda: clock[0]
    bar.start_t = bar.last_print_t = 0.0
    for step in range(50):
        clock[0] += 10.0 if step == 0 else 1.0
        bar.update(1)
    left = stream.getvalue().split("\r")[-1]
    minutes, seconds = map(int, re.search(r"<(\d\d):(\d\d),", left).groups())
    assert abs(60 * minutes + seconds - 150) <= 5, left
    bar.close()
