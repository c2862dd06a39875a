"""An ASE calculator for the dipole, the polarization and the Born charges.

:class:`DipoleCalculator` puts a dipole model (a trained
:class:`ase_dipole.learning.model.PolarizationModel`, a
:class:`ase_dipole.learning.fixed_charges.FixedChargesModel`, or any object obeying
the same protocol) behind ASE's own property names, optionally on top of
another ASE calculator (an MLFF) that supplies energy, forces and stress::

    atoms.calc = DipoleCalculator("water.model", calculator=mlff)
    atoms.get_forces()            # from mlff
    atoms.get_dipole_moment()     # from the model, e·Å

so ``ase.vibrations.Infrared`` and any ASE MD script work unchanged.

With ``electric_field_V_per_A=(Ex, Ey, Ez)`` it also adds the coupling of a
static, homogeneous field to the model's dipole, −μ·E to the energy and
Σ_α E_α Z*_{i,αβ} to the forces (see the Notes of :class:`DipoleCalculator`)::

    atoms.calc = DipoleCalculator("water.model", calculator=mlff,
                                  electric_field_V_per_A=(0.0, 0.0, 0.02))
"""

import inspect
import os
import warnings

import numpy as np
from ase.calculators.calculator import (
    Calculator,
    PropertyNotImplementedError,
    all_changes,
)

from ase_dipole.descriptors.neighbours import check_finite_positions
from ase_dipole.dynamics.changes import system_changes

#: properties the dipole model provides (ASE names)
DIPOLE_PROPERTIES = ("dipole", "born_effective_charges", "polarization")
#: posterior predictive standard deviations, when the model provides them
STD_PROPERTIES = ("dipole_std", "born_effective_charges_std")
#: the field's own terms, offered with a field: −μ·E (eV) and Σ_α E_α Z*_{i,αβ} (eV/Å)
FIELD_PROPERTIES = ("field_energy", "field_forces")
#: wrapped-calculator properties that the field changes
FIELD_DEPENDENT = ("energy", "free_energy", "forces")
#: wrapped-calculator properties not defined with a field: the strain derivative
#: and the per-atom split of −μ·E are not available from a dipole model
FIELD_UNDEFINED = ("stress", "stresses", "energies")
#: |E| (V/Å) above which the linear, clamped-ion coupling is not trusted
#: (a warning; the reasoning is in the Notes of :class:`DipoleCalculator`)
FIELD_LINEAR_BOUND_V_PER_A = 0.1
#: |E| (V/Å) above which a field is refused: the first dropped force term
#: reaches ~10 % of E·Z*, and water dissociates from 0.35 V/Å
FIELD_REFUSED_ABOVE_V_PER_A = 1.0


def provides_uncertainty(model):
    """Whether ``model`` has a usable ``predict_std`` (a PolarizationModel
    fitted with posterior statistics, or any object with ``predict_std`` and
    no ``has_uncertainty`` saying otherwise)."""
    return hasattr(model, "predict_std") and bool(getattr(model, "has_uncertainty", True))



def _has_attribute(obj, name):
    """Whether ``obj`` has ``name``, without evaluating a property."""
    try:
        inspect.getattr_static(obj, name)
    except AttributeError:
        return False
    return True


def load_model(model):
    """Return a dipole model: ``model`` itself, or the model saved at a path.

    Parameters
    ----------
    model : object or str or path-like
        An object with ``predict``, ``predict_dipole`` and ``predict_pdot``,
        or a file written by ``PolarizationModel.save`` or
        ``FixedChargesModel.save``.
    """
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path!r} does not exist")
        from ase_dipole.learning.fixed_charges import FixedChargesModel

        if FixedChargesModel.is_fixed_charges_file(path):
            return FixedChargesModel.load(path)
        from ase_dipole.learning.model import PolarizationModel

        return PolarizationModel.load(path)
    # looked up statically: ``sha256`` is a property that serialises the model
    missing = [name for name in ("predict", "predict_dipole", "predict_pdot", "sha256")
               if not _has_attribute(model, name)]
    if missing:
        raise TypeError(
            f"{type(model).__name__} is not a dipole model: it lacks {missing}; pass a "
            "PolarizationModel, a FixedChargesModel or the path of a saved model"
        )
    return model


