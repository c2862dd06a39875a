"""Polarizability and its nuclear derivatives in the extended-XYZ exchange format.

* ``atoms.info["polarizability"]``: α, shape (3, 3) (or 9 numbers, row-major),
  Å³ (the "polarizability volume" α/(4πε0) of Gaussian units; see
  docs/raman.md for the conversion from ε∞ of a cell);
* ``atoms.arrays["polarizability_derivatives"]``: shape (N, 27), row-major
  ``[i, a, b, c] = ∂α_ab/∂x_ic``, Å² (the Raman tensors of the atoms).

α is symmetric; a tensor (or a derivative in its first two indices) whose
antisymmetric part exceeds :data:`SYMMETRY_RTOL` of its largest element is
rejected, and the symmetric part is kept otherwise.
"""

import numpy as np

#: largest antisymmetric part accepted, relative to the largest |element|
SYMMETRY_RTOL = 1e-3
POLARIZABILITY_KEY = "polarizability"
DERIVATIVES_KEY = "polarizability_derivatives"


def check_polarizability(alpha, *, what="polarizability"):
    """α as a symmetric (3, 3) float array, Å³.

    Parameters
    ----------
    alpha : array_like, shape (3, 3) or (9,)
    what : str
        Name used in error messages.

    Raises
    ------
    ValueError
        Wrong shape, NaN/inf, or an antisymmetric part above
        :data:`SYMMETRY_RTOL` of the largest element.
    """
    alpha = np.asarray(alpha, dtype=float)
    if alpha.shape == (9,):
        alpha = alpha.reshape(3, 3)
    if alpha.shape != (3, 3):
        raise ValueError(f"{what} has shape {alpha.shape}; expected (3, 3) Å³ (or 9 numbers, row-major)")
    if not np.all(np.isfinite(alpha)):
        raise ValueError(f"{what} contains NaN or inf")
    _check_symmetric(alpha, alpha - alpha.T, what, "Å³")
    return 0.5 * (alpha + alpha.T)


def check_polarizability_derivatives(derivatives, n_atoms, *, what="polarizability derivatives"):
    """∂α/∂x as a (N, 3, 3, 3) float array ``[i, a, b, c] = ∂α_ab/∂x_ic``, Å²,
    symmetric in (a, b).

    Parameters
    ----------
    derivatives : array_like, shape (N, 3, 3, 3) or (N, 27)
    n_atoms : int
    what : str
        Name used in error messages.
    """
    derivatives = np.asarray(derivatives, dtype=float)
    if derivatives.ndim == 2 and derivatives.shape == (n_atoms, 27):
        derivatives = derivatives.reshape(n_atoms, 3, 3, 3)
    if derivatives.shape != (n_atoms, 3, 3, 3):
        raise ValueError(
            f"{what} have shape {derivatives.shape}; expected ({n_atoms}, 3, 3, 3) or "
            f"({n_atoms}, 27) Å², [i, a, b, c] = ∂α_ab/∂x_ic for the {n_atoms} atoms"
        )
    if not np.all(np.isfinite(derivatives)):
        raise ValueError(f"{what} contain NaN or inf")
    _check_symmetric(derivatives, derivatives - derivatives.transpose(0, 2, 1, 3), what, "Å²")
    return 0.5 * (derivatives + derivatives.transpose(0, 2, 1, 3))


def _check_symmetric(tensor, antisymmetric, what, unit):
    scale = np.abs(tensor).max()
    worst = np.abs(antisymmetric).max()
    if worst > SYMMETRY_RTOL * scale:
        raise ValueError(
            f"{what} is not symmetric in its two polarizability indices: max |α_ab − α_ba| = "
            f"{worst:.3g} {unit}, {worst / scale:.2g} of the largest element (tolerance "
            f"{SYMMETRY_RTOL:g}); check the index order ([i, a, b, c] = ∂α_ab/∂x_ic) or symmetrize the source"
        )


def get_polarizability(atoms):
    """α (3, 3) Å³ of a frame (``info['polarizability']``), or None."""
    value = atoms.info.get(POLARIZABILITY_KEY)
    if value is None:
        return None
    return check_polarizability(value, what=f"info['{POLARIZABILITY_KEY}']")


def set_polarizability(atoms, alpha):
    """Store α (3, 3) Å³ in ``atoms.info['polarizability']`` (checked, symmetrized)."""
    atoms.info[POLARIZABILITY_KEY] = check_polarizability(alpha)


def get_polarizability_derivatives(atoms):
    """∂α/∂x (N, 3, 3, 3) Å² of a frame (``arrays['polarizability_derivatives']``), or None."""
    value = atoms.arrays.get(DERIVATIVES_KEY)
    if value is None:
        return None
    return check_polarizability_derivatives(value, len(atoms), what=f"arrays['{DERIVATIVES_KEY}']")


def set_polarizability_derivatives(atoms, derivatives):
    """Store ∂α/∂x in ``atoms.arrays['polarizability_derivatives']`` as (N, 27) Å²."""
    checked = check_polarizability_derivatives(derivatives, len(atoms))
    atoms.arrays[DERIVATIVES_KEY] = checked.reshape(len(atoms), 27)


def polarizability_from_epsilon(epsilon, volume_A3):
    r"""α of a periodic cell from its ion-clamped dielectric tensor ε∞, Å³.

    .. math::

        \alpha = \frac{V}{4\pi}\,(\varepsilon_\infty - 1)

    (Gaussian units, α the polarizability volume of the cell; the convention
    of Phonopy-Spectroscopy and of docs/raman.md).

    Parameters
    ----------
    epsilon : array_like, shape (3, 3)
    volume_A3 : float
        Cell volume, Å³.
    """
    epsilon = check_polarizability(epsilon, what="ε∞")
    if not (np.isfinite(volume_A3) and volume_A3 > 0):
        raise ValueError(f"volume_A3 must be a positive cell volume in Å³, got {volume_A3!r}")
    return float(volume_A3) / (4.0 * np.pi) * (epsilon - np.eye(3))


def read_vasp_polarizability(path):
    """α of the cell from a VASP OUTCAR with ε∞ (LEPSILON / LCALCEPS).

    Returns
    -------
    ase.Atoms
        The OUTCAR's geometry with ``info['polarizability']`` (3, 3) Å³ =
        V(ε∞ − 1)/(4π) and ``info['epsilon']``, plus whatever
        :func:`ase_dipole.io.vasp.read_vasp_outcar` reads (Born charges).
    """
    from ase_dipole.io.vasp import read_vasp_outcar

    atoms = read_vasp_outcar(path)
    epsilon = atoms.info.get("epsilon")
    if epsilon is None:
        raise ValueError(f"'{path}' holds no MACROSCOPIC STATIC DIELECTRIC TENSOR (ε∞); run VASP with LEPSILON = .TRUE.")
    set_polarizability(atoms, polarizability_from_epsilon(epsilon, atoms.get_volume()))
    return atoms
