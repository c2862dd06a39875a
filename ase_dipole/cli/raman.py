"""``ase-dipole raman``: finite-temperature Raman spectrum from α̇ logs; and
the ``--raman`` branch of ``ase-dipole harmonic`` (harmonic Raman from
phonopy Γ modes and ∂α/∂x)."""

import json
import shlex

from ase_dipole.cli.options import options_command_line
from ase_dipole.provenance import command_line, provenance

help = "finite-temperature Raman spectrum from polarizability (alpha-dot) logs, averaged over trajectories"

#: API keywords passed under another name: an error naming one names the option
keywords = {"laser_wavelength_nm": "laser_nm"}

_RECORDED_OPTIONS = ("channel", "quantity", "laser_nm", "temperature_K", "fwhm_cm1", "max_wavenumber_cm1", "plot")


def _add_scattering_arguments(parser, *, laser_flag="--laser-nm"):
    from ase_dipole.spectra.raman import CHANNELS, DEFAULT_LASER_WAVELENGTH_NM, QUANTITIES

    parser.add_argument("--channel", choices=tuple(CHANNELS), default="total",
                        help="scattering channel: total 45a^2+7g^2, parallel 45a^2+4g^2, perpendicular 3g^2, "
                             "isotropic 45a^2, anisotropic 7g^2")
    parser.add_argument("--quantity", choices=QUANTITIES, default="cross_section",
                        help="cross_section (cm^2/sr per cm^-1, with the (nu0-nu)^4/nu (1+n) factor) or "
                             "activity (A^4/amu per cm^-1)")
    parser.add_argument(laser_flag, dest="laser_nm", type=float, default=DEFAULT_LASER_WAVELENGTH_NM,
                        help="laser wavelength in nm")


def add_arguments(parser):
    parser.add_argument("logs", nargs="+", metavar="LOG", help="polarizability logs (one per NVE trajectory)")
    parser.add_argument("-o", "--output", default="raman.csv", help="spectrum CSV (with provenance header)")
    parser.add_argument("--plot", metavar="IMAGE", help="also write a figure (.png, .pdf or .svg)")
    _add_scattering_arguments(parser)
    parser.add_argument("--temperature-K", type=float, default=None,
                        help="temperature in K; None: temperature_K from the log metadata")
    parser.add_argument("--fwhm-cm1", type=float, default=20.0,
                        help="line width (FWHM, cm^-1) of the Gaussian window, as 'spectrum'")
    parser.add_argument("--max-wavenumber-cm1", type=float, default=5000.0,
                        help="highest Raman shift written, cm^-1 (at most the Nyquist wavenumber)")


def run(args, parser):
    from ase_dipole.spectra.raman import raman_spectrum

    try:
        spectrum = raman_spectrum(args.logs, channel=args.channel, quantity=args.quantity,
                                  laser_wavelength_nm=args.laser_nm, temperature_K=args.temperature_K,
                                  fwhm_cm1=args.fwhm_cm1, max_wavenumber_cm1=args.max_wavenumber_cm1)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    spectrum.metadata["command"] = "ase-dipole raman " + shlex.join(options_command_line(args, _RECORDED_OPTIONS))
    spectrum.metadata["inputs"] = provenance(inputs=args.logs)["inputs"]
    spectrum.write_csv(args.output)
    print(f"Raman spectrum ({args.channel}, {args.quantity}) of {spectrum.metadata['n_logs']} log(s) at "
          f"{spectrum.metadata['temperature_K']:g} K ({spectrum.unit}) written to {args.output}")
    if args.plot:
        from ase_dipole.spectra.plot import plot_spectra

        plot_spectra([spectrum], args.plot)
        print(f"figure written to {args.plot}")
    return 0


def add_harmonic_arguments(parser):
    """The ``--raman`` options of ``ase-dipole harmonic``."""
    group = parser.add_argument_group("Raman (instead of IR)")
    group.add_argument("--raman", metavar="SOURCE",
                       help="harmonic Raman: extxyz with arrays 'polarizability_derivatives' ((N, 27) A^2) for "
                            "the primitive cell, a .npy of shape (N, 3, 3, 3), or a saved PolarizabilityModel "
                            "(.npz); no Born charges needed")
    group.add_argument("--raman-temperature-K", type=float, default=300.0,
                       help="temperature of the Bose factor 1 + n, K")
    from ase_dipole.spectra.raman import CHANNELS, DEFAULT_LASER_WAVELENGTH_NM, QUANTITIES

    group.add_argument("--raman-channel", choices=tuple(CHANNELS), default="total", help="scattering channel")
    group.add_argument("--raman-quantity", choices=QUANTITIES, default="cross_section",
                       help="cross_section (cm^2/sr per cm^-1) or activity (A^4/amu per cm^-1)")
    group.add_argument("--laser-nm", type=float, default=DEFAULT_LASER_WAVELENGTH_NM, help="laser wavelength in nm")


def run_harmonic(args, parser, phonon_of):
    """``ase-dipole harmonic --raman``; ``phonon_of(args, parser, masses)``
    builds the phonopy object as for IR."""
    import numpy as np

    from ase_dipole.cli.options import masses_from_args
    from ase_dipole.spectra.raman import HarmonicRaman

    masses = masses_from_args(args, parser)
    try:
        phonon = phonon_of(args, parser, masses)
        if str(args.raman).endswith(".npy"):
            source = np.load(args.raman)
        elif str(args.raman).endswith(".npz"):
            from ase_dipole.learning.polarizability import PolarizabilityModel

            source = PolarizabilityModel.load(args.raman)
        else:
            source = args.raman
        harmonic = HarmonicRaman(phonon, source, laser_wavelength_nm=args.laser_nm,
                                 temperature_K=args.raman_temperature_K,
                                 periodic=False if args.molecule else None).run()
        grid = None if args.range_cm1 is None else np.arange(
            args.range_cm1[0], args.range_cm1[1] + 0.5 * args.step_cm1, args.step_cm1)
        spectrum = harmonic.spectrum(grid, channel=args.raman_channel, quantity=args.raman_quantity,
                                     fwhm_cm1=args.fwhm_cm1, lineshape=args.lineshape)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    inputs = [args.phonopy, args.structure, args.force_sets, args.force_constants, args.raman]
    record = provenance(inputs=[path for path in inputs if path], model_sha256=getattr(source, "sha256", None),
                        command=command_line(args._argv))
    spectrum.metadata["provenance"] = record
    print(harmonic.peak_table(), end="")
    spectrum.write_csv(args.output)
    print(f"Raman spectrum ({spectrum.unit}) written to {args.output}")
    if args.peaks:
        from ase_dipole.atomic import write_text_atomic

        write_text_atomic(args.peaks, "# provenance: " + json.dumps(record, sort_keys=True) + "\n"
                          + harmonic.peak_table())
        print(f"mode table written to {args.peaks}")
    if args.plot:
        from ase_dipole.spectra.plot import plot_spectra

        plot_spectra({"harmonic Raman": spectrum}, args.plot)
        print(f"figure written to {args.plot}")
    return 0
