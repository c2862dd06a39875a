"""Relabel a subset of the GFN2-xTB water-dimer frames with B3LYP/def2-SVP.

Takes ``--n-frames`` Born-charge frames of the shipped GFN2 data set
(uniformly spaced over the 150, keeping their ``split``) and computes the
dipole and the analytic Born charges with PySCF
(:func:`ase_dipole.reference.dft_born_charges`, restricted Kohn–Sham,
analytic CPKS, grid level 3; ≈5–7 s per configuration on one core). The
GFN2 labels are kept as ``info['dipole_gfn2']`` and the array
``born_charges_gfn2`` for comparison.

Run::

    OMP_NUM_THREADS=1 python examples/water_dimer/label_dft.py
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np
from ase.io import read, write

from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.reference import label_frames

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INPUT = os.path.join(HERE, "..", "..", "ase_dipole", "data", "water_dimer_gfn2.extxyz.gz")
DEFAULT_OUTPUT = os.path.join(HERE, "water_dimer_b3lyp.extxyz.gz")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--input", default=DEFAULT_INPUT)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--n-frames", type=int, default=30)
    parser.add_argument("--xc", default="b3lyp")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    args = parser.parse_args(argv)
    if args.n_frames < 1:
        parser.error(f"--n-frames {args.n_frames}: need at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    frames = [f for f in read(args.input, index=":") if f.info.get("has_born_charges")]
    if args.n_frames > len(frames):
        raise SystemExit(f"--n-frames {args.n_frames} > {len(frames)} Z* frames in {args.input}")
    pick = np.unique(np.linspace(0, len(frames) - 1, args.n_frames).round().astype(int))
    subset = []
    for k in pick:
        frame = frames[k]
        gfn2_dipole, gfn2_born = get_dipole(frame), get_born_charges(frame)
        frame.calc = None
        frame.info.pop("dipole", None)
        del frame.arrays["born_charges"]
        frame.info["dipole_gfn2"] = gfn2_dipole
        frame.arrays["born_charges_gfn2"] = gfn2_born.reshape(-1, 9)
        subset.append(frame)

    start = time.perf_counter()
    labelled = label_frames(subset, method="dft", xc=args.xc, basis=args.basis,
                            grid_level=args.grid_level)
    wall = time.perf_counter() - start
    for frame in labelled:
        frame.info["reference"] = (f"RKS {args.xc}/{args.basis} PySCF analytic CPKS, "
                                   f"grid level {args.grid_level}")

    born = np.array([get_born_charges(f) for f in labelled])
    gfn2 = np.array([f.arrays["born_charges_gfn2"].reshape(-1, 3, 3) for f in labelled])
    dip = np.array([get_dipole(f) for f in labelled])
    dip_gfn2 = np.array([f.info["dipole_gfn2"] for f in labelled])
    print(f"{len(labelled)} frames in {wall:.0f} s ({wall / len(labelled):.1f} s/frame); "
          f"max |sum_i Z*_i| {np.abs(born.sum(axis=1)).max():.1e} e; "
          f"RMS Z*(DFT) - Z*(GFN2) {np.sqrt(np.mean((born - gfn2) ** 2)):.4f} e "
          f"(RMS Z* {np.sqrt(np.mean(born ** 2)):.4f} e); "
          f"RMS mu(DFT) - mu(GFN2) {np.sqrt(np.mean((dip - dip_gfn2) ** 2)):.4f} e*A", flush=True)
    with gzip.open(args.output, "wt") as handle:
        write(handle, labelled, format="extxyz")
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
