"""``ase-dipole spectrum``: Green–Kubo IR spectrum from Ṗ logs."""

import shlex

from ase_dipole.cli.options import options_command_line
from ase_dipole.provenance import provenance

#: options recorded in the output's provenance
_RECORDED_OPTIONS = ("plot", "experiment", "experiment_scale", "experiment_unit", "experiment_label",
                     "temperature_K", "fwhm_cm1", "max_wavenumber_cm1", "quantum_correction",
                     "route")

#: API keywords passed under another name: an error naming one names the option
keywords = {"scale": "experiment_scale", "unit": "experiment_unit"}

help = "Green-Kubo IR spectrum (alpha*n or cross-section) from dipole logs, averaged over trajectories"


def add_arguments(parser):
    from ase_dipole.spectra.green_kubo import QUANTUM_CORRECTIONS, ROUTES

    parser.add_argument("logs", nargs="+", metavar="LOG", help="dipole logs (one per NVE trajectory)")
    parser.add_argument("-o", "--output", default="ir.csv", help="spectrum CSV (with provenance header)")
    parser.add_argument("--plot", metavar="IMAGE", help="also write a figure (.png, .pdf or .svg)")
    parser.add_argument("--experiment", metavar="FILE",
                        help="two-column experimental spectrum (wavenumber in cm^-1, value) to overlay")
    parser.add_argument("--experiment-scale", type=float, default=1.0,
                        help="factor for the experimental values (1000 for the Bertie-Lan water file, "
                             "which is in 10^3 cm^-1)")
    parser.add_argument("--experiment-unit", default="cm^-1", choices=("cm^-1", "cm^2"),
                        help="unit of the scaled experimental values; must match the spectrum's")
    parser.add_argument("--experiment-label", default="experiment", help="legend entry of the experiment")
    parser.add_argument("--temperature-K", type=float, default=None,
                        help="temperature in K; None: temperature_K from the log metadata")
    parser.add_argument("--fwhm-cm1", type=float, default=20.0,
                        help="line width (FWHM, cm^-1) of the Gaussian window; each log must span "
                             "5*sqrt(2 ln 2)/(pi c FWHM) (3.1 ps for 20 cm^-1)")
    parser.add_argument("--max-wavenumber-cm1", type=float, default=5000.0,
                        help="highest wavenumber written, cm^-1 (at most the Nyquist wavenumber)")
    parser.add_argument("--quantum-correction", choices=[q for q in QUANTUM_CORRECTIONS if q],
                        default=None,
                        help="quantum correction factor, x = beta*hbar*omega: 'harmonic' (the "
                             "classical formula is already harmonic-corrected: factor 1), "
                             "'standard' (tanh(x/2)/(x/2)) or 'schofield' (sinh(x/2)/(x/2)); "
                             "default: none")
    parser.add_argument("--route", choices=ROUTES, default="pdot",
                        help="correlation: pdot (Pdot-Pdot), dipole (omega^2 * mu-mu), cross (-i omega * mu-Pdot)")


def run(args, parser):
    from ase_dipole.spectra.green_kubo import ir_spectrum, read_experiment

    try:
        spectrum = ir_spectrum(
            args.logs,
            temperature_K=args.temperature_K,
            fwhm_cm1=args.fwhm_cm1,
            max_wavenumber_cm1=args.max_wavenumber_cm1,
            quantum_correction=args.quantum_correction,
            route=args.route,
        )
        experiment = None
        if args.experiment:
            experiment = read_experiment(args.experiment, scale=args.experiment_scale, unit=args.experiment_unit)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    _check_figure_inputs(args, parser, spectrum, experiment)  # before anything is written
    spectrum.metadata["command"] = "ase-dipole spectrum " + shlex.join(
        options_command_line(args, _RECORDED_OPTIONS))
    spectrum.metadata["inputs"] = provenance(inputs=args.logs)["inputs"]
    spectrum.write_csv(args.output)
    print(f"spectrum of {spectrum.metadata['n_logs']} log(s) at {spectrum.metadata['temperature_K']:g} K "
          f"({spectrum.unit}, integral {spectrum.integral():.6g}) written to {args.output}")
    if args.plot:
        from ase_dipole.spectra.plot import plot_spectra

        try:
            plot_spectra([spectrum], args.plot, experiment=experiment,
                         experiment_label=args.experiment_label)
        except ValueError as error:
            parser.error(str(error))
        print(f"figure written to {args.plot}")
    return 0


def _check_figure_inputs(args, parser, spectrum, experiment):
    """Refuse, before the CSV is written, what would make the figure fail:
    an experiment in another unit than the spectrum, an unknown image type."""
    import os

    from ase_dipole.spectra.plot import FORMATS

    if experiment is not None and experiment.unit != spectrum.unit:
        parser.error(
            f"--experiment {args.experiment} is read as {experiment.unit} (--experiment-unit) but "
            f"the spectrum is in {spectrum.unit}; pass --experiment-unit {spectrum.unit} with the "
            "--experiment-scale that converts the file's values"
        )
    if args.plot and os.path.splitext(args.plot)[1].lower() not in FORMATS:
        parser.error(f"--plot {args.plot}: unknown image type; use one of {', '.join(FORMATS)}")
