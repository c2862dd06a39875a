"""Reference dipoles and Born effective charges of molecules from GFN2-xTB
(tblite) and Kohn–Sham DFT / Hartree–Fock (PySCF).

These produce the training labels of the model: the dipole μ (3,) in e·Å
and the Born charges ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` (N, 3, 3) in e (first
index the dipole component, second the displacement direction), written
into the extended-XYZ convention of :mod:`ase_dipole.extxyz` by
:func:`label_frames`.

* GFN2-xTB: the dipole of the self-consistent tight-binding density
  (tblite), Z* by central finite differences of that dipole.
* DFT: μ from the SCF density and the nuclei, Z* analytically from the
  coupled-perturbed Kohn–Sham (or Hartree–Fock) orbital response to nuclear
  displacements, the pieces PySCF's analytic Hessian is built from.

Both need the ``reference`` extra (``pip install "ase-dipole[reference]"``)
and are meant for isolated molecules: GFN2-xTB's dipole and the Gaussian
dipole integrals are not defined for periodic cells.
"""

import sys

import ase.units as _ase_units
import numpy as np

from ase_dipole.extxyz import set_born_charges, set_dipole
from ase_dipole.progress import Progress
from ase_dipole.units import BOHR, KB_EV

HARTREE_EV = _ase_units.Hartree  # [eV / Hartree]

_INSTALL_HINT = 'install the optional dependencies with: pip install "ase-dipole[reference]"'
_METHODS = ("gfn2", "dft")


def _import_tblite():
    try:
        from tblite.interface import Calculator
    except ImportError as err:
        raise ImportError(f"GFN2-xTB reference data need tblite; {_INSTALL_HINT}") from err
    return Calculator


def _import_pyscf():
    try:
        from pyscf import dft, gto, scf
    except ImportError as err:
        raise ImportError(f"DFT reference data need PySCF; {_INSTALL_HINT}") from err
    return dft, gto, scf


def _check_molecule(atoms, what):
    """Validate an isolated molecule; return its positions (N, 3), Å."""
    if len(atoms) == 0:
        raise ValueError(f"{what}: the Atoms object has no atoms")
    if np.any(atoms.pbc):
        raise ValueError(
            f"{what}: atoms.pbc = {list(map(bool, atoms.pbc))}, but this reference "
            "dipole is defined for isolated molecules only; set atoms.pbc = False "
            "(a cell may stay; it is ignored)"
        )
    positions = np.asarray(atoms.positions, dtype=float)
    if not np.all(np.isfinite(positions)):
        raise ValueError(f"{what}: atoms.positions contain NaN or inf; fix the structure")
    return positions


def _check_step(step_A):
    if not (np.isfinite(step_A) and 0.0 < step_A < 0.1):
        raise ValueError(
            f"step_A = {step_A!r} Å; use a finite-difference step in (0, 0.1) Å, "
            "e.g. 1e-3"
        )


class _XTB:
    """One tblite calculator reused for displaced copies of a molecule."""

    def __init__(self, atoms, *, method, charge, accuracy, electronic_temperature_K):
        Calculator = _import_tblite()
        positions = _check_molecule(atoms, f"{method} reference")
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
    water-dimer geometries, max |Σ_i Z*_i| was 3e-4 e at accuracy 0.01 and
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
    _check_step(step_A)
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


def _pyscf_scf(atoms, *, xc, basis, charge, spin, grid_level, conv_tol):
    """Converged restricted closed-shell SCF object for a molecule."""
    dft, gto, scf = _import_pyscf()
    positions = _check_molecule(atoms, f"{xc}/{basis} reference")
    if spin != 0:
        raise NotImplementedError(
            f"spin = {spin}: only restricted closed-shell molecules (spin = 0) are "
            "implemented for DFT Born charges"
        )
    n_electrons = int(atoms.numbers.sum()) - int(charge)
    if n_electrons % 2:
        raise ValueError(
            f"{n_electrons} electrons (charge {charge}): a closed-shell molecule "
            "needs an even number; change the charge"
        )
    mol = gto.M(
        atom=list(zip(atoms.get_chemical_symbols(), positions.tolist())),
        unit="Angstrom", basis=basis, charge=int(charge), spin=0, verbose=0,
    )
    if xc.lower() in ("hf", "rhf"):
        mf = scf.RHF(mol)
    else:
        mf = dft.RKS(mol, xc=xc)
        mf.grids.level = int(grid_level)
    mf.conv_tol = conv_tol
    mf.conv_tol_grad = np.sqrt(conv_tol)
    mf.kernel()
    if not mf.converged:
        raise RuntimeError(
            f"PySCF {xc}/{basis} SCF did not converge for {atoms.get_chemical_formula()}; "
            "check the geometry (overlapping atoms?) or loosen conv_tol"
        )
    return mol, mf


