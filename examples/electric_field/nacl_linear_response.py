"""Linear response of rock-salt NaCl to a static electric field, by MD.

The 64-atom 2×2×2 supercell of phonopy's NaCl example, harmonic with its
VASP (PBE) force constants (ASE's ``HarmonicCalculator``), the Born charges
of its BORN file held fixed (``FixedChargesModel``, acoustic sum rule
imposed), and ``DipoleCalculator(..., electric_field_V_per_A=E)`` adding
−μ·E and E·Z*. Three estimates of the field-induced cell dipole:

1. ⟨M⟩_E − ⟨M⟩_0 from Langevin (canonical) runs in the field and without;
2. the fluctuation formula β⟨δM δMᵀ⟩·E = V ε0 χ E from the zero-field runs
   (``ase_dipole.spectra.dielectric.static_susceptibility``);
3. the exact harmonic value Zᵀ Φ⁺ Z E of the force constants Φ.

Errors are standard errors across independent trajectories. Then the NVE
energy conservation of the same crystal with and without the field
(velocity Verlet from one thermalised start; the total energy includes
−μ·E). Writes ``results/summary.json``; see README.md for the figures.

Usage: ``python nacl_linear_response.py [--quick]`` (niced, one thread).
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
import time

import numpy as np
from ase import units
from ase.calculators.harmonic import HarmonicCalculator, HarmonicForceField
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet
from phonopy.harmonic.force_constants import compact_fc_to_full_fc

import ase_dipole
from ase_dipole.atomic import write_text_atomic
from ase_dipole.dynamics.calculator import DipoleCalculator
from ase_dipole.dynamics.md import NVEMonitor
from ase_dipole.io import read_phonopy_born
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.spectra.dielectric import static_susceptibility
from ase_dipole.spectra.harmonic import _to_ase_atoms, load_phonopy

HERE = os.path.dirname(os.path.abspath(__file__))
#: phonopy's NaCl example (VASP PBE force sets and BORN), shipped with examples/solid
DATA = os.path.join(HERE, "..", "solid", "data")
#: vacuum permittivity in e/(V·Å)
EPS0_E_PER_V_A = 1.0 / (4.0 * np.pi * units.Hartree * units.Bohr)
#: experimental static and high-frequency dielectric constants of NaCl
#: (room temperature; e.g. Lowndes & Martin, Proc. R. Soc. A 308, 473 (1969))
EXPERIMENT_EPS0, EXPERIMENT_EPS_INF = 5.90, 2.34


def nacl_system():
    """Supercell (ase.Atoms), Hessian (3N, 3N) eV/Å², FixedChargesModel."""
    phonon = load_phonopy(os.path.join(DATA, "phonopy_disp.yaml"),
                          force_sets=os.path.join(DATA, "FORCE_SETS"))
    supercell = _to_ase_atoms(phonon.supercell)
    constants = phonon.force_constants
    if constants.shape[0] != constants.shape[1]:
        constants = compact_fc_to_full_fc(phonon.primitive, constants)
    n_atoms = len(supercell)
    hessian = constants.transpose(0, 2, 1, 3).reshape(3 * n_atoms, 3 * n_atoms)
    hessian = 0.5 * (hessian + hessian.T)
    born = get_born_charges(read_phonopy_born(os.path.join(DATA, "BORN"), supercell))
    born = born - born.mean(axis=0)
    model = FixedChargesModel(born, reference_positions=supercell.positions,
                              symbols=supercell.get_chemical_symbols())
    return supercell, hessian, model


def calculator(system, field):
    supercell, hessian, model = system
    force_field = HarmonicCalculator(HarmonicForceField(ref_atoms=supercell, hessian_x=hessian))
    return DipoleCalculator(model, calculator=force_field, electric_field_V_per_A=field)


def langevin_dipoles(system, field, *, seed, steps, discard, interval, args):
    """Cell dipoles (3,) e·Å every ``interval`` steps after ``discard``."""
    atoms = system[0].copy()
    atoms.calc = calculator(system, field)
    dyn = Langevin(atoms, args.timestep_fs * units.fs, temperature_K=args.temperature_K,
                   friction=args.friction_per_fs / units.fs, fixcm=False,
                   rng=np.random.default_rng(seed))
    dipoles = []
    dyn.attach(lambda: dipoles.append(atoms.get_dipole_moment()), interval=interval)
    dyn.run(steps)
    return np.array(dipoles[discard // interval:])


def nve_record(system, field, start, steps, timestep_fs):
    atoms = start.copy()
    atoms.calc = calculator(system, field)
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    monitor = NVEMonitor(atoms)
    dyn.attach(monitor, interval=10)
    dyn.run(steps)
    energies = np.array(monitor.total_energies_eV)
    summary = monitor.summary()
    slope = np.polyfit(np.arange(len(energies)), energies, 1)[0] * (len(energies) - 1)
    summary["slope_drift_eV_per_atom"] = float(slope / len(atoms))
    summary["duration_ps"] = steps * timestep_fs / 1000.0
    return summary


def file_digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers mean nothing)")
    parser.add_argument("--field-V-per-A", type=float, default=0.05, help="|E|, V/Å, along [1 2 3]")
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--timestep-fs", type=float, default=5.0)
    parser.add_argument("--friction-per-fs", type=float, default=0.02)
    parser.add_argument("--trajectories", type=int, default=8, help="independent runs per field")
    parser.add_argument("--steps", type=int, default=15000, help="Langevin steps per run")
    parser.add_argument("--nve-steps", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--outdir", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.trajectories, args.steps, args.nve_steps = 2, 600, 400
    began = time.process_time()
    system = nacl_system()
    supercell, hessian, model = system
    volume = supercell.get_volume()
    field = args.field_V_per_A * np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    unit = field / np.linalg.norm(field)
    discard, interval = 200, 2  # 1 ps of equilibration; samples 10 fs apart

    runs = {}
    for label, applied in (("zero", None), ("field", field)):
        runs[label] = [langevin_dipoles(system, applied, seed=[args.seed, k, label == "field"],
                                        steps=args.steps, discard=discard, interval=interval,
                                        args=args)
                       for k in range(args.trajectories)]
        print(f"{label}: {args.trajectories} x {args.steps} steps done "
              f"({time.process_time() - began:.0f} s CPU)", flush=True)

    means = {label: np.array([d.mean(axis=0) for d in dipoles]) for label, dipoles in runs.items()}
    n = args.trajectories
    shift = means["field"].mean(axis=0) - means["zero"].mean(axis=0)
    shift_error = np.sqrt(means["field"].var(axis=0, ddof=1) / n
                          + means["zero"].var(axis=0, ddof=1) / n)
    susceptibility = static_susceptibility(runs["zero"], volume_A3=volume,
                                           temperature_K=args.temperature_K)
    to_dipole = volume * EPS0_E_PER_V_A
    predicted = susceptibility.tensor @ field * to_dipole
    per_trajectory = susceptibility.samples @ field * to_dipole
    predicted_error = per_trajectory.std(axis=0, ddof=1) / np.sqrt(n)
    charges = model.born_charges.transpose(0, 2, 1).reshape(-1, 3)
    response = charges.T @ np.linalg.pinv(hessian, rcond=1e-8, hermitian=True) @ charges
    exact = response @ field
    chi_exact = response / to_dipole
    sigma_along = float(np.sqrt((shift_error**2 + predicted_error**2) @ unit**2))
    along, predicted_along = float(shift @ unit), float(predicted @ unit)

    thermal = supercell.copy()
    thermal.calc = calculator(system, None)
    Langevin(thermal, args.timestep_fs * units.fs, temperature_K=args.temperature_K,
             friction=args.friction_per_fs / units.fs, fixcm=False,
             rng=np.random.default_rng([args.seed, 99])).run(1000 if not args.quick else 100)
    Stationary(thermal)
    thermal.calc = None
    nve = {label: nve_record(system, applied, thermal, args.nve_steps, args.timestep_fs)
           for label, applied in (("zero", None), ("field", field))}
    cpu_s = time.process_time() - began

    summary = dict(
        system="NaCl 2x2x2 conventional supercell (64 atoms), harmonic VASP PBE force constants "
               "and BORN charges of phonopy's example, FixedChargesModel",
        parameters=dict(vars(args), field_V_per_A=field.tolist(), discard_steps=discard,
                        sample_interval_steps=interval),
        volume_A3=volume,
        shift_e_A=shift.tolist(), shift_error_e_A=shift_error.tolist(),
        fluctuation_prediction_e_A=predicted.tolist(),
        fluctuation_prediction_error_e_A=predicted_error.tolist(),
        exact_harmonic_e_A=exact.tolist(),
        along_field=dict(shift_e_A=along, predicted_e_A=predicted_along,
                         exact_e_A=float(exact @ unit), combined_sigma_e_A=sigma_along,
                         z_score=(along - predicted_along) / sigma_along,
                         z_if_field_reversed=(along + predicted_along) / sigma_along,
                         z_if_twice_the_force=(along - 2 * predicted_along) / sigma_along),
        susceptibility_md=susceptibility.isotropic,
        susceptibility_md_error=susceptibility.isotropic_error,
        susceptibility_md_tensor=susceptibility.tensor.tolist(),
        susceptibility_exact_harmonic=float(np.trace(chi_exact) / 3),
        susceptibility_experiment=EXPERIMENT_EPS0 - EXPERIMENT_EPS_INF,
        nve=nve,
        cpu_s=cpu_s,
        provenance=dict(ase_dipole_version=ase_dipole.__version__,
                        date=datetime.datetime.now().isoformat(timespec="seconds"),
                        command=" ".join([os.path.basename(sys.argv[0])] + (argv or sys.argv[1:])),
                        inputs={name: file_digest(os.path.join(DATA, name))
                                for name in ("phonopy_disp.yaml", "FORCE_SETS", "BORN")},
                        model_sha256=model.sha256),
    )
    os.makedirs(args.outdir, exist_ok=True)
    name = "summary_quick.json" if args.quick else "summary.json"
    write_text_atomic(os.path.join(args.outdir, name), json.dumps(summary, indent=1) + "\n")
    print(json.dumps({key: summary[key] for key in ("along_field", "susceptibility_md",
                                                    "susceptibility_md_error",
                                                    "susceptibility_exact_harmonic")}, indent=1))
    print(json.dumps(nve, indent=1))
    print(f"CPU {cpu_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
