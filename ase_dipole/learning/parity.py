"""Born-charge parity: predicted against reference Z* per element (the paper's Fig. 2).

:func:`parity_statistics` gives the RMSE and the RMSPE = RMSE / σ(reference)
of the Z* components, per element and over all atoms (σ the standard
deviation of that group's reference components, the paper's definition);
:func:`born_charge_parity` predicts the Z* of sets of frames with a model (or
takes predictions made elsewhere, e.g. by cross-validation), draws one parity
panel per set coloured by element
(:func:`ase_dipole.spectra.plot.plot_born_charge_parity`) and returns the
statistics of each set.
"""

import numpy as np

from ase_dipole.io.extxyz import get_born_charges


def parity_statistics(reference, predicted, symbols):
    """RMSE and RMSPE of Z* components, per element and overall.

    Parameters
    ----------
    reference, predicted : array-like, shape (n_atoms, 3, 3), float, e
        Reference and predicted Born charges of the same atoms.
    symbols : sequence of str, length n_atoms
        Element of each atom.

    Returns
    -------
    dict
        ``"all"`` and each element (sorted) -> ``{"n_atoms", "rmse_e",
        "sigma_e", "rmspe_percent"}``; ``rmspe_percent`` is NaN where the
        reference does not vary.
    """
    reference = np.asarray(reference, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    symbols = np.asarray(symbols)
    if reference.shape != predicted.shape or reference.shape[1:] != (3, 3):
        raise ValueError(f"reference {reference.shape} and predicted {predicted.shape} must both "
                         "have the shape (n_atoms, 3, 3)")
    if symbols.shape != (len(reference),):
        raise ValueError(f"{symbols.size} symbols for {len(reference)} atoms")
    if len(reference) == 0:
        raise ValueError("parity statistics need at least one atom")
    groups = {"all": np.ones(len(reference), dtype=bool)}
    groups.update({symbol: symbols == symbol for symbol in sorted(set(symbols.tolist()))})
    table = {}
    for name, chosen in groups.items():
        rmse = float(np.sqrt(np.mean((predicted[chosen] - reference[chosen]) ** 2)))
        sigma = float(np.std(reference[chosen]))
        table[name] = dict(n_atoms=int(chosen.sum()), rmse_e=rmse, sigma_e=sigma,
                           rmspe_percent=100.0 * rmse / sigma if sigma > 0 else float("nan"))
    return table


def predicted_and_reference(model, frames):
    """Reference and predicted Z* of all atoms of ``frames``.

    Parameters
    ----------
    model : PolarizationModel
        Fitted model (anything with ``predict(atoms) -> (dipole, born)``).
    frames : sequence of ase.Atoms
        Frames with reference Born charges (see
        :func:`ase_dipole.io.extxyz.get_born_charges`).

    Returns
    -------
    reference, predicted : ndarray, shape (n_atoms_total, 3, 3), e
    symbols : list of str, length n_atoms_total
    """
    reference, predicted, symbols = [], [], []
    for index, frame in enumerate(frames):
        try:
            reference.append(get_born_charges(frame))
        except ValueError as error:
            raise ValueError(f"frame {index} has no reference Born charges: {error}") from None
        predicted.append(model.predict(frame)[1])
        symbols.extend(frame.get_chemical_symbols())
    return np.concatenate(reference), np.concatenate(predicted), symbols


def born_charge_parity(sets, path, *, model=None, title=None):
    """Parity plot of predicted against reference Z*, one panel per set of frames.

    Parameters
    ----------
    sets : dict
        Panel label -> either a sequence of ase.Atoms with reference Born
        charges (predicted with ``model``), or a tuple ``(reference,
        predicted, symbols)`` of arrays of shape (n_atoms, 3, 3) in e and the
        atoms' elements (predictions made elsewhere, e.g. each fold of a
        cross-validation by its own model).
    path : str or path-like, ``.png``/``.pdf``/``.svg``
        Figure to write.
    model : PolarizationModel, optional, keyword-only
        Needed for sets given as frames.
    title : str, optional, keyword-only

    Returns
    -------
    dict
        Panel label -> :func:`parity_statistics` of that set.
    """
    from ase_dipole.spectra.plot import plot_born_charge_parity

    if not sets:
        raise ValueError("born_charge_parity needs at least one set: {label: frames}")
    panels, statistics = {}, {}
    for label, value in sets.items():
        if isinstance(value, tuple) and len(value) == 3:
            reference, predicted, symbols = value
        else:
            if model is None:
                raise ValueError(f"set {label!r} is given as frames: pass model= to predict them")
            try:
                reference, predicted, symbols = predicted_and_reference(model, value)
            except ValueError as error:
                raise ValueError(f"set {label!r}: {error}") from None
        statistics[label] = parity_statistics(reference, predicted, symbols)
        panels[label] = (np.asarray(reference, dtype=float), np.asarray(predicted, dtype=float),
                         np.asarray(symbols), statistics[label])
    plot_born_charge_parity(panels, path, title=title)
    return statistics
