"""Figures: IR spectra with error bands and an experimental overlay, Z*
parity plots, learning curves.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg
canvas (no pyplot state, no display) and written as PNG, PDF or SVG by the
extension of ``path``. Every function returns the Figure so callers and
tests can inspect it.
"""

import os
from itertools import cycle

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ase_dipole.atomic import atomic_write

#: file formats by extension
FORMATS = (".png", ".pdf", ".svg")
#: axis labels of the spectrum units written by ase_dipole.spectra.green_kubo / harmonic
INTENSITY_LABELS = {
    "cm^-1": r"$\alpha(\tilde\nu)\,n(\tilde\nu)$ (cm$^{-1}$)",
    "cm^2": r"cross-section $\sigma(\tilde\nu)$ (cm$^{2}$)",
}


def _check_path(path):
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in FORMATS:
        raise ValueError(
            f"cannot write a figure to {os.fspath(path)!r}: unknown extension {extension!r}; "
            f"use one of {', '.join(FORMATS)}"
        )


def _save(figure, path):
    FigureCanvasAgg(figure)
    extension = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, dpi=150, format=extension)
    return figure


def _labelled(curves):
    """Normalise the accepted forms of ``curves`` to a list of (item, label or None)."""
    if isinstance(curves, dict):
        return [(item, str(label)) for label, item in curves.items()]
    pairs = []
    for item in curves:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str):
            pairs.append((item[0], item[1]))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            pairs.append((item[1], item[0]))
        else:
            pairs.append((item, None))
    return pairs


def _curve(item, index, label=None):
    """(label, x, y, error or None, unit or None) of an IRSpectrum, a dict or
    an (x, y) pair; ``label`` overrides the item's own."""
    if isinstance(item, tuple) and len(item) == 2:
        item = {"wavenumber_cm1": item[0], "intensity": item[1]}
    if isinstance(item, dict):
        missing = [key for key in ("wavenumber_cm1", "intensity") if key not in item]
        if missing:
            raise ValueError(f"curve {index} lacks {missing}; give wavenumber_cm1 and intensity arrays")
        label = label or item.get("label", f"curve {index}")
        x, y = item["wavenumber_cm1"], item["intensity"]
        error, unit = item.get("error"), item.get("unit")
    elif hasattr(item, "wavenumber_cm1") and hasattr(item, "intensity"):
        meta = getattr(item, "metadata", {}) or {}
        label = label or meta.get("label")
        if label is None and "temperature_K" in meta:
            label = f"{meta.get('route', 'MD')}, {meta['temperature_K']:g} K"
        label = label or f"curve {index}"
        x, y = item.wavenumber_cm1, item.intensity
        error, unit = getattr(item, "error", None), getattr(item, "unit", None)
    else:
        raise TypeError(
            f"curve {index} is a {type(item).__name__}; give an IRSpectrum, an (x, y) pair or a "
            "dict with label, wavenumber_cm1, intensity (and optionally error, unit)"
        )
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"curve {label!r}: wavenumber_cm1 {x.shape} and intensity {y.shape} must be equal 1-D shapes")
    if error is not None:
        error = np.asarray(error, dtype=float)
        if error.shape != y.shape:
            raise ValueError(f"curve {label!r}: error {error.shape} must match intensity {y.shape}")
        if not np.any(np.isfinite(error)):
            error = None
    return label, x, y, error, unit


