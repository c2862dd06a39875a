"""Shared driver of the GFN2-xTB molecule sets (``peptides_gfn2``, ``nine_species_gfn2``).

Each molecule (name, SMILES) is built with RDKit ETKDG + MMFF94
(:func:`_tools.build_from_smiles`, seeded); ``conformers`` copies per
molecule are made, the first at the MMFF geometry, the others with every
atom displaced by a seeded Gaussian of ``rattle_A`` per Cartesian component
(thermal-like distortions without an MD run). Every frame gets the GFN2-xTB
dipole and Born charges (tblite, accuracy 1e-4, central finite differences
of μ with a 1e-3 Å step: 6N SCFs per frame) through the package's cached
labeller, in an order where molecules come round-robin, so a partial run
still covers every molecule.
"""

import argparse
import json
import os
import time

import numpy as np

import _tools

XTB_OPTIONS = {"accuracy": 1e-4, "step_A": 1e-3}


def parse_args(description, here, stem, argv=None):
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--conformers", type=int, default=1, help="frames per molecule")
    parser.add_argument("--rattle-A", type=float, default=0.05,
                        help="Gaussian displacement of the extra conformers, Å")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--output", default=os.path.join(here, f"{stem}.extxyz.gz"))
    parser.add_argument("--cache-dir", default=os.path.join(here, "cache"))
    parser.add_argument("--cached-only", action="store_true",
                        help="write only the frames already labelled (a partial set)")
    return parser.parse_args(argv)


def make(molecules, args, *, summary_path, test_every=5):
    """Build, label and write one set; return the summary dict.

    Parameters
    ----------
    molecules : list of (str, str)
        (name, SMILES) pairs.
    args : argparse.Namespace
        From :func:`parse_args`.
    summary_path : str
        JSON summary written next to the data.
    test_every : int
        Every k-th molecule (in list order, starting at the 2nd) is ``test``,
        the others ``train`` (``info['split']``, whole molecules).
    """
    _tools.log(f"{len(molecules)} molecules; {vars(args)}; {_tools.versions()}")
    rng = np.random.default_rng(args.seed)
    by_conformer = [[] for _ in range(args.conformers)]
    start = time.process_time()
    for index, (name, smiles) in enumerate(molecules):
        atoms = _tools.build_from_smiles(smiles, seed=args.seed + index, name=name)
        atoms.info["split"] = "test" if index % test_every == 1 else "train"
        for k in range(args.conformers):
            frame = atoms.copy()
            if k > 0:
                frame.positions += rng.normal(scale=args.rattle_A, size=frame.positions.shape)
            frame.info["conformer"] = k
            by_conformer[k].append(frame)
    frames = [frame for group in by_conformer for frame in group]
    _tools.log(f"built {len(frames)} frames in {time.process_time() - start:.1f} s CPU")
    labelled, wall, cpu = _tools.label_in_order(frames, range(len(frames)),
                                                cache_dir=args.cache_dir, method="gfn2",
                                                options=XTB_OPTIONS, cached_only=args.cached_only)
    if not labelled:
        raise SystemExit(f"no labelled frames in {args.cache_dir} yet")
    reference = "GFN2-xTB (tblite), accuracy 1e-4, Z* central FD 1e-3 A"
    for frame in labelled:
        frame.info["reference"] = reference
    violation = _tools.sum_rule_violation(labelled)
    n_atoms = np.array([len(f) for f in labelled])
    species = sorted({s for f in labelled for s in f.get_chemical_symbols()})
    summary = {
        "n_frames": len(labelled), "n_molecules": len({f.info["molecule"] for f in labelled}),
        "species": species,
        "frames_per_species": {s: sum(s in f.get_chemical_symbols() for f in labelled)
                               for s in species},
        "atoms_per_frame": {"min": int(n_atoms.min()), "median": float(np.median(n_atoms)),
                            "max": int(n_atoms.max()), "total": int(n_atoms.sum())},
        "split": {name: sum(f.info["split"] == name for f in labelled)
                  for name in ("train", "test")},
        "options": XTB_OPTIONS, "versions": _tools.versions(),
        "wall_s_per_frame": {"median": float(np.median(wall)), "max": float(wall.max()),
                             "total": float(wall.sum())},
        "cpu_s_per_frame": {"median": float(np.nanmedian(cpu)), "max": float(np.nanmax(cpu)),
                            "total": float(np.nansum(cpu))},
        "cpu_s_per_scf": float(np.nansum(cpu) / (6 * n_atoms.sum() + len(labelled))),
        "sum_rule_e": {"median": float(np.median(violation)), "max": float(violation.max())},
        "labels": _tools.label_summary(labelled),
    }
    _tools.write_gz(args.output, labelled)
    summary["file_KiB"] = round(os.path.getsize(args.output) / 1024, 1)
    summary["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    summary["load_1min"] = os.getloadavg()[0]
    text = json.dumps(summary, indent=1)
    _tools.write_text(summary_path, text)
    _tools.log(text)
    return summary
