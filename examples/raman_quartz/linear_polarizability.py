"""α linear in the displacements, from a polarizability model's ∂α/∂x at equilibrium.

.. math::

    \\alpha(R) = \\alpha_0 + \\sum_{kc} D_{k\\cdot\\cdot c}\\,(R - R_0)_{kc},
    \\qquad \\dot\\alpha = \\sum_{kc} D_{k\\cdot\\cdot c}\\, v_{kc}

with α₀ and D = ∂α/∂x (N, 3, 3, 3) Å² of a :class:`PolarizabilityModel` at
the reference structure R₀: the Raman analogue of fixed Born charges
(:class:`ase_dipole.learning.fixed_charges.FixedChargesModel`). The ±
frames of the VASP set fix α to first order along each mode only, so the
model's curvature at MD amplitudes is an extrapolation (``results/fit.json``,
``nonlinearity_at_0.06A_rms``); this source keeps the first order, which the
data do fix, and leaves the anharmonicity to the force field.
"""

import hashlib

import numpy as np


class LinearPolarizability:
    """First-order α(R) about ``reference`` (a polarizability source for
    :class:`ase_dipole.dynamics.polarizability_log.PolarizabilityObserver`
    and ``run_ir_md(polarizability_model=)``).

    Parameters
    ----------
    model : PolarizabilityModel
        Gives α₀ (3, 3) Å³ and D (N, 3, 3, 3) Å² at ``reference``.
    reference : ase.Atoms
        The equilibrium structure (same atoms and order as the MD).
    """

    def __init__(self, model, reference):
        self.alpha0, self.derivatives = model.predict(reference)
        self.reference_positions = reference.get_positions()
        self.cell = np.array(reference.cell)
        self.symbols = reference.get_chemical_symbols()
        digest = hashlib.sha256(b"LinearPolarizability")
        digest.update(model.sha256.encode())
        digest.update(np.ascontiguousarray(self.reference_positions).tobytes())
        self._sha256 = digest.hexdigest()

    @property
    def sha256(self):
        """Digest of the model's digest and the reference positions."""
        return self._sha256

    def _check(self, atoms):
        if atoms.get_chemical_symbols() != self.symbols:
            raise ValueError(f"atoms {atoms.get_chemical_formula()} are not the reference's atoms in the same order")

    def predict(self, atoms):
        """α (3, 3) Å³ and D (N, 3, 3, 3) Å²."""
        self._check(atoms)
        delta = atoms.get_positions() - self.reference_positions
        fractional = np.linalg.solve(self.cell.T, delta.T).T
        delta = (fractional - np.round(fractional)) @ self.cell
        return self.alpha0 + np.einsum("kabc,kc->ab", self.derivatives, delta), self.derivatives

    def predict_polarizability(self, atoms):
        """α (3, 3) Å³."""
        return self.predict(atoms)[0]

    def predict_alphadot(self, atoms, velocities_A_per_fs):
        """α (3, 3) Å³ and α̇ = Σ D·v (3, 3) Å³/fs."""
        alpha, derivatives = self.predict(atoms)
        return alpha, np.einsum("kabc,kc->ab", derivatives, velocities_A_per_fs)
