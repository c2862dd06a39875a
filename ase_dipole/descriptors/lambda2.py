"""λ = 0 ⊕ λ = 2 descriptor for rank-2 symmetric tensors (the polarizability).

The Cartesian form of the l = 0, 1, 2 λ-SOAP densities of every atom,
coupled to λ = 2 (symmetric traceless 3×3) and λ = 0 (scalar) features with
exact nuclear gradients; see :mod:`ase_dipole.descriptors.lambda2_numba`
for the features. A linear model on them,

    α = Σ_j [ Σ_f c2_f^{J(j)} D2_f(X_j) + 1 Σ_f c0_f^{J(j)} D0_f(X_j) ],

is a symmetric tensor that rotates as R α Rᵀ, with a rotation-invariant
trace carried by the λ = 0 part alone (D2 is traceless), and is invariant
under translations and permutations of like atoms. The radial functions and
cut-off are those of :class:`ase_dipole.descriptors.lambda_soap.LambdaSOAP`
(spherical-Bessel g_nl, Behler–Parrinello cut-off), for l = 0, 1, 2.
"""

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from ase_dipole.descriptors import basis
from ase_dipole.descriptors import lambda2_numba as kernels
from ase_dipole.descriptors.lambda_soap import VERLET_SKIN_A
from ase_dipole.descriptors.neighbours import VerletList


