"""The MD protocol on Dask: per-task overhead, and wall-time speed-up of 2
workers over 1 and over the in-process run.

Runs the protocol on the shipped GFN2-xTB water dimer (tblite forces, the
frame's GFN2-xTB Born charges as a FixedChargesModel):

1. per-task overhead: many one-step trajectories in-process and on a
   1-worker LocalCluster; the difference per task (a sampling segment or an
   NVE run) is what Dask adds;
2. speed-up: 4 trajectories in-process, on 1 worker and on 2 workers (one
   thread each), the logs compared byte for byte; each cluster first runs the
   one-step tasks of 1. on its workers, and its start-up (process launch,
   imports, numba cache, tblite) is printed apart from the campaign's time;
3. the machine's own bound: the same half campaign (2 trajectories) run by
   two plain processes at once, without Dask, against one such process
   alone; the CPU time each needs when both cores are busy, over its CPU
   time alone, is what sharing the cores costs (caches, memory bandwidth,
   clock), and 2 / that ratio bounds the speed-up of any 2-way route;
4. from these figures, the wall time of a 20 × 100 000-step campaign at 50
   and 500 ms a step on one machine (one worker) and on a 20-node SLURM
   cluster (one trajectory per node).

Wall times (the point is parallelism); the load average is printed before and
after, since a busy machine lowers the speed-up. Usage::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/dask_md.py [--steps 1000] [--slurm]
"""

import argparse
import concurrent.futures
import gzip
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import ase.io  # noqa: E402
import numpy as np  # noqa: E402

import ase_dipole  # noqa: E402
from ase_dipole.distributed import cluster_client  # noqa: E402
from ase_dipole.dynamics.md import run_ir_md  # noqa: E402
from ase_dipole.learning.fixed_charges import FixedChargesModel  # noqa: E402

DATA = os.path.join(os.path.dirname(ase_dipole.__file__), "data", "water_dimer_gfn2.extxyz.gz")


def water_dimer():
    """A GFN2-xTB water-dimer frame carrying Born charges, and its model."""
    with gzip.open(DATA, "rt") as handle:
        frames = ase.io.read(handle, ":", format="extxyz")
    frame = next(f for f in frames if "born_charges" in f.arrays)
    return frame, FixedChargesModel.from_atoms(frame)


def _warm(client):
    """Import the task's libraries on every worker (the in-process run has them)."""
    if client is not None:
        client.run(lambda: __import__("tblite.ase") and __import__("ase_dipole.dynamics.md"))


def _cpu_times(client):
    """CPU time of this process, or of every worker process, s."""
    if client is None:
        return {"this process": time.process_time()}
    return client.run(time.process_time)


def _main_thread_cpu():
    """CPU time of this process's main thread, s (a Dask worker's event loop)."""
    import threading

    import psutil

    main = threading.main_thread().native_id
    return next(t.user_time + t.system_time for t in psutil.Process().threads() if t.id == main)


def timed_run(atoms, model, folder, client, **options):
    """Wall time of one run_ir_md call, s, the text of its logs, and the CPU
    time each process spent on it, s (dict)."""
    shutil.rmtree(folder, ignore_errors=True)
    cpu_before = _cpu_times(client)
    start = time.perf_counter()
    logs = run_ir_md(atoms, "tblite", model, folder, client=client, progress=None, **options)
    elapsed = time.perf_counter() - start
    cpu = {name: value - cpu_before[name] for name, value in _cpu_times(client).items()}
    texts = []
    for path in logs:
        with open(path) as handle:
            texts.append(handle.read())
    return elapsed, texts, cpu


def _half_campaign_cpu(atoms, model_path, folder, options):
    """CPU time of this process for an in-process run (a child process's job)."""
    _, _, cpu = timed_run(atoms, model_path, folder, None, **options)
    return cpu["this process"]


