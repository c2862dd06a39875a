"""The steps of a protocol and :func:`run_protocol`, which runs them.

Steps, in order (each only when its section is in the protocol):

``structure``
    The structure of ``[system]``, relaxed with the force calculator when
    ``relax_fmax_eV_A`` is given (positions only; BFGS), a molecule centred
    in a non-periodic box of ``vacuum_A``: ``structure.extxyz``.
``data``
    A labelled reference set (``[data] file``, split by
    :mod:`ase_dipole.workflow.reference_set`): ``reference_data.extxyz.gz``.
``sample``
    Langevin MD from the structure through the temperatures of
    ``temperatures_K`` (piecewise linear), optional hydrogen mass, fixed atoms
    and flat-bottom restraints (ASE ``Hookean``): ``sampled.extxyz``.
``select``
    ``n_test`` held-out frames spread uniformly over the run, then
    ``n_train`` training frames among the rest
    (:func:`ase_dipole.learning.selection.select_frames`: farthest point
    sampling of frame summaries, ``fps``, or weighted by the σ(Z*) of the
    ``model`` of an earlier round, ``uncertainty``), or uniformly
    (``uniform``): ``selected.extxyz``.
``label``
    Dipoles and Born charges of the selected frames (GFN2-xTB, PySCF), or
    Born charges of periodic cells (Quantum ESPRESSO), one task per frame
    (:func:`ase_dipole.reference.label_frames_parallel`, on the cluster of
    ``[cluster]`` when given), cached per frame in ``label/`` so an
    interrupted run labels only what is missing: ``labelled.extxyz``.
``fit``
    The :class:`~ase_dipole.learning.model.PolarizationModel` on the training
    frames, held-out errors, parity tables and plots, the learning curve; or
    a :class:`~ase_dipole.learning.fixed_charges.FixedChargesModel` from
    ``fixed_charges``: ``model.json``.
``md``
    :func:`ase_dipole.dynamics.md.run_ir_md` on the structure (repeated by
    ``[system] supercell``), its sampling segments and NVE runs as tasks on
    the cluster of ``[cluster]`` when given, checkpointed: ``md/traj_*.log``.
``spectrum``
    Green–Kubo spectrum of the logs: ``spectrum_md.csv``.
``harmonic``
    phonopy finite displacements with the force calculator, the model's Z*
    at the structure: ``harmonic_modes.txt``, ``spectrum_harmonic.csv``.
``compare``
    Peak matching, bands, overlay plots: ``peaks.txt``, ``spectra.png``.

The keys of the steps (see :mod:`ase_dipole.workflow.engine`) hold the
options of their sections that change results; ``[cluster]`` is not in any
key (where a step runs does not change what it computes).
"""

import contextlib
import dataclasses
import gzip
import io
import os
import sys
import time
import warnings

import numpy as np

from ase_dipole import __version__
from ase_dipole.atomic import write_bytes_atomic, write_text_atomic
from ase_dipole.io.extxyz import get_born_charges, get_dipole, write_extxyz
from ase_dipole.threads import limit_threads
from ase_dipole.workflow.engine import Engine, Step
from ase_dipole.workflow.protocol import ProtocolError
from ase_dipole.workflow.reference_set import (assign_splits, group_frames, held_out_frames,
                                               uniform_indices)

STRUCTURE_NAME = "structure.extxyz"
DATA_NAME = "reference_data.extxyz.gz"
SAMPLED_NAME = "sampled.extxyz"
SELECTED_NAME = "selected.extxyz"
LABELLED_NAME = "labelled.extxyz"
MODEL_NAME = "model.json"
MD_DIR = "md"
SUMMARY_NAME = "summary.txt"


@dataclasses.dataclass
class ProtocolResult:
    """What :func:`run_protocol` produced.

    Attributes
    ----------
    outdir : str
    summary_path : str
    plan : list of ase_dipole.workflow.engine.PlannedStep
        What was done with each step (``action``: skip, run, rerun; ``reasons``).
    results : dict
        Step name -> the results recorded in its marker.
    reused : tuple of str
        Steps found up to date.
    elapsed_s : float
        Wall time of this call, s.
    """

    outdir: str
    summary_path: str
    plan: list
    results: dict
    reused: tuple
    elapsed_s: float


