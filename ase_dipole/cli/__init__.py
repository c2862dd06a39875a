"""The ``ase-dipole`` command line: a registry of sub-commands.

Each sub-command module defines ``help`` (one line), ``add_arguments(parser)``
and ``run(args, parser)``, and optionally ``keywords`` (the API keyword
arguments it passes under another name, ``{keyword: dest}``, so that an API
error naming the keyword names the option instead); ``main(argv=None)`` lets
tests call it. :func:`build_parser` returns the whole parser (the CLI
reference of the documentation is generated from it).
"""

import argparse
import importlib
import re
import sys
import warnings

from ase_dipole import __version__
from ase_dipole.cli.outputs import check_outputs, report_replaced

#: sub-command name -> module under ase_dipole.cli, in the order of the method:
#: data (select, label or convert), fit, MD or the log of another code's
#: trajectory, spectrum, harmonic spectrum, comparison; then the whole protocol
COMMANDS = {
    "select": "select",
    "label": "label",
    "convert": "convert",
    "fit": "fit",
    "learning-curve": "learning_curve",
    "predict": "predict",
    "md": "md",
    "log": "log",
    "spectrum": "spectrum",
    "dielectric": "dielectric",
    "raman": "raman",
    "harmonic": "harmonic",
    "compare": "compare",
    "run": "run",
    "demo": "demo",
}

#: commands that compute (numba kernels, BLAS, tblite's OpenMP): they take ``--threads``
THREADED = ("select", "label", "fit", "learning-curve", "predict", "md", "log", "spectrum",
            "dielectric", "raman", "harmonic", "run", "demo")

EPILOG = """\
new here? 'ase-dipole demo' runs the whole method on a water dimer (about 5 minutes);
'ase-dipole run PROTOCOL.toml' runs it on your system, step by step and resumable
(protocols to start from: ase_dipole/workflow/protocols/). 'ase-dipole COMMAND --help'
describes each command."""


class _HelpFormatter(argparse.HelpFormatter):
    """Help with the default of every option that has one, once: not on
    required options, switches or options whose help already states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.required or not action.option_strings or "default" in text
                or action.default in (None, False, [], argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``PROG: error: MESSAGE``
    (no usage block), with the Python keyword arguments an API message names
    written as the options of this command (:meth:`flag_names`)."""

    def __init__(self, *args, keywords=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.keywords = dict(keywords or {})

    def flag_names(self):
        """``{python name: (option, action)}``: every option's ``dest`` and
        every keyword of :attr:`keywords`, with the long option the user types."""
        flags = {}
        for action in self._actions:
            longs = [s for s in action.option_strings if s.startswith("--")]
            if longs and action.dest != argparse.SUPPRESS:
                flags[action.dest] = (max(longs, key=len), action)
        for keyword, dest in self.keywords.items():
            flags[keyword] = flags[dest]
        return flags

    def name_flags(self, message):
        """``message`` with ``name=VALUE`` written ``--flag VALUE``, a bare
        ``name=`` (or ``name={...}``, a Python placeholder) ``--flag`` (with
        its metavar), and ``name >= x`` ``--flag >= x``; an API hint
        ``(CLI: --flag ...)`` after the translated name is folded into it."""
        flags = self.flag_names()
        if not flags:
            return message
        names = "|".join(map(re.escape, sorted(flags, key=len, reverse=True)))
        pattern = re.compile(r"(?<![-\w.])(" + names + r")(?:=(\{[^}]*\}|(?:(?!/?(?:" + names
                             + r")=)[^\s,;)])*)|(?=\s*[<>]=?\s))")

        def replace(match):
            flag, action = flags[match.group(1)]
            value = match.group(2)
            if value and not value.startswith("{"):
                return f"{flag} {value}"
            takes_value = action.nargs != 0
            if value and takes_value:
                metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
                return f"{flag} {metavar}"
            return flag

        message = pattern.sub(replace, str(message))
        return re.sub(r"(--[\w-]+)(?: [^\s(]+)? \(CLI: \1([^)]*)\)", r"\1\2", message)

    def error(self, message):
        """Print ``PROG: error: MESSAGE`` on one line to stderr and exit with 2."""
        text = " ".join(self.name_flags(message).split())
        self.exit(2, f"{self.prog}: error: {text}\n")


def build_parser():
    """The ``ase-dipole`` parser with every sub-command (:data:`COMMANDS`).

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = Parser(
        prog="ase-dipole",
        description="Finite-temperature IR spectra from a polarization model trained on Born charges.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ase-dipole {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       title="commands (in the order of the method)")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"ase_dipole.cli.{module_name}")
        sub = subparsers.add_parser(
            name,
            help=module.help,
            description=module.help,
            formatter_class=_HelpFormatter,
            keywords=getattr(module, "keywords", None),
        )
        module.add_arguments(sub)
        if name in THREADED:
            add_threads_argument(sub, default=1 if name == "demo" else None)
        sub.set_defaults(_run=module.run, _parser=sub)
    return parser


def add_threads_argument(parser, *, default=None):
    """``--threads N``: numba, BLAS and OpenMP (tblite) threads of this process."""
    if any("--threads" in action.option_strings for action in parser._actions):
        return
    parser.add_argument("--threads", type=int, default=default, metavar="N",
                        help="threads of the numba kernels, BLAS and tblite's OpenMP in this "
                             "process" + ("" if default is not None else
                                          "; without it, as the environment sets them"))


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
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        args._parser.error(f"--threads {threads}: give a whole number >= 1")
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        from ase_dipole.threads import limit_threads

        replaced = check_outputs(args, args._parser)
        with limit_threads(threads):
            code = args._run(args, args._parser) or 0
        report_replaced(replaced)
        return code
    except OSError as error:  # a failed write (disk full, no permission) or read
        args._parser.error(_os_error_text(error))
    finally:
        warnings.formatwarning = formatwarning
