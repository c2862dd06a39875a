"""The ``ase-dipole`` command line: a registry of sub-commands.

Each sub-command module defines ``help`` (one line), ``add_arguments(parser)``
and ``run(args, parser)``; ``main(argv=None)`` lets tests call it.
"""

import argparse
import importlib
import re
import sys
import warnings

from ase_dipole import __version__
from ase_dipole.cli.outputs import check_outputs, report_replaced

#: sub-command name -> module under ase_dipole.cli
COMMANDS = {
    "convert": "convert",
    "md": "md",
    "harmonic": "harmonic",
    "compare": "compare",
    "spectrum": "spectrum",
    "dielectric": "dielectric",
    "fit": "fit",
    "predict": "predict",
    "select": "select",
    "log": "log",
    "learning-curve": "learning_curve",
    "run": "run",
    "demo": "demo",
    "label": "label",
}


class _HelpFormatter(argparse.HelpFormatter):
    """Help with the default of every option that has one, once: not on
    required options, switches or options whose help already states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.required or not action.option_strings or "default" in text
                or action.default in (None, False, [], argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


def _error_naming_flags(parser):
    """``parser.error`` that writes the command's flags where an API message
    names Python keyword arguments: ``force_sets=`` becomes ``--force-sets``."""
    flags = {action.dest: action.option_strings[-1] for action in parser._actions
             if action.option_strings and "_" in action.dest}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(flags, key=len, reverse=True)))
                         + r")=") if flags else None
    error = parser.error

    def named_error(message):
        if pattern is not None:
            message = pattern.sub(lambda match: flags[match.group(1)], str(message))
            message = re.sub(r"(--[\w-]+) \(CLI: \1([^)]*)\)", r"\1\2", message)
        error(message)

    return named_error


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
            formatter_class=_HelpFormatter,
        )
        module.add_arguments(sub)
        sub.error = _error_naming_flags(sub)
        sub.set_defaults(_run=module.run, _parser=sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None):
    """Warnings as ``warning: message`` lines, without the Python source line."""
    return f"warning: {message}\n"


def _os_error_text(error):
    """An OSError as one line: its message and the file it names."""
    text = error.strerror or str(error)
    return f"{text}: {error.filename}" if error.filename else text


def main(argv=None):
    """Entry point of ``ase-dipole``; returns the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args._argv = argv
    if args.command is None:
        parser.print_help()
        return 1
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        replaced = check_outputs(args, args._parser)
        code = args._run(args, args._parser) or 0
        report_replaced(replaced)
        return code
    except OSError as error:  # a failed write (disk full, no permission) or read
        args._parser.error(_os_error_text(error))
    finally:
        warnings.formatwarning = formatwarning
