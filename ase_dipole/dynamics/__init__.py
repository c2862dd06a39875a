"""Molecular dynamics with a dipole model: the ASE calculator, the Ṗ observer
and its log, post-processing of existing trajectories, the NVE protocol."""

from ase_dipole.dynamics.calculator import DipoleCalculator
from ase_dipole.dynamics.foreign_dipole import CalculatorDipoleModel
from ase_dipole.dynamics.dipole_log import DipoleLog, DipoleLogWriter, read_dipole_log
from ase_dipole.dynamics.md import make_force_calculator, run_ir_md
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.dynamics.trajectory import log_from_trajectory

__all__ = ["CalculatorDipoleModel", "DipoleCalculator", "DipoleLog", "DipoleLogWriter", "DipoleObserver",
           "log_from_trajectory", "make_force_calculator", "read_dipole_log", "run_ir_md"]
