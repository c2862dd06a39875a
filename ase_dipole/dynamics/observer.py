"""An MD observer logging Ṗ = Σ_i Z*_i v_i and μ for IR spectra.

Attach it to any ASE dynamics, as ASE's own ``MDLogger``::

    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    observer = DipoleObserver(dyn, model, "traj_000.log", interval=2,
                              temperature_K=300)
    dyn.attach(observer, interval=2)
    dyn.run(20000)

Each call writes one row (time in fs, Ṗ in e·Å/fs, μ in e·Å) to an
append-only :class:`ase_dipole.dynamics.dipole_log.DipoleLogWriter`, flushed at once,
so a killed run leaves a readable log; a restarted run appends and its time
continues after the last row.

With a model that provides posterior uncertainties
(:meth:`ase_dipole.learning.model.PolarizationModel.predict_std`), every
``uncertainty_interval``-th row (default :data:`UNCERTAINTY_INTERVAL`) also
records the largest per-atom σ(Z*) of the configuration (log format
version 2). When it exceeds a threshold (by
default the model's own, set from the σ of its training frames) the
configuration is appended to ``<log>.uncertain.extxyz``, ready for
labelling, and a warning naming the first such step is issued once.
"""

import os
import warnings
import weakref

import ase.io
import numpy as np
from ase import units

from ase_dipole import __version__
from ase_dipole.descriptors.neighbours import check_finite_positions
from ase_dipole.dynamics.calculator import (
    check_box,
    check_species,
    is_periodic,
    load_model,
    model_cutoff_A,
    provides_uncertainty,
)
from ase_dipole.dynamics.dipole_log import DipoleLogWriter, read_dipole_log
from ase_dipole.learning.posterior import atom_sigma
from ase_dipole.units import C_CM_PER_FS

#: upper end of the mid-infrared, cm⁻¹: the log's Nyquist wavenumber should reach it
MID_IR_MAX_CM1 = 4000.0
#: default number of logged rows between σ(Z*) evaluations: one evaluation
#: (the full Z* design gradient, ~0.5 s for 192 atoms) costs ~100 observer rows
UNCERTAINTY_INTERVAL = 100
#: suffix of the file collecting configurations above the σ threshold
UNCERTAIN_SUFFIX = ".uncertain.extxyz"



def _require_velocities(atoms):
    """ASE velocities of ``atoms`` in Å/fs, (N, 3); a clear error if absent."""
    if not atoms.has("momenta"):
        raise ValueError(
            "the atoms have no velocities (no 'momenta' array): set them, e.g. with "
            "ase.md.velocitydistribution.thermalize_momenta, or attach the "
            "observer to an ASE dynamics, which creates them"
        )
    velocities = atoms.get_velocities() * units.fs
    if not np.all(np.isfinite(velocities)):
        raise ValueError("the atoms' velocities contain NaN or inf; the MD has blown up")
    return velocities


def log_metadata(atoms, model, *, timestep_fs, interval, temperature_K=None, **extra):
    """Header of a dipole log describing ``atoms`` and ``model``.

    Parameters
    ----------
    atoms : ase.Atoms
    model : dipole model (its ``sha256`` is recorded)
    timestep_fs : float
        Time between consecutive MD steps, fs.
    interval : int
        MD steps between logged rows.
    temperature_K : float, optional
        Temperature of the ensemble the trajectory samples, K.
    **extra
        Further JSON-serialisable entries.
    """
    periodic = is_periodic(atoms)
    return dict(
        timestep_fs=float(timestep_fs),
        interval=int(interval),
        n_atoms=len(atoms),
        volume_A3=float(atoms.get_volume()) if atoms.cell.rank == 3 else None,
        periodic=periodic,
        temperature_K=None if temperature_K is None else float(temperature_K),
        masses_amu=[float(m) for m in atoms.get_masses()],
        symbols=atoms.get_chemical_symbols(),
        model_sha256=str(model.sha256),
        ase_dipole_version=__version__,
        **extra,
    )


