"""``ase-dipole harmonic``: 0 K harmonic IR spectrum from phonopy Γ modes and Z*."""

import json
import os
import sys

from ase_dipole.atomic import write_text_atomic
from ase_dipole.cli.options import add_mass_argument, masses_from_args
from ase_dipole.provenance import command_line, provenance

#: API keywords passed under another name: an error naming one names the option
keywords = {"primitive_matrix": "primitive", "supercell_matrix": "supercell"}

help = "harmonic (0 K) IR spectrum from phonopy Γ modes and Born charges"

#: force files looked for beside --phonopy YAML when none is given
FORCE_FILES = ("FORCE_SETS", "FORCE_CONSTANTS", "force_constants.hdf5")


def add_arguments(parser):
    source = parser.add_argument_group("force constants (one of)")
    source.add_argument("--phonopy", metavar="YAML", help="phonopy.yaml / phonopy_disp.yaml")
    source.add_argument("--structure", metavar="FILE", help="unit cell (POSCAR for phonopy files; any ASE format with --calculator)")
    source.add_argument("--force-sets", metavar="FILE", help="phonopy FORCE_SETS")
    source.add_argument("--force-constants", metavar="FILE", help="phonopy FORCE_CONSTANTS or force_constants.hdf5")
    source.add_argument("--calculator", metavar="MODULE:FACTORY",
                        help="ASE calculator for finite displacements, e.g. tblite.ase:TBLite, "
                             "or 'tblite', or 'mace:PATH' (a MACE model file, needs ase-dipole[mace])")
    parser.add_argument("--supercell", type=int, nargs=3, metavar=("NA", "NB", "NC"),
                        help="supercell of the force calculation (with --structure); default 1 1 1 with --calculator")
    parser.add_argument("--primitive", default=None,
                        help="phonopy primitive matrix: auto, P, F, I, ...; default: auto for phonopy files, P with --calculator")
    charges = parser.add_argument_group("Born charges (one of)")
    charges.add_argument("--born", metavar="FILE",
                         help="BORN, vasprun.xml, OUTCAR or extxyz with born_charges, for the unit or primitive cell")
    charges.add_argument("--model", metavar="MODEL", help="saved dipole model (PolarizationModel / FixedChargesModel)")
    charges.add_argument("--dipole-calculator", metavar="MODULE:FACTORY",
                         help="ASE calculator returning 'dipole' (Z* from its "
                              "'born_effective_charges', else by finite differences of the dipole)")
    parser.add_argument("--asr", action="store_true", help="impose the acoustic sum rule on Z*")
    parser.add_argument("--fwhm-cm1", type=float, default=20.0,
                        help="line width (FWHM) in cm^-1 (default: 20, as 'spectrum', so that "
                             "'compare' sets lines of equal width side by side)")
    parser.add_argument("--lineshape", choices=("lorentzian", "gaussian"), default="lorentzian",
                        help="shape of each line, of unit area; 'gaussian' matches the Green-Kubo "
                             "spectrum's window")
    add_mass_argument(parser)
    parser.add_argument("--molecule", action="store_true",
                        help="treat the system as a molecule: rigid rotations projected out, "
                             "cross-section in cm^2 instead of alpha*n in cm^-1 (default: from "
                             "the structure's pbc with --calculator; a crystal for phonopy files)")
    parser.add_argument("--range-cm1", type=float, nargs=2, metavar=("MIN", "MAX"), help="wavenumber range in cm^-1")
    parser.add_argument("--step-cm1", type=float, default=1.0, help="grid step in cm^-1 (with --range-cm1)")
    parser.add_argument("-o", "--output", default="harmonic.csv", help="spectrum CSV")
    parser.add_argument("--peaks", metavar="FILE", help="write the mode table here")
    parser.add_argument("--plot", metavar="IMAGE", help="write a figure of the spectrum")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (of the displacements with --calculator)")
    from ase_dipole.cli.raman import add_harmonic_arguments

    add_harmonic_arguments(parser)


def _force_files_beside(args):
    """``--force-sets``/``--force-constants`` as given, or else the FORCE_SETS,
    FORCE_CONSTANTS or force_constants.hdf5 in the folder of ``--phonopy``."""
    if args.force_sets or args.force_constants or args.phonopy is None:
        return args.force_sets, args.force_constants
    folder = os.path.dirname(os.path.abspath(args.phonopy))
    for name in FORCE_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return (path, None) if name == "FORCE_SETS" else (None, path)
    return None, None