def plot_spectra(curves, path, *, experiment=None, experiment_label="experiment", xlim=None,
                 title=None):
    """Overlay IR spectra with shaded standard-error bands.

    Parameters
    ----------
    curves : sequence or dict
        Items are IRSpectrum objects, dicts holding ``label``,
        ``wavenumber_cm1`` (F,) cm⁻¹, ``intensity`` (F,) and optionally
        ``error`` (F,) (band = ±error, skipped when None or all NaN) and
        ``unit``, or ``(item, label)`` pairs; a dict ``{label: item}`` is
        accepted too. All curves must share one unit.
    path : str or path-like
        Output file, ``.png``, ``.pdf`` or ``.svg``.
    experiment : IRSpectrum, dict, (x, y) pair or None, keyword-only
        Experimental curve drawn as a black line (e.g. from
        :func:`ase_dipole.spectra.green_kubo.read_experiment` with the right ``scale``).
    experiment_label : str, keyword-only
    xlim : (float, float) or None, keyword-only
        Wavenumber range in cm⁻¹; default: the data range.
    title : str or None, keyword-only

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)
    parsed = [_curve(item, index, label) for index, (item, label) in enumerate(_labelled(curves))]
    if not parsed and experiment is None:
        raise ValueError("plot_spectra needs at least one curve or an experiment")
    if experiment is not None:
        parsed_experiment = _curve(experiment, len(parsed), experiment_label)
    units_found = {unit for *_, unit in parsed + ([parsed_experiment] if experiment is not None else [])
                   if unit is not None}
    if len(units_found) > 1:
        raise ValueError(
            f"the curves have different units {sorted(units_found)}; plot α n (cm^-1) and "
            "cross-sections (cm^2) in separate figures"
        )
    unit = units_found.pop() if units_found else None

    figure = Figure(figsize=(6.4, 4.0))
    axes = figure.add_subplot()
    for label, x, y, error, _ in parsed:
        (line,) = axes.plot(x, y, label=label, lw=1.2)
        if error is not None:
            axes.fill_between(x, y - error, y + error, color=line.get_color(), alpha=0.3, lw=0)
    if experiment is not None:
        label, x, y, _, _ = parsed_experiment
        axes.plot(x, y, color="black", lw=1.0, label=label)
    axes.set_xlabel(r"wavenumber $\tilde\nu$ (cm$^{-1}$)")
    axes.set_ylabel(INTENSITY_LABELS.get(unit, f"intensity ({unit})" if unit else "intensity"))
    if xlim is not None:
        axes.set_xlim(*xlim)
    axes.set_ylim(bottom=min(0.0, axes.get_ylim()[0]))
    if title:
        axes.set_title(title)
    axes.legend(frameon=False)
    figure.tight_layout()
    return _save(figure, path)


def plot_parity(reference, predicted, path, *, label, unit):
    """Parity plot of predicted against reference values (e.g. Z* components).

    Parameters
    ----------
    reference, predicted : array-like of equal shape (any; flattened)
    path : str or path-like, ``.png``/``.pdf``/``.svg``
    label : str, keyword-only
        Name of the quantity, e.g. ``"Z*"``.
    unit : str, keyword-only
        Unit of the values, e.g. ``"e"``.

    The legend states the RMSE and the RMSPE = RMSE/σ(reference) (the
    paper's Fig. 1 definition) in %.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)
    reference = np.asarray(reference, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if reference.shape != predicted.shape:
        raise ValueError(f"reference {reference.shape} and predicted {predicted.shape} must have equal shapes")
    if reference.size == 0:
        raise ValueError("plot_parity needs at least one value")
    reference, predicted = reference.ravel(), predicted.ravel()
    rmse = float(np.sqrt(np.mean((predicted - reference) ** 2)))
    spread = float(np.std(reference))
    rmspe = 100.0 * rmse / spread if spread > 0 else float("nan")

    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    low = min(reference.min(), predicted.min())
    high = max(reference.max(), predicted.max())
    pad = 0.05 * (high - low or 1.0)
    axes.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", lw=0.8)
    axes.scatter(reference, predicted, s=6, alpha=0.6,
                 label=f"RMSE {rmse:.3g} {unit}, RMSPE {rmspe:.2f} %")
    axes.set_xlim(low - pad, high + pad)
    axes.set_ylim(low - pad, high + pad)
    axes.set_aspect("equal")
    axes.set_xlabel(f"reference {label} ({unit})")
    axes.set_ylabel(f"predicted {label} ({unit})")
    axes.legend(frameon=False, loc="upper left")
    figure.tight_layout()
    return _save(figure, path)


#: colours of the elements in parity plots (others cycle through the default colours)
ELEMENT_COLOURS = {"H": "tab:grey", "O": "tab:red", "C": "black", "N": "tab:blue"}


def plot_born_charge_parity(panels, path, *, title=None):
    """Z* parity panels (paper Fig. 2): predicted against reference components,
    coloured by element, with RMSE and RMSPE per element and overall.

    Parameters
    ----------
    panels : dict
        Panel label -> ``(reference, predicted, symbols, statistics)``:
        arrays of shape (n_atoms, 3, 3) in e, the elements (n_atoms,), and
        :func:`ase_dipole.learning.parity.parity_statistics` of them.
    path : str or path-like, ``.png``/``.pdf``/``.svg``
    title : str or None, keyword-only

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)
    if not panels:
        raise ValueError("plot_born_charge_parity needs at least one panel")
    figure = Figure(figsize=(4.6 * len(panels), 5.3), layout="constrained")
    low = min(min(p[0].min(), p[1].min()) for p in panels.values())
    high = max(max(p[0].max(), p[1].max()) for p in panels.values())
    pad = 0.05 * (high - low or 1.0)
    limits = (low - pad, high + pad)
    others = cycle(["tab:green", "tab:purple", "tab:orange", "tab:cyan", "tab:brown"])
    colours = {}
    for index, (label, (reference, predicted, symbols, statistics)) in enumerate(panels.items()):
        axes = figure.add_subplot(1, len(panels), index + 1)
        axes.plot(limits, limits, color="black", lw=0.6)
        for symbol in sorted(set(symbols.tolist())):
            if symbol not in colours:
                colours[symbol] = ELEMENT_COLOURS.get(symbol) or next(others)
            chosen = symbols == symbol
            row = statistics[symbol]
            axes.scatter(reference[chosen].ravel(), predicted[chosen].ravel(), s=3, alpha=0.35,
                         color=colours[symbol], rasterized=True, linewidths=0,
                         label=f"{symbol}: RMSE {row['rmse_e']:.4f} e, RMSPE {row['rmspe_percent']:.1f} %")
        overall = statistics["all"]
        axes.set_title(f"{label}\nall: RMSE {overall['rmse_e']:.4f} e, "
                       f"RMSPE {overall['rmspe_percent']:.1f} %", fontsize=9)
        axes.set_xlim(*limits)
        axes.set_ylim(*limits)
        axes.set_aspect("equal")
        axes.set_xlabel("reference $Z^*$ component (e)")
        if index == 0:
            axes.set_ylabel("predicted $Z^*$ component (e)")
        legend = axes.legend(frameon=False, loc="upper left", fontsize=7, markerscale=3)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_learning_curve(table, path, *, title=None):
    """Learning curves on log-log axes (paper Fig. 1).

    Parameters
    ----------
    table : dict
        Series name -> ``(n, values)``: numbers of training configurations
        (K,) and RMSPE in % (K,).
    path : str or path-like, ``.png``/``.pdf``/``.svg``
    title : str or None, keyword-only

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)
    if not table:
        raise ValueError("plot_learning_curve needs at least one series: {name: (n, values)}")
    figure = Figure(figsize=(5.0, 4.0))
    axes = figure.add_subplot()
    for marker, (name, (n, values)) in zip(cycle("osd^v<>p*h"), table.items()):
        n = np.asarray(n, dtype=float)
        values = np.asarray(values, dtype=float)
        if n.shape != values.shape or n.ndim != 1:
            raise ValueError(f"series {name!r}: n {n.shape} and values {values.shape} must be equal 1-D shapes")
        if np.any(n <= 0) or np.any(values <= 0):
            raise ValueError(f"series {name!r} has values <= 0, which a log-log plot cannot show")
        axes.plot(n, values, marker=marker, label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("number of training configurations")
    axes.set_ylabel("RMSPE (%)")
    if title:
        axes.set_title(title)
    axes.legend(frameon=False)
    figure.tight_layout()
    return _save(figure, path)


def plot_dielectric(result, path, *, xlim=None, title=None, experiment_alpha_n=None,
                    experiment_label="experiment"):
    """Four panels of a :class:`ase_dipole.spectra.dielectric.DielectricFunction`:
    ε' (Kramers–Kronig, and the direct μ route dashed) and ε''; n and κ; α
    alone; α n (with an optional experimental α n overlay), each with its
    standard-error band. ε∞ is stated in the ε panel. The range below one
    FWHM of the window (not resolved) is shaded and kept out of the y
    scaling.

    Parameters
    ----------
    result : DielectricFunction
    path : str or path-like
        ``.png``, ``.pdf`` or ``.svg``.
    xlim : (float, float) or None, keyword-only
        Wavenumber range in cm⁻¹ (default: the data range).
    title : str or None, keyword-only
    experiment_alpha_n : IRSpectrum, dict, (x, y) pair or None, keyword-only
        Experimental α n in cm⁻¹ drawn in the α n panel.
    experiment_label : str, keyword-only

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)
    x = result.wavenumber_cm1
    figure = Figure(figsize=(10.0, 7.0))
    panels = figure.subplots(2, 2, sharex=True).ravel()

    def draw(axes, values, errors, label, **style):
        (line,) = axes.plot(x, values, label=label, lw=1.1, **style)
        if errors is not None and np.any(np.isfinite(errors)):
            axes.fill_between(x, values - errors, values + errors, color=line.get_color(), alpha=0.3, lw=0)

    draw(panels[0], result.eps_real, result.eps_real_error, r"$\varepsilon'$ (Kramers–Kronig)")
    if np.any(np.isfinite(result.eps_real_dipole)):
        draw(panels[0], result.eps_real_dipole, None, r"$\varepsilon'$ ($\mu$ route)", ls="--")
    draw(panels[0], result.eps_imag, result.eps_imag_error, r"$\varepsilon''$")
    panels[0].axhline(result.epsilon_inf, color="gray", lw=0.8, ls=":",
                      label=rf"$\varepsilon_\infty$ = {result.epsilon_inf:g}")
    panels[0].set_ylabel(r"$\varepsilon$")
    draw(panels[1], result.refractive_index, result.refractive_index_error, r"$n$")
    draw(panels[1], result.extinction_coefficient, result.extinction_coefficient_error, r"$\kappa$")
    panels[1].set_ylabel(r"$n$, $\kappa$")
    draw(panels[2], result.absorption_cm1, result.absorption_cm1_error, r"$\alpha$")
    panels[2].set_ylabel(r"absorption coefficient $\alpha$ (cm$^{-1}$)")
    draw(panels[3], result.alpha_n_cm1, result.alpha_n_cm1_error, r"$\alpha n = \omega\varepsilon''/c$")
    if experiment_alpha_n is not None:
        _, ex, ey, _, _ = _curve(experiment_alpha_n, 0, experiment_label)
        panels[3].plot(ex, ey, color="black", lw=1.0, label=experiment_label)
    panels[3].set_ylabel(INTENSITY_LABELS["cm^-1"])
    # below one FWHM the window does not resolve anything: shaded, and left out of the y range
    resolution = float(result.metadata.get("fwhm_cm1", 0.0))
    low, high = xlim if xlim is not None else (0.0, float(x[-1]))
    shown = (x >= max(low, resolution)) & (x <= high)
    for axes in panels:
        axes.set_xlim(low, high)
        if resolution > low:
            axes.axvspan(low, resolution, color="0.9", lw=0, zorder=0)
        values = np.concatenate([line.get_ydata()[shown] for line in axes.get_lines()
                                 if len(line.get_ydata()) == len(x)])
        values = values[np.isfinite(values)]
        if len(values):
            bottom, top = min(values.min(), 0.0), values.max()
            margin = 0.05 * (top - bottom) or 1.0
            axes.set_ylim(bottom - margin, top + margin)
        axes.legend(frameon=False, fontsize=8)
    for axes in panels[2:]:
        axes.set_xlabel(r"wavenumber $\tilde\nu$ (cm$^{-1}$)")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)
