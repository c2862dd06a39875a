"""The IR molecular-dynamics protocol of Schmiedmayer & Kresse (2024, II.C).

Independent starting configurations and velocities are drawn from
thermostatted runs (Langevin, NVT; or Langevin–Hoover with a breathing cell,
NPT, :class:`ase.md.langevinbaoab.LangevinBAOAB`), ``decorrelation_steps``
apart after ``equilibration_steps``; from each, a microcanonical
(VelocityVerlet) production run logs Ṗ and μ with
:class:`ase_dipole.dynamics.observer.DipoleObserver`. The spectrum is the average over
the logs (:func:`ase_dipole.spectra.green_kubo.ir_spectrum`), free of thermostat
artefacts.

Every sampling segment and every NVE run is one task. Without a Dask client
the tasks run in this process, one after the other; with one (see
:mod:`ase_dipole.distributed`) they run on its workers, the force calculator
travelling as its specification (built on the worker) and the model as a
file. The tasks are the same functions with the same inputs either way, so
the logs are the same for the same number of threads per process (OpenMP
codes such as tblite sum in another order on more threads). ``sampling_chains=C`` draws the starts from C
independent thermostatted chains (trajectory k continues chain k mod C), so
that sampling runs in parallel too.

With ``electric_field_V_per_A=(Ex, Ey, Ez)`` every phase, thermostatted
and NVE, runs in that static field
(:class:`ase_dipole.dynamics.calculator.DipoleCalculator` adds −μ·E and
E·Z* to the force calculator), so the NVE runs sample the ensemble in the
field; ``run.json``, every dipole log and every NVE record carry the field,
and the spectrum refuses to average logs of different fields.

Output directory layout (one folder every worker can read and write)::

    run.json               parameters, version, date
    start_000.traj ...     starting configurations with velocities
    traj_000.log ...       dipole logs of the NVE runs
    traj_000.alog ...      polarizability logs of the NVE runs (with a polarizability model)
    traj_000.nve.json ...  mean temperature and energy drift of each NVE run
    *.ckpt.npz             checkpoints of unfinished segments and NVE runs

A rerun with the same parameters skips finished logs and existing starting
configurations and resumes unfinished runs from their last checkpoint
(:mod:`ase_dipole.dynamics.checkpoint`), so a killed run — a lost worker, a
pre-empted job, ``kill -9`` of the command — is simply restarted and ends
with the logs of an uninterrupted run (more trajectories may be requested;
other parameters must match). With ``polarizability_model`` each NVE run also
logs α̇ and α for Raman (:class:`ase_dipole.dynamics.polarizability_log.PolarizabilityObserver`),
checkpointed and resumed with its dipole log.
"""

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import shlex
import socket
import sys
import time

import numpy as np
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError

from ase_dipole import __version__
from ase_dipole.atomic import atomic_write, write_text_atomic
from ase_dipole.dynamics.calculator import (
    DipoleCalculator,
    check_electric_field,
    check_species,
    is_periodic,
    load_model,
)
from ase_dipole.dynamics.checkpoint import (
    DEFAULT_CHECKPOINT_WALL_S,
    CheckpointWriter,
    load_checkpoint,
    restore_atoms,
    restore_log,
)
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.dynamics.mace_forcefield import (
    is_mace_specification,
    mace_from_specification,
    parse_mace_specification,
)
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.dynamics.polarizability_log import PolarizabilityObserver, read_polarizability_log
from ase_dipole.progress import progress_bar, progress_line
from ase_dipole.provenance import date_now

#: thermostatted ensembles that can supply starting configurations
ENSEMBLES = ("nvt", "npt")
#: built-in force calculators (``--calculator`` names)
BUILTIN_CALCULATORS = ("tblite",)
RUN_FILE = "run.json"
#: tblite's accuracy multiplier of the built-in ``'tblite'`` calculator: a
#: tight SCF (tblite's own default, 1.0, lets NVE runs drift visibly)
XTB_ACCURACY = 0.01
#: a run stops when its kinetic temperature exceeds this many times the
#: target (and :data:`BLOW_UP_MIN_TEMPERATURE_K`): an NVE run from an
#: equilibrated start never gets there, a thermostatted one only from a start
#: far from equilibrium
BLOW_UP_TEMPERATURE_FACTOR = 10.0
BLOW_UP_MIN_TEMPERATURE_K = 3000.0  # [K]
#: an NVE run stops when its total energy has moved this far from its start
#: (normal drifts are below 1e-3 eV/atom)
BLOW_UP_ENERGY_EV_PER_ATOM = 1.0  # [eV/atom]


class MDBlowUpError(RuntimeError):
    """A run whose temperature or conserved energy exploded."""


