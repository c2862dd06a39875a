"""The IR molecular-dynamics protocol of Schmiedmayer & Kresse (2024, II.C).

Independent starting configurations and velocities are drawn from one
thermostatted run (Langevin, NVT; or Langevin–Hoover with a breathing cell,
NPT, :class:`ase.md.langevinbaoab.LangevinBAOAB`), ``decorrelation_steps``
apart after ``equilibration_steps``; from each, a microcanonical
(VelocityVerlet) production run logs Ṗ and μ with
:class:`ase_dipole.dynamics.observer.DipoleObserver`. The spectrum is the average over
the logs (:func:`ase_dipole.spectra.green_kubo.ir_spectrum`), free of thermostat
artefacts.

Output directory layout::

    run.json            parameters, version, date
    start_000.traj ...  starting configurations with velocities
    traj_000.log ...    dipole logs of the NVE runs

A rerun with the same parameters skips finished logs and existing starting
configurations, so a killed run can simply be restarted (more trajectories
may be requested; other parameters must match).
"""

import datetime
import importlib
import json
import os
import sys

import numpy as np
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError

from ase_dipole import __version__
from ase_dipole.atomic import atomic_write, write_text_atomic
from ase_dipole.dynamics.calculator import check_species, is_periodic, load_model
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.progress import Progress

#: thermostatted ensembles that can supply starting configurations
ENSEMBLES = ("nvt", "npt")
#: built-in force calculators (``--calculator`` names)
BUILTIN_CALCULATORS = ("tblite",)
RUN_FILE = "run.json"


def make_force_calculator(spec):
    """Return an ASE calculator from a specification.

    Parameters
    ----------
    spec : ase calculator or callable or str
        A calculator (returned as is); a callable returning one; the name
        ``"tblite"`` (GFN2-xTB via :class:`tblite.ase.TBLite` with a tight
        SCF, ``accuracy=0.01``; needs the ``reference`` extra); or
        ``"module:factory"``, an importable callable returning a calculator
        (e.g. ``"ase.calculators.emt:EMT"``).
    """
    if hasattr(spec, "get_property") and not isinstance(spec, type):
        return spec
    if callable(spec):
        return make_force_calculator(spec())
    if not isinstance(spec, str):
        raise TypeError(f"cannot make a calculator from {spec!r}")
    if spec == "tblite":
        try:
            from tblite.ase import TBLite
        except ImportError:
            raise ImportError(
                "the 'tblite' calculator needs tblite: pip install ase-dipole[reference]"
            ) from None
        # tight SCF: with tblite's default accuracy NVE runs drift visibly
        return TBLite(method="GFN2-xTB", accuracy=0.01, verbosity=0)
    if ":" not in spec:
        raise ValueError(
            f"unknown calculator {spec!r}; use one of {BUILTIN_CALCULATORS} or "
            "'module:factory' (a callable returning an ASE calculator, e.g. "
            "'ase.calculators.emt:EMT')"
        )
    module_name, factory_name = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"cannot import {module_name!r} for calculator {spec!r}: {error}") \
            from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ValueError(f"{module_name!r} has no callable {factory_name!r} (from {spec!r})")
    calculator = factory()
    if not hasattr(calculator, "get_property"):
        raise TypeError(f"{spec!r} returned {type(calculator).__name__}, not an ASE calculator")
    if "verbosity" in getattr(calculator, "default_parameters", {}):
        calculator.set(verbosity=0)  # tblite prints every SCF cycle otherwise
    return calculator


class NVEMonitor:
    """Kinetic temperature and total energy of an NVE run, sampled as an ASE
    observer; :meth:`summary` reports the mean temperature (K) and the
    total-energy drift per atom (eV), the two checks of a production run.

    The temperature is 2 E_kin / (f k_B) with f the degrees of freedom: 3N
    less those removed by constraints, less 3 when the centre-of-mass
    momentum is zero at the start (it then stays zero in NVE), as after
    ``Stationary`` (which the production starts go through).
    """

    def __init__(self, atoms):
        self.atoms = atoms
        self.temperatures_K = []
        self.total_energies_eV = []
        momenta = atoms.get_momenta()
        scale = max(float(np.abs(momenta).max()), 1e-300) * len(atoms)
        centre_of_mass_removed = bool(np.all(np.abs(momenta.sum(axis=0)) <= 1e-9 * scale))
        self.degrees_of_freedom = int(atoms.get_number_of_degrees_of_freedom()
                                      - (3 if centre_of_mass_removed and len(atoms) > 1 else 0))

    def __call__(self):
        kinetic_eV = self.atoms.get_kinetic_energy()
        self.temperatures_K.append(2.0 * kinetic_eV / (self.degrees_of_freedom * units.kB))
        try:
            energy = self.atoms.get_potential_energy() + kinetic_eV
        except PropertyNotImplementedError:
            return
        self.total_energies_eV.append(energy)

    def summary(self):
        """dict: samples, mean and std of the kinetic temperature (K), the
        degrees of freedom it counts; total energy drift (last − first) and
        largest excursion per atom (eV), or None for calculators without
        energies."""
        n_atoms = len(self.atoms)
        energies = np.asarray(self.total_energies_eV)
        has_energy = len(energies) > 1
        return {
            "samples": len(self.temperatures_K),
            "mean_temperature_K": float(np.mean(self.temperatures_K)),
            "std_temperature_K": float(np.std(self.temperatures_K)),
            "degrees_of_freedom": self.degrees_of_freedom,
            "energy_drift_eV_per_atom": float((energies[-1] - energies[0]) / n_atoms) if has_energy else None,
            "max_energy_excursion_eV_per_atom":
                float(np.max(np.abs(energies - energies[0])) / n_atoms) if has_energy else None,
        }


