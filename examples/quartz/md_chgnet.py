"""CHGNet NVE trajectories of an α-quartz supercell at 300 K, one Dask task each.

Each task builds CHGNet on its worker, draws Maxwell–Boltzmann velocities
(seed ``[seed, k]``), runs a Langevin chain at the temperature (fixed cell)
and then NVE velocity Verlet, writing every NVE step (positions and
momenta) to ``work/md/nve_<k>.traj``. A task whose trajectory file is
complete is skipped, so a killed run resumes per trajectory.

The Ṗ logs are made afterwards with the fitted model
(:func:`ase_dipole.dynamics.trajectory.log_from_trajectory`, in
``quartz_ir.py``), so these runs do not wait for the QE labels.

``python md_chgnet.py`` (2 workers by default; see ``--help``).
"""

import argparse
import json
import os
import sys
import time

import ase.io
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run_trajectory(k, *, supercell, temperature_K, timestep_fs, equilibration_steps,
                   production_steps, friction_per_fs, seed, path):
    """One thermostatted chain then NVE; returns a record of what was run."""
    sys.path.insert(0, HERE)
    from ase import units
    from ase.io.trajectory import Trajectory
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    from chgnet_factory import make_calculator

    if os.path.exists(path) and len(Trajectory(path)) == production_steps + 1:
        return json.load(open(path + ".json"))
    atoms = supercell.copy()
    atoms.calc = make_calculator()
    rng = np.random.default_rng([seed, k])
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    start = time.perf_counter()
    Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature_K,
             friction=friction_per_fs / units.fs, rng=rng).run(equilibration_steps)
    Stationary(atoms)
    temperatures, energies = [], []
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    with Trajectory(path + ".part", "w", atoms) as trajectory:
        def record():
            trajectory.write()
            temperatures.append(atoms.get_temperature())
            energies.append(atoms.get_total_energy())
        dyn.attach(record, interval=1)  # called at step 0 too
        dyn.run(production_steps)
    os.replace(path + ".part", path)
    result = {"trajectory": k, "n_atoms": len(atoms), "wall_s": time.perf_counter() - start,
              "steps": equilibration_steps + production_steps,
              "mean_temperature_K": float(np.mean(temperatures)),
              "energy_drift_eV_per_atom": float((energies[-1] - energies[0]) / len(atoms)),
              "energy_std_eV_per_atom": float(np.std(energies) / len(atoms))}
    with open(path + ".json", "w") as out:
        json.dump(result, out, indent=1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--structure", default=os.path.join(HERE, "data", "POSCAR-vasp"))
    parser.add_argument("--supercell", type=int, nargs=3, default=(2, 1, 1))
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--timestep-fs", type=float, default=2.0)
    parser.add_argument("--n-trajectories", type=int, default=2)
    parser.add_argument("--equilibration-steps", type=int, default=100)
    parser.add_argument("--production-steps", type=int, default=1000)
    parser.add_argument("--friction-per-fs", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=os.path.join(HERE, "work", "md"))
    args = parser.parse_args(argv)

    from ase_dipole.distributed import cluster_client

    os.makedirs(args.workdir, exist_ok=True)
    supercell = ase.io.read(args.structure).repeat(args.supercell)
    options = dict(supercell=supercell, temperature_K=args.temperature_K,
                   timestep_fs=args.timestep_fs, equilibration_steps=args.equilibration_steps,
                   production_steps=args.production_steps, friction_per_fs=args.friction_per_fs,
                   seed=args.seed)
    with open(os.path.join(args.workdir, "md_parameters.json"), "w") as out:
        json.dump(vars(args), out, indent=1)
    paths = [os.path.join(args.workdir, f"nve_{k:03d}.traj") for k in range(args.n_trajectories)]
    start = time.perf_counter()
    with cluster_client(workers=args.workers) as client:
        if client is None:
            records = [run_trajectory(k, path=p, **options) for k, p in enumerate(paths)]
        else:
            futures = [client.submit(run_trajectory, k, path=p, pure=False, **options)
                       for k, p in enumerate(paths)]
            records = client.gather(futures)
    summary = {"parameters": {k: v for k, v in vars(args).items()}, "trajectories": records,
               "wall_s": time.perf_counter() - start}
    with open(os.path.join(args.workdir, "md_summary.json"), "w") as out:
        json.dump(summary, out, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
