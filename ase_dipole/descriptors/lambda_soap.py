"""λ-SOAP descriptors (λ = 1, polar vectors) with exact derivatives.

The density of each atomic environment is expanded in spherical-Bessel radial
functions with a Behler–Parrinello cut-off and real spherical harmonics
(:mod:`ase_dipole.descriptors.basis`), resolved by neighbour species. The λ = 1 features
of an atom are Cartesian vectors: the l = 1 density (2-body) and the polar
products of l and l + 1 densities (3-body), see
:mod:`ase_dipole.descriptors.lambda_soap_numba`. λ = 0 invariants (the power spectrum) and
their gradients are available for non-linear kernels.

Besides features and their full gradients (what training needs), the class
offers the cheap routes prediction needs: for per-species coefficient
vectors c, the descriptor dipole μ = Σ_j D(X_j)·c_{J(j)}, all Born charges
Z*_k = ∂μ/∂x_k through an adjoint of the densities, and Ṗ along given
velocities through the time derivative of the densities.
"""

import threading
from dataclasses import dataclass

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from ase_dipole.descriptors import basis
from ase_dipole.descriptors import lambda_soap_numba as kernels
from ase_dipole.descriptors import prediction
from ase_dipole.descriptors.neighbours import NeighbourList, VerletList
from ase_dipole.threads import with_kernel_threads


#: Verlet skin of the neighbour list kept between calls, Å: the list is
#: rebuilt once an atom has moved more than half of it (consecutive MD steps
#: reuse it)
VERLET_SKIN_A = 0.5


@dataclass(frozen=True)
class _Environment:
    """Validated structure and its neighbour list."""

    species: np.ndarray  # (N,) int64 index into LambdaSOAP.species
    neighbours: NeighbourList
    neighbour_species: np.ndarray  # (P,) int64


