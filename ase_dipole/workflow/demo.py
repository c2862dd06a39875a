"""The water-dimer demo: from reference data to a finite-temperature IR spectrum.

:func:`run_demo` walks through the whole method of Schmiedmayer & Kresse
(2024, Sec. II.F, with GFN2-xTB in place of RPBE-D3) in two to three minutes
on two cores, writing CSV tables, PNG figures and ``summary.txt`` into one folder:

1. ``data``: the shipped GFN2-xTB water-dimer set (1000 dipoles, 150 Born
   charges, paper protocol, ``ase_dipole/data/water_dimer_gfn2.extxyz.gz``),
   or with ``regenerate=True`` a small fresh one (:func:`make_water_dimer_set`).
2. ``fit``: a sparse :class:`ase_dipole.learning.model.PolarizationModel` fitted on Z*
   only (``born_train``), tested on the held-out half of the set (the
   paper's validation half: dipoles of ``dipole_test`` and ``born_test``, Z*
   of ``born_test``); parity plots.
3. ``learning_curve``: the Z*-only learning curve
   (:func:`ase_dipole.learning.learning_curve.learning_curve`, a few training sizes).
4. ``harmonic``: the dimer relaxed with GFN2-xTB (tblite, BFGS), finite
   displacement force constants (phonopy), Z* from the fitted model, the 0 K
   harmonic spectrum (cross-section per dimer, Gaussian lines of the MD width).
5. ``md``: the paper's IR protocol (:func:`ase_dipole.dynamics.md.run_ir_md`):
   Langevin-drawn starts, then NVE runs with GFN2-xTB forces logging Ṗ.
6. ``spectra``: the Green–Kubo spectrum (:func:`ase_dipole.spectra.green_kubo.ir_spectrum`),
   the overlay with the harmonic one, the peak table
   (:func:`ase_dipole.spectra.compare.compare_spectra`) and the band check: the
   water bend and O–H stretch bands of the MD spectrum must lie where the
   harmonic spectrum puts them.
7. ``summary``: ``summary.txt``.

Every step writes its outputs and a marker ``steps/<step>.json`` holding its
parameters (with the digests of the steps it uses and the ase-dipole
version), results and wall time. A
rerun with the same parameters reuses finished steps; ``force=True`` redoes
them. An interrupted MD step resumes where it stopped.

The temperature is 100 K, inside the 10–320 K range of the reference data.
NVE trajectories of a six-atom system started from a canonical ensemble
scatter widely in temperature (12 internal degrees of freedom, about ±40 %):
in a test at 150 K one of four trajectories ran at 230 K and stretched the
O–O distance to 4.2 Å, and two swapped hydrogen-bond donor and acceptor; at
100 K all of eight kept their hydrogen bond (O–O ≤ 3.3 Å), so the MD samples
the basin whose harmonic spectrum it is compared with. The dimer still
rotates freely, which gives its MD bands a rotational envelope that harmonic
lines lack. The NVE time step
is 0.5 fs with normal hydrogen masses: velocity Verlet shifts a line at ν̃ up
by about (2πcν̃Δt)²/24, +0.5 % (≈ 18 cm⁻¹) for the O–H stretch and +0.1 % for
the bend.

The dimer has six atoms: thread start-up costs more than the work, and on a
busy machine OpenMP, BLAS and numba threads make tblite, the fit and the
λ-SOAP kernels 10–100× slower, so the demo runs single-threaded
(:func:`serial_threads`).
"""

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import sys
import time
import warnings

import numpy as np

from ase_dipole import __version__
from ase_dipole.io.extxyz import get_born_charges, get_dipole

DEFAULT_OUTDIR = "ase-dipole-demo"
#: the shipped GFN2-xTB water-dimer reference set (examples/water_dimer/make_dataset.py)
DATA_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                         "water_dimer_gfn2.extxyz.gz")
SPLITS = ("dipole_train", "dipole_test", "born_train", "born_test")
#: bands checked against the harmonic spectrum, cm⁻¹
BANDS_CM1 = {"bend": (1300.0, 1900.0), "stretch": (3000.0, 4000.0)}
#: harmonic modes below this are the free rotations and translations of the dimer, cm⁻¹
ROTATION_MAX_CM1 = 50.0
#: MD and harmonic peaks are compared above this; below it the rotational band of
#: the freely rotating dimer, with no harmonic counterpart, dominates the MD spectrum, cm⁻¹
COMPARE_FROM_CM1 = 300.0
MARKER_DIR = "steps"
DATA_NAME = "reference_data.extxyz.gz"
MODEL_NAME = "model.json"
RELAXED_NAME = "relaxed_dimer.extxyz"
MD_DIR = "md"
INSTALL_HINT = "pip install 'ase-dipole[reference]'"
#: indices of the two oxygens in the S22 'Water_dimer' (donor first)
OXYGENS = (0, 3)


