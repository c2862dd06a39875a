"""Progress of long work (MD phases, fits, labelling, phonopy displacements)
as text on a stream, stderr by default.

On a terminal the line is redrawn in place; into a file or a pipe a new line
is written at every tenth of the work, so logs of runs under ``nohup`` stay
readable. Every line carries the elapsed and the estimated remaining time.
"""

import sys
import time


class Progress:
    """Progress bar for ``total`` units of work.

    Parameters
    ----------
    total : int
    label : str
    unit : str
        What is counted ("steps", "frames", ...).
    stream : file, optional
        Default ``sys.stderr``; ``None`` shows nothing.
    """

    WIDTH = 30

    def __init__(self, total, label, *, unit="steps", stream=sys.stderr):
        self.total = max(int(total), 1)
        self.label = label
        self.unit = unit
        self.stream = stream
        self.done = 0
        self.start = time.perf_counter()

    def update(self, done):
        """Show that ``done`` of ``total`` units are finished (the last line
        ends with a newline)."""
        done = min(int(done), self.total)
        if self.stream is None or (done == self.done and done > 0):
            return
        interactive = getattr(self.stream, "isatty", lambda: False)()
        same_tenth = 10 * done // self.total == 10 * self.done // self.total
        self.done = done
        if not interactive and done < self.total and same_tenth and done > 0:
            return
        elapsed = time.perf_counter() - self.start
        left = f", ~{elapsed / done * (self.total - done):.0f} s left" if 0 < done < self.total else ""
        filled = self.WIDTH * done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"{self.label:<24} [{bar}] {done}/{self.total} {self.unit}, {elapsed:.0f} s{left}"
        if interactive:
            self.stream.write("\r" + line + ("\n" if done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def attach(self, dyn):
        """Update about 50 times along ``dyn.run(total)`` of an ASE dynamics."""
        start = dyn.nsteps
        dyn.attach(lambda: self.update(dyn.nsteps - start), interval=max(self.total // 50, 1))
