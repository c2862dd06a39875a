"""The MD protocol as Dask tasks: a real LocalCluster of 2 worker processes
and the CI's own one-node SLURM give the logs of the in-process run; a
worker or the whole command killed mid-trajectory resumes from its last
checkpoint and ends with the log of an uninterrupted run; bad input gives
one clear error."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from io import StringIO

import pytest
from ase.io import write

from ase_dipole.cli import main
from ase_dipole.distributed import cluster_client, thread_environment
from ase_dipole.dynamics.md import run_ir_md
from ase_dipole.io.extxyz import set_born_charges, set_dipole
from md_helpers import log_text_of_the_run, one_thread, relaxed_water, water_model

TESTS = os.path.dirname(os.path.abspath(__file__))
#: GFN2-xTB without SCF memory: forces depend on the positions alone
CALCULATOR = "md_helpers:gfn2_xtb_stateless"
#: four short trajectories, as the protocol runs them
SHORT = dict(temperature_K=300.0, timestep_fs=0.5, n_trajectories=4, equilibration_steps=20,
             decorrelation_steps=10, production_steps=40, interval=2, seed=3)
#: one trajectory long enough to be killed after its first checkpoint
LONG = dict(temperature_K=300.0, timestep_fs=0.5, n_trajectories=1, equilibration_steps=10,
            decorrelation_steps=0, production_steps=500, interval=1, seed=4, checkpoint_steps=25)


def _outputs(outdir, n_trajectories):
    """Text of every log and NVE record (what must not depend on where it ran)."""
    texts = {}
    for k in range(n_trajectories):
        for name in (f"traj_{k:03d}.log", f"traj_{k:03d}.nve.json"):
            texts[name] = log_text_of_the_run(os.path.join(outdir, name))
    return texts


@pytest.fixture(scope="module")
def water():
    model, atoms = water_model()
    return atoms, model


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("distributed")
    with cluster_client(workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def short_reference(water, tmp_path_factory):
    atoms, model = water
    outdir = tmp_path_factory.mktemp("in_process")
    with one_thread():
        run_ir_md(atoms, CALCULATOR, model, outdir, progress=None, **SHORT)
    return _outputs(outdir, SHORT["n_trajectories"])


@pytest.fixture(scope="module")
def long_reference(water, tmp_path_factory):
    atoms, model = water
    outdir = tmp_path_factory.mktemp("uninterrupted")
    with one_thread():
        run_ir_md(atoms, CALCULATOR, model, outdir, progress=None, **LONG)
    return _outputs(outdir, 1)


def test_local_cluster_gives_the_in_process_logs(water, cluster, short_reference, tmp_path):
    atoms, model = water
    report = StringIO()
    logs = run_ir_md(atoms, CALCULATOR, model, tmp_path, client=cluster, progress=report,
                     **SHORT)
    assert [os.path.basename(p) for p in logs] == [f"traj_{k:03d}.log" for k in range(4)]
    assert _outputs(tmp_path, 4) == short_reference
    # both workers took part
    workers = {line.rsplit("[worker ", 1)[1].split(" on ")[0]
               for line in report.getvalue().splitlines() if "[worker " in line}
    assert len(workers) == 2, report.getvalue()


def test_independent_sampling_chains_run_on_workers_and_match_in_process(water, cluster,
                                                                         short_reference,
                                                                         tmp_path):
    atoms, model = water
    with one_thread():
        run_ir_md(atoms, CALCULATOR, model, tmp_path / "local", sampling_chains=2,
                  progress=None, **SHORT)
    run_ir_md(atoms, CALCULATOR, model, tmp_path / "dask", sampling_chains=2, client=cluster,
              progress=None, **SHORT)
    chains = _outputs(tmp_path / "local", 4)
    assert _outputs(tmp_path / "dask", 4) == chains
    # trajectory 0 starts chain 0 as the single chain does; trajectory 1 is
    # the start of a second chain, not a continuation of the first
    assert chains["traj_000.log"] == short_reference["traj_000.log"]
    assert chains["traj_001.log"] != short_reference["traj_001.log"]


def _wait_for(path, process=None, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        if process is not None and process.poll() is not None:
            pytest.fail(f"the run ended before writing {path}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {path} after {timeout_s} s")
        time.sleep(0.01)


def test_killed_worker_resumes_from_its_checkpoint(water, cluster, long_reference, tmp_path):
    atoms, model = water
    report, failure = StringIO(), []

    def run():
        try:
            run_ir_md(atoms, CALCULATOR, model, tmp_path, client=cluster, progress=report,
                      **LONG)
        except BaseException as error:  # handed to the test thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    _wait_for(tmp_path / "traj_000.ckpt.npz")
    busy = [address for address, keys in cluster.processing().items()
            if any("production" in str(key) for key in keys)]
    pids = cluster.run(os.getpid, workers=busy)
    os.kill(pids[busy[0]], signal.SIGKILL)
    thread.join(timeout=120)
    assert not failure, failure
    assert "resumed" in report.getvalue() and "from its checkpoint at step" in report.getvalue()
    assert _outputs(tmp_path, 1) == long_reference


def _write_water(folder):
    atoms, born, dipole = relaxed_water()
    set_born_charges(atoms, born)
    set_dipole(atoms, dipole)
    path = os.path.join(folder, "water.extxyz")
    write(path, atoms)
    return path


def _md_arguments(structure, outdir, options):
    arguments = ["md", structure, "--fixed-charges", structure, "--calculator", CALCULATOR,
                 "-o", str(outdir)]
    for key, value in options.items():
        arguments += ["--" + key.replace("_", "-"), str(value)]
    return arguments


def test_killed_md_command_resumes_and_says_so(tmp_path):
    structure = _write_water(tmp_path)
    with one_thread():
        assert main(_md_arguments(structure, tmp_path / "uninterrupted", LONG) + ["--quiet"]) == 0
    arguments = _md_arguments(structure, tmp_path / "run", LONG) + ["--quiet"]
    environment = dict(os.environ, **thread_environment(1), PYTHONPATH=os.pathsep.join(
        [TESTS] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    command = [sys.executable, "-c", "import sys; from ase_dipole.cli import main; "
               "sys.exit(main(sys.argv[1:]))"]
    process = subprocess.Popen(command + arguments, env=environment)
    _wait_for(tmp_path / "run" / "traj_000.ckpt.npz", process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = subprocess.run(command + arguments[:-1], env=environment, capture_output=True,
                           text=True, check=True)
    assert "production 1/1" in rerun.stderr
    assert "resumed" in rerun.stderr and "from its checkpoint at step" in rerun.stderr
    assert _outputs(tmp_path / "run", 1) == _outputs(tmp_path / "uninterrupted", 1)


def test_slurm_jobs_give_the_in_process_logs(tmp_path, monkeypatch, capsys):
    if shutil.which("sbatch") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must provide SLURM (sbatch not found): .ci/run starts it")
        pytest.skip("no SLURM here (sbatch not found)")
    if os.environ.get("CI") != "true":
        from ase_dipole.distributed import check_slurm_reachable

        try:
            check_slurm_reachable()
        except ConnectionError as err:
            pytest.skip(f"SLURM installed but not running here ({err})")
    # the workers are new Python processes started by SLURM: they find the
    # test helpers through the environment the jobs inherit
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [TESTS] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    structure = _write_water(tmp_path)
    with one_thread():
        assert main(_md_arguments(structure, tmp_path / "local", SHORT) + ["--quiet"]) == 0
    arguments = _md_arguments(structure, tmp_path / "slurm", SHORT) + [
        "--slurm-jobs", "2", "--slurm-option", f"log_directory={tmp_path / 'jobs'}",
        "--slurm-option", "memory=1GB", "--slurm-option", "walltime=00:10:00"]
    assert main(arguments) == 0
    assert _outputs(tmp_path / "slurm", 4) == _outputs(tmp_path / "local", 4)
    assert len({line.split(" on ")[0] for line in capsys.readouterr().err.splitlines()
                if "[worker " in line}) >= 1


def test_calculator_failing_on_a_worker_names_spec_and_worker(water, cluster, tmp_path):
    atoms, model = water
    with pytest.raises(ImportError, match=r"'no_such_module:factory' could not be built on "
                                          r"worker tcp://127\.0\.0\.1:\d+ on .*cannot import"):
        run_ir_md(atoms, "no_such_module:factory", model, tmp_path, client=cluster, retries=0,
                  progress=None, **SHORT)
    with pytest.raises(TypeError, match="travels as a specification"):
        from ase.calculators.emt import EMT

        run_ir_md(atoms, EMT(), model, tmp_path, client=cluster, progress=None, **SHORT)


def test_unreachable_scheduler_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("distributed")
    structure = _write_water(tmp_path)
    arguments = _md_arguments(structure, tmp_path / "x", SHORT) + [
        "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout-s", "1"]
    with pytest.raises(SystemExit):
        main(arguments)
    error = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in error
    assert "dask scheduler" in error and "dask worker" in error
