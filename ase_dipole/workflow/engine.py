"""Content-addressed, resumable steps with provenance.

A workflow is a sequence of :class:`Step` s. Each step's *key* is the
sha256 of everything it depends on: its options, the keys of the steps it
uses, the sha256 of its input files and the ase-dipole version. After a step
has run, ``steps/<name>.json`` in the output folder records that key with
the step's results, the sha256 of every output file, its wall time and
provenance (version, date, command line, Python). A later run

- skips a step whose recorded key equals the new one and whose outputs are
  all present and unchanged;
- reruns it otherwise and says why: which options changed (old → new), which
  input file changed, which used step reruns, which output is missing or was
  edited;
- skips a step that would rerun only because a step it uses reran, when
  that step wrote byte-identical outputs (a deterministic step redone after
  an output was deleted);
- keeps a step's work folder (``Step.workdir``) when the key is unchanged, so
  an interrupted step continues (the MD of :func:`ase_dipole.dynamics.md.run_ir_md`
  skips finished trajectories); a changed key or ``force`` moves it aside to
  ``<workdir>.earlier-<old key>`` first (and says so), so nothing is lost.

Keys are computed from the recipe, not from the outputs, so the whole plan
(:meth:`Engine.plan`) is known before anything runs.
"""

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np

from ase_dipole import __version__
from ase_dipole.atomic import write_text_atomic

MARKER_DIR = "steps"