class Lambda2SOAP:
    """λ = 0 ⊕ λ = 2 features of every atom, summed per species, with gradients.

    Parameters
    ----------
    species : sequence of str or int
    cutoff : float, Å
    n_max : int
        Radial functions per angular channel (l = 0, 1, 2).

    Notes
    -----
    With P = S·n_max channels (S species) there are
    F2 = P + P(P+1)/2 + P² tensor and F0 = 1 + P + P(P+1) scalar features per
    species.
    """

    def __init__(self, species, *, cutoff=5.0, n_max=4):
        numbers = sorted({atomic_numbers[s] if isinstance(s, str) else int(s) for s in species})
        if not numbers:
            raise ValueError("species is empty; give the chemical symbols the model must know")
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive (Å), got {cutoff!r}")
        if int(n_max) < 1:
            raise ValueError(f"need n_max >= 1, got {n_max}")
        self.numbers = tuple(numbers)
        self.species = tuple(chemical_symbols[z] for z in numbers)
        self.cutoff = float(cutoff)
        self.n_max = int(n_max)
        self._species_index = np.full(max(numbers) + 1, -1, dtype=np.int64)
        self._species_index[list(numbers)] = np.arange(len(numbers))
        self._table, self._grid_step = basis.radial_table(self.cutoff, self.n_max, 2)
        P = self.n_channels
        pair_index = np.empty((P, P), dtype=np.int64)
        count = 0
        for p in range(P):
            for q in range(p, P):
                pair_index[p, q] = pair_index[q, p] = count
                count += 1
        self._pair_index = pair_index
        self._neighbours = VerletList(self.cutoff, VERLET_SKIN_A)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_neighbours"] = VerletList(self.cutoff, VERLET_SKIN_A)
        return state

    @property
    def hyper_parameters(self):
        """JSON-able dict; ``Lambda2SOAP(**hyper_parameters)`` rebuilds the descriptor."""
        return {"species": list(self.species), "cutoff": self.cutoff, "n_max": self.n_max}

    @property
    def n_channels(self):
        return len(self.species) * self.n_max

    @property
    def n_tensor_features(self):
        """F2, the λ = 2 features per species."""
        P = self.n_channels
        return P + P * (P + 1) // 2 + P * P

    @property
    def n_scalar_features(self):
        """F0, the λ = 0 features per species (the first is the atom count)."""
        P = self.n_channels
        return 1 + P + P * (P + 1)

    def _environment(self, atoms):
        """Species indices (N,) of the atoms (an unknown species is an error)
        and their neighbour list within the cut-off (a Verlet list kept
        between calls, rebuilt once an atom has moved half its skin)."""
        numbers = atoms.numbers
        known = (numbers < len(self._species_index)) & (
            self._species_index[np.minimum(numbers, len(self._species_index) - 1)] >= 0)
        if not known.all():
            unknown = sorted({chemical_symbols[z] for z in numbers[~known]})
            raise ValueError(f"unknown species {unknown}; this descriptor knows {list(self.species)}")
        species = self._species_index[numbers]
        return species, self._neighbours.update(atoms.positions, atoms.cell.array, atoms.pbc)

    def _run(self, atoms, want_gradient):
        species, nl = self._environment(atoms)
        S, N = len(self.species), len(atoms)
        F2, F0 = self.n_tensor_features, self.n_scalar_features
        D2 = np.empty((S, F2, 3, 3))
        D0 = np.empty((S, F0))
        G2 = np.empty((N, 3, S, F2, 3, 3) if want_gradient else (0, 3, S, F2, 3, 3))
        G0 = np.empty((N, 3, S, F0) if want_gradient else (0, 3, S, F0))
        kernels.features(nl.offsets, nl.neighbours, nl.vectors, species, species[nl.neighbours],
                         self._table, self._grid_step, self.n_max, self._pair_index, D2, D0, G2, G0,
                         want_gradient)
        return D2, D0, G2, G0

    def features(self, atoms):
        """Species-summed features: D2 (S, F2, 3, 3) (symmetric traceless) and D0 (S, F0)."""
        D2, D0, _, _ = self._run(atoms, False)
        return D2, D0

    def gradients(self, atoms):
        """Features and their gradients: D2, D0 as :meth:`features`,
        G2 (N, 3, S, F2, 3, 3) ``[k, c, s, f, a, b] = Σ_{j of s} ∂D2_f,ab(X_j)/∂x_kc`` (1/Å)
        and G0 (N, 3, S, F0)."""
        return self._run(atoms, True)

    def _coefficients(self, tensor_coefficients, scalar_coefficients):
        S = len(self.species)
        c2 = np.ascontiguousarray(tensor_coefficients, dtype=float)
        c0 = np.ascontiguousarray(scalar_coefficients, dtype=float)
        if c2.shape != (S, self.n_tensor_features) or c0.shape != (S, self.n_scalar_features):
            raise ValueError(f"coefficients have shapes {c2.shape}, {c0.shape}; expected "
                             f"({S}, {self.n_tensor_features}) and ({S}, {self.n_scalar_features})")
        return c2, c0

    def _predict(self, atoms, coefficients, mode, velocities, rate, dalpha):
        c2, c0 = self._coefficients(*coefficients)
        species, nl = self._environment(atoms)
        alpha = np.empty((3, 3))
        kernels.predict(nl.offsets, nl.neighbours, nl.vectors, species, species[nl.neighbours], self._table,
                        self._grid_step, self.n_max, self._pair_index, c2, c0, mode, velocities, alpha, rate,
                        dalpha)
        return alpha

    def predict(self, atoms, tensor_coefficients, scalar_coefficients, *, gradient=True):
        """α (3, 3) and ∂α/∂x (N, 3, 3, 3) (or None) of the linear model with
        per-species coefficients (S, F2) and (S, F0), by the folded route of
        :func:`ase_dipole.descriptors.lambda2_numba.predict` (no feature gradients formed)."""
        mode = kernels.GRADIENT if gradient else kernels.VALUE
        dalpha = np.empty((len(atoms), 3, 3, 3) if gradient else (0, 3, 3, 3))
        alpha = self._predict(atoms, (tensor_coefficients, scalar_coefficients), mode, np.empty((0, 3)),
                              np.empty((3, 3)), dalpha)
        return alpha, (dalpha if gradient else None)

    def predict_rate(self, atoms, tensor_coefficients, scalar_coefficients, velocities):
        """α (3, 3) and α̇ = Σ_k ∂α/∂x_k·v_k (3, 3), per unit of the velocities
        (N, 3), contracted inside the kernel (∂α/∂x is never formed)."""
        v = np.ascontiguousarray(velocities, dtype=float)
        if v.shape != (len(atoms), 3):
            raise ValueError(f"velocities have shape {v.shape}; expected ({len(atoms)}, 3) in Å/fs")
        if not np.all(np.isfinite(v)):
            raise ValueError("velocities contain NaN or inf")
        rate = np.empty((3, 3))
        alpha = self._predict(atoms, (tensor_coefficients, scalar_coefficients), kernels.RATE, v, rate,
                              np.empty((0, 3, 3, 3)))
        return alpha, rate
