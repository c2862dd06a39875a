"""Basis functions of the λ-SOAP density, set up once per descriptor.

- Radial: ``g_nl(r) = N_nl j_l(z_ln r / r_c) f_c(r)``, spherical Bessel
  functions with ``z_ln`` the n-th zero of ``j_l`` (so ``j_l`` vanishes at
  ``r_c``), normalised on [0, r_c] with weight r², times the Behler–Parrinello
  cut-off ``f_c(r) = (cos(π r / r_c) + 1) / 2``. Tabulated with derivatives on
  a grid and interpolated by cubic Hermite splines (value and derivative
  continuous; both vanish at ``r_c``).
- Angular: real spherical harmonics, orthonormal on the unit sphere.
- Coupling: ``T[a, m]`` and ``G[l, a, m, m']`` project products of harmonics on
  the Cartesian vector components ``u_a`` (a = x, y, z), computed by
  quadrature with the same harmonics the kernels use, so the features are
  Cartesian polar vectors whatever the harmonics' sign conventions.
"""

import functools

import numpy as np
from scipy.optimize import brentq
from scipy.special import spherical_jn

from ase_dipole.descriptors import lambda_soap_numba as kernels


def spherical_bessel_zeros(l_max, n_max):
    """``zeros[l, n]``: the (n+1)-th positive zero of ``j_l``, shape (l_max+1, n_max)."""
    return _spherical_bessel_zeros(int(l_max), int(n_max)).copy()


@functools.lru_cache(maxsize=None)
def _spherical_bessel_zeros(l_max, n_max):
    """:func:`spherical_bessel_zeros`, found once per (l_max, n_max) (the
    root search is most of a descriptor's set-up)."""
    zeros = np.empty((l_max + 1, n_max))
    upper = (n_max + l_max + 2) * np.pi
    x = np.linspace(1e-6, upper, 20000)
    for l in range(l_max + 1):
        values = spherical_jn(l, x)
        crossings = np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[:n_max]
        zeros[l] = [brentq(lambda t: spherical_jn(l, t), x[i], x[i + 1], xtol=1e-14) for i in crossings]
    return zeros


def radial_functions(r, cutoff, n_max, l_max):
    """Exact radial functions and derivatives, each shape (len(r), l_max+1, n_max)."""
    r = np.asarray(r, dtype=float)
    zeros = spherical_bessel_zeros(l_max, n_max)
    fc = 0.5 * (np.cos(np.pi * r / cutoff) + 1.0)
    dfc = -0.5 * np.pi / cutoff * np.sin(np.pi * r / cutoff)
    values = np.empty((len(r), l_max + 1, n_max))
    derivatives = np.empty_like(values)
    for l in range(l_max + 1):
        for n in range(n_max):
            z = zeros[l, n]
            norm = np.sqrt(2.0 / cutoff**3) / abs(spherical_jn(l + 1, z))
            j = spherical_jn(l, z * r / cutoff)
            dj = spherical_jn(l, z * r / cutoff, derivative=True) * z / cutoff
            values[:, l, n] = norm * j * fc
            derivatives[:, l, n] = norm * (dj * fc + j * dfc)
    return values, derivatives


def radial_table(cutoff, n_max, l_max, n_grid=1024):
    """Spline table ``(table[2, n_grid+1, (l_max+1)*n_max], grid_step_A)``: values
    and derivatives of g_nl at the grid points, column ``l*n_max + n``."""
    table, step = _radial_table(float(cutoff), int(n_max), int(l_max), int(n_grid))
    return table.copy(), step


@functools.lru_cache(maxsize=64)
def _radial_table(cutoff, n_max, l_max, n_grid):
    """:func:`radial_table`, tabulated once per argument set (a model search
    builds descriptors of the same few cut-offs again and again)."""
    grid = np.linspace(0.0, cutoff, n_grid + 1)
    values, derivatives = radial_functions(grid, cutoff, n_max, l_max)
    values[-1] = 0.0
    derivatives[-1] = 0.0
    table = np.stack([values, derivatives]).reshape(2, n_grid + 1, (l_max + 1) * n_max)
    return np.ascontiguousarray(table), cutoff / n_grid


