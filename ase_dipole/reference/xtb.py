"""Reference dipoles and Born effective charges of molecules from GFN2-xTB
(tblite): the dipole of the self-consistent tight-binding density, Z* by
central finite differences of that dipole.

Needs the ``reference`` extra (``pip install "ase-dipole[reference]"``) and
is meant for isolated molecules: GFN2-xTB's dipole is not defined for
periodic cells.
"""

import ase.units as _ase_units
import numpy as np

from ase_dipole.reference._checks import INSTALL_HINT, check_molecule, check_step
from ase_dipole.units import BOHR, KB_EV

HARTREE_EV = _ase_units.Hartree  # [eV / Hartree]


def _import_tblite():
    try:
        from tblite.interface import Calculator
    except ImportError as err:
        raise ImportError(f"GFN2-xTB reference data need tblite; {INSTALL_HINT}") from err
    return Calculator


class _XTB:
    """One tblite calculator reused for displaced copies of a molecule."""

    def __init__(self, atoms, *, method, charge, accuracy, electronic_temperature_K):
        Calculator = _import_tblite()
        positions = check_molecule(atoms, f"{method} reference")
        self.formula = atoms.get_chemical_formula()
        try:
            self.calc = Calculator(method, np.asarray(atoms.numbers), positions / BOHR,
                                   charge=float(charge))
        except ValueError as err:  # tblite's TBLiteValueError
            raise ValueError(
                f"tblite cannot set up '{method}': {err}; use 'GFN2-xTB', 'GFN1-xTB' "
                "or 'IPEA1-xTB'"
            ) from err
        self.calc.set("verbosity", 0)
        self.calc.set("accuracy", float(accuracy))
        self.calc.set("temperature", float(electronic_temperature_K) * KB_EV / HARTREE_EV)
        self.result = self._singlepoint()

    def _singlepoint(self):
        try:
            return self.calc.singlepoint()
        except RuntimeError as err:  # tblite's TBLiteRuntimeError (e.g. no SCF convergence)
            raise RuntimeError(
                f"tblite failed for {self.formula}: {err}; check the geometry "
                "(overlapping or far-apart atoms?)"
            ) from err

    def dipole(self, positions=None):
        """Dipole (3,) e·Å at ``positions`` (N, 3) Å (default: as built).

        Every displaced geometry gets a fresh SCF: restarting from the
        reference wave function lets tblite stop after one iteration within
        its tolerance, which leaves noise ~ tolerance/h in finite differences.
        """
        if positions is None:
            return np.asarray(self.result.get("dipole"), dtype=float) * BOHR
        self.calc.update(positions=np.ascontiguousarray(positions) / BOHR)
        return np.asarray(self._singlepoint().get("dipole"), dtype=float) * BOHR


def xtb_dipole(atoms, *, method="GFN2-xTB", charge=0, accuracy=1e-4,
               electronic_temperature_K=300.0):
    """Dipole moment of an isolated molecule from tblite.

    .. math:: \\mu = \\sum_A Z_A \\mathbf{R}_A - \\int \\mathbf{r}\\, n(\\mathbf{r})\\, d\\mathbf{r}

    evaluated in the xTB density (atomic charges and atomic dipoles; tblite
    returns e·bohr, converted with :data:`ase_dipole.units.BOHR`).

    Parameters
    ----------
    atoms : ase.Atoms
        Molecule, positions (N, 3) in Å, ``pbc`` all False.
    method : str
        tblite parametrisation: ``"GFN2-xTB"``, ``"GFN1-xTB"`` or ``"IPEA1-xTB"``.
    charge : int
        Total charge, e. For a charged molecule μ depends on the origin
        (here the origin of the coordinates).
    accuracy : float
        tblite's accuracy multiplier (smaller is tighter; tblite's own default
        is 1.0). 1e-4 here, the same as :func:`xtb_born_charges`, so that
        dipoles of one data set share one convergence level.
    electronic_temperature_K : float
        Fermi smearing temperature, K (tblite's default 300 K).

    Returns
    -------
    numpy.ndarray
        Dipole (3,), e·Å.
    """
    return _XTB(atoms, method=method, charge=charge, accuracy=accuracy,
                electronic_temperature_K=electronic_temperature_K).dipole()


def xtb_born_charges(atoms, *, method="GFN2-xTB", charge=0, accuracy=1e-4,
                     electronic_temperature_K=300.0, step_A=1e-3):
    """Dipole and Born effective charges of a molecule from tblite.

    Z* is the central finite difference of the dipole,

    .. math:: Z^*_{i,\\alpha\\beta} = \\frac{\\mu_\\alpha(x_{i\\beta} + h) - \\mu_\\alpha(x_{i\\beta} - h)}{2h},

    6N self-consistent calculations from tblite's default guess. The
    truncation error is O(h²) (≈1e-6 e for h = 1e-3 Å). The SCF noise
    ~ tolerance/h needs the tight default ``accuracy``: over 150 thermal
    water-dimer geometries, max :math:`|\\sum_i Z^*_i|` was 3e-4 e at accuracy 0.01 and
    1.6e-5 e at 1e-3; at 1e-4 the FD truncation (~1e-6 e) dominates and Z*
    agrees with accuracy 1e-5 to ~1e-7 e, at about the same cost.

    Parameters
    ----------
    atoms : ase.Atoms
        Molecule, positions (N, 3) in Å, ``pbc`` all False.
    method, charge, electronic_temperature_K
        As in :func:`xtb_dipole`.
    accuracy : float
        tblite accuracy multiplier (tblite's own default 1.0); 1e-4 (tight)
        for smooth finite differences.
    step_A : float
        Displacement h, Å.

    Returns
    -------
    dipole : numpy.ndarray
        (3,), e·Å, at the undisplaced geometry.
    born_charges : numpy.ndarray
        (N, 3, 3), e, ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``.
    """
    check_step(step_A)
    xtb = _XTB(atoms, method=method, charge=charge, accuracy=accuracy,
               electronic_temperature_K=electronic_temperature_K)
    positions = np.asarray(atoms.positions, dtype=float)
    born = np.empty((len(atoms), 3, 3))
    for i in range(len(atoms)):  # 6N SCF calls; the loop is not the cost
        for beta in range(3):
            shifted = positions.copy()
            shifted[i, beta] += step_A
            plus = xtb.dipole(shifted)
            shifted[i, beta] -= 2.0 * step_A
            minus = xtb.dipole(shifted)
            born[i, :, beta] = (plus - minus) / (2.0 * step_A)
    return xtb.dipole(), born