class LambdaSOAP:
    """λ = 1 λ-SOAP descriptor of every atom, with derivatives.

    Parameters
    ----------
    species : sequence of str or int
        Chemical symbols or atomic numbers of every species that may occur.
    cutoff : float, Å
        Radial cut-off r_c (Behler–Parrinello cosine cut-off).
    n_max : int
        Number of radial functions per angular channel.
    l_max : int
        Largest angular momentum of the density (>= 1).

    Notes
    -----
    Per atom there are ``F = S*n_max + S²*n_max²*l_max`` features (S species),
    each a Cartesian vector: 1040 for water with the defaults.
    """

    def __init__(self, species, *, cutoff=5.5, n_max=8, l_max=4):
        numbers = sorted({atomic_numbers[s] if isinstance(s, str) else int(s) for s in species})
        if not numbers:
            raise ValueError("species is empty; give the chemical symbols the model must know")
        if not cutoff > 0:
            raise ValueError(f"cutoff must be positive (Å), got {cutoff!r}")
        if int(n_max) < 1 or int(l_max) < 1:
            raise ValueError(f"need n_max >= 1 and l_max >= 1, got n_max={n_max}, l_max={l_max}")
        self.numbers = tuple(numbers)
        self.species = tuple(chemical_symbols[z] for z in numbers)
        self.cutoff = float(cutoff)
        self.n_max = int(n_max)
        self.l_max = int(l_max)
        self._species_index = np.full(max(numbers) + 1, -1, dtype=np.int64)
        self._species_index[list(numbers)] = np.arange(len(numbers))
        self._norm = basis.harmonic_norms(self.l_max)
        self._T, self._G = basis.coupling_tensors(self.l_max, self._norm)
        self._table, self._grid_step = basis.radial_table(self.cutoff, self.n_max, self.l_max)
        self._neighbours = VerletList(self.cutoff, VERLET_SKIN_A)
        self._scratch = {}

    @property
    def hyper_parameters(self):
        """JSON-able dict; ``LambdaSOAP(**hyper_parameters)`` rebuilds the descriptor."""
        return {"species": list(self.species), "cutoff": self.cutoff,
                "n_max": self.n_max, "l_max": self.l_max}

    @property
    def n_features(self):
        """Number F of λ = 1 features per atom."""
        S = len(self.species)
        return S * self.n_max + S * S * self.n_max * self.n_max * self.l_max

    @property
    def n_invariants(self):
        """Number of λ = 0 invariants per atom."""
        Sn = len(self.species) * self.n_max
        return Sn + Sn * (Sn + 1) // 2 * (self.l_max + 1)

    def __repr__(self):
        return (f"LambdaSOAP(species={self.species}, cutoff={self.cutoff}, "
                f"n_max={self.n_max}, l_max={self.l_max})")

    # -- set-up -----------------------------------------------------------
    def _environment(self, atoms):
        numbers = atoms.numbers
        known = (numbers < len(self._species_index)) & (
            self._species_index[np.minimum(numbers, len(self._species_index) - 1)] >= 0)
        if not known.all():
            unknown = sorted({chemical_symbols[z] for z in numbers[~known]})
            raise ValueError(f"unknown species {unknown}; this descriptor knows {list(self.species)}")
        species = self._species_index[numbers]
        nl = self._neighbours.update(atoms.positions, atoms.cell.array, atoms.pbc)
        return _Environment(species=species, neighbours=nl, neighbour_species=species[nl.neighbours])

    def _buffer(self, name, shape):
        """A scratch array kept per thread between calls of the same size (the
        densities of a large system are 3·10⁸ bytes at 10⁵ atoms)."""
        key = (threading.get_ident(), name)
        array = self._scratch.get(key)
        if array is None or array.shape != shape:
            array = np.empty(shape)
            self._scratch[key] = array
        return array

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_scratch"] = {}
        state["_neighbours"] = VerletList(self.cutoff, VERLET_SKIN_A)
        return state

    def _density(self, env):
        nl = env.neighbours
        shape = (len(env.species), len(self.species), self.n_max, (self.l_max + 1) ** 2)
        rho = self._buffer("density", shape)
        kernels.density(nl.offsets, nl.vectors, env.neighbour_species, self._table,
                        self._grid_step, self.l_max, self._norm, rho)
        return rho

    def _coefficients(self, coefficients):
        c = np.ascontiguousarray(coefficients, dtype=float)
        expected = (len(self.species), self.n_features)
        if c.shape != expected:
            raise ValueError(f"coefficients have shape {c.shape}; expected {expected} (species, features)")
        if not np.all(np.isfinite(c)):
            raise ValueError("coefficients contain NaN or inf")
        return c

    # -- features ---------------------------------------------------------
    @with_kernel_threads
    def features(self, atoms, *, out=None):
        """λ = 1 features of every atom, shape (N, 3, F); Cartesian a = x, y, z.

        ``out``, a C-contiguous float64 array of that shape, receives them
        (and is returned): reusing it across calls on large systems saves
        allocating and first touching N·3·F·8 bytes each time."""
        env = self._environment(atoms)
        nl = env.neighbours
        shape = (len(atoms), 3, self.n_features)
        if out is None:
            out = np.empty(shape)
        elif (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.float64
              or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"out must be a writeable C-contiguous float64 array of shape {shape}, "
                             f"got {getattr(out, 'dtype', type(out).__name__)} "
                             f"{getattr(out, 'shape', '')}")
        kernels.density_features(nl.offsets, nl.vectors, env.neighbour_species, len(self.species),
                                 self._table, self._grid_step, self.l_max, self._norm, self._T,
                                 self._G, out)
        return out

    @with_kernel_threads
    def invariants(self, atoms):
        """λ = 0 invariants (power spectrum) of every atom, shape (N, n_invariants)."""
        env = self._environment(atoms)
        rho = self._density(env)
        P = np.empty((len(atoms), self.n_invariants))
        kernels.invariants(rho, self.l_max, P)
        return P

    @with_kernel_threads
    def summed_features(self, atoms):
        """``[s, a, f] = Σ_{j of species s} D^a_f(X_j)``, shape (S, 3, F)."""
        D = self.features(atoms)
        species = self._species_index[atoms.numbers]
        out = np.zeros((len(self.species), 3, self.n_features))
        np.add.at(out, species, D)
        return out

    def _gradients(self, atoms, group, n_groups):
        env = self._environment(atoms)
        nl = env.neighbours
        rho = self._density(env)
        S = len(self.species)
        halves = (len(atoms), self.l_max, 3, S, self.n_max, 2 * self.l_max + 1)
        H1 = np.empty(halves)
        H2 = np.empty(halves)
        kernels.all_half_contractions(rho, self._G, self.l_max, H1, H2)
        # (centre, l, m, a·S·n_max + b·n_max + n): the B operands of the kernel's products
        grouped = (len(atoms), self.l_max, 2 * self.l_max + 1, 3 * S * self.n_max)
        H1g = np.ascontiguousarray(H1.transpose(0, 1, 5, 2, 3, 4)).reshape(grouped)
        H2g = np.ascontiguousarray(H2.transpose(0, 1, 5, 2, 3, 4)).reshape(grouped)
        out = np.empty((len(atoms), 3, 3, n_groups, self.n_features))  # the kernel clears it
        kernels.feature_gradients(nl.offsets, nl.neighbours, nl.vectors, env.species,
                                  np.ascontiguousarray(group, dtype=np.int64), H1g, H2g, self._T,
                                  self._table, self._grid_step, self.l_max, self._norm, out)
        return out

    @with_kernel_threads
    def summed_gradients(self, atoms):
        """``[k, a, β, s, f] = Σ_{j of species s} ∂D^a_f(X_j)/∂x_kβ`` (1/Å · feature),
        shape (N, 3, 3, S, F). ``reshape(N*9, S*F)`` gives the design-matrix rows of
        Z*_k (row ``9k + 3a + β``)."""
        return self._gradients(atoms, self._species_index[atoms.numbers], len(self.species))

    @with_kernel_threads
    def feature_gradients(self, atoms):
        """Per-atom gradients ``[j, k, a, β, f] = ∂D^a_f(X_j)/∂x_kβ``, shape
        (N, N, 3, 3, F). Memory grows as N²: meant for small systems and tests."""
        if len(atoms) > 200:
            raise ValueError(f"feature_gradients is dense in N²; {len(atoms)} atoms is too many, "
                             "use summed_gradients")
        out = self._gradients(atoms, np.arange(len(atoms)), len(atoms))
        return np.ascontiguousarray(out.transpose(3, 0, 1, 2, 4))

    @with_kernel_threads
    def invariant_gradients(self, atoms):
        """Per-atom gradients of the λ = 0 invariants ``[j, k, β, q] =
        ∂P_q(X_j)/∂x_kβ``, shape (N, N, 3, n_invariants). Dense in N²: meant for
        small systems (and non-linear kernels built on them)."""
        if len(atoms) > 200:
            raise ValueError(f"invariant_gradients is dense in N²; {len(atoms)} atoms is too many")
        env = self._environment(atoms)
        nl = env.neighbours
        rho = self._density(env)
        out = np.zeros((len(atoms), 3, len(atoms), self.n_invariants))
        kernels.invariant_gradients(nl.offsets, nl.neighbours, nl.vectors, env.species,
                                    np.arange(len(atoms), dtype=np.int64), rho, self._table,
                                    self._grid_step, self.l_max, self._norm, out)
        return np.ascontiguousarray(out.transpose(2, 0, 1, 3))

    # -- cheap routes for a fitted linear model ----------------------------
    def _predict(self, env, coefficients, mode, velocities=None):
        """(μ (3,), Ṗ (3,), W (P, 3, 3) or None) by
        :class:`ase_dipole.descriptors.prediction.Predictor` (mode 0 μ, 1 Ṗ,
        2 pair charges)."""
        key = (threading.get_ident(), "predictor")
        predictor = self._scratch.get(key)
        if predictor is None:
            predictor = self._scratch[key] = prediction.Predictor(self)
        blocks = prediction.coefficient_blocks(coefficients, len(self.species), self.n_max, self.l_max)
        W = self._buffer("pair charges", (len(env.neighbours.neighbours) if mode == 2 else 0, 3, 3))
        dipole, pdot = predictor.run(env, blocks, mode, velocities, W)
        return dipole, pdot, W

    @with_kernel_threads
    def dipole(self, atoms, coefficients):
        """Descriptor dipole ``Σ_j D(X_j)·c[s(j)]``, shape (3,), for ``coefficients``
        of shape (S, F)."""
        c = self._coefficients(coefficients)
        env = self._environment(atoms)
        dipole, _, _ = self._predict(env, c, 0)
        return dipole

    @with_kernel_threads
    def dipole_and_born_charges(self, atoms, coefficients):
        """Descriptor dipole (3,) and its derivatives ``Z[k, a, β] = ∂μ_a/∂x_kβ``,
        shape (N, 3, 3), by the adjoint route (no feature gradients are formed)."""
        c = self._coefficients(coefficients)
        env = self._environment(atoms)
        nl = env.neighbours
        dipole, _, W = self._predict(env, c, 2)
        Z = np.empty((len(atoms), 3, 3))
        kernels.gather_pair_charges(nl.offsets, nl.reverse, W, Z)
        return dipole, Z

    @with_kernel_threads
    def dipole_and_pdot(self, atoms, coefficients, velocities_A_per_fs):
        """Descriptor dipole (3,) and its time derivative Ṗ = Σ_k Z*_k v_k (3,),
        in units of the dipole per fs, for velocities (N, 3) in Å/fs."""
        c = self._coefficients(coefficients)
        v = np.ascontiguousarray(velocities_A_per_fs, dtype=float)
        if v.shape != (len(atoms), 3):
            raise ValueError(f"velocities have shape {v.shape}; expected ({len(atoms)}, 3) in Å/fs")
        if not np.all(np.isfinite(v)):
            raise ValueError("velocities contain NaN or inf")
        env = self._environment(atoms)
        dipole, pdot, _ = self._predict(env, c, 1, v)
        return dipole, pdot