def sphere_quadrature(degree):
    """Points (Q, 3) and weights (Q,) integrating polynomials up to ``degree``
    on the unit sphere exactly (Gauss–Legendre in cos θ × uniform in φ)."""
    n_theta = degree // 2 + 2
    n_phi = degree + 2
    cos_theta, w_theta = np.polynomial.legendre.leggauss(n_theta)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    ct, ph = np.meshgrid(cos_theta, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    points = np.stack([st * np.cos(ph), st * np.sin(ph), ct], axis=-1).reshape(-1, 3)
    weights = (w_theta[:, None] * np.full(n_phi, 2 * np.pi / n_phi)[None, :]).reshape(-1)
    return points, weights


def harmonics_at(points, l_max, norm, *, with_gradients=False):
    """Real harmonics at unit vectors ``points`` (Q, 3) -> (Q, (l_max+1)²), and
    with ``with_gradients`` also the gradients (Q, (l_max+1)², 3) of the
    homogeneous polynomials that equal them on the sphere."""
    L2 = (l_max + 1) ** 2
    values = np.empty((len(points), L2))
    gradients = np.empty((len(points), L2, 3))
    scratch = (np.empty(L2), np.empty((L2, 3)), np.empty((l_max + 1, l_max + 1)),
               np.empty((l_max + 1, l_max + 1, 3)), np.empty((l_max + 1, 2)),
               np.empty((l_max + 1, 2, 3)))
    for q, u in enumerate(points):
        kernels.solid_harmonics(np.ascontiguousarray(u), l_max, norm, *scratch, with_gradients)
        values[q] = scratch[0]
        gradients[q] = scratch[1]
    return (values, gradients) if with_gradients else values


def harmonic_norms(l_max):
    """Normalisation making the kernels' harmonics orthonormal, shape ((l_max+1)²,)."""
    points, weights = sphere_quadrature(2 * l_max + 2)
    raw = harmonics_at(points, l_max, np.ones((l_max + 1) ** 2))
    return 1.0 / np.sqrt(np.einsum("q,qi,qi->i", weights, raw, raw))


def coupling_tensors(l_max, norm):
    """``T (3, 3)`` for l = 1 and ``G (l_max, 3, 2 l_max + 1, 2 l_max + 1)`` with
    ``G[l, a, m, m'] = sqrt(3/4π) ∫ u_a Y_lm Y_{l+1,m'} dΩ`` (zero padded); l_max >= 1."""
    points, weights = sphere_quadrature(2 * l_max + 4)
    Y = harmonics_at(points, l_max, norm)
    scale = np.sqrt(3.0 / (4.0 * np.pi))
    T = scale * np.einsum("q,qa,qm->am", weights, points, Y[:, 1:4])
    T[np.abs(T) < 1e-14] = 0.0
    G = np.zeros((l_max, 3, 2 * l_max + 1, 2 * l_max + 1))
    for l in range(l_max):
        Yl = Y[:, l * l:(l + 1) ** 2]
        Yh = Y[:, (l + 1) ** 2:(l + 2) ** 2]
        G[l, :, :2 * l + 1, :2 * l + 3] = scale * np.einsum("q,qa,qm,qn->amn", weights, points, Yl, Yh)
    G[np.abs(G) < 1e-14] = 0.0
    return T, G


def gradient_ladder(l_max, norm):
    """The gradients of the harmonic polynomials of degree l as harmonics of
    degree l − 1 (exact: the gradient of a harmonic polynomial is one), from
    ``∫ ∂_β P_lm Y_l'm' dΩ``: ``∂_β P_lm(u) = Σ_t coefficient[t] Y[source[t]](u)``
    over the terms with ``target[t] = β (l_max+1)² + lm`` (the row of ∂_β P_lm in
    a (3, (l_max+1)²) array), in order of target, then source. Three arrays
    (int64, int64, float64); none for l = 0; l_max >= 0."""
    points, weights = sphere_quadrature(2 * l_max)
    Y, gradients = harmonics_at(points, l_max, norm, with_gradients=True)
    projection = np.einsum("q,qib,qj->ibj", weights, gradients, Y)  # (L2, 3, L2)
    L2 = (l_max + 1) ** 2
    target, source, coefficient = [], [], []
    for beta in range(3):
        for l in range(1, l_max + 1):
            for lm in range(l * l, (l + 1) ** 2):
                for lower in range((l - 1) ** 2, l * l):
                    value = projection[lm, beta, lower]
                    if abs(value) > 1e-14:
                        target.append(beta * L2 + lm)
                        source.append(lower)
                        coefficient.append(value)
    return (np.array(target, dtype=np.int64), np.array(source, dtype=np.int64),
            np.array(coefficient, dtype=float))
