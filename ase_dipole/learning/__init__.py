"""Models of the dipole / polarization: the λ-SOAP model trained on Born
charges and dipoles, its ridge solver, learning curves, fixed charges."""

from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.learning.learning_curve import LearningCurve, learning_curve
from ase_dipole.learning.model import PolarizationModel, rmspe

__all__ = ["FixedChargesModel", "LearningCurve", "PolarizationModel", "learning_curve", "rmspe"]
