"""The paper's Fig. 3 from the RPBE-D3 (MACE) campaign: spectrum, bands, NVE checks.

Reads the run directory of the ``ase-dipole md`` campaign described in
``results/mace_rpbe_d3/README.md`` and

1. makes the spectrum with ``ase-dipole spectrum`` (Green–Kubo on the Ṗ
   logs, Gaussian window of 20 cm⁻¹ FWHM on the correlation function — the
   paper's filter — classical, averaged over the trajectories, standard error
   across them), with the Bertie–Lan experiment overlaid: ``spectrum.csv``
   (with its provenance header) and ``spectrum_vs_expt.png``;
2. overlays it with the SPC/Fw run of this example (``results/ir_spectrum_sim.csv``)
   and the experiment on one absolute scale (α n in cm⁻¹), error bands across
   trajectories: ``spectrum_mace_spcfw_expt.png`` and ``..._low.png``;
3. tabulates the three bands against experiment (``bands.csv``) with the
   issue's acceptance tests: band maximum within 3 % (bend, stretch) or 10 %
   (libration), band integral within 25 %;
4. tabulates every trajectory's NVE record: mean kinetic temperature
   (298 ± 15 K expected) and total-energy drift per atom (``nve.csv``).

Without ``--partial`` it refuses to run before every trajectory of
``run.json`` has finished. With ``--partial`` it uses the finished
trajectories only, writes into ``work/mace_rpbe_d3/partial/`` (never into
``results/``) and labels every file and figure PARTIAL.

Usage::

    python examples/liquid_water/mace_rpbe_d3_spectrum.py                     # final
    python examples/liquid_water/mace_rpbe_d3_spectrum.py --partial           # a look
    python examples/liquid_water/mace_rpbe_d3_spectrum.py --status            # progress
"""

import argparse
import csv
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bands import band_table, markdown_table, write_table  # noqa: E402

from ase_dipole.atomic import write_text_atomic  # noqa: E402
from ase_dipole.cli import main as ase_dipole  # noqa: E402
from ase_dipole.spectra.green_kubo import read_experiment, read_spectrum_csv  # noqa: E402
from ase_dipole.spectra.plot import plot_spectra  # noqa: E402

EXPERIMENT = os.path.join(HERE, os.pardir, os.pardir, "tests", "data", "water_ir_expt",
                          "IR_light_expt_BertieLan1996_digitized.txt")
#: the experimental file holds n(ω)α(ω) in 10³ cm⁻¹
EXPERIMENT_SCALE = 1000.0  # [cm⁻¹ / (10³ cm⁻¹)]
SPCFW = os.path.join(HERE, "results", "ir_spectrum_sim.csv")
#: Gaussian window on the correlation function, FWHM in cm⁻¹ (the package's default)
FWHM_CM1 = 20.0
#: acceptance of the issue: relative tolerance of the band maximum, and of the band integral
PEAK_TOLERANCE = {"libration": 0.10, "bend": 0.03, "stretch": 0.03}
AREA_TOLERANCE = 0.25


def finished_logs(md):
    """The dipole logs of ``md`` whose NVE run finished (its ``.nve.json`` exists)."""
    logs = sorted(glob.glob(os.path.join(md, "traj_*.log")))
    return [log for log in logs if os.path.exists(log[:-len(".log")] + ".nve.json")]


def nve_rows(logs):
    """One row per trajectory from its ``.nve.json`` record."""
    rows = []
    for log in logs:
        with open(log[:-len(".log")] + ".nve.json") as handle:
            quality = json.load(handle)  # written by ase_dipole.dynamics.md (NVEMonitor.summary)
        rows.append(dict(
            trajectory=os.path.basename(log),
            mean_temperature_K=round(quality["mean_temperature_K"], 2),
            std_temperature_K=round(quality["std_temperature_K"], 2),
            energy_drift_meV_per_atom=round(1e3 * quality["energy_drift_eV_per_atom"], 4),
            max_energy_excursion_meV_per_atom=round(
                1e3 * quality["max_energy_excursion_eV_per_atom"], 4),
        ))
    return rows


