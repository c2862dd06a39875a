r"""Quantum correction factors for classical IR spectra.

Molecular dynamics gives the classical autocorrelation of the dipole. The
quantum absorption needs the (non-symmetrised) quantum correlation
:math:`G(\omega) = \frac{1}{2\pi}\int e^{-i\omega t}\langle\mu(0)\cdot\mu(t)\rangle\,dt`,
in terms of which

.. math::

    \alpha(\omega) n(\omega) = \frac{\omega\,(1 - e^{-x})}{3 \hbar V c \varepsilon_0}
    \, \pi G(\omega), \qquad x = \beta\hbar\omega .

A quantum correction factor (QCF) :math:`Q(x)` approximates
:math:`G(\omega) \approx Q(x)\, G_\mathrm{cl}(\omega)` from the classical
(even) transform :math:`G_\mathrm{cl}`. Every exact :math:`G` obeys detailed
balance, :math:`G(-\omega) = e^{-x} G(\omega)`, so every QCF must satisfy
:math:`Q(-x) = e^{-x} Q(x)` and :math:`Q \to 1` as :math:`\hbar\omega \ll k_BT`.
The factors in use (Ramírez, López-Ciudad, Kumar & Marx, J. Chem. Phys. 121,
3973 (2004); Gaigeot & Sprik, J. Phys. Chem. B 107, 10344 (2003)) are

=============  ===============================  =====================================
name           :math:`Q(x)`                     factor on the classical α n
=============  ===============================  =====================================
``harmonic``   :math:`x / (1 - e^{-x})`         :math:`1`
``standard``   :math:`2 / (1 + e^{-x})`         :math:`\tanh(x/2) / (x/2)`
``schofield``  :math:`e^{x/2}`                  :math:`\sinh(x/2) / (x/2)`
=============  ===============================  =====================================

The classical spectrum of :func:`ase_dipole.spectra.green_kubo.ir_spectrum`,
:math:`\alpha n = \frac{\beta}{3Vc\varepsilon_0}\int\langle\dot{\mathbf P}(0)
\cdot\dot{\mathbf P}(t)\rangle\cos\omega t\,dt`, is the quantum formula with
the harmonic QCF: :math:`(1-e^{-x})/(\beta\hbar\omega)\cdot Q_\mathrm{harmonic}
= 1`. It is exact for a harmonic system with a linear dipole (the quantum
oscillator's integrated absorption does not depend on temperature), which is
why the Green–Kubo and the harmonic (phonopy) spectra share one absolute
scale. The *spectrum factor* (last column) is what multiplies that
classical α n: the standard factor lowers high-frequency bands
(:math:`\to 2/x`), Schofield's raises them (:math:`\to e^{x/2}/x`).
"""

import numpy as np

from ase_dipole.units import C_CM_PER_FS, FS_S, HBAR_SI, KB_SI

#: quantum correction factors by name (``None``: the classical spectrum as computed)
QUANTUM_CORRECTIONS = ("harmonic", "standard", "schofield")
#: angular frequency per wavenumber, (rad/s) / cm⁻¹
_OMEGA_PER_CM1 = 2.0 * np.pi * C_CM_PER_FS / FS_S  # [(rad/s) / cm⁻¹]


def _check_name(name):
    if name not in QUANTUM_CORRECTIONS:
        raise ValueError(
            f"unknown quantum correction {name!r}; use one of "
            f"{', '.join(map(repr, QUANTUM_CORRECTIONS))} (or none)"
        )


def reduced_frequency(wavenumber_cm1, temperature_K):
    r""":math:`x = \beta\hbar\omega = \hbar\, 2\pi c\tilde\nu / (k_B T)`, dimensionless.

    Parameters
    ----------
    wavenumber_cm1 : float or array_like, cm⁻¹
    temperature_K : float, K (> 0)

    Returns
    -------
    float ndarray of the shape of ``wavenumber_cm1``.
    """
    if not (np.isfinite(temperature_K) and temperature_K > 0):
        raise ValueError(f"temperature_K must be a positive number of kelvin, got {temperature_K!r}")
    return HBAR_SI * _OMEGA_PER_CM1 * np.asarray(wavenumber_cm1, dtype=float) / (KB_SI * temperature_K)


def correlation_factor(name, x):
    r"""The QCF :math:`Q(x)` with :math:`G(\omega) \approx Q(x) G_\mathrm{cl}(\omega)`.

    .. math::

        Q_\mathrm{harmonic} = \frac{x}{1 - e^{-x}}, \quad
        Q_\mathrm{standard} = \frac{2}{1 + e^{-x}}, \quad
        Q_\mathrm{schofield} = e^{x/2}

    Parameters
    ----------
    name : {'harmonic', 'standard', 'schofield'}
    x : float or array_like
        :math:`\beta\hbar\omega` (:func:`reduced_frequency`); negative values
        (ω < 0, emission) are allowed.

    Returns
    -------
    float ndarray of the shape of ``x``; 1 at x = 0.
    """
    _check_name(name)
    x = np.asarray(x, dtype=float)
    if name == "harmonic":
        safe = np.where(x == 0.0, 1.0, x)
        return np.where(x == 0.0, 1.0, safe / -np.expm1(-safe))
    if name == "standard":
        return 2.0 / (1.0 + np.exp(-x))
    return np.exp(0.5 * x)


def spectrum_factor(name, x):
    r"""Factor on the classical :math:`\alpha n`: :math:`Q(x)(1 - e^{-x})/x`.

    .. math::

        F_\mathrm{harmonic} = 1, \quad
        F_\mathrm{standard} = \frac{\tanh(x/2)}{x/2}, \quad
        F_\mathrm{schofield} = \frac{\sinh(x/2)}{x/2}

    All three are even in x and 1 at x = 0.

    Parameters
    ----------
    name : {'harmonic', 'standard', 'schofield'}
    x : float or array_like, :math:`\beta\hbar\omega`

    Returns
    -------
    float ndarray of the shape of ``x``.
    """
    _check_name(name)
    x = np.asarray(x, dtype=float)
    if name == "harmonic":
        return np.ones_like(x)
    half = np.where(x == 0.0, 1.0, 0.5 * x)
    with np.errstate(over="ignore"):
        ratio = np.tanh(half) / half if name == "standard" else np.sinh(half) / half
    return np.where(x == 0.0, 1.0, ratio)


def quantum_corrected(name, wavenumber_cm1, intensity, temperature_K):
    """Apply the spectrum factor of ``name`` to a classical spectrum.

    Parameters
    ----------
    name : {'harmonic', 'standard', 'schofield'} or None
        ``None`` returns ``intensity`` unchanged.
    wavenumber_cm1 : (F,) float array, cm⁻¹
    intensity : (..., F) float array, any unit
    temperature_K : float, K

    Returns
    -------
    (..., F) float array in the unit of ``intensity``.
    """
    intensity = np.asarray(intensity, dtype=float)
    if name is None:
        return intensity
    return intensity * spectrum_factor(name, reduced_frequency(wavenumber_cm1, temperature_K))