class _Context:
    """What the step functions share: the engine, the protocol, the cluster."""

    def __init__(self, engine, protocol, cluster, stack):
        self.engine = engine
        self.protocol = protocol
        self.cluster = cluster
        self._stack = stack
        self._client = None
        self._opened = False
        self.cache = {}

    def path(self, name):
        return self.engine.path(name)

    @property
    def stream(self):
        return self.engine.stream

    def client(self):
        """The Dask client of ``[cluster]`` (opened on first use), or None."""
        if not self._opened:
            from ase_dipole.distributed import cluster_client

            self._opened = True
            where = ("workers", "scheduler", "slurm_jobs")
            if any(self.cluster.get(name) for name in where):
                extra = {} if self.cluster.get("connect_timeout_s") is None else dict(
                    connect_timeout_s=self.cluster["connect_timeout_s"])
                self._client = self._stack.enter_context(cluster_client(
                    workers=self.cluster.get("workers"), scheduler=self.cluster.get("scheduler"),
                    slurm_jobs=self.cluster.get("slurm_jobs"),
                    slurm_options=self.cluster.get("slurm_options") or None, **extra))
        return self._client

    def calculator(self):
        from ase_dipole.dynamics.md import make_force_calculator

        if "calculator" not in self.cache:
            self.cache["calculator"] = make_force_calculator(self.protocol["system"]["calculator"])
        return self.cache["calculator"]

    def structure(self):
        import ase.io

        return ase.io.read(self.path(STRUCTURE_NAME), format="extxyz")

    def reference_groups(self):
        """The labelled frames by split (from ``data`` or ``label``)."""
        if "groups" not in self.cache:
            import ase.io

            name = DATA_NAME if "data" in self.protocol else LABELLED_NAME
            frames = ase.io.read(self.path(name), ":", format="extxyz")
            self.cache["groups"] = group_frames(frames, name)
        return self.cache["groups"]


# ----------------------------------------------------------------------------
# structure


def read_structure(spec):
    """Atoms from a file, or ``collection:NAME/ENTRY`` from :mod:`ase.collections`
    (e.g. ``collection:s22/Water_dimer``)."""
    if spec.startswith("collection:"):
        import ase.collections

        collection, _, entry = spec[len("collection:"):].partition("/")
        database = getattr(ase.collections, collection, None)
        if database is None or not entry:
            raise ProtocolError(f"[system] structure {spec!r}: use collection:NAME/ENTRY with "
                                "NAME an ase.collections database (s22, g2, ...)")
        try:
            return database[entry].copy()
        except KeyError:
            raise ProtocolError(f"[system] structure {spec!r}: {collection} has no {entry!r}; "
                                f"it has {sorted(database.names)[:10]} ...") from None
    import ase.io

    if not os.path.isfile(spec):
        raise FileNotFoundError(f"[system] structure {spec!r} does not exist")
    return ase.io.read(spec)


def _step_structure(ctx):
    from ase.optimize import BFGS

    system = ctx.protocol["system"]
    atoms = read_structure(system["structure"])
    relax_steps, energy = 0, None
    if system["relax_fmax_eV_A"] is not None:
        atoms.calc = ctx.calculator()
        optimizer = BFGS(atoms, logfile=None)
        if not optimizer.run(fmax=system["relax_fmax_eV_A"], steps=system["relax_max_steps"]):
            raise RuntimeError(
                f"the structure did not relax to fmax {system['relax_fmax_eV_A']} eV/Å in "
                f"{system['relax_max_steps']} BFGS steps (max force "
                f"{np.abs(atoms.get_forces()).max():.2e} eV/Å); raise [system] relax_max_steps "
                "or relax_fmax_eV_A")
        relax_steps, energy = optimizer.nsteps, float(atoms.get_potential_energy())
        atoms.calc = None
    if system["vacuum_A"] is not None:
        atoms.center(vacuum=system["vacuum_A"])
        atoms.pbc = False
    write_extxyz(ctx.path(STRUCTURE_NAME), [atoms])
    results = dict(formula=atoms.get_chemical_formula(), n_atoms=len(atoms),
                   periodic=bool(atoms.pbc.all()), relax_steps=relax_steps, energy_eV=energy)
    line = f"{results['formula']}, {len(atoms)} atoms" + (
        f", relaxed in {relax_steps} BFGS steps" if energy is not None else "")
    return results, line


# ----------------------------------------------------------------------------
# reference data: a labelled file, or sample -> select -> label


