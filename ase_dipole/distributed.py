"""Where independent tasks run: in this process, or on a Dask cluster.

One machine needs nothing started: without options every step runs
in-process. ``workers=N`` starts a :class:`distributed.LocalCluster` of N
one-thread worker processes; ``scheduler=ADDRESS`` connects to a running Dask
scheduler; ``slurm_jobs=N`` submits N jobs of a
:class:`dask_jobqueue.SLURMCluster`, configured the Dask way (the user's
``~/.config/dask/jobqueue.yaml``) plus ``slurm_options`` passed through.

Every worker runs its numba kernels, BLAS and OpenMP codes (tblite, PySCF)
on ``threads_per_worker`` threads, so N workers never oversubscribe N cores.
"""

import contextlib
import shutil
import subprocess

#: environment variables that hold each library's thread count
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
_INSTALL_HINT = "install Dask with: pip install distributed dask-jobqueue"


def _import_distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError(f"running on several workers needs Dask; {_INSTALL_HINT}") from err
    return distributed


def thread_environment(threads):
    """Environment variables limiting every library to ``threads`` threads."""
    return {name: str(int(threads)) for name in THREAD_VARIABLES}


def _check_count(value, flag):
    if value is not None and (int(value) != value or value < 1):
        raise ValueError(f"{flag} {value!r}: give a whole number ≥ 1")


def _parse_slurm_options(slurm_options):
    """``["KEY=VALUE", ...]`` (or a dict) → keyword arguments of SLURMCluster."""
    if isinstance(slurm_options, dict):
        return dict(slurm_options)
    parsed = {}
    for item in slurm_options or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(
                f"--slurm-option {item!r}: use KEY=VALUE with a dask-jobqueue SLURMCluster "
                "keyword, e.g. queue=debug, walltime=01:00:00, cores=2, memory=4GB, "
                "job_extra_directives=--exclusive"
            )
        if key in ("job_extra_directives", "job_script_prologue", "worker_extra_args"):
            parsed.setdefault(key, []).append(value)
        elif key in ("cores", "processes"):
            parsed[key] = int(value)
        else:
            parsed[key] = value
    return parsed