def campaign_status(md, run):
    """Lines saying how far the campaign in ``md`` has got (from its files)."""
    import numpy as np

    lines = []
    for k in range(run["n_trajectories"]):
        start = os.path.join(md, f"start_{k:03d}.traj")
        log = os.path.join(md, f"traj_{k:03d}.log")
        if os.path.exists(log[:-len(".log")] + ".nve.json"):
            lines.append(f"trajectory {k}: NVE finished ({run['production_steps']} steps)")
            continue
        phase, checkpoint = (("NVE", log[:-len(".log")] + ".ckpt.npz") if os.path.exists(start)
                             else ("sampling", start[:-len(".traj")] + ".ckpt.npz"))
        step = "no checkpoint yet"
        if os.path.exists(checkpoint):
            with np.load(checkpoint) as data:
                header = json.loads(str(data["header"]))
            step = (f"checkpoint at step {header['step']}, "
                    f"{time.strftime('%H:%M:%S', time.localtime(os.path.getmtime(checkpoint)))}")
        total = (run["production_steps"] if phase == "NVE" else
                 run["equilibration_steps"] if k < run["sampling_chains"] else
                 run["decorrelation_steps"])
        lines.append(f"trajectory {k}: {phase} segment of {total} steps, {step}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--md", default=os.path.join(HERE, "work", "mace_rpbe_d3", "md"),
                        help="run directory of the campaign (run.json, traj_*.log)")
    parser.add_argument("-o", "--outdir", default=None,
                        help="default: results/mace_rpbe_d3 (final) or "
                             "work/mace_rpbe_d3/partial (--partial)")
    parser.add_argument("--status", action="store_true",
                        help="only print how far the campaign has got")
    parser.add_argument("--partial", action="store_true",
                        help="use the finished trajectories of an unfinished campaign; output "
                             "labelled PARTIAL and kept out of results/")
    args = parser.parse_args(argv)
    with open(os.path.join(args.md, "run.json")) as handle:
        run = json.load(handle)["parameters"]
    if args.status:
        print("\n".join(campaign_status(args.md, run)))
        return 0
    logs = finished_logs(args.md)
    wanted = run["n_trajectories"]
    if not args.partial and len(logs) < wanted:
        parser.error(f"{len(logs)} of {wanted} trajectories in {args.md} have finished; wait for "
                     "the campaign (or look with --partial, which writes nothing into results/)")
    if not logs:
        parser.error(f"no finished trajectory in {args.md} yet")
    tag = f"PARTIAL ({len(logs)} of {wanted} trajectories)" if args.partial else ""
    outdir = args.outdir or (os.path.join(HERE, "work", "mace_rpbe_d3", "partial") if args.partial
                             else os.path.join(HERE, "results", "mace_rpbe_d3"))
    os.makedirs(outdir, exist_ok=True)
    prefix = "PARTIAL_" if args.partial else ""

    spectrum_csv = os.path.join(outdir, f"{prefix}spectrum.csv")
    status = ase_dipole(["spectrum", *logs, "-o", spectrum_csv, "--fwhm-cm1", str(FWHM_CM1),
                         "--experiment", EXPERIMENT, "--experiment-scale", str(EXPERIMENT_SCALE),
                         "--experiment-label", "experiment (Bertie & Lan 1996)",
                         "--plot", os.path.join(outdir, f"{prefix}spectrum_vs_expt.png")])
    if status:
        return status
    mace = read_spectrum_csv(spectrum_csv)
    spcfw = read_spectrum_csv(SPCFW)
    experiment = read_experiment(EXPERIMENT, scale=EXPERIMENT_SCALE)
    label = (f"RPBE-D3 (MACE) + Z* model, {len(logs)} × "
             f"{run['production_steps'] * run['timestep_fs'] / 1000:g} ps")
    curves = [(mace, label), (spcfw, "SPC/Fw + Z* model, 4 × 10 ps (results/ir_spectrum_sim.csv)")]
    title = f"liquid water, 298 K {tag}".strip()
    plot_spectra(curves, os.path.join(outdir, f"{prefix}spectrum_mace_spcfw_expt.png"),
                 experiment=experiment, experiment_label="experiment (Bertie & Lan 1996)",
                 xlim=(0, 4000), title=title)
    plot_spectra(curves, os.path.join(outdir, f"{prefix}spectrum_mace_spcfw_expt_low.png"),
                 experiment=experiment, experiment_label="experiment (Bertie & Lan 1996)",
                 xlim=(0, 2400), title=title)

    rows = band_table(mace, experiment)
    for row in rows:
        peak_error = abs(row["shift_cm1"]) / row["expt_peak_cm1"]
        row["peak_within_tolerance"] = bool(peak_error <= PEAK_TOLERANCE[row["band"]])
        row["area_within_25_percent"] = bool(abs(row["area_ratio"] - 1.0) <= AREA_TOLERANCE)
    write_table(rows, os.path.join(outdir, f"{prefix}bands.csv"))
    nve = nve_rows(logs)
    with open(os.path.join(outdir, f"{prefix}nve.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(nve[0]))
        writer.writeheader()
        writer.writerows(nve)
    summary = dict(status=tag or "final", trajectories=len(logs), run_parameters=run,
                   bands=rows, spcfw_bands=band_table(spcfw, experiment), nve=nve)
    write_text_atomic(os.path.join(outdir, f"{prefix}summary.json"),
                      json.dumps(summary, indent=1) + "\n")
    print(title)
    print(markdown_table(rows))
    for row in nve:
        print(f"{row['trajectory']}: <T> = {row['mean_temperature_K']:.1f} K, drift "
              f"{row['energy_drift_meV_per_atom']:+.3f} meV/atom")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
