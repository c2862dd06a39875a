"""The water-dimer demo: the shipped protocol ``protocols/water_dimer.toml``
run by the protocol engine, like any user's protocol.

The protocol file holds the physics (GFN2-xTB water dimer at 100 K, the
shipped 150-Z* reference set, a Z*-only model, 12 × 5 ps of NVE, bands
checked against the harmonic spectrum); this module holds only the demo's
variants: :data:`QUICK` (the one-minute smoke version), ``regenerate``
(``protocols/water_dimer_from_scratch.toml``: sample, select and label new
frames with GFN2-xTB) and a few named overrides. :func:`run_arguments`
gives the equivalent ``ase-dipole run`` command, which ``ase-dipole demo``
executes.
"""

import shlex
import sys

from ase_dipole.workflow.protocol import load_protocol, shipped_protocol

DEFAULT_OUTDIR = "ase-dipole-demo"
PROTOCOL = "water_dimer"
FROM_SCRATCH_PROTOCOL = "water_dimer_from_scratch"
#: the smoke version: 2 × 2 ps of MD resolved at 50 cm⁻¹, a short learning curve
QUICK = {
    "md.n_trajectories": 2, "md.equilibration_steps": 400, "md.decorrelation_steps": 200,
    "md.production_steps": 4000, "spectrum.fwhm_cm1": 50.0, "fit.learning_curve_sizes": [5, 10, 20],
}
#: the smoke version of the from-scratch route: 60 sampled frames, 12 + 6 labelled
QUICK_FROM_SCRATCH = {"sample.steps": 3000, "select.n_train": 12, "select.n_test": 6,
                      "fit.learning_curve_sizes": [4, 8, 12]}
#: :func:`run_demo` keyword -> protocol key
OVERRIDES = {
    "temperature_K": "md.temperature_K", "n_trajectories": "md.n_trajectories",
    "production_steps": "md.production_steps", "seed": "md.seed",
    "fwhm_cm1": "spectrum.fwhm_cm1",
}


def demo_settings(*, quick=False, regenerate=False, **overrides):
    """The protocol file and the ``section.key -> value`` settings of a demo run.

    Raises
    ------
    ValueError
        For a keyword not in :data:`OVERRIDES`.
    """
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ValueError(f"unknown demo parameter(s) {unknown}; use some of {sorted(OVERRIDES)}")
    settings = {}
    if quick:
        settings.update(QUICK)
        if regenerate:
            settings.update(QUICK_FROM_SCRATCH)
    settings.update({OVERRIDES[name]: value for name, value in overrides.items()})
    return shipped_protocol(FROM_SCRATCH_PROTOCOL if regenerate else PROTOCOL), settings


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_toml_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def run_arguments(outdir=DEFAULT_OUTDIR, *, quick=False, regenerate=False, force=False,
                  threads=1, **overrides):
    """The ``ase-dipole run`` arguments of a demo run (a list of str; ``threads``:
    numba, BLAS and OpenMP threads, 1 by default)."""
    path, settings = demo_settings(quick=quick, regenerate=regenerate, **overrides)
    arguments = ["run", path, "-o", str(outdir), "--threads", str(int(threads))]
    for name, value in settings.items():
        arguments += ["--set", f"{name}={_toml_value(value)}"]
    return arguments + (["--force"] if force else [])


def run_demo(outdir=DEFAULT_OUTDIR, *, quick=False, regenerate=False, force=False,
             stream=sys.stderr, **overrides):
    """Run the water-dimer demo into ``outdir``.

    Parameters
    ----------
    outdir : str or path-like
        Output folder (created); default ``ase-dipole-demo``.
    quick : bool, keyword-only
        The smoke version (:data:`QUICK`).
    regenerate : bool, keyword-only
        Sample, select and label new frames with GFN2-xTB instead of using
        the shipped reference set.
    force : bool, keyword-only
        Redo every step.
    stream : file or None, keyword-only
        Progress lines.
    **overrides
        Keywords of :data:`OVERRIDES` (e.g. ``temperature_K=200``).

    Returns
    -------
    ase_dipole.workflow.steps.ProtocolResult
    """
    from ase_dipole.workflow.steps import run_protocol

    path, settings = demo_settings(quick=quick, regenerate=regenerate, **overrides)
    protocol = load_protocol(path, overrides={tuple(name.split(".", 1)): value
                                              for name, value in settings.items()})
    command = "ase-dipole " + shlex.join(run_arguments(outdir, quick=quick, regenerate=regenerate,
                                                     force=force, **overrides))
    return run_protocol(protocol, outdir, force=force, threads=1, stream=stream, command=command)
