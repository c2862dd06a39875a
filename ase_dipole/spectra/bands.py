"""Band positions and areas of IR spectra, and the band check of a
finite-temperature spectrum against a harmonic one."""

import numpy as np


def band_position(spectrum, window_cm1):
    """Position and area of a band of a spectrum.

    Parameters
    ----------
    spectrum : ase_dipole.spectra.green_kubo.IRSpectrum
    window_cm1 : (float, float)
        Wavenumber range of the band, cm⁻¹.

    Returns
    -------
    dict
        ``centroid_cm1`` (∫ν̃ I dν̃ / ∫ I dν̃ over the window), ``maximum_cm1``
        (the highest point) and ``area`` (∫ I dν̃, unit of the spectrum × cm⁻¹).
    """
    x = np.asarray(spectrum.wavenumber_cm1)
    y = np.asarray(spectrum.intensity)
    keep = (x >= window_cm1[0]) & (x <= window_cm1[1])
    if keep.sum() < 3:
        raise ValueError(f"the spectrum has fewer than 3 points in {window_cm1} cm⁻¹")
    x, y = x[keep], y[keep]
    area = np.trapezoid(y, x)
    return dict(centroid_cm1=float(np.trapezoid(x * y, x) / area),
                maximum_cm1=float(x[np.argmax(y)]), area=float(area))


def band_check(finite_T, harmonic, bands, *, fwhm_cm1, tolerance_fraction):
    """Compare the bands of a finite-temperature and a harmonic spectrum.

    Parameters
    ----------
    finite_T, harmonic : ase_dipole.spectra.green_kubo.IRSpectrum
        Spectra in the same unit.
    bands : dict
        Name -> (low, high) window in cm⁻¹.
    fwhm_cm1 : float
        Line width of both spectra, cm⁻¹.
    tolerance_fraction : float
        Relative part of the tolerance: a band agrees when the centroids
        differ by at most ``fwhm_cm1 + tolerance_fraction × ν̃_harmonic``
        (resolution plus anharmonic and integrator shifts).

    Returns
    -------
    dict
        Band name -> dict with ``window_cm1``, ``md`` and ``harmonic`` (see
        :func:`band_position`), ``shift_cm1`` (MD − harmonic centroid),
        ``tolerance_cm1``, ``area_ratio`` (MD / harmonic) and ``agree``.
    """
    result = {}
    for name, window in bands.items():
        md = band_position(finite_T, window)
        reference = band_position(harmonic, window)
        tolerance = fwhm_cm1 + tolerance_fraction * reference["centroid_cm1"]
        shift = md["centroid_cm1"] - reference["centroid_cm1"]
        result[name] = dict(window_cm1=[float(w) for w in window], md=md, harmonic=reference,
                            shift_cm1=shift, tolerance_cm1=tolerance,
                            area_ratio=md["area"] / reference["area"],
                            agree=bool(abs(shift) <= tolerance))
    return result
