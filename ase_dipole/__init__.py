"""ase-dipole: finite-temperature infrared spectra from a λ-SOAP polarization
model trained on Born effective charges (Schmiedmayer & Kresse, 2024).

Conventions: lengths Å, time fs, masses amu, charges e; dipole μ in e·Å;
Born charges ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` (first index field, second
displacement).
"""

__version__ = "0.1.0"

from ase_dipole.extxyz import get_born_charges, get_dipole, set_born_charges, set_dipole
from ase_dipole.dipole_log import DipoleLog, DipoleLogWriter, read_dipole_log

__all__ = [
    "__version__",
    "get_born_charges",
    "get_dipole",
    "set_born_charges",
    "set_dipole",
    "DipoleLog",
    "DipoleLogWriter",
    "read_dipole_log",
]
