"""``ase-dipole md`` on the water dimer with the default threads and with
``--threads 1``: wall and CPU time (user + sys, all threads) of the command,
interleaved, with the 1-minute load before each run.

    python benchmarks/md_threads.py [--rounds 2] [--steps 100 400]

GFN2-xTB forces (tblite), the dipole from fixed Born charges of a frame of
the shipped dimer set; equilibration and one NVE run of the given lengths.
On a small system tblite's OpenMP threads and the numba kernels compete for
the cores: one thread is faster, the more so the busier the machine.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import ase.io

import ase_dipole
from common import machine_description


def run_md(folder, structure, steps, threads):
    command = [sys.executable, "-m", "ase_dipole.cli", "md", structure, "--fixed-charges",
               structure, "--calculator", "tblite", "-o", os.path.join(folder, f"out_{threads}"),
               "--temperature-K", "100", "--n-trajectories", "1", "--equilibration-steps",
               str(steps[0]), "--decorrelation-steps", "0", "--production-steps", str(steps[1]),
               "--quiet"] + ([] if threads == "default" else ["--threads", str(threads)])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, nargs=2, default=(100, 400),
                        metavar=("EQUILIBRATION", "PRODUCTION"))
    args = parser.parse_args()
    print(f"machine: {machine_description()}")
    frames = ase.io.read(os.path.join(ase_dipole.__path__[0], "data", "water_dimer_gfn2.extxyz.gz"),
                         index=":")
    with tempfile.TemporaryDirectory() as folder:
        structure = os.path.join(folder, "dimer.extxyz")
        ase.io.write(structure, next(f for f in frames if "born_charges" in f.arrays))
        for round_ in range(1, args.rounds + 1):
            for threads in ("default", 1):
                load = os.getloadavg()[0]
                wall, cpu = run_md(folder, structure, args.steps, threads)
                print(f"round {round_} threads {threads!s:>7}: wall {wall:7.2f} s, CPU {cpu:7.2f} s "
                      f"(1-min load before {load:.2f})", flush=True)
                shutil.rmtree(os.path.join(folder, f"out_{threads}"))


if __name__ == "__main__":
    main()
