"""Outputs and odd inputs: every output file is written atomically (a failed
write, e.g. a full disk, leaves the previous file intact, leaves no partial
file and says what failed), and empty or half-usable inputs to ``fit`` and
``predict`` give one clear line."""

import errno
import os
import subprocess

import ase.io
import numpy as np
import pytest

from ase_dipole.cli import main
from ase_dipole.io import read_extxyz_born, read_phonopy_born, write_phonopy_born
from ase_dipole.io.extxyz import get_born_charges, write_extxyz
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.learning.learning_curve import LearningCurve
from ase_dipole.spectra.compare import compare_spectra
from ase_dipole.spectra.green_kubo import IRSpectrum, read_spectrum_csv
from ase_dipole.spectra.plot import plot_spectra
from harmonic_helpers import NACL, nacl_harmonic

DATA = os.path.join(os.path.dirname(__file__), "data")
DIMERS = os.path.join(DATA, "water_dimer", "water_dimer_b3lyp_gfn2_apt.extxyz")
SMALL = ["--cutoff", "4.0", "--n-max", "2", "--l-max", "1", "--regularization", "1e-6", "--quiet"]
NO_SPACE = "No space left on device"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A training file (the GFN2-xTB dimers' Z* and dipoles) and a model fitted on it."""
    directory = tmp_path_factory.mktemp("trained")
    train = directory / "train.extxyz"
    write_extxyz(train, read_extxyz_born(DIMERS, born_key="apt_gfn2", dipole_key="dipole_gfn2"))
    model = directory / "model.json"
    assert main(["fit", str(train), "-o", str(model), *SMALL]) == 0
    return train, model


@pytest.fixture
def disk_full(monkeypatch):
    """Make every atomic write fail as on a full disk (at the fsync, after
    the content went to the temporary file)."""
    def fsync(descriptor):
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(os, "fsync", fsync)


def _last_error_line(capsys):
    return capsys.readouterr().err.strip().splitlines()[-1]


# -- empty and half-usable inputs -----------------------------------------------------------
def test_empty_inputs_to_fit_and_predict(trained, tmp_path, capsys):
    _, model = trained
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    for argv in (["fit", str(empty), "-o", str(tmp_path / "m.json"), *SMALL],
                 ["predict", str(model), str(empty), "-o", str(tmp_path / "p.extxyz")]):
        with pytest.raises(SystemExit):
            main(argv)
        assert _last_error_line(capsys).endswith(
            "empty.extxyz is empty (no frames); give a file with at least one structure")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.extxyz"]


def test_predict_ignores_a_reference_it_does_not_use(trained, tmp_path, capsys):
    train, model = trained
    frames = ase.io.read(train, index=":2")
    frames[1].arrays["born_charges"] = np.zeros((len(frames[1]), 4))  # a wrong-shape reference
    odd = tmp_path / "odd.extxyz"
    ase.io.write(odd, frames, format="extxyz")
    output = tmp_path / "predicted.extxyz"
    assert main(["predict", str(model), str(odd), "-o", str(output)]) == 0
    assert ("odd.extxyz, frame 1: ignoring its reference born_charges has shape (6, 4) for 6 "
            "atoms") in capsys.readouterr().err
    back = ase.io.read(output, index=":")
    assert "born_charges_reference" in back[0].arrays
    assert "born_charges_reference" not in back[1].arrays
    # the prediction itself is that of the intact frame
    np.testing.assert_allclose(get_born_charges(back[1]).shape, (6, 3, 3))


# -- failed writes ----------------------------------------------------------------------------
def _spectrum():
    grid = np.linspace(0.0, 4000.0, 401)
    intensity = np.exp(-0.5 * ((grid - 1600.0) / 20.0) ** 2) + np.exp(-0.5 * ((grid - 3600.0) / 40.0) ** 2)
    return IRSpectrum(grid, intensity, 0.01 * intensity, "cm^2", {"fwhm_cm1": 20.0})


def _writers(trained):
    """name -> (file name, function writing that file)."""
    _, model_path = trained
    from ase_dipole.learning.model import PolarizationModel

    model = PolarizationModel.load(model_path)
    nacl = read_phonopy_born(os.path.join(NACL, "BORN"), os.path.join(NACL, "POSCAR-unitcell"))
    fixed = FixedChargesModel.from_atoms(nacl)
    curve = LearningCurve(rows=({"series": "born", "n_train": 1},))
    return {
        "model": ("model.json", model.save),
        "fixed-charges model": ("fixed.npz", fixed.save),
        "spectrum csv": ("spectrum.csv", _spectrum().write_csv),
        "figure": ("spectrum.png", lambda path: plot_spectra({"s": _spectrum()}, path)),
        "harmonic peaks": ("peaks.txt", nacl_harmonic().write_peaks),
        "comparison": ("peaks_compared.txt", compare_spectra(_spectrum(), _spectrum()).write),
        "BORN": ("BORN", lambda path: write_phonopy_born(path, nacl)),
        "extxyz": ("frames.extxyz", lambda path: write_extxyz(path, [nacl])),
        "learning-curve csv": ("curve.csv", curve.write_csv),
    }


def test_failed_writes_keep_the_previous_file(trained, tmp_path, monkeypatch):
    writers = _writers(trained)
    def fsync(descriptor):
        raise OSError(errno.ENOSPC, NO_SPACE)

    for name, (file_name, write) in writers.items():
        path = tmp_path / file_name
        path.write_bytes(b"previous content\n")
        with monkeypatch.context() as patch:
            patch.setattr(os, "fsync", fsync)
            with pytest.raises(OSError, match=f"could not write .*{file_name}: {NO_SPACE}; the "
                                              "previous file, if any, is unchanged"):
                write(path)
        assert path.read_bytes() == b"previous content\n", name
        write(path)  # and with room on the disk the file is replaced
        assert path.read_bytes() != b"previous content\n", name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f for f, _ in writers.values())
    assert read_spectrum_csv(tmp_path / "spectrum.csv").unit == "cm^2"


