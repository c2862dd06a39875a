"""``ase-dipole harmonic``: 0 K harmonic IR spectrum from phonopy Γ modes and Z*."""

help = "harmonic (0 K) IR spectrum from phonopy Γ modes and Born charges"


def add_arguments(parser):
    source = parser.add_argument_group("force constants (one of)")
    source.add_argument("--phonopy", metavar="YAML", help="phonopy.yaml / phonopy_disp.yaml")
    source.add_argument("--structure", metavar="FILE", help="unit cell (POSCAR for phonopy files; any ASE format with --calculator)")
    source.add_argument("--force-sets", metavar="FILE", help="phonopy FORCE_SETS")
    source.add_argument("--force-constants", metavar="FILE", help="phonopy FORCE_CONSTANTS or force_constants.hdf5")
    source.add_argument("--calculator", metavar="MODULE:FACTORY",
                        help="ASE calculator for finite displacements, e.g. tblite.ase:TBLite")
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
    parser.add_argument("--fwhm-cm1", type=float, default=10.0, help="line width (FWHM) in cm^-1")
    parser.add_argument("--lineshape", choices=("lorentzian", "gaussian"), default="lorentzian")
    parser.add_argument("--molecule", action="store_true",
                        help="treat the system as a molecule: rigid rotations projected out, "
                             "cross-section in cm^2 instead of alpha*n in cm^-1 (default: from "
                             "the structure's pbc with --calculator; a crystal for phonopy files)")
    parser.add_argument("--range-cm1", type=float, nargs=2, metavar=("MIN", "MAX"), help="wavenumber range in cm^-1")
    parser.add_argument("--step-cm1", type=float, default=1.0, help="grid step in cm^-1 (with --range-cm1)")
    parser.add_argument("-o", "--output", default="harmonic.csv", help="spectrum CSV")
    parser.add_argument("--peaks", metavar="FILE", help="write the mode table here")
    parser.add_argument("--plot", metavar="IMAGE", help="write a figure of the spectrum")


def _phonon(args, parser):
    from ase_dipole.spectra.harmonic import load_calculator, load_phonopy, phonopy_from_calculator

    if (args.phonopy is None) == (args.structure is None):
        parser.error("give --phonopy YAML or --structure FILE (with --force-sets/--force-constants or --calculator)")
    if args.calculator is not None:
        if args.structure is None or args.force_sets or args.force_constants:
            parser.error("--calculator needs --structure and excludes --force-sets/--force-constants")
        import ase.io

        atoms = ase.io.read(args.structure)
        return phonopy_from_calculator(
            atoms,
            load_calculator(args.calculator),
            supercell_matrix=args.supercell or (1, 1, 1),
            primitive_matrix=args.primitive or "P",
        )
    if args.structure is not None and args.supercell is None:
        parser.error("--structure with phonopy force files needs --supercell NA NB NC")
    return load_phonopy(
        args.phonopy,
        structure=args.structure,
        supercell_matrix=args.supercell,
        primitive_matrix=args.primitive or "auto",
        force_sets=args.force_sets,
        force_constants=args.force_constants,
    )


def run(args, parser):
    import numpy as np

    from ase_dipole.spectra.harmonic import HarmonicIR

    if sum(source is not None for source in (args.born, args.model, args.dipole_calculator)) != 1:
        parser.error("give the Born charges with exactly one of --born FILE, --model MODEL and "
                     "--dipole-calculator MODULE:FACTORY")
    try:
        phonon = _phonon(args, parser)
        if args.born is not None:
            charges = args.born
        else:
            from ase_dipole.cli.options import dipole_model_from_args

            charges, _ = dipole_model_from_args(args, parser)
        harmonic = HarmonicIR(phonon, charges, asr=args.asr,
                              periodic=False if args.molecule else None).run()
        grid = None if args.range_cm1 is None else np.arange(args.range_cm1[0], args.range_cm1[1] + 0.5 * args.step_cm1, args.step_cm1)
        spectrum = harmonic.spectrum(grid, fwhm_cm1=args.fwhm_cm1, lineshape=args.lineshape)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    if args.asr:
        print(f"acoustic sum rule imposed; max |sum_i Z*_i| was {np.abs(harmonic.asr_violation).max():.3e} e")
    print(harmonic.peak_table(), end="")
    spectrum.write_csv(args.output)
    print(f"spectrum ({spectrum.unit}) written to {args.output}")
    if args.peaks:
        harmonic.write_peaks(args.peaks)
        print(f"mode table written to {args.peaks}")
    if args.plot:
        from ase_dipole.spectra.plot import plot_spectra

        plot_spectra({"harmonic": spectrum}, args.plot)
        print(f"figure written to {args.plot}")
    return 0