def _thermalize(atoms, temperature_K, rng):
    """Maxwell–Boltzmann momenta (``thermalize_momenta`` from ASE 3.29 on,
    which deprecates ``MaxwellBoltzmannDistribution``)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    else:
        thermalize_momenta(atoms, temperature_K, rng=rng)


def _run_phase(dyn, steps, label, stream):
    bar = Progress(steps, label, stream=stream)
    bar.attach(dyn)
    dyn.run(steps)
    bar.update(steps)


def _thermostat(atoms, *, ensemble, timestep_fs, temperature_K, friction_per_fs, pressure_bar,
                rng):
    if ensemble == "nvt":
        from ase.md.langevin import Langevin

        # fixcm=False: ASE's fixcm=True Langevin biases small systems; the
        # centre-of-mass momentum is removed from every start instead.
        return Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                        friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    from ase.md.langevinbaoab import LangevinBAOAB

    return LangevinBAOAB(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                         externalstress=-pressure_bar * units.bar, hydrostatic=True,
                         T_tau=units.fs / friction_per_fs, P_tau=20.0 * units.fs / friction_per_fs,
                         rng=rng)


def _write_atomic(path, atoms):
    import ase.io

    snapshot = atoms.copy()
    snapshot.calc = None
    with atomic_write(path, "wb") as handle:
        ase.io.write(handle, snapshot, format="traj")


def _check_run_file(outdir, parameters):
    path = os.path.join(outdir, RUN_FILE)
    if os.path.exists(path):
        with open(path) as handle:
            previous = json.load(handle)["parameters"]
        differ = sorted(key for key in set(previous) | set(parameters)
                        if key != "n_trajectories" and previous.get(key) != parameters.get(key))
        if differ:
            changes = ", ".join(f"{k}: {previous.get(k)!r} -> {parameters.get(k)!r}"
                                for k in differ)
            raise ValueError(
                f"{outdir!r} holds a run with other parameters ({changes}); use a new output "
                "directory or the same parameters"
            )
    record = dict(parameters=parameters, ase_dipole_version=__version__,
                  date=datetime.datetime.now().isoformat(timespec="seconds"))
    write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def _log_is_complete(path, n_rows, model_sha256):
    if not os.path.exists(path):
        return False
    log = read_dipole_log(path)
    if log.metadata.get("model_sha256") != model_sha256:
        raise ValueError(
            f"{path!r} was written with another model (sha256 "
            f"{log.metadata.get('model_sha256')}); use a new output directory"
        )
    return len(log.time_fs) >= n_rows


def run_ir_md(atoms, force_calculator, model, outdir, *, temperature_K, timestep_fs,
              n_trajectories=4, equilibration_steps=2000, decorrelation_steps=1000,
              production_steps=20000, interval=1, friction_per_fs=0.01, ensemble="nvt",
              pressure_bar=1.0, seed=0, progress=sys.stderr):
    """Run the IR MD protocol: thermostatted sampling, then NVE production runs.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (not modified).
    force_calculator : ase calculator or callable or str
        Energy and forces (see :func:`make_force_calculator`).
    model : object or str or path-like
        Dipole model (see :func:`ase_dipole.dynamics.calculator.load_model`).
    outdir : str or path-like
        Output directory (created); see the module docstring.
    temperature_K : float, keyword-only
        Thermostat temperature, K.
    timestep_fs : float, keyword-only
        MD time step of all phases, fs.
    n_trajectories : int
        Number of independent NVE runs.
    equilibration_steps : int
        Thermostatted steps before the first starting configuration.
    decorrelation_steps : int
        Thermostatted steps between starting configurations.
    production_steps : int
        NVE steps per trajectory.
    interval : int
        MD steps between logged rows.
    friction_per_fs : float
        Langevin friction, 1/fs (default 0.01 fs⁻¹ = 10 ps⁻¹, as the paper).
    ensemble : {'nvt', 'npt'}
        Sampling ensemble; 'npt' lets the cell breathe at ``pressure_bar``
        (periodic cells only).
    pressure_bar : float
        External pressure for 'npt', bar.
    seed : int
        Seed of the velocity draw and the thermostat noise (segment ``k`` of
        the sampling run uses ``numpy.random.default_rng([seed, k])``, so a
        restarted NVT run reproduces an uninterrupted one).
    progress : file or None
        Stream for progress bars; ``None`` for silence.

    Returns
    -------
    list of str
        Paths of the ``n_trajectories`` dipole logs.
    """
    from ase.md.velocitydistribution import Stationary, ZeroRotation
    from ase.md.verlet import VelocityVerlet

    for name, value in (("n_trajectories", n_trajectories), ("production_steps", production_steps),
                        ("interval", interval)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("equilibration_steps", equilibration_steps),
                        ("decorrelation_steps", decorrelation_steps)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    for name, value in (("temperature_K", temperature_K), ("timestep_fs", timestep_fs),
                        ("friction_per_fs", friction_per_fs)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, got {value!r}")
    if ensemble not in ENSEMBLES:
        raise ValueError(f"unknown ensemble {ensemble!r}; use one of {ENSEMBLES}")
    if ensemble == "npt" and not is_periodic(atoms):
        raise ValueError("ensemble 'npt' needs a 3-D periodic cell; use 'nvt' for molecules")
    if production_steps % interval:
        raise ValueError(
            f"production_steps={production_steps} is not a multiple of interval={interval}"
        )
    model = load_model(model)
    check_species(model, atoms)
    calculator = make_force_calculator(force_calculator)
    outdir = os.fspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    parameters = dict(
        temperature_K=float(temperature_K), timestep_fs=float(timestep_fs),
        n_trajectories=int(n_trajectories), equilibration_steps=int(equilibration_steps),
        decorrelation_steps=int(decorrelation_steps), production_steps=int(production_steps),
        interval=int(interval), friction_per_fs=float(friction_per_fs), ensemble=ensemble,
        pressure_bar=float(pressure_bar) if ensemble == "npt" else None, seed=int(seed),
        n_atoms=len(atoms), symbols=atoms.get_chemical_formula(),
        calculator=type(calculator).__name__, model_sha256=str(model.sha256),
    )
    _check_run_file(outdir, parameters)

    import ase.io

    starts = [os.path.join(outdir, f"start_{k:03d}.traj") for k in range(n_trajectories)]
    thermal = None
    for k, start in enumerate(starts):
        if os.path.exists(start):
            thermal = None
            continue
        rng = np.random.default_rng([int(seed), k])
        if thermal is None and k > 0:
            thermal = ase.io.read(starts[k - 1])
        if thermal is None:
            thermal = atoms.copy()
            _thermalize(thermal, temperature_K, rng)
            if not is_periodic(thermal):
                ZeroRotation(thermal)
        thermal.calc = calculator
        steps = equilibration_steps if k == 0 else decorrelation_steps
        if steps:
            dyn = _thermostat(thermal, ensemble=ensemble, timestep_fs=timestep_fs,
                              temperature_K=temperature_K, friction_per_fs=friction_per_fs,
                              pressure_bar=pressure_bar, rng=rng)
            label = "equilibration" if k == 0 else f"sampling {k + 1}/{n_trajectories}"
            _run_phase(dyn, steps, label, progress)
        # no rescaling: the 3N - 3 internal degrees of freedom keep the
        # thermostat's temperature (rescaling to the 3N temperature would heat
        # them by 3N/(3N - 3), 20 % for a water dimer)
        Stationary(thermal, preserve_temperature=False)
        _write_atomic(start, thermal)

    n_rows = production_steps // interval + 1
    logs = []
    for k, start in enumerate(starts):
        log_path = os.path.join(outdir, f"traj_{k:03d}.log")
        logs.append(log_path)
        if _log_is_complete(log_path, n_rows, parameters["model_sha256"]):
            continue
        if os.path.exists(log_path):
            os.remove(log_path)  # an interrupted NVE run restarts from its start
        production = ase.io.read(start)
        production.calc = calculator
        dyn = VelocityVerlet(production, timestep_fs * units.fs)
        observer = DipoleObserver(dyn, model, log_path, interval=interval,
                                  temperature_K=temperature_K,
                                  metadata=dict(trajectory=k, ensemble=ensemble, seed=int(seed)))
        dyn.attach(observer, interval=interval)
        monitor = NVEMonitor(production)
        dyn.attach(monitor, interval=interval)
        try:
            _run_phase(dyn, production_steps, f"production {k + 1}/{n_trajectories}", progress)
        finally:
            observer.close()
        quality = monitor.summary()
        write_text_atomic(os.path.join(outdir, f"traj_{k:03d}.nve.json"),
                          json.dumps(quality, indent=1, sort_keys=True) + "\n")
        if progress is not None:
            drift = quality["energy_drift_eV_per_atom"]
            progress.write(f"production {k + 1}/{n_trajectories}: <T> = {quality['mean_temperature_K']:.1f} K"
                           + ("" if drift is None else f", energy drift {1e3 * drift:+.3f} meV/atom")
                           + "\n")
    return logs
