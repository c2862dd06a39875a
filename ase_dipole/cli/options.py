"""Options shared by several sub-commands: the dipole source, isotope masses and the
provenance command line."""

import re

#: ``--mass`` syntax: an element symbol, '=', a mass in amu
_MASS = re.compile(r"^([A-Z][a-z]?)=([0-9.eE+-]+)$")


def add_dipole_source_arguments(parser, *, required=True):
    """``--model MODEL`` or ``--dipole-calculator MODULE:FACTORY`` (one of them)."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--model", metavar="MODEL",
                        help="saved dipole model (PolarizationModel or FixedChargesModel)")
    source.add_argument("--dipole-calculator", metavar="MODULE:FACTORY",
                        help="ASE calculator returning 'dipole' (and 'born_effective_charges' "
                             "if it can), e.g. a foreign ML dipole model")


def dipole_model_from_args(args, parser):
    """The dipole model of ``--model`` / ``--dipole-calculator`` and the input
    files that identify it (for provenance); errors via ``parser.error``."""
    from ase_dipole.dynamics.calculator import load_model

    if getattr(args, "dipole_calculator", None):
        from ase_dipole.dynamics.foreign_dipole import CalculatorDipoleModel
        from ase_dipole.dynamics.md import make_force_calculator

        try:
            return CalculatorDipoleModel(make_force_calculator(args.dipole_calculator)), []
        except (ValueError, TypeError, ImportError) as error:
            parser.error(f"--dipole-calculator {args.dipole_calculator}: {error}")
    try:
        return load_model(args.model), [args.model]
    except (ValueError, OSError, TypeError) as error:
        parser.error(f"--model {args.model}: {error}")


def add_mass_argument(parser):
    """Repeatable ``--mass SYMBOL=AMU``."""
    parser.add_argument("--mass", action="append", metavar="SYMBOL=AMU", default=[],
                        help="mass of every atom of an element, amu (isotopes; repeatable), "
                             "e.g. --mass H=2.014 for deuterium")


def masses_from_args(args, parser):
    """``--mass`` options as {symbol: amu}; bad syntax via ``parser.error``."""
    from ase.data import chemical_symbols

    masses = {}
    for text in args.mass:
        match = _MASS.match(text.strip())
        if match is None:
            parser.error(f"--mass {text!r}: use SYMBOL=AMU, e.g. --mass H=2.014")
        symbol, value = match.group(1), match.group(2)
        if symbol not in chemical_symbols:
            parser.error(f"--mass {text!r}: {symbol!r} is not an element symbol (isotopes take "
                         "their element's symbol: --mass H=2.014 for deuterium)")
        try:
            mass = float(value)
        except ValueError:
            parser.error(f"--mass {text!r}: {value!r} is not a number")
        if not mass > 0:
            parser.error(f"--mass {text!r}: the mass must be positive (amu)")
        if symbol in masses and masses[symbol] != mass:
            parser.error(f"--mass gives two masses for {symbol}")
        masses[symbol] = mass
    return masses


def options_command_line(args, options):
    """The logs, ``-o`` and the named options of ``args`` that are set,
    defaults included, as a command line for provenance (list of str)."""
    tail = list(args.logs) + ["-o", args.output]
    for option in options:
        value = getattr(args, option)
        if value is not None:
            tail += ["--" + option.replace("_", "-"), str(value)]
    return tail