def check_species(model, atoms):
    """Raise a ``ValueError`` naming the chemical symbols of ``atoms`` that
    ``model.species`` does not know (``species`` ``None`` skips the check)."""
    species = getattr(model, "species", None)
    if species is None:
        return
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if unknown:
        raise ValueError(
            f"the dipole model knows species {tuple(species)} but the atoms contain "
            f"{unknown}; train the model on data with these elements"
        )


#: covalent bonds: distance below this factor × the sum of ASE's covalent radii
BOND_FACTOR = 1.2
#: contacts joining molecules into one cluster: hydrogen bonds (H···O up to
#: ~2.5 Å in water; van der Waals contacts are longer and not counted)
CONTACT_A = 2.5  # [Å]


def _single_cluster(atoms):
    """The one finite cluster the periodic ``atoms`` hold: its extent (3,) Å
    along the cell's three widths and its number of molecules; None when
    they hold several clusters or an extended (periodically connected)
    network.

    Molecules are the connected groups of covalent bonds (ASE's natural
    cut-offs × :data:`BOND_FACTOR`); a cluster is a connected group of bonds
    and of contacts between different molecules shorter than
    :data:`CONTACT_A` (hydrogen bonds), followed across the cell boundary; a
    group connected to its own periodic image is extended (a crystal, a
    polymer, a liquid). A molecule touching its own images (a small box)
    stays one molecule.
    """
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_atoms = len(atoms)
    bonded = neighbor_list("ijS", atoms, natural_cutoffs(atoms, mult=BOND_FACTOR),
                           self_interaction=False)
    molecules = coo_matrix((np.ones(len(bonded[0])), (bonded[0], bonded[1])),
                           shape=(n_atoms, n_atoms))
    n_molecules, molecule = connected_components(molecules, directed=False)
    contacts = neighbor_list("ijS", atoms, CONTACT_A, self_interaction=False)
    between = molecule[contacts[0]] != molecule[contacts[1]]
    contacts = tuple(array[between] for array in contacts)
    first, second, shifts = (np.concatenate(pair) for pair in zip(bonded, contacts))
    order = np.argsort(first, kind="stable")
    first, second, shifts = first[order], second[order], shifts[order]
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(n_atoms, n_atoms))
    if connected_components(graph, directed=False)[0] != 1:
        return None  # several clusters: a molecular liquid, gas or crystal
    starts = np.searchsorted(first, np.arange(n_atoms + 1))
    image = np.zeros((n_atoms, 3), dtype=np.int64)
    placed = np.zeros(n_atoms, dtype=bool)
    placed[0] = True
    frontier = [0]
    while frontier:
        atom = frontier.pop()
        bonds = slice(starts[atom], starts[atom + 1])
        others, where = second[bonds], image[atom] + shifts[bonds]
        if np.any(np.any(image[others] != where, axis=1) & placed[others]):
            return None  # connected to its own image: an extended network
        new = others[~placed[others]]
        image[new] = where[~placed[others]]
        placed[new] = True
        frontier.extend(new.tolist())
    positions = atoms.positions + image @ atoms.cell[:]
    normals = np.linalg.inv(atoms.cell[:]).T  # rows: reciprocal vectors, 1/Å
    unit = normals / np.linalg.norm(normals, axis=1)[:, None]
    projected = positions @ unit.T
    return projected.max(axis=0) - projected.min(axis=0), int(n_molecules)


