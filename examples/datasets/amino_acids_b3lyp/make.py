"""Multi-species (C, H, N, O, S) benchmark: amino-acid conformers, B3LYP/def2-SVP labels.

1. Start geometries: neutral (non-zwitterionic, gas-phase) L-amino acids
   from SMILES, RDKit ETKDG + MMFF94 (:func:`_tools.build_from_smiles`;
   ASE's collections have no amino acids and this machine has no internet),
   then relaxed with GFN2-xTB (tblite, ASE BFGS, fmax 0.02 eV/Å).
2. Conformers: per molecule a GFN2-xTB Langevin run (0.5 fs, normal masses,
   friction 10 ps⁻¹, centre of mass fixed (``FixCom``), target raised linearly from ``--t-start-K`` to
   ``--t-end-K`` every 10 steps), ``--frames-per-molecule`` frames uniformly
   spaced over the run after ``--skip-steps``. These frames, with GFN2-xTB
   dipoles and Z* (accuracy 1e-4, central FD 1e-3 Å) for comparison, go to
   ``--md-output`` first; a rerun reuses them.
3. Labels: PySCF RKS B3LYP/def2-SVP dipoles and analytic Born charges
   (:func:`ase_dipole.reference.dft_born_charges`) through the package's
   cached labeller, in an order that keeps every prefix balanced (molecules
   round-robin, frames of a molecule in van der Corput order over time), so
   ``--max-frames`` or an interrupted run still gives a usable set.

Split (``info['split']``): every frame of ``--test-molecule`` is
``test_molecule``; of the other molecules every ``--test-every``-th frame in
time is ``test_frame``, the rest ``train``. ``info['molecule']`` names the
molecule.

Run (resumes from ``--cache-dir``)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 \
        python examples/datasets/amino_acids_b3lyp/make.py --max-frames 40
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from ase.optimize import BFGS
from tblite.ase import TBLite

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _tools  # noqa: E402

from ase_dipole.io.extxyz import get_born_charges, get_dipole  # noqa: E402
from ase_dipole.reference import label_frames  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
#: neutral L-amino acids (gas phase), name → SMILES
MOLECULES = {
    "glycine": "NCC(=O)O",
    "alanine": "C[C@H](N)C(=O)O",
    "serine": "OC[C@H](N)C(=O)O",
    "cysteine": "SC[C@H](N)C(=O)O",
    "methionine": "CSCC[C@H](N)C(=O)O",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--molecules", nargs="+", default=list(MOLECULES),
                        choices=list(MOLECULES))
    parser.add_argument("--test-molecule", default="cysteine", choices=list(MOLECULES))
    parser.add_argument("--test-every", type=int, default=4,
                        help="every k-th frame of a training molecule is test_frame")
    parser.add_argument("--md-steps", type=int, default=10_000, help="per molecule")
    parser.add_argument("--skip-steps", type=int, default=1_000, help="not sampled")
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--t-start-K", type=float, default=300.0)
    parser.add_argument("--t-end-K", type=float, default=500.0)
    parser.add_argument("--friction-per-ps", type=float, default=10.0)
    parser.add_argument("--frames-per-molecule", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--label-molecules", nargs="+", default=None, choices=list(MOLECULES),
                        help="label the MD frames of these molecules only (default: --molecules)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="label only the first n frames of the balanced order")
    parser.add_argument("--xc", default="b3lyp")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--conv-tol", type=float, default=1e-11, help="SCF energy, Hartree")
    parser.add_argument("--md-output", default=os.path.join(HERE, "amino_acids_gfn2_md.extxyz.gz"))
    parser.add_argument("--output", default=os.path.join(HERE, "amino_acids_b3lyp.extxyz.gz"))
    parser.add_argument("--cache-dir", default=os.path.join(HERE, "cache"))
    parser.add_argument("--cached-only", action="store_true",
                        help="write only the frames already labelled (a partial set)")
    parser.add_argument("--shard", default=None,
                        help="k/m: compute every m-th frame of the labelling order from k "
                             "(m processes on one cache); the others only if cached")
    parser.add_argument("--fd-check-atoms", type=int, nargs="*", default=None,
                        help="atoms of the first labelled frame whose analytic Z* is "
                             "checked against finite differences of mu (6 SCFs each)")
    args = parser.parse_args(argv)
    args.label_molecules = args.label_molecules or args.molecules
    if args.test_molecule not in args.label_molecules:
        parser.error(f"--test-molecule {args.test_molecule} is not among the labelled molecules")
    if not 0 <= args.skip_steps < args.md_steps or args.frames_per_molecule < 2:
        parser.error("need 0 <= skip_steps < md_steps and frames_per_molecule >= 2")
    return args


def conformers(name, index, args):
    """GFN2-relaxed start and Langevin frames of one molecule."""
    atoms = _tools.build_from_smiles(MOLECULES[name], seed=args.seed + index, name=name)
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    start = time.process_time()
    BFGS(atoms, logfile=None).run(fmax=0.02, steps=500)
    relax_cpu = time.process_time() - start
    rng = np.random.default_rng(args.seed + index)
    thermalize_momenta(atoms, temperature_K=args.t_start_K, rng=rng)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep=args.timestep_fs * units.fs, temperature_K=args.t_start_K,
                   friction=args.friction_per_ps / (1000.0 * units.fs), fixcm=False, rng=rng)
    sample_at = set(np.linspace(args.skip_steps, args.md_steps,
                                args.frames_per_molecule).round().astype(int).tolist())
    frames, state = [], {"step": 0}

    def temperature(step):
        return args.t_start_K + (args.t_end_K - args.t_start_K) * step / args.md_steps

    def observe():
        step = state["step"]
        if step in sample_at:
            frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy())
            frame.info.update(molecule=name, smiles=MOLECULES[name], step=step,
                              time_fs=step * args.timestep_fs,
                              target_temperature_K=round(temperature(step), 3),
                              kinetic_temperature_K=round(float(atoms.get_temperature()), 2))
            frames.append(frame)
        state["step"] += 1

    dyn.attach(lambda: dyn.set_temperature(temperature_K=temperature(state["step"])), interval=10)
    dyn.attach(observe, interval=1)
    start = time.process_time()
    dyn.run(args.md_steps)
    md_cpu = time.process_time() - start
    _tools.log(f"{name} ({atoms.get_chemical_formula()}): relax {relax_cpu:.1f} s CPU, "
               f"MD {args.md_steps} steps {md_cpu:.1f} s CPU, {len(frames)} frames")
    return frames


def assign_splits(frames, args):
    """``info['split']`` of every frame: ``test_molecule`` for the frames of
    ``--test-molecule``; of the other molecules every ``--test-every``-th
    frame in time (the 2nd, 6th, ... for k = 4) ``test_frame``, the rest ``train``."""
    seen = {}
    for frame in sorted(frames, key=lambda f: (f.info["molecule"], f.info["step"])):
        k = seen[frame.info["molecule"]] = seen.get(frame.info["molecule"], -1) + 1
        if frame.info["molecule"] == args.test_molecule:
            frame.info["split"] = "test_molecule"
        else:
            frame.info["split"] = "test_frame" if k % args.test_every == 1 else "train"


def make_md_frames(args):
    frames = []
    for index, name in enumerate(args.molecules):
        frames.extend(conformers(name, index, args))
    assign_splits(frames, args)
    gfn2 = label_frames(frames, method="gfn2", accuracy=1e-4, step_A=1e-3, progress=False)
    for frame, labelled in zip(frames, gfn2):
        frame.info["dipole_gfn2"] = get_dipole(labelled)
        frame.arrays["born_charges_gfn2"] = get_born_charges(labelled).reshape(-1, 9)
    return frames


def balanced_order(frames):
    """Molecules round-robin; within a molecule its frames of each split in
    van der Corput order over time, the splits interleaved in proportion, so
    that every prefix of the order has held-out frames of every molecule."""
    by_molecule = {}
    for i, frame in enumerate(frames):
        by_molecule.setdefault(frame.info["molecule"], {}).setdefault(frame.info["split"], []).append(i)
    queues = []
    for splits in by_molecule.values():
        keyed = []
        for indices in splits.values():
            keyed += [((rank + 0.5) / len(indices), indices[k])
                      for rank, k in enumerate(_tools.van_der_corput(len(indices)))]
        queues.append([index for _, index in sorted(keyed)])
    order = []
    for rank in range(max(map(len, queues))):
        order.extend(queue[rank] for queue in queues if rank < len(queue))
    return order


def main(argv=None):
    args = parse_args(argv)
    options = {"xc": args.xc, "basis": args.basis, "grid_level": args.grid_level,
               "conv_tol": args.conv_tol}
    _tools.log(f"amino-acid B3LYP set; {vars(args)}; {_tools.versions()}")
    if os.path.exists(args.md_output):
        frames = read(args.md_output, index=":")
        _tools.log(f"reusing the MD frames of {args.md_output}")
    else:
        frames = make_md_frames(args)
        _tools.write_gz(args.md_output, frames)
        _tools.log(f"wrote {args.md_output}: {len(frames)} frames")
    for frame in frames:
        frame.calc = None
    frames = [frame for frame in frames if frame.info["molecule"] in args.label_molecules]
    assign_splits(frames, args)  # the held-out molecule is chosen when labelling
    labelled, wall, cpu = _tools.label_in_order(
        frames, balanced_order(frames)[:args.max_frames], cache_dir=args.cache_dir,
        method="dft", options=options, shard=args.shard, cached_only=args.cached_only)
    if not labelled:
        raise SystemExit(f"no labelled frames in {args.cache_dir} yet")
    reference = (f"RKS {args.xc}/{args.basis} (PySCF), analytic CPKS Z*, grid level "
                 f"{args.grid_level}, conv_tol {args.conv_tol:g} Ha")
    for frame in labelled:
        frame.info["reference"] = reference
    violation = _tools.sum_rule_violation(labelled)
    per_molecule = {}
    for frame, w, c, v in zip(labelled, wall, cpu, violation):
        entry = per_molecule.setdefault(frame.info["molecule"], {
            "formula": frame.get_chemical_formula(), "n_atoms": len(frame), "frames": 0,
            "wall_s": [], "cpu_s": [], "sum_rule_e": []})
        entry["frames"] += 1
        entry["wall_s"].append(w)
        entry["cpu_s"].append(c)
        entry["sum_rule_e"].append(v)
    for entry in per_molecule.values():
        entry["wall_s"] = float(np.median(entry["wall_s"]))
        entry["cpu_s"] = float(np.nanmedian(entry["cpu_s"]))
        entry["sum_rule_e"] = float(np.max(entry["sum_rule_e"]))
    summary = {
        "n_frames": len(labelled),
        "split": {name: sum(f.info["split"] == name for f in labelled)
                  for name in ("train", "test_frame", "test_molecule")},
        "per_molecule (median wall/CPU s per frame, max sum-rule e)": per_molecule,
        "options": options, "versions": _tools.versions(),
        "sum_rule_e": {"median": float(np.median(violation)), "max": float(violation.max())},
        "labels": _tools.label_summary(labelled),
    }
    if args.fd_check_atoms is not None:
        first = [f for f in labelled if f.info["molecule"] == args.label_molecules[0]][0]
        max_abs, rms, seconds = _tools.fd_check_dft(first, options=options,
                                                    atom_indices=args.fd_check_atoms or None)
        summary["fd_check"] = {"molecule": first.info["molecule"], "step": int(first.info["step"]),
                               "atoms": args.fd_check_atoms, "max_abs_e": max_abs,
                               "rms_e": rms, "cpu_s": seconds, "step_A": 2e-3}
    _tools.write_gz(args.output, labelled)
    summary["file_KiB"] = round(os.path.getsize(args.output) / 1024, 1)
    summary["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    summary["load_1min"] = os.getloadavg()[0]
    text = json.dumps(summary, indent=1)
    _tools.write_text(os.path.join(HERE, "amino_acids_b3lyp.summary.json"), text)
    _tools.log(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
