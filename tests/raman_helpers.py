"""An exact, analytic α(R) for the Raman tests: ASE's bond-polarizability
model (Lippincott–Stuttman, :class:`ase.calculators.bond_polarizability.BondPolarizability`)
with its analytic nuclear gradient, on a fixed bond list.

Each bond from atom a to atom b (vector d, length L) adds
α_b = α_⊥ 1 + (α_∥(L) − α_⊥) d dᵀ/L², α_∥ = σ L⁴/(4⁴ α_a α_b)^{1/6}, α_⊥
constant; in Å³ (ASE returns e²Å²/eV: times Bohr·Ha)."""

import numpy as np
from ase.calculators.bond_polarizability import BondPolarizability, LippincottStuttman
from ase.data import covalent_radii
from ase.neighborlist import NeighborList
from ase.units import Bohr, Ha


def bond_list(atoms):
    """Pairs (a, b), a < b, that ASE's BondPolarizability counts as bonds."""
    radii = np.array([covalent_radii[z] for z in atoms.numbers])
    neighbours = NeighborList(radii * 1.5, skin=0, self_interaction=False)
    neighbours.update(atoms)
    return [(a, int(b)) for a in range(len(atoms)) for b in neighbours.get_neighbors(a)[0]]


class AnalyticBondPolarizability:
    """α (3, 3) Å³ and ∂α/∂x (N, 3, 3, 3) Å² of the bond model, bonds fixed at
    construction (valid while no bond crosses ASE's cutoff)."""

    sha256 = "bond-polarizability-test-model"

    def __init__(self, atoms):
        self.bonds = bond_list(atoms)
        self.symbols = atoms.get_chemical_symbols()
        self.model = LippincottStuttman()

    def predict(self, atoms):
        positions = atoms.get_positions()
        alpha = np.zeros((3, 3))
        dalpha = np.zeros((len(atoms), 3, 3, 3))
        for a, b in self.bonds:
            d = positions[b] - positions[a]
            length = np.linalg.norm(d)
            parallel, perpendicular = self.model(self.symbols[a], self.symbols[b], length)
            # α_b = α⊥ 1 + g(L) d dᵀ with g = α∥/L² − α⊥/L² = c L² − α⊥/L²
            c = parallel / length**4
            g = c * length**2 - perpendicular / length**2
            dg = 2.0 * c * length + 2.0 * perpendicular / length**3  # dg/dL
            alpha += perpendicular * np.eye(3) + g * np.outer(d, d)
            grad = (dg / length) * np.einsum("a,b,c->abc", d, d, d)
            grad += g * (np.einsum("ac,b->abc", np.eye(3), d) + np.einsum("a,bc->abc", d, np.eye(3)))
            dalpha[b] += grad
            dalpha[a] -= grad
        return alpha, dalpha


def ase_bond_polarizability_A3(atoms):
    """ASE's own BondPolarizability in Å³."""
    return BondPolarizability()(atoms) * Bohr * Ha


def finite_difference_derivatives(atoms, polarizability_of, step_A):
    """Central differences ∂α_ab/∂x_ic, (N, 3, 3, 3) Å², of ``polarizability_of(atoms)`` (Å³)."""
    reference = atoms.get_positions()
    out = np.zeros((len(atoms), 3, 3, 3))
    displaced = atoms.copy()
    for i in range(len(atoms)):
        for c in range(3):
            for sign in (1.0, -1.0):
                positions = reference.copy()
                positions[i, c] += sign * step_A
                displaced.positions = positions
                out[i, :, :, c] += sign * polarizability_of(displaced) / (2.0 * step_A)
    return out


def emt_water():
    """H2O relaxed with ASE's EMT (non-degenerate modes at 194, 2406, 3110 cm⁻¹), pbc False."""
    from ase.build import molecule
    from ase.calculators.emt import EMT
    from ase.optimize import BFGS

    atoms = molecule("H2O")
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=1e-6, steps=500)
    atoms.calc = None
    atoms.pbc = False
    return atoms


class QuadraticCalculator:
    """Exactly harmonic forces F = −H (x − x₀) about a reference geometry (an ASE calculator).

    Parameters
    ----------
    reference_positions : (N, 3) Å
    hessian : (3N, 3N) eV/Å², atom-major
    """

    def __new__(cls, reference_positions, hessian):
        from ase.calculators.calculator import Calculator, all_changes

        class _Quadratic(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                shift = (self.atoms.get_positions() - reference_positions).ravel()
                force = -hessian @ shift
                self.results = {"energy": -0.5 * float(shift @ force), "forces": force.reshape(-1, 3)}

        return _Quadratic()


def internal_hessian(harmonic, phonon):
    """(3N, 3N) eV/Å²: the Hessian of the active normal modes of a
    HarmonicRaman/HarmonicIR, rigid-body motions exactly free."""
    from ase_dipole.spectra.harmonic import THZ_TO_CM1

    active = harmonic.active
    vectors = harmonic.eigenvectors[active].reshape(active.sum(), -1)
    eigenvalues = (harmonic.frequencies_cm1[active] / THZ_TO_CM1 / phonon.unit_conversion_factor) ** 2
    root_mass = np.repeat(np.sqrt(harmonic.atoms.get_masses()), 3)
    return root_mass[:, None] * (vectors.T @ np.diag(eigenvalues) @ vectors) * root_mass[None, :]
