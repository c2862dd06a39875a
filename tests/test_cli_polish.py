"""The command line a new user meets: help texts, quiet tblite, errors that
name flags, one-line warnings, what `fit --targets auto` fitted, FORCE_SETS
found beside phonopy_disp.yaml, and provenance on every table."""

import json
import os
import re
import shutil
import sys
import warnings

import ase.io
import numpy as np
import pytest

from ase_dipole.cli import COMMANDS, build_parser, main
from ase_dipole.provenance import file_sha256
from ase_dipole.spectra.green_kubo import read_spectrum_csv
from harmonic_helpers import NACL
from md_helpers import water_model


def help_of(command):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[command].format_help()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_states_real_defaults_once(command):
    text = " ".join(help_of(command).split())
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    for option in re.split(r"\s(?=--?[a-z])", text):
        assert option.count("default") <= 1, option


def test_lineshape_has_help_and_harmonic_width_matches_spectrum():
    assert "shape of each line" in " ".join(help_of("harmonic").split())
    parser = build_parser()
    harmonic = parser.parse_args(["harmonic", "--phonopy", "x", "--born", "y"])
    spectrum = parser.parse_args(["spectrum", "a.log"])
    assert harmonic.fwhm_cm1 == spectrum.fwhm_cm1 == 20.0


def test_one_spelling_of_the_quiet_switch():
    for command in ("md", "fit", "learning-curve", "demo"):
        text = help_of(command)
        assert "--quiet" in text and "--silent" not in text


def test_tblite_is_silent_in_harmonic(tmp_path, capfd):
    """tblite writes its SCF table straight to file descriptor 1; the CLI
    builds tblite calculators with verbosity=0."""
    from tblite.ase import TBLite

    model, atoms = water_model()
    atoms.center(vacuum=4.0)
    probe = atoms.copy()
    probe.calc = TBLite(method="GFN2-xTB")
    probe.get_potential_energy()
    assert "total energy" in capfd.readouterr().out  # what the CLI must not show
    ase.io.write(tmp_path / "water.extxyz", atoms, format="extxyz")
    model.save(tmp_path / "water.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["harmonic", "--structure", str(tmp_path / "water.extxyz"), "--calculator",
                     "tblite.ase:TBLite", "--model", str(tmp_path / "water.npz"), "--molecule",
                     "-o", str(tmp_path / "h.csv")]) == 0
    out = capfd.readouterr().out
    assert "total energy" not in out and "cycle" not in out
    assert "harmonic Γ modes" in out
    record = read_spectrum_csv(tmp_path / "h.csv").metadata
    assert record["model_sha256"] == model.sha256
    inputs = {item["path"]: item["sha256"] for item in record["provenance"]["inputs"]}
    assert inputs[str(tmp_path / "water.npz")] == file_sha256(tmp_path / "water.npz")
    assert record["provenance"]["command"].startswith("ase-dipole harmonic --structure")


def test_harmonic_finds_force_sets_beside_the_yaml(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # phonopy itself looks only in the working directory
    out = tmp_path / "nacl.csv"
    assert main(["harmonic", "--phonopy", os.path.join(NACL, "phonopy_disp.yaml"), "--born",
                 os.path.join(NACL, "BORN"), "-o", str(out)]) == 0
    metadata = read_spectrum_csv(out).metadata
    paths = [item["path"] for item in metadata["provenance"]["inputs"]]
    assert os.path.join(NACL, "FORCE_SETS") in paths
    assert metadata["born_charges_sha256"] == file_sha256(os.path.join(NACL, "BORN"))
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(os.path.join(NACL, "phonopy_disp.yaml"), alone)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["harmonic", "--phonopy", str(alone / "phonopy_disp.yaml"), "--born",
              os.path.join(NACL, "BORN"), "-o", str(out)])
    error = capsys.readouterr().err
    assert "give --force-sets FILE or --force-constants FILE" in error
    assert "force_sets=" not in error


def test_warnings_are_one_line(tmp_path, capsys):
    """A CLI warning prints as 'warning: ...' without the Python source line."""
    model, atoms = water_model()
    model.save(tmp_path / "water.npz")
    frames = []
    for step in range(4):
        frame = atoms.copy()
        frame.positions[1] += 0.01 * step
        frames.append(frame)
    ase.io.write(tmp_path / "frames.extxyz", frames, format="extxyz")

    def show(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        assert main(["log", str(tmp_path / "frames.extxyz"), "--model", str(tmp_path / "water.npz"),
                     "--timestep-fs", "0.5", "-o", str(tmp_path / "x.log")]) == 0
    error = capsys.readouterr().err
    assert error.startswith("warning: the trajectory has no velocities")
    assert "warnings.warn(" not in error and "UserWarning" not in error


def test_fit_auto_says_what_it_fitted(tmp_path, capsys):
    import ase_dipole

    frames = ase.io.read(os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz"),
                         index=":")
    with_born = [f for f in frames if f.info["split"] == "born_train"][:4]
    dipole_only = [f for f in frames if f.info["split"] == "dipole_train"][:3]
    for frame in dipole_only:
        frame.arrays.pop("born_charges", None)
    train = tmp_path / "mixed.extxyz"
    ase.io.write(train, with_born + dipole_only, format="extxyz")
    assert main(["fit", str(train), "-o", str(tmp_path / "m.json"), "--quiet", "--cutoff", "4.5",
                 "--n-max", "4", "--l-max", "2", "--regularization", "1e-6"]) == 0
    out = capsys.readouterr().out
    assert "fitted Z* of 4 frame(s) and dipoles of 7 frame(s) of 7 (--targets auto;" in out


def test_compare_table_has_provenance(tmp_path):
    from harmonic_helpers import nacl_harmonic

    harmonic = nacl_harmonic()
    grid = np.arange(0.0, 400.0, 0.5)
    first = harmonic.spectrum(grid, fwhm_cm1=10.0)
    first.metadata["model_sha256"] = ["a" * 64]
    first.write_csv(tmp_path / "a.csv")
    harmonic.spectrum(grid, fwhm_cm1=10.0).write_csv(tmp_path / "b.csv")
    table = tmp_path / "peaks.txt"
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "-o", str(table)]) == 0
    with open(table) as handle:
        record = json.loads(handle.readline()[len("# provenance: "):])
    assert record["model_sha256"] == ["a" * 64]
    assert [item["sha256"] for item in record["inputs"]] == [file_sha256(tmp_path / "a.csv"),
                                                             file_sha256(tmp_path / "b.csv")]
    assert np.loadtxt(table, comments="#", ndmin=2).shape[0] == 1


def test_errors_show_plain_numbers(tmp_path, capsys):
    """A BORN file for another structure: the independent atoms print as
    plain integers, not numpy reprs."""
    from harmonic_helpers import SNO2

    with pytest.raises(SystemExit):
        main(["convert", os.path.join(SNO2, "example_BORN"), "--structure",
              os.path.join(NACL, "POSCAR-unitcell"), "-o", str(tmp_path / "x.extxyz")])
    error = capsys.readouterr().err
    assert "lists independent atoms [1, 3] but the structure (Cl4Na4, 8 atoms) has [1, 5]" in error
    assert "np.int64" not in error