def test_cli_says_which_output_failed(trained, tmp_path, capsys, disk_full):
    train, model = trained
    existing = tmp_path / "existing.extxyz"
    existing.write_text("an earlier output\n")
    for argv, out in ((["fit", str(train), "-o", str(model), *SMALL], model),
                      (["predict", str(model), str(train), "-o", str(existing)], existing)):
        before = out.read_bytes()
        with pytest.raises(SystemExit):
            main(argv)
        line = _last_error_line(capsys)
        assert f"error: --output: could not write {out}: {NO_SPACE}; the previous file" in line
        assert out.read_bytes() == before


def test_run_record_of_md_is_written_atomically(tmp_path, disk_full):
    from ase.build import molecule

    from ase_dipole.dynamics.md import run_ir_md

    atoms = molecule("H2O")
    model = FixedChargesModel(np.zeros((3, 3, 3)), symbols=atoms.get_chemical_symbols())
    with pytest.raises(OSError, match=f"could not write .*run.json: {NO_SPACE}"):
        run_ir_md(atoms, "ase.calculators.emt:EMT", model, tmp_path, temperature_K=100.0,
                  timestep_fs=0.5, n_trajectories=1, equilibration_steps=0, production_steps=2,
                  progress=None)
    assert os.listdir(tmp_path) == []


def test_convert_onto_a_full_tmpfs(tmp_path, capsys):
    """A real full disk: an 8 kB tmpfs (skipped where it cannot be mounted)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        output = mount / "frames.extxyz"
        output.write_text("previous\n")  # one 4 kB page of the two
        inputs = [os.path.join(DATA, "vasp_outcar", name)
                  for name in ("OUTCAR.0006.001.gz", "OUTCAR.0006.002.gz")]
        inputs.append(os.path.join(DATA, "vasprun_SnO2", "vasprun.xml-born.gz"))
        with pytest.raises(SystemExit):
            main(["convert", *inputs, "-o", str(output)])
        assert _last_error_line(capsys).endswith(
            f"--output: could not write {output}: {NO_SPACE}; the previous file, if any, is "
            "unchanged")
        assert output.read_text() == "previous\n"
        assert os.listdir(mount) == ["frames.extxyz"]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# -- never write over an input; say when an output is replaced ------------------------------
def test_output_that_is_an_input_is_refused(trained, tmp_path, capsys):
    """``fit X -o X`` replaced the training set with the model."""
    train, model = trained
    copy = tmp_path / "train.extxyz"
    copy.write_bytes(train.read_bytes())
    before = copy.read_bytes()
    link = tmp_path / "link.extxyz"
    link.symlink_to(copy)
    for argv in (["fit", str(copy), "-o", str(copy), *SMALL],
                 ["fit", str(copy), "-o", str(link), *SMALL],  # the same file by another name
                 ["predict", str(model), str(copy), "-o", str(copy)],
                 ["convert", str(copy), "-o", str(copy)]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "would destroy the input: choose another output file" in _last_error_line(capsys)
        assert copy.read_bytes() == before
    with pytest.raises(SystemExit):
        main(["learning-curve", str(copy), str(copy), "--sizes", "2", "--csv", str(tmp_path / "lc"),
              "--plot", str(tmp_path / "lc")])
    assert "both name" in _last_error_line(capsys)


def test_replacing_an_existing_output_is_said(trained, tmp_path, capsys):
    train, model = trained
    out = tmp_path / "predicted.extxyz"
    assert main(["predict", str(model), str(train), "-o", str(out)]) == 0
    assert "replaced" not in capsys.readouterr().err
    assert main(["predict", str(model), str(train), "-o", str(out)]) == 0
    assert f"replaced the existing {out}" in capsys.readouterr().err
    refit = tmp_path / "model.json"
    refit.write_text("{}")
    assert main(["fit", str(train), "-o", str(refit), *SMALL]) == 0
    assert f"replaced the existing {refit}" in capsys.readouterr().err