@dataclasses.dataclass(frozen=True)
class DemoParameters:
    """Parameters of the demo (the defaults are the full demo, :data:`QUICK`
    the one-minute smoke version).

    Attributes
    ----------
    temperature_K : float
        MD temperature, K.
    timestep_fs : float
        MD time step (sampling and NVE), fs.
    n_trajectories : int
        Independent NVE trajectories.
    equilibration_steps, decorrelation_steps : int
        Langevin steps before the first start and between starts.
    production_steps : int
        NVE steps per trajectory.
    interval : int
        MD steps between logged Ṗ rows.
    fwhm_cm1 : float
        Line width (FWHM, cm⁻¹) of both spectra: the Gaussian window of the
        Green–Kubo transform and the Gaussian lines of the harmonic spectrum.
    max_wavenumber_cm1 : float
        Upper end of the spectra, cm⁻¹.
    band_tolerance_fraction : float
        A band agrees when the MD and harmonic centroids differ by at most
        ``fwhm_cm1 + band_tolerance_fraction × ν̃_harmonic`` (resolution plus
        anharmonic and integrator shifts).
    n_references : int
        Reference environments per species of the sparse model (farthest
        point sampling, as the paper).
    learning_curve_sizes : tuple of int
        Numbers of Z* training frames of the learning curve.
    relax_fmax_eV_A : float
        Force criterion of the BFGS relaxation, eV/Å.
    vacuum_A : float
        Vacuum around the relaxed dimer in its (non-periodic) box, Å.
    displacement_A : float
        Finite displacement of the force constants, Å.
    regenerate_steps, regenerate_dipoles, regenerate_born_train, regenerate_born_test : int
        Size of a regenerated reference set (:func:`make_water_dimer_set`).
    seed : int
        Seed of the MD and of a regenerated set.
    """

    temperature_K: float = 100.0
    timestep_fs: float = 0.5
    n_trajectories: int = 12
    equilibration_steps: int = 2000
    decorrelation_steps: int = 1000
    production_steps: int = 10000
    interval: int = 2
    fwhm_cm1: float = 20.0
    max_wavenumber_cm1: float = 4500.0
    band_tolerance_fraction: float = 0.01
    n_references: int = 100
    learning_curve_sizes: tuple = (5, 10, 20, 50, 100)
    relax_fmax_eV_A: float = 1e-4
    vacuum_A: float = 8.0
    displacement_A: float = 0.01
    regenerate_steps: int = 20000
    regenerate_dipoles: int = 400
    regenerate_born_train: int = 60
    regenerate_born_test: int = 30
    seed: int = 0


#: the full demo (two to three minutes on two cores, 12 × 5 ps of MD)
FULL = DemoParameters()
#: the smoke version (well under a minute): 2 × 2 ps of MD resolved at 50 cm⁻¹
QUICK = DemoParameters(
    n_trajectories=2, equilibration_steps=400, decorrelation_steps=200, production_steps=4000,
    fwhm_cm1=50.0, learning_curve_sizes=(5, 10, 20), regenerate_steps=3000,
    regenerate_dipoles=60, regenerate_born_train=12, regenerate_born_test=6,
)


@dataclasses.dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    outdir : str
        Output folder.
    summary_path : str
        ``summary.txt``.
    files : dict
        Output name -> path of every table and figure.
    results : dict
        Step name -> the results recorded in its marker.
    reused : tuple of str
        Steps reused from an earlier run.
    elapsed_s : float
        Wall time of this call, s.
    """

    outdir: str
    summary_path: str
    files: dict
    results: dict
    reused: tuple
    elapsed_s: float


# ----------------------------------------------------------------------------
# step bookkeeping


def _normalise(value):
    """JSON round trip: tuples become lists, numpy scalars plain numbers."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a step marker")


def _write_json(path, record):
    temporary = path + ".part"
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


class _Steps:
    """Runs the demo steps, each at most once per set of parameters."""

    def __init__(self, outdir, *, n_steps, force, stream):
        self.outdir = outdir
        self.n_steps = n_steps
        self.force = force
        self.stream = stream
        self.index = 0
        self.records = {}
        self.reused = []
        self.cache = {}
        os.makedirs(os.path.join(outdir, MARKER_DIR), exist_ok=True)

    def say(self, line):
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def path(self, name):
        return os.path.join(self.outdir, name)

    def digest(self, name):
        return self.records[name]["digest"]

    def run(self, name, title, parameters, outputs, function, *, workdir=None):
        """Run ``function() -> (results, line)`` unless a finished marker with
        the same ``parameters`` exists and every file of ``outputs`` (names
        relative to the output folder) is there.

        ``workdir`` (a folder name) holds partial work that a restart with the
        same parameters continues; it is removed when the parameters changed
        or ``force`` is set.
        """
        self.index += 1
        head = f"[{self.index}/{self.n_steps}] {title}"
        marker = os.path.join(self.outdir, MARKER_DIR, f"{name}.json")
        parameters = _normalise(dict(parameters, ase_dipole_version=__version__))
        previous = None
        if os.path.exists(marker):
            with open(marker) as handle:
                previous = json.load(handle)
        same = previous is not None and previous.get("parameters") == parameters
        if (same and not self.force and previous.get("status") == "done"
                and all(os.path.exists(self.path(f)) for f in outputs)):
            self.records[name] = previous
            self.reused.append(name)
            self.say(f"{head}: up to date, reused (took {previous['elapsed_s']:.1f} s)")
            return previous["results"]
        if workdir is not None and (self.force or (previous is not None and not same)):
            shutil.rmtree(self.path(workdir), ignore_errors=True)
        self.say(f"{head} ...")
        record = dict(step=name, status="running", parameters=parameters,
                      ase_dipole_version=__version__,
                      date=datetime.datetime.now().isoformat(timespec="seconds"))
        _write_json(marker, record)
        start = time.perf_counter()
        results, line = function()
        record.update(status="done", results=_normalise(results), outputs=list(outputs),
                      elapsed_s=time.perf_counter() - start)
        record["digest"] = hashlib.sha256(
            json.dumps([parameters, record["results"]], sort_keys=True).encode()
        ).hexdigest()
        _write_json(marker, record)
        self.records[name] = record
        self.say(f"      done in {record['elapsed_s']:.1f} s: {line}")
        return record["results"]


# ----------------------------------------------------------------------------
# threads and optional dependencies


