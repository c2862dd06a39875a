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

import os

import numpy as np
from ase.calculators.calculator import (
    Calculator,
    PropertyNotImplementedError,
    all_changes,
)

#: properties the dipole model provides (ASE names)
DIPOLE_PROPERTIES = ("dipole", "born_effective_charges", "polarization")



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
    missing = [name for name in ("predict", "predict_dipole", "predict_pdot", "sha256")
               if not hasattr(model, name)]
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
        self.implemented_properties = list(forwarded) + list(DIPOLE_PROPERTIES)

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
        wanted = [name for name in properties if name in DIPOLE_PROPERTIES]
        if not wanted:
            return
        check_species(self.model, atoms)
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