class BlowUpGuard:
    """ASE observer stopping a run whose temperature or energy explodes.

    Raises :class:`MDBlowUpError` naming the phase, the step and the likely
    cause (the timestep, the electric field, the force calculator) when the
    kinetic temperature exceeds max(:data:`BLOW_UP_TEMPERATURE_FACTOR` ×
    ``temperature_K``, :data:`BLOW_UP_MIN_TEMPERATURE_K`), or (``nve=True``)
    the total energy per atom moves more than
    :data:`BLOW_UP_ENERGY_EV_PER_ATOM` from its first sample.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
        The dynamics (its ``atoms`` and ``nsteps`` are read).
    label : str
        Name of the phase in the message (``"production 1/4"``).
    parameters : dict
        The run's parameters (``temperature_K``, ``timestep_fs``,
        ``electric_field_V_per_A``).
    nve : bool
        Check the total energy too.
    """

    def __init__(self, dyn, label, parameters, *, nve=False):
        self.dyn = dyn
        self.label = label
        self.parameters = parameters
        self.nve = nve
        self.ceiling_K = max(BLOW_UP_TEMPERATURE_FACTOR * parameters["temperature_K"],
                             BLOW_UP_MIN_TEMPERATURE_K)
        self.first_energy_eV = None

    def _fail(self, what):
        field = self.parameters.get("electric_field_V_per_A")
        causes = f"the timestep {self.parameters['timestep_fs']:g} fs is too long"
        if field is not None and np.linalg.norm(field) > 0:
            causes = (f"the electric field |E| = {np.linalg.norm(field):.3g} V/Å drives it, or "
                      + causes)
        raise MDBlowUpError(
            f"{self.label} exploded at step {self.dyn.nsteps}: {what}; likely {causes}, or the "
            "force calculator fails for this structure; nothing of this run is kept as finished"
        )

    def __call__(self):
        atoms = self.dyn.atoms
        kinetic_eV = atoms.get_kinetic_energy()
        temperature_K = 2.0 * kinetic_eV / (max(atoms.get_number_of_degrees_of_freedom(), 1)
                                            * units.kB)
        if not np.isfinite(temperature_K) or temperature_K > self.ceiling_K:
            self._fail(f"kinetic temperature {temperature_K:.3g} K, above {self.ceiling_K:g} K "
                       f"(the target is {self.parameters['temperature_K']:g} K)")
        if not self.nve:
            return
        try:
            energy_eV = (atoms.get_potential_energy() + kinetic_eV) / len(atoms)
        except PropertyNotImplementedError:
            return
        if self.first_energy_eV is None:
            self.first_energy_eV = energy_eV
        change = energy_eV - self.first_energy_eV
        if not np.isfinite(change) or abs(change) > BLOW_UP_ENERGY_EV_PER_ATOM:
            self._fail(f"the conserved energy changed by {change:+.3g} eV/atom (more than "
                       f"{BLOW_UP_ENERGY_EV_PER_ATOM:g})")


def make_force_calculator(spec, *, xtb_accuracy=XTB_ACCURACY):
    """Return an ASE calculator from a specification.

    Parameters
    ----------
    spec : ase calculator or callable or str
        A calculator (returned as is); a callable returning one; the name
        ``"tblite"`` (GFN2-xTB via :class:`tblite.ase.TBLite`; needs the
        ``reference`` extra); ``"mace:PATH"`` or ``"mace:PATH?dtype=float32"``,
        a MACE model file on the CPU (:mod:`ase_dipole.dynamics.mace_forcefield`;
        needs the ``mace`` extra); or ``"module:factory"``, an importable
        callable returning a calculator (e.g. ``"ase.calculators.emt:EMT"``).
    xtb_accuracy : float, keyword-only
        tblite's accuracy multiplier of ``"tblite"`` (smaller is tighter;
        default :data:`XTB_ACCURACY`).
    """
    if hasattr(spec, "get_property") and not isinstance(spec, type):
        return spec
    if callable(spec):
        return make_force_calculator(spec(), xtb_accuracy=xtb_accuracy)
    if not isinstance(spec, str):
        raise TypeError(f"cannot make a calculator from {spec!r}")
    if spec == "tblite":
        try:
            from tblite.ase import TBLite
        except ImportError:
            raise ImportError(
                "the 'tblite' calculator needs tblite: pip install ase-dipole[reference]"
            ) from None
        if not (np.isfinite(xtb_accuracy) and xtb_accuracy > 0):
            raise ValueError(f"xtb_accuracy must be a positive number, got {xtb_accuracy!r}")
        return TBLite(method="GFN2-xTB", accuracy=float(xtb_accuracy), verbosity=0)
    if is_mace_specification(spec):
        return mace_from_specification(spec)
    if ":" not in spec:
        raise ValueError(
            f"unknown calculator {spec!r}; use one of {BUILTIN_CALCULATORS}, 'mace:PATH' or "
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


def _run_phase(dyn, steps, label, bar):
    """Run ``steps`` more steps of ``dyn``, counting each on ``bar`` (the
    run's progress bar, or None) under ``label``."""
    if bar is not None:
        bar.set_description(label, refresh=False)
        counted = [dyn.nsteps]

        def tick():
            bar.update(dyn.nsteps - counted[0])
            counted[0] = dyn.nsteps

        dyn.attach(tick, interval=1)
    dyn.run(steps)


def _not_to_run(bar, steps):
    """Take ``steps`` that were done by an earlier run off ``bar``'s total,
    so that its rate and remaining time count only the work of this run."""
    if bar is not None and steps:
        bar.total -= steps
        bar.refresh()


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


def _check_run_file(outdir, parameters, command):
    path = os.path.join(outdir, RUN_FILE)
    if os.path.exists(path):
        with open(path) as handle:
            previous = json.load(handle)["parameters"]
        if previous.get("calculator") == "tblite":  # runs from before the option: its old fixed value
            previous.setdefault("xtb_accuracy", 0.01)
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
                  date=date_now(), command=command)
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