def dft_dipole(atoms, *, xc="b3lyp", basis="def2-svp", charge=0, spin=0,
               grid_level=3, conv_tol=1e-11):
    """Dipole of a molecule from a PySCF SCF, (3,) e·Å.

    μ = Σ_A Z_A R_A − Tr(D r) with the origin at the coordinate origin;
    parameters as in :func:`dft_born_charges`.
    """
    _, mf = _pyscf_scf(atoms, xc=xc, basis=basis, charge=charge, spin=spin,
                       grid_level=grid_level, conv_tol=conv_tol)
    return np.asarray(mf.dip_moment(unit="AU", verbose=0), dtype=float) * BOHR


def dft_born_charges(atoms, *, xc="b3lyp", basis="def2-svp", charge=0, spin=0,
                     grid_level=3, conv_tol=1e-11):
    """Dipole and analytic Born effective charges from PySCF (RKS or RHF).

    With μ_α = Σ_A Z_A R_{Aα} − Tr(D r_α) (D the AO density matrix, r_α the
    dipole integrals about the coordinate origin),

    .. math::

        Z^*_{A,\\alpha\\beta} = Z_A\\,\\delta_{\\alpha\\beta}
            - \\mathrm{Tr}\\Big(\\frac{\\partial D}{\\partial R_{A\\beta}} r_\\alpha\\Big)
            - \\mathrm{Tr}\\Big(D\\, \\frac{\\partial r_\\alpha}{\\partial R_{A\\beta}}\\Big).

    ∂D/∂R comes from the coupled-perturbed SCF equations that PySCF's analytic
    Hessian solves (``Hessian.make_h1`` + ``Hessian.solve_mo1``, orbital
    response including the overlap derivative); the basis-function derivative
    of the dipole operator uses the ``int1e_irp`` integrals ⟨μ|r_α ∂_β|ν⟩.
    The exchange-correlation response is evaluated on a fixed grid (no grid
    response), so Z* differs from finite differences of μ by the grid error
    (~1e-5 e at ``grid_level`` 3); for Hartree–Fock the two agree to the
    finite-difference error.

    Parameters
    ----------
    atoms : ase.Atoms
        Molecule, positions (N, 3) in Å, ``pbc`` all False.
    xc : str
        PySCF functional name (``"b3lyp"``, ``"pbe"``, ``"lda"``, ...) or
        ``"hf"`` for restricted Hartree–Fock. Note PySCF's ``"b3lyp"`` uses
        VWN5 (Gaussian's uses VWN3).
    basis : str
        Gaussian basis set name, e.g. ``"def2-svp"``.
    charge : int
        Total charge, e; for charged molecules μ and Σ_i Z*_i = charge·1
        refer to the coordinate origin.
    spin : int
        2S; only 0 (restricted closed shell) is implemented.
    grid_level : int
        PySCF DFT integration grid level (0–9).
    conv_tol : float
        SCF energy convergence, Hartree.

    Returns
    -------
    dipole : numpy.ndarray
        (3,), e·Å.
    born_charges : numpy.ndarray
        (N, 3, 3), e, ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``.
    """
    mol, mf = _pyscf_scf(atoms, xc=xc, basis=basis, charge=charge, spin=spin,
                         grid_level=grid_level, conv_tol=conv_tol)
    dipole = np.asarray(mf.dip_moment(unit="AU", verbose=0), dtype=float) * BOHR

    hessian = mf.Hessian()
    mo_energy, mo_coeff, mo_occ = mf.mo_energy, mf.mo_coeff, mf.mo_occ
    h1ao = hessian.make_h1(mo_coeff, mo_occ)
    mo1, _ = hessian.solve_mo1(mo_energy, mo_coeff, mo_occ, h1ao)
    mo1 = np.asarray(mo1)  # (natm, 3 displacements, nao, nocc): AO coefficients of dC_occ/dR
    mocc = mo_coeff[:, mo_occ > 0]
    density = mf.make_rdm1()
    nao = mol.nao
    r_ao = mol.intor("int1e_r", comp=3)  # (3, nao, nao), ⟨μ|r_α|ν⟩, bohr
    irp = mol.intor("int1e_irp", comp=9, hermi=0).reshape(3, 3, nao, nao)  # ⟨μ|r_α ∂_β|ν⟩

    # ∂D/∂R_Aβ = 2 (dC C_occᵀ + C_occ dCᵀ); Tr(∂D r_α) = 4 Σ dC_μi C_νi r_α,νμ.
    response = 4.0 * np.einsum("Abmi,ni,anm->Aab", mo1, mocc, r_ao, optimize=True)
    # ∂r_α[μ,ν]/∂R_Aβ = −⟨∂_βμ|r_α|ν⟩[μ∈A] − ⟨μ|r_α|∂_βν⟩[ν∈A]; D symmetric gives twice the ket term.
    owner = np.zeros((mol.natm, nao))
    for atom, (_, _, p0, p1) in enumerate(mol.aoslice_by_atom()):
        owner[atom, p0:p1] = 1.0
    operator = -2.0 * np.einsum("abnm,mn,Am->Aab", irp, density, owner, optimize=True)
    born = mol.atom_charges()[:, None, None] * np.eye(3) - response - operator
    return dipole, born