def sharing_bound(atoms, model_path, work, options):
    """CPU time of the half campaign alone and with a twin running beside it, s.

    Plain processes, no Dask: two at once share the two cores' caches, memory
    bandwidth and clock the way two workers do.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        pool.submit(_half_campaign_cpu, atoms, model_path, os.path.join(work, "h0"),
                    dict(options, production_steps=1)).result()  # imports and caches
        alone_s = pool.submit(_half_campaign_cpu, atoms, model_path, os.path.join(work, "h1"),
                              options).result()
        twins = [pool.submit(_half_campaign_cpu, atoms, model_path, os.path.join(work, f"h{k}"),
                             options) for k in (2, 3)]
        together_s = [twin.result() for twin in twins]
    return alone_s, together_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="NVE steps per trajectory")
    parser.add_argument("--overhead-tasks", type=int, default=24,
                        help="one-step trajectories for the overhead")
    parser.add_argument("--slurm", action="store_true",
                        help="also run the 4 trajectories on 2 SLURM jobs (dask-jobqueue)")
    args = parser.parse_args()
    atoms, model = water_dimer()
    work = tempfile.mkdtemp(prefix="dask_md_")
    model_path = os.path.join(work, "model.npz")
    model.save(model_path)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    short = dict(temperature_K=300.0, timestep_fs=0.5, n_trajectories=args.overhead_tasks,
                 equilibration_steps=1, decorrelation_steps=1, production_steps=1,
                 sampling_chains=args.overhead_tasks)
    campaign = dict(temperature_K=300.0, timestep_fs=0.5, n_trajectories=4,
                    equilibration_steps=100, decorrelation_steps=50,
                    production_steps=args.steps, sampling_chains=2, seed=1)

    timed_run(atoms, model_path, os.path.join(work, "s0"), None, **short)  # warm-up
    in_process_short, _, _ = timed_run(atoms, model_path, os.path.join(work, "s0"), None,
                                       **short)
    in_process, reference, in_process_cpu = timed_run(atoms, model_path,
                                                      os.path.join(work, "c0"), None, **campaign)
    walls, worker_cpu, event_loop_cpu, start_up = {}, {}, {}, {}
    for workers in (1, 2):
        start = time.perf_counter()
        with cluster_client(workers=workers) as client:
            _warm(client)
            # the one-step tasks land on every worker: imports, numba cache and
            # tblite are loaded before the campaign is timed
            short_wall, _, _ = timed_run(atoms, model_path, os.path.join(work, f"s{workers}"),
                                         client, **short)
            start_up[workers] = time.perf_counter() - start - short_wall
            if workers == 1:
                dask_short = short_wall
            loop_before = client.run(_main_thread_cpu)
            walls[workers], texts, worker_cpu[workers] = timed_run(atoms, model_path,
                                              os.path.join(work, f"c{workers}"), client,
                                              **campaign)
            event_loop_cpu[workers] = {name: value - loop_before[name]
                                       for name, value in client.run(_main_thread_cpu).items()}
        if texts != reference:
            sys.exit(f"the logs on {workers} worker(s) differ from the in-process logs")
    if args.slurm:
        slurm_options = dict(memory="1GB", walltime="00:30:00",
                             log_directory=os.path.join(work, "jobs"))
        with cluster_client(slurm_jobs=2, slurm_options=slurm_options) as client:
            client.wait_for_workers(2)  # the queue wait is not the route's cost
            _warm(client)
            walls["slurm"], texts, _ = timed_run(atoms, model_path, os.path.join(work, "c3"),
                                                 client, **campaign)
        if texts != reference:
            sys.exit("the logs on 2 SLURM jobs differ from the in-process logs")
    half = dict(campaign, n_trajectories=2, sampling_chains=1)
    alone_s, together_s = sharing_bound(atoms, model_path, work, half)
    n_tasks = 2 * args.overhead_tasks
    overhead_s = (dask_short - in_process_short) / n_tasks
    steps = campaign["n_trajectories"] * (campaign["production_steps"] + campaign["decorrelation_steps"]) \
        + campaign["sampling_chains"] * (campaign["equilibration_steps"] - campaign["decorrelation_steps"])
    step_s = in_process / steps
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"per-task overhead of the Dask route: {1e3 * overhead_s:.1f} ms "
          f"({n_tasks} tasks: {in_process_short:.2f} s in-process, {dask_short:.2f} s on 1 worker)")
    print(f"4 trajectories x {args.steps} steps, GFN2-xTB water dimer ({1e3 * step_s:.2f} ms/step): "
          f"in-process {in_process:.2f} s, 1 worker {walls[1]:.2f} s, 2 workers {walls[2]:.2f} s")
    print(f"speed-up 2 workers vs 1: {walls[1] / walls[2]:.2f}x; vs in-process: "
          f"{in_process / walls[2]:.2f}x; logs identical on all three")
    print(f"cluster start-up and first tasks (once per run, not in the times above): "
          f"1 worker {start_up[1]:.2f} s, 2 workers {start_up[2]:.2f} s; with it, 2 workers vs "
          f"in-process {in_process / (walls[2] + start_up[2]):.2f}x")
    if "slurm" in walls:
        print(f"2 SLURM jobs (workers up before timing): {walls['slurm']:.2f} s, speed-up vs "
              f"in-process {in_process / walls['slurm']:.2f}x; logs identical")
    busiest_s = max(worker_cpu[2].values())
    print(f"CPU time: in-process {in_process_cpu['this process']:.2f} s; 1 worker "
          + ", ".join(f"{value:.2f} s" for value in worker_cpu[1].values()) + "; 2 workers "
          + ", ".join(f"{value:.2f} s" for value in worker_cpu[2].values())
          + f": speed-up on 2 idle cores bounded by in-process CPU / busiest worker = "
          f"{in_process_cpu['this process'] / busiest_s:.2f}x; of the workers' CPU, their event "
          f"loops (main threads) took {sum(event_loop_cpu[1].values()):.2f} s on 1 worker, "
          + ", ".join(f"{value:.2f} s" for value in event_loop_cpu[2].values()) + " on 2")
    sharing = np.mean(together_s) / alone_s
    print(f"sharing the cores, no Dask: 2 trajectories in one process {alone_s:.2f} s CPU alone, "
          + " and ".join(f"{value:.2f}" for value in together_s)
          + f" s with a twin process beside it ({sharing:.3f}x): any 2-way route is bounded at "
          f"{2 / sharing:.2f}x")
    print("campaign of 20 trajectories x 100 000 NVE steps (2000 equilibration steps per chain, "
          "20 chains), from these figures:")
    for step_ms in (50.0, 500.0):
        per_trajectory_s = (100_000 + 2000) * step_ms / 1e3 + 2 * overhead_s
        one_machine_h = 20 * per_trajectory_s / 3600
        cluster_h = per_trajectory_s / 3600
        print(f"  {step_ms:.0f} ms/step: one machine, one worker {one_machine_h:.0f} h "
              f"({one_machine_h / 24:.1f} days); 20-node SLURM, one trajectory per node "
              f"{cluster_h:.1f} h plus the queue wait")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
