"""Band positions, heights and areas of an IR spectrum of liquid water.

The bands of liquid H2O at 25 °C (Bertie & Lan 1996) and the wavenumber
windows (cm⁻¹) searched for them: the libration (~680 cm⁻¹; the window
starts above the ~200 cm⁻¹ hydrogen-bond stretch), the H–O–H bend
(~1640 cm⁻¹) and the O–H stretch (~3400 cm⁻¹).
"""

import csv

import numpy as np

#: (name, lowest, highest wavenumber of the window), cm⁻¹
BANDS = (("libration", 400.0, 1100.0), ("bend", 1400.0, 1900.0), ("stretch", 2800.0, 3900.0))


def band_peak(wavenumber_cm1, intensity, low_cm1, high_cm1):
    """Position, height and area of the largest value inside a window.

    Parameters
    ----------
    wavenumber_cm1 : array (F,), cm⁻¹, ascending
    intensity : array (F,), any unit (cm⁻¹ for α n)
    low_cm1, high_cm1 : float
        Window, cm⁻¹.

    Returns
    -------
    tuple of float
        Peak wavenumber (cm⁻¹), peak height (unit of ``intensity``) and the
        trapezoid area over the window (unit × cm⁻¹).
    """
    wavenumber_cm1 = np.asarray(wavenumber_cm1, dtype=float)
    intensity = np.asarray(intensity, dtype=float)
    inside = (wavenumber_cm1 >= low_cm1) & (wavenumber_cm1 <= high_cm1)
    if inside.sum() < 3:
        raise ValueError(
            f"fewer than 3 points between {low_cm1} and {high_cm1} cm^-1; the spectrum does "
            "not cover this band"
        )
    x, y = wavenumber_cm1[inside], intensity[inside]
    peak = int(np.argmax(y))
    return float(x[peak]), float(y[peak]), float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def band_table(simulation, experiment):
    """Compare the bands of two spectra.

    Parameters
    ----------
    simulation, experiment : ase_dipole.spectra.green_kubo.IRSpectrum
        Both with intensities in the same unit (cm⁻¹).

    Returns
    -------
    list of dict
        One row per band of :data:`BANDS`: window, peak position (cm⁻¹),
        height (cm⁻¹) and area (cm⁻²) of both spectra, and the shift and
        height ratio simulation/experiment.
    """
    rows = []
    for name, low, high in BANDS:
        sim = band_peak(simulation.wavenumber_cm1, simulation.intensity, low, high)
        exp = band_peak(experiment.wavenumber_cm1, experiment.intensity, low, high)
        rows.append(dict(
            band=name, window_cm1=f"{low:.0f}-{high:.0f}",
            sim_peak_cm1=round(sim[0], 1), expt_peak_cm1=round(exp[0], 1),
            shift_cm1=round(sim[0] - exp[0], 1),
            sim_height_cm1=round(sim[1], 1), expt_height_cm1=round(exp[1], 1),
            height_ratio=round(sim[1] / exp[1], 3),
            sim_area_cm2=round(sim[2], 0), expt_area_cm2=round(exp[2], 0),
            area_ratio=round(sim[2] / exp[2], 3),
        ))
    return rows


def write_table(rows, path):
    """Write the rows of :func:`band_table` as CSV."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows):
    """The rows of :func:`band_table` as a Markdown table (str)."""
    header = ("| band | window (cm⁻¹) | peak sim | peak expt | shift | height sim | height expt "
              "| height ratio | area ratio |")
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['band']} | {r['window_cm1']} | {r['sim_peak_cm1']:.0f} | "
            f"{r['expt_peak_cm1']:.0f} | {r['shift_cm1']:+.0f} | {r['sim_height_cm1']:.0f} | "
            f"{r['expt_height_cm1']:.0f} | {r['height_ratio']:.2f} | {r['area_ratio']:.2f} |"
        )
    return "\n".join(lines)
