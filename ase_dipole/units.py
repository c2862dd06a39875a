"""Named unit factors, built from :mod:`ase.units`.

Internal units are those of ASE: lengths in Å, masses in amu, charges in e,
energies in eV; time is reported in fs. Convert only at the edges (readers,
writers, spectra).
"""

import ase.units as _u

FS = _u.fs  # [ASE time / fs]
BOHR = _u.Bohr  # [Å / bohr]
DEBYE = _u.Debye  # [e·Å / Debye]
AMU_KG = _u._amu  # [kg / amu]
E_C = _u._e  # [C / e]
ANGSTROM_M = 1e-10  # [m / Å]
FS_S = 1e-15  # [s / fs]
C_M_PER_S = _u._c  # [m / s]
C_CM_PER_FS = _u._c * 100.0 * 1e-15  # [cm / fs]
EPS0_SI = _u._eps0  # [F / m]
KB_SI = _u._k  # [J / K]
HBAR_SI = _u._hbar  # [J·s]
KB_EV = _u.kB  # [eV / K]
E_PER_A2_TO_C_PER_M2 = _u._e / 1e-20  # [(C/m²) / (e/Å²)]
KM_PER_MOL_PER_E2_AMU = (
    _u._Nav * _u._e**2 / (12.0 * _u._eps0 * _u._c**2 * _u._amu) / 1e3
)  # [(km/mol) / (e²/amu)]