def _polarizability_log_is_complete(path, n_rows, model_sha256):
    if path is None:
        return True
    if not os.path.exists(path):
        return False
    log = read_polarizability_log(path)
    if log.metadata.get("model_sha256") != model_sha256:
        raise ValueError(f"{path!r} was written with another polarizability model (sha256 "
                         f"{log.metadata.get('model_sha256')}); use a new output directory")
    return len(log.time_fs) >= n_rows


def _load_polarizability_model(model):
    """A PolarizabilityModel, or the one saved at path ``model``."""
    if isinstance(model, (str, os.PathLike)):
        from ase_dipole.learning.polarizability import PolarizabilityModel

        return PolarizabilityModel.load(model)
    if not hasattr(model, "predict") or not hasattr(model, "sha256"):
        raise TypeError(f"polarizability_model must be a PolarizabilityModel or the path of a saved one, "
                        f"not {type(model).__name__}")
    return model


def _task_polarizability_model(task):
    """The polarizability model of a task (loaded from its file on a worker);
    its sha256 must be the one of the run."""
    model = _load_polarizability_model(task["polarizability_model"])
    if str(model.sha256) != task["parameters"]["polarizability_model_sha256"]:
        raise ValueError(
            f"polarizability model {task['polarizability_model']!r} read on {_where()} has sha256 "
            f"{model.sha256}, the run was started with "
            f"{task['parameters']['polarizability_model_sha256']}; it changed in between")
    return model


def _check_specification(spec):
    """The local part of :func:`make_force_calculator`'s checks: the form of a
    specification that is only built on the workers."""
    if is_mace_specification(spec):
        parse_mace_specification(spec)
        return
    if spec not in BUILTIN_CALCULATORS and ":" not in spec:
        raise ValueError(
            f"unknown calculator {spec!r}; use one of {BUILTIN_CALCULATORS}, 'mace:PATH' or "
            "'module:factory' (a callable returning an ASE calculator, e.g. "
            "'ase.calculators.emt:EMT')"
        )


def _where():
    """Which Dask worker (address and host) or which process runs this."""
    try:
        from distributed import get_worker

        return f"worker {get_worker().address} on {socket.gethostname()}"
    except (ImportError, ValueError):
        return f"this process on {socket.gethostname()}"


def _build_calculator(spec, parameters):
    """:func:`make_force_calculator` inside a task (with the run's
    ``xtb_accuracy``); a failure names the specification and the worker."""
    options = {"xtb_accuracy": parameters["xtb_accuracy"]} if "xtb_accuracy" in parameters else {}
    if not isinstance(spec, str):
        return make_force_calculator(spec, **options)
    try:
        return make_force_calculator(spec, **options)
    except (ImportError, ValueError, TypeError, AttributeError, FileNotFoundError) as error:
        raise type(error)(
            f"force calculator {spec!r} could not be built on {_where()}: {error}; install it "
            "in the workers' Python environment or fix the specification"
        ) from None


def _task_model(task):
    """The dipole model of a task, loaded from its file on a worker; its
    sha256 must be the one of the run."""
    model = load_model(task["model"])
    if str(model.sha256) != task["parameters"]["model_sha256"]:
        raise ValueError(
            f"model file {task['model']!r} read on {_where()} has sha256 {model.sha256}, the "
            f"run was started with {task['parameters']['model_sha256']}; it changed in between"
        )
    return model


