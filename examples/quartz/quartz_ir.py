"""α-quartz end to end: QE-labelled Born charges → λ-SOAP model → CHGNet MD at
300 K → finite-temperature IR spectrum, against the harmonic spectrum and
against VASP Born charges.

Steps (each prints its numbers; everything goes to ``results/``):

1. Fit a Z*-only :class:`ase_dipole.PolarizationModel` on the QE (PBE)
   Born charges of ``data/quartz_qe_pbe_born.extxyz.gz`` (made by
   ``make_dataset.py``), holding out every ``--test-every``-th frame to
   measure the held-out Z* error; then refit on all frames for the rest.
2. Validate on a second, independent real source: the 40 VASP (LDA)
   OUTCARs of Phonopy-Spectroscopy's α-SiO2 example at Raman-mode-displaced
   geometries (``data/vasp_born_displaced.extxyz.gz``), with the QE-vs-VASP
   difference at the equilibrium structure (``results/qe_convergence.json``)
   as the floor set by functional and code.
3. Harmonic: CHGNet positions relaxed in the fixed VASP cell, phonopy finite
   displacements on a 2×2×2 supercell, the model's Z* written as BORN
   (:func:`ase_dipole.spectra.harmonic.write_born_from_model`), Γ modes and
   the harmonic spectrum (:class:`ase_dipole.spectra.harmonic.HarmonicIR`).
4. MD: the CHGNet NVE trajectories of ``md_chgnet.py`` (one Dask task per
   trajectory, 300 K, supercell), Ṗ = Σ Z*·v from the model
   (:func:`ase_dipole.dynamics.trajectory.log_from_trajectory`); the
   Green–Kubo spectrum and the comparison with the harmonic one
   (:func:`ase_dipole.spectra.compare.compare_spectra`).
"""

import argparse
import gzip
import json
import os
import platform
import sys
import time
import warnings

import ase
import ase.io
import numpy as np
import phonopy
from ase.constraints import FixSymmetry
from ase.optimize import BFGS

import ase_dipole
from ase_dipole import PolarizationModel
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.spectra.compare import compare_spectra
from ase_dipole.spectra.green_kubo import ir_spectrum
from ase_dipole.spectra.harmonic import HarmonicIR, phonopy_from_calculator, write_born_from_model
from ase_dipole.spectra.plot import plot_spectra

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", default=os.path.join(DATA, "quartz_qe_pbe_born.extxyz.gz"),
                        help="labelled training frames (extxyz.gz)")
    parser.add_argument("--test-every", type=int, default=4, help="hold out every k-th frame")
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--fwhm-cm1", type=float, default=30.0)
    parser.add_argument("--outdir", default=os.path.join(HERE, "results"))
    parser.add_argument("--workdir", default=os.path.join(HERE, "work", "md"))
    parser.add_argument("--phonons-only", action="store_true",
                        help="only relax with CHGNet and cache the phonopy force constants")
    return parser.parse_args(argv)


def read_gz(path):
    with gzip.open(path, "rt") as handle:
        return ase.io.read(handle, index=":", format="extxyz")


def born_errors(model, frames):
    """RMSE and mean absolute error of the model's Z* over ``frames``, e, plus
    the RMSE of the mean-per-species baseline (isotropic Z̄ of the model)."""
    predicted = np.concatenate([model.predict(atoms)[1] for atoms in frames])
    reference = np.concatenate([get_born_charges(atoms) for atoms in frames])
    baseline = np.concatenate([[np.eye(3) * model.mean_born_charges[s] for s in atoms.get_chemical_symbols()]
                               for atoms in frames])
    return {"rmse_e": float(np.sqrt(np.mean((predicted - reference) ** 2))),
            "mae_e": float(np.mean(np.abs(predicted - reference))),
            "baseline_rmse_e": float(np.sqrt(np.mean((baseline - reference) ** 2))),
            "reference_std_e": float(np.std(reference - reference.mean(axis=0))),
            "n_tensors": int(len(reference))}


