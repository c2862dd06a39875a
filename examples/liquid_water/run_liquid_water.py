"""Infrared spectrum of liquid water (Schmiedmayer & Kresse 2024, II.G), end to end.

1. Fit a :class:`ase_dipole.learning.model.PolarizationModel` (its defaults) to the
   DFT Born charges of the paper's RPBE-D3 liquid-water set (Schmiedmayer & Kresse) (frames 0–79) and
   report the Z* error on the held-out frames 80–99.
2. Build a 64-molecule box at 997 kg/m³, minimise it briefly with the SPC/Fw
   force field (OpenMM, :mod:`spcfw_openmm`), and run the IR protocol of
   :func:`ase_dipole.dynamics.md.run_ir_md`: Langevin NVT at 300 K, then independent
   NVE (velocity Verlet) trajectories started ≥ 1 ps of thermostatted run
   apart, logging Ṗ = Σ Z*_i v_i with the model.
3. Average the Green–Kubo spectra (:func:`ase_dipole.spectra.green_kubo.ir_spectrum`)
   and compare them with the Bertie–Lan experiment: figure and band table.

Usage (from anywhere; needs ``pip install openmm``)::

    python examples/liquid_water/run_liquid_water.py            # ~25 min on 2 cores
    python examples/liquid_water/run_liquid_water.py --quick    # smoke run, ~1 min

The full run writes the committed ``results/`` folder; the large files
(model, starting configurations, dipole logs) go to ``work/`` (not committed).
A killed run can be restarted with the same command: finished trajectories
are kept (see :mod:`ase_dipole.dynamics.md`).
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bands import band_table, markdown_table, write_table  # noqa: E402
from spcfw_openmm import SPCFwOpenMM  # noqa: E402
from water_box import build_water_box  # noqa: E402

#: Bertie & Lan (1996), digitized; origin and licence in tests/data/water_ir_expt/SOURCE.md
EXPERIMENT = os.path.join(HERE, os.pardir, os.pardir, "tests", "data", "water_ir_expt",
                          "IR_light_expt_BertieLan1996_digitized.txt")
#: the experimental file holds n(ω)α(ω) in 10³ cm⁻¹
EXPERIMENT_SCALE = 1000.0  # [cm⁻¹ / (10³ cm⁻¹)]

#: run settings; 'full' is the documented result, 'quick' a smoke test
PROTOCOLS = {
    "full": dict(train_frames=(0, 80), test_frames=(80, 100), n_molecules=64,
                 temperature_K=300.0, timestep_fs=0.5, n_trajectories=4,
                 equilibration_steps=10000, decorrelation_steps=2000,
                 production_steps=20000, interval=4, fwhm_cm1=20.0, regularization=None,
                 seed=2024),
    "quick": dict(train_frames=(0, 4), test_frames=(80, 82), n_molecules=64,
                  temperature_K=300.0, timestep_fs=0.5, n_trajectories=2,
                  equilibration_steps=200, decorrelation_steps=100,
                  production_steps=1000, interval=4, fwhm_cm1=150.0,
                  # the λ cross-validation picked in the full run (results/summary.json);
                  # fixed here because the cross-validation alone takes minutes
                  regularization=1e-9, seed=2024),
}


def log(message):
    """Print a time-stamped progress line (flushed, for nohup logs)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fit_model(train, *, regularization=None):
    """A PolarizationModel fitted with its defaults to the Z* of ``train``
    (``regularization`` ``None``: λ by cross-validation, the default)."""
    from ase_dipole.learning.model import PolarizationModel

    return PolarizationModel(regularization=regularization).fit(train, targets="born")


def born_charge_errors(model, frames):
    """Held-out Z* errors of ``model`` on ``frames``.

    Returns
    -------
    dict
        RMSE (e) over all components and per species, the RMSE relative to
        the standard deviation of the reference components (the paper's
        RMSPE), and the arrays (reference, predicted, species) for a parity plot.
    """
    from ase_dipole.io.extxyz import get_born_charges

    reference, predicted, species = [], [], []
    for atoms in frames:
        reference.append(get_born_charges(atoms))
        predicted.append(model.predict(atoms)[1])
        species += atoms.get_chemical_symbols()
    reference = np.concatenate(reference)
    predicted = np.concatenate(predicted)
    species = np.array(species)
    error = predicted - reference
    result = dict(
        n_frames=len(frames),
        rmse_e=float(np.sqrt(np.mean(error**2))),
        rmspe=float(np.sqrt(np.mean(error**2)) / np.std(reference)),
    )
    for symbol in sorted(set(species)):
        mine = species == symbol
        result[f"rmse_{symbol}_e"] = float(np.sqrt(np.mean(error[mine] ** 2)))
        result[f"rmspe_{symbol}"] = float(np.sqrt(np.mean(error[mine] ** 2))
                                          / np.std(reference[mine]))
    return result, (reference, predicted, species)


