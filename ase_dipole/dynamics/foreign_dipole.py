"""Any ASE calculator that returns a dipole, as a dipole model.

:class:`CalculatorDipoleModel` wraps an ASE calculator that implements
``'dipole'`` (e·Å; a MACE-μ, LES-type or any other machine-learned dipole
model, or a quantum-chemistry calculator) and, where it can,
``'born_effective_charges'`` (e, ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``), behind the
model protocol of :class:`ase_dipole.learning.model.PolarizationModel`
(``species``, ``predict``, ``predict_dipole``, ``predict_pdot``,
``sha256``). It therefore feeds :class:`ase_dipole.DipoleObserver`,
:func:`ase_dipole.log_from_trajectory`, :class:`ase_dipole.HarmonicIR` and
through the logs :func:`ase_dipole.ir_spectrum`::

    model = CalculatorDipoleModel(mace_mu_calculator)
    dyn.attach(DipoleObserver(dyn, model, "nve.log", interval=2), interval=2)

Ṗ is Σ_i Z*_i v_i when the calculator gives Z*. Otherwise it is the time
derivative dμ/dt along the current velocities, a central difference of two
extra dipole evaluations at x ± v·h (h chosen so that the largest
displacement is ``displacement_A``), and a ``UserWarning`` says so once.
Z* for the harmonic bridge is then taken by central differences of μ
(6N dipole evaluations).
"""

import hashlib
import json
import warnings

import numpy as np

#: largest atomic displacement of the finite differences of μ, Å
DEFAULT_DISPLACEMENT_A = 1e-3


def _calculator_identity(calculator):
    """sha256 of the calculator's class and parameters (its identity in logs)."""
    try:
        parameters = calculator.todict()
    except (AttributeError, TypeError, NotImplementedError):
        parameters = {}
    description = json.dumps({"class": f"{type(calculator).__module__}.{type(calculator).__name__}",
                              "parameters": parameters}, sort_keys=True, default=repr)
    return hashlib.sha256(description.encode()).hexdigest()


class CalculatorDipoleModel:
    """Dipole model protocol on top of an ASE calculator's ``'dipole'``.

    Parameters
    ----------
    calculator : ase.calculators.calculator.BaseCalculator
        Implements ``'dipole'`` (e·Å); ``'born_effective_charges'`` (N, 3, 3)
        e is used when implemented.
    species : sequence of str, optional, keyword-only
        Elements the calculator handles (checked by the observer); default
        ``None``, no check.
    sha256 : str, optional, keyword-only
        Identity recorded in logs; default a digest of the calculator's class
        and ``todict()`` parameters (its weights are not seen: pass the
        digest of the model file for a stronger identity).
    displacement_A : float, optional, keyword-only
        Largest displacement of the finite differences of μ, Å.
    """

    def __init__(self, calculator, *, species=None, sha256=None,
                 displacement_A=DEFAULT_DISPLACEMENT_A):
        implemented = getattr(calculator, "implemented_properties", ())
        if "dipole" not in implemented:
            raise ValueError(
                f"{type(calculator).__name__} does not implement 'dipole' (it provides "
                f"{list(implemented)}); a dipole model needs an ASE calculator returning "
                "'dipole' in e·Å"
            )
        if not (np.isfinite(displacement_A) and displacement_A > 0):
            raise ValueError(f"displacement_A must be a positive number of Å, got {displacement_A!r}")
        self.calculator = calculator
        self.species = None if species is None else tuple(species)
        self.sha256 = _calculator_identity(calculator) if sha256 is None else str(sha256)
        self.displacement_A = float(displacement_A)
        self.has_born_charges = "born_effective_charges" in implemented
        self._warned = False

    def _evaluate(self, atoms, properties):
        work = atoms.copy()
        work.calc = self.calculator
        return [np.array(work.calc.get_property(name, work), dtype=float) for name in properties]

    def predict_dipole(self, atoms):
        """μ (3,) e·Å of ``atoms``."""
        (dipole,) = self._evaluate(atoms, ["dipole"])
        if dipole.shape != (3,) or not np.all(np.isfinite(dipole)):
            raise ValueError(f"{type(self.calculator).__name__} returned the dipole {dipole.tolist()}; "
                             "expected 3 finite numbers in e·Å")
        return dipole

    def _dipole_at(self, atoms, positions):
        displaced = atoms.copy()
        displaced.set_positions(positions)
        return self.predict_dipole(displaced)

    def _finite_difference_born_charges(self, atoms):
        reference = atoms.get_positions()
        born = np.empty((len(atoms), 3, 3))
        step = self.displacement_A
        for i in range(len(atoms)):
            for beta in range(3):
                shifted = reference.copy()
                shifted[i, beta] += step
                plus = self._dipole_at(atoms, shifted)
                shifted[i, beta] -= 2.0 * step
                minus = self._dipole_at(atoms, shifted)
                born[i, :, beta] = (plus - minus) / (2.0 * step)
        return born

    def predict(self, atoms):
        """μ (3,) e·Å and Z* (N, 3, 3) e; Z* by central differences of μ
        (step ``displacement_A``) when the calculator does not give it."""
        if self.has_born_charges:
            dipole, born = self._evaluate(atoms, ["dipole", "born_effective_charges"])
            born = born.reshape(len(atoms), 3, 3)
        else:
            dipole = self.predict_dipole(atoms)
            born = self._finite_difference_born_charges(atoms)
        return dipole, born

    def predict_pdot(self, atoms, velocities_A_per_fs):
        """μ (3,) e·Å and Ṗ (3,) e·Å/fs at velocities (N, 3) Å/fs.

        Ṗ = Σ_i Z*_i v_i with the calculator's Z*, or else
        (μ(x + v h) − μ(x − v h)) / 2h, the derivative of μ along the motion.
        """
        velocities = np.asarray(velocities_A_per_fs, dtype=float)
        if velocities.shape != (len(atoms), 3):
            raise ValueError(f"velocities_A_per_fs has shape {velocities.shape}; expected "
                             f"({len(atoms)}, 3) in Å/fs")
        if self.has_born_charges:
            dipole, born = self.predict(atoms)
            return dipole, np.einsum("iab,ib->a", born, velocities)
        if not self._warned:
            warnings.warn(
                f"{type(self.calculator).__name__} gives no Born charges: Ṗ is dμ/dt along the "
                "velocities by central differences of μ (two extra dipole evaluations per row)",
                stacklevel=2,
            )
            self._warned = True
        dipole = self.predict_dipole(atoms)
        speed = np.abs(velocities).max()
        if speed == 0.0:
            return dipole, np.zeros(3)
        h_fs = self.displacement_A / speed
        positions = atoms.get_positions()
        plus = self._dipole_at(atoms, positions + h_fs * velocities)
        minus = self._dipole_at(atoms, positions - h_fs * velocities)
        return dipole, (plus - minus) / (2.0 * h_fs)
