"""Finite-temperature vs harmonic IR spectra: peak positions, areas, shifts.

Peaks are local maxima found by :func:`scipy.signal.find_peaks` with a
prominence threshold relative to the spectrum's maximum; the area of a peak
is the integral of the spectrum between the minima that separate it from its
neighbours (or the ends of the window). Peaks of the two spectra are matched
one to one, nearest first, within ``max_shift_cm1``.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
from scipy.integrate import trapezoid
from scipy.signal import find_peaks

from ase_dipole.atomic import write_text_atomic


@dataclass(frozen=True)
class Peaks:
    """Peaks of one spectrum.

    Attributes
    ----------
    position_cm1 : ndarray, shape (P,)
        Peak maxima in cm⁻¹.
    height : ndarray, shape (P,)
        Spectrum at the maxima (unit of the spectrum).
    area : ndarray, shape (P,)
        Integral between the separating minima (unit × cm⁻¹).
    """

    position_cm1: np.ndarray
    height: np.ndarray
    area: np.ndarray


@dataclass(frozen=True)
class PeakComparison:
    """Matched peaks of a finite-temperature and a harmonic spectrum.

    Attributes
    ----------
    harmonic_cm1, finite_T_cm1 : ndarray, shape (M,)
        Positions of the matched peaks in cm⁻¹ (finite-T after the frequency
        scale).
    shift_cm1 : ndarray, shape (M,)
        ``finite_T_cm1 - harmonic_cm1``.
    harmonic_area, finite_T_area : ndarray, shape (M,)
        Peak areas (unit of the spectra × cm⁻¹).
    area_ratio : ndarray, shape (M,)
        ``finite_T_area / harmonic_area``.
    unmatched_harmonic_cm1, unmatched_finite_T_cm1 : ndarray
        Peaks without a partner within ``max_shift_cm1``.
    frequency_scale : float
        Factor applied to the finite-T wavenumber axis.
    unit : str
        Unit of the spectra.
    """

    harmonic_cm1: np.ndarray
    finite_T_cm1: np.ndarray
    shift_cm1: np.ndarray
    harmonic_area: np.ndarray
    finite_T_area: np.ndarray
    area_ratio: np.ndarray
    unmatched_harmonic_cm1: np.ndarray
    unmatched_finite_T_cm1: np.ndarray
    frequency_scale: float
    unit: str

    def table(self):
        """The comparison as text, one matched peak per line."""
        lines = [
            f"# finite-T vs harmonic peaks; finite-T axis scaled by {self.frequency_scale:g}; "
            f"areas in {self.unit}*cm^-1",
            "# harmonic_cm1  finite_T_cm1  shift_cm1  harmonic_area  finite_T_area  area_ratio",
        ]
        for row in zip(
            self.harmonic_cm1, self.finite_T_cm1, self.shift_cm1,
            self.harmonic_area, self.finite_T_area, self.area_ratio,
        ):
            lines.append("%13.2f %13.2f %10.2f %14.6e %14.6e %11.4f" % row)
        if self.unmatched_harmonic_cm1.size:
            lines.append("# unmatched harmonic peaks (cm^-1): " + " ".join(f"{x:.2f}" for x in self.unmatched_harmonic_cm1))
        if self.unmatched_finite_T_cm1.size:
            lines.append("# unmatched finite-T peaks (cm^-1): " + " ".join(f"{x:.2f}" for x in self.unmatched_finite_T_cm1))
        return "\n".join(lines) + "\n"

    def write(self, path, *, provenance=None):
        """Write :meth:`table` to ``path`` atomically, after a ``# provenance:
        {JSON}`` comment line when ``provenance`` (a dict, see
        :func:`ase_dipole.provenance.provenance`) is given."""
        header = "" if provenance is None else "# provenance: " + json.dumps(provenance, sort_keys=True) + "\n"
        write_text_atomic(os.fspath(path), header + self.table())


def _window(wavenumber_cm1, intensity, window_cm1):
    x = np.asarray(wavenumber_cm1, dtype=float)
    y = np.asarray(intensity, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"wavenumber_cm1 {x.shape} and intensity {y.shape} must be 1-D of equal length")
    if not np.all(np.isfinite(y)):
        raise ValueError("the spectrum contains NaN or inf")
    if np.any(np.diff(x) <= 0):
        raise ValueError("wavenumber_cm1 must increase strictly")
    if window_cm1 is not None:
        low, high = window_cm1
        keep = (x >= low) & (x <= high)
        x, y = x[keep], y[keep]
    if x.size < 3:
        raise ValueError(f"fewer than 3 points in the window {window_cm1} cm⁻¹; widen it")
    return x, y


def find_spectrum_peaks(wavenumber_cm1, intensity, *, prominence=0.02, window_cm1=None):
    """Peaks of a spectrum with their areas.

    Parameters
    ----------
    wavenumber_cm1 : array_like, shape (K,)
        Strictly increasing grid in cm⁻¹.
    intensity : array_like, shape (K,)
        Spectrum on the grid (any unit).
    prominence : float, optional
        Minimum peak prominence as a fraction of the maximum in the window.
    window_cm1 : (float, float), optional
        Only this range of wavenumbers is searched and integrated.

    Returns
    -------
    Peaks
    """
    x, y = _window(wavenumber_cm1, intensity, window_cm1)
    if not 0 < prominence < 1:
        raise ValueError(f"prominence is a fraction of the maximum, 0 < prominence < 1; got {prominence}")
    index, _ = find_peaks(y, prominence=prominence * np.max(np.abs(y)))
    valleys = [int(lo + np.argmin(y[lo:hi + 1])) for lo, hi in zip(index[:-1], index[1:])]
    bounds = [0, *valleys, x.size - 1]
    area = np.array([trapezoid(y[a:b + 1], x[a:b + 1]) for a, b in zip(bounds[:-1], bounds[1:])])
    return Peaks(position_cm1=x[index], height=y[index], area=area)


def _match(first, second, max_shift_cm1):
    distance = np.abs(first[:, None] - second[None, :])
    pairs = []
    used_first, used_second = set(), set()
    for flat in np.argsort(distance, axis=None):
        i, j = np.unravel_index(flat, distance.shape)
        if distance[i, j] > max_shift_cm1:
            break
        if i not in used_first and j not in used_second:
            pairs.append((i, j))
            used_first.add(i)
            used_second.add(j)
    pairs.sort()
    return np.array([p[0] for p in pairs], dtype=int), np.array([p[1] for p in pairs], dtype=int)


def compare_spectra(
    finite_T,
    harmonic,
    *,
    frequency_scale=1.0,
    prominence=0.02,
    max_shift_cm1=50.0,
    window_cm1=None,
):
    """Match the peaks of a finite-temperature and a harmonic IR spectrum.

    Parameters
    ----------
    finite_T, harmonic : ase_dipole.spectra.green_kubo.IRSpectrum
        Spectra in the same unit (``'cm^-1'`` for α n of a crystal, ``'cm^2'``
        for a cross-section).
    frequency_scale : float, optional
        Factor applied to the finite-T wavenumber axis (e.g. 0.985 for the
        1.5 % red shift used in the paper); the intensity is divided by it so
        that areas are kept.
    prominence : float, optional
        Minimum peak prominence, fraction of each spectrum's maximum.
    max_shift_cm1 : float, optional
        Largest distance in cm⁻¹ at which two peaks are matched.
    window_cm1 : (float, float), optional
        Range of wavenumbers compared.

    Returns
    -------
    PeakComparison
    """
    if finite_T.unit != harmonic.unit:
        raise ValueError(
            f"cannot compare a spectrum in '{finite_T.unit}' with one in '{harmonic.unit}'; "
            "compute both per volume (periodic) or both per system (molecule)"
        )
    if not frequency_scale > 0:
        raise ValueError(f"frequency_scale must be positive, got {frequency_scale}")
    finite_peaks = find_spectrum_peaks(
        np.asarray(finite_T.wavenumber_cm1) * frequency_scale,
        np.asarray(finite_T.intensity) / frequency_scale,
        prominence=prominence,
        window_cm1=window_cm1,
    )
    harmonic_peaks = find_spectrum_peaks(
        harmonic.wavenumber_cm1, harmonic.intensity, prominence=prominence, window_cm1=window_cm1
    )
    h, f = _match(harmonic_peaks.position_cm1, finite_peaks.position_cm1, max_shift_cm1)
    unmatched_h = np.setdiff1d(np.arange(harmonic_peaks.position_cm1.size), h)
    unmatched_f = np.setdiff1d(np.arange(finite_peaks.position_cm1.size), f)
    return PeakComparison(
        harmonic_cm1=harmonic_peaks.position_cm1[h],
        finite_T_cm1=finite_peaks.position_cm1[f],
        shift_cm1=finite_peaks.position_cm1[f] - harmonic_peaks.position_cm1[h],
        harmonic_area=harmonic_peaks.area[h],
        finite_T_area=finite_peaks.area[f],
        area_ratio=finite_peaks.area[f] / harmonic_peaks.area[h],
        unmatched_harmonic_cm1=harmonic_peaks.position_cm1[unmatched_h],
        unmatched_finite_T_cm1=finite_peaks.position_cm1[unmatched_f],
        frequency_scale=float(frequency_scale),
        unit=harmonic.unit,
    )


def plot_comparison(finite_T, harmonic, path, *, frequency_scale=1.0, experiment=None, labels=("finite T", "harmonic")):
    """Overlay figure of the two spectra via :func:`ase_dipole.spectra.plot.plot_spectra`.

    Parameters
    ----------
    finite_T, harmonic : ase_dipole.spectra.green_kubo.IRSpectrum
        As for :func:`compare_spectra`; the finite-T axis is scaled by
        ``frequency_scale`` (areas kept).
    path : str or path-like
        Output image.
    frequency_scale : float, optional
        Factor applied to the finite-T wavenumber axis.
    experiment : optional
        Passed to ``plot_spectra``.
    labels : (str, str), optional
        Legend entries.
    """
    from dataclasses import replace

    from ase_dipole.spectra.plot import plot_spectra

    scaled = replace(
        finite_T,
        wavenumber_cm1=np.asarray(finite_T.wavenumber_cm1) * frequency_scale,
        intensity=np.asarray(finite_T.intensity) / frequency_scale,
        error=None if finite_T.error is None else np.asarray(finite_T.error) / frequency_scale,
    )
    label = labels[0] if frequency_scale == 1.0 else f"{labels[0]} (×{frequency_scale:g})"
    return plot_spectra({label: scaled, labels[1]: harmonic}, path, experiment=experiment)