def _step_data(ctx):
    import ase.io

    source = ctx.protocol["data"]["file"]
    frames = ase.io.read(source, ":", format="extxyz")
    split_given = all("split" in frame.info for frame in frames)
    groups = group_frames(assign_splits(frames), source)
    if split_given and source.endswith(".gz"):
        with open(source, "rb") as handle:
            write_bytes_atomic(ctx.path(DATA_NAME), handle.read())
    else:
        text = io.StringIO()
        ase.io.write(text, frames, format="extxyz")
        write_bytes_atomic(ctx.path(DATA_NAME), gzip.compress(text.getvalue().encode()))
    ctx.cache["groups"] = groups
    counts = {name: len(members) for name, members in groups.items()}
    reference = groups["born_train"][0].info.get("reference", "unknown method")
    results = dict(source=os.path.basename(source), reference=reference, counts=counts)
    line = f"{results['source']}: " + ", ".join(f"{n} {name}" for name, n in counts.items())
    return results, line


def _temperature_at(step, n_steps, temperatures_K):
    """Piecewise-linear temperature through ``temperatures_K`` over the run."""
    if len(temperatures_K) == 1:
        return temperatures_K[0]
    knots = np.linspace(0.0, n_steps, len(temperatures_K))
    return float(np.interp(step, knots, temperatures_K))


def _step_sample(ctx):
    from ase import units
    from ase.constraints import FixAtoms, Hookean
    from ase.md.langevin import Langevin

    from ase_dipole.dynamics.md import _run_phase, _thermalize
    from ase_dipole.progress import progress_bar

    options = ctx.protocol["sample"]
    atoms = ctx.structure()
    normal_masses = atoms.get_masses()
    if options["hydrogen_mass_amu"] is not None:
        masses = normal_masses.copy()
        masses[atoms.numbers == 1] = options["hydrogen_mass_amu"]
        atoms.set_masses(masses)
    constraints = [Hookean(a1=int(r["atoms"][0]), a2=int(r["atoms"][1]), rt=float(r["distance_A"]),
                           k=float(r["spring_eV_A2"])) for r in options["restraints"]]
    if options["fixed_atoms"]:
        constraints.append(FixAtoms(indices=options["fixed_atoms"]))
    atoms.set_constraint(constraints)
    atoms.calc = ctx.calculator()
    rng = np.random.default_rng(options["seed"])
    temperatures, n_steps = options["temperatures_K"], options["steps"]
    _thermalize(atoms, temperatures[0], rng)
    dyn = Langevin(atoms, options["timestep_fs"] * units.fs, temperature_K=temperatures[0],
                   friction=options["friction_per_fs"] / units.fs, fixcm=False, rng=rng)
    if len(temperatures) > 1:
        dyn.attach(lambda: dyn.set_temperature(
            temperature_K=_temperature_at(dyn.nsteps, n_steps, temperatures)), interval=10)
    frames = []

    def keep():
        if dyn.nsteps == 0:
            return
        frame = atoms.copy()
        frame.set_constraint()
        frame.set_masses(normal_masses)
        frame.calc = None
        frame.info = dict(sample_step=int(dyn.nsteps),
                          temperature_K=_temperature_at(dyn.nsteps, n_steps, temperatures))
        frames.append(frame)

    dyn.attach(keep, interval=options["interval"])
    with progress_bar(n_steps, "sampling", unit="step", stream=ctx.stream) as bar:
        _run_phase(dyn, n_steps, "sampling", bar)
    for frame in frames:
        frame.arrays.pop("momenta", None)
    write_extxyz(ctx.path(SAMPLED_NAME), frames)
    results = dict(n_frames=len(frames), temperatures_K=temperatures)
    return results, f"{len(frames)} frames from {n_steps} Langevin steps"


def _step_select(ctx):
    import ase.io

    from ase_dipole.learning.selection import select_frames

    options = ctx.protocol["select"]
    frames = ase.io.read(ctx.path(SAMPLED_NAME), ":", format="extxyz")
    n_train, n_test = options["n_train"], options["n_test"]
    if n_train < 1 or n_test < 1 or n_train + n_test > len(frames):
        raise ProtocolError(
            f"[select] n_train = {n_train}, n_test = {n_test}: need both >= 1 and at most the "
            f"{len(frames)} sampled frames together; sample more ([sample] steps / interval)")
    test = uniform_indices(len(frames), n_test)
    pool = np.setdiff1d(np.arange(len(frames)), test)
    if options["method"] == "uniform":
        train = pool[uniform_indices(len(pool), n_train)]
    else:
        model = None
        if options["method"] == "uncertainty":
            from ase_dipole.dynamics.calculator import load_model

            model = load_model(options["model"])
        train = pool[select_frames([frames[k] for k in pool], n_train, by=options["method"],
                                   model=model)]
    selected = []
    for indices, split in ((np.sort(train), "born_train"), (test, "born_test")):
        for k in indices:
            frame = frames[k]
            frame.info["split"] = split
            frame.info["sampled_index"] = int(k)
            selected.append(frame)
    write_extxyz(ctx.path(SELECTED_NAME), selected)
    results = dict(train=[int(k) for k in np.sort(train)], test=[int(k) for k in test],
                   method=options["method"])
    return results, (f"{n_train} training frames ({options['method']}) and {n_test} held-out "
                     f"frames of {len(frames)}")