@contextlib.contextmanager
def serial_threads():
    """Run numba kernels, OpenMP code (tblite) and BLAS on one thread,
    restoring the previous thread counts afterwards.

    The OpenMP and BLAS pools are limited through ``threadpoolctl``, which
    acts on the libraries already loaded, and numba's OpenMP layer resets the
    OpenMP thread count when it starts, so the owners of thread pools (numba's
    layer, scipy's BLAS, tblite) are loaded first.
    """
    import numba
    import scipy.linalg  # noqa: F401  (scipy's own BLAS)
    from threadpoolctl import threadpool_limits

    with contextlib.suppress(ImportError):
        import tblite.ase  # noqa: F401  (OpenMP)
    previous = numba.get_num_threads()  # starts numba's threading layer
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(previous)


def _tblite_calculator():
    """GFN2-xTB (tblite) as an ASE calculator, or an ImportError saying
    which extra to install."""
    try:
        from tblite.ase import TBLite
    except ImportError:
        raise ImportError(
            f"the demo needs tblite for GFN2-xTB forces and reference data: {INSTALL_HINT}"
        ) from None
    return TBLite(method="GFN2-xTB", verbosity=0)


def _water_dimer():
    """The S22 water dimer (MP2 geometry; oxygens at :data:`OXYGENS`)."""
    from ase.collections import s22

    return s22["Water_dimer"].copy()


# ----------------------------------------------------------------------------
# reference data


def make_water_dimer_set(path, *, n_steps=20000, n_dipole=400, n_born_train=60,
                         n_born_test=30, timestep_fs=1.5, temperatures_K=(10.0, 320.0),
                         hydrogen_mass_amu=8.0, friction_per_fs=0.01, seed=0,
                         stream=sys.stderr):
    """Generate a water-dimer reference set with GFN2-xTB (paper protocol).

    As in Schmiedmayer & Kresse (2024, Sec. II.F): a Langevin heating run of
    the dimer in vacuum (one oxygen fixed, hydrogen mass 8 u, 1.5 fs steps,
    friction 10 ps⁻¹) from 10 K to 320 K; a flat-bottom harmonic O–O wall
    beyond 4 Å (ASE ``Hookean``, 5 eV/Å²) keeps the GFN2-xTB dimer bound near
    320 K. ``n_dipole`` uniformly spaced frames get GFN2-xTB dipoles, and
    ``n_born_train + n_born_test`` uniformly spaced ones of them also Born
    charges (:func:`ase_dipole.reference.label_frames`). Dipole frames
    alternate ``dipole_train`` (even positions) / ``dipole_test`` (odd); Z*
    training frames sit at even, Z* test frames at odd positions, so a test
    frame is never trained on.

    Parameters
    ----------
    path : str or path-like
        Output extended XYZ (``.gz`` compresses). Frames carry
        ``info['dipole']`` (e·Å), ``info['split']``, ``info['reference']``
        and, for Z* frames, the per-atom ``born_charges`` (N, 9), e. Masses
        are the normal ones.
    n_steps : int
        Langevin steps.
    n_dipole, n_born_train, n_born_test : int
        Frames with dipoles; of these, Z* training and test frames
        (``n_born_train + n_born_test <= n_dipole / 2``).
    timestep_fs : float
        Langevin time step, fs.
    temperatures_K : (float, float)
        Start and end of the linear temperature ramp, K.
    hydrogen_mass_amu : float
        Hydrogen mass of the sampling run, amu.
    friction_per_fs : float
        Langevin friction, 1/fs.
    seed : int
        Seed of the initial velocities and the thermostat noise.
    stream : file or None
        Progress lines.

    Returns
    -------
    list of ase.Atoms
        The labelled frames, in time order.
    """
    import ase.io
    from ase import Atoms, units
    from ase.constraints import FixAtoms, Hookean
    from ase.md.langevin import Langevin

    from ase_dipole.dynamics.md import _thermalize
    from ase_dipole.progress import Progress
    from ase_dipole.reference import label_frames

    n_born = n_born_train + n_born_test
    if not (0 < n_born_test and 0 < n_born_train and n_born <= n_dipole // 2
            and n_dipole <= n_steps):
        raise ValueError(
            f"need n_born_train ({n_born_train}) > 0, n_born_test ({n_born_test}) > 0, "
            f"n_born_train + n_born_test <= n_dipole/2 ({n_dipole // 2}) and "
            f"n_dipole <= n_steps ({n_steps})"
        )
    atoms = _water_dimer()
    atoms.calc = _tblite_calculator()
    masses = atoms.get_masses()
    masses[atoms.numbers == 1] = hydrogen_mass_amu
    atoms.set_masses(masses)
    atoms.set_constraint([Hookean(a1=OXYGENS[0], a2=OXYGENS[1], rt=4.0, k=5.0),
                          FixAtoms(indices=[OXYGENS[0]])])
    rng = np.random.default_rng(seed)
    low, high = temperatures_K
    _thermalize(atoms, low, rng)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=low,
                   friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    dyn.attach(lambda: dyn.set_temperature(
        temperature_K=low + (high - low) * dyn.nsteps / n_steps), interval=10)
    every = n_steps // n_dipole
    frames = []
    dyn.attach(lambda: frames.append(Atoms(atoms.get_chemical_symbols(),
                                           positions=atoms.positions.copy())), interval=every)
    bar = Progress(n_steps, "reference MD", stream=stream)
    bar.attach(dyn)
    dyn.run(n_steps)
    bar.update(n_steps)
    frames = frames[1:n_dipole + 1]  # the first is the MP2 start

    test = np.zeros(n_born, dtype=bool)  # uniformly spaced among the Z* frames
    test[np.round((np.arange(n_born_test) + 0.5) * n_born / n_born_test - 0.5).astype(int)] = True
    centres = (np.arange(n_born) + 0.5) * len(frames) / n_born
    born_index = 2 * np.floor((centres - test) / 2).astype(int) + test  # parity = role
    split = np.where(np.arange(len(frames)) % 2 == 0, "dipole_train", "dipole_test").astype(object)
    split[born_index] = np.where(test, "born_test", "born_train")
    has_born = np.zeros(len(frames), dtype=bool)
    has_born[born_index] = True
    labelled = [None] * len(frames)
    for indices, born in ((np.flatnonzero(~has_born), False), (np.flatnonzero(has_born), True)):
        done = label_frames([frames[k] for k in indices], method="gfn2", born_charges=born,
                            progress=stream is not None)
        for k, frame in zip(indices, done):
            labelled[k] = frame
    for frame, name in zip(labelled, split):
        frame.info["split"] = str(name)
    ase.io.write(os.fspath(path), labelled, format="extxyz")
    return labelled


