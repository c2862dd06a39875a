"""Checks shared by the molecular reference methods."""

import numpy as np

INSTALL_HINT = 'install the optional dependencies with: pip install "ase-dipole[reference]"'


def check_molecule(atoms, what):
    """Validate an isolated molecule; return its positions (N, 3), Å."""
    if len(atoms) == 0:
        raise ValueError(f"{what}: the Atoms object has no atoms")
    if np.any(atoms.pbc):
        raise ValueError(
            f"{what}: atoms.pbc = {list(map(bool, atoms.pbc))}, but this reference "
            "dipole is defined for isolated molecules only; set atoms.pbc = False "
            "(a cell may stay; it is ignored)"
        )
    positions = np.asarray(atoms.positions, dtype=float)
    if not np.all(np.isfinite(positions)):
        raise ValueError(f"{what}: atoms.positions contain NaN or inf; fix the structure")
    return positions


def check_step(step_A):
    if not (np.isfinite(step_A) and 0.0 < step_A < 0.1):
        raise ValueError(
            f"step_A = {step_A!r} Å; use a finite-difference step in (0, 0.1) Å, "
            "e.g. 1e-3"
        )