def check_box(atoms, cutoff_A):
    """Warn when ``atoms`` are one molecule, or one cluster of molecules
    (a water dimer, say), in a periodic box too small for its dipole not to
    depend on the box.

    Each atom of the cluster sees the periodic images of the cluster
    within the cut-off unless every width of the cell (the distance between
    opposite faces) is at least the cluster's extent + 2 × ``cutoff_A``.

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff_A : float
        Cut-off radius of the model's descriptor, Å.
    """
    if not is_periodic(atoms) or len(atoms) < 2:
        return
    cluster = _single_cluster(atoms)
    if cluster is None:
        return
    extent, n_molecules = cluster
    widths = atoms.get_volume() / np.linalg.norm(
        np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
    needed = extent + 2.0 * float(cutoff_A)
    what = "one molecule" if n_molecules == 1 else f"one cluster of {n_molecules} molecules"
    if np.any(widths < needed - 1e-9):
        warnings.warn(
            f"the atoms are {what} ({atoms.get_chemical_formula()}) in a periodic box of "
            f"widths {np.array2string(widths, precision=2)} Å: each atom sees the "
            f"{'molecule' if n_molecules == 1 else 'cluster'}'s periodic images within the "
            f"{cutoff_A:g} Å cut-off, so the dipole depends on the box; a box of at least "
            f"{np.array2string(needed, precision=2)} Å (extent + 2 × cut-off) or pbc=False "
            f"gives the dipole of the free {'molecule' if n_molecules == 1 else 'cluster'}",
            stacklevel=3,
        )


def model_cutoff_A(model):
    """The descriptor cut-off of ``model`` in Å, or None if it has none."""
    descriptor = getattr(model, "descriptor", None)
    cutoff = getattr(descriptor, "cutoff", None)
    return None if cutoff is None else float(cutoff)


def is_periodic(atoms):
    """Whether ``atoms`` is a 3-D periodic cell (all pbc and a nonzero volume)."""
    return bool(np.all(atoms.pbc) and atoms.cell.rank == 3)


class DipoleCalculator(Calculator):
    """ASE calculator for the dipole, polarization and Born effective charges.

    Properties (ASE names, all in :data:`ase.calculators.calculator.all_properties`):

    * ``'dipole'`` — μ, (3,) float, e·Å (``atoms.get_dipole_moment()``);
    * ``'born_effective_charges'`` — Z*, (N, 3, 3) float, e,
      ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``; computed only when asked, as it costs
      more than the dipole;
    * ``'polarization'`` — μ/V, (3,) float, e/Å², periodic cells only
      (1 e/Å² = 16.0218 C/m²,
      :data:`ase_dipole.units.E_PER_A2_TO_C_PER_M2`);
    * ``'dipole_std'`` (3,) e·Å and ``'born_effective_charges_std'`` (N, 3, 3)
      e — posterior predictive standard deviations (``model.predict_std``),
      offered only when the model provides them, computed (both together)
      only when asked for: they cost several Z* predictions;
    * whatever the wrapped ``calculator`` implements among energy, forces,
      stress, ... (taken from it unchanged).

    Parameters
    ----------
    model : object or str or path-like
        Dipole model obeying the protocol of
        :class:`ase_dipole.learning.model.PolarizationModel`, or the path of a saved
        model (see :func:`load_model`).
    calculator : ase.calculators.calculator.BaseCalculator, optional
        Calculator for energy, forces and stress (an MLFF). Without it, only
        the dipole properties are available.
    electric_field_V_per_A : array_like, shape (3,), float, V/Å, optional
        Static homogeneous (macroscopic) electric field E. Needs
        ``calculator``. Then ``'energy'`` and ``'free_energy'`` are the
        wrapped calculator's plus ``'field_energy'`` = −μ·E (eV, μ in e·Å),
        ``'forces'`` the wrapped calculator's plus ``'field_forces'``,
        F_{iβ} = Σ_α E_α Z*_{i,αβ} (eV/Å), and ``'stress'`` is not available.
        A field with ‖E‖ above :data:`FIELD_LINEAR_BOUND_V_PER_A` warns, one above
        :data:`FIELD_REFUSED_ABOVE_V_PER_A` is refused.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Notes
    -----
    The polarization is the cell dipole divided by the volume, smooth in
    unwrapped positions; compare it with Berry-phase values only modulo the
    polarization quantum e·R/V.

    **Static electric field: the linear, clamped-ion-electronic
    approximation.** The energy of the system in a field E is expanded to
    first order in E at fixed nuclei, E_pot(X; E) = E_pot(X; 0) − μ(X)·E,
    with the zero-field potential energy surface E_pot(X; 0) of the wrapped
    calculator and the zero-field dipole μ(X) of the model. The force
    −∂E_pot/∂x_{iβ} adds Σ_α E_α ∂μ_α/∂x_{iβ} = Σ_α E_α Z*_{i,αβ}: the field
    component is the first index of Z* (docs/conventions.md). The field
    energy is conserved with the rest: an NVE run conserves kinetic +
    ``'energy'``, the field term included. What this leaves out:

    * the electronic polarisation, −½ E·α∞(X)·E with α∞ = V ε0 (ε∞ − 1)
      for a cell: its mean shifts the energy only, but its gradient (the
      Raman tensor, ½ E·∂α∞/∂x·E) and the field's change of Z*
      (∂Z*/∂E = ∂α∞/∂x) are dropped, and so is any change of the potential
      energy surface itself. The logged μ is the ionic (clamped-electron-
      response) dipole: the electronic part of the induced polarization,
      ε0 (ε∞ − 1) E per volume, is not in it;
    * the model's μ is defined up to a constant μ0 (its reference dipole,
      the origin of Σ_i Z̄_J x_i for a charged system): μ0 shifts the
      energy by −μ0·E and changes no force and no trajectory;
    * periodic cells: μ is the model's cell dipole, the smooth function of
      the *unwrapped* positions whose changes equal V times the changes of
      the Berry-phase polarization (the integrated current); its absolute
      value, and hence −μ·E, is defined only modulo the polarization
      quantum e·R·E, and −μ·E is not bounded below (a charge carried by a
      lattice vector R lowers it by e·R·E): in a conductor, or when ions
      hop, the field drives a current and the NVE energy stays conserved
      while the kinetic energy grows. E is the macroscopic field at
      conducting (tin-foil) boundary conditions, the one of the fluctuation
      formula ε(0) − ε∞ = β⟨δM δM⟩/(V ε0). In a real insulator a finite
      field in a periodic cell is only metastable (Zener tunnelling when
      e‖E‖L exceeds the gap for a cell length L along E), which a dipole
      model cannot see.

    The bound :data:`FIELD_LINEAR_BOUND_V_PER_A` = 0.1 V/Å (10⁹ V/m):
    relative to the force kept, E·Z*, the first dropped one is
    ½ E·∂α∞/∂x·E, a fraction E ‖∂α∞/∂x‖ / (2 ‖Z*‖) of it. For O–H and C–H
    stretches ‖∂α/∂r‖ ≈ 1 Å³/Å in 4πε0 units (0.07 e·Å/V) and ‖Z*‖ ≈
    0.3–0.4 e, so the fraction is about 1 % at 0.1 V/Å and grows linearly
    above; water, the usual subject of finite-field MD, dissociates in ab
    initio finite-field MD from about 0.35 V/Å (Saitta et al., Phys. Rev.
    Lett. 108, 207801 (2012)), a regime no zero-field model describes. The
    bound concerns the model, not the ionic response: the MD itself follows
    the ions non-linearly (saturated orientation, say); but the fluctuation
    formula, ⟨M⟩_E − ⟨M⟩_0 = β⟨δM δM⟩·E, needs β ‖E‖ δM_rms ≪ 1, which in a
    polar liquid can mean fields far below the bound.
    """

    def __init__(self, model, calculator=None, *, electric_field_V_per_A=None, **kwargs):
        super().__init__(**kwargs)
        self.model = load_model(model)
        self.calculator = calculator
        self._field = check_electric_field(electric_field_V_per_A, calculator)
        forwarded = []
        if calculator is not None:
            forwarded = [name for name in calculator.implemented_properties
                         if name not in DIPOLE_PROPERTIES
                         and not (self._field is not None and name in FIELD_UNDEFINED)]
        self._forwarded = tuple(forwarded)
        own = list(DIPOLE_PROPERTIES) + (list(STD_PROPERTIES) if provides_uncertainty(self.model) else [])
        if self._field is not None:
            own += list(FIELD_PROPERTIES)
        self._own = tuple(own)
        self.implemented_properties = list(forwarded) + own
        self._checked_box = None  # the bytes of (cell, pbc, number of atoms) last checked
        self._checked_numbers = None  # the bytes of the atomic numbers last checked
        self._volume_A3 = None  # the volume of that box if it is 3-D periodic, else None

    def check_state(self, atoms, tol=1e-15):
        """The system changes since the last call, as ASE's (:func:`system_changes`)."""
        return system_changes(self.atoms, atoms, tol) if self.use_cache else list(all_changes)

    @property
    def electric_field_V_per_A(self):
        """The static field E, (3,) read-only float array, V/Å, or None
        (fixed when the calculator is made)."""
        return self._field

    def get_property(self, name, atoms=None, allow_calculation=True):
        """As ASE's, with a clear error for what a field leaves undefined."""
        if self._field is not None and name in FIELD_UNDEFINED:
            raise PropertyNotImplementedError(
                f"{name!r} is not available in an electric field: the strain derivative and the "
                "per-atom split of the field energy −μ·E are not defined by a dipole model; run "
                "at fixed cell (NVT/NVE), or without electric_field_V_per_A"
            )
        return super().get_property(name, atoms, allow_calculation)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Fill ``self.results`` with the requested properties."""
        if atoms is not None and (self.atoms is None or self.check_state(atoms)):
            super().calculate(atoms, properties, system_changes)  # a copy, unless get_property made it
        atoms = self.atoms
        unknown = [name for name in properties if name not in self.implemented_properties]
        if unknown:
            raise PropertyNotImplementedError(
                f"DipoleCalculator cannot compute {unknown}: it provides "
                f"{self.implemented_properties}"
                + ("" if self.calculator is not None
                   else "; pass calculator= for energy and forces")
            )
        field = self._field
        for name in properties:
            if name in self._forwarded and name not in self.results:
                self.calculator.get_property(name, atoms)
                if field is not None and "forces" in self.calculator.results:
                    self._field_term(atoms, "forces")  # μ and Z* in one prediction
                for key, value in self.calculator.results.items():
                    if key in self._forwarded and key not in self.results:
                        value = value.copy() if isinstance(value, np.ndarray) else value
                        if field is not None and key in FIELD_DEPENDENT:
                            value = value + self._field_term(atoms, key)
                        self.results[key] = value
        wanted = [name for name in properties if name in self._own]
        if not wanted:
            return
        self._check_atoms(atoms)
        if "polarization" in wanted and self._volume_A3 is None:
            raise PropertyNotImplementedError(
                "'polarization' needs a 3-D periodic cell (atoms.pbc all True and a cell of "
                "nonzero volume); for a molecule or cluster ask for 'dipole'"
            )
        if "field_energy" in wanted or "field_forces" in wanted:
            self._field_term(atoms, "forces" if "field_forces" in wanted else "energy")
        if "born_effective_charges" in wanted and "born_effective_charges" not in self.results:
            self._predict(atoms, born_charges=True)
        elif "dipole" not in self.results:
            self._predict(atoms, born_charges=False)
        if any(name in STD_PROPERTIES for name in wanted):
            dipole_std, born_std = self.model.predict_std(atoms)
            self.results["dipole_std"] = np.asarray(dipole_std, dtype=float)
            self.results["born_effective_charges_std"] = np.asarray(born_std, dtype=float)

    def _check_atoms(self, atoms):
        """Species known to the model (checked again only when the atomic
        numbers change); box wide enough, and whether it is a 3-D periodic cell
        (its volume then in ``_volume_A3``), checked once per cell, after the
        positions are checked finite: an MD step compares bytes only (the
        model checks the positions of every call)."""
        numbers = atoms.numbers.tobytes()
        if numbers != self._checked_numbers:
            check_species(self.model, atoms)
            self._checked_numbers = numbers
        box = atoms.cell.array.tobytes() + atoms.pbc.tobytes() + len(atoms).to_bytes(8, "little")
        if box != self._checked_box:
            check_finite_positions(atoms.positions)
            if model_cutoff_A(self.model) is not None:
                check_box(atoms, model_cutoff_A(self.model))
            self._volume_A3 = float(atoms.get_volume()) if is_periodic(atoms) else None
            self._checked_box = box

    def _predict(self, atoms, *, born_charges):
        """μ (and Z* when ``born_charges``) from the model into the results,
        with the polarization of a periodic cell."""
        if born_charges:
            dipole, charges = self.model.predict(atoms)
            self.results["born_effective_charges"] = np.asarray(charges, dtype=float)
        else:
            dipole = self.model.predict_dipole(atoms)
        self.results["dipole"] = np.asarray(dipole, dtype=float)
        if self._volume_A3 is not None:
            self.results["polarization"] = self.results["dipole"] / self._volume_A3

    def _field_term(self, atoms, key):
        """The field's addition to ``key`` ('energy', 'free_energy': −μ·E in
        eV; 'forces': Σ_α E_α Z*_{i,αβ}, (N, 3) eV/Å), kept in the results
        as 'field_energy' and 'field_forces'."""
        self._check_atoms(atoms)
        field = self._field
        if key == "forces":
            if "field_forces" not in self.results:
                if "born_effective_charges" not in self.results:
                    self._predict(atoms, born_charges=True)
                self.results["field_forces"] = np.einsum(
                    "a,iab->ib", field, self.results["born_effective_charges"])
        elif "dipole" not in self.results:
            self._predict(atoms, born_charges=False)
        self.results["field_energy"] = -float(self.results["dipole"] @ field)
        return self.results["field_forces"] if key == "forces" else self.results["field_energy"]


def check_electric_field(electric_field_V_per_A, calculator):
    """The field as a (3,) float array in V/Å (None for none), checked.

    Raises a ``ValueError`` for a field of another shape or with NaN/inf,
    given without a force ``calculator``, or with |E| above
    :data:`FIELD_REFUSED_ABOVE_V_PER_A`; warns when |E| exceeds
    :data:`FIELD_LINEAR_BOUND_V_PER_A`.
    """
    if electric_field_V_per_A is None:
        return None
    try:
        field = np.array(electric_field_V_per_A, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"electric_field_V_per_A={electric_field_V_per_A!r} is not three numbers; give "
            "(Ex, Ey, Ez) in V/Å"
        ) from None
    if field.shape != (3,):
        raise ValueError(
            f"electric_field_V_per_A has shape {field.shape}; give the three Cartesian "
            "components (Ex, Ey, Ez) in V/Å"
        )
    if not np.all(np.isfinite(field)):
        raise ValueError(f"electric_field_V_per_A={field.tolist()} contains NaN or inf")
    if calculator is None:
        raise ValueError(
            "electric_field_V_per_A needs a force calculator: the field adds −μ·E to its energy "
            "and E·Z* to its forces; pass calculator= (an MLFF or any ASE calculator)"
        )
    magnitude = float(np.linalg.norm(field))
    if magnitude > FIELD_REFUSED_ABOVE_V_PER_A:
        raise ValueError(
            f"|E| = {magnitude:.3g} V/Å is far beyond the linear regime of the clamped-ion "
            f"coupling (trusted to ~1 % up to {FIELD_LINEAR_BOUND_V_PER_A} V/Å, ~10 % at "
            f"{FIELD_REFUSED_ABOVE_V_PER_A} V/Å); give a field below "
            f"{FIELD_REFUSED_ABOVE_V_PER_A} V/Å"
        )
    if magnitude > FIELD_LINEAR_BOUND_V_PER_A:
        warnings.warn(
            f"|E| = {magnitude:.3g} V/Å exceeds {FIELD_LINEAR_BOUND_V_PER_A} V/Å, beyond which "
            "the linear clamped-ion coupling (−μ·E, E·Z* at the zero-field Z*) misses the field's "
            "change of Z* and of the potential energy surface by more than about 1 %; see "
            "DipoleCalculator's Notes",
            stacklevel=3,
        )
    field.flags.writeable = False
    return field