def minimised_box(n_molecules, seed):
    """Water box at 997 kg/m³ after a brief FIRE minimisation with SPC/Fw."""
    from ase.optimize import FIRE

    atoms = build_water_box(n_molecules, density_kg_m3=997.0, seed=seed)
    atoms.calc = SPCFwOpenMM()
    FIRE(atoms, logfile=None).run(fmax=0.5, steps=300)
    atoms.calc = None
    return atoms


def measure_costs(atoms, model, *, timestep_fs, temperature_K, n_steps, seed):
    """Cost of one force call, one Ṗ call and the NVE energy conservation.

    Runs ``n_steps`` velocity-Verlet steps from ``atoms`` (Maxwell–Boltzmann
    velocities at ``temperature_K``), timing the SPC/Fw force calls, and then
    times ``model.predict_pdot`` on the final state.

    Returns
    -------
    dict
        ms per MD step (forces + integration), ms per Ṗ evaluation, and the
        peak-to-peak and drift of the total energy (eV, and per molecule).
    """
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = SPCFwOpenMM()
    thermalize_momenta(atoms, temperature_K, rng=np.random.default_rng(seed))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    energies = []
    dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=10)
    start = time.perf_counter()
    dyn.run(n_steps)
    md_s = time.perf_counter() - start
    energies = np.array(energies)
    velocities = atoms.get_velocities() * units.fs
    model.predict_pdot(atoms, velocities)
    start = time.perf_counter()
    n_pdot = 10
    for _ in range(n_pdot):
        model.predict_pdot(atoms, velocities)
    pdot_s = (time.perf_counter() - start) / n_pdot
    n_molecules = len(atoms) // 3
    return dict(
        md_step_ms=1e3 * md_s / n_steps,
        pdot_call_ms=1e3 * pdot_s,
        nve_check_steps=n_steps,
        nve_check_timestep_fs=timestep_fs,
        nve_energy_peak_to_peak_eV=float(np.ptp(energies)),
        nve_energy_drift_eV=float(energies[-1] - energies[0]),
        nve_energy_peak_to_peak_meV_per_molecule=float(1e3 * np.ptp(energies) / n_molecules),
    )