def to_json(value):
    """``value`` as plain JSON data: tuples become lists, numpy scalars and
    arrays plain numbers and lists."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot record {type(value).__name__} {value!r} as JSON")


def sha256_of_file(path, *, chunk_bytes=1 << 20):
    """sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_of_json(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass
class Step:
    """One step of a workflow.

    Attributes
    ----------
    name : str
        Short name; the marker is ``steps/<name>.json``.
    title : str
        One line saying what the step does.
    options : dict
        Everything of the protocol that the step's result depends on (JSON data).
    uses : tuple of str
        Names of earlier steps whose outputs this step reads.
    input_files : dict
        Label -> path of files outside the output folder that the step reads
        (their sha256 enter the key).
    outputs : tuple of str
        Files the step writes, relative to the output folder.
    optional_outputs : tuple of str
        Files it writes when the data allow (recorded, and checked later,
        when present).
    function : callable
        ``function(context) -> (results, line)``: ``results`` a JSON-able dict
        recorded in the marker, ``line`` a one-line report.
    workdir : str, optional
        Folder (relative to the output folder) of partial work that a rerun
        with the same key continues.
    """

    name: str
    title: str
    options: dict
    function: object
    uses: tuple = ()
    input_files: dict = dataclasses.field(default_factory=dict)
    outputs: tuple = ()
    optional_outputs: tuple = ()
    workdir: str = None


@dataclasses.dataclass
class PlannedStep:
    """A step with its key and what a run will do with it.

    Attributes
    ----------
    step : Step
    key : str
        sha256 of the step's inputs (see the module docstring).
    inputs : dict
        What the key was computed from.
    action : {'skip', 'run', 'rerun'}
        ``skip``: finished with the same key; ``run``: never finished;
        ``rerun``: finished with other inputs, or its outputs changed.
    reasons : list of str
        Why it (re)runs.
    previous : dict or None
        The marker found in the output folder.
    """

    step: Step
    key: str
    inputs: dict
    action: str
    reasons: list
    previous: dict = None


class StepFailed(RuntimeError):
    """A step raised; its marker records the error and the next run retries it."""


def _changes(old, new, prefix=""):
    """Human-readable differences between two JSON dicts (old -> new)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if key not in old:
            lines.append(f"{name} added ({new[key]!r})")
        elif key not in new:
            lines.append(f"{name} removed (was {old[key]!r})")
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            lines.extend(_changes(old[key], new[key], prefix=f"{name}."))
        elif old[key] != new[key]:
            lines.append(f"{name} {old[key]!r} -> {new[key]!r}")
    return lines


class Engine:
    """Runs :class:`Step` s in an output folder, each once per set of inputs.

    Parameters
    ----------
    outdir : str or path-like
        Output folder (created).
    force : bool, keyword-only
        Rerun every step.
    stream : file or None, keyword-only
        Progress lines.
    command : str, keyword-only
        Command line recorded in the markers (default ``sys.argv``).
    """

    def __init__(self, outdir, *, force=False, stream=sys.stderr, command=None):
        self.outdir = os.fspath(outdir)
        self.force = bool(force)
        self.stream = stream
        self.command = " ".join(sys.argv) if command is None else command
        self.records = {}
        self._previous_outputs = {}
        self._reused = set()
        os.makedirs(os.path.join(self.outdir, MARKER_DIR), exist_ok=True)

    def say(self, line):
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def path(self, name):
        """``name`` inside the output folder."""
        return os.path.join(self.outdir, name)

    def marker_path(self, name):
        return os.path.join(self.outdir, MARKER_DIR, f"{name}.json")

    def _read_marker(self, name):
        try:
            with open(self.marker_path(name)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def plan(self, steps):
        """Keys and actions of ``steps`` (in order) without running anything.

        Returns
        -------
        list of PlannedStep
        """
        planned = {}
        result = []
        for step in steps:
            missing = [name for name in step.uses if name not in planned]
            if missing:
                raise ValueError(f"step {step.name!r} uses {missing}, which come later or "
                                 "do not exist; order the steps so that used ones come first")
            files = {}
            for label, path in step.input_files.items():
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"step {step.name!r}: {label} {path!r} does not exist")
                files[label] = sha256_of_file(path)
            inputs = dict(options=to_json(step.options),
                          uses={name: planned[name].key for name in step.uses},
                          files=files, ase_dipole_version=__version__)
            key = _sha256_of_json(dict(step=step.name, **inputs))
            previous = self._read_marker(step.name)
            reasons = self._reasons(step, key, inputs, previous, planned)
            if previous is None or previous.get("status") not in ("done", "running", "failed"):
                action = "run"
            else:
                action = "rerun" if reasons else "skip"
            if previous is not None and previous.get("status") != "done" and not reasons:
                action = "run"
                reasons = [f"the last run stopped ({previous.get('status')}); continuing"]
            entry = PlannedStep(step, key, inputs, action, reasons, previous)
            planned[step.name] = entry
            result.append(entry)
        return result

    def _reasons(self, step, key, inputs, previous, planned):
        if self.force:
            return ["forced"]
        if previous is None:
            return []
        if previous.get("key") != key:
            old = previous.get("inputs", {})
            reasons = [f"option {line}" for line in
                       _changes(old.get("options", {}), inputs["options"])]
            reasons += [f"input file {label} changed" for label in
                        sorted(set(old.get("files", {})) | set(inputs["files"]))
                        if old.get("files", {}).get(label) != inputs["files"].get(label)]
            reasons += [f"step {name} reruns" for name in step.uses
                        if planned[name].action != "skip"
                        or old.get("uses", {}).get(name) != inputs["uses"][name]]
            if old.get("ase_dipole_version") != __version__:
                reasons.append(f"ase-dipole {old.get('ase_dipole_version')} -> {__version__}")
            return reasons or ["its inputs changed"]
        if previous.get("status") != "done":
            return []
        reasons = [f"step {name} reruns" for name in step.uses if planned[name].action != "skip"]
        for name, digest in previous.get("outputs", {}).items():
            path = self.path(name)
            if not os.path.exists(path):
                reasons.append(f"output {name} is missing")
            elif sha256_of_file(path) != digest:
                reasons.append(f"output {name} was changed after the step")
        return reasons

    def describe(self, plan):
        """One line per step: what a run does and why."""
        lines = []
        for k, entry in enumerate(plan, start=1):
            head = f"[{k}/{len(plan)}] {entry.step.name}: "
            if entry.action == "skip":
                lines.append(head + "up to date")
            elif entry.action == "run" and not entry.reasons:
                lines.append(head + "runs (first time)")
            else:
                verb = "reruns" if entry.action == "rerun" else "runs"
                lines.append(head + f"{verb} because " + "; ".join(entry.reasons))
        return lines

    def run(self, steps, *, context=None):
        """Run ``steps`` in order, skipping those that are up to date.

        Parameters
        ----------
        steps : list of Step
        context : object, optional
            Passed to every step function (default: this engine).

        Returns
        -------
        list of PlannedStep
            The plan as it was carried out.

        Raises
        ------
        StepFailed
            When a step raises; earlier steps stay recorded.
        """
        plan = self.plan(steps)
        self._previous_outputs, self._reused = {}, set()
        changed = [e for e in plan if e.action == "rerun"]
        if changed:
            self.say("protocol or inputs changed since the last run in " + self.outdir + ":")
            for line in self.describe(plan):
                if not line.endswith("up to date"):
                    self.say("  " + line)
        for k, entry in enumerate(plan, start=1):
            step = entry.step
            head = f"[{k}/{len(plan)}] {step.title}"
            if entry.action == "skip":
                self._reused.add(step.name)
                self.records[step.name] = entry.previous
                self.say(f"{head}: up to date, reused (took {entry.previous['elapsed_s']:.1f} s)")
                continue
            if entry.action == "rerun" and self._reproduced(entry):
                entry.action, entry.reasons = "skip", []
                self._reused.add(step.name)
                self.records[step.name] = entry.previous
                self.say(f"{head}: up to date, reused (the steps it uses reproduced their "
                         "outputs byte for byte)")
                continue
            if step.workdir is not None and entry.previous is not None \
                    and (self.force or entry.previous.get("key") != entry.key):
                self._set_aside(step, entry, head)
            self.say(f"{head} ...")
            if entry.previous is not None and entry.previous.get("status") == "done":
                self._previous_outputs[step.name] = entry.previous.get("outputs")
            record = dict(step=step.name, title=step.title, status="running", key=entry.key,
                          inputs=entry.inputs, reasons=entry.reasons,
                          provenance=self._provenance())
            self._write_marker(step.name, record)
            start = time.perf_counter()
            try:
                results, line = step.function(self if context is None else context)
            except Exception as error:
                record.update(status="failed", error=f"{type(error).__name__}: {error}",
                              elapsed_s=time.perf_counter() - start)
                self._write_marker(step.name, record)
                raise
            missing = [name for name in step.outputs if not os.path.exists(self.path(name))]
            if missing:
                raise StepFailed(f"step {step.name!r} finished without writing {missing}")
            written = list(step.outputs) + [name for name in step.optional_outputs
                                            if os.path.exists(self.path(name))]
            record.update(status="done", results=to_json(results),
                          outputs={name: sha256_of_file(self.path(name)) for name in written},
                          elapsed_s=time.perf_counter() - start)
            self._write_marker(step.name, record)
            self.records[step.name] = record
            self.say(f"      done in {record['elapsed_s']:.1f} s: {line}")
        return plan

    def _set_aside(self, step, entry, head):
        """Move the work folder of a step that reruns with another key (or
        forced) to ``<workdir>.earlier-<old key[:12]>`` (a number appended
        if taken), so that its files (MD logs, say) are kept, and say so."""
        folder = self.path(step.workdir)
        if not os.path.isdir(folder) or not os.listdir(folder):
            return
        base = f"{folder}.earlier-{str(entry.previous.get('key'))[:12]}"
        target, number = base, 1
        while os.path.exists(target):
            number += 1
            target = f"{base}.{number}"
        os.replace(folder, target)
        self.say(f"{head}: moved the work folder of the earlier run, {step.workdir}/, to "
                 f"{os.path.basename(target)}/ (kept; delete it when no longer needed)")

    def _reproduced(self, entry):
        """Whether ``entry`` reruns only because steps it uses reran, and
        those wrote the same outputs (sha256) as before."""
        previous = entry.previous
        upstream = [f"step {name} reruns" for name in entry.step.uses]
        if (self.force or previous is None or previous.get("status") != "done"
                or previous.get("key") != entry.key
                or not all(reason in upstream for reason in entry.reasons)):
            return False
        for name in entry.step.uses:
            if name in self._reused:
                continue
            before = self._previous_outputs.get(name)
            if before is None or self.records[name].get("outputs") != before:
                return False
        return True

    def _provenance(self):
        return dict(ase_dipole_version=__version__, python=platform.python_version(),
                    date=datetime.datetime.now().isoformat(timespec="seconds"),
                    command=self.command)

    def _write_marker(self, name, record):
        write_text_atomic(self.marker_path(name),
                          json.dumps(to_json(record), indent=1, sort_keys=True) + "\n")