def _model_file(model, model_argument, outdir):
    """Path of a file holding ``model`` that workers can read: the file it
    was loaded from, or a copy saved into ``outdir``."""
    if isinstance(model_argument, (str, os.PathLike)):
        return os.path.abspath(os.fspath(model_argument))
    if not hasattr(model, "save"):
        raise TypeError(
            f"{type(model).__name__} cannot be saved to travel to the Dask workers; pass the "
            "path of a saved model"
        )
    from ase_dipole.learning.fixed_charges import FixedChargesModel
    from ase_dipole.learning.polarizability import PolarizabilityModel

    suffix = ".npz" if isinstance(model, (FixedChargesModel, PolarizabilityModel)) else ".json"
    path = os.path.join(outdir, f"model_{str(model.sha256)[:16]}{suffix}")
    if not os.path.exists(path):
        temporary = f"{path}.{os.getpid()}.part"
        model.save(temporary)
        os.replace(temporary, path)
    return path


def _run_digest(parameters):
    """Identity of a run for its checkpoints: the parameters that shape its
    trajectories (all but their number)."""
    shaping = {key: value for key, value in parameters.items() if key != "n_trajectories"}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def _sampling_segment(task, previous=None, progress=None):
    """One thermostatted segment: from the input structure (thermalised and
    equilibrated) or from the chain's previous start; writes ``task['start']``.

    ``previous`` is the result of the chain's previous segment (a Dask
    dependency only). NVT segments checkpoint their state and random
    generator and resume from it; NPT segments restart from their beginning.
    """
    import ase.io
    from ase.md.velocitydistribution import Stationary, ZeroRotation

    k, start = task["trajectory"], task["start"]
    p = task["parameters"]
    steps = p["equilibration_steps"] if task["previous_start"] is None else p["decorrelation_steps"]
    result = dict(phase="sampling", trajectory=k, path=start, resumed_from_step=None,
                  steps=steps, where=_where())
    checkpoint_path = start[:-len(".traj")] + ".ckpt.npz"
    if os.path.exists(start):
        if os.path.exists(checkpoint_path):
            os.remove(checkpoint_path)
        _not_to_run(progress, steps)
        return dict(result, status="done")
    rng = np.random.default_rng([p["seed"], k])
    identity = dict(run=task["run"], phase="sampling", trajectory=k)
    checkpointed = p["ensemble"] == "nvt"
    state = load_checkpoint(checkpoint_path, identity) if checkpointed else None
    if task["previous_start"] is None:
        thermal = task["atoms"].copy()
        if state is None:
            _thermalize(thermal, p["temperature_K"], rng)
            if not is_periodic(thermal):
                ZeroRotation(thermal)
    else:
        thermal = ase.io.read(task["previous_start"])
    if state is not None:
        restore_atoms(thermal, state)
        rng.bit_generator.state = state["rng_state"]
        result["resumed_from_step"] = state["step"]
        _not_to_run(progress, state["step"])
    if steps:
        thermal.calc = _with_field(_build_calculator(task["calculator"], task["parameters"]), task)
        dyn = _thermostat(thermal, ensemble=p["ensemble"], timestep_fs=p["timestep_fs"],
                          temperature_K=p["temperature_K"], friction_per_fs=p["friction_per_fs"],
                          pressure_bar=p["pressure_bar"], rng=rng)
        if state is not None:
            dyn.nsteps = state["step"]
        if checkpointed:
            dyn.attach(CheckpointWriter(dyn, checkpoint_path, identity=identity,
                                        every_steps=task["checkpoint_steps"],
                                        every_wall_s=task["checkpoint_wall_s"], rng=rng),
                       interval=1)
        label = "equilibration" if task["previous_start"] is None else \
            f"sampling {k + 1}/{task['n_trajectories']}"
        dyn.attach(BlowUpGuard(dyn, label, p), interval=p["interval"])
        _run_phase(dyn, steps - dyn.nsteps, label, progress)
    # no rescaling: the 3N - 3 internal degrees of freedom keep the
    # thermostat's temperature (rescaling to the 3N temperature would heat
    # them by 3N/(3N - 3), 20 % for a water dimer)
    Stationary(thermal, preserve_temperature=False)
    _write_atomic(start, thermal)
    if os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)
    return dict(result, status="resumed" if state is not None else "ran")


