"""B3LYP/def2-SVP methanol made like the paper's water dimer (Sec. II.F).

Protocol of ``examples/water_dimer/make_dataset.py``, a quarter of its
length (50 000 steps, 75 ps, by default; the paper and the dimer: 200 000): ASE's g2
``CH3OH`` in vacuum, the O atom fixed, H mass 8 u, 1.5 fs time step,
Langevin heating (friction 10 ps⁻¹) with the target raised linearly every 10
steps from 10 K to 320 K over ``--steps`` steps of GFN2-xTB (tblite) MD;
``--n-frames`` uniformly spaced frames (every ``steps / n_frames`` steps,
the last at the last step). Of these, ``--n-test`` uniformly spaced frames
are ``born_test``, the others ``born_train`` (the dimer's rule). Every frame
gets PySCF RKS B3LYP/def2-SVP dipoles and analytic Born charges
(:func:`ase_dipole.reference.dft_born_charges`) through the package's cached
labeller, and GFN2-xTB ones for comparison (``info['dipole_gfn2']``,
``arrays['born_charges_gfn2']``; accuracy 1e-4, central FD 1e-3 Å).

The MD frames are written first (``--md-output``) and reused by a rerun, so
an interrupted labelling resumes from ``--cache-dir`` without redoing the MD.

Run::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 \
        python examples/datasets/methanol_b3lyp/make.py
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.constraints import FixAtoms
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from tblite.ase import TBLite

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _tools  # noqa: E402

from ase_dipole.io.extxyz import get_born_charges, get_dipole  # noqa: E402
from ase_dipole.reference import label_frames  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=50_000,
                        help="MD steps (the dimer and the paper: 200000)")
    parser.add_argument("--timestep-fs", type=float, default=1.5)
    parser.add_argument("--t-start-K", type=float, default=10.0)
    parser.add_argument("--t-end-K", type=float, default=320.0)
    parser.add_argument("--friction-per-ps", type=float, default=10.0)
    parser.add_argument("--hydrogen-mass-amu", type=float, default=8.0)
    parser.add_argument("--n-frames", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=36)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--xc", default="b3lyp")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--conv-tol", type=float, default=1e-11, help="SCF energy, Hartree")
    parser.add_argument("--md-output", default=os.path.join(HERE, "methanol_gfn2_md.extxyz.gz"))
    parser.add_argument("--output", default=os.path.join(HERE, "methanol_b3lyp.extxyz.gz"))
    parser.add_argument("--cache-dir", default=os.path.join(HERE, "cache"))
    parser.add_argument("--cached-only", action="store_true",
                        help="write only the frames already labelled (a partial set)")
    parser.add_argument("--shard", default=None,
                        help="k/m: compute every m-th frame of the labelling order from k "
                             "(m processes on one cache); the others only if cached")
    parser.add_argument("--fd-check", action="store_true",
                        help="compare analytic Z* with finite differences of mu on frame 0")
    args = parser.parse_args(argv)
    if not 0 < args.n_test < args.n_frames <= args.steps:
        parser.error(f"need 0 < n_test ({args.n_test}) < n_frames ({args.n_frames}) "
                     f"<= steps ({args.steps})")
    return args


def test_mask(n_frames, n_test):
    """``n_test`` uniformly spaced test frames among ``n_frames`` (the dimer's rule)."""
    mask = np.zeros(n_frames, dtype=bool)
    mask[np.round((np.arange(n_test) + 0.5) * n_frames / n_test - 0.5).astype(int)] = True
    return mask


def run_md(args):
    """GFN2-xTB Langevin heating run; the ``n_frames`` sampled frames."""
    atoms = molecule("CH3OH")
    atoms.center()
    masses = atoms.get_masses()
    masses[atoms.numbers == 1] = args.hydrogen_mass_amu
    atoms.set_masses(masses)
    atoms.set_constraint(FixAtoms(indices=[int(np.flatnonzero(atoms.numbers == 8)[0])]))
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    rng = np.random.default_rng(args.seed)
    thermalize_momenta(atoms, temperature_K=args.t_start_K, rng=rng)
    dyn = Langevin(atoms, timestep=args.timestep_fs * units.fs, temperature_K=args.t_start_K,
                   friction=args.friction_per_ps / (1000.0 * units.fs), fixcm=False, rng=rng)
    interval = args.steps // args.n_frames
    frames, state = [], {"step": 0}

    def temperature(step):
        return args.t_start_K + (args.t_end_K - args.t_start_K) * step / args.steps

    def observe():
        step = state["step"]
        if step > 0 and step % interval == 0 and len(frames) < args.n_frames:
            frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy())
            frame.info.update(step=step, time_fs=step * args.timestep_fs,
                              target_temperature_K=round(temperature(step), 3),
                              kinetic_temperature_K=round(float(atoms.get_temperature()), 2))
            frames.append(frame)
        if step % max(1, args.steps // 10) == 0:
            _tools.log(f"MD step {step}/{args.steps}  T_target {temperature(step):.1f} K  "
                       f"T_kin {atoms.get_temperature():.1f} K")
        state["step"] += 1

    dyn.attach(lambda: dyn.set_temperature(temperature_K=temperature(state["step"])), interval=10)
    dyn.attach(observe, interval=1)
    start = time.process_time()
    dyn.run(args.steps)
    return frames, time.process_time() - start


def main(argv=None):
    args = parse_args(argv)
    options = {"xc": args.xc, "basis": args.basis, "grid_level": args.grid_level,
               "conv_tol": args.conv_tol}
    _tools.log(f"methanol B3LYP set; {vars(args)}; {_tools.versions()}")
    if os.path.exists(args.md_output):
        frames = read(args.md_output, index=":")
        _tools.log(f"reusing the MD frames of {args.md_output}")
        md_cpu = None
    else:
        frames, md_cpu = run_md(args)
        mask = test_mask(len(frames), args.n_test)
        for frame, is_test in zip(frames, mask):
            frame.info["split"] = "born_test" if is_test else "born_train"
        gfn2 = label_frames(frames, method="gfn2", accuracy=1e-4, step_A=1e-3, progress=False)
        for frame, labelled in zip(frames, gfn2):
            frame.info["dipole_gfn2"] = get_dipole(labelled)
            frame.arrays["born_charges_gfn2"] = get_born_charges(labelled).reshape(-1, 9)
        _tools.write_gz(args.md_output, frames)
        _tools.log(f"MD {args.steps} steps: {md_cpu:.0f} s CPU "
                   f"({1e3 * md_cpu / args.steps:.2f} ms/step); wrote {args.md_output}")
    for frame in frames:
        frame.calc = None

    labelled, wall, cpu = _tools.label_in_order(
        frames, _tools.van_der_corput(len(frames)), cache_dir=args.cache_dir,
        method="dft", options=options, shard=args.shard, cached_only=args.cached_only)
    if not labelled:
        raise SystemExit(f"no labelled frames in {args.cache_dir} yet")
    reference = (f"RKS {args.xc}/{args.basis} (PySCF), analytic CPKS Z*, grid level "
                 f"{args.grid_level}, conv_tol {args.conv_tol:g} Ha")
    for frame in labelled:
        frame.info["reference"] = reference
    violation = _tools.sum_rule_violation(labelled)
    born = np.array([get_born_charges(f) for f in labelled])
    gfn2 = np.array([f.arrays["born_charges_gfn2"].reshape(-1, 3, 3) for f in labelled])
    dip = np.array([get_dipole(f) for f in labelled])
    dip_gfn2 = np.array([f.info["dipole_gfn2"] for f in labelled])
    summary = {
        "n_frames": len(labelled),
        "split": {name: sum(f.info["split"] == name for f in labelled)
                  for name in ("born_train", "born_test")},
        "md_steps": args.steps, "md_cpu_s": md_cpu,
        "options": options, "versions": _tools.versions(),
        "wall_s_per_frame": {"median": float(np.median(wall)), "max": float(wall.max())},
        "cpu_s_per_frame": {"median": float(np.nanmedian(cpu)), "max": float(np.nanmax(cpu))},
        "sum_rule_e": {"median": float(np.median(violation)), "max": float(violation.max()),
                       "worst_frame_step": int(labelled[int(violation.argmax())].info["step"])},
        "rms_dz_b3lyp_gfn2_e": float(np.sqrt(np.mean((born - gfn2) ** 2))),
        "rms_z_e": float(np.sqrt(np.mean(born ** 2))),
        "rms_dmu_b3lyp_gfn2_eA": float(np.sqrt(np.mean((dip - dip_gfn2) ** 2))),
        "labels": _tools.label_summary(labelled),
    }
    if args.fd_check:
        max_abs, rms, seconds = _tools.fd_check_dft(labelled[0], options=options)
        summary["fd_check_frame0"] = {"max_abs_e": max_abs, "rms_e": rms, "cpu_s": seconds,
                                      "step_A": 2e-3}
    _tools.write_gz(args.output, labelled)
    summary["file_KiB"] = round(os.path.getsize(args.output) / 1024, 1)
    summary["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    summary["load_1min"] = os.getloadavg()[0]
    text = json.dumps(summary, indent=1)
    _tools.write_text(os.path.join(HERE, "methanol_b3lyp.summary.json"), text)
    _tools.log(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