def _step_label(ctx):
    import ase.io

    from ase_dipole.reference import label_frames_parallel

    options = ctx.protocol["label"]
    periodic = options["method"] == "qe"  # DFPT of a periodic cell: Z*, no dipole
    frames = ase.io.read(ctx.path(SELECTED_NAME), ":", format="extxyz")
    run = label_frames_parallel(frames, cache_dir=ctx.path("label"), method=options["method"],
                                options=dict(options["options"]), dipole=not periodic,
                                born_charges=True, client=ctx.client(),
                                progress=ctx.stream is not None)
    if run.failures:
        listed = "; ".join(f"frame {f['index']} ({f['formula']}): {f['error']}"
                           for f in run.failures)
        raise RuntimeError(f"{len(run.failures)} of {len(frames)} frames failed to label "
                           f"({listed}); the others are cached in label/, a rerun retries only "
                           "the failed ones")
    labelled = []
    for source, done in zip(frames, run.frames):
        done.info["split"] = source.info["split"]
        done.info["sampled_index"] = source.info["sampled_index"]
        labelled.append(done)
    write_extxyz(ctx.path(LABELLED_NAME), labelled)
    asr = max(float(np.abs(get_born_charges(f).sum(axis=0)).max()) for f in labelled)
    seconds = [t for t in run.seconds if np.isfinite(t)]
    results = dict(n_frames=len(labelled), computed=len(run.computed), reused=len(run.reused),
                   method=options["method"], reference=labelled[0].info.get("reference"),
                   max_asr_violation_e=asr, seconds_per_frame=float(np.mean(seconds)))
    return results, (f"{len(labelled)} frames with {results['reference']} "
                     f"({results['computed']} computed, {results['reused']} from an earlier "
                     f"run; {results['seconds_per_frame']:.2f} s per frame)")


# ----------------------------------------------------------------------------
# model


def _write_parity_csv(path, reference, predicted, *, columns, unit):
    """One row per component: its indices, the reference and the prediction."""
    index = np.indices(reference.shape).reshape(reference.ndim, -1).T
    table = np.column_stack([index, reference.ravel(), predicted.ravel()])
    header = ",".join([*columns, f"reference_{unit}", f"predicted_{unit}"])
    fmt = ["%d"] * len(columns) + ["%.8f", "%.8f"]
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt=fmt)


def _model_parameters(fit):
    return dict(cutoff=fit["cutoff_A"], n_max=fit["n_max"], l_max=fit["l_max"],
                n_references=fit["n_references"], regularization=fit["regularization"])


def _training_frames(groups, targets):
    return groups["born_train"] + (groups["dipole_train"] if targets != "born" else [])


def _fixed_charges_frame(ctx):
    """The frame of ``[fit] fixed_charges`` (Born charges of the unit cell)."""
    from ase_dipole.io import read_born_charges

    fit = ctx.protocol["fit"]
    kwargs = {}
    if fit["fixed_charges_structure"] is not None:
        kwargs["structure"] = fit["fixed_charges_structure"]
    frames = read_born_charges(fit["fixed_charges"], **kwargs)
    frame = frames[-1]
    structure = ctx.structure()
    if frame.get_chemical_symbols() != structure.get_chemical_symbols():
        raise ProtocolError(
            f"[fit] fixed_charges {fit['fixed_charges']!r} holds Born charges of "
            f"{frame.get_chemical_formula()} in another atom order than the structure "
            f"{structure.get_chemical_formula()}; give the file written for that structure")
    return frame


def _step_fit_fixed(ctx):
    from ase_dipole.learning.fixed_charges import FixedChargesModel

    frame = _fixed_charges_frame(ctx)
    unit = ctx.structure()
    born = get_born_charges(frame)
    from ase_dipole.io.extxyz import set_born_charges

    set_born_charges(unit, born)
    symbols = unit.get_chemical_symbols()
    supercell = unit.repeat(ctx.protocol["system"]["supercell"])
    model = FixedChargesModel.from_atoms(supercell)
    model.save(ctx.path(MODEL_NAME))
    results = dict(kind="fixed charges", source=os.path.basename(ctx.protocol["fit"]["fixed_charges"]),
                   n_atoms=len(supercell), model_sha256=model.sha256,
                   born_charges_e={s: born[symbols.index(s)].tolist() for s in set(symbols)},
                   asr_violation_e=float(np.abs(born.sum(axis=0)).max()))
    return results, f"Born charges of {results['source']} held fixed on {len(supercell)} atoms"


