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
