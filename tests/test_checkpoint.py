"""Checkpoints inside MD runs: the file round trip, refusals, and a run that
crashes in its sampling and then in its production and is rerun twice,
ending with the logs of an uninterrupted run."""

import os
from io import StringIO

import numpy as np
import pytest
from ase.build import molecule

from ase_dipole.dynamics.checkpoint import (
    load_checkpoint,
    restore_atoms,
    restore_log,
    save_checkpoint,
)
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.dynamics.md import run_ir_md
from md_helpers import gfn2_xtb_stateless, log_text_of_the_run, one_thread, water_model


def test_checkpoint_round_trip_is_exact(tmp_path):
    atoms = molecule("H2O")
    rng = np.random.default_rng(7)
    atoms.set_momenta(rng.normal(size=(3, 3)))
    log = tmp_path / "run.log"
    log.write_text("# header\n1 2\n3 4\n")
    identity = dict(run="abc", trajectory=2)
    save_checkpoint(tmp_path / "c.npz", atoms=atoms, step=40, identity=identity, log_path=log,
                    rng=rng, samples=dict(temperatures_K=[1.0, 2.5]))
    expected_draw = rng.normal(size=4)
    state = load_checkpoint(tmp_path / "c.npz", identity)
    assert (state["step"], state["log_rows"], state["log_bytes"]) == (40, 2, len(log.read_bytes()))
    copy = molecule("H2O")
    restore_atoms(copy, state)
    assert np.array_equal(copy.positions, atoms.positions)
    assert np.array_equal(copy.get_momenta(), atoms.get_momenta())
    resumed = np.random.default_rng()
    resumed.bit_generator.state = state["rng_state"]
    assert np.array_equal(resumed.normal(size=4), expected_draw)
    assert list(state["samples"]["temperatures_K"]) == [1.0, 2.5]
    # rows written after the checkpoint are cut; a log shorter than it is refused
    with open(log, "a") as handle:
        handle.write("5 6\n7 8")
    restore_log(log, state)
    assert log.read_text() == "# header\n1 2\n3 4\n"
    log.write_text("# header\n")
    with pytest.raises(ValueError, match="shorter .* than its checkpoint records"):
        restore_log(log, state)


def test_checkpoint_of_another_run_or_damaged_is_refused(tmp_path):
    atoms = molecule("H2O")
    atoms.set_momenta(np.zeros((3, 3)))
    save_checkpoint(tmp_path / "c.npz", atoms=atoms, step=1, identity=dict(run="abc"))
    assert load_checkpoint(tmp_path / "none.npz", dict(run="abc")) is None
    with pytest.raises(ValueError, match="belongs to another run"):
        load_checkpoint(tmp_path / "c.npz", dict(run="xyz"))
    (tmp_path / "c.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is damaged .* delete it"):
        load_checkpoint(tmp_path / "c.npz", dict(run="abc"))


class Crash(RuntimeError):
    """The simulated loss of the process."""


def crashing(calculator, calls, crash_after):
    """``calculator`` counting its calculations in ``calls["n"]`` and raising
    :class:`Crash` once they exceed ``crash_after["calls"]`` (never when None)."""
    calculate = calculator.calculate

    def counted(*args, **kwargs):
        calls["n"] += 1
        if crash_after["calls"] is not None and calls["n"] > crash_after["calls"]:
            raise Crash("killed")
        calculate(*args, **kwargs)

    calculator.calculate = counted
    return calculator


def test_runs_crashing_in_sampling_and_production_resume_to_the_uninterrupted_logs(tmp_path):
    model, atoms = water_model()
    options = dict(temperature_K=300.0, timestep_fs=0.5, n_trajectories=2, equilibration_steps=40,
                   decorrelation_steps=20, production_steps=60, interval=2, seed=9,
                   checkpoint_steps=10)
    crash_after = {"calls": None}
    calls = {"n": 0}

    def gfn2():  # one name for every run: the run's parameters record it
        return crashing(gfn2_xtb_stateless(), calls, crash_after)

    with one_thread():
        run_ir_md(atoms, gfn2, model, tmp_path / "uninterrupted", progress=None, **options)
    outdir = tmp_path / "crashed"

    def run(crash_after_calls, report):
        calls["n"], crash_after["calls"] = 0, crash_after_calls
        try:
            with one_thread():
                run_ir_md(atoms, gfn2, model, outdir, progress=report, **options)
        finally:
            crash_after["calls"] = None
        return report.getvalue()

    # one force call to start a phase, one per step: crash in step 35 of the
    # equilibration (checkpoint at 30) ...
    with pytest.raises(Crash):
        run(35, StringIO())
    # ... then, rerun, in step 35 of production 1 (10 + 20 steps of sampling before)
    report = StringIO()
    with pytest.raises(Crash):
        run(1 + 10 + 1 + 20 + 1 + 34, report)
    assert "sampling 1/2: resumed" in report.getvalue()
    assert "from its checkpoint at step 30 of 40" in report.getvalue()
    final = run(None, StringIO())
    assert "production 1/2" in final
    assert "from its checkpoint at step 30 of 60 (16 log rows kept)" in final
    for name in sorted(os.listdir(tmp_path / "uninterrupted")):
        if name.endswith((".log", ".nve.json")):
            assert log_text_of_the_run(outdir / name) == \
                log_text_of_the_run(tmp_path / "uninterrupted" / name)
    assert not [name for name in os.listdir(outdir) if name.endswith(".ckpt.npz")]