def plot_spectrum(spectrum, experiment, path, *, title, low_path=None, low_max_cm1=2400.0):
    """Simulated α n with its standard error against the experiment; with
    ``low_path`` also a second figure of the range below ``low_max_cm1``
    (libration and bend, which the stretch dwarfs on a common scale)."""
    from ase_dipole.spectra.plot import plot_spectra

    label = "λ-SOAP Ṗ on SPC/Fw MD (this run)"
    plot_spectra({label: spectrum}, path, experiment=experiment, title=title)
    if low_path is None:
        return

    def below(curve):
        keep = curve.wavenumber_cm1 <= low_max_cm1
        return dict(wavenumber_cm1=curve.wavenumber_cm1[keep], intensity=curve.intensity[keep],
                    error=curve.error[keep], unit=curve.unit)

    plot_spectra({label: below(spectrum)}, low_path, experiment=below(experiment), title=title)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (~1.5 min): 4-frame fit, two 0.5 ps trajectories")
    parser.add_argument("--workdir", default=None,
                        help="large outputs (model, logs); default work/full or work/quick "
                             "beside this script")
    parser.add_argument("--results", default=None,
                        help="small outputs (CSV, PNG, summary); default results/ for the "
                             "full run, <workdir>/results for --quick")
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "full"
    settings = PROTOCOLS[name]
    workdir = args.workdir or os.path.join(HERE, "work", name)
    results = args.results or (os.path.join(workdir, "results") if args.quick
                               else os.path.join(HERE, "results"))
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(results, exist_ok=True)
    clock = time.perf_counter()
    timings = {}

    import ase.io
    import openmm

    import ase_dipole
    from ase_dipole.io import load_paper_water
    from ase_dipole.dynamics.md import run_ir_md
    from ase_dipole.spectra.plot import plot_parity
    from ase_dipole.spectra.green_kubo import ir_spectrum, read_experiment

    log(f"protocol '{name}': {json.dumps(settings)}")
    frames = load_paper_water()
    train = frames[slice(*settings["train_frames"])]
    test = frames[slice(*settings["test_frames"])]
    model_path = os.path.join(workdir, "model.json")
    start = time.perf_counter()
    log(f"fitting the polarization model on {len(train)} frames x {len(train[0])} atoms")
    model = fit_model(train, regularization=settings["regularization"])
    model.save(model_path)
    timings["fit_s"] = time.perf_counter() - start
    errors, parity = born_charge_errors(model, test)
    log(f"held-out Z* RMSE {errors['rmse_e']:.4f} e (RMSPE {100 * errors['rmspe']:.2f} %) "
        f"on {len(test)} frames; fit took {timings['fit_s']:.0f} s")
    plot_parity(parity[0], parity[1], os.path.join(results, "born_charges_parity.png"),
                label="Z*", unit="e")

    start = time.perf_counter()
    atoms = minimised_box(settings["n_molecules"], settings["seed"])
    costs = measure_costs(atoms, model, timestep_fs=settings["timestep_fs"],
                          temperature_K=settings["temperature_K"],
                          n_steps=2000 if not args.quick else 200, seed=settings["seed"])
    timings["box_and_costs_s"] = time.perf_counter() - start
    log(f"SPC/Fw MD step {costs['md_step_ms']:.2f} ms, Ṗ call {costs['pdot_call_ms']:.1f} ms; "
        f"NVE check: total energy peak-to-peak "
        f"{costs['nve_energy_peak_to_peak_meV_per_molecule']:.2f} meV/molecule")

    start = time.perf_counter()
    md_settings = {key: settings[key] for key in (
        "temperature_K", "timestep_fs", "n_trajectories", "equilibration_steps",
        "decorrelation_steps", "production_steps", "interval", "seed")}
    logs = run_ir_md(atoms, SPCFwOpenMM(), model_path, os.path.join(workdir, "md"),
                     **md_settings)
    timings["md_s"] = time.perf_counter() - start
    total_steps = (settings["equilibration_steps"]
                   + (settings["n_trajectories"] - 1) * settings["decorrelation_steps"]
                   + settings["n_trajectories"] * settings["production_steps"])
    start_temperatures = [
        float(ase.io.read(os.path.join(workdir, "md", f"start_{k:03d}.traj")).get_temperature())
        for k in range(settings["n_trajectories"])]
    log(f"MD done: {total_steps} steps in {timings['md_s']:.0f} s; NVE start temperatures "
        + ", ".join(f"{t:.0f}" for t in start_temperatures) + " K")

    spectrum = ir_spectrum(logs, fwhm_cm1=settings["fwhm_cm1"], max_wavenumber_cm1=4500.0)
    spectrum.write_csv(os.path.join(results, "ir_spectrum_sim.csv"))
    experiment = read_experiment(EXPERIMENT, scale=EXPERIMENT_SCALE)
    rows = band_table(spectrum, experiment)
    write_table(rows, os.path.join(results, "bands.csv"))
    table = markdown_table(rows)
    print(table, flush=True)
    n_ps = settings["production_steps"] * settings["timestep_fs"] / 1000
    plot_spectrum(spectrum, experiment, os.path.join(results, "ir_spectrum.png"),
                  title=f"liquid H$_2$O, 300 K: {settings['n_trajectories']} × {n_ps:g} ps NVE, "
                        f"SPC/Fw forces, λ-SOAP Z*",
                  low_path=os.path.join(results, "ir_spectrum_low.png"))

    timings["total_s"] = time.perf_counter() - clock
    summary = dict(
        protocol=name, settings=settings, born_charge_errors=errors,
        training_metrics=model.training_metrics, regularization=model.regularization,
        model_parameters=model.parameters, costs=costs,
        md_steps=total_steps, start_temperatures_K=start_temperatures, timings_s=timings,
        bands=rows,
        model_sha256=str(model.sha256),
        versions=dict(ase_dipole=ase_dipole.__version__, openmm=openmm.__version__,
                      python=platform.python_version()),
        machine=dict(cpus=os.cpu_count(), load_average_at_end=os.getloadavg()),
        date=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    with open(os.path.join(results, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    log(f"done in {timings['total_s'] / 60:.1f} min; results in {results}")
    return summary


if __name__ == "__main__":
    main()
