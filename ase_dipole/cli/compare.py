"""``ase-dipole compare``: peak table of a finite-T vs a harmonic IR spectrum."""

from ase_dipole.provenance import command_line, provenance

#: API keywords passed under another name: an error naming one names the option
keywords = {"max_shift_cm1": "max_shift", "window_cm1": "range_cm1"}

help = "compare a finite-temperature and a harmonic IR spectrum (peak positions, areas, shifts)"


def add_arguments(parser):
    parser.add_argument("finite_T", metavar="FINITE_T.csv", help="finite-temperature spectrum (ase-dipole spectrum CSV)")
    parser.add_argument("harmonic", metavar="HARMONIC.csv", help="harmonic spectrum (ase-dipole harmonic CSV)")
    parser.add_argument("--frequency-scale", type=float, default=1.0,
                        help="factor on the finite-T wavenumber axis (the paper red-shifts by 1.5%%: 0.985)")
    parser.add_argument("--prominence", type=float, default=0.02,
                        help="minimum peak prominence as a fraction of each spectrum's maximum")
    parser.add_argument("--max-shift", type=float, default=50.0, help="largest matched peak shift in cm^-1")
    parser.add_argument("--range-cm1", type=float, nargs=2, metavar=("MIN", "MAX"), help="wavenumber window in cm^-1")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the peak table here")
    parser.add_argument("--plot", metavar="IMAGE", help="overlay figure")


def run(args, parser):
    from ase_dipole.spectra.compare import compare_spectra, plot_comparison
    from ase_dipole.spectra.raman import read_any_spectrum_csv

    try:
        finite_T = read_any_spectrum_csv(args.finite_T)
        harmonic = read_any_spectrum_csv(args.harmonic)
        comparison = compare_spectra(
            finite_T,
            harmonic,
            frequency_scale=args.frequency_scale,
            prominence=args.prominence,
            max_shift_cm1=args.max_shift,
            window_cm1=args.range_cm1,
        )
    except (ValueError, FileNotFoundError, OSError) as error:
        parser.error(str(error))
    print(comparison.table(), end="")
    if args.output:
        models = sorted({*finite_T.metadata.get("model_sha256", []),
                         *([harmonic.metadata["model_sha256"]] if "model_sha256" in harmonic.metadata else [])})
        comparison.write(args.output, provenance=provenance(
            inputs=[args.finite_T, args.harmonic], model_sha256=models or None,
            command=command_line(args._argv)))
        print(f"peak table written to {args.output}")
    if args.plot:
        plot_comparison(finite_T, harmonic, args.plot, frequency_scale=args.frequency_scale)
        print(f"figure written to {args.plot}")
    return 0