def test_a_trajectory_is_written_by_one_process_at_a_time(tmp_path):
    """A rerun's task waits while another process (an orphaned task of a
    killed client) holds the trajectory, then finds its work."""
    import fcntl
    import threading
    import time

    model, atoms = water_model()
    options = dict(temperature_K=300.0, timestep_fs=0.5, n_trajectories=1, equilibration_steps=5,
                   decorrelation_steps=0, production_steps=10, interval=1, seed=2,
                   progress=None)
    with one_thread():
        run_ir_md(atoms, "md_helpers:gfn2_xtb_stateless", model, tmp_path, **options)
    expected = read_dipole_log(tmp_path / "traj_000.log")
    (tmp_path / "traj_000.log").unlink()
    (tmp_path / "traj_000.nve.json").unlink()
    with open(tmp_path / "start_000.traj", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        thread = threading.Thread(target=run_ir_md, args=(atoms, "md_helpers:gfn2_xtb_stateless",
                                                          model, tmp_path), kwargs=options)
        thread.start()
        time.sleep(1.0)
        assert not (tmp_path / "traj_000.log").exists()
        fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(timeout=60)
    # (the thread's OpenMP count is its own: equal to rounding, not bitwise)
    log = read_dipole_log(tmp_path / "traj_000.log")
    assert len(log.time_fs) == 11
    np.testing.assert_allclose(log.pdot, expected.pdot, rtol=1e-9, atol=1e-14)


def test_a_killed_raman_run_resumes_to_the_uninterrupted_polarizability_log(tmp_path):
    """A PolarizabilityObserver run (EMT water, NVE, a row every 2 steps,
    checkpoints every 8) killed in step 23 with a row half written, then
    restored from its checkpoint (step 16) and appended to, logs the rows of
    an uninterrupted run; so does a run stopped at step 20 and continued by
    new dynamics from its last logged frame. A run that does not continue
    the log is refused."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    from ase_dipole.dynamics.checkpoint import CheckpointWriter
    from ase_dipole.dynamics.polarizability_log import PolarizabilityObserver, read_polarizability_log
    from ase_dipole.learning.polarizability import PolarizabilityModel

    model = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3)
    model.coefficients = np.random.default_rng(3).normal(size=model.n_columns)
    start = molecule("H2O")
    start.rattle(0.05, seed=4)
    thermalize_momenta(start, temperature_K=300, rng=np.random.default_rng(5))
    identity = dict(run="raman", trajectory=0)

    def run(path, atoms=None, *, steps=40, state=None, crash_at=None, temperature_K=300.0):
        atoms = start.copy() if atoms is None else atoms
        atoms.calc = EMT()
        if state is not None:
            restore_atoms(atoms, state)
        dyn = VelocityVerlet(atoms, 0.25 * units.fs)
        if state is not None:
            dyn.nsteps = state["step"]
        observer = PolarizabilityObserver(dyn, model, path, interval=2, temperature_K=temperature_K)
        dyn.attach(observer, interval=2)
        dyn.attach(CheckpointWriter(dyn, str(path) + ".ckpt.npz", identity=identity, every_steps=8,
                                    log_path=str(path)), interval=2)

        def crash():
            if dyn.nsteps == crash_at:
                raise Crash("killed")

        dyn.attach(crash, interval=1)
        try:
            dyn.run(steps - dyn.nsteps)
        finally:
            observer.close()
        return atoms

    run(tmp_path / "full.alog")
    full = read_polarizability_log(tmp_path / "full.alog")
    assert len(full.time_fs) == 21

    def same_rows(path):
        log = read_polarizability_log(path)
        np.testing.assert_allclose(log.time_fs, full.time_fs, rtol=0, atol=1e-9)
        np.testing.assert_allclose(log.alphadot, full.alphadot, rtol=1e-10, atol=1e-12 * np.abs(full.alphadot).max())
        np.testing.assert_allclose(log.alpha, full.alpha, rtol=1e-10)
        assert {key: log.metadata[key] for key in ("model_sha256", "temperature_K", "interval")} == \
            {key: full.metadata[key] for key in ("model_sha256", "temperature_K", "interval")}

    cut = tmp_path / "cut.alog"
    with pytest.raises(Crash):
        run(cut, crash_at=23)
    assert len(read_polarizability_log(cut).time_fs) == 12  # steps 0 … 22
    with open(cut, "a") as handle:
        handle.write("5.75e+00 1.2")  # killed while writing a row
    state = load_checkpoint(str(cut) + ".ckpt.npz", identity)
    assert (state["step"], state["log_rows"]) == (16, 9)
    restore_log(cut, state)
    run(cut, state=state)
    same_rows(cut)

    stopped = tmp_path / "stopped.alog"
    atoms = run(stopped, steps=20)
    with pytest.raises(ValueError, match=r"its temperature_K is 300\.0, this run has 200\.0"):
        run(stopped, atoms.copy(), temperature_K=200.0)
    with pytest.raises(ValueError, match="this run does not continue it"):
        run(stopped)  # from the first state again
    run(stopped, atoms, steps=20)  # new dynamics from the last logged frame
    same_rows(stopped)


def test_ir_md_with_raman_logs_resumes_both_logs_after_a_crash(tmp_path):
    """run_ir_md(polarizability_model=...) writes traj_000.alog beside the
    dipole log; a run killed in production step 23 (checkpoint at step 16)
    and rerun ends with both logs of an uninterrupted run."""
    from ase.calculators.emt import EMT

    from ase_dipole.dynamics.polarizability_log import read_polarizability_log
    from ase_dipole.learning.fixed_charges import FixedChargesModel
    from ase_dipole.learning.polarizability import PolarizabilityModel
    from raman_helpers import emt_water

    atoms = emt_water()
    charges = np.array([-0.8, 0.4, 0.4])[:, None, None] * np.eye(3)
    model = FixedChargesModel(charges, reference_positions=atoms.positions, symbols=atoms.get_chemical_symbols())
    alpha_model = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3)
    alpha_model.coefficients = np.random.default_rng(3).normal(size=alpha_model.n_columns)
    options = dict(temperature_K=300.0, timestep_fs=0.25, n_trajectories=1, equilibration_steps=10,
                   decorrelation_steps=0, production_steps=40, interval=2, seed=4, checkpoint_steps=8,
                   polarizability_model=alpha_model)
    crash_after = {"calls": None}
    calls = {"n": 0}

    def emt():
        return crashing(EMT(), calls, crash_after)

    run_ir_md(atoms, emt, model, tmp_path / "uninterrupted", progress=None, **options)
    outdir = tmp_path / "crashed"
    calls["n"], crash_after["calls"] = 0, 1 + 10 + 1 + 22  # sampling, then production steps 1 … 22
    with pytest.raises(Crash):
        run_ir_md(atoms, emt, model, outdir, progress=None, **options)
    crash_after["calls"] = None
    assert len(read_polarizability_log(outdir / "traj_000.alog").time_fs) == 12
    report = StringIO()
    run_ir_md(atoms, emt, model, outdir, progress=report, **options)
    assert "from its checkpoint at step 16 of 40 (9 log rows kept)" in report.getvalue()
    assert log_text_of_the_run(outdir / "traj_000.log") == \
        log_text_of_the_run(tmp_path / "uninterrupted" / "traj_000.log")
    resumed = read_polarizability_log(outdir / "traj_000.alog")
    full = read_polarizability_log(tmp_path / "uninterrupted" / "traj_000.alog")
    assert len(full.time_fs) == 21 and full.metadata["model_sha256"] == alpha_model.sha256
    np.testing.assert_allclose(resumed.time_fs, full.time_fs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(resumed.alphadot, full.alphadot, rtol=1e-10,
                               atol=1e-12 * np.abs(full.alphadot).max())
    np.testing.assert_allclose(resumed.alpha, full.alpha, rtol=1e-10)
    assert not [name for name in os.listdir(outdir) if name.endswith(".ckpt.npz")]
