"""ase-dipole: finite-temperature infrared spectra from a λ-SOAP polarization
model trained on Born effective charges (Schmiedmayer & Kresse, 2024).

Conventions: lengths Å, time fs, masses amu, charges e; dipole μ in e·Å;
Born charges ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` (first index field, second
displacement).
"""

__version__ = "0.1.0"

from ase_dipole.io.extxyz import get_born_charges, get_dipole, set_born_charges, set_dipole
from ase_dipole.dynamics.dipole_log import DipoleLog, DipoleLogWriter, read_dipole_log
from ase_dipole.descriptors.lambda_soap import LambdaSOAP
from ase_dipole.learning.model import PolarizationModel, rmspe
from ase_dipole.learning.learning_curve import LearningCurve, learning_curve
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.dynamics.calculator import DipoleCalculator
from ase_dipole.dynamics.foreign_dipole import CalculatorDipoleModel
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.dynamics.trajectory import log_from_trajectory
from ase_dipole.dynamics.md import make_force_calculator, run_ir_md
from ase_dipole.spectra.green_kubo import IRSpectrum, ir_spectrum, read_experiment, read_spectrum_csv
from ase_dipole.spectra.dielectric import (DielectricFunction, StaticSusceptibility, dielectric_function,
                                          epsilon_inf_from_file, kramers_kronig, read_dielectric_csv,
                                          static_susceptibility)
from ase_dipole.spectra.harmonic import HarmonicIR, load_phonopy, phonopy_from_calculator, write_born_from_model
from ase_dipole.spectra.compare import compare_spectra
from ase_dipole.io import read_born_charges, read_phonopy_born, write_phonopy_born
from ase_dipole.io import load_falletta_water, load_paper_water, load_schienbein_water  # noqa: F401 (deprecated alias kept one release)
from ase_dipole.reference import (dft_born_charges, label_frames, label_frames_parallel,
                                  qe_born_charges, xtb_born_charges, xtb_dipole)
from ase_dipole.workflow.demo import run_demo
from ase_dipole.workflow.protocol import load_protocol
from ase_dipole.workflow.steps import run_protocol
from ase_dipole.dynamics.polarizability_log import PolarizabilityObserver, read_polarizability_log
from ase_dipole.io.polarizability import (get_polarizability, get_polarizability_derivatives,
                                          polarizability_from_epsilon, read_vasp_polarizability,
                                          set_polarizability, set_polarizability_derivatives)
from ase_dipole.spectra.raman import HarmonicRaman, RamanSpectrum, raman_spectrum, read_raman_csv
from ase_dipole.learning.polarizability import PolarizabilityModel
from ase_dipole.memory import InsufficientMemoryError
from ase_dipole.learning.parity import born_charge_parity, parity_statistics
from ase_dipole.dynamics.mace_forcefield import MACEForceField

__all__ = [
    "__version__",
    "get_born_charges",
    "get_dipole",
    "set_born_charges",
    "set_dipole",
    "DipoleLog",
    "DipoleLogWriter",
    "read_dipole_log",
    "LambdaSOAP",
    "PolarizationModel",
    "rmspe",
    "LearningCurve",
    "learning_curve",
    "FixedChargesModel",
    "DipoleCalculator",
    "CalculatorDipoleModel",
    "DipoleObserver",
    "log_from_trajectory",
    "make_force_calculator",
    "run_ir_md",
    "IRSpectrum",
    "ir_spectrum",
    "read_experiment",
    "read_spectrum_csv",
    "StaticSusceptibility",
    "static_susceptibility",
    "DielectricFunction",
    "dielectric_function",
    "epsilon_inf_from_file",
    "kramers_kronig",
    "read_dielectric_csv",
    "HarmonicIR",
    "load_phonopy",
    "phonopy_from_calculator",
    "write_born_from_model",
    "compare_spectra",
    "read_born_charges",
    "read_phonopy_born",
    "write_phonopy_born",
    "load_paper_water",
    "load_schienbein_water",
    "dft_born_charges",
    "label_frames",
    "label_frames_parallel",
    "qe_born_charges",
    "xtb_born_charges",
    "xtb_dipole",
    "run_demo",
    "load_protocol",
    "run_protocol",
    "HarmonicRaman",
    "RamanSpectrum",
    "raman_spectrum",
    "read_raman_csv",
    "PolarizabilityObserver",
    "read_polarizability_log",
    "get_polarizability",
    "set_polarizability",
    "get_polarizability_derivatives",
    "set_polarizability_derivatives",
    "polarizability_from_epsilon",
    "read_vasp_polarizability",
    "PolarizabilityModel",
    "InsufficientMemoryError",
    "born_charge_parity",
    "parity_statistics",
    "MACEForceField",
]