@contextlib.contextmanager
def _exclusive(path, on_wait=None):
    """Hold an exclusive lock (``flock``) on the existing file ``path``;
    yields whether another process held it first (then ``on_wait()`` is
    called before waiting).

    A task whose client was killed may still run on its worker, or a second
    identical command may be started; the task for the same trajectory
    waits here until the other has finished or died, so that two processes
    never write one log.
    """
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
            waited = True
        try:
            yield waited
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_running_elsewhere(start_path):
    """Whether another process runs the NVE trajectory of ``start_path``
    now (holds the lock on its start file)."""
    try:
        with open(start_path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return False
    return False


def _with_field(calculator, task, model=None):
    """``calculator``, or a DipoleCalculator adding the run's electric field
    (the model loaded from the task unless given)."""
    field = task["parameters"].get("electric_field_V_per_A")
    if field is None:
        return calculator
    if model is None:
        model = task["model"] if not isinstance(task["model"], (str, os.PathLike)) \
            else _task_model(task)
    return DipoleCalculator(model, calculator=calculator, electric_field_V_per_A=field)


def _production_task(task, progress=None, stream=None):
    """One NVE run from ``task['start']`` logging Ṗ, checkpointed, resumed
    from its checkpoint when one exists; one process at a time per
    trajectory (a lock on its start file). ``progress`` is the step bar,
    ``stream`` where a wait for another process is said (None: nowhere)."""
    def say_waiting():
        progress_line(f"production {task['trajectory'] + 1}/{task['n_trajectories']}: "
                      f"another process is running it (it holds {task['start']}); "
                      "waiting for it", stream)

    with _exclusive(task["start"], say_waiting) as waited:
        return dict(_production_run(task, progress), waited_for_other_process=waited)


def _production_run(task, progress):
    import ase.io
    from ase.md.verlet import VelocityVerlet

    k, log_path, quality_path = task["trajectory"], task["log"], task["nve"]
    alpha_path = task.get("alpha_log")
    p = task["parameters"]
    checkpoint_path = log_path[:-len(".log")] + ".ckpt.npz"
    n_rows = p["production_steps"] // p["interval"] + 1
    result = dict(phase="production", trajectory=k, path=log_path, resumed_from_step=None,
                  rows_kept=0, steps=p["production_steps"], where=_where())
    if (_log_is_complete(log_path, n_rows, p["model_sha256"])
            and _polarizability_log_is_complete(alpha_path, n_rows, p.get("polarizability_model_sha256"))
            and (os.path.exists(quality_path) or not os.path.exists(checkpoint_path))):
        if os.path.exists(checkpoint_path):
            os.remove(checkpoint_path)
        _not_to_run(progress, p["production_steps"])
        return dict(result, status="done")
    began_s = time.perf_counter()
    model = task["model"] if not isinstance(task["model"], (str, os.PathLike)) \
        else _task_model(task)
    calculator = _build_calculator(task["calculator"], task["parameters"])
    production = ase.io.read(task["start"])
    identity = dict(run=task["run"], phase="production", trajectory=k)
    state = load_checkpoint(checkpoint_path, identity)
    if state is not None:
        try:
            restore_log(log_path, state)
            if alpha_path is not None:
                restore_log(alpha_path, state)
        except ValueError:
            state = None
    if state is not None:
        restore_atoms(production, state)
        result.update(resumed_from_step=state["step"], rows_kept=state["log_rows"])
        _not_to_run(progress, state["step"])
    production.calc = _with_field(calculator, task, model)
    dyn = VelocityVerlet(production, p["timestep_fs"] * units.fs)
    if state is not None:
        dyn.nsteps = state["step"]
    metadata = dict(trajectory=k, ensemble=p["ensemble"], seed=p["seed"], date=date_now(),
                    command=task["command"], electric_field_V_per_A=p.get("electric_field_V_per_A"))
    observer = DipoleObserver(dyn, model, log_path, interval=p["interval"],
                              temperature_K=p["temperature_K"], metadata=metadata,
                              overwrite=state is None)  # without a checkpoint: from the start
    dyn.attach(observer, interval=p["interval"])
    observers = [observer]
    if alpha_path is not None:
        observers.append(PolarizabilityObserver(dyn, _task_polarizability_model(task), alpha_path,
                                                interval=p["interval"], temperature_K=p["temperature_K"],
                                                metadata=metadata, overwrite=state is None))
        dyn.attach(observers[-1], interval=p["interval"])
    monitor = NVEMonitor(production)
    if state is not None:
        monitor.temperatures_K = list(state["samples"].get("temperatures_K", ()))
        monitor.total_energies_eV = list(state["samples"].get("total_energies_eV", ()))
    dyn.attach(monitor, interval=p["interval"])
    label = f"production {k + 1}/{task['n_trajectories']}"
    dyn.attach(BlowUpGuard(dyn, label, p, nve=True), interval=p["interval"])
    dyn.attach(CheckpointWriter(
        dyn, checkpoint_path, identity=identity, every_steps=task["checkpoint_steps"],
        every_wall_s=task["checkpoint_wall_s"], log_path=log_path,
        other_logs=() if alpha_path is None else (alpha_path,),
        samples=lambda: dict(temperatures_K=monitor.temperatures_K,
                             total_energies_eV=monitor.total_energies_eV)),
        interval=p["interval"])
    try:
        _run_phase(dyn, p["production_steps"] - dyn.nsteps, label, progress)
    finally:
        for each in observers:
            each.close()
    quality = dict(monitor.summary(), electric_field_V_per_A=p.get("electric_field_V_per_A"))
    write_text_atomic(quality_path, json.dumps(quality, indent=1, sort_keys=True) + "\n")
    if os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)
    return dict(result, status="resumed" if state is not None else "ran", nve=quality,
                elapsed_s=time.perf_counter() - began_s)


