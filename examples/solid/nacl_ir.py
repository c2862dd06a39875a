"""Harmonic (0 K) and finite-temperature IR spectra of rocksalt NaCl.

Spectra on one absolute scale, α(ν̃)n(ν̃) in cm⁻¹:

1. VASP harmonic: Γ modes from the phonopy example's FORCE_SETS (VASP PBE)
   with the Born charges of its BORN file (:class:`ase_dipole.spectra.harmonic.HarmonicIR`).
2. CHGNet harmonic: the same with force constants from the pretrained CHGNet
   potential at its own relaxed lattice constant (phonopy finite
   displacements through the ASE calculator), at phonopy's usual 0.01 Å
   displacement and at the thermal rms displacement of the MD; a scan of the
   displacement amplitude shows how much the CHGNet result depends on it.
3. CHGNet MD at ``--temperature-K``: Langevin sampling, then NVE runs of the
   2×2×2 conventional supercell (64 atoms) logging Ṗ = Σ_i Z*_i v_i
   (:func:`ase_dipole.dynamics.md.run_ir_md`), with the BORN tensors held fixed per
   atom (:class:`ase_dipole.learning.fixed_charges.FixedChargesModel`), and the
   Green–Kubo spectrum (:func:`ase_dipole.spectra.green_kubo.ir_spectrum`).

The harmonic lines get the Gaussian shape that the MD time window gives (same
FWHM), so a harmonic crystal would reproduce them exactly. The script checks
the sum rule of docs/conventions.md: every spectrum integrates to
π/(6Vcε0) Σ_i Tr(Z*_i Z*_iᵀ)/m_i over ω, i.e. to
Σ_i Tr(Z*_i Z*_iᵀ)/m_i / (12 V ε0 c²) over ν̃.

Run ``python nacl_ir.py`` (about 10–20 min on 2 cores) or
``python nacl_ir.py --quick`` (smoke run of about a minute: 8-atom cell, one
short trajectory, broad lines). Needs ``pip install chgnet`` (and a CPU
torch; see README.md). Results go to ``results/`` (``results_quick/``); the
MD working files to ``work/`` (``work_quick/``), from which a killed run
resumes.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import replace

import ase
import ase.io
import numpy as np
import phonopy
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import ase_dipole
from ase_dipole.spectra.compare import compare_spectra
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.spectra.harmonic import HarmonicIR, load_phonopy, phonopy_from_calculator
from ase_dipole.dynamics.md import run_ir_md
from ase_dipole.spectra.plot import plot_spectra
from ase_dipole.spectra.green_kubo import ir_spectrum, minimum_duration_fs
from ase_dipole.units import AMU_KG, C_M_PER_S, E_C, EPS0_SI

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
A3_M3 = 1e-30  # [m³ / Å³]
PER_M2_TO_PER_CM2 = 1e-4  # [cm⁻² / m⁻²]
CHGNET_MODEL = "0.3.0"
PHONOPY_DISPLACEMENT_A = 0.01  # [Å] phonopy's default finite displacement
SCAN_DISPLACEMENTS_A = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)  # [Å]
PLOT_MAX_CM1 = 450.0  # [cm⁻¹] NaCl absorbs below ~300 cm⁻¹
COMPARE_WINDOW_CM1 = (20.0, PLOT_MAX_CM1)  # [cm⁻¹]

FULL = dict(supercell=2, fwhm_cm1=20.0, n_trajectories=4, equilibration_fs=1000.0,
            decorrelation_fs=500.0, production_fs=4000.0)
QUICK = dict(supercell=1, fwhm_cm1=60.0, n_trajectories=1, equilibration_fs=100.0,
             decorrelation_fs=0.0, production_fs=1100.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke run of about a minute: 8-atom cell, one 1.1 ps trajectory, "
                        f"fwhm {QUICK['fwhm_cm1']:g} cm^-1")
    parser.add_argument("--temperature-K", type=float, default=300.0, help="MD temperature (K)")
    parser.add_argument("--timestep-fs", type=float, default=4.0,
                        help="MD time step (fs); 4 fs keeps the NVE energy within 0.1 meV/atom")
    parser.add_argument("--seed", type=int, default=20240607, help="seed of velocities and thermostat")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on 2 shared cores)")
    parser.add_argument("--outdir", help="results directory (default results/ or results_quick/)")
    parser.add_argument("--workdir", help="MD working directory (default work/ or work_quick/)")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        setattr(args, name, value)
    suffix = "_quick" if args.quick else ""
    args.outdir = args.outdir or os.path.join(HERE, "results" + suffix)
    args.workdir = args.workdir or os.path.join(HERE, "work" + suffix)
    if args.production_fs < minimum_duration_fs(args.fwhm_cm1):
        parser.error(f"production {args.production_fs} fs is shorter than the window "
                     f"{minimum_duration_fs(args.fwhm_cm1):.0f} fs for fwhm {args.fwhm_cm1} cm^-1")
    return args


def make_chgnet(threads):
    """The pretrained CHGNet (weights shipped in the wheel) on the CPU."""
    try:
        import torch
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError as error:
        raise SystemExit(f"this example needs CHGNet: pip install chgnet (CPU torch first, see "
                         f"README.md); import failed: {error}") from None
    torch.set_num_threads(threads)
    # chgnet's graph code emits a torch UserWarning at every call; it is harmless.
    warnings.filterwarnings("ignore", category=UserWarning, module="chgnet")
    model = CHGNet.load(model_name=CHGNET_MODEL, use_device="cpu", verbose=False)
    return CHGNetCalculator(model=model, use_device="cpu"), torch.__version__


def relax_cubic(atoms, calculator, *, fmax_eV_A=1e-4):
    """Relax the lattice constant (cubic symmetry kept) with ``calculator``."""
    relaxed = atoms.copy()
    relaxed.calc = calculator
    optimizer = BFGS(FrechetCellFilter(relaxed, hydrostatic_strain=True), logfile=None)
    optimizer.run(fmax=fmax_eV_A, steps=200)
    relaxed.calc = None
    return relaxed


def chgnet_harmonic(relaxed, calculator, supercell, displacement_A):
    """Γ modes of CHGNet by phonopy finite displacements ±``displacement_A`` (Å),
    with the BORN Z* (acoustic sum rule imposed)."""
    with warnings.catch_warnings():
        # primitive_matrix='auto' is passed on purpose (the FCC primitive cell).
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
        phonon = phonopy_from_calculator(relaxed, calculator, supercell_matrix=[supercell] * 3,
                                         primitive_matrix="auto",
                                         displacement_A=displacement_A, log=None)
    return HarmonicIR(phonon, os.path.join(DATA, "BORN"), asr=True).run()


def to_frequency_cm1(harmonic):
    """TO frequency (cm⁻¹): mean over the modes weighted by |Z̃_ν|² (only the
    triply degenerate TO carries IR intensity; signed if imaginary)."""
    return float(np.average(harmonic.frequencies_cm1, weights=harmonic.intensities))


def sum_rule_cm2(born_charges, masses_amu, volume_A3):
    """∫ α n dν̃ (cm⁻²) of a crystal with fixed Z*, for any T and dynamics.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3), e
    masses_amu : ndarray, shape (N,), amu
    volume_A3 : float
        Volume of the N atoms, Å³.

    Returns
    -------
    float
        Σ_i Tr(Z*_i Z*_iᵀ)/m_i / (12 V ε0 c²): the sum rule of docs/conventions.md
        π/(6Vcε0) Σ_i Tr(Z*_i Z*_iᵀ)/m_i (over ω) divided by 2πc.
    """
    total_e2_amu = np.einsum("iab,iab,i->", born_charges, born_charges, 1.0 / masses_amu)
    return _e2_amu_to_cm2(total_e2_amu, volume_A3)


def modes_sum_cm2(harmonic):
    """Σ_ν |Z̃_ν|² over the active modes, on the scale of :func:`sum_rule_cm2` (cm⁻²)."""
    return _e2_amu_to_cm2(harmonic.intensities[harmonic.active].sum(), harmonic.volume_A3)


def _e2_amu_to_cm2(total_e2_amu, volume_A3):
    total_si = total_e2_amu * E_C**2 / AMU_KG
    return total_si / (12.0 * volume_A3 * A3_M3 * EPS0_SI * C_M_PER_S**2) * PER_M2_TO_PER_CM2


def per_atom_charges(harmonic, supercell):
    """Z* (N, 3, 3) of every supercell atom from the primitive-cell Z* of ``harmonic``.

    Every species of rocksalt sits on one Wyckoff site, so the tensor is a
    function of the chemical symbol.
    """
    by_symbol = {}
    for symbol, tensor in zip(harmonic.atoms.get_chemical_symbols(), harmonic.born_charges):
        if symbol in by_symbol and not np.allclose(by_symbol[symbol], tensor):
            raise ValueError(f"{symbol} has two inequivalent Z* tensors; map them by site instead")
        by_symbol[symbol] = np.array(tensor)
    return np.array([by_symbol[s] for s in supercell.get_chemical_symbols()])


def start_states(workdir, n_trajectories, reference):
    """Kinetic temperature (K) of each NVE start and the rms Cartesian
    displacement (Å) of its atoms from the lattice sites (mean shift removed)."""
    temperatures, displacements = [], []
    for k in range(n_trajectories):
        start = ase.io.read(os.path.join(workdir, f"start_{k:03d}.traj"))
        shift = start.get_positions() - reference.get_positions()
        shift -= shift.mean(axis=0)
        temperatures.append(float(start.get_temperature()))
        displacements.append(shift)
    return temperatures, float(np.sqrt(np.mean(np.square(displacements))))


def time_force_call(atoms, calculator, *, repeats=10):
    """Wall time (s) of one energy + forces call of ``calculator`` on ``atoms``."""
    probe = atoms.copy()
    probe.calc = calculator
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(repeats):
        probe.positions = atoms.positions + rng.normal(scale=0.05, size=(len(atoms), 3))
        probe.get_forces()
    return (time.perf_counter() - start) / repeats


def peak_position_cm1(spectrum, window_cm1=COMPARE_WINDOW_CM1):
    """Wavenumber (cm⁻¹) of the highest point in ``window_cm1``, refined by the
    vertex of the parabola through it and its two grid neighbours."""
    x, y = spectrum.wavenumber_cm1, spectrum.intensity
    inside = np.flatnonzero((x >= window_cm1[0]) & (x <= window_cm1[1]))
    k = inside[np.argmax(y[inside])]
    left, centre, right = y[k - 1], y[k], y[k + 1]
    step = x[k + 1] - x[k]
    return float(x[k] + 0.5 * step * (left - right) / (left - 2.0 * centre + right))


def cut(spectrum, max_cm1):
    """``spectrum`` restricted to ν̃ ≤ ``max_cm1``."""
    keep = spectrum.wavenumber_cm1 <= max_cm1
    return replace(spectrum, wavenumber_cm1=spectrum.wavenumber_cm1[keep],
                   intensity=spectrum.intensity[keep], error=spectrum.error[keep])


def plot_scan(scan, *, vasp_cm1, md_cm1, rms_displacement_A, temperature_K, path):
    """TO frequency of CHGNet against the finite-displacement amplitude."""
    figure = Figure(figsize=(5.6, 3.6))
    axes = figure.add_subplot()
    amplitudes, frequencies = np.array(scan).T
    axes.semilogx(amplitudes, frequencies, "o-", label="CHGNet, phonopy ±u")
    axes.axhline(vasp_cm1, color="k", ls="--", lw=1, label="VASP harmonic (phonopy example)")
    for k, peak in enumerate(md_cm1):
        axes.axhline(peak, color="C3", ls=":", lw=1.5,
                     label=f"CHGNet MD {temperature_K:g} K peak" if k == 0 else None)
    axes.axvline(rms_displacement_A, color="C2", lw=1, label=f"MD rms displacement {temperature_K:g} K")
    axes.set_xlabel("finite displacement u (Å)")
    axes.set_ylabel(r"TO frequency (cm$^{-1}$)")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=150)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)

    def out(name):
        return os.path.join(args.outdir, name)

    timings = {}
    clock = time.perf_counter()

    # 1. VASP harmonic: the phonopy example's FORCE_SETS and BORN.
    phonon_vasp = load_phonopy(os.path.join(DATA, "phonopy_disp.yaml"),
                               force_sets=os.path.join(DATA, "FORCE_SETS"))
    vasp = HarmonicIR(phonon_vasp, os.path.join(DATA, "BORN"), asr=True).run()
    vasp.write_peaks(out("peaks_harmonic_vasp.txt"))
    timings["harmonic_vasp_s"] = time.perf_counter() - clock
    print(f"VASP harmonic TO: {to_frequency_cm1(vasp):.2f} cm^-1", flush=True)

    # 2. CHGNet: lattice constant, then harmonic Γ modes at phonopy's usual displacement.
    calculator, torch_version = make_chgnet(args.threads)
    clock = time.perf_counter()
    unitcell = ase.io.read(os.path.join(DATA, "POSCAR-unitcell"))
    relaxed = relax_cubic(unitcell, calculator)
    a_vasp, a_chgnet = unitcell.cell.lengths()[0], relaxed.cell.lengths()[0]
    print(f"lattice constant: VASP {a_vasp:.4f} A, CHGNet {a_chgnet:.4f} A", flush=True)
    chgnet = chgnet_harmonic(relaxed, calculator, args.supercell, PHONOPY_DISPLACEMENT_A)
    chgnet.write_peaks(out("peaks_harmonic_chgnet_0.01A.txt"))
    timings["relax_and_harmonic_chgnet_s"] = time.perf_counter() - clock
    print(f"CHGNet harmonic TO (±{PHONOPY_DISPLACEMENT_A} A): {to_frequency_cm1(chgnet):.2f} cm^-1",
          flush=True)

    # 3. CHGNet MD, Z* held fixed at the (sum-rule corrected) BORN values.
    supercell = relaxed.repeat(args.supercell)
    born = per_atom_charges(vasp, supercell)
    model = FixedChargesModel(born, reference_positions=supercell.get_positions(),
                              symbols=supercell.get_chemical_symbols())
    steps = {name: int(round(getattr(args, name + "_fs") / args.timestep_fs))
             for name in ("equilibration", "decorrelation", "production")}
    timings["supercell_force_call_s"] = time_force_call(supercell, calculator)
    timings["md_resumed"] = os.path.exists(os.path.join(args.workdir, "run.json"))
    clock = time.perf_counter()
    logs = run_ir_md(supercell, calculator, model, args.workdir,
                     temperature_K=args.temperature_K, timestep_fs=args.timestep_fs,
                     n_trajectories=args.n_trajectories,
                     equilibration_steps=steps["equilibration"],
                     decorrelation_steps=steps["decorrelation"],
                     production_steps=steps["production"], interval=1, seed=args.seed)
    timings["md_s"] = time.perf_counter() - clock
    timings["md_steps"] = (steps["equilibration"] + (args.n_trajectories - 1) * steps["decorrelation"]
                           + args.n_trajectories * steps["production"])
    timings["md_s_per_step"] = timings["md_s"] / timings["md_steps"]
    start_temperatures, rms_displacement = start_states(args.workdir, args.n_trajectories, supercell)

    # 4. CHGNet at the thermal amplitude, and the scan over displacement amplitudes.
    clock = time.perf_counter()
    thermal = chgnet_harmonic(relaxed, calculator, args.supercell, rms_displacement)
    thermal.write_peaks(out("peaks_harmonic_chgnet_thermal_amplitude.txt"))
    with warnings.catch_warnings():
        # tiny displacements give imaginary TO modes; the scan records them as negative
        warnings.filterwarnings("ignore", message=".*imaginary modes at")
        scan = [(u, to_frequency_cm1(chgnet_harmonic(relaxed, calculator, args.supercell, u)))
                for u in SCAN_DISPLACEMENTS_A]
    np.savetxt(out("chgnet_displacement_scan.txt"), scan, fmt="%10.4f",
               header=f"CHGNet TO frequency from phonopy +-u finite displacements, "
               f"{len(supercell)}-atom supercell (negative: imaginary)\ndisplacement_A  TO_cm1")
    timings["chgnet_displacement_scan_s"] = time.perf_counter() - clock

    # 5. Spectra on one grid and absolute scale; Gaussian lines of the MD window's FWHM.
    full_band = ir_spectrum(logs, temperature_K=args.temperature_K, fwhm_cm1=args.fwhm_cm1,
                            max_wavenumber_cm1=None)
    md = cut(full_band, PLOT_MAX_CM1)
    grid = md.wavenumber_cm1
    line = dict(fwhm_cm1=args.fwhm_cm1, lineshape="gaussian")
    curves = {
        f"CHGNet MD {args.temperature_K:g} K, Z* fixed": ("md", md),
        f"CHGNet harmonic, ±{rms_displacement:.3f} Å (MD rms)": (
            "harmonic_chgnet_thermal_amplitude", thermal.spectrum(grid, **line)),
        f"CHGNet harmonic, ±{PHONOPY_DISPLACEMENT_A} Å": (
            "harmonic_chgnet_0.01A", chgnet.spectrum(grid, **line)),
        "VASP harmonic (phonopy example)": ("harmonic_vasp", vasp.spectrum(grid, **line)),
    }
    for stem, spectrum in curves.values():
        spectrum.write_csv(out(f"spectrum_{stem}.csv"))
    spectra = {label: spectrum for label, (_, spectrum) in curves.items()}
    plot_spectra(spectra, out("nacl_ir.png"), xlim=(0.0, PLOT_MAX_CM1),
                 title=f"NaCl IR, {len(supercell)} atoms, fwhm {args.fwhm_cm1:g} cm$^{{-1}}$")

    comparisons = {}
    for stem, spectrum in list(curves.values())[1:]:
        comparison = compare_spectra(md, spectrum, window_cm1=COMPARE_WINDOW_CM1, prominence=0.1,
                                     max_shift_cm1=80.0)
        comparison.write(out(f"compare_md_vs_{stem}.txt"))
        comparisons[stem] = comparison
    md_peaks = [float(x) for x in comparisons["harmonic_vasp"].finite_T_cm1]
    per_trajectory = [peak_position_cm1(ir_spectrum(log, temperature_K=args.temperature_K,
                                                    fwhm_cm1=args.fwhm_cm1,
                                                    max_wavenumber_cm1=PLOT_MAX_CM1))
                      for log in logs]
    plot_scan(scan, vasp_cm1=to_frequency_cm1(vasp), md_cm1=md_peaks,
              rms_displacement_A=rms_displacement, temperature_K=args.temperature_K,
              path=out("chgnet_displacement_scan.png"))

    # 6. Sum rule: every curve integrates to Σ_i Tr(Z*_i Z*_iᵀ)/m_i / (12 V ε0 c²).
    # (per volume: the VASP cell is 0.3 % smaller than CHGNet's, so its area is 0.3 % larger)
    expected = sum_rule_cm2(born, supercell.get_masses(), supercell.get_volume())
    expected_vasp = sum_rule_cm2(vasp.born_charges, vasp.atoms.get_masses(), vasp.volume_A3)
    summary = dict(
        parameters={k: v for k, v in vars(args).items() if k not in ("outdir", "workdir")},
        versions=dict(ase_dipole=ase_dipole.__version__, ase=ase.__version__,
                      phonopy=phonopy.__version__, numpy=np.__version__, torch=torch_version,
                      chgnet_model=CHGNET_MODEL, python=platform.python_version()),
        lattice_constant_A=dict(vasp=float(a_vasp), chgnet=float(a_chgnet)),
        born_charges_e={s: float(born[supercell.get_chemical_symbols().index(s)][0, 0])
                        for s in sorted(set(supercell.get_chemical_symbols()))},
        to_cm1=dict(vasp_harmonic=to_frequency_cm1(vasp),
                    chgnet_harmonic_0p01A=to_frequency_cm1(chgnet),
                    chgnet_harmonic_thermal_amplitude=to_frequency_cm1(thermal),
                    md_peaks=md_peaks,
                    md_peak_refined=peak_position_cm1(md),
                    md_peak_per_trajectory=per_trajectory,
                    md_peak_standard_error=(float(np.std(per_trajectory, ddof=1)
                                                  / np.sqrt(len(per_trajectory)))
                                            if len(per_trajectory) > 1 else None),
                    harmonic_peaks_refined={stem: peak_position_cm1(spectrum)
                                            for stem, spectrum in list(curves.values())[1:]}),
        chgnet_displacement_scan=dict(scan),
        md=dict(n_atoms=len(supercell), steps=steps, start_temperatures_K=start_temperatures,
                rms_displacement_A=rms_displacement),
        sum_rule_cm2=dict(
            expected=expected,
            expected_vasp_cell=expected_vasp,
            md_full_band=full_band.integral(),
            md_below_plot_max=md.integral(),
            **{stem: spectrum.integral() for stem, spectrum in list(curves.values())[1:]},
            vasp_modes=modes_sum_cm2(vasp),
            chgnet_modes=modes_sum_cm2(chgnet),
            # the MD area carries β⟨Ṗ²⟩: NVE runs at kinetic temperature T' give T'/T of it
            md_effective_temperature_K=args.temperature_K * full_band.integral() / expected,
        ),
        comparisons={stem: comparison.table() for stem, comparison in comparisons.items()},
        timings=timings,
    )
    with open(out("summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    report(summary)


def report(summary):
    """Print the headline numbers of ``summary``."""
    to, rule = summary["to_cm1"], summary["sum_rule_cm2"]
    print(f"TO frequency (cm^-1): VASP harmonic {to['vasp_harmonic']:.2f}; CHGNet harmonic "
          f"{to['chgnet_harmonic_0p01A']:.2f} (±0.01 A), {to['chgnet_harmonic_thermal_amplitude']:.2f} "
          f"(±{summary['md']['rms_displacement_A']:.3f} A, MD rms); CHGNet MD peak "
          + ", ".join(f"{x:.2f}" for x in to["md_peaks"])
          + f" (refined {to['md_peak_refined']:.2f}; per trajectory "
          + ", ".join(f"{x:.1f}" for x in to["md_peak_per_trajectory"]) + ")")
    print(f"sum rule (cm^-2): expected {rule['expected']:.6g}; MD {rule['md_full_band']:.6g} "
          f"(ratio {rule['md_full_band'] / rule['expected']:.4f}, i.e. T_kin "
          f"{rule['md_effective_temperature_K']:.1f} K; NVE starts "
          + ", ".join(f"{t:.0f}" for t in summary["md"]["start_temperatures_K"]) + " K); "
          f"CHGNet harmonic {rule['harmonic_chgnet_thermal_amplitude']:.6g}; VASP cell: expected "
          f"{rule['expected_vasp_cell']:.6g}, harmonic {rule['harmonic_vasp']:.6g}, modes "
          f"{rule['vasp_modes']:.6g}")
    print("timings (s): " + ", ".join(f"{k} {v:.3g}" for k, v in summary["timings"].items()
                                       if not isinstance(v, bool)))
    for table in summary["comparisons"].values():
        print(table, end="")


if __name__ == "__main__":
    sys.exit(main())
