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

#: properties the dipole model provides (ASE names)
DIPOLE_PROPERTIES = ("dipole", "born_effective_charges", "polarization")
#: posterior predictive standard deviations, when the model provides them
STD_PROPERTIES = ("dipole_std", "born_effective_charges_std")


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


def _single_molecule_extent(atoms):
    """Extent (3,) Å along the cell's three widths of the one molecule the
    periodic ``atoms`` hold, or None when they hold several molecules or an
    extended (periodically bonded) network.

    Molecules are the connected groups of covalent bonds (ASE's natural
    cut-offs × :data:`BOND_FACTOR`), followed across the cell boundary; a
    group bonded to its own periodic image is extended (a crystal, a polymer).
    """
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    first, second, shifts = neighbor_list(
        "ijS", atoms, natural_cutoffs(atoms, mult=BOND_FACTOR), self_interaction=False)
    n_atoms = len(atoms)
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(n_atoms, n_atoms))
    if connected_components(graph, directed=False)[0] != 1:
        return None  # several molecules: a molecular liquid or crystal
    starts = np.searchsorted(first, np.arange(n_atoms + 1))  # neighbor_list sorts by first
    image = np.zeros((n_atoms, 3), dtype=np.int64)
    placed = np.zeros(n_atoms, dtype=bool)
    placed[0] = True
    frontier = [0]
    while frontier:
        atom = frontier.pop()
        bonds = slice(starts[atom], starts[atom + 1])
        others, where = second[bonds], image[atom] + shifts[bonds]
        if np.any(np.any(image[others] != where, axis=1) & placed[others]):
            return None  # bonded to its own image: an extended network
        new = others[~placed[others]]
        image[new] = where[~placed[others]]
        placed[new] = True
        frontier.extend(new.tolist())
    positions = atoms.positions + image @ atoms.cell[:]
    normals = np.linalg.inv(atoms.cell[:]).T  # rows: reciprocal vectors, 1/Å
    unit = normals / np.linalg.norm(normals, axis=1)[:, None]
    projected = positions @ unit.T
    return projected.max(axis=0) - projected.min(axis=0)


def check_box(atoms, cutoff_A):
    """Warn when ``atoms`` are one molecule in a periodic box too small for
    its dipole not to depend on the box.

    Each atom of the molecule sees the periodic images of the molecule
    within the cut-off unless every width of the cell (the distance between
    opposite faces) is at least the molecule's extent + 2 × ``cutoff_A``.

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff_A : float
        Cut-off radius of the model's descriptor, Å.
    """
    if not is_periodic(atoms) or len(atoms) < 2:
        return
    extent = _single_molecule_extent(atoms)
    if extent is None:
        return
    widths = atoms.get_volume() / np.linalg.norm(
        np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
    needed = extent + 2.0 * float(cutoff_A)
    if np.any(widths < needed - 1e-9):
        warnings.warn(
            f"the atoms are one molecule ({atoms.get_chemical_formula()}) in a periodic box of "
            f"widths {np.array2string(widths, precision=2)} Å: each atom sees the molecule's "
            f"periodic images within the {cutoff_A:g} Å cut-off, so the dipole depends on the "
            f"box; a box of at least {np.array2string(needed, precision=2)} Å (extent + 2 × "
            "cut-off) or pbc=False gives the dipole of the free molecule",
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
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Notes
    -----
    The polarization is the cell dipole divided by the volume, smooth in
    unwrapped positions; compare it with Berry-phase values only modulo the
    polarization quantum e·R/V.
    """

    def __init__(self, model, calculator=None, **kwargs):
        super().__init__(**kwargs)
        self.model = load_model(model)
        self.calculator = calculator
        forwarded = []
        if calculator is not None:
            forwarded = [name for name in calculator.implemented_properties
                         if name not in DIPOLE_PROPERTIES]
        self._forwarded = tuple(forwarded)
        own = list(DIPOLE_PROPERTIES) + (list(STD_PROPERTIES) if provides_uncertainty(self.model) else [])
        self._own = tuple(own)
        self.implemented_properties = list(forwarded) + own
        self._checked_box = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Fill ``self.results`` with the requested properties."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        unknown = [name for name in properties if name not in self.implemented_properties]
        if unknown:
            raise PropertyNotImplementedError(
                f"DipoleCalculator cannot compute {unknown}: it provides "
                f"{self.implemented_properties}"
                + ("" if self.calculator is not None
                   else "; pass calculator= for energy and forces")
            )
        for name in properties:
            if name in self._forwarded and name not in self.results:
                self.calculator.get_property(name, atoms)
                for key, value in self.calculator.results.items():
                    if key in self._forwarded:
                        self.results[key] = (
                            value.copy() if isinstance(value, np.ndarray) else value
                        )
        wanted = [name for name in properties if name in self._own]
        if not wanted:
            return
        check_species(self.model, atoms)
        box = (len(atoms), tuple(atoms.pbc), tuple(atoms.cell[:].ravel()))
        if box != self._checked_box and model_cutoff_A(self.model) is not None:
            check_box(atoms, model_cutoff_A(self.model))
            self._checked_box = box
        if "polarization" in wanted and not is_periodic(atoms):
            raise PropertyNotImplementedError(
                "'polarization' needs a 3-D periodic cell (atoms.pbc all True and a cell of "
                "nonzero volume); for a molecule or cluster ask for 'dipole'"
            )
        if "born_effective_charges" in wanted:
            dipole, born_charges = self.model.predict(atoms)
            self.results["born_effective_charges"] = np.asarray(born_charges, dtype=float)
        else:
            dipole = self.model.predict_dipole(atoms)
        self.results["dipole"] = np.asarray(dipole, dtype=float)
        if is_periodic(atoms):
            self.results["polarization"] = self.results["dipole"] / atoms.get_volume()
        if any(name in STD_PROPERTIES for name in wanted):
            dipole_std, born_std = self.model.predict_std(atoms)
            self.results["dipole_std"] = np.asarray(dipole_std, dtype=float)
            self.results["born_effective_charges_std"] = np.asarray(born_std, dtype=float)
