"""Where a second numba thread starts to pay: wall time of μ + all Z* (default
model) on 1 and on all threads for growing liquid-water boxes, interleaved,
with the serial threshold switched off.

    python benchmarks/threads.py [--repeats 9]

Prints the machine's load average before and after: on busy cores the
cross-over moves to larger systems (the reason the default threshold,
``ase_dipole.threads.SERIAL_BELOW_ATOMS``, is conservative).
"""

import argparse
import os
import statistics
import time

import numba
from common import default_model, paper_water_frame, machine_description

from ase_dipole import threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    print(f"machine: {machine_description()}; numba threads available {numba.get_num_threads()}")
    model = default_model()
    frame = paper_water_frame(10)
    frame.calc = None
    threads.set_serial_below_atoms(0)
    counts = sorted({1, numba.get_num_threads()})
    print(f"{'atoms':>6} " + " ".join(f"{f'{n} thr ms':>10}" for n in counts) + f" {'speed-up':>9}")
    for replica in ((1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2), (4, 2, 2)):
        atoms = frame * replica
        times = {n: [] for n in counts}
        for round_ in range(args.repeats + 1):
            for n in counts:
                numba.set_num_threads(n)
                start = time.perf_counter()
                model.predict(atoms)
                if round_:
                    times[n].append(time.perf_counter() - start)
        medians = {n: statistics.median(t) for n, t in times.items()}
        print(f"{len(atoms):6d} " + " ".join(f"{medians[n] * 1e3:10.2f}" for n in counts)
              + f" {medians[counts[0]] / medians[counts[-1]]:9.2f}")
    threads.set_serial_below_atoms(None)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