def read_reference_set(path):
    """Read a reference set and group its frames by ``info['split']``.

    Parameters
    ----------
    path : str or path-like
        Extended XYZ (optionally ``.gz``) in the convention of
        :mod:`ase_dipole.io.extxyz`.

    Returns
    -------
    dict
        Split name (:data:`SPLITS`) -> list of ase.Atoms.
    """
    import ase.io

    frames = ase.io.read(os.fspath(path), ":", format="extxyz")
    groups = {name: [] for name in SPLITS}
    for k, frame in enumerate(frames):
        name = frame.info.get("split")
        if name not in groups:
            raise ValueError(
                f"frame {k} of '{path}' has info['split'] = {name!r}; use one of {SPLITS}"
            )
        groups[name].append(frame)
    missing = [name for name, members in groups.items() if not members]
    if missing:
        raise ValueError(f"'{path}' has no {missing} frames; the demo needs all of {SPLITS}")
    for name, members in groups.items():
        for k, frame in enumerate(members):
            if get_dipole(frame) is None:
                raise ValueError(f"'{path}': {name} frame {k} has no dipole")
            if name.startswith("born") and get_born_charges(frame) is None:
                raise ValueError(f"'{path}': {name} frame {k} has no born_charges")
    return groups


# ----------------------------------------------------------------------------
# bands


def band_position(spectrum, window_cm1):
    """Position and area of a band of a spectrum.

    Parameters
    ----------
    spectrum : ase_dipole.spectra.green_kubo.IRSpectrum
    window_cm1 : (float, float)
        Wavenumber range of the band, cm⁻¹.

    Returns
    -------
    dict
        ``centroid_cm1`` (∫ν̃ I dν̃ / ∫ I dν̃ over the window), ``maximum_cm1``
        (the highest point) and ``area`` (∫ I dν̃, unit of the spectrum × cm⁻¹).
    """
    x = np.asarray(spectrum.wavenumber_cm1)
    y = np.asarray(spectrum.intensity)
    keep = (x >= window_cm1[0]) & (x <= window_cm1[1])
    if keep.sum() < 3:
        raise ValueError(f"the spectrum has fewer than 3 points in {window_cm1} cm⁻¹")
    x, y = x[keep], y[keep]
    area = np.trapezoid(y, x)
    return dict(centroid_cm1=float(np.trapezoid(x * y, x) / area),
                maximum_cm1=float(x[np.argmax(y)]), area=float(area))


def band_check(finite_T, harmonic, *, fwhm_cm1, tolerance_fraction, bands=None):
    """Compare the bands of a finite-temperature and a harmonic spectrum.

    Parameters
    ----------
    finite_T, harmonic : ase_dipole.spectra.green_kubo.IRSpectrum
        Spectra in the same unit.
    fwhm_cm1 : float
        Line width of both spectra, cm⁻¹.
    tolerance_fraction : float
        Relative part of the tolerance: a band agrees when the centroids
        differ by at most ``fwhm_cm1 + tolerance_fraction × ν̃_harmonic``.
    bands : dict, optional
        Name -> (low, high) window in cm⁻¹; default :data:`BANDS_CM1`.

    Returns
    -------
    dict
        Band name -> dict with ``md`` and ``harmonic`` (see
        :func:`band_position`), ``shift_cm1`` (MD − harmonic centroid),
        ``tolerance_cm1``, ``area_ratio`` (MD / harmonic) and ``agree``.
    """
    result = {}
    for name, window in (BANDS_CM1 if bands is None else bands).items():
        md = band_position(finite_T, window)
        reference = band_position(harmonic, window)
        tolerance = fwhm_cm1 + tolerance_fraction * reference["centroid_cm1"]
        shift = md["centroid_cm1"] - reference["centroid_cm1"]
        result[name] = dict(window_cm1=list(window), md=md, harmonic=reference,
                            shift_cm1=shift, tolerance_cm1=tolerance,
                            area_ratio=md["area"] / reference["area"],
                            agree=bool(abs(shift) <= tolerance))
    return result


# ----------------------------------------------------------------------------
# steps