def _step_fit(ctx):
    from ase_dipole.learning.model import PolarizationModel, rmspe
    from ase_dipole.spectra.plot import plot_parity

    fit = ctx.protocol["fit"]
    groups = ctx.reference_groups()
    training = _training_frames(groups, fit["targets"])
    model = PolarizationModel(**_model_parameters(fit))
    model.fit(training, targets=fit["targets"], progress=ctx.stream is not None)
    model.save(ctx.path(MODEL_NAME))
    test = held_out_frames(groups)
    born_reference = np.array([get_born_charges(frame) for frame in groups["born_test"]])
    born_predicted = np.array([model.predict(frame)[1] for frame in groups["born_test"]])
    _write_parity_csv(ctx.path("parity_born_charges.csv"), born_reference, born_predicted,
                      columns=("frame", "atom", "alpha", "beta"), unit="e")
    plot_parity(born_reference, born_predicted, ctx.path("parity_born_charges.png"),
                label="Z* (born_test)", unit="e")
    results = dict(
        kind="polarization model", targets=fit["targets"], n_train=len(training),
        n_references=fit["n_references"], n_dipole_test=len(test),
        n_born_test=len(born_reference), regularization=model.regularization,
        model_sha256=model.sha256,
        born_rmspe=rmspe(born_predicted, born_reference),
        born_rmse_e=float(np.sqrt(np.mean((born_predicted - born_reference) ** 2))),
        dipole_rmspe=None, dipole_rmse_eA=None,
    )
    if test:  # molecules: the held-out dipoles too
        dipole_reference = np.array([get_dipole(frame) for frame in test])
        dipole_predicted = np.array([model.predict_dipole(frame) for frame in test])
        _write_parity_csv(ctx.path("parity_dipole.csv"), dipole_reference, dipole_predicted,
                          columns=("frame", "alpha"), unit="e*A")
        plot_parity(dipole_reference, dipole_predicted, ctx.path("parity_dipole.png"),
                    label="dipole μ (held-out)", unit="e·Å")
        results.update(
            dipole_rmspe=rmspe(dipole_predicted, dipole_reference),
            dipole_rmse_eA=float(np.sqrt(np.mean((dipole_predicted - dipole_reference) ** 2))))
    if fit["learning_curve_sizes"]:
        from ase_dipole.learning.learning_curve import learning_curve

        pools = {"born": groups["born_train"]}
        if fit["targets"] != "born":
            pools = {"born": groups["born_train"], "dipole": groups["dipole_train"]} \
                if fit["targets"] == "both" else {"dipole": training}
        curve = learning_curve(pools, groups["dipole_test"] + groups["born_test"],
                               sizes=fit["learning_curve_sizes"],
                               parameters=_model_parameters(fit))
        curve.write_csv(ctx.path("learning_curve.csv"))
        title = ctx.protocol["system"]["title"] or "learning curve"
        curve.plot(ctx.path("learning_curve.png"), title=f"{title}: held-out RMSPE")
        results["learning_curve"] = dict(
            sizes=[row["n_train"] for row in curve.rows],
            dipole_rmspe=[row["rmspe_dipole"] for row in curve.rows],
            born_rmspe=[row["rmspe_born_charges"] for row in curve.rows])
    line = (f"held-out Z* RMSE {results['born_rmse_e']:.4f} e, "
            f"RMSPE {100 * results['born_rmspe']:.2f} %")
    if results["dipole_rmspe"] is not None:
        line += f"; dipole RMSPE {100 * results['dipole_rmspe']:.2f} %"
    return results, line


# ----------------------------------------------------------------------------
# MD, spectra, harmonic


def _md_structure(ctx):
    return ctx.structure().repeat(ctx.protocol["system"]["supercell"])