def relax_positions(atoms, calculator, fmax_eV_A=1e-3):
    """Positions relaxed with ``calculator`` in the fixed cell, space group kept."""
    relaxed = atoms.copy()
    relaxed.set_constraint(FixSymmetry(relaxed))
    relaxed.calc = calculator
    BFGS(relaxed, logfile=None).run(fmax=fmax_eV_A, steps=300)
    relaxed.set_constraint()
    relaxed.calc = None
    return relaxed


def chgnet_phonons(workdir):
    """CHGNet-relaxed positions in the VASP cell and phonopy force constants
    (2×2×2 supercell, ±0.01 Å), cached in ``workdir``."""
    cache = os.path.join(workdir, "phonopy_chgnet.yaml")
    unitcell = ase.io.read(os.path.join(DATA, "POSCAR-vasp"))
    if not os.path.exists(cache):
        sys.path.insert(0, HERE)
        from chgnet_factory import make_calculator

        calculator = make_calculator()
        relaxed = relax_positions(unitcell, calculator)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
            phonon = phonopy_from_calculator(relaxed, calculator, supercell_matrix=[2, 2, 2],
                                             primitive_matrix="P", log=None)
        os.makedirs(workdir, exist_ok=True)
        phonon.save(cache + ".tmp", settings={"force_constants": True})
        os.replace(cache + ".tmp", cache)
    phonon = phonopy.load(cache, produce_fc=False, log_level=0)
    cell = phonon.unitcell
    relaxed = ase.Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                        pbc=True)
    shift_A = float(np.sqrt(np.mean((relaxed.positions - unitcell.positions) ** 2)))
    return phonon, relaxed, shift_A


