"""Parallel, cached labelling (``ase-dipole label``): equal to the serial API,
resumes after an interruption computing only the missing frames, and
records failed frames instead of dropping them."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.build import molecule
from ase.io import read, write

from ase_dipole.cli import main
from ase_dipole.io.extxyz import get_born_charges, get_dipole

pytest.importorskip("tblite")

from ase_dipole.reference import xtb_born_charges  # noqa: E402
from ase_dipole.reference.parallel import label_frames_parallel  # noqa: E402

MOLECULES = ("H2O", "NH3", "CH4", "CO2", "HCN", "CH3OH")


def six_molecules():
    """Six different molecules, randomly distorted (no symmetry)."""
    frames = []
    for seed, name in enumerate(MOLECULES):
        atoms = molecule(name)
        atoms.positions += np.random.default_rng(seed).normal(scale=0.03, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def serial_reference():
    """Z* and μ of the six molecules from the serial API, in this process."""
    return [xtb_born_charges(atoms) for atoms in six_molecules()]


def _run_label(tmp_path, capsys, *extra):
    frames_path = tmp_path / "frames.extxyz"
    if not frames_path.exists():
        write(frames_path, six_molecules())
    out = tmp_path / "labelled.extxyz"
    code = main(["label", str(frames_path), "-o", str(out), "--method", "xtb", "--quiet", *extra])
    return code, out, capsys.readouterr()


def test_label_on_two_workers_equals_serial_xtb(tmp_path, capsys, serial_reference):
    code, out, printed = _run_label(tmp_path, capsys, "--workers", "2")
    assert code == 0
    assert "6 frame(s) computed, 0 reused" in printed.out
    labelled = read(out, index=":")
    assert [a.get_chemical_formula() for a in labelled] == [a.get_chemical_formula()
                                                            for a in six_molecules()]
    for atoms, (mu, born) in zip(labelled, serial_reference):
        assert np.abs(get_born_charges(atoms) - born).max() < 1e-6
        assert np.abs(get_dipole(atoms) - mu).max() < 1e-6
        assert atoms.info["reference"] == "GFN2-xTB (tblite)"
        assert atoms.info["command"].startswith("ase-dipole")
    # the cache holds exactly the float64 arrays: a rerun in-process reproduces them bitwise
    code, out2, printed = _run_label(tmp_path, capsys, "--cache", str(out) + ".cache")
    assert "0 frame(s) computed, 6 reused" in printed.out
    for first, second in zip(labelled, read(out2, index=":")):
        np.testing.assert_array_equal(get_born_charges(first), get_born_charges(second))


def test_rerun_computes_only_the_missing_frames(tmp_path, capsys, serial_reference):
    frames = six_molecules()
    cache = tmp_path / "cache"
    first = label_frames_parallel(frames, cache_dir=cache, method="xtb", progress=False)
    assert first.computed == list(range(6)) and first.reused == []
    # an interrupted run: two of the six results never reached the cache
    files = sorted(cache.iterdir(), key=lambda p: p.stat().st_mtime)
    for path in files[-2:]:
        path.unlink()
    second = label_frames_parallel(frames, cache_dir=cache, method="xtb", progress=False)
    assert len(second.computed) == 2 and len(second.reused) == 4
    for atoms, (mu, born) in zip(second.frames, serial_reference):
        assert np.abs(get_born_charges(atoms) - born).max() < 1e-6
    # other options are another request: nothing is taken from the cache
    other = label_frames_parallel(frames[:1], cache_dir=cache, method="xtb", progress=False,
                                  options={"step_A": 2e-3})
    assert other.computed == [0]


def test_killed_command_resumes_where_it_stopped(tmp_path):
    """``kill -9`` of a running ``ase-dipole label``: the rerun computes only
    what the killed run had not cached."""
    frames = [molecule("C6H6") for _ in range(4)]
    for seed, atoms in enumerate(frames):
        atoms.positions += np.random.default_rng(seed).normal(scale=0.03, size=atoms.positions.shape)
    write(tmp_path / "frames.extxyz", frames)
    command = [sys.executable, "-c", "import sys; from ase_dipole.cli import main; sys.exit(main())",
               "label", "frames.extxyz", "-o",
               "out.extxyz", "--method", "xtb", "--quiet"]
    cache = tmp_path / "out.extxyz.cache"
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        if cache.is_dir() and len([p for p in cache.iterdir() if p.suffix == ".npz"]) >= 1:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    done_before = len([p for p in cache.iterdir() if p.suffix == ".npz"])
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert f"{4 - done_before} frame(s) computed, {done_before} reused" in rerun.stdout
    assert len(read(tmp_path / "out.extxyz", index=":")) == 4


def test_failed_frame_is_recorded_and_reported(tmp_path, capsys):
    frames = six_molecules()[:3]
    frames[1].positions[0, 0] = np.nan
    write(tmp_path / "frames.extxyz", frames)
    out = tmp_path / "out.extxyz"
    argv = ["label", str(tmp_path / "frames.extxyz"), "-o", str(out), "--method", "xtb", "--quiet"]
    assert main(argv) == 2
    printed = capsys.readouterr()
    assert "2 frame(s) computed, 0 reused" in printed.out and "1 failed" in printed.out
    assert "frame 1 (H3N): ValueError" in printed.err and "failed.json" in printed.err
    failures = json.loads((tmp_path / "out.extxyz.failed.json").read_text())["failures"]
    assert [f["index"] for f in failures] == [1]
    assert "NaN or inf" in failures[0]["error"]
    labelled = read(out, index=":")
    assert [a.info["frame_index"] for a in labelled] == [0, 2]
    # the failed frame is not cached: a rerun tries it again (and fails again), reusing the others
    assert main(argv) == 2
    assert "0 frame(s) computed, 2 reused from" in capsys.readouterr().out
    # once fixed, the side file goes away
    frames[1] = six_molecules()[1]
    write(tmp_path / "frames.extxyz", frames)
    assert main(argv) == 0
    assert not (tmp_path / "out.extxyz.failed.json").exists()


def test_label_command_errors(tmp_path, capsys):
    write(tmp_path / "frames.extxyz", six_molecules()[:1])
    frames = str(tmp_path / "frames.extxyz")
    out = str(tmp_path / "o.extxyz")
    with pytest.raises(SystemExit):
        main(["label", frames, "-o", out, "--method", "qe", "--pseudopotential", "Si"])
    assert "--pseudopotential 'Si': use SYMBOL=FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label", frames, "-o", out, "--method", "xtb", "--no-dipole", "--no-born-charges"])
    assert "leave nothing to compute" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label", str(tmp_path / "missing.xyz"), "-o", out, "--method", "xtb"])
    assert "cannot read FRAMES" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["label", frames, "-o", out, "--method", "xtb", "--workers", "2", "--scheduler",
              "tcp://127.0.0.1:1"])
    assert "exclude each other" in capsys.readouterr().err
    with pytest.raises(ValueError, match="method 'qe' gives Born charges and ε∞ of periodic"):
        label_frames_parallel(six_molecules()[:1], cache_dir=tmp_path / "c", method="qe")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['basis'\] for method 'gfn2'"):
        label_frames_parallel(six_molecules()[:1], cache_dir=tmp_path / "c", method="xtb",
                              options={"basis": "sto-3g"})


def test_every_frame_failing_keeps_the_existing_output(tmp_path, capsys):
    """It truncated the existing file to 0 bytes."""
    frames = six_molecules()[:2]
    for atoms in frames:
        atoms.positions[0, 0] = np.nan
    write(tmp_path / "broken.extxyz", frames)
    out = tmp_path / "out.extxyz"
    out.write_text("earlier labels\n")
    argv = ["label", str(tmp_path / "broken.extxyz"), "-o", str(out), "--method", "xtb", "--quiet"]
    assert main(argv) == 2
    assert "2 failed; no frame labelled: " + str(out) + " kept as it was" in capsys.readouterr().out
    assert out.read_text() == "earlier labels\n"
    fresh = tmp_path / "fresh.extxyz"
    assert main(argv[:3] + [str(fresh)] + argv[4:]) == 2
    assert "not written" in capsys.readouterr().out and not fresh.exists()
