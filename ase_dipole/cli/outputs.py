"""Output files of the sub-commands: never one of the inputs, and a line on
stderr when an existing one is replaced.

Every sub-command names its output files with the options ``-o/--output``,
``--plot`` and ``--csv`` (directories, ``--outdir``, hold outputs of their
own names and are not checked here); any other argument naming an existing
file is an input. :func:`check_outputs` runs before the command,
:func:`report_replaced` after it succeeded.
"""

import os
import sys

#: argument names (``dest``) holding output files
OUTPUT_FILE_DESTS = ("output", "plot", "csv", "parity", "peaks")


def _flag(parser, dest):
    """The longest option string of ``dest`` (``--output``), for messages."""
    for action in parser._actions:
        if action.dest == dest:
            return max(action.option_strings, key=len) if action.option_strings \
                else action.metavar or dest.upper()
    return dest


def _input_files(args):
    """(dest, path) of every argument that names an existing file, outputs
    excluded."""
    found = []
    for dest, value in vars(args).items():
        if dest.startswith("_") or dest in OUTPUT_FILE_DESTS:
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, (str, os.PathLike)) and os.path.isfile(item):
                found.append((dest, os.fspath(item)))
    return found


def check_outputs(args, parser):
    """Refuse an output file that is one of the inputs or another output.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of one sub-command.
    parser : argparse.ArgumentParser
        Its parser (``parser.error`` on a clash).

    Returns
    -------
    list of (str, tuple)
        The output files that exist already, each with its (modification
        time, size, inode) for :func:`report_replaced`.
    """
    outputs = [(dest, os.fspath(getattr(args, dest))) for dest in OUTPUT_FILE_DESTS
               if isinstance(getattr(args, dest, None), (str, os.PathLike))]
    existing = [(dest, path) for dest, path in outputs if os.path.exists(path)]
    for dest, path in existing:
        for input_dest, input_path in _input_files(args):
            if os.path.samefile(path, input_path):
                parser.error(
                    f"{_flag(parser, dest)} {path} is the input {_flag(parser, input_dest)} "
                    f"{input_path}; writing it would destroy the input: choose another output "
                    "file"
                )
    resolved = {}
    for dest, path in outputs:
        real = os.path.realpath(path)
        if real in resolved:
            parser.error(f"{_flag(parser, resolved[real])} and {_flag(parser, dest)} both name "
                         f"{path}; give them different files")
        resolved[real] = dest
    stamps = []
    for _, path in existing:
        status = os.stat(path)
        stamps.append((path, (status.st_mtime_ns, status.st_size, status.st_ino)))
    return stamps


def report_replaced(paths, stream=None):
    """One line on ``stream`` (default stderr) for each existing output file
    that a finished command replaced (compared by modification time, size
    and inode; ``paths`` as returned by :func:`check_outputs`)."""
    stream = sys.stderr if stream is None else stream
    for path, before in paths:
        try:
            after = os.stat(path)
        except OSError:
            continue
        if (after.st_mtime_ns, after.st_size, after.st_ino) != before:
            stream.write(f"replaced the existing {path}\n")