def main(argv=None):
    args = parse(argv)
    if args.phonons_only:
        phonon, _, shift = chgnet_phonons(args.workdir)
        print(f"CHGNet phonons cached; relaxed positions moved {shift:.4f} A rms")
        return
    os.makedirs(args.outdir, exist_ok=True)
    timings, summary = {}, {}

    def out(name):
        return os.path.join(args.outdir, name)

    # 1. fit on QE Born charges, held-out error, then the model on all frames
    frames = read_gz(args.train)
    test = frames[args.test_every - 1::args.test_every]
    train = [f for k, f in enumerate(frames) if (k + 1) % args.test_every]
    clock = time.perf_counter()
    folds = min(5, len(frames))
    model = PolarizationModel(cv_folds=folds).fit(frames, targets="born", progress=False)
    timings["fit_s"] = time.perf_counter() - clock
    # held-out error: the same regularization (chosen by CV on all frames), fitted without the test frames
    held_out = PolarizationModel(regularization=model.regularization).fit(train, targets="born",
                                                                          progress=False)
    summary["qe_held_out"] = dict(born_errors(held_out, test), n_train=len(train), n_test=len(test))
    model.save(out("quartz.model"))
    summary["model"] = {"parameters": model.parameters, "n_frames": len(frames),
                        "mean_born_charges_e": model.mean_born_charges}
    print("QE held-out:", summary["qe_held_out"], flush=True)

    # 2. validation on the VASP (LDA) Born charges of 40 displaced structures
    vasp = read_gz(os.path.join(DATA, "vasp_born_displaced.extxyz.gz"))
    summary["vasp_displaced"] = born_errors(model, vasp)
    convergence_path = os.path.join(args.outdir, "qe_convergence.json")
    if os.path.exists(convergence_path):
        summary["qe_vs_vasp_equilibrium"] = {
            r["setting"]: {"rmse_e": r["rmse_vs_vasp_e"], "max_abs_e": r["max_abs_vs_vasp_e"]}
            for r in json.load(open(convergence_path))}
    print("VASP displaced:", summary["vasp_displaced"], flush=True)

    # 3. harmonic: CHGNet force constants (cached), the model's Z* as BORN
    clock = time.perf_counter()
    phonon, relaxed, shift_A = chgnet_phonons(args.workdir)
    epsilon = np.mean([np.asarray(f.info["epsilon"], dtype=float).reshape(3, 3) for f in frames], axis=0)
    summary["qe_epsilon_mean"] = epsilon.tolist()
    write_born_from_model(out("BORN-model"), relaxed, model, epsilon=epsilon)
    harmonic = HarmonicIR(phonon, out("BORN-model"), asr=True).run()
    harmonic.write_peaks(out("peaks_harmonic_model.txt"))
    timings["harmonic_s"] = time.perf_counter() - clock
    summary["relaxed_rms_shift_A"] = shift_A

    # 4. MD: the CHGNet NVE trajectories of md_chgnet.py (Dask tasks), Ṗ = Σ Z*·v from the model
    from ase_dipole.dynamics.trajectory import log_from_trajectory

    summary_path = os.path.join(args.workdir, "md_summary.json")
    md_summary = (json.load(open(summary_path)) if os.path.exists(summary_path) else
                  {"parameters": json.load(open(os.path.join(args.workdir, "md_parameters.json"))),
                   "trajectories": None, "note": "md_chgnet.py stopped early: partial trajectories"})
    timestep_fs = md_summary["parameters"]["timestep_fs"]
    clock = time.perf_counter()
    logs, used = [], []
    # finished trajectories, or the part written so far of one md_chgnet.py did not finish
    paths = [os.path.join(args.workdir, f"nve_{k:03d}.traj")
             for k in range(md_summary["parameters"]["n_trajectories"])]
    paths = [p if os.path.exists(p) else p + ".part" for p in paths]
    for k, path in enumerate(p for p in paths if os.path.exists(p)):
        frames_k = ase.io.read(path, index=":", format="traj")
        log = out(f"nve_{k:03d}.log")
        log_from_trajectory(frames_k, out("quartz.model"), log, timestep_fs=timestep_fs,
                            temperature_K=args.temperature_K, overwrite=True)
        logs.append(log)
        temperatures = [f.get_temperature() for f in frames_k]
        energies = [f.get_total_energy() for f in frames_k]
        used.append({"file": os.path.basename(path), "nve_steps": len(frames_k) - 1,
                     "mean_temperature_K": float(np.mean(temperatures)),
                     "energy_drift_eV_per_atom": float((energies[-1] - energies[0]) / len(frames_k[0]))})
    md_summary["used"] = used
    timings["dipole_logs_s"] = time.perf_counter() - clock
    timings["md"] = md_summary

    # 5. spectra on one grid, harmonic lines with the MD window's Gaussian shape
    md = ir_spectrum(logs, temperature_K=args.temperature_K, fwhm_cm1=args.fwhm_cm1,
                     max_wavenumber_cm1=1400.0)
    grid = md.wavenumber_cm1
    harmonic_spectrum = harmonic.spectrum(grid, fwhm_cm1=args.fwhm_cm1, lineshape="gaussian")
    md.write_csv(out("spectrum_md_300K.csv"))
    harmonic_spectrum.write_csv(out("spectrum_harmonic.csv"))
    plot_spectra({f"CHGNet MD {args.temperature_K:g} K, Z* from the model": md,
                  "harmonic (CHGNet phonopy, model BORN)": harmonic_spectrum},
                 out("quartz_ir.png"), xlim=(0.0, 1400.0),
                 title=f"α-quartz IR, {len(frames_k[0])} atoms, "
                       f"fwhm {args.fwhm_cm1:g} cm$^{{-1}}$")
    comparison = compare_spectra(md, harmonic_spectrum, window_cm1=(300.0, 1400.0),
                                 prominence=0.05, max_shift_cm1=60.0)
    comparison.write(out("compare_md_vs_harmonic.txt"))
    summary["comparison"] = comparison.table()
    summary["harmonic_active_modes_cm1"] = [float(f) for f in harmonic.frequencies_cm1[harmonic.active]]
    summary["md"] = md_summary
    summary["timings"] = timings
    summary["parameters"] = vars(args)
    summary["versions"] = dict(ase_dipole=ase_dipole.__version__, ase=ase.__version__,
                               phonopy=phonopy.__version__, numpy=np.__version__,
                               python=platform.python_version())
    with open(out("summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1, default=str)
    print(comparison.table())
    print(json.dumps(timings, indent=1))


if __name__ == "__main__":
    main()
