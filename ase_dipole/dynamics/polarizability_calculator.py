"""An ASE calculator giving the polarizability of a :class:`~ase_dipole.learning.polarizability.PolarizabilityModel`
(and forwarding energy, forces, ... of an optional force calculator).

Properties (not in ASE's ``all_properties``; read them with
``calc.get_property(name, atoms)``):

* ``'polarizability'`` — α, (3, 3) float, Å³;
* ``'polarizability_derivatives'`` — ∂α/∂x, (N, 3, 3, 3) float, Å²,
  ``[i, a, b, c] = ∂α_ab/∂x_ic``; computed only when asked.
"""

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

OWN_PROPERTIES = ("polarizability", "polarizability_derivatives")


class PolarizabilityCalculator(Calculator):
    """α and ∂α/∂x of a polarizability model as ASE calculator properties.

    Parameters
    ----------
    model : PolarizabilityModel or path
        A fitted model, or the path of one saved with ``save``.
    calculator : ase.calculators.calculator.BaseCalculator, optional
        Energy, forces, stress, ... are taken from it unchanged.
    """

    def __init__(self, model, calculator=None, **kwargs):
        super().__init__(**kwargs)
        if not hasattr(model, "predict"):
            from ase_dipole.learning.polarizability import PolarizabilityModel

            model = PolarizabilityModel.load(model)
        self.model = model
        self.calculator = calculator
        self._forwarded = tuple(name for name in getattr(calculator, "implemented_properties", ())
                                if name not in OWN_PROPERTIES)
        self.implemented_properties = list(self._forwarded) + list(OWN_PROPERTIES)

    def calculate(self, atoms=None, properties=("polarizability",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        unknown = [name for name in properties if name not in self.implemented_properties]
        if unknown:
            raise PropertyNotImplementedError(
                f"PolarizabilityCalculator cannot compute {unknown}: it provides {self.implemented_properties}"
                + ("" if self.calculator is not None else "; pass calculator= for energy and forces"))
        forwarded = [name for name in properties if name in self._forwarded]
        if forwarded:
            self._forward(forwarded)
        if "polarizability_derivatives" in properties:
            alpha, derivatives = self.model.predict(self.atoms)
            self.results["polarizability"] = np.asarray(alpha, dtype=float)
            self.results["polarizability_derivatives"] = np.asarray(derivatives, dtype=float)
        elif "polarizability" in properties:
            self.results["polarizability"] = np.asarray(self.model.predict_polarizability(self.atoms), dtype=float)

    def _forward(self, names):
        """``names`` from the wrapped calculator, all asked in one of its
        calculations (a :class:`~ase_dipole.dynamics.calculator.DipoleCalculator`
        then gives 'dipole' and 'born_effective_charges' from one prediction),
        with ``get_property``'s caching: results of other positions dropped."""
        calculator = self.calculator
        if calculator.atoms is None or calculator.check_state(self.atoms):
            calculator.reset()
        missing = [name for name in names if name not in calculator.results]
        if missing:
            calculator.calculate(self.atoms, missing, all_changes)
        for name in names:
            if name not in calculator.results:
                raise PropertyNotImplementedError(f"{type(calculator).__name__} did not compute {name!r}")
            value = calculator.results[name]
            self.results[name] = value.copy() if isinstance(value, np.ndarray) else value
