"""A small "foreign" dipole model as an ASE calculator: point charges plus
bond dipoles that stretch with the bond, with analytic Born charges.

.. math::

    \\mu = \\sum_i q_i x_i + \\sum_{(i,j)} \\kappa (r_{ij} - r_0) \\mathbf r_{ij},
    \\qquad \\mathbf r_{ij} = x_j - x_i

so Z*_j = q_j 1 + Σ_pairs ∂(κ (r − r0) r)/∂x_j, with
∂(f(r) r_α)/∂x_{jβ} = f'(r) r_α r_β / r + f(r) δ_αβ and the opposite sign for
atom i. The dipole is not linear in the positions, so finite differences of
μ are a real check of the analytic Z*.
"""

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

#: charges of water's atoms, e (neutral molecule)
WATER_CHARGES = {"O": -0.8, "H": 0.4}
#: bond-dipole stiffness, e·Å / Å² and its reference length, Å
KAPPA_E_PER_A = 0.3
R0_A = 0.96


class BondChargeDipole(Calculator):
    """Dipole (e·Å) and Born charges (N, 3, 3), e, of the model above; the
    bonds are the pairs closer than 1.3 Å in the first structure seen."""

    implemented_properties = ["dipole", "born_effective_charges"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pairs = None

    def _bonds(self, atoms):
        if self.pairs is None:
            distances = atoms.get_all_distances()
            i, j = np.nonzero(np.triu(distances < 1.3, k=1))
            self.pairs = np.stack([i, j], axis=1)
        return self.pairs

    def calculate(self, atoms=None, properties=("dipole",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        positions = self.atoms.get_positions()
        charges = np.array([WATER_CHARGES[s] for s in self.atoms.get_chemical_symbols()])
        dipole = charges @ positions
        born = charges[:, None, None] * np.eye(3)[None]
        for i, j in self._bonds(self.atoms):
            vector = positions[j] - positions[i]
            length = np.linalg.norm(vector)
            stretch = KAPPA_E_PER_A * (length - R0_A)
            dipole = dipole + stretch * vector
            block = KAPPA_E_PER_A * np.outer(vector, vector) / length + stretch * np.eye(3)
            born[j] += block
            born[i] -= block
        self.results["dipole"] = dipole
        self.results["born_effective_charges"] = born


class BondChargeDipoleOnly(BondChargeDipole):
    """The same model, returning the dipole only (no Born charges)."""

    implemented_properties = ["dipole"]


def bond_charges():
    """Factory for ``--dipole-calculator foreign_dipole_helpers:bond_charges``."""
    return BondChargeDipole()


def bond_charges_dipole_only():
    """Factory of the dipole-only variant."""
    return BondChargeDipoleOnly()
