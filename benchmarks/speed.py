"""The speed figures of docs/speed.md and docs/scale.md: μ + Z*, the MD
observer, features and their scaling to 98 304 atoms, each as single-thread CPU
time and as a ratio to a 1024³ dgemm timed in the same process.

    python benchmarks/speed.py [--repeats 15] [--no-large] [--wall]

Set-up: the default :class:`PolarizationModel` (r_c 4.0 Å, n_max 8, l_max 4)
fitted on the Z* of three paper-water liquid-water frames; the 192-atom box is
paper-water frame 10 (not a training frame), the 1536- and 98 304-atom boxes its
2×2×2 and 8×8×8 replicas. Each MD-like call first moves the atoms (two
position/velocity sets 0.01 Å apart, alternated), so calculator and observer
recompute everything they would in an MD step.

Rows measured together are interleaved with the dgemm, ``--repeats`` rounds,
medians printed. The large boxes run in a subprocess each (peak resident
memory of that process reported). ``--wall`` adds wall times with the numba
and BLAS threads the machine gives (thread count and load printed).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from ase import units
from ase.calculators.lj import LennardJones
from ase.md.verlet import VelocityVerlet
from common import (Dgemm, blas_description, default_model, paper_water_frame, interleaved_cpu_times,
                    machine_description, median_time, ratios, single_thread)

from ase_dipole.dynamics.calculator import DipoleCalculator
from ase_dipole.dynamics.observer import DipoleObserver

HERE = os.path.dirname(os.path.abspath(__file__))


def moving(atoms, seed=0):
    """A function that alternates ``atoms`` between two states 0.01 Å apart
    (positions and velocities), as consecutive MD steps would."""
    rng = np.random.default_rng(seed)
    positions = [atoms.positions.copy(), atoms.positions + rng.normal(scale=0.01 / np.sqrt(3),
                                                                       size=atoms.positions.shape)]
    velocities = [rng.normal(scale=0.01, size=(len(atoms), 3)) / units.fs for _ in range(2)]
    state = [0]

    def step():
        state[0] ^= 1
        atoms.positions = positions[state[0]]
        atoms.set_velocities(velocities[state[0]])

    step()
    return step


def small_box_rows(model, repeats):
    """Interleaved single-thread CPU times of the 192-atom figures."""
    atoms = paper_water_frame(10)
    atoms.calc = None
    calculator_atoms, observer_atoms = atoms.copy(), atoms.copy()
    calculator_step, observer_step = moving(calculator_atoms), moving(observer_atoms)
    calculator = DipoleCalculator(model)
    descriptor = model.descriptor
    coefficients = model.coefficients
    velocities = np.random.default_rng(1).normal(scale=0.01, size=(len(atoms), 3))
    lj_atoms = atoms.copy()
    lj_atoms.set_velocities(np.zeros((len(atoms), 3)))
    lj_atoms.calc = LennardJones(sigma=3.15, epsilon=0.0067, rc=5.5, smooth=True)
    dyn = VelocityVerlet(lj_atoms, 0.01 * units.fs)
    with tempfile.TemporaryDirectory() as scratch:
        observer = DipoleObserver(observer_atoms, model, os.path.join(scratch, "bench.log"), timestep_fs=0.5)

        def calculator_born():
            calculator_step()
            calculator.get_property("born_effective_charges", calculator_atoms)

        def observer_call():
            observer_step()
            observer()

        tasks = {
            "mu + all Z*, DipoleCalculator": calculator_born,
            "DipoleObserver call": observer_call,
            "descriptor mu + Z* (kernels)": lambda: descriptor.dipole_and_born_charges(atoms, coefficients),
            "descriptor Pdot (kernels)": lambda: descriptor.dipole_and_pdot(atoms, coefficients, velocities),
            "features": lambda: descriptor.features(atoms),
            "DipoleCalculator(model)": lambda: DipoleCalculator(model),
            "LJ VelocityVerlet step (ASE)": lambda: dyn.run(1),
        }
        times = interleaved_cpu_times(tasks, repeats)
        observer.close()
    return ratios(times)


def large_box(replica, repeats, what):
    """CPU time per atom of ``what`` ("born" or "features") on the
    ``replica``³ box, in this process (call through a subprocess)."""
    model = default_model()
    atoms = paper_water_frame(10) * (replica, replica, replica)
    atoms.calc = None
    descriptor = model.descriptor
    coefficients = model.coefficients
    if what == "born":
        task = {"mu + all Z*": lambda: descriptor.dipole_and_born_charges(atoms, coefficients)}
    else:
        buffer = np.empty((len(atoms), 3, descriptor.n_features))
        task = {"features": lambda: descriptor.features(atoms, out=buffer)}
    with single_thread():
        times = interleaved_cpu_times(task, repeats)
    result = ratios(times)
    name = next(iter(task))
    seconds, ratio = result[name]
    peak_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"name": name, "atoms": len(atoms), "seconds": seconds, "ratio": ratio,
            "dgemm_s": result["dgemm"][0], "peak_MB": peak_MB}


def run_large(replica, repeats, what):
    command = [sys.executable, os.path.abspath(__file__), "--child", str(replica), str(repeats), what]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-large", action="store_true", help="skip the 98 304-atom box")
    parser.add_argument("--wall", action="store_true", help="also wall times with all threads")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        replica, repeats, what = int(args.child[0]), int(args.child[1]), args.child[2]
        print(json.dumps(large_box(replica, repeats, what)))
        return
    import numba

    print(f"machine: {machine_description()}")
    print(f"BLAS: {blas_description()}; numba {numba.__version__}, threading layer after first use")
    model = default_model()
    with single_thread():
        dgemm = Dgemm()
        dgemm()
        start = time.thread_time()
        dgemm()
        print(f"1024^3 dgemm, one thread: {time.thread_time() - start:.4f} s CPU "
              f"({dgemm.flop / (time.thread_time() - start) / 1e9:.0f} GFLOP/s)")
        rows = small_box_rows(model, args.repeats)
    print(f"\n192-atom liquid water, default model (r_c {model.descriptor.cutoff} Å), one thread, "
          f"{args.repeats} interleaved rounds, medians")
    print(f"{'':34} {'CPU ms':>9} {'/ dgemm':>8}")
    for name, (seconds, ratio) in rows.items():
        print(f"{name:34} {seconds * 1e3:9.3f} {ratio:8.3f}")
    print(f"load average now {os.getloadavg()[0]:.2f}")

    sizes = [(2, max(3, args.repeats // 3))] + ([] if args.no_large else [(8, 2)])
    print("\nper-atom CPU cost, one thread (each box in its own process; peak = that process's max RSS)")
    print(f"{'':14} {'atoms':>7} {'CPU s':>9} {'us/atom':>8} {'/ dgemm':>8} {'per atom / dgemm':>17} {'peak MB':>8}")
    for what in ("born", "features"):
        for replica, repeats in sizes:
            r = run_large(replica, repeats, what)
            print(f"{r['name']:14} {r['atoms']:7d} {r['seconds']:9.3f} {r['seconds'] / r['atoms'] * 1e6:8.2f} "
                  f"{r['ratio']:8.2f} {r['ratio'] / r['atoms']:17.3e} {r['peak_MB']:8.0f}")

    if args.wall:
        atoms = paper_water_frame(10)
        atoms.calc = None
        descriptor, coefficients = model.descriptor, model.coefficients
        print(f"\nwall times with {numba.get_num_threads()} numba threads, load average "
              f"{os.getloadavg()[0]:.2f}")
        for replica in (1, 2):
            box = atoms * (replica, replica, replica)
            t = median_time(lambda: descriptor.dipole_and_born_charges(box, coefficients), args.repeats)
            print(f"mu + all Z*, {len(box)} atoms: {t * 1e3:.2f} ms wall")


if __name__ == "__main__":
    main()