def _report(result, n_trajectories, stream):
    """One line per finished task (above the progress bar): the NVE record,
    and what was resumed."""
    if stream is None:
        return
    k = result["trajectory"]
    resumed = result["resumed_from_step"]
    if result["phase"] == "sampling":
        if resumed is not None:
            progress_line(f"sampling {k + 1}/{n_trajectories}: resumed {result['path']} from its "
                          f"checkpoint at step {resumed} of {result['steps']}", stream)
        return
    if result["status"] == "done":
        by = ("by another process while this one waited for it"
              if result.get("waited_for_other_process") else "earlier")
        progress_line(f"production {k + 1}/{n_trajectories}: {result['path']} was finished {by}; "
                      "kept", stream)
        return
    quality = result["nve"]
    drift = quality["energy_drift_eV_per_atom"]
    line = (f"production {k + 1}/{n_trajectories}: <T> = {quality['mean_temperature_K']:.1f} K"
            + ("" if drift is None else f", energy drift {1e3 * drift:+.3f} meV/atom"))
    if resumed is not None:
        line += (f"; resumed {result['path']} from its checkpoint at step {resumed} of "
                 f"{result['steps']} ({result['rows_kept']} log rows kept)")
    if not result["where"].startswith("this process"):
        line += f" [{result['where']}]"
    progress_line(line, stream)


def _count(bar, result):
    """Count a task finished on a Dask worker on the client's bar: its steps,
    less those an earlier run had done."""
    if result["status"] == "done":
        _not_to_run(bar, result["steps"])
        return
    resumed = result["resumed_from_step"] or 0
    _not_to_run(bar, resumed)
    bar.set_description(f"{result['phase']} {result['trajectory'] + 1}", refresh=False)
    bar.update(result["steps"] - resumed)


def _run_on_client(client, segments, productions, n_chains, retries, progress, bar):
    """Submit the sampling segments (each after its chain's previous one) and
    each NVE run once its start is written, so that Dask places it on the
    least busy worker; report the tasks as they finish (lines on
    ``progress``, their steps on ``bar``)."""
    import uuid

    import distributed

    tag = uuid.uuid4().hex[:8]
    sampling = {}
    for task in segments:
        k = task["trajectory"]
        sampling[k] = client.submit(_sampling_segment, task, sampling.get(k - n_chains),
                                    key=f"ir-md-sampling-{k:03d}-{tag}", retries=retries,
                                    pure=False)
    futures = list(sampling.values())
    finished = distributed.as_completed(futures)
    try:
        for future in finished:
            try:
                result = future.result()
            except distributed.KilledWorker as error:
                raise RuntimeError(
                    f"task {future.key} lost every worker that ran it ({error}); rerun the same "
                    "command to resume from its checkpoints"
                ) from None
            _count(bar, result)
            _report(result, len(productions), progress)
            if result["phase"] == "sampling":
                k = result["trajectory"]
                production = client.submit(_production_task, productions[k],
                                           key=f"ir-md-production-{k:03d}-{tag}",
                                           retries=retries, pure=False)
                futures.append(production)
                finished.add(production)
    except BaseException:
        client.cancel(futures)
        raise


