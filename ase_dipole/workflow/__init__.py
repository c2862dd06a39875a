"""The paper's protocol as resumable steps, for the demo and for user protocols.

* :mod:`~ase_dipole.workflow.engine`: content-addressed, resumable steps with provenance.
* :mod:`~ase_dipole.workflow.protocol`: reading and checking a protocol file (TOML).
* :mod:`~ase_dipole.workflow.steps`: the steps (structure → sample → select → label →
  fit → md → spectrum → harmonic → compare) and :func:`run_protocol`.
* :mod:`~ase_dipole.workflow.reference_set`: labelled sets split into training and held-out frames.
* :mod:`~ase_dipole.workflow.summary`: ``summary.txt`` of a run.
* :mod:`~ase_dipole.workflow.demo`: the demo's own parameters over ``protocols/water_dimer.toml``.
"""
