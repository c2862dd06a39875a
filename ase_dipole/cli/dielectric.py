"""``ase-dipole dielectric``: ε(ω), n, κ and α of a periodic cell from dipole logs."""

import shlex

from ase_dipole.cli.options import options_command_line
from ase_dipole.provenance import provenance

#: options recorded in the output's provenance
_RECORDED_OPTIONS = ("epsilon_inf", "epsilon_inf_from", "plot", "temperature_K", "fwhm_cm1", "max_wavenumber_cm1")

help = ("dielectric function eps'(omega), eps''(omega), n, kappa and alpha of a periodic cell "
        "from dipole logs (needs eps_inf)")


def add_arguments(parser):
    parser.add_argument("logs", nargs="+", metavar="LOG",
                        help="dipole logs of one periodic cell (one per NVE trajectory)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--epsilon-inf", type=float, metavar="X",
                        help="electronic dielectric constant eps_inf (>= 1), e.g. n^2 in the visible")
    source.add_argument("--epsilon-inf-from", metavar="FILE",
                        help="read eps_inf (a third of the trace) from a VASP OUTCAR/vasprun.xml, "
                             "a phonopy BORN file or a QE ph.x output")
    parser.add_argument("-o", "--output", default="dielectric.csv",
                        help="dielectric-function CSV (with provenance header)")
    parser.add_argument("--plot", metavar="IMAGE", help="also write a figure (.png, .pdf or .svg)")
    parser.add_argument("--temperature-K", type=float, default=None,
                        help="temperature in K; None: temperature_K from the log metadata")
    parser.add_argument("--fwhm-cm1", type=float, default=20.0,
                        help="resolution (FWHM, cm^-1) of the Gaussian window, as for 'spectrum'")
    parser.add_argument("--max-wavenumber-cm1", type=float, default=5000.0,
                        help="highest wavenumber written, cm^-1 (Kramers-Kronig uses the whole band)")


def run(args, parser):
    from ase_dipole.spectra.dielectric import check_epsilon_inf, dielectric_function, epsilon_inf_from_file

    try:
        if args.epsilon_inf is not None:
            epsilon_inf = check_epsilon_inf(args.epsilon_inf)
        else:
            epsilon_inf = epsilon_inf_from_file(args.epsilon_inf_from)
    except (ValueError, OSError) as error:
        flag = "--epsilon-inf" if args.epsilon_inf is not None else "--epsilon-inf-from"
        parser.error(f"{flag}: {error}")
    try:
        result = dielectric_function(args.logs, epsilon_inf=epsilon_inf, temperature_K=args.temperature_K,
                                     fwhm_cm1=args.fwhm_cm1, max_wavenumber_cm1=args.max_wavenumber_cm1)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    inputs = list(args.logs) + ([args.epsilon_inf_from] if args.epsilon_inf_from else [])
    result.metadata["command"] = "ase-dipole dielectric " + shlex.join(
        options_command_line(args, _RECORDED_OPTIONS))
    result.metadata["inputs"] = provenance(inputs=inputs)["inputs"]
    result.write_csv(args.output)
    meta = result.metadata
    line = (f"dielectric function of {meta['n_logs']} log(s) at {meta['temperature_K']:g} K, "
            f"eps_inf = {epsilon_inf:g}: eps(0) = {meta['eps_static_kk']:.4g} +- "
            f"{meta['eps_static_kk_error']:.2g} (Kramers-Kronig, omega -> 0)")
    if meta["eps_static_fluctuation"] is not None:
        line += (f", {meta['eps_static_fluctuation']:.4g} +- {meta['eps_static_fluctuation_error']:.2g} "
                 "(dipole fluctuations)")
    print(line + f"; written to {args.output}")
    if args.plot:
        from ase_dipole.spectra.plot import plot_dielectric

        try:
            plot_dielectric(result, args.plot)
        except ValueError as error:
            parser.error(str(error))
        print(f"figure written to {args.plot}")
    return 0
