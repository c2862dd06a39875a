"""Cost of the MAPbI₃ campaign, measured: QE Born charges and force-field MD steps.

Sub-commands (each result is appended to ``results/cost.json`` as soon as it
is measured, with the load average and thread count beside it; a setting
already in the file is not run again, so an interrupted series resumes):

``qe``
    :func:`ase_dipole.reference.qe.qe_born_charges` (pw.x + ph.x at Γ,
    epsil/zeu, one OpenMP thread, no MPI) on ``data/MAPbI3_cubic.extxyz``
    (or ``--cell tetragonal`` for the 48-atom cell) with the PseudoDojo set of
    ``pseudo/`` for every ``--ecut`` × ``--k`` pair (ecutrho = 4 × ecutwfc,
    Monkhorst–Pack grid k × k × k for the 12-atom cell, shifted by half a
    step with ``--shift 1`` (the default: an unshifted even grid holds the
    R point, where the gap of the cubic cell is smallest, and overweights it:
    at 30 Ry and 2 × 2 × 2 it gave ε∞ = 17 and a sum-rule violation of 5.7 e);
    for the
    48-atom cell the grid is scaled to the same k-point density,
    ⌈k / √2⌉ × ⌈k / √2⌉ × ⌈k / 2⌉). Records the CPU time of pw.x and ph.x,
    the acoustic-sum-rule violation of the raw charges, ε∞ and Z*.
    ``--rattle-A σ`` displaces every atom by a Gaussian of width σ Å (seed 0)
    first: an MD frame has no symmetry, so pw.x and ph.x cannot reduce the
    k-points or the perturbations as they do for the C3v starting cell, and
    this is the cost a training frame has.
``md``
    CPU time of one velocity-Verlet step (CHGNet, one torch thread) of the
    2 × 2 × 2 pseudo-cubic supercell (96 atoms) and the 2 × 2 × 2 tetragonal
    supercell (384 atoms): ``--steps`` steps after one warm-up step. Needs
    ``chgnet`` (run with python).
``table``
    Prints every record and, for the QE series, the largest |ΔZ*| of each
    setting against the highest cut-off at the same grid and against the
    densest grid at the same cut-off.

Examples::

    nice -n 10 python cost.py qe --ecut 40 60 80 --k 2
    nice -n 10 python cost.py qe --cell tetragonal --ecut 40 --k 2
    nice -n 10 python cost.py md --steps 5
    python cost.py table
"""

import argparse
import json
import math
import os
import time

import ase.io
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "cost.json")
PSEUDO_DIR = os.path.join(HERE, "pseudo")
PSEUDOPOTENTIALS = {"Pb": "Pb-d.upf.gz", "I": "I.upf.gz", "C": "C.upf.gz", "N": "N.upf.gz",
                    "H": "H.upf.gz"}


def _load():
    if not os.path.exists(RESULTS):
        return []
    with open(RESULTS) as handle:
        return json.load(handle)


def _append(record):
    records = _load() + [record]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS + ".tmp", "w") as handle:
        json.dump(records, handle, indent=1)
    os.replace(RESULTS + ".tmp", RESULTS)


def _load_average():
    return os.getloadavg()[0]


def run_qe(cell_name, ecuts, ks, shift, rattle_A, timeout_s):
    """One QE Born-charge run per (ecut, k); see the module docstring."""
    from ase_dipole.reference.qe import qe_born_charges

    atoms = ase.io.read(os.path.join(HERE, "data", f"MAPbI3_{cell_name}.extxyz"))
    if rattle_A > 0:
        atoms.rattle(stdev=rattle_A, seed=0)
    done = {(r["cell"], r["ecutwfc_Ry"], r["k"], r["shift"], r.get("rattle_A", 0.0))
            for r in _load() if r["kind"] == "qe"}
    for k in ks:
        for ecut in ecuts:
            if (cell_name, ecut, k, shift, rattle_A) in done:
                continue
            grid = (k, k, k) if len(atoms) == 12 else (math.ceil(k / 2 ** 0.5),) * 2 + (math.ceil(k / 2),)
            load_before = _load_average()
            born, epsilon, details = qe_born_charges(
                atoms, pseudopotentials=PSEUDOPOTENTIALS, pseudo_dir=PSEUDO_DIR, ecutwfc_Ry=ecut,
                kpts=grid, kpoint_shift=(shift,) * 3, threads=1, timeout_s=timeout_s,
                keep_outputs=os.path.join(HERE, "work", f"{cell_name}_{ecut:g}_{k}_{shift}_{rattle_A:g}"))
            record = {"kind": "qe", "cell": cell_name, "n_atoms": len(atoms), "ecutwfc_Ry": ecut,
                      "ecutrho_Ry": 4 * ecut, "k": k, "kpts": list(grid), "shift": shift, "rattle_A": rattle_A,
                      "threads": 1, "n_kpoints": _count_kpoints(os.path.join(
                          HERE, "work", f"{cell_name}_{ecut:g}_{k}_{shift}_{rattle_A:g}", "pw.out")),
                      "load_1min_before": load_before, "load_1min_after": _load_average(),
                      "epsilon": epsilon.tolist(), "born_charges": born.tolist(), **details}
            _append(record)
            print(f"{cell_name} ecut {ecut:g} Ry k {grid} shift {shift} rattle {rattle_A:g} A: pw.x {details['pw_cpu_s']:.0f} s CPU, "
                  f"ph.x {details['ph_cpu_s']:.0f} s CPU, sum rule "
                  f"{details['acoustic_sum_rule_violation_e']:.3f} e, eps_xx {epsilon[0, 0]:.2f}, "
                  f"load {load_before:.1f}", flush=True)


