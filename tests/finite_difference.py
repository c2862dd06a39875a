"""One reusable central finite-difference checker for position derivatives.

``position_derivative(f, atoms, step_A)`` returns ∂f/∂x_kβ with shape
``(N, 3) + f(atoms).shape`` from (f(x + h) − f(x − h)) / 2h. The truncation
error is O(h²·f'''): with h = 1e-4 Å and features varying on the scale of
~0.1 Å that is ~1e-8 relative, so ``assert_matches`` defaults to a relative
tolerance of 1e-6 of the largest derivative.
"""

import numpy as np

DEFAULT_STEP_A = 1e-4
DEFAULT_RELATIVE_TOLERANCE = 1e-6


def position_derivative(function, atoms, step_A=DEFAULT_STEP_A):
    """Central difference of ``function(atoms)`` with respect to every position."""
    reference = np.asarray(function(atoms))
    out = np.empty((len(atoms), 3) + reference.shape)
    for k in range(len(atoms)):
        for beta in range(3):
            plus = atoms.copy()
            minus = atoms.copy()
            plus.positions[k, beta] += step_A
            minus.positions[k, beta] -= step_A
            out[k, beta] = (np.asarray(function(plus)) - np.asarray(function(minus))) / (2 * step_A)
    return out


def assert_matches(analytic, numeric, relative_tolerance=DEFAULT_RELATIVE_TOLERANCE):
    """``max|analytic − numeric| <= relative_tolerance · max|numeric|``."""
    scale = np.max(np.abs(numeric))
    error = np.max(np.abs(np.asarray(analytic) - numeric))
    assert scale > 0, "the derivative is identically zero: the check would be empty"
    assert error <= relative_tolerance * scale, f"error {error:.3g} exceeds {relative_tolerance:g} × {scale:.3g}"