def _check_options(options, allowed, method):
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for method '{method}'; allowed: {sorted(allowed)}"
        )


def label_frames(frames, *, method="gfn2", dipole=True, born_charges=True,
                 progress=True, **options):
    """Label molecular frames with reference dipoles and/or Born charges.

    Returns copies of the frames in the extended-XYZ convention of
    :mod:`ase_dipole.extxyz`: ``info['dipole']`` (3,) e·Å and the per-atom
    array ``born_charges`` (N, 9) row-major, e; plus ``info['reference']``
    naming the method. Calculators attached to the input are dropped.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Molecules (``pbc`` all False).
    method : {"gfn2", "dft"}
        ``"gfn2"``: :func:`xtb_dipole` / :func:`xtb_born_charges`;
        ``"dft"``: :func:`dft_dipole` / :func:`dft_born_charges`.
    dipole, born_charges : bool
        Which labels to store (at least one).
    progress : bool
        Show progress on stderr (:class:`ase_dipole.progress.Progress`).
    **options
        Passed to the underlying functions (e.g. ``xc``, ``basis`` for
        ``"dft"``; ``accuracy``, ``step_A`` for ``"gfn2"``).

    Returns
    -------
    list of ase.Atoms
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method '{method}'; use one of {', '.join(map(repr, _METHODS))}")
    if not (dipole or born_charges):
        raise ValueError("nothing to compute: set dipole=True and/or born_charges=True")
    if method == "gfn2":
        _check_options(options, {"method", "charge", "accuracy", "electronic_temperature_K",
                                 "step_A"}, method)
        dipole_only = {k: v for k, v in options.items() if k != "step_A"}
        compute_born, compute_dipole = xtb_born_charges, xtb_dipole
        name = f"{options.get('method', 'GFN2-xTB')} (tblite)"
    else:
        _check_options(options, {"xc", "basis", "charge", "spin", "grid_level", "conv_tol"},
                       method)
        dipole_only = options
        compute_born, compute_dipole = dft_born_charges, dft_dipole
        name = f"{options.get('xc', 'b3lyp')}/{options.get('basis', 'def2-svp')} (PySCF)"

    frames = list(frames)
    labelled = []
    report = Progress(len(frames), f"label_frames [{name}]", unit="frames",
                      stream=sys.stderr if progress else None)
    for count, frame in enumerate(frames, start=1):
        atoms = frame.copy()
        atoms.calc = None
        if born_charges:
            mu, born = compute_born(atoms, **options)
            set_born_charges(atoms, born)
        else:
            mu = compute_dipole(atoms, **dipole_only)
        if dipole:
            set_dipole(atoms, mu)
        atoms.info["reference"] = name
        labelled.append(atoms)
        report.update(count)
    return labelled
