"""Reference dipoles and Born effective charges of molecules from Kohn–Sham
DFT / Hartree–Fock (PySCF): μ from the SCF density and the nuclei, Z*
analytically from the coupled-perturbed Kohn–Sham (or Hartree–Fock) orbital
response to nuclear displacements, the pieces PySCF's analytic Hessian is
built from.

Needs the ``reference`` extra (``pip install "ase-dipole[reference]"``) and
is meant for isolated molecules: the Gaussian dipole integrals are not
defined for periodic cells.
"""

import numpy as np

from ase_dipole.reference._checks import INSTALL_HINT, check_molecule
from ase_dipole.units import BOHR


def _import_pyscf():
    try:
        from pyscf import dft, gto, scf
    except ImportError as err:
        raise ImportError(f"DFT reference data need PySCF; {INSTALL_HINT}") from err
    return dft, gto, scf


def _pyscf_scf(atoms, *, xc, basis, charge, spin, grid_level, conv_tol):
    """Converged restricted closed-shell SCF object for a molecule."""
    dft, gto, scf = _import_pyscf()
    positions = check_molecule(atoms, f"{xc}/{basis} reference")
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
