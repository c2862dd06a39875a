"""The ``ase-dipole`` command line: a registry of sub-commands.

Each sub-command module defines ``help`` (one line), ``add_arguments(parser)``
and ``run(args, parser)``; ``main(argv=None)`` lets tests call it.
"""

import argparse
import importlib
import sys

from ase_dipole import __version__

#: sub-command name -> module under ase_dipole.cli
COMMANDS = {
    "convert": "convert",
    "md": "md",
    "harmonic": "harmonic",
    "compare": "compare",
    "spectrum": "spectrum",
    "fit": "fit",
    "predict": "predict",
    "learning-curve": "learning_curve",
    "demo": "demo",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ase-dipole",
        description="Finite-temperature IR spectra from a polarization model trained on Born charges.",
    )
    parser.add_argument("--version", action="version", version=f"ase-dipole {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"ase_dipole.cli.{module_name}")
        sub = subparsers.add_parser(
            name,
            help=module.help,
            description=module.help,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run, _parser=sub)
    return parser


def main(argv=None):
    """Entry point of ``ase-dipole``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 1
    return args._run(args, args._parser) or 0
