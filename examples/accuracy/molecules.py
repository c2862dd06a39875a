"""Molecules and many species (issue 23): every figure of the issue's
acceptance list that the data sets at hand allow.

Sections (each fit runs in its own process, so that its peak resident
memory is its own; CPU is the single-thread ``time.process_time`` of the
fit):

``dimer``     B3LYP/def2-SVP water dimer made like the paper's (64 training
              frames, held-out frames): the defaults (cut-off and model by
              cross-validation) against 4 and 6 Å linear and the 4 Å kernel.
``methanol``  B3LYP methanol, likewise.
``amino``     multi-species B3LYP amino-acid benchmark: learning curve of
              the held-out Z* RMSPE and of the dipole RMSPE of whole held-out
              molecules.
``five``      five-species GFN2-xTB set (C, H, N, O, S; 60 molecules of 34–60
              atoms): fit CPU and memory of the defaults on all 60 molecules.
``five-held-out``  the same set, 48 training → 12 held-out molecules: errors.
``nine``      nine-species GFN2-xTB set (C, H, N, O, S, P, F, Cl, Br): likewise.
``five-repeated``  cost only: five GFN2-xTB C, H, N, O, S clusters of 43–49
              atoms (``data/five_species_clusters_gfn2.extxyz.gz``), each
              repeated 12 times: 60 frames, CPU and memory of a default fit.
``water``     liquid water (the paper's RPBE-D3 set), frames 0–79 → 80–99.

The data sets are made by ``examples/datasets/*/make.py``; a section whose
file is missing prints one line saying so.

Run::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        nice -n 15 python examples/accuracy/molecules.py [--datasets DIR] [SECTION ...]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = os.path.join(HERE, "..", "datasets")
SECTIONS = ("dimer", "methanol", "amino", "five", "five-held-out", "nine", "water", "five-repeated")
FILES = {"dimer": "water_dimer_b3lyp/water_dimer_b3lyp.extxyz.gz",
         "methanol": "methanol_b3lyp/methanol_b3lyp.extxyz.gz",
         "amino": "amino_acids_b3lyp/amino_acids_b3lyp.extxyz.gz",
         "five": "peptides_gfn2/peptides_gfn2.extxyz.gz",
         "five-held-out": "peptides_gfn2/peptides_gfn2.extxyz.gz",
         "nine": "nine_species_gfn2/nine_species_gfn2.extxyz.gz",
         "five-repeated": os.path.join(HERE, "data", "five_species_clusters_gfn2.extxyz.gz")}
#: paper-style splits: training and held-out frames by ``info['split']``
TRAIN = ("born_train", "train")
HELD_OUT = ("born_test", "test", "test_frame", "test_molecule")


def _fit(frames, **options):
    """Fit with ``options`` and return (model, CPU seconds of the fit)."""
    from ase_dipole.learning.model import PolarizationModel

    start = time.process_time()
    model = PolarizationModel(**options).fit(frames, progress=False)
    return model, time.process_time() - start


def _errors(model, frames):
    """Held-out (dipole RMSPE, Z* RMSPE) in %, from the frames that carry each label."""
    from ase_dipole.io.extxyz import get_born_charges, get_dipole
    from ase_dipole.learning.model import rmspe

    dipole = [(model.predict_dipole(a), get_dipole(a)) for a in frames if get_dipole(a) is not None]
    born = [(model.predict(a)[1].ravel(), get_born_charges(a).ravel()) for a in frames
            if get_born_charges(a) is not None]
    out = []
    for pairs in (dipole, born):
        if pairs:
            predicted, reference = (np.concatenate(x) for x in zip(*pairs))
            out.append(100 * rmspe(predicted, reference))
        else:
            out.append(float("nan"))
    return tuple(out)


def _describe(model):
    search = model.training_metrics.get("cutoff_search")
    chosen = f"{model.kind}, r_c {model.descriptor.cutoff:g} Å"
    kept = model.training_metrics.get("feature_selection")
    if kept:
        chosen += f", {sum(kept['kept_per_species'].values())} of " \
                  f"{len(model.species) * kept['features_per_species']} coefficients kept"
    if search:
        chosen += f" (chosen by CV on {len(search['frames'])} frames)"
    return chosen


def _split(frames):
    train = [a for a in frames if a.info.get("split") in TRAIN]
    held = [a for a in frames if a.info.get("split") in HELD_OUT]
    return train, held


def run_section(name, path):
    """One section, in this process; prints its figures."""
    import ase.io

    from ase_dipole.io.extxyz import get_dipole

    if name == "water":
        from ase_dipole.io import load_paper_water

        frames = load_paper_water()
        model, cpu = _fit(frames[:80])
        predicted = np.concatenate([model.predict(a)[1].ravel() for a in frames[80:]])
        from ase_dipole.io.extxyz import get_born_charges

        reference = np.concatenate([get_born_charges(a).ravel() for a in frames[80:]])
        print(f"liquid water 80 -> 20, defaults ({_describe(model)}): held-out Z* RMSE "
              f"{np.sqrt(np.mean((predicted - reference) ** 2)):.4f} e; fit {cpu:.1f} s CPU")
        return
    frames = ase.io.read(path, index=":")
    if name == "five-repeated":
        distinct = frames
        frames = [atoms.copy() for _ in range(12) for atoms in distinct]
        for copy, atoms in zip(frames, [a for _ in range(12) for a in distinct]):
            copy.info["dipole"] = get_dipole(atoms)  # .copy() drops the calculator holding it
        model, cpu = _fit(frames)
        kept = sum(model.training_metrics["feature_selection"]["kept_per_species"].values())
        start = time.process_time()
        model.predict(distinct[0])
        print(f"five-repeated: {len(distinct)} clusters of {min(map(len, distinct))}-"
              f"{max(map(len, distinct))} atoms x 12 = {len(frames)} frames, defaults: fit {cpu:.1f} s "
              f"CPU [{_describe(model)}]; mu + Z* of one cluster {time.process_time() - start:.3f} s CPU "
              f"({kept} coefficients)")
        return
    if name == "five":
        model, cpu = _fit(frames)
        start = time.process_time()
        model.predict(frames[0])
        print(f"five: {len(frames)} molecules of {min(map(len, frames))}-{max(map(len, frames))} atoms, "
              f"{len(model.species)} species {model.species}, defaults: fit {cpu:.1f} s CPU "
              f"[{_describe(model)}]; training Z* RMSE {model.training_metrics['rmse_born_charges_e']:.4f} e; "
              f"mu + Z* of a {len(frames[0])}-atom molecule {time.process_time() - start:.3f} s CPU")
        return
    train, held = _split(frames)
    species = sorted({s for a in frames for s in a.get_chemical_symbols()})
    sizes = [len(a) for a in frames]
    print(f"{name}: {os.path.relpath(path)}: {len(train)} training / {len(held)} held-out frames, "
          f"{len(species)} species {species}, {min(sizes)}-{max(sizes)} atoms")
    if name in ("dimer", "methanol"):
        for label, options in (("defaults (r_c, model by CV)", {}),
                               ("4 Å linear", dict(cutoff=4.0, model="linear")),
                               ("6 Å linear", dict(cutoff=6.0, model="linear")),
                               ("4 Å kernel", dict(cutoff=4.0, model="kernel"))):
            model, cpu = _fit(train, **options)
            dipole, born = _errors(model, held)
            print(f"  {label:<26} held-out dipole RMSPE {dipole:.2f} %  Z* RMSPE {born:.2f} %  "
                  f"fit {cpu:.1f} s CPU  [{_describe(model)}]")
    elif name == "amino":
        molecules = [a for a in frames if a.info.get("split") == "test_molecule"]
        test_frames = [a for a in frames if a.info.get("split") == "test_frame"]
        for n in sorted({n for n in (8, 16, 32, 64, 128, len(train)) if n <= len(train)}):
            picks = np.unique(np.linspace(0, len(train) - 1, n).astype(int))
            model, cpu = _fit([train[i] for i in picks])
            _, born_frames = _errors(model, test_frames) if test_frames else (np.nan, np.nan)
            dipole_mol, born_mol = _errors(model, molecules) if molecules else (np.nan, np.nan)
            print(f"  {len(picks):4d} training frames: held-out frames Z* RMSPE {born_frames:.2f} %;"
                  f" held-out molecule Z* RMSPE {born_mol:.2f} %, dipole RMSPE {dipole_mol:.2f} %;"
                  f" fit {cpu:.1f} s CPU  [{_describe(model)}]")
    else:
        model, cpu = _fit(train)
        dipole, born = _errors(model, held)
        print(f"  defaults: fit {cpu:.1f} s CPU  [{_describe(model)}]; held-out dipole RMSPE "
              f"{dipole:.2f} %  Z* RMSPE {born:.2f} %")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("sections", nargs="*", default=list(SECTIONS), metavar="SECTION",
                        help=f"any of {', '.join(SECTIONS)}")
    parser.add_argument("--datasets", default=DATASETS, help="folder of the data sets")
    parser.add_argument("--one", choices=SECTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; use any of {', '.join(SECTIONS)}")
    if args.one:
        run_section(args.one, os.path.join(args.datasets, FILES.get(args.one, "")))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores); threads: "
          f"{json.dumps({k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'NUMBA_NUM_THREADS')})}")
    for name in args.sections:
        path = os.path.join(args.datasets, FILES.get(name, ""))
        if name != "water" and not os.path.isfile(path):
            print(f"{name}: no data set at {os.path.relpath(path)}; make it with "
                  f"examples/datasets/{os.path.dirname(FILES[name])}/make.py")
            continue
        process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--one", name,
                                    "--datasets", args.datasets])
        _, status, usage = os.wait4(process.pid, 0)
        print(f"  [{name}: peak resident memory {usage.ru_maxrss / 1024 ** 2:.2f} GB of the whole "
              f"process, exit status {os.waitstatus_to_exitcode(status)}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
