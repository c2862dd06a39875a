"""Progress bars of long work (MD, fits and their cross-validation,
labelling, phonopy displacements), drawn by tqdm on stderr by default.

On a terminal the bar is redrawn in place, at most ten times a second. Into
a file or a pipe every redraw is a line of its own, at most one every
:data:`FILE_INTERVAL_S` seconds (and the last one), so the logs of runs under
``nohup`` stay readable. Each line shows the elapsed and the remaining time;
the remaining time is the work left over tqdm's exponential moving average
of the recent rate (``smoothing``), so it follows the measured speed of the
latest steps, not that of the slower first ones (compilation, start-up).
"""

import sys

from tqdm import tqdm

#: seconds between two progress lines written into a file or a pipe
FILE_INTERVAL_S = 30.0
#: weight of the latest rate in tqdm's moving average of the rate
SMOOTHING = 0.1


class _Bar(tqdm):
    """tqdm without its monitor thread (one more thread in every Dask task
    and MD run, to adjust a ``miniters`` we do not use)."""

    monitor_interval = 0


class _Lines:
    """The stream of a bar that writes into a file or a pipe: each of tqdm's
    in-place redraws (``"\\r" + line``) becomes a line of its own."""

    def __init__(self, stream):
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, text):
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self):
        getattr(self.stream, "flush", lambda: None)()


def progress_bar(total, label, *, unit="step", stream=sys.stderr):
    """A progress bar for ``total`` units of work.

    Parameters
    ----------
    total : int
        Units of work (``bar.update(n)`` counts ``n`` more done; ``bar.total``
        may be lowered when work turns out to be done already).
    label : str
        What is done (``bar.set_description`` changes it).
    unit : str, keyword-only
        What is counted, singular ("step", "frame", ...).
    stream : file or None, keyword-only
        Where the bar is drawn; ``None`` gives a bar that shows nothing.

    Returns
    -------
    tqdm.tqdm
        Use as a context manager, or call ``close()``.
    """
    if stream is None:
        return _Bar(total=total, disable=True)
    interactive = getattr(stream, "isatty", lambda: False)()
    return _Bar(total=total, desc=label, unit=unit, file=stream if interactive else _Lines(stream),
                disable=False, dynamic_ncols=interactive, ascii=None if interactive else True,
                mininterval=0.1 if interactive else FILE_INTERVAL_S, smoothing=SMOOTHING)


def progress_line(text, stream=sys.stderr):
    """Write ``text`` as a line of its own on ``stream`` (None: nowhere),
    above any bar being drawn there."""
    if stream is not None:
        tqdm.write(text, file=stream)
