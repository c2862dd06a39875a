"""B3LYP/def2-SVP water dimer made as the paper describes (Sec. II.F).

Input: the GFN2-xTB heating run shipped with the package
(``ase_dipole/data/water_dimer_gfn2.extxyz.gz``, made by
``examples/water_dimer/make_dataset.py``: S22 dimer, donor O fixed, H 8 u,
1.5 fs, Langevin 10 → 320 K over 200 000 steps, 1000 uniformly spaced frames,
150 of them uniformly spaced Z* frames: 100 ``born_train`` + 50 ``born_test``).
Of these, ``--n-train`` uniformly spaced ``born_train`` frames and
``--n-test`` uniformly spaced ``born_test`` frames get PySCF RKS
B3LYP/def2-SVP dipoles and analytic Born charges
(:func:`ase_dipole.reference.dft_born_charges`) through the package's
cached labeller (24 of the 100 frames were already labelled with the same
function and settings by ``examples/water_dimer/label_dft.py``; ``--reuse``
puts those labels into the cache instead of recomputing them); the split is kept (``info['split']`` ``born_train`` /
``born_test``) and the GFN2 labels are kept as ``info['dipole_gfn2']`` and
``arrays['born_charges_gfn2']``.

Run (resumes from ``--cache-dir``)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 \
        python examples/datasets/water_dimer_b3lyp/make.py
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from ase.io import read

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _tools  # noqa: E402

from ase_dipole.io.extxyz import get_born_charges, get_dipole  # noqa: E402
from ase_dipole.reference.labelling import reference_name  # noqa: E402
from ase_dipole.reference.parallel import _save as save_labels  # noqa: E402
from ase_dipole.reference.parallel import load_cached, request_digest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
INPUT = os.path.join(HERE, "..", "..", "..", "ase_dipole", "data", "water_dimer_gfn2.extxyz.gz")
REUSE = os.path.join(HERE, "..", "..", "water_dimer", "water_dimer_b3lyp.extxyz.gz")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--input", default=INPUT)
    parser.add_argument("--output", default=os.path.join(HERE, "water_dimer_b3lyp.extxyz.gz"))
    parser.add_argument("--n-train", type=int, default=64, help="of the 100 born_train frames")
    parser.add_argument("--n-test", type=int, default=36, help="of the 50 born_test frames")
    parser.add_argument("--xc", default="b3lyp")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--conv-tol", type=float, default=1e-11, help="SCF energy, Hartree")
    parser.add_argument("--cache-dir", default=os.path.join(HERE, "cache"))
    parser.add_argument("--reuse", default=REUSE,
                        help="B3LYP frames made by label_dft.py with these settings whose "
                             "labels go into the cache ('' for none)")
    parser.add_argument("--cached-only", action="store_true",
                        help="write only the frames already labelled (a partial set)")
    parser.add_argument("--shard", default=None,
                        help="k/m: compute every m-th frame of the labelling order from k "
                             "(m processes on one cache); the others only if cached")
    parser.add_argument("--fd-check", action="store_true",
                        help="compare analytic Z* with finite differences of mu on frame 0")
    return parser.parse_args(argv)


def uniform(items, n):
    """``n`` uniformly spaced items (first and last included)."""
    if not 0 < n <= len(items):
        raise SystemExit(f"cannot pick {n} of {len(items)} frames; use 1..{len(items)}")
    return [items[k] for k in np.linspace(0, len(items) - 1, n).round().astype(int)]


def reuse_labels(frames, path, options, cache_dir):
    """Put the labels of identical frames of ``path`` (made by label_dft.py) into the cache.

    A frame is reused when its step, atomic numbers and positions are
    identical and the file's ``info['reference']`` names the same functional,
    basis and grid (label_dft.py uses the default conv_tol 1e-11); a frame
    already computed here is kept. Returns the steps whose cached labels are
    reused ones.
    """
    expected = (f"RKS {options['xc']}/{options['basis']} PySCF analytic CPKS, "
                f"grid level {options['grid_level']}")
    if options["conv_tol"] != 1e-11:
        return []
    by_step = {f.info["step"]: f for f in read(path, index=":")
               if f.info.get("reference") == expected}
    reused = []
    for frame in frames:
        old = by_step.get(frame.info["step"])
        if (old is None or not np.array_equal(old.numbers, frame.numbers)
                or not np.array_equal(old.positions, frame.positions)):
            continue
        key = request_digest(frame, method="dft", dipole=True, born_charges=True,
                             options=options)
        target = os.path.join(cache_dir, f"{key}.npz")
        if not os.path.exists(target):
            save_labels(target, {"dipole": get_dipole(old), "born_charges": get_born_charges(old),
                                 "epsilon": None, "reference": reference_name("dft", options),
                                 "details": {"reused_from": os.path.basename(path)}},
                        float("nan"))
        if "reused_from" in load_cached(target)["details"]:
            reused.append(int(frame.info["step"]))
    return reused


def main(argv=None):
    args = parse_args(argv)
    options = {"xc": args.xc, "basis": args.basis, "grid_level": args.grid_level,
               "conv_tol": args.conv_tol}
    frames = read(args.input, index=":")
    train = uniform([f for f in frames if f.info["split"] == "born_train"], args.n_train)
    test = uniform([f for f in frames if f.info["split"] == "born_test"], args.n_test)
    picked = sorted(train + test, key=lambda f: f.info["step"])
    for frame in picked:
        frame.info["dipole_gfn2"] = get_dipole(frame)
        frame.arrays["born_charges_gfn2"] = get_born_charges(frame).reshape(-1, 9)
        frame.calc = None
        frame.info.pop("dipole", None)
        frame.info.pop("has_born_charges", None)
        del frame.arrays["born_charges"]
    _tools.log(f"{len(train)} born_train + {len(test)} born_test frames of {args.input}; "
               f"{options}; {_tools.versions()}")

    os.makedirs(args.cache_dir, exist_ok=True)
    reused = reuse_labels(picked, args.reuse, options, args.cache_dir) if args.reuse else []
    _tools.log(f"{len(reused)} frames' labels reused from {args.reuse}")
    labelled, wall, cpu = _tools.label_in_order(
        picked, _tools.van_der_corput(len(picked)), cache_dir=args.cache_dir,
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
        "options": options, "versions": _tools.versions(),
        "reused_from_label_dft": {"file": os.path.basename(args.reuse), "steps": reused},
        "wall_s_per_frame (computed here)": {"median": float(np.nanmedian(wall)),
                                             "max": float(np.nanmax(wall))},
        "cpu_s_per_frame (computed here)": {"median": float(np.nanmedian(cpu)),
                                            "max": float(np.nanmax(cpu)),
                                            "frames": int(np.isfinite(cpu).sum())},
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
    _tools.write_text(os.path.splitext(os.path.splitext(args.output)[0])[0] + ".summary.json", text)
    _tools.log(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