class DipoleObserver:
    """Log Ṗ and μ along an ASE MD run.

    Parameters
    ----------
    atoms_or_dynamics : ase.md.md.MolecularDynamics or ase.Atoms
        The dynamics (only a weak proxy is kept, as ``ase.md.MDLogger``
        does), from which the atoms, the time step and the time are taken;
        or the atoms, in which case ``timestep_fs`` is required and the time
        counts the calls.
    model : object or str or path-like
        Dipole model (see :func:`ase_dipole.dynamics.calculator.load_model`). Only its
        cheap ``predict_pdot`` is called, never the full Z*.
    path : str or path-like
        Dipole log to write. An existing log is appended to only when this
        run continues it (see Notes); otherwise a ``ValueError`` says why.
    interval : int, keyword-only
        MD steps between calls; must equal the ``interval`` passed to
        ``dyn.attach``. A ``UserWarning`` is issued when ``interval ×
        timestep_fs`` puts the Nyquist wavenumber below 4000 cm⁻¹.
    temperature_K : float, optional
        Temperature of the ensemble the run samples (for the spectrum's β).
    timestep_fs : float, optional
        MD time step, fs; required without dynamics, checked against
        ``dyn.dt`` with one.
    metadata : dict, optional
        Extra JSON-serialisable header entries (e.g. the run parameters).
    overwrite : bool, keyword-only
        Replace an existing log at ``path`` instead of continuing it.
    uncertainty_interval : int, optional, keyword-only
        Logged rows between evaluations of ``model.predict_std`` (the first
        row is evaluated); 0 records no σ. Default
        :data:`UNCERTAINTY_INTERVAL` when the model provides uncertainties,
        else 0. Each evaluation costs several Z* predictions.
    uncertainty_threshold_e : float, optional, keyword-only
        Largest per-atom σ(Z*) (e) above which a configuration is flagged;
        default the model's ``uncertainty_threshold``. Must be positive.
    uncertainty_samples : int, optional, keyword-only
        ``None`` (default): the exact σ. ``K``: ``model.predict_std(atoms,
        samples=K)``, the unbiased estimate of the posterior variance from K
        posterior draws of the coefficients, each one μ + Z* evaluation
        (:meth:`ase_dipole.learning.model.PolarizationModel.predict_std`);
        far cheaper than the exact σ for large cells.

    Notes
    -----
    Ṗ = Σ_i Z*_i v_i (e·Å/fs) with the ASE velocities converted to Å/fs. The
    first call (step 0 of ASE dynamics) is logged too. An existing log is
    continued when its run identity (model sha256, time step, interval,
    temperature, atoms, cell; checked by
    :class:`ase_dipole.dynamics.dipole_log.DipoleLogWriter`) matches and
    either the first state equals the last logged one (a run resumed from
    its last logged frame: that row is not written twice and the time goes
    on from it) or the dynamics' own time is one interval past the last row
    (the same dynamics, run further). A run starting from another state is
    another run, and is refused rather than spliced onto the log.
    """

    def __init__(self, atoms_or_dynamics, model, path, *, interval=1, temperature_K=None,
                 timestep_fs=None, metadata=None, overwrite=False, uncertainty_interval=None,
                 uncertainty_threshold_e=None, uncertainty_samples=None):
        if hasattr(atoms_or_dynamics, "get_time") and hasattr(atoms_or_dynamics, "dt"):
            self.dyn = weakref.proxy(atoms_or_dynamics)
            self.atoms = atoms_or_dynamics.atoms
            dyn_timestep_fs = atoms_or_dynamics.dt / units.fs
            if timestep_fs is not None and not np.isclose(timestep_fs, dyn_timestep_fs,
                                                          rtol=1e-9, atol=0.0):
                raise ValueError(
                    f"timestep_fs={timestep_fs} disagrees with the dynamics' time step "
                    f"{dyn_timestep_fs} fs; omit timestep_fs to take it from the dynamics"
                )
            timestep_fs = dyn_timestep_fs
        else:
            self.dyn = None
            self.atoms = atoms_or_dynamics
            if timestep_fs is None:
                raise ValueError(
                    "DipoleObserver was given atoms, not dynamics: pass timestep_fs (the MD "
                    "time step in fs)"
                )
        if not (np.isfinite(timestep_fs) and timestep_fs > 0):
            raise ValueError(f"timestep_fs must be a positive number of fs, got {timestep_fs}")
        if int(interval) != interval or interval < 1:
            raise ValueError(f"interval must be a positive integer, got {interval!r}")
        self.interval = int(interval)
        self.timestep_fs = float(timestep_fs)
        nyquist_cm1 = 1.0 / (2.0 * C_CM_PER_FS * self.sample_interval_fs)
        if nyquist_cm1 < MID_IR_MAX_CM1:
            warnings.warn(
                f"logging every {self.sample_interval_fs:g} fs (interval={self.interval} × "
                f"{self.timestep_fs:g} fs) resolves wavenumbers only up to {nyquist_cm1:.0f} "
                f"cm^-1 (Nyquist); O–H stretches near 3700 cm^-1 need a sample interval "
                f"below {1.0 / (2.0 * C_CM_PER_FS * MID_IR_MAX_CM1):.2f} fs"
            )
        self.model = load_model(model)
        check_species(self.model, self.atoms)
        check_finite_positions(self.atoms.positions)
        if model_cutoff_A(self.model) is not None:
            check_box(self.atoms, model_cutoff_A(self.model))
        header = log_metadata(self.atoms, self.model, timestep_fs=self.timestep_fs,
                              interval=self.interval, temperature_K=temperature_K,
                              **(metadata or {}))
        self._model_sha256 = header["model_sha256"]  # a model's sha256 serialises it: once per run
        self.writer = DipoleLogWriter(path, header, overwrite=overwrite)
        self.path = self.writer.path
        self._previous_last_row = None
        if self.writer.last_time_fs is not None:
            previous = read_dipole_log(self.path)
            self._previous_last_row = (previous.pdot[-1], previous.dipole[-1])
        self._time_offset_fs = None
        self._n_calls = 0
        self._n_rows = 0
        self._setup_uncertainty(uncertainty_interval, uncertainty_threshold_e, uncertainty_samples)

    def _setup_uncertainty(self, interval, threshold_e, samples=None):
        if interval is None:
            interval = UNCERTAINTY_INTERVAL if provides_uncertainty(self.model) else 0
        if int(interval) != interval or interval < 0:
            raise ValueError(f"uncertainty_interval must be a non-negative integer (0: no σ), "
                             f"got {interval!r}")
        self.uncertainty_interval = int(interval)
        if samples is not None and not (isinstance(samples, (int, np.integer)) and samples >= 1):
            raise ValueError(f"uncertainty_samples must be a positive integer (posterior draws) or "
                             f"None (exact σ), got {samples!r}")
        self._std_options = {} if samples is None else {"samples": int(samples)}
        self.uncertainty_threshold_e = None
        self.uncertain_path = self.path + UNCERTAIN_SUFFIX
        self.n_flagged = 0
        if threshold_e is not None and not (np.isfinite(threshold_e) and threshold_e > 0):
            raise ValueError(f"uncertainty_threshold_e must be a positive number of e "
                             f"(0 < threshold < inf), got {threshold_e!r}")
        if self.uncertainty_interval == 0:
            return
        if not hasattr(self.model, "predict_std"):
            raise ValueError(f"{type(self.model).__name__} gives no uncertainties (no predict_std); "
                             "pass uncertainty_interval=0")
        if getattr(self.model, "has_uncertainty", True) is False:
            self.model.predict_std(self.atoms)  # raises the model's own 'refit' error
        if self.writer.version < 2:
            warnings.warn(f"{self.path!r} is a version-{self.writer.version} log without a σ "
                          "column; σ(Z*) is checked against the threshold but not recorded")
        self.uncertainty_threshold_e = (float(threshold_e) if threshold_e is not None
                                        else float(self.model.uncertainty_threshold))

    def _step(self):
        if self.dyn is not None and hasattr(self.dyn, "nsteps"):
            return int(self.dyn.nsteps)
        return self._n_calls * self.interval

    def _uncertainty(self, time_fs):
        """Largest per-atom σ(Z*) of the current configuration (e), flagged
        to :attr:`uncertain_path` above the threshold; NaN on rows without σ."""
        if self.uncertainty_interval == 0 or self._n_rows % self.uncertainty_interval:
            return np.nan
        _, born_std = self.model.predict_std(self.atoms, **self._std_options)
        per_atom = atom_sigma(born_std)
        largest = float(per_atom.max())
        if largest > self.uncertainty_threshold_e:
            step = self._step()
            flagged = self.atoms.copy()
            flagged.calc = None
            flagged.arrays["sigma_born_e"] = per_atom
            flagged.info.update(step=step, time_fs=float(time_fs), max_atom_sigma_born_e=largest,
                                uncertainty_threshold_e=self.uncertainty_threshold_e,
                                model_sha256=self._model_sha256)
            with open(self.uncertain_path, "a") as handle:
                ase.io.write(handle, flagged, format="extxyz")
                handle.flush()
                os.fsync(handle.fileno())
            if self.n_flagged == 0:
                warnings.warn(
                    f"step {step} (t = {time_fs:.6g} fs): the largest per-atom σ(Z*) is "
                    f"{largest:.3g} e (atom {int(per_atom.argmax())}), above the threshold "
                    f"{self.uncertainty_threshold_e:.3g} e: the model extrapolates here; this and "
                    f"later flagged configurations go to {self.uncertain_path!r} for labelling")
            self.n_flagged += 1
        return largest

    @property
    def sample_interval_fs(self):
        """Time between logged rows, fs."""
        return self.interval * self.timestep_fs

    def _check_attachment(self):
        for function, interval, _, _ in getattr(self.dyn, "observers", ()):
            if function is self and interval != self.interval:
                raise ValueError(
                    f"the observer was attached with interval={interval} but built with "
                    f"interval={self.interval}; pass the same interval to both"
                )

    def _elapsed_fs(self):
        if self.dyn is not None:
            return self.dyn.get_time() / units.fs
        return self._n_calls * self.sample_interval_fs

    def __call__(self):
        """Compute and log one row."""
        velocities = _require_velocities(self.atoms)
        dipole, pdot = self.model.predict_pdot(self.atoms, velocities)
        if self._time_offset_fs is None:
            if self.dyn is not None:
                self._check_attachment()
            start_fs, already_logged = self._start(pdot, dipole)
            self._time_offset_fs = start_fs - self._elapsed_fs()
            if already_logged:
                self._n_calls += 1
                return
        time_fs = self._time_offset_fs + self._elapsed_fs()
        self.writer.write(time_fs, pdot, dipole, self._uncertainty(time_fs))
        self._n_calls += 1
        self._n_rows += 1

    def _start(self, pdot, dipole):
        """Time of this run's first call, fs, and whether the log already
        holds its state (a run resumed from its last logged frame)."""
        if self._previous_last_row is None:
            return 0.0, False
        last_pdot, last_dipole = self._previous_last_row
        resumed = (np.allclose(pdot, last_pdot, rtol=1e-8, atol=1e-10)
                   and np.allclose(dipole, last_dipole, rtol=1e-8, atol=1e-10))
        if resumed:
            return self.writer.last_time_fs, True
        next_fs = self.writer.last_time_fs + self.sample_interval_fs
        if self.dyn is not None and np.isclose(self._elapsed_fs(), next_fs, rtol=0.0,
                                               atol=1e-6 * self.sample_interval_fs):
            return next_fs, False
        raise ValueError(
            f"cannot append to {self.path!r}: this run does not continue it (its first state "
            f"differs from the last logged one, at t = {self.writer.last_time_fs:.6g} fs, and "
            "the dynamics' time does not follow it); write to a new file or pass "
            "overwrite=True to replace it"
        )

    def close(self):
        """Close the log file."""
        self.writer.close()