def _step_data(steps, p, regenerate):
    target = steps.path(DATA_NAME)
    if regenerate:
        make_water_dimer_set(
            target, n_steps=p.regenerate_steps, n_dipole=p.regenerate_dipoles,
            n_born_train=p.regenerate_born_train, n_born_test=p.regenerate_born_test,
            seed=p.seed, stream=steps.stream,
        )
        source = "regenerated with GFN2-xTB (make_water_dimer_set)"
    else:
        if not os.path.isfile(DATA_FILE):
            raise FileNotFoundError(
                f"the shipped water-dimer set {DATA_FILE} is missing; reinstall ase-dipole or "
                "run the demo with --regenerate (needs tblite)"
            )
        shutil.copyfile(DATA_FILE, target)
        source = f"shipped {os.path.basename(DATA_FILE)}"
    groups = _reference_groups(steps)
    counts = {name: len(frames) for name, frames in groups.items()}
    reference = groups["born_train"][0].info.get("reference", "unknown method")
    results = dict(source=source, reference=reference, counts=counts,
                   sha256=_file_sha256(target))
    line = f"{source}: " + ", ".join(f"{n} {name}" for name, n in counts.items())
    return results, line


def _step_fit(steps, p):
    from ase_dipole.learning.model import PolarizationModel, rmspe
    from ase_dipole.spectra.plot import plot_parity

    groups = _reference_groups(steps)
    model = PolarizationModel(n_references=p.n_references)
    model.fit(groups["born_train"], targets="born", progress=steps.stream is not None)
    model.save(steps.path(MODEL_NAME))
    test = _test_frames(groups)
    dipole_reference = np.array([get_dipole(frame) for frame in test])
    dipole_predicted = np.array([model.predict_dipole(frame) for frame in test])
    test = groups["born_test"]
    born_reference = np.array([get_born_charges(frame) for frame in test])
    born_predicted = np.array([model.predict(frame)[1] for frame in test])
    _write_parity_csv(steps.path("parity_dipole.csv"), dipole_reference, dipole_predicted,
                      columns=("frame", "alpha"), unit="e*A")
    _write_parity_csv(steps.path("parity_born_charges.csv"), born_reference, born_predicted,
                      columns=("frame", "atom", "alpha", "beta"), unit="e")
    plot_parity(dipole_reference, dipole_predicted, steps.path("parity_dipole.png"),
                label="dipole μ (held-out half)", unit="e·Å")
    plot_parity(born_reference, born_predicted, steps.path("parity_born_charges.png"),
                label="Z* (born_test)", unit="e")
    results = dict(
        n_train=len(groups["born_train"]), n_references=p.n_references,
        n_dipole_test=len(dipole_reference), n_born_test=len(born_reference),
        regularization=model.regularization, model_sha256=model.sha256,
        dipole_rmspe=rmspe(dipole_predicted, dipole_reference),
        dipole_rmse_eA=float(np.sqrt(np.mean((dipole_predicted - dipole_reference) ** 2))),
        born_rmspe=rmspe(born_predicted, born_reference),
        born_rmse_e=float(np.sqrt(np.mean((born_predicted - born_reference) ** 2))),
    )
    line = (f"held-out RMSPE: dipole {100 * results['dipole_rmspe']:.2f} %, "
            f"Z* {100 * results['born_rmspe']:.2f} %")
    return results, line


def _step_learning_curve(steps, p):
    from ase_dipole.learning.learning_curve import learning_curve

    groups = _reference_groups(steps)
    curve = learning_curve({"born": groups["born_train"]}, _test_frames(groups),
                           sizes=p.learning_curve_sizes,
                           parameters=dict(n_references=p.n_references))
    curve.write_csv(steps.path("learning_curve.csv"))
    curve.plot(steps.path("learning_curve.png"), title="water dimer, GFN2-xTB: held-out RMSPE")
    results = dict(sizes=[row["n_train"] for row in curve.rows],
                   dipole_rmspe=[row["rmspe_dipole"] for row in curve.rows],
                   born_rmspe=[row["rmspe_born_charges"] for row in curve.rows])
    line = ", ".join(f"{n}: Z* {100 * e:.1f} %"
                     for n, e in zip(results["sizes"], results["born_rmspe"]))
    return results, line


def _test_frames(groups):
    """The held-out half of the set (odd positions, the paper's validation
    half): dipoles of ``dipole_test`` and ``born_test``, Z* of ``born_test``."""
    return groups["dipole_test"] + groups["born_test"]


def _write_parity_csv(path, reference, predicted, *, columns, unit):
    """One row per component: its indices, the reference and the prediction."""
    index = np.indices(reference.shape).reshape(reference.ndim, -1).T
    table = np.column_stack([index, reference.ravel(), predicted.ravel()])
    header = ",".join([*columns, f"reference_{unit}", f"predicted_{unit}"])
    fmt = ["%d"] * len(columns) + ["%.8f", "%.8f"]
    np.savetxt(path, table, delimiter=",", header=header, comments="", fmt=fmt)


def _reference_groups(steps):
    """The reference set of the output folder by split, read once per run."""
    if "groups" not in steps.cache:
        steps.cache["groups"] = read_reference_set(steps.path(DATA_NAME))
    return steps.cache["groups"]


def _file_sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _relaxed_dimer(calculator, p):
    """The S22 dimer relaxed with ``calculator`` (BFGS), centred in a
    non-periodic box with ``p.vacuum_A`` of vacuum."""
    from ase.optimize import BFGS

    atoms = _water_dimer()
    atoms.calc = calculator
    optimizer = BFGS(atoms, logfile=None)
    if not optimizer.run(fmax=p.relax_fmax_eV_A, steps=1000):
        raise RuntimeError(
            f"the water dimer did not relax to fmax {p.relax_fmax_eV_A} eV/Å in 1000 BFGS steps "
            f"(max force {np.abs(atoms.get_forces()).max():.2e} eV/Å)"
        )
    energy = atoms.get_potential_energy()
    atoms.calc = None
    atoms.center(vacuum=p.vacuum_A)
    atoms.pbc = False
    return atoms, optimizer.nsteps, energy