def _phonon(args, parser, masses):
    from ase_dipole.dynamics.trajectory import apply_masses
    from ase_dipole.spectra.harmonic import load_calculator, load_phonopy, phonopy_from_calculator

    if (args.phonopy is None) == (args.structure is None):
        parser.error("give --phonopy YAML or --structure FILE (with --force-sets/--force-constants or --calculator)")
    if args.calculator is not None:
        if args.structure is None or args.force_sets or args.force_constants:
            parser.error("--calculator needs --structure and excludes --force-sets/--force-constants")
        import ase.io

        try:
            atoms = apply_masses(ase.io.read(args.structure), masses)
        except ValueError as error:
            parser.error(f"--mass: {error}")
        return phonopy_from_calculator(
            atoms,
            load_calculator(args.calculator),
            supercell_matrix=args.supercell or (1, 1, 1),
            primitive_matrix=args.primitive or "P",
            log=None if args.quiet else sys.stderr,
        )
    if args.structure is not None and args.supercell is None:
        parser.error("--structure with phonopy force files needs --supercell NA NB NC")
    force_sets, force_constants = _force_files_beside(args)
    try:
        phonon = load_phonopy(
            args.phonopy,
            structure=args.structure,
            supercell_matrix=args.supercell,
            primitive_matrix=args.primitive or "auto",
            force_sets=force_sets,
            force_constants=force_constants,
        )
    except ValueError as error:
        if "no force constants" not in str(error):
            raise
        parser.error(f"{args.phonopy or args.structure}: no force constants (none in the file and "
                     f"no {', '.join(FORCE_FILES)} beside it): give --force-sets FILE or "
                     "--force-constants FILE")
    args.force_sets, args.force_constants = force_sets, force_constants
    if masses:
        symbols = list(phonon.primitive.symbols)
        unknown = sorted(set(masses) - set(symbols))
        if unknown:
            parser.error(f"--mass: a mass is given for {', '.join(unknown)}, but the cell holds "
                         f"only {sorted(set(symbols))}")
        phonon.masses = [masses.get(symbol, mass) for symbol, mass in zip(symbols, phonon.primitive.masses)]
    return phonon


def run(args, parser):
    import numpy as np

    from ase_dipole.spectra.harmonic import HarmonicIR

    if args.raman is not None:
        from ase_dipole.cli.raman import run_harmonic

        return run_harmonic(args, parser, _phonon)
    if sum(source is not None for source in (args.born, args.model, args.dipole_calculator)) != 1:
        parser.error("give the Born charges with exactly one of --born FILE, --model MODEL and "
                     "--dipole-calculator MODULE:FACTORY")
    masses = masses_from_args(args, parser)
    try:
        phonon = _phonon(args, parser, masses)
        if args.born is not None:
            charges, model_inputs = args.born, [args.born]
        else:
            from ase_dipole.cli.options import dipole_model_from_args

            charges, model_inputs = dipole_model_from_args(args, parser)
        harmonic = HarmonicIR(phonon, charges, asr=args.asr,
                              periodic=False if args.molecule else None).run()
        grid = None if args.range_cm1 is None else np.arange(args.range_cm1[0], args.range_cm1[1] + 0.5 * args.step_cm1, args.step_cm1)
        spectrum = harmonic.spectrum(grid, fwhm_cm1=args.fwhm_cm1, lineshape=args.lineshape)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    inputs = [args.phonopy, args.structure, args.force_sets, args.force_constants, *model_inputs]
    record = provenance(inputs=[path for path in inputs if path],
                        model_sha256=getattr(charges, "sha256", None), command=command_line(args._argv))
    if masses:
        record["masses_amu"] = masses
    spectrum.metadata["provenance"] = record
    if args.asr:
        print(f"acoustic sum rule imposed; max |sum_i Z*_i| was {np.abs(harmonic.asr_violation).max():.3e} e")
    if masses:
        print("masses: " + ", ".join(f"{symbol} {mass:g} amu" for symbol, mass in masses.items()))
    print(harmonic.peak_table(), end="")
    spectrum.write_csv(args.output)
    print(f"spectrum ({spectrum.unit}) written to {args.output}")
    if args.peaks:
        write_text_atomic(args.peaks, "# provenance: " + json.dumps(record, sort_keys=True) + "\n"
                          + harmonic.peak_table())
        print(f"mode table written to {args.peaks}")
    if args.plot:
        from ase_dipole.spectra.plot import plot_spectra

        plot_spectra({"harmonic": spectrum}, args.plot)
        print(f"figure written to {args.plot}")
    return 0