def _count_kpoints(pw_out):
    """Irreducible k-points pw.x used (its 'number of k points=' line)."""
    with open(pw_out) as handle:
        for line in handle:
            if "number of k points=" in line:
                return int(line.split("=")[1].split()[0])
    return None


def run_md(steps, threads):
    """CPU time per CHGNet velocity-Verlet step of the 96- and 384-atom supercells."""
    import torch
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from chgnet import __version__ as chgnet_version
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(threads)
    model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
    cells = {"cubic 2x2x2": ("cubic", (2, 2, 2)), "tetragonal 2x2x2": ("tetragonal", (2, 2, 2))}
    for label, (name, repeat) in cells.items():
        atoms = ase.io.read(os.path.join(HERE, "data", f"MAPbI3_{name}.extxyz")).repeat(repeat)
        atoms.calc = CHGNetCalculator(model=model, use_device="cpu")
        MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
        dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
        dynamics.run(1)  # warm-up: graph construction caches, first torch call
        load_before = _load_average()
        cpu, wall = time.process_time(), time.perf_counter()
        dynamics.run(steps)
        cpu, wall = (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps
        record = {"kind": "md", "cell": label, "n_atoms": len(atoms), "model": "CHGNet 0.3.0",
                  "chgnet": chgnet_version, "torch": torch.__version__, "threads": threads,
                  "steps": steps, "cpu_s_per_step": cpu, "wall_s_per_step": wall,
                  "load_1min_before": load_before, "load_1min_after": _load_average()}
        _append(record)
        print(f"{label} ({len(atoms)} atoms): {cpu:.2f} s CPU / step ({wall:.2f} s wall), "
              f"{threads} thread(s), load {load_before:.1f}", flush=True)


def print_table():
    """Every record; for QE the largest |ΔZ*| against the run of the highest cut-off at the same
    grid (dZ*_ecut) and against the run of the densest grid at the same cut-off (dZ*_k)."""
    records = _load()
    qe = [r for r in records if r["kind"] == "qe"]

    def key(r, *drop):
        fields = {"cell": r["cell"], "ecut": r["ecutwfc_Ry"], "k": r["k"], "shift": r["shift"],
                  "rattle": r.get("rattle_A", 0.0)}
        return tuple(v for f, v in fields.items() if f not in drop)

    def largest_change(r, field, order):
        peers = [p for p in qe if key(p, field) == key(r, field)]
        reference = max(peers, key=order)
        if reference is r:
            return "     -"
        change = np.abs(np.array(r["born_charges"]) - np.array(reference["born_charges"])).max()
        return f"{change:6.3f}"

    for cell in sorted({r["cell"] for r in qe}):
        runs = sorted((r for r in qe if r["cell"] == cell),
                      key=lambda r: (r.get("rattle_A", 0.0), r["shift"], r["k"], r["ecutwfc_Ry"]))
        print(f"QE Born charges, {cell} ({runs[0]['n_atoms']} atoms), one thread; CPU s of the "
              "programs; dZ*_ecut: max |Z* - Z*(highest ecut, same grid)|, dZ*_k: max "
              "|Z* - Z*(densest grid, same ecut)|, e")
        print("  ecut/Ry  kpts  shift  rattle/A  nk  pw.x CPU/s  ph.x CPU/s  sum rule/e  eps_xx  "
              "Z*Pb_xx  Z*I1_xx  Z*I1_yy  dZ*_ecut  dZ*_k  load")
        for r in runs:
            born = np.array(r["born_charges"])
            print(f"  {r['ecutwfc_Ry']:7g}  {'x'.join(map(str, r['kpts'])):5s}  {r['shift']:5d}  "
                  f"{r.get('rattle_A', 0.0):8g}  {str(r.get('n_kpoints', '?')):>2s}  "
                  f"{r['pw_cpu_s']:10.0f}  {r['ph_cpu_s']:10.0f}  "
                  f"{r['acoustic_sum_rule_violation_e']:10.3f}  "
                  f"{r['epsilon'][0][0]:6.2f}  {born[0, 0, 0]:7.3f}  {born[1, 0, 0]:7.3f}  "
                  f"{born[1, 1, 1]:7.3f}  {largest_change(r, 'ecut', lambda p: p['ecutwfc_Ry']):>8s}  "
                  f"{largest_change(r, 'k', lambda p: p['k']):>6s}  {r['load_1min_before']:.1f}")
    for r in (r for r in records if r["kind"] == "md"):
        print(f"MD step, {r['model']}, {r['cell']} ({r['n_atoms']} atoms): "
              f"{r['cpu_s_per_step']:.2f} s CPU / step ({r['wall_s_per_step']:.2f} s wall), "
              f"{r['threads']} thread(s), load {r['load_1min_before']:.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    qe = commands.add_parser("qe")
    qe.add_argument("--cell", choices=("cubic", "tetragonal", "orthorhombic"), default="cubic")
    qe.add_argument("--ecut", type=float, nargs="+", default=[40.0])
    qe.add_argument("--k", type=int, nargs="+", default=[2])
    qe.add_argument("--shift", type=int, choices=(0, 1), default=1)
    qe.add_argument("--rattle-A", type=float, default=0.0)
    qe.add_argument("--timeout-s", type=float, default=None)
    md = commands.add_parser("md")
    md.add_argument("--steps", type=int, default=5)
    md.add_argument("--threads", type=int, default=1)
    commands.add_parser("table")
    args = parser.parse_args(argv)
    if args.command == "qe":
        run_qe(args.cell, args.ecut, args.k, args.shift, args.rattle_A, args.timeout_s)
    elif args.command == "md":
        run_md(args.steps, args.threads)
    print_table()


if __name__ == "__main__":
    main()
