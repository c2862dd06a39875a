"""Reference polarizabilities and their nuclear derivatives of molecules (PySCF).

α from the coupled-perturbed SCF response to a uniform field (analytic,
:func:`dft_polarizability` with ``route="cphf"``) or from finite fields
(``route="field"``, the cross-check); ∂α/∂x by central differences of the
analytic α (:func:`dft_polarizability_derivatives`). Units: α in Å³
(polarizability volume, 1 bohr³ = 0.148185 Å³), ∂α/∂x in Å², index order
``[i, a, b, c] = ∂α_ab/∂x_ic`` (docs/raman.md).

Needs the ``reference`` extra (PySCF), closed-shell molecules only.
"""

import numpy as np

from ase_dipole.reference.pyscf_dft import _pyscf_scf
from ase_dipole.units import BOHR

ROUTES = ("cphf", "field")
#: default finite-field strength, atomic units (5.14 V/Å × 1e-3)
FIELD_AU = 1e-3
#: default displacement for ∂α/∂x, Å
STEP_A = 5e-3
#: CPHF convergence (residual norm)
CPHF_TOL = 1e-9


def _cphf_polarizability(mol, mf):
    r"""α (3, 3) bohr³ of a converged RHF/RKS by the coupled-perturbed equations.

    With the perturbation V_b = r_b (a field F_b adds F_b r_b to the electrons'
    Hamiltonian), U^b solves (ε_a − ε_i) U^b_ai + [response of U^b]_ai = −(r_b)_ai
    and :math:`\alpha_{ab} = -\mathrm{Tr}(D^{(1)}_b r_a) = -4 \sum_{ai} (r_a)_{ai} U^b_{ai}`.
    """
    from pyscf.scf import cphf

    mo_coeff, mo_occ, mo_energy = mf.mo_coeff, mf.mo_occ, mf.mo_energy
    occupied, virtual = mo_coeff[:, mo_occ > 0], mo_coeff[:, mo_occ == 0]
    r_ao = mol.intor_symmetric("int1e_r", comp=3)
    h1 = np.einsum("xpq,pa,qi->xai", r_ao, virtual, occupied)
    response = mf.gen_response(mo_coeff, mo_occ, hermi=1)

    def induced(u):
        u = u.reshape(-1, virtual.shape[1], occupied.shape[1])
        density = 2.0 * np.einsum("pa,xai,qi->xpq", virtual, u, occupied)
        density = density + density.transpose(0, 2, 1)
        potential = response(density)
        return np.einsum("xpq,pa,qi->xai", potential, virtual, occupied)

    u, _ = cphf.solve(induced, mo_energy, mo_occ, h1, None, max_cycle=100, tol=CPHF_TOL, verbose=0)
    alpha = -4.0 * np.einsum("xai,yai->xy", h1, u)
    return 0.5 * (alpha + alpha.T)


def _field_polarizability(mol, mf, field_au):
    """α (3, 3) bohr³ by central differences of μ in fields ±F along x, y, z."""
    r_ao = mol.intor_symmetric("int1e_r", comp=3)
    h_core = mf.get_hcore()
    density = mf.make_rdm1()
    alpha = np.empty((3, 3))
    for b in range(3):
        dipoles = []
        for sign in (1.0, -1.0):
            field_mf = mf.copy()
            shifted = h_core + sign * field_au * r_ao[b]
            field_mf.get_hcore = lambda *args, h=shifted: h
            field_mf.kernel(dm0=density)
            if not field_mf.converged:
                raise RuntimeError(f"PySCF SCF in a field of {field_au} au did not converge; lower field_au")
            dipoles.append(np.asarray(field_mf.dip_moment(unit="AU", verbose=0), dtype=float))
        alpha[:, b] = (dipoles[0] - dipoles[1]) / (2.0 * field_au)
    return alpha


def dft_polarizability(atoms, *, xc="b3lyp", basis="def2-svp", charge=0, spin=0, grid_level=3,
                       conv_tol=1e-11, route="cphf", field_au=FIELD_AU):
    """Static electronic polarizability of a molecule, (3, 3) Å³.

    Parameters
    ----------
    atoms : ase.Atoms
        Molecule (pbc all False), Å.
    xc, basis, charge, spin, grid_level, conv_tol
        As in :func:`ase_dipole.reference.pyscf_dft.dft_born_charges`.
    route : {'cphf', 'field'}
        Analytic coupled-perturbed SCF (exact derivative of the SCF dipole,
        fixed DFT grid) or central differences of μ in fields ±``field_au``.
    field_au : float
        Field strength for ``route='field'``, atomic units.

    Notes
    -----
    The sign: a field F lowers the energy by μ·F; PySCF's ``dip_moment`` is μ
    of the electrons and nuclei, so α_ab = ∂μ_a/∂F_b with +F_b r_b added to the
    one-electron Hamiltonian (the electron charge is −1).
    """
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; use one of {', '.join(map(repr, ROUTES))}")
    mol, mf = _pyscf_scf(atoms, xc=xc, basis=basis, charge=charge, spin=spin,
                         grid_level=grid_level, conv_tol=conv_tol)
    alpha = _cphf_polarizability(mol, mf) if route == "cphf" else _field_polarizability(mol, mf, field_au)
    return alpha * BOHR**3


def dft_polarizability_derivatives(atoms, *, xc="b3lyp", basis="def2-svp", charge=0, spin=0,
                                   grid_level=3, conv_tol=1e-11, step_A=STEP_A):
    """α and ∂α/∂x of a molecule: analytic (CPHF) α at the geometry and at
    ±``step_A`` displacements of every atom along x, y, z (6N + 1 SCF runs).

    Returns
    -------
    alpha : (3, 3) float array, Å³
    derivatives : (N, 3, 3, 3) float array, Å², ``[i, a, b, c] = ∂α_ab/∂x_ic``
    """
    options = dict(xc=xc, basis=basis, charge=charge, spin=spin, grid_level=grid_level, conv_tol=conv_tol)
    alpha = dft_polarizability(atoms, **options)
    reference = atoms.get_positions()
    displaced = atoms.copy()
    derivatives = np.zeros((len(atoms), 3, 3, 3))
    for i in range(len(atoms)):
        for c in range(3):
            for sign in (1.0, -1.0):
                positions = reference.copy()
                positions[i, c] += sign * step_A
                displaced.positions = positions
                derivatives[i, :, :, c] += sign * dft_polarizability(displaced, **options) / (2.0 * step_A)
    return alpha, derivatives
