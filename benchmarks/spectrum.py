"""Benchmark: IR spectrum of 20 dipole logs of 100 000 steps each.

Writes synthetic but stationary Ṗ series (white noise filtered to three
bands near 600, 1650 and 3400 cm⁻¹, μ its running integral) as real log
files with DipoleLogWriter, then times separately

1. reading them with ``ase_dipole.dynamics.dipole_log.read_dipole_log``,
2. ``ir_spectrum`` on the logs in memory (FFT correlation + window + average).

Usage::

    python benchmarks/spectrum.py [--workdir DIR] [--n-logs 20] [--n-steps 100000]

Logs already present in ``--workdir`` are reused (writing 2 million rows
row-by-row with flushes takes ~30 s and is not what is measured).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ase_dipole.dynamics.dipole_log import DipoleLogWriter, read_dipole_log
from ase_dipole.spectra.green_kubo import ir_spectrum

TIMESTEP_FS = 0.5
BANDS_CM1 = ((600.0, 150.0), (1650.0, 40.0), (3400.0, 120.0))  # (centre, width)
C_CM_PER_FS = 2.99792458e-5  # [cm / fs]


def synthetic_series(n_steps, seed):
    """(n_steps, 3) Ṗ in e·Å/fs with Gaussian bands, and μ = ∫Ṗ dt in e·Å."""
    rng = np.random.default_rng(seed)
    noise = np.fft.rfft(rng.normal(size=(n_steps, 3)), axis=0)
    wavenumber = np.fft.rfftfreq(n_steps, d=TIMESTEP_FS) / C_CM_PER_FS
    shape = sum(np.exp(-0.5 * ((wavenumber - c) / w) ** 2) for c, w in BANDS_CM1)
    pdot = 0.05 * np.fft.irfft(noise * shape[:, None], n=n_steps, axis=0)
    dipole = np.cumsum(pdot, axis=0) * TIMESTEP_FS
    return pdot, dipole


def write_logs(directory, n_logs, n_steps):
    paths = []
    metadata = {"timestep_fs": TIMESTEP_FS, "interval": 1, "n_atoms": 192, "volume_A3": 1916.0,
                "periodic": True, "temperature_K": 300.0}
    for index in range(n_logs):
        path = directory / f"bench{index:02d}.log"
        paths.append(path)
        if path.exists() and count_rows(path) == n_steps:
            continue
        path.unlink(missing_ok=True)
        pdot, dipole = synthetic_series(n_steps, seed=index)
        with DipoleLogWriter(path, metadata) as writer:
            for step in range(n_steps):
                writer.write(step * TIMESTEP_FS, pdot[step], dipole[step])
    return paths


def count_rows(path):
    """Number of data rows of a log (for the reuse check)."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if not line.startswith(b"#"))


def timed(function):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the logs are (re)used")
    parser.add_argument("--n-logs", type=int, default=20)
    parser.add_argument("--n-steps", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.workdir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        paths = write_logs(directory, args.n_logs, args.n_steps)
        print(f"logs ready in {time.perf_counter() - start:.1f} s (not part of the benchmark)")

        logs, read_wall, read_cpu = timed(lambda: [read_dipole_log(path) for path in paths])

        timings = {}
        for route in ("pdot", "cross"):
            spectrum, *timings[route] = timed(lambda: ir_spectrum(logs, fwhm_cm1=20.0, route=route))
        rows = args.n_logs * args.n_steps
        print(f"{args.n_logs} logs x {args.n_steps} steps ({rows:,} rows), "
              f"{len(spectrum.wavenumber_cm1)} wavenumbers up to {spectrum.wavenumber_cm1[-1]:.0f} cm^-1")
        print("                         wall s   CPU s")
        print(f"read_dipole_log        {read_wall:7.2f} {read_cpu:7.2f}  ({1e6 * read_cpu / rows:.2f} us/row CPU)")
        for route, (wall, cpu) in timings.items():
            print(f"ir_spectrum {route:<6}     {wall:7.2f} {cpu:7.2f}")
        pdot_wall, pdot_cpu = timings["pdot"]
        print(f"total read_dipole_log + ir_spectrum: {read_wall + pdot_wall:.2f} s wall, "
              f"{read_cpu + pdot_cpu:.2f} s CPU (target <= 5 s)")


if __name__ == "__main__":
    main()
