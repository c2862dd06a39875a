"""Water-dimer data set of the paper (Sec. II.F), with GFN2-xTB instead of RPBE-D3.

Protocol (Schmiedmayer & Kresse 2024, Sec. II.F): a water dimer in vacuum,
one oxygen fixed, hydrogen mass 8 u, 1.5 fs time step, a Langevin heating
run from 10 K to 320 K (friction 10 ps⁻¹); 1000 uniformly spaced
configurations get dipoles, 150 of them Born charges. Dipoles are split in
half alternately (train/test); of the 150 Z* configurations 50 uniformly
spaced ones are validation, 100 training.

GFN2-xTB (tblite) drives the MD and labels the frames
(:func:`ase_dipole.reference.label_frames`). Near 320 K the GFN2 dimer can
dissociate; a flat-bottom harmonic O–O restraint (ASE ``Hookean``, beyond
``--restraint-start-A``) keeps it bound. The O–O distance is logged every
step and summarised at the end.

Output: extended XYZ (gzip), 1000 frames in time order, each with
``info['dipole']`` (e·Å), ``info['split']`` and ``info['has_born_charges']``;
the 150 Z* frames also carry the per-atom ``born_charges`` (N, 9), e.
``split`` is one of ``dipole_train``, ``dipole_test``, ``born_train``,
``born_test``; the Z* frames sit at even (born_train) or odd (born_test)
positions, so the dipole halves are {dipole_train, born_train} (even
positions) and {dipole_test, born_test} (odd): a combined μ + Z* fit never
sees a test frame. Stored masses are the normal ones (μ and Z* do not
depend on masses).

Run (about 3 minutes on an idle core; 10 minutes on a busy shared one)::

    OMP_NUM_THREADS=1 python examples/water_dimer/make_dataset.py
    python examples/water_dimer/make_dataset.py --quick --output /tmp/quick.extxyz.gz
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np
from ase import Atoms, units
from ase.collections import s22
from ase.constraints import FixAtoms, Hookean
from ase.io import write
from ase.md.langevin import Langevin
from tblite.ase import TBLite

try:  # ASE >= 3.29; the older name draws the same numbers
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

import ase_dipole
from ase_dipole.reference import label_frames

DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "ase_dipole", "data",
    "water_dimer_gfn2.extxyz.gz",
)
OXYGENS = (0, 3)  # O of the donor (fixed) and of the acceptor in S22 'Water_dimer'
DISSOCIATED_A = 4.5  # O–O distance flagged as dissociated, Å
XTB_ACCURACY = 1e-4  # tblite accuracy of the labels (tight: smooth finite differences)
FD_STEP_A = 1e-3  # Z* central-difference step, Å


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=200_000, help="MD steps (paper: 200000)")
    parser.add_argument("--timestep-fs", type=float, default=1.5)
    parser.add_argument("--t-start-K", type=float, default=10.0)
    parser.add_argument("--t-end-K", type=float, default=320.0)
    parser.add_argument("--friction-per-ps", type=float, default=10.0)
    parser.add_argument("--hydrogen-mass-amu", type=float, default=8.0)
    parser.add_argument("--n-dipole", type=int, default=1000, help="frames with dipoles")
    parser.add_argument("--n-born", type=int, default=150, help="of which with Born charges")
    parser.add_argument("--n-born-test", type=int, default=50, help="Z* validation frames")
    parser.add_argument("--restraint-start-A", type=float, default=4.0,
                        help="O–O distance beyond which the harmonic wall acts")
    parser.add_argument("--restraint-k-eV-A2", type=float, default=5.0,
                        help="wall spring constant; 0 switches the wall off")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--quick", action="store_true",
                        help="tiny run: 3000 steps, 40 dipole frames, 9 Z* frames (3 test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.n_dipole, args.n_born, args.n_born_test = 3000, 40, 9, 3
    if not 0 < args.n_born_test < args.n_born <= args.n_dipole // 2 <= args.steps // 2:
        parser.error(
            f"need 0 < n_born_test ({args.n_born_test}) < n_born ({args.n_born}) "
            f"<= n_dipole/2 ({args.n_dipole // 2}) <= steps/2 ({args.steps // 2})"
        )
    return args


def build_dimer(hydrogen_mass_amu):
    """S22 water dimer (MP2 geometry), donor O fixed, heavy hydrogens."""
    atoms = s22["Water_dimer"].copy()
    atoms.center()
    masses = atoms.get_masses()
    masses[atoms.numbers == 1] = hydrogen_mass_amu
    atoms.set_masses(masses)
    return atoms


def split_labels(n_dipole, n_born, n_born_test):
    """Split of the frames (paper protocol) and the indices of the Z* frames.

    Dipole frames alternate train (even position) / test (odd). Z* frames are
    ``n_born`` uniformly spaced frames; every ``n_born/n_born_test``-th of them
    (uniformly spaced) is validation. Each Z* frame is moved to the nearest
    position of the parity of its role, so born_train ⊂ dipole train and
    born_test ⊂ dipole test.

    Returns
    -------
    split : list of str, (n_dipole,)
    born_index : numpy.ndarray of int, (n_born,), increasing
    """
    spacing = n_dipole / n_born
    centres = (np.arange(n_born) + 0.5) * spacing
    test = np.zeros(n_born, dtype=bool)
    test[np.round((np.arange(n_born_test) + 0.5) * n_born / n_born_test - 0.5).astype(int)] = True
    parity = test.astype(int)  # test frames at odd positions
    born_index = 2 * np.floor((centres - parity) / 2).astype(int) + parity
    if len(np.unique(born_index)) != n_born or born_index.max() >= n_dipole:
        raise ValueError(f"cannot place {n_born} Z* frames among {n_dipole}; use fewer")
    split = ["dipole_train" if k % 2 == 0 else "dipole_test" for k in range(n_dipole)]
    for k, is_test in zip(born_index, test):
        split[k] = "born_test" if is_test else "born_train"
    return split, born_index


def run_md(args, log):
    """Langevin heating run; returns the sampled frames and the O–O trace."""
    atoms = build_dimer(args.hydrogen_mass_amu)
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    constraints = []
    if args.restraint_k_eV_A2 > 0:
        constraints.append(Hookean(a1=OXYGENS[0], a2=OXYGENS[1],
                                   rt=args.restraint_start_A, k=args.restraint_k_eV_A2))
    constraints.append(FixAtoms(indices=[OXYGENS[0]]))
    atoms.set_constraint(constraints)

    rng = np.random.default_rng(args.seed)
    thermalize_momenta(atoms, temperature_K=args.t_start_K, rng=rng)
    dyn = Langevin(atoms, timestep=args.timestep_fs * units.fs, temperature_K=args.t_start_K,
                   friction=args.friction_per_ps / (1000.0 * units.fs), fixcm=False, rng=rng)

    interval = args.steps // args.n_dipole
    oo = np.empty(args.steps + 1)
    frames = []
    start = time.perf_counter()
    state = {"step": 0}

    def observe():
        step = state["step"]
        oo[step] = atoms.get_distance(*OXYGENS)
        if step > 0 and step % interval == 0 and len(frames) < args.n_dipole:
            frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy())
            frame.info.update(step=step, time_fs=step * args.timestep_fs,
                              target_temperature_K=round(temperature(step), 3),
                              oo_distance_A=round(float(oo[step]), 6))
            frames.append(frame)
        if step % max(1, args.steps // 20) == 0:
            elapsed = time.perf_counter() - start
            log(f"step {step:7d}/{args.steps}  T_target {temperature(step):6.1f} K  "
                f"T_kin {atoms.get_temperature():6.1f} K  d_OO {oo[step]:.3f} Å  "
                f"{elapsed:6.1f} s")
        state["step"] += 1

    def temperature(step):
        return args.t_start_K + (args.t_end_K - args.t_start_K) * step / args.steps

    def heat():
        dyn.set_temperature(temperature_K=temperature(state["step"]))

    dyn.attach(heat, interval=10)
    dyn.attach(observe, interval=1)
    dyn.run(args.steps)
    return frames, oo, time.perf_counter() - start


def summarise_oo(oo, args, log):
    percentiles = np.percentile(oo, [0, 1, 50, 99, 100])
    log("O–O distance (every step), Å: min {:.3f}  1% {:.3f}  median {:.3f}  "
        "99% {:.3f}  max {:.3f}".format(*percentiles))
    restrained = np.mean(oo > args.restraint_start_A)
    dissociated = np.mean(oo > DISSOCIATED_A)
    log(f"steps beyond the wall start {args.restraint_start_A} Å: {100 * restrained:.3f} %; "
        f"beyond {DISSOCIATED_A} Å (dissociated): {100 * dissociated:.3f} %")
    if dissociated > 0:
        log(f"WARNING: the dimer dissociated (max O–O {oo.max():.2f} Å); raise "
            "--restraint-k-eV-A2, lower --restraint-start-A or --t-end-K")
    edges = np.arange(2.4, max(4.6, oo.max() + 0.1), 0.1)
    counts, _ = np.histogram(oo, bins=edges)
    for lo, count in zip(edges[:-1], counts):
        if count:
            log(f"  {lo:.1f}–{lo + 0.1:.1f} Å  {count / len(oo):.4f}")


def main(argv=None):
    args = parse_args(argv)

    def log(message):
        print(message, flush=True)

    log(f"ase-dipole {ase_dipole.__version__}; water dimer GFN2-xTB data set; "
        f"{vars(args)}")
    frames, oo, md_wall = run_md(args, log)
    log(f"MD: {args.steps} steps in {md_wall:.1f} s ({1e3 * md_wall / args.steps:.2f} ms/step)")
    summarise_oo(oo, args, log)

    split, born_index = split_labels(args.n_dipole, args.n_born, args.n_born_test)
    has_born = np.zeros(args.n_dipole, dtype=bool)
    has_born[born_index] = True

    start = time.perf_counter()
    dipole_frames = label_frames([frames[k] for k in np.flatnonzero(~has_born)],
                                 method="gfn2", born_charges=False,
                                 accuracy=XTB_ACCURACY)
    dipole_wall = time.perf_counter() - start
    start = time.perf_counter()
    born_frames = label_frames([frames[k] for k in born_index], method="gfn2",
                               accuracy=XTB_ACCURACY, step_A=FD_STEP_A)
    born_wall = time.perf_counter() - start
    log(f"labels: {len(dipole_frames)} dipoles in {dipole_wall:.1f} s; "
        f"{len(born_frames)} dipoles + Z* in {born_wall:.1f} s "
        f"({born_wall / len(born_frames):.3f} s per Z*)")

    labelled = [None] * args.n_dipole
    for k, frame in zip(np.flatnonzero(~has_born), dipole_frames):
        labelled[k] = frame
    for k, frame in zip(born_index, born_frames):
        labelled[k] = frame
    for k, frame in enumerate(labelled):
        frame.info["split"] = split[k]
        frame.info["has_born_charges"] = bool(has_born[k])
        frame.info["reference"] = (f"GFN2-xTB (tblite), accuracy {XTB_ACCURACY:g}, "
                                   f"Z* central FD {FD_STEP_A:g} A")

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with gzip.open(args.output, "wt") as handle:
        write(handle, labelled, format="extxyz")
    counts = {name: split.count(name) for name in sorted(set(split))}
    log(f"wrote {args.output}: {len(labelled)} frames, {int(has_born.sum())} with Z*; "
        f"split {counts}; {os.path.getsize(args.output) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