#: Dask settings of the workers this module starts: no statistical profiler
#: (it samples the task's stack every 10 ms for a dashboard these workers do
#: not serve)
WORKER_CONFIGURATION = {"distributed.worker.profile.enabled": False}
#: Dask settings of the local cluster's nannies: no ``MALLOC_TRIM_THRESHOLD_`` in
#: the workers. Dask sets it (65536) to hand freed memory back to the system;
#: glibc then stops adapting its mmap threshold, so every large array of a step
#: (a torch model's activations) is mapped and unmapped anew: a MACE step of 192
#: water atoms took 1.1–1.4 s of CPU on a worker, more than half of it in the
#: kernel, against 0.58 s in-process
LOCAL_NANNY_CONFIGURATION = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _configuration_environment(configuration):
    """Dask settings as the environment variables a fresh worker process reads."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
            for key, value in configuration.items()}


def check_slurm_reachable(timeout_s=30):
    """Raise a clear error unless ``squeue`` reaches a SLURM controller.

    dask-jobqueue submits its jobs in the background and only logs a failed
    ``sbatch``, so without this check an unreachable controller leaves the
    run waiting for workers that never come.
    """
    if shutil.which("squeue") is None:
        raise FileNotFoundError("--slurm-jobs needs SLURM's commands (sbatch, squeue) on PATH; "
                                "run on the cluster's login node, or use --workers N here")
    try:
        done = subprocess.run(["squeue", "--noheader", "--states=RUNNING"], capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ConnectionError(f"squeue did not answer within {timeout_s} s: the SLURM "
                              "controller is not responding") from None
    if done.returncode != 0:
        raise ConnectionError(
            f"SLURM is not reachable (squeue: {done.stderr.strip() or done.returncode}); start "
            "slurmctld and slurmd (and munged), or use --workers N to run on this machine")


@contextlib.contextmanager
def cluster_client(*, workers=None, scheduler=None, slurm_jobs=None, slurm_options=None,
                   threads_per_worker=1, connect_timeout_s=20):
    """Yield a :class:`distributed.Client`, or ``None`` to run in-process.

    Parameters
    ----------
    workers : int, optional
        Start a LocalCluster of this many worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    slurm_jobs : int, optional
        Submit this many SLURM jobs (dask-jobqueue), one worker process each
        unless the jobqueue configuration or ``slurm_options`` say otherwise.
    slurm_options : list of str or dict, optional
        ``KEY=VALUE`` keywords of :class:`dask_jobqueue.SLURMCluster`
        (``queue``, ``walltime``, ``cores``, ``memory``, ...), over the
        user's jobqueue configuration.
    threads_per_worker : int
        Threads of every library inside one worker.
    connect_timeout_s : float
        How long to try reaching ``scheduler``, s.
    """
    chosen = [name for name, value in (("--workers", workers), ("--scheduler", scheduler),
                                       ("--slurm-jobs", slurm_jobs)) if value]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} exclude each other: choose one")
    _check_count(workers, "--workers")
    _check_count(slurm_jobs, "--slurm-jobs")
    if not chosen:
        yield None
        return
    distributed = _import_distributed()
    import dask.config

    env = thread_environment(threads_per_worker)
    if workers:
        with dask.config.set({**WORKER_CONFIGURATION, **LOCAL_NANNY_CONFIGURATION}), \
                distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                         processes=True, env=env,
                                         dashboard_address=None) as cluster:
            with distributed.Client(cluster) as client:
                yield client
        return
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError) as err:
            raise ConnectionError(
                f"cannot reach the Dask scheduler at {scheduler} ({err}); start one with "
                f"'dask scheduler' and workers with 'dask worker {scheduler} --nthreads 1', "
                "or drop --scheduler to run on this machine"
            ) from None
        with client:
            yield client
        return
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as err:
        raise ImportError(f"--slurm-jobs needs dask-jobqueue; {_INSTALL_HINT}") from err
    check_slurm_reachable()
    options = {"cores": 1, "processes": 1, "memory": "2GB", "walltime": "24:00:00"}
    options.update(_parse_slurm_options(slurm_options))
    env.update(_configuration_environment(WORKER_CONFIGURATION))
    prologue = [f"export {name}={value}" for name, value in env.items()]
    options["job_script_prologue"] = prologue + list(options.get("job_script_prologue", []))
    with SLURMCluster(**options) as cluster:
        cluster.scale(jobs=int(slurm_jobs))
        with distributed.Client(cluster) as client:
            yield client


def add_cluster_arguments(parser):
    """Add ``--workers``, ``--scheduler``, ``--slurm-jobs``, ``--slurm-option``."""
    group = parser.add_argument_group(
        "where to run (default: in this process; choose at most one)")
    group.add_argument("--workers", type=int, metavar="N",
                       help="start a local Dask cluster of N one-thread worker processes")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="connect to a running Dask scheduler, e.g. tcp://head:8786")
    group.add_argument("--slurm-jobs", type=int, metavar="N",
                       help="submit N SLURM jobs as Dask workers (dask-jobqueue; configured "
                            "by ~/.config/dask/jobqueue.yaml)")
    group.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                       help="a SLURMCluster keyword over the jobqueue configuration "
                            "(repeatable), e.g. queue=debug, walltime=02:00:00")
    group.add_argument("--connect-timeout-s", type=float, default=20.0, metavar="SECONDS",
                       help="how long to try reaching --scheduler before giving up, s")
    if hasattr(parser, "keywords"):  # ase_dipole.cli.Parser: errors naming cluster_client's keyword
        parser.keywords["slurm_options"] = "slurm_option"


def client_from_args(args):
    """:func:`cluster_client` for the options of :func:`add_cluster_arguments`."""
    return cluster_client(workers=args.workers, scheduler=args.scheduler,
                          slurm_jobs=args.slurm_jobs, slurm_options=args.slurm_option,
                          connect_timeout_s=args.connect_timeout_s)

