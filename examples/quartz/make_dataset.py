"""α-quartz training set: CHGNet thermal configurations labelled with QE Born charges.

1. Sampling: Langevin MD of the 9-atom α-quartz cell (the VASP cell of
   ``data/POSCAR-vasp``, held fixed) with the pretrained CHGNet potential
   (weights shipped in the wheel, CPU), at each of ``--temperatures-K``;
   after ``--equilibration-fs`` one frame every ``--spacing-fs``.
2. Labelling: ``ase-dipole label --method qe --workers 2`` (one Dask task per
   frame, cached in ``work/labels.cache``, resumable) with PBE
   pseudopotentials from Debian's quantum-espresso-data
   (Si.pbe-rrkj.UPF norm-conserving, O.pbe-rrkjus.UPF ultrasoft) and the
   settings below; pw.x/ph.x inputs and outputs are kept beside the cache.
3. The labelled frames go to ``data/quartz_qe_pbe_born.extxyz.gz`` (shipped)
   and the per-frame wall times to ``results/labelling_timings.json``.

Run from this folder: ``python make_dataset.py`` (frames, then the QE
campaign; a killed run resumes: finished frames are read from the cache).
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import ase.io
import numpy as np

from chgnet_factory import CHGNET_MODEL, make_calculator

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
WORK = os.path.join(HERE, "work")
RESULTS = os.path.join(HERE, "results")

#: QE settings of the campaign (PBE; see README.md for the convergence checks)
QE_ARGUMENTS = ["--pseudopotential", "Si=Si.pbe-rrkj.UPF", "--pseudopotential", "O=O.pbe-rrkjus.UPF",
                "--ecutwfc-Ry", "30", "--ecutrho-Ry", "240", "--kpts", "2", "2", "2",
                "--kpoint-shift", "0", "0", "1"]


def sample(atoms, temperature_K, *, n_frames, equilibration_fs, spacing_fs, timestep_fs, seed):
    """Langevin (fixed cell) CHGNet frames at ``temperature_K``."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = atoms.copy()
    atoms.calc = make_calculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    dyn = Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature_K,
                   friction=0.01 / units.fs, rng=rng)
    dyn.run(int(round(equilibration_fs / timestep_fs)))
    frames = []
    for k in range(n_frames):
        dyn.run(int(round(spacing_fs / timestep_fs)))
        frame = atoms.copy()
        frame.calc = None
        frame.info.update(temperature_K=float(temperature_K),
                          time_fs=float(equilibration_fs + (k + 1) * spacing_fs),
                          sampled_by=f"CHGNet {CHGNET_MODEL} Langevin, fixed cell, seed {seed}")
        frames.append(frame)
    return frames


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--temperatures-K", type=float, nargs="+", default=[300.0, 600.0])
    parser.add_argument("--frames-per-temperature", type=int, default=20)
    parser.add_argument("--equilibration-fs", type=float, default=500.0)
    parser.add_argument("--spacing-fs", type=float, default=100.0)
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-only", action="store_true", help="stop after the sampling")
    parser.add_argument("--label-frames", type=int, default=None,
                        help="label only the first N frames of the interleaved list (temperatures "
                             "alternate), default all")
    args = parser.parse_args(argv)
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)

    frames_path = os.path.join(WORK, "frames.extxyz")
    if not os.path.exists(frames_path):
        cell = ase.io.read(os.path.join(DATA, "POSCAR-vasp"))
        frames, start = [], time.perf_counter()
        for k, temperature in enumerate(args.temperatures_K):
            frames += sample(cell, temperature, n_frames=args.frames_per_temperature,
                             equilibration_fs=args.equilibration_fs, spacing_fs=args.spacing_fs,
                             timestep_fs=args.timestep_fs, seed=args.seed + k)
        ase.io.write(frames_path + ".tmp", frames, format="extxyz")
        os.replace(frames_path + ".tmp", frames_path)
        print(f"sampled {len(frames)} frames in {time.perf_counter() - start:.0f} s")

    if args.sample_only:
        return 0
    # temperatures alternate, so that any first N frames mix them evenly
    sampled = ase.io.read(frames_path, index=":")
    by_temperature = [[f for f in sampled if f.info["temperature_K"] == t]
                      for t in sorted({f.info["temperature_K"] for f in sampled})]
    interleaved = [f for group in zip(*by_temperature) for f in group][:args.label_frames]
    label_path = os.path.join(WORK, "frames_to_label.extxyz")
    ase.io.write(label_path, interleaved, format="extxyz")
    labelled_path = os.path.join(WORK, "labels.extxyz")
    command = ["ase-dipole", "label", label_path, "-o", labelled_path, "--method", "qe",
               "--cache", os.path.join(WORK, "labels.cache"), "--keep-qe-outputs",
               "--workers", str(args.workers)] + QE_ARGUMENTS
    print(" ".join(command), flush=True)
    start = time.perf_counter()
    status = subprocess.call(command, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall_s = time.perf_counter() - start
    if status not in (0, 2):
        sys.exit(status)

    from ase_dipole.reference.parallel import label_frames_parallel

    frames = ase.io.read(labelled_path, index=":")
    shipped = os.path.join(DATA, "quartz_qe_pbe_born.extxyz.gz")
    with gzip.open(shipped + ".tmp", "wt") as out:
        ase.io.write(out, frames, format="extxyz")
    os.replace(shipped + ".tmp", shipped)
    # per-frame wall times, read back from the cache (nothing is recomputed)
    run = label_frames_parallel(ase.io.read(label_path, index=":"), method="qe",
                                cache_dir=os.path.join(WORK, "labels.cache"), dipole=False,
                                options=_options(), progress=False)
    seconds = [s for s in run.seconds if np.isfinite(s)]
    from ase_dipole.reference.parallel import load_cached, request_digest

    keys = [request_digest(f, method="qe", dipole=False, born_charges=True, options=_options())
            for f, labelled in zip(ase.io.read(label_path, index=":"), run.frames) if labelled is not None]
    details = [load_cached(os.path.join(WORK, "labels.cache", key + ".npz"))["details"] for key in keys]
    summary = {"frames": len(frames), "failed": len(run.failures),
               "campaign_wall_s_this_run": wall_s, "workers": args.workers,
               "frame_wall_s_mean": float(np.mean(seconds)), "frame_wall_s_min": float(np.min(seconds)),
               "frame_wall_s_max": float(np.max(seconds)), "frame_wall_s": run.seconds,
               "frame_cpu_s": [d["pw_cpu_s"] + d["ph_cpu_s"] for d in details],
               "pw_cpu_s": [d["pw_cpu_s"] for d in details], "ph_cpu_s": [d["ph_cpu_s"] for d in details],
               "acoustic_sum_rule_violation_e": [d["acoustic_sum_rule_violation_e"] for d in details],
               "qe_arguments": QE_ARGUMENTS, "load_average_at_end": os.getloadavg()}
    import tarfile

    outputs = os.path.join(WORK, "labels.cache", "qe")
    with tarfile.open(os.path.join(DATA, "qe_outputs.tar.gz"), "w:gz") as tar:
        for key in keys:
            tar.add(os.path.join(outputs, key[:16]), arcname=os.path.join("qe_outputs", key[:16]))
    with open(os.path.join(RESULTS, "labelling_timings.json"), "w") as out:
        json.dump(summary, out, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "frame_wall_s"}, indent=1))
    return status


def _options():
    """The options dict that ``ase-dipole label`` builds from QE_ARGUMENTS."""
    return {"pseudopotentials": {"Si": "Si.pbe-rrkj.UPF", "O": "O.pbe-rrkjus.UPF"},
            "ecutwfc_Ry": 30.0, "ecutrho_Ry": 240.0, "kpts": [2, 2, 2], "kpoint_shift": [0, 0, 1],
            "acoustic_sum_rule": None, "pw_command": "pw.x", "ph_command": "ph.x"}


if __name__ == "__main__":
    sys.exit(main())