def _step_md(ctx):
    from ase_dipole.dynamics.md import run_ir_md

    options = ctx.protocol["md"]
    atoms = _md_structure(ctx)
    start = time.perf_counter()
    logs = run_ir_md(
        atoms, ctx.protocol["system"]["calculator"], ctx.path(MODEL_NAME), ctx.path(MD_DIR),
        temperature_K=options["temperature_K"], timestep_fs=options["timestep_fs"],
        n_trajectories=options["n_trajectories"],
        equilibration_steps=options["equilibration_steps"],
        decorrelation_steps=options["decorrelation_steps"],
        production_steps=options["production_steps"], interval=options["interval"],
        friction_per_fs=options["friction_per_fs"], ensemble=options["ensemble"],
        pressure_bar=options["pressure_bar"], seed=options["seed"],
        sampling_chains=options["sampling_chains"], client=ctx.client(), progress=ctx.stream)
    elapsed = time.perf_counter() - start
    n_steps = (options["equilibration_steps"]
               + (options["n_trajectories"] - 1) * options["decorrelation_steps"]
               + options["n_trajectories"] * options["production_steps"])
    duration_ps = options["production_steps"] * options["timestep_fs"] / 1000.0
    results = dict(logs=[os.path.relpath(log, ctx.engine.outdir) for log in logs],
                   n_atoms=len(atoms), duration_ps=duration_ps,
                   total_ps=duration_ps * options["n_trajectories"],
                   ms_per_step=1e3 * elapsed / n_steps)
    line = (f"{options['n_trajectories']} × {duration_ps:g} ps NVE at "
            f"{options['temperature_K']:g} K ({results['ms_per_step']:.2f} ms per MD step)")
    return results, line


def md_logs(options):
    """Relative paths of the logs of the ``md`` step for ``[md]`` options."""
    return tuple(os.path.join(MD_DIR, f"traj_{k:03d}.log") for k in range(options["n_trajectories"]))


def _step_spectrum(ctx):
    from ase_dipole.spectra.green_kubo import ir_spectrum
    from ase_dipole.spectra.plot import plot_spectra

    options = ctx.protocol["spectrum"]
    spectrum = ir_spectrum([ctx.path(log) for log in md_logs(ctx.protocol["md"])],
                           fwhm_cm1=options["fwhm_cm1"],
                           max_wavenumber_cm1=options["max_wavenumber_cm1"])
    spectrum.write_csv(ctx.path("spectrum_md.csv"))
    temperature = ctx.protocol["md"]["temperature_K"]
    plot_spectra([(spectrum, f"MD, {temperature:g} K")], ctx.path("spectrum_md.png"),
                 title=ctx.protocol["system"]["title"] or None)
    results = dict(unit=spectrum.unit, n_logs=len(md_logs(ctx.protocol["md"])))
    return results, f"{results['n_logs']} logs, unit {spectrum.unit}"


def _harmonic_born_source(ctx):
    """The model (fitted) or the unit-cell Z* array (fixed charges) for the harmonic step."""
    if ctx.protocol["fit"]["fixed_charges"] is not None:
        return get_born_charges(_fixed_charges_frame(ctx))
    from ase_dipole.dynamics.calculator import load_model

    return load_model(ctx.path(MODEL_NAME))


