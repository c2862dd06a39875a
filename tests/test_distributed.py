"""The Dask entry point: in-process by default, clear errors for bad options."""

import os

import pytest

from ase_dipole.distributed import (WORKER_CONFIGURATION, _configuration_environment,
                                    _parse_slurm_options, cluster_client)


def test_no_option_runs_in_process():
    with cluster_client() as client:
        assert client is None


def test_options_exclude_each_other():
    with pytest.raises(ValueError, match="--workers and --scheduler exclude each other"):
        with cluster_client(workers=2, scheduler="tcp://127.0.0.1:1"):
            pass


@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_worker_count_must_be_positive(value):
    with pytest.raises(ValueError, match="--workers"):
        with cluster_client(workers=value):
            pass


def test_unreachable_scheduler_names_address_and_remedy():
    pytest.importorskip("distributed")
    with pytest.raises(ConnectionError, match=r"tcp://127\.0\.0\.1:9.*dask scheduler"):
        with cluster_client(scheduler="tcp://127.0.0.1:9", connect_timeout_s=1):
            pass


def test_slurm_options_parse():
    assert _parse_slurm_options(["queue=debug", "cores=2",
                                 "job_extra_directives=--exclusive"]) == {
        "queue": "debug", "cores": 2, "job_extra_directives": ["--exclusive"]}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _parse_slurm_options(["debug"])


def test_local_cluster_workers_run_on_one_thread_without_profiler():
    pytest.importorskip("distributed")
    import dask

    outside = os.environ.get("MALLOC_TRIM_THRESHOLD_")  # Dask's nanny sets it here too
    with cluster_client(workers=2) as client:
        threads = client.run(lambda: os.environ["NUMBA_NUM_THREADS"])
        profiling = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert sorted(threads.values()) == ["1", "1"]
    # glibc keeps adapting its mmap threshold (Dask's 65536 doubled a MACE step's CPU time)
    assert list(trim.values()) == [outside] * 2
    assert list(profiling.values()) == [False, False]
    assert dask.config.get("distributed.worker.profile.enabled") is True


def test_slurm_workers_read_the_worker_settings_from_their_environment():
    import dask

    environment = _configuration_environment(WORKER_CONFIGURATION)
    assert environment == {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    refreshed = dask.config.collect(paths=[], env=environment)
    assert refreshed["distributed"]["worker"]["profile"]["enabled"] is False


def test_unreachable_slurm_is_an_error_not_a_wait(tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    squeue = tmp_path / "squeue"
    squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm "
                      "controller (connect failure)' >&2\nexit 1\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ConnectionError, match="SLURM is not reachable .*Unable to contact slurm "
                                              "controller.*start slurmctld"):
        with cluster_client(slurm_jobs=1):
            pass
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="SLURM's commands"):
        with cluster_client(slurm_jobs=1):
            pass