def _step_harmonic(steps, p, model):
    import ase.io

    from ase_dipole.spectra.harmonic import HarmonicIR, phonopy_from_calculator

    calculator = _tblite_calculator()
    atoms, n_relax, energy = _relaxed_dimer(calculator, p)
    ase.io.write(steps.path(RELAXED_NAME), atoms, format="extxyz")
    phonon = phonopy_from_calculator(atoms, calculator, displacement_A=p.displacement_A,
                                     symmetry=False, log=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        harmonic = HarmonicIR(phonon, model).run()
    harmonic.write_peaks(steps.path("harmonic_modes.txt"))
    grid = np.arange(0.0, p.max_wavenumber_cm1 + 0.5, 1.0)
    spectrum = harmonic.spectrum(grid, fwhm_cm1=p.fwhm_cm1, lineshape="gaussian", periodic=False)
    spectrum.write_csv(steps.path("spectrum_harmonic.csv"))
    frequencies = np.asarray(harmonic.frequencies_cm1)
    vibrations = frequencies > ROTATION_MAX_CM1
    results = dict(
        relax_steps=n_relax, energy_eV=energy,
        frequencies_cm1=frequencies[vibrations],
        intensities_km_mol=np.asarray(harmonic.intensities_km_mol)[vibrations],
        n_low_modes=int((~vibrations).sum()),
        asr_violation_e=float(np.abs(harmonic.asr_violation).max()),
        warnings=[str(w.message) for w in caught],
    )
    line = "vibrations at " + ", ".join(f"{f:.0f}" for f in frequencies[vibrations]) + " cm⁻¹"
    return results, line


def _step_md(steps, p):
    import ase.io

    from ase_dipole.dynamics.md import run_ir_md

    start = time.perf_counter()
    logs = run_ir_md(
        ase.io.read(steps.path(RELAXED_NAME)), _tblite_calculator(), steps.path(MODEL_NAME),
        steps.path(MD_DIR), temperature_K=p.temperature_K, timestep_fs=p.timestep_fs,
        n_trajectories=p.n_trajectories, equilibration_steps=p.equilibration_steps,
        decorrelation_steps=p.decorrelation_steps, production_steps=p.production_steps,
        interval=p.interval, seed=p.seed, progress=steps.stream,
    )
    elapsed = time.perf_counter() - start
    n_steps = (p.equilibration_steps + (p.n_trajectories - 1) * p.decorrelation_steps
               + p.n_trajectories * p.production_steps)
    duration_ps = p.production_steps * p.timestep_fs / 1000.0
    results = dict(logs=[os.path.relpath(log, steps.outdir) for log in logs],
                   duration_ps=duration_ps, total_ps=duration_ps * p.n_trajectories,
                   ms_per_step=1e3 * elapsed / n_steps)
    line = (f"{p.n_trajectories} × {duration_ps:g} ps NVE at {p.temperature_K:g} K "
            f"({results['ms_per_step']:.2f} ms per MD step)")
    return results, line


def _step_spectra(steps, p, md_results):
    from ase_dipole.spectra.compare import compare_spectra
    from ase_dipole.spectra.plot import plot_spectra
    from ase_dipole.spectra.green_kubo import ir_spectrum, read_spectrum_csv

    finite_T = ir_spectrum([steps.path(log) for log in md_results["logs"]],
                           fwhm_cm1=p.fwhm_cm1, max_wavenumber_cm1=p.max_wavenumber_cm1)
    finite_T.write_csv(steps.path("spectrum_md.csv"))
    harmonic = read_spectrum_csv(steps.path("spectrum_harmonic.csv"))
    comparison = compare_spectra(finite_T, harmonic, max_shift_cm1=2 * p.fwhm_cm1 + 40.0,
                                 window_cm1=(COMPARE_FROM_CM1, p.max_wavenumber_cm1))
    comparison.write(steps.path("peaks.txt"))
    bands = band_check(finite_T, harmonic, fwhm_cm1=p.fwhm_cm1,
                       tolerance_fraction=p.band_tolerance_fraction)
    curves = [(finite_T, f"MD, {p.temperature_K:g} K (GFN2-xTB + model Ṗ)"),
              (harmonic, "harmonic, 0 K (phonopy + model Z*)")]
    title = f"water dimer, GFN2-xTB: MD at {p.temperature_K:g} K vs harmonic"
    plot_spectra(curves, steps.path("spectra.png"),
                 xlim=(0.0, min(4000.0, p.max_wavenumber_cm1)), title=title)
    for name, window in BANDS_CM1.items():
        plot_spectra(curves, steps.path(f"spectra_{name}.png"), xlim=window,
                     title=f"{title}: {name}")
    results = dict(
        bands=bands,
        peaks=dict(harmonic_cm1=comparison.harmonic_cm1, finite_T_cm1=comparison.finite_T_cm1,
                   area_ratio=comparison.area_ratio,
                   unmatched_harmonic_cm1=comparison.unmatched_harmonic_cm1,
                   unmatched_finite_T_cm1=comparison.unmatched_finite_T_cm1),
        unit=finite_T.unit,
    )
    line = "; ".join(
        f"{name} MD {b['md']['centroid_cm1']:.0f} vs harmonic {b['harmonic']['centroid_cm1']:.0f} "
        f"cm⁻¹ ({'agree' if b['agree'] else 'DISAGREE'})" for name, b in bands.items())
    return results, line


# ----------------------------------------------------------------------------
# summary


def _format_summary(p, records, outdir, files, reused):
    data = records["data"]["results"]
    fit = records["fit"]["results"]
    curve = records["learning_curve"]["results"]
    harmonic = records["harmonic"]["results"]
    md = records["md"]["results"]
    spectra = records["spectra"]["results"]
    lines = [
        f"ase-dipole {__version__} demo: water dimer, GFN2-xTB "
        f"({datetime.datetime.now().isoformat(timespec='seconds')})",
        "",
        "Reference data",
        f"  {data['source']} ({data['reference']})",
        "  frames: " + ", ".join(f"{n} {name}" for name, n in data["counts"].items()),
        "",
        f"Model: trained on Born charges only ({fit['n_train']} born_train frames)",
        f"  held-out dipole RMSPE  {100 * fit['dipole_rmspe']:6.2f} %  "
        f"(RMSE {fit['dipole_rmse_eA']:.4f} e·Å over {fit['n_dipole_test']} frames: "
        "dipole_test + born_test, the paper's validation half)",
        f"  held-out Z* RMSPE      {100 * fit['born_rmspe']:6.2f} %  "
        f"(RMSE {fit['born_rmse_e']:.4f} e over {fit['n_born_test']} born_test frames)",
        "  RMSPE = RMSE / standard deviation of the test set (paper Fig. 1: about 1 % for the",
        "  dipole and 3 % for Z* with 100 Z* training frames, RPBE-D3)",
        "  learning curve (Z* only):  n_train  dipole RMSPE  Z* RMSPE",
        *(f"  {n:32d}  {100 * d:10.2f} %  {100 * z:6.2f} %" for n, d, z in
          zip(curve["sizes"], curve["dipole_rmspe"], curve["born_rmspe"])),
        "",
        f"Harmonic (relaxed dimer, {harmonic['relax_steps']} BFGS steps, phonopy, model Z*)",
        "  vibrations (cm⁻¹, km/mol): " + ", ".join(
            f"{f:.0f} ({i:.0f})" for f, i in zip(harmonic["frequencies_cm1"],
                                                 harmonic["intensities_km_mol"])),
        f"  ({harmonic['n_low_modes']} modes below {ROTATION_MAX_CM1:g} cm⁻¹: free rotations "
        "and translations of the dimer)",
        f"  max |Σ_i Z*_i| (acoustic sum rule) {harmonic['asr_violation_e']:.1e} e",
        "",
        f"MD: {p.n_trajectories} NVE trajectories × {md['duration_ps']:g} ps at "
        f"{p.temperature_K:g} K, {p.timestep_fs:g} fs steps, Ṗ logged every {p.interval} steps;",
        f"  starts drawn from one Langevin run (first after {p.equilibration_steps} steps, then "
        f"every {p.decorrelation_steps}); {md['ms_per_step']:.2f} ms per MD step",
        "",
        f"Spectra: cross-section per dimer ({spectra['unit']}), Gaussian lines of "
        f"{p.fwhm_cm1:g} cm⁻¹ FWHM",
        "  band     window_cm1    MD_centroid  harm_centroid  shift  tolerance  "
        "MD_max  harm_max  area_MD/harm  agree",
    ]
    for name, b in spectra["bands"].items():
        lines.append(
            f"  {name:<8} {b['window_cm1'][0]:4.0f}-{b['window_cm1'][1]:4.0f}  "
            f"{b['md']['centroid_cm1']:11.1f}  {b['harmonic']['centroid_cm1']:13.1f}  "
            f"{b['shift_cm1']:+5.1f}  {b['tolerance_cm1']:9.1f}  {b['md']['maximum_cm1']:6.0f}  "
            f"{b['harmonic']['maximum_cm1']:8.0f}  {b['area_ratio']:12.3f}  "
            f"{'yes' if b['agree'] else 'NO'}"
        )
    agree = all(b["agree"] for b in spectra["bands"].values())
    lines += [
        f"  tolerance = FWHM + {100 * p.band_tolerance_fraction:g} % of the harmonic centroid "
        "(resolution plus anharmonic and Verlet shifts)",
        "  => the MD bands " + ("agree with" if agree else "DO NOT agree with")
        + " the harmonic ones within the tolerance",
        "  Band areas agree in the harmonic limit (docs/conventions.md) up to the sampling noise of a",
        "  few NVE trajectories; peak heights do not: the MD lines carry the rotational",
        "  envelope of the freely rotating dimer and anharmonic dephasing on top of the",
        "  window width.",
        "  matched peaks (harmonic -> MD, cm⁻¹): " + ", ".join(
            f"{h:.0f} -> {f:.0f}" for h, f in zip(spectra["peaks"]["harmonic_cm1"],
                                                  spectra["peaks"]["finite_T_cm1"])),
        "",
        "Steps (wall time, s)",
    ]
    for name, record in records.items():
        tag = " (reused)" if name in reused else ""
        lines.append(f"  {name:<15} {record['elapsed_s']:7.1f}{tag}")
    lines += ["", f"Files in {outdir}:"]
    lines += [f"  {os.path.relpath(path, outdir)}" for path in files.values()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# the demo


#: output name -> file, relative to the output folder
FILES = {
    "reference data": DATA_NAME,
    "model": MODEL_NAME,
    "Z* parity table": "parity_born_charges.csv",
    "dipole parity table": "parity_dipole.csv",
    "Z* parity figure": "parity_born_charges.png",
    "dipole parity figure": "parity_dipole.png",
    "learning curve table": "learning_curve.csv",
    "learning curve figure": "learning_curve.png",
    "relaxed dimer": RELAXED_NAME,
    "harmonic modes": "harmonic_modes.txt",
    "harmonic spectrum": "spectrum_harmonic.csv",
    "MD spectrum": "spectrum_md.csv",
    "peak table": "peaks.txt",
    "spectra figure": "spectra.png",
    "bend band figure": "spectra_bend.png",
    "stretch band figure": "spectra_stretch.png",
    "summary": "summary.txt",
}
STEP_OUTPUTS = {
    "data": [DATA_NAME],
    "fit": [MODEL_NAME, "parity_born_charges.csv", "parity_dipole.csv",
            "parity_born_charges.png", "parity_dipole.png"],
    "learning_curve": ["learning_curve.csv", "learning_curve.png"],
    "harmonic": [RELAXED_NAME, "harmonic_modes.txt", "spectrum_harmonic.csv"],
    "md": [MD_DIR],
    "spectra": ["spectrum_md.csv", "peaks.txt", "spectra.png", "spectra_bend.png",
                "spectra_stretch.png"],
}


def demo_parameters(*, quick=False, **overrides):
    """The demo's parameters: :data:`FULL` or :data:`QUICK` with overrides.

    Raises
    ------
    ValueError
        For an unknown parameter name.
    """
    base = QUICK if quick else FULL
    known = [f.name for f in dataclasses.fields(DemoParameters)]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown demo parameter(s) {unknown}; use some of {known}")
    return dataclasses.replace(base, **overrides)


def run_demo(outdir=DEFAULT_OUTDIR, *, quick=False, regenerate=False, force=False,
             stream=sys.stderr, **overrides):
    """Run the water-dimer demo (see the module docstring) into ``outdir``.

    Parameters
    ----------
    outdir : str or path-like
        Output folder (created); default ``ase-dipole-demo``.
    quick : bool, keyword-only
        The smoke version (:data:`QUICK`): 2 × 2 ps of MD, 50 cm⁻¹ lines.
    regenerate : bool, keyword-only
        Generate a small fresh GFN2-xTB reference set instead of using the
        shipped one.
    force : bool, keyword-only
        Redo every step even when a finished marker matches.
    stream : file or None, keyword-only
        Progress lines and MD progress bars (default stderr).
    **overrides
        Fields of :class:`DemoParameters` (e.g. ``temperature_K=200``,
        ``n_trajectories=8``).

    Returns
    -------
    DemoResult
    """
    p = demo_parameters(quick=quick, **overrides)
    outdir = os.fspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    steps = _Steps(outdir, n_steps=7, force=force, stream=stream)
    start = time.perf_counter()
    steps.say(f"ase-dipole {__version__} demo ({'quick' if quick else 'full'}) -> {outdir}")
    with serial_threads():
        data_parameters = dict(regenerate=bool(regenerate))
        if regenerate:
            data_parameters.update(
                steps=p.regenerate_steps, dipoles=p.regenerate_dipoles,
                born_train=p.regenerate_born_train, born_test=p.regenerate_born_test, seed=p.seed)
        steps.run("data", "reference data", data_parameters, STEP_OUTPUTS["data"],
                  lambda: _step_data(steps, p, regenerate))
        steps.run("fit", "fit the model on Born charges only",
                  dict(data=steps.digest("data"), n_references=p.n_references),
                  STEP_OUTPUTS["fit"], lambda: _step_fit(steps, p))
        steps.run("learning_curve", "learning curve (Z* only)",
                  dict(data=steps.digest("data"), n_references=p.n_references,
                       sizes=p.learning_curve_sizes),
                  STEP_OUTPUTS["learning_curve"],
                  lambda: _step_learning_curve(steps, p))
        from ase_dipole.dynamics.calculator import load_model

        model = load_model(steps.path(MODEL_NAME))
        steps.run("harmonic", "relax, phonopy force constants, harmonic spectrum",
                  dict(fit=steps.digest("fit"), fwhm_cm1=p.fwhm_cm1,
                       max_wavenumber_cm1=p.max_wavenumber_cm1, relax_fmax_eV_A=p.relax_fmax_eV_A,
                       vacuum_A=p.vacuum_A, displacement_A=p.displacement_A),
                  STEP_OUTPUTS["harmonic"], lambda: _step_harmonic(steps, p, model))
        md_fields = ("temperature_K", "timestep_fs", "n_trajectories", "equilibration_steps",
                     "decorrelation_steps", "production_steps", "interval", "seed")
        md_results = steps.run(
            "md", "NVE molecular dynamics (GFN2-xTB forces, model Ṗ)",
            dict(fit=steps.digest("fit"), relax_fmax_eV_A=p.relax_fmax_eV_A, vacuum_A=p.vacuum_A,
                 **{name: getattr(p, name) for name in md_fields}),
            STEP_OUTPUTS["md"], lambda: _step_md(steps, p), workdir=MD_DIR)
        steps.run("spectra", "IR spectra and the band check",
                  dict(md=steps.digest("md"), harmonic=steps.digest("harmonic"),
                       fwhm_cm1=p.fwhm_cm1, max_wavenumber_cm1=p.max_wavenumber_cm1,
                       band_tolerance_fraction=p.band_tolerance_fraction),
                  STEP_OUTPUTS["spectra"], lambda: _step_spectra(steps, p, md_results))
    files = {name: steps.path(path) for name, path in FILES.items()}
    summary_path = files["summary"]
    steps.index += 1
    steps.say(f"[{steps.index}/{steps.n_steps}] summary")
    text = _format_summary(p, steps.records, outdir, files, steps.reused)
    with open(summary_path, "w") as handle:
        handle.write(text)
    elapsed = time.perf_counter() - start
    steps.say(f"      wrote {summary_path}; demo done in {elapsed:.1f} s")
    return DemoResult(outdir=outdir, summary_path=summary_path, files=files,
                      results={name: record["results"] for name, record in steps.records.items()},
                      reused=tuple(steps.reused), elapsed_s=elapsed)