def _step_harmonic(ctx):
    from ase_dipole.spectra.harmonic import HarmonicIR, phonopy_from_calculator

    options = ctx.protocol["harmonic"]
    atoms = ctx.structure()
    periodic = bool(atoms.pbc.all())
    phonon = phonopy_from_calculator(atoms, ctx.calculator(),
                                     supercell_matrix=options["supercell"],
                                     displacement_A=options["displacement_A"],
                                     symmetry=options["symmetry"], log=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        harmonic = HarmonicIR(phonon, _harmonic_born_source(ctx)).run()
    harmonic.write_peaks(ctx.path("harmonic_modes.txt"))
    spectrum_options = ctx.protocol.get("spectrum") or dict(fwhm_cm1=20.0,
                                                            max_wavenumber_cm1=4000.0)
    grid = np.arange(0.0, spectrum_options["max_wavenumber_cm1"] + 0.5, 1.0)
    spectrum = harmonic.spectrum(grid, fwhm_cm1=spectrum_options["fwhm_cm1"],
                                 lineshape="gaussian", periodic=periodic)
    spectrum.write_csv(ctx.path("spectrum_harmonic.csv"))
    frequencies = np.asarray(harmonic.frequencies_cm1)
    vibrations = frequencies > options["low_mode_cm1"]
    results = dict(
        frequencies_cm1=frequencies[vibrations],
        intensities_km_mol=np.asarray(harmonic.intensities_km_mol)[vibrations],
        n_low_modes=int((~vibrations).sum()), unit=spectrum.unit,
        asr_violation_e=float(np.abs(harmonic.asr_violation).max()),
        warnings=[str(w.message) for w in caught],
    )
    line = "modes at " + ", ".join(f"{f:.0f}" for f in frequencies[vibrations]) + " cm⁻¹"
    return results, line


def _step_compare(ctx):
    from ase_dipole.spectra.bands import band_check
    from ase_dipole.spectra.compare import compare_spectra
    from ase_dipole.spectra.green_kubo import read_spectrum_csv
    from ase_dipole.spectra.plot import plot_spectra

    options, spectrum = ctx.protocol["compare"], ctx.protocol["spectrum"]
    fwhm, top = spectrum["fwhm_cm1"], spectrum["max_wavenumber_cm1"]
    finite_T = read_spectrum_csv(ctx.path("spectrum_md.csv"))
    harmonic = read_spectrum_csv(ctx.path("spectrum_harmonic.csv"))
    max_shift = options["max_shift_cm1"] if options["max_shift_cm1"] is not None \
        else 2 * fwhm + 40.0
    comparison = compare_spectra(finite_T, harmonic, max_shift_cm1=max_shift,
                                 window_cm1=(options["from_cm1"], top))
    comparison.write(ctx.path("peaks.txt"))
    bands = {name: tuple(window) for name, window in options["bands"].items()}
    checked = band_check(finite_T, harmonic, bands, fwhm_cm1=fwhm,
                         tolerance_fraction=options["band_tolerance_fraction"])
    temperature = ctx.protocol["md"]["temperature_K"]
    curves = [(finite_T, f"MD, {temperature:g} K"), (harmonic, "harmonic, 0 K")]
    title = ctx.protocol["system"]["title"] or "IR spectra"
    plot_spectra(curves, ctx.path("spectra.png"), xlim=(0.0, top),
                 title=f"{title}: MD at {temperature:g} K vs harmonic")
    for name, window in bands.items():
        plot_spectra(curves, ctx.path(f"spectra_{name}.png"), xlim=window,
                     title=f"{title}: {name}")
    results = dict(
        bands=checked,
        peaks=dict(harmonic_cm1=comparison.harmonic_cm1, finite_T_cm1=comparison.finite_T_cm1,
                   area_ratio=comparison.area_ratio,
                   unmatched_harmonic_cm1=comparison.unmatched_harmonic_cm1,
                   unmatched_finite_T_cm1=comparison.unmatched_finite_T_cm1),
        unit=finite_T.unit,
    )
    line = "; ".join(
        f"{name} MD {b['md']['centroid_cm1']:.0f} vs harmonic {b['harmonic']['centroid_cm1']:.0f} "
        f"cm⁻¹ ({'agree' if b['agree'] else 'DISAGREE'})" for name, b in checked.items()) or \
        "matched peaks (harmonic -> MD): " + ", ".join(
            f"{h:.0f} -> {f:.0f}" for h, f in zip(comparison.harmonic_cm1,
                                                  comparison.finite_T_cm1))
    return results, line


# ----------------------------------------------------------------------------
# the protocol


def _options(protocol, *names):
    return {name: protocol[name] for name in names if name in protocol}


def build_steps(protocol):
    """The :class:`~ase_dipole.workflow.engine.Step` s of a protocol, in order."""
    system = protocol["system"]
    structure_options = {k: v for k, v in system.items() if k not in ("title", "supercell")}
    input_files = {}
    if not system["structure"].startswith("collection:"):  # the file's content, not its place
        input_files["structure"] = system["structure"]
        structure_options["structure"] = os.path.basename(system["structure"])
    steps = [Step("structure", "structure" + (" (relaxed)" if system["relax_fmax_eV_A"] else ""),
                  structure_options, _step_structure, input_files=input_files,
                  outputs=(STRUCTURE_NAME,))]
    data_steps = []
    if "data" in protocol:
        steps.append(Step("data", "labelled reference data", {}, _step_data,
                          input_files={"data file": protocol["data"]["file"]},
                          outputs=(DATA_NAME,)))
        data_steps = ["data"]
    elif "sample" in protocol:
        select = protocol["select"]
        model_file = {"selection model": select["model"]} if select["model"] else {}
        steps += [
            Step("sample", "thermostatted sampling",
                 dict(protocol["sample"], calculator=system["calculator"]),
                 _step_sample, uses=("structure",), outputs=(SAMPLED_NAME,)),
            Step("select", "frame selection", {k: v for k, v in select.items() if k != "model"},
                 _step_select, uses=("sample",), input_files=model_file,
                 outputs=(SELECTED_NAME,)),
            Step("label", "reference labels (dipoles, Born charges)", protocol["label"],
                 _step_label, uses=("select",), outputs=(LABELLED_NAME,)),
        ]
        data_steps = ["label"]
    fit = protocol["fit"]
    if fit["fixed_charges"] is not None:
        files = {"fixed charges": fit["fixed_charges"]}
        if fit["fixed_charges_structure"] is not None:
            files["fixed charges structure"] = fit["fixed_charges_structure"]
        steps.append(Step("fit", "Born charges held fixed", dict(supercell=system["supercell"]),
                          _step_fit_fixed, uses=("structure",), input_files=files,
                          outputs=(MODEL_NAME,)))
    else:
        outputs = [MODEL_NAME, "parity_born_charges.csv", "parity_born_charges.png"]
        if fit["learning_curve_sizes"]:
            outputs += ["learning_curve.csv", "learning_curve.png"]
        steps.append(Step("fit", "fit the polarization model",
                          {k: v for k, v in fit.items() if not k.startswith("fixed_charges")},
                          _step_fit, uses=tuple(data_steps), outputs=tuple(outputs),
                          optional_outputs=("parity_dipole.csv", "parity_dipole.png")))
    if "md" in protocol:
        steps.append(Step("md", "NVE molecular dynamics logging Ṗ",
                          dict(protocol["md"], calculator=system["calculator"],
                               supercell=system["supercell"]),
                          _step_md, uses=("structure", "fit"), outputs=md_logs(protocol["md"]),
                          workdir=MD_DIR))
    if "spectrum" in protocol:
        steps.append(Step("spectrum", "Green–Kubo IR spectrum", protocol["spectrum"],
                          _step_spectrum, uses=("md",),
                          outputs=("spectrum_md.csv", "spectrum_md.png")))
    if "harmonic" in protocol:
        steps.append(Step("harmonic", "harmonic IR spectrum (phonopy)",
                          dict(protocol["harmonic"], calculator=system["calculator"],
                               **_options(protocol, "spectrum")),
                          _step_harmonic, uses=("structure", "fit"),
                          outputs=("harmonic_modes.txt", "spectrum_harmonic.csv")))
    if "compare" in protocol:
        bands = tuple(f"spectra_{name}.png" for name in protocol["compare"]["bands"])
        steps.append(Step("compare", "finite-T against harmonic spectrum",
                          dict(protocol["compare"], **_options(protocol, "spectrum")),
                          _step_compare, uses=("spectrum", "harmonic"),
                          outputs=("peaks.txt", "spectra.png") + bands))
    return steps


def plan_protocol(protocol, outdir, *, force=False):
    """What :func:`run_protocol` would do, without running anything.

    Returns
    -------
    list of str
        One line per step (up to date / runs / reruns because ...).
    """
    engine = Engine(outdir, force=force, stream=None)
    return engine.describe(engine.plan(build_steps(protocol)))


def run_protocol(protocol, outdir, *, force=False, cluster=None, threads=None,
                 stream=sys.stderr, command=None):
    """Run a protocol into ``outdir``: every step not already up to date.

    Parameters
    ----------
    protocol : ase_dipole.workflow.protocol.Protocol
        From :func:`ase_dipole.workflow.protocol.load_protocol`.
    outdir : str or path-like
        Output folder (created).
    force : bool, keyword-only
        Rerun every step.
    cluster : dict, keyword-only, optional
        ``workers``/``scheduler``/``slurm_jobs``/``slurm_options`` over the
        protocol's ``[cluster]`` (and ``connect_timeout_s``, s).
    threads : int, keyword-only, optional
        Threads of numba, BLAS and OpenMP inside the run (``None``: as set
        by the environment).
    stream : file or None, keyword-only
        Progress lines.
    command : str, keyword-only, optional
        Command line recorded as provenance.

    Returns
    -------
    ProtocolResult
    """
    from ase_dipole.workflow.summary import format_summary

    outdir = os.fspath(outdir)
    engine = Engine(outdir, force=force, stream=stream, command=command)
    start = time.perf_counter()
    where = dict(protocol.get("cluster") or {})
    where.update({k: v for k, v in (cluster or {}).items() if v})
    steps = build_steps(protocol)
    engine.say(f"ase-dipole {__version__}: protocol {protocol.source} -> {outdir}")
    with contextlib.ExitStack() as stack, limit_threads(threads):
        context = _Context(engine, protocol, where, stack)
        plan = engine.run(steps, context=context)
    reused = tuple(entry.step.name for entry in plan if entry.action == "skip")
    elapsed = time.perf_counter() - start
    summary_path = engine.path(SUMMARY_NAME)
    write_text_atomic(summary_path, format_summary(protocol, engine.records, plan, outdir,
                                                   elapsed_s=elapsed))
    engine.say(f"      wrote {summary_path}; done in {elapsed:.1f} s")
    return ProtocolResult(outdir=outdir, summary_path=summary_path, plan=plan,
                          results={name: record["results"] for name, record in
                                   engine.records.items()},
                          reused=reused, elapsed_s=elapsed)