def run_ir_md(atoms, force_calculator, model, outdir, *, temperature_K, timestep_fs,
              n_trajectories=4, equilibration_steps=2000, decorrelation_steps=1000,
              production_steps=20000, interval=1, friction_per_fs=0.01, ensemble="nvt",
              pressure_bar=1.0, seed=0, sampling_chains=1, checkpoint_steps=None,
              checkpoint_wall_s=DEFAULT_CHECKPOINT_WALL_S, electric_field_V_per_A=None,
              client=None, retries=2, progress=sys.stderr, xtb_accuracy=XTB_ACCURACY,
              command=None, polarizability_model=None):
    """Run the IR MD protocol: thermostatted sampling, then NVE production runs.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (not modified).
    force_calculator : ase calculator or callable or str
        Energy and forces (see :func:`make_force_calculator`). With a
        ``client`` it must be a specification string (``'tblite'``,
        ``'mace:PATH'`` or ``'module:factory'``), built on each worker.
    model : object or str or path-like
        Dipole model (see :func:`ase_dipole.dynamics.calculator.load_model`).
        With a ``client``, a model object is saved into ``outdir`` and read
        by the workers from there.
    outdir : str or path-like
        Output directory (created); see the module docstring. With a
        ``client`` it must be on a file system every worker sees.
    temperature_K : float, keyword-only
        Thermostat temperature, K.
    timestep_fs : float, keyword-only
        MD time step of all phases, fs.
    n_trajectories : int
        Number of independent NVE runs.
    equilibration_steps : int
        Thermostatted steps before the first starting configuration of a chain.
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
        the sampling uses ``numpy.random.default_rng([seed, k])``, so a
        restarted run reproduces an uninterrupted one).
    sampling_chains : int
        Independent thermostatted chains supplying the starts; trajectory
        ``k`` continues chain ``k mod sampling_chains`` (each chain is
        equilibrated first). 1 is a single serial chain.
    checkpoint_steps : int, optional
        MD steps between checkpoints (a multiple of ``interval``); by default
        one every ``checkpoint_wall_s`` seconds of wall time.
    checkpoint_wall_s : float
        Wall time between checkpoints when ``checkpoint_steps`` is None, s.
    electric_field_V_per_A : array_like, shape (3,), float, V/Å, optional
        Static field E of every phase (see
        :class:`ase_dipole.dynamics.calculator.DipoleCalculator`: −μ·E and
        E·Z* from ``model``, the linear clamped-ion approximation; above
        0.1 V/Å it warns, above 1 V/Å it is refused). Recorded in ``run.json``, the logs and the NVE
        records; not with ``ensemble='npt'`` (no stress in a field).
    client : distributed.Client, optional
        Run the segments and NVE runs as tasks on this client's workers
        (see :func:`ase_dipole.distributed.cluster_client`); None runs them
        in this process.
    retries : int
        Dask retries of a task that raised (a task whose worker died is
        rescheduled by Dask itself); a retried task resumes from its
        checkpoint.
    progress : file or None
        Stream for one progress bar over the steps of the whole run (its
        remaining time from the measured speed of the latest steps; steps
        done by an earlier run are not counted) and one line per finished
        run (saying what was resumed); ``None`` for silence.
    xtb_accuracy : float
        tblite's accuracy multiplier when ``force_calculator`` is
        ``'tblite'`` (recorded in ``run.json``; default :data:`XTB_ACCURACY`).
    command : str, optional
        The command line that started the run, recorded with the date in
        ``run.json`` and in every dipole log (default: this process's).
    polarizability_model : PolarizabilityModel or str or path-like, optional
        Also log α̇ and α of every NVE run to ``traj_000.alog`` ... (for
        :func:`ase_dipole.spectra.raman.raman_spectrum`), with the dipole
        log's interval and temperature, checkpointed and resumed with it.
        Its sha256 is one of the run's parameters.

    Returns
    -------
    list of str
        Paths of the ``n_trajectories`` dipole logs.

    Raises
    ------
    MDBlowUpError
        When a phase's temperature or an NVE run's energy explodes (see
        :class:`BlowUpGuard`).
    """
    for name, value in (("n_trajectories", n_trajectories), ("production_steps", production_steps),
                        ("interval", interval), ("sampling_chains", sampling_chains)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("equilibration_steps", equilibration_steps),
                        ("decorrelation_steps", decorrelation_steps), ("retries", retries)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    for name, value in (("temperature_K", temperature_K), ("timestep_fs", timestep_fs),
                        ("friction_per_fs", friction_per_fs),
                        ("checkpoint_wall_s", checkpoint_wall_s)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, got {value!r}")
    if ensemble not in ENSEMBLES:
        raise ValueError(f"unknown ensemble {ensemble!r}; use one of {ENSEMBLES}")
    if ensemble == "npt" and not is_periodic(atoms):
        raise ValueError("ensemble 'npt' needs a 3-D periodic cell; use 'nvt' for molecules")
    field = check_electric_field(electric_field_V_per_A, force_calculator)
    if field is not None and ensemble == "npt":
        raise ValueError(
            "ensemble 'npt' cannot run in an electric field (the field term has no stress); "
            "use 'nvt' at the cell of the zero-field density"
        )
    if production_steps % interval:
        raise ValueError(
            f"production_steps={production_steps} is not a multiple of interval={interval}"
        )
    if checkpoint_steps is not None and (int(checkpoint_steps) != checkpoint_steps
                                         or checkpoint_steps < 1 or checkpoint_steps % interval):
        raise ValueError(f"checkpoint_steps={checkpoint_steps!r} must be a positive multiple of "
                         f"interval={interval}")
    model_argument = model
    model = load_model(model)
    check_species(model, atoms)
    alpha_argument = polarizability_model
    if polarizability_model is not None:
        polarizability_model = _load_polarizability_model(polarizability_model)
        polarizability_model.predict_polarizability(atoms)  # unknown species: one clear error now
    if client is None:
        if isinstance(force_calculator, str):
            make_force_calculator(force_calculator, xtb_accuracy=xtb_accuracy)  # fail now
            calculator_name = force_calculator
        elif hasattr(force_calculator, "get_property") and not isinstance(force_calculator, type):
            calculator_name = type(force_calculator).__name__
        else:
            calculator_name = getattr(force_calculator, "__name__", repr(force_calculator))
    else:
        if not isinstance(force_calculator, str):
            raise TypeError(
                "with a Dask client the force calculator travels as a specification: give "
                "'tblite', 'mace:PATH' or 'module:factory' (a callable importable on the "
                "workers), not "
                f"{type(force_calculator).__name__}"
            )
        _check_specification(force_calculator)
        calculator_name = force_calculator
    outdir = os.path.abspath(os.fspath(outdir))
    os.makedirs(outdir, exist_ok=True)
    parameters = dict(
        temperature_K=float(temperature_K), timestep_fs=float(timestep_fs),
        n_trajectories=int(n_trajectories), equilibration_steps=int(equilibration_steps),
        decorrelation_steps=int(decorrelation_steps), production_steps=int(production_steps),
        interval=int(interval), friction_per_fs=float(friction_per_fs), ensemble=ensemble,
        pressure_bar=float(pressure_bar) if ensemble == "npt" else None, seed=int(seed),
        sampling_chains=int(sampling_chains), n_atoms=len(atoms),
        symbols=atoms.get_chemical_formula(), calculator=calculator_name,
        model_sha256=str(model.sha256),
        electric_field_V_per_A=None if field is None else [float(value) for value in field],
    )
    if force_calculator == "tblite":
        parameters["xtb_accuracy"] = float(xtb_accuracy)
    if polarizability_model is not None:  # absent otherwise: earlier runs keep their identity
        parameters["polarizability_model_sha256"] = str(polarizability_model.sha256)
    command = shlex.join(sys.argv) if command is None else command
    _check_run_file(outdir, parameters, command)

    n_chains = int(sampling_chains)
    starts = [os.path.join(outdir, f"start_{k:03d}.traj") for k in range(n_trajectories)]
    common = dict(parameters=parameters, run=_run_digest(parameters), command=command,
                  calculator=force_calculator, n_trajectories=int(n_trajectories),
                  checkpoint_steps=None if checkpoint_steps is None else int(checkpoint_steps),
                  checkpoint_wall_s=float(checkpoint_wall_s))
    model_for_tasks = model if client is None else _model_file(model, model_argument, outdir)
    if field is not None:
        common["model"] = model_for_tasks  # the sampling runs in the field too
    segments = [dict(common, trajectory=k, start=starts[k],
                     previous_start=starts[k - n_chains] if k >= n_chains else None,
                     atoms=atoms.copy() if k < n_chains else None)
                for k in range(n_trajectories)]
    productions = [dict(common, trajectory=k, start=starts[k], model=model_for_tasks,
                        log=os.path.join(outdir, f"traj_{k:03d}.log"),
                        nve=os.path.join(outdir, f"traj_{k:03d}.nve.json"))
                   for k in range(n_trajectories)]
    if polarizability_model is not None:
        alpha_for_tasks = polarizability_model if client is None else \
            _model_file(polarizability_model, alpha_argument, outdir)
        for k, task in enumerate(productions):
            task.update(polarizability_model=alpha_for_tasks,
                        alpha_log=os.path.join(outdir, f"traj_{k:03d}.alog"))
    total = (min(n_chains, n_trajectories) * int(equilibration_steps)
             + max(n_trajectories - n_chains, 0) * int(decorrelation_steps)
             + n_trajectories * int(production_steps))
    with progress_bar(total, "MD", unit="step", stream=progress) as bar:
        if client is None:
            for task in segments:
                _report(_sampling_segment(task, progress=bar), n_trajectories, progress)
            for task in productions:
                _report(_production_task(task, progress=bar, stream=progress), n_trajectories, progress)
        else:
            _run_on_client(client, segments, productions, n_chains, int(retries), progress, bar)
    return [task["log"] for task in productions]
