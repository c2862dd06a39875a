"""The polarization model: linear λ-SOAP regression of the dipole, trained on
Born effective charges (derivative learning), dipoles, or both.

.. math::

    μ_α = Σ_j Σ_f D^α_f(X_j)\\, c_{J(j),f} + Σ_i \\bar Z_{J(i)}\\, x_{iα},
    \\qquad
    Z^*_{k,αβ} = ∂μ_α/∂x_{kβ}
              = Σ_j Σ_f ∂D^α_f(X_j)/∂x_{kβ}\\, c_{J(j),f} + \\bar Z_{J(k)} δ_{αβ}

(Schmiedmayer & Kresse 2024, eqs. 9–11). ``D`` is the λ = 1 λ-SOAP
descriptor (:class:`ase_dipole.descriptors.lambda_soap.LambdaSOAP`), ``c_J`` one
coefficient vector per central species J, ``Z̄_J`` the mean diagonal Born
charge of species J over the training atoms. Positions are used as given
(unwrapped); μ is the dipole of a finite system or the cell dipole of a
periodic one, in e·Å; Z* in e with ``Z[k, α, β] = ∂μ_α/∂x_kβ``.

Fit
---
The coefficients minimise the weighted sum of squared residuals

.. math::

    L(c) = \\frac{w_Z}{σ_Z^2} Σ_{frames} Σ_{k,αβ} (Z^{model} − Z^{ref})^2
         + \\frac{w_μ}{σ_μ^2} Σ_{frames} Σ_α (μ^{model} − μ^{ref})^2
         + λ Σ_f d_f^2 c_f^2,

i.e. every Z* component is a row of weight ``born_weight / σ_Z²`` and every
dipole component a row of weight ``dipole_weight / σ_μ²``, where σ_Z and σ_μ
are the standard deviations of the training targets of that kind (after the
Z̄ subtraction). Both residuals are thus measured in units of their own
spread, and ``dipole_weight = 10`` (the paper's choice for combined fits)
makes a dipole row ten times as important as a Z* row. The ridge term acts on
standardised columns (``d_f`` the column norms, :mod:`ase_dipole.learning.ridge`);
λ is chosen by k-fold cross-validation over contiguous blocks of frames
unless given.

With ``n_references = M`` the coefficient vector of species s is restricted
to the span of the λ = 1 descriptors of M reference environments of that
species (3M vectors D^ν(X_ref), eq. 9), picked by farthest point sampling on
the (rotation-invariant, normalised) λ = 0 power spectrum of all training
atoms of species s; ``None`` fits in the full feature space.
"""

import hashlib
import json
import os
import sys
import warnings

import numpy as np
from ase.data import chemical_symbols

from ase_dipole import __version__, memory
from ase_dipole.atomic import write_bytes_atomic
from ase_dipole.learning import feature_selection, ridge
from ase_dipole.learning.posterior import Posterior, atom_sigma, evidence_scale2, fit_posterior
from ase_dipole.learning.kernel import (DEFAULT_KERNEL_FEATURES, DEFAULT_KERNEL_REFERENCES,
                                        DEFAULT_KERNEL_VECTORS, DEFAULT_METRIC_COMPONENTS, DEFAULT_ZETA,
                                        KernelFeatures)
from ase_dipole.learning.product import DEFAULT_N_INVARIANTS, DEFAULT_N_VECTORS, ProductFeatures
from ase_dipole.descriptors.lambda_soap import LambdaSOAP
from ase_dipole.descriptors.neighbours import check_finite_positions
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.progress import progress_bar
from ase_dipole.provenance import content_sha256, date_now

#: identifies a model file
FORMAT = "ase-dipole-polarization-model"
#: version of the model-file layout written by :meth:`PolarizationModel.save`
#: (2: the model kind and the product maps; 3: the kernel model and its maps;
#: 4: feature selection, ``max_features`` and the posterior on the kept
#: columns; version-1 files, all linear, and versions 2–3 still read)
FORMAT_VERSION = 4
#: model-file layouts :meth:`PolarizationModel.load` reads
READ_VERSIONS = (1, 2, 3, 4)
#: model forms: linear λ-SOAP regression, its products with λ = 0
#: invariants (:mod:`ase_dipole.learning.product`), or the sparse kernel
#: model K¹·(K⁰)^ζ (:mod:`ase_dipole.learning.kernel`)
MODELS = ("linear", "product", "kernel")
#: ``model="auto"`` (the default) compares these by frame-grouped
#: cross-validation on finite (molecular) training sets of at most
#: :data:`~ase_dipole.learning.feature_selection.AUTO_COEFFICIENTS` linear
#: coefficients, and is the linear model otherwise
AUTO_MODELS = ("linear", "kernel")
#: model-file entry holding the SHA-256 of the rest of its content, checked on load
DIGEST_KEY = "content_sha256"
#: how the species charges Z̄_J are set: the mean diagonal Z* of the training
#: atoms, or fitted with the coefficients (see :class:`PolarizationModel`)
CHARGES = ("mean", "fit")
#: target selections accepted by :meth:`PolarizationModel.fit`
TARGETS = ("auto", "born", "dipole", "both")
#: default radial cut-off, Å (see :class:`PolarizationModel`)
DEFAULT_CUTOFF = 4.0
#: cut-offs (Å) compared by frame-grouped cross-validation when ``cutoff="auto"``
CUTOFF_CANDIDATES = (4.0, 5.0, 6.0)
#: the cut-off search fits at most this many (evenly spaced) training frames
CUTOFF_SEARCH_FRAMES = 12
#: the search of the defaults on a finite (molecular) training set fits at most
#: this many (evenly spaced) frames: molecules are cheap, and the choice between
#: models needs more held-out frames than that of a cut-off
FINITE_SEARCH_FRAMES = 16
#: the search's trial fits take every other λ of a regularization grid longer than this
SEARCH_GRID_THINNING_ABOVE = 12
#: training frames whose σ(Z*) set the default flagging threshold
UNCERTAINTY_SAMPLE_FRAMES = 8
#: default threshold = this × the largest per-atom σ(Z*) seen on those frames
THRESHOLD_FACTOR = 2.0


def rmspe(predicted, reference):
    """Root-mean-square percentage error of the paper (Fig. 1): the RMSE over
    all components divided by the standard deviation of all reference
    components (pooled), as a fraction (0.01 = 1 %).

    Parameters
    ----------
    predicted, reference : array_like, same shape
    """
    predicted = np.asarray(predicted, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if predicted.shape != reference.shape:
        raise ValueError(f"predicted {predicted.shape} and reference {reference.shape} differ in shape")
    return float(np.sqrt(np.mean((predicted - reference) ** 2)) / np.std(reference))


class _Sample:
    """One validated training frame and the targets it contributes."""

    __slots__ = ("index", "atoms", "born", "dipole")

    def __init__(self, index, atoms, born, dipole):
        self.index, self.atoms, self.born, self.dipole = index, atoms, born, dipole


class PolarizationModel:
    """Linear λ-SOAP model of the dipole, trained on Born charges and/or dipoles.

    Parameters
    ----------
    cutoff : float, "auto" or None, Å
        ``None`` (the default): ``"auto"`` when every training frame is
        finite (a molecule: the longer cut-offs win there, issue 23), else
        :data:`DEFAULT_CUTOFF`.
        ``"auto"``: chosen among :data:`CUTOFF_CANDIDATES` by the
        frame-grouped cross-validated Z* (or dipole) error of fits on at most
        :data:`CUTOFF_SEARCH_FRAMES` evenly spaced training frames; the
        chosen value and the search are in :attr:`training_metrics`
        (``cutoff_search``) and the descriptor of the model file.
        Radial cut-off of the descriptor. The default, 4.0 Å, is shorter than
        the paper's 5.5 Å: a *linear* model of bulk water is more accurate
        with a short cut-off (held-out Z* RMSE on the paper-water set 0.020 e at
        4.0 Å, 0.021 e at 4.5, 0.024 e at 5.0; Schienbein set 0.028, 0.029,
        0.032, 0.036 e at 4.0–5.5 Å), and the water dimer is as accurate
        (held-out dipole RMSPE 0.4 % from Z* alone), see
        ``examples/accuracy/README.md``.
    n_max, l_max : int
        Radial and angular size of the descriptor.
    n_references : int or None
        Number M of reference environments per species (farthest point
        sampling); ``None`` fits the full linear model in feature space.
    max_features : int, "auto" or None
        Columns of the linear model kept per centre species
        (:mod:`ase_dipole.learning.feature_selection`: a deterministic CUR
        column selection on the training design rows; the other
        coefficients are zero, predictions and their gradients are exact
        for the kept model). ``None`` keeps all ``F``; ``"auto"`` keeps all
        while ``S·F`` ≤ :data:`~ase_dipole.learning.feature_selection.AUTO_COEFFICIENTS`
        (one or two species: water, NaCl, quartz) and ``AUTO_COEFFICIENTS // S``
        per species beyond (three or more species), so that the fit's
        memory and time no longer grow with S³. Linear model without
        ``n_references`` only.
    dipole_weight, born_weight : float
        Relative weights w_μ, w_Z of dipole and Z* rows (see the module
        docstring: per-row weights ``w/σ²`` on squared residuals).
    regularization : float or None
        Relative ridge strength λ; ``None`` chooses it by cross-validation.
    cv_folds : int
        Number of contiguous blocks of frames for cross-validation (reduced
        to the number of frames when there are fewer).
    regularization_grid : sequence of float
        Candidate λ for cross-validation.
    model : {"auto", "linear", "product", "kernel"}
        ``"auto"`` (the default): when the cut-off is searched (``None`` on a
        finite, molecular, training set, or ``"auto"``) and the linear model
        keeps all its features, the one of :data:`AUTO_MODELS` (at each
        candidate cut-off) with
        the lowest frame-grouped cross-validated loss on at most
        :data:`FINITE_SEARCH_FRAMES` evenly spaced frames, recorded in
        :attr:`training_metrics` (``cutoff_search``); ``"linear"`` otherwise
        (a given cut-off, periodic sets, many species).
        ``"linear"``: the linear λ-SOAP model above. ``"product"``: adds the
        products of the λ = 1 features with ``n_invariants`` whitened
        principal components of each centre's λ = 0 power spectrum, on
        ``n_vectors`` compressed λ = 1 directions
        (:mod:`ase_dipole.learning.product`; body order ν = 3, the linear
        model is contained). More accurate where the linear model is limited
        by its form (bulk and superionic water, ``examples/accuracy/README.md``),
        several times slower to fit and to evaluate.
        ``"kernel"``: the sparse λ-SOAP kernel model K¹·(K⁰)^ζ with a centred,
        normalised λ = 0 kernel (:mod:`ase_dipole.learning.kernel`), in its
        Nyström feature form; contains the linear model.
    n_invariants, n_vectors : int
        K and R of the product model, and of the kernel model (K Nyström
        features, R compressed λ = 1 directions); ignored by the linear one.
        ``None`` takes the defaults of the chosen model.
    zeta : int
        Exponent ζ of the λ = 0 kernel of the kernel model.
    kernel_references : int
        Reference environments M per species of the kernel model (farthest
        point sampling on the centred, normalised invariants).
    metric_components : int
        Principal directions d of the standardised invariants that define
        the kernel model's λ = 0 metric.
    charges : {"mean", "fit"}
        ``"mean"``: Z̄_J is the mean diagonal Z* of the training atoms of
        species J and stays fixed while the coefficients are fitted (and
        shrunk by the ridge term). ``"fit"``: Z̄_J is that mean plus a
        correction δ_J fitted together with the coefficients, as S more
        columns of the same least-squares problem (design rows δ_αβ for the
        Z* of atoms of species J, Σ_{i of J} x_iα for dipoles; under the same
        relative ridge penalty, a shrinkage of order λ). A ridge fit that
        keeps Z̄ fixed leaves a bias in the mean charge wherever its shrunk
        coefficients do not average to zero over a species (superionic
        water: the mean Z*_H of the fit is 0.61 e against 0.68 e,
        ``examples/accuracy/README.md``). The neutrality of the training
        data carries over to the fitted δ (Σ_J n_J δ_J = 0 for one
        composition). The fitted δ are in :attr:`training_metrics`
        (``charge_corrections_e``) and included in :attr:`mean_born_charges`.
        Default ``"fit"``; model files written before the option existed
        load as ``"mean"``.
    asr_tolerance : float, e
        A training frame whose Born charges violate the acoustic sum rule by
        more than this per atom (``max|Σ_i Z*_i| / N``) is reported in a
        warning (for an ion Σ_i Z*_i = Q·1 and the warning is expected).

    Notes
    -----
    Results are read-only properties available after :meth:`fit` or
    :meth:`load`: :attr:`species`, :attr:`coefficients`,
    :attr:`mean_born_charges`, :attr:`regularization`,
    :attr:`training_metrics`, :attr:`cross_validation`, :attr:`sha256`.
    """

    def __init__(self, *, cutoff=None, n_max=8, l_max=4, n_references=None,
                 max_features="auto", dipole_weight=10.0, born_weight=1.0, regularization=None, cv_folds=5,
                 regularization_grid=ridge.DEFAULT_REGULARIZATION_GRID, model="auto",
                 n_invariants=None, n_vectors=None, zeta=DEFAULT_ZETA,
                 kernel_references=DEFAULT_KERNEL_REFERENCES, metric_components=DEFAULT_METRIC_COMPONENTS,
                 charges="fit", asr_tolerance=0.01):
        if model not in MODELS + ("auto",):
            raise ValueError(f"unknown model {model!r}; use one of "
                             f"{', '.join(map(repr, ('auto',) + MODELS))}")
        if charges not in CHARGES:
            raise ValueError(f"unknown charges {charges!r}; use one of {', '.join(map(repr, CHARGES))}")
        kernel = model in ("kernel", "auto")
        if n_invariants is None:
            n_invariants = DEFAULT_KERNEL_FEATURES if kernel else DEFAULT_N_INVARIANTS
        if n_vectors is None:
            n_vectors = DEFAULT_KERNEL_VECTORS if kernel else DEFAULT_N_VECTORS
        for name, value in (("zeta", zeta), ("kernel_references", kernel_references),
                            ("metric_components", metric_components)):
            if int(value) != value or int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if int(n_invariants) < 1 or int(n_vectors) < 1:
            raise ValueError(f"n_invariants and n_vectors must be positive integers, got "
                             f"{n_invariants!r} and {n_vectors!r}")
        if model not in ("linear", "auto") and n_references is not None:
            raise ValueError("n_references (reference environments) works with model='linear' only; "
                             f"give n_references=None for the {model} model")
        if max_features not in (None, "auto") and (int(max_features) != max_features
                                                   or int(max_features) < 1):
            raise ValueError(f"max_features must be a positive integer, 'auto' or None, got "
                             f"{max_features!r}")
        if n_references is not None and int(n_references) < 1:
            raise ValueError(f"n_references must be a positive integer or None, got {n_references!r}")
        for name, value in (("dipole_weight", dipole_weight), ("born_weight", born_weight)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if regularization is not None and not (np.isfinite(regularization) and regularization > 0):
            raise ValueError(f"regularization must be positive or None (cross-validation), got {regularization!r}")
        if int(cv_folds) < 2:
            raise ValueError(f"cv_folds must be >= 2, got {cv_folds!r}")
        self.parameters = {
            "cutoff": cutoff if cutoff in ("auto", None) else float(cutoff), "n_max": int(n_max), "l_max": int(l_max),
            "n_references": None if n_references is None else int(n_references),
            "max_features": max_features if max_features in (None, "auto") else int(max_features),
            "dipole_weight": float(dipole_weight), "born_weight": float(born_weight),
            "regularization": None if regularization is None else float(regularization),
            "cv_folds": int(cv_folds),
            "regularization_grid": [float(x) for x in regularization_grid],
            "model": model, "n_invariants": int(n_invariants), "n_vectors": int(n_vectors),
            "zeta": int(zeta), "kernel_references": int(kernel_references),
            "metric_components": int(metric_components), "charges": charges,
            "asr_tolerance": float(asr_tolerance),
        }
        self._state = None
        self._file_sha256 = None
        # (descriptor, bytes of the atomic numbers last checked, their species indices)
        self._species_index_of = (None, None, None)
        self._with_uncertainty = True
        self._cv_only = False  # a trial fit of the cut-off search: the CV losses only

    # -- results ------------------------------------------------------------
    def _fitted(self):
        if self._state is None:
            raise RuntimeError("PolarizationModel.fit() or PolarizationModel.load() has to be done first")
        return self._state

    @property
    def descriptor(self):
        """The :class:`~ase_dipole.descriptors.lambda_soap.LambdaSOAP` of the model."""
        return self._fitted()["descriptor"]

    @property
    def kind(self):
        """The fitted model form, one of :data:`MODELS` (``model="auto"`` resolved)."""
        return self._fitted()["kind"]

    @property
    def species(self):
        """Chemical symbols the model knows, sorted by atomic number."""
        return self.descriptor.species

    @property
    def coefficients(self):
        """Coefficient vectors c_J, shape (S, F), or (S, F + K·R) for the
        product model (copy)."""
        return self._fitted()["coefficients"].copy()

    @property
    def mean_born_charges(self):
        """Z̄_J per species symbol, e (mean diagonal Z* of the training atoms)."""
        return dict(zip(self.species, self._fitted()["mean_born"].tolist()))

    @property
    def regularization(self):
        """The relative ridge strength λ used by the fit."""
        return self._fitted()["regularization"]

    @property
    def training_metrics(self):
        """Training-set figures (dict): frame counts, RMSE and std of each
        target kind (``rmse_born_charges_e``, ``rmse_dipole_eA``, ...) and the
        cross-validated RMSE at the chosen λ."""
        return dict(self._fitted()["metrics"])

    @property
    def provenance(self):
        """Where the fit comes from (dict), or None for files written before
        ase-dipole recorded it: ``training_data_sha256`` (the content of the
        fitted frames), ``n_training_frames``, ``ase_dipole_version`` and,
        when the fit was given its command (the CLI does), ``date`` and
        ``command``."""
        record = self._fitted().get("provenance")
        return None if record is None else dict(record)

    @property
    def cross_validation(self):
        """``{"grid": [...], "loss": [...], "rmse": {kind: [...]}}``; empty
        lists when λ was given."""
        return json.loads(json.dumps(self._fitted()["cv"]))

    @property
    def sha256(self):
        """Hex SHA-256 of the model file (of the bytes :meth:`save` writes)."""
        if self._file_sha256 is not None:
            return self._file_sha256
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def __repr__(self):
        if self._state is None:
            return f"PolarizationModel({self.parameters}) (not fitted)"
        return (f"PolarizationModel(model={self.kind!r}, species={self.species}, "
                f"cutoff={self.descriptor.cutoff}, "
                f"n_max={self.descriptor.n_max}, l_max={self.descriptor.l_max}, "
                f"regularization={self.regularization:.3g})")

    # -- training data ---------------------------------------------------------
    def _samples(self, frames, targets):
        if targets not in TARGETS:
            raise ValueError(f"unknown targets {targets!r}; use one of {', '.join(map(repr, TARGETS))}")
        samples, asr, periodic_dipoles = [], [], []
        for index, atoms in enumerate(frames):
            if not hasattr(atoms, "positions") or not hasattr(atoms, "numbers"):
                raise TypeError(f"frame {index}: expected an ase.Atoms, got {type(atoms).__name__}")
            if len(atoms) == 0:
                raise ValueError(f"frame {index}: has no atoms")
            if not np.all(np.isfinite(atoms.positions)):
                raise ValueError(f"frame {index}: positions contain NaN or inf")
            periodic = bool(np.any(atoms.pbc))
            if periodic and np.linalg.matrix_rank(atoms.cell.array[atoms.pbc]) < int(np.sum(atoms.pbc)):
                raise ValueError(f"frame {index}: periodic along {atoms.pbc.tolist()} but the cell "
                                 f"{atoms.cell.array.tolist()} does not span those directions; "
                                 "set the cell or pbc=False")
            try:
                born = get_born_charges(atoms) if targets != "dipole" else None
                dipole = get_dipole(atoms) if targets != "born" else None
            except ValueError as error:
                raise ValueError(f"frame {index}: {error}") from None
            if targets == "auto" and periodic:
                dipole = None
            if born is not None and not np.all(np.isfinite(born)):
                raise ValueError(f"frame {index}: born_charges contain NaN or inf")
            if dipole is not None and not np.all(np.isfinite(dipole)):
                raise ValueError(f"frame {index}: dipole contains NaN or inf")
            if targets == "born" and born is None:
                raise ValueError(f"frame {index}: no born_charges, but targets='born' needs them "
                                 "in every frame")
            if targets == "dipole" and dipole is None:
                raise ValueError(f"frame {index}: no dipole, but targets='dipole' needs one in every frame")
            if born is None and dipole is None:
                hint = (" (its dipole is periodic and targets='auto' ignores periodic dipoles; "
                        "use targets='dipole' or 'both' to fit them)" if periodic and targets == "auto"
                        and get_dipole(atoms) is not None else "")
                raise ValueError(f"frame {index}: has neither born_charges nor a dipole to fit{hint}")
            if born is not None and np.abs(born.sum(axis=0)).max() / len(atoms) > self.parameters["asr_tolerance"]:
                asr.append(index)
            if dipole is not None and periodic:
                periodic_dipoles.append(index)
            samples.append(_Sample(index, atoms, born, dipole))
        if not samples:
            raise ValueError("no training frames given")
        if asr:
            warnings.warn(
                f"the Born charges of frame(s) {_index_list(asr)} violate the acoustic sum rule by "
                f"more than {self.parameters['asr_tolerance']} e per atom (max|Σ_i Z*_i|/N); check "
                "the reference calculation (an ion has Σ_i Z*_i = Q·1)", stacklevel=3)
        if periodic_dipoles:
            warnings.warn(
                f"fitting the dipoles of periodic frame(s) {_index_list(periodic_dipoles)}: a cell "
                "dipole is defined only modulo the polarization quantum e·R; make sure they lie on "
                "one continuous branch", stacklevel=3)
        return samples

    # -- fit -------------------------------------------------------------------
    def fit(self, frames, *, targets="auto", progress=True, command=None):
        """Fit the coefficients to Born charges and/or dipoles.

        Parameters
        ----------
        frames : sequence of ase.Atoms
            Training structures carrying ``born_charges`` (N, 9) e and/or a
            dipole (3,) e·Å in the extxyz convention (read through
            :func:`ase_dipole.io.extxyz.get_born_charges` / ``get_dipole``).
        targets : {"auto", "born", "dipole", "both"}
            ``"born"``: Z* only (every frame must have them; dipoles are
            ignored, also one in a SinglePointCalculator). ``"dipole"``:
            dipoles only. ``"both"``: every Z* and every dipole present.
            ``"auto"``: Z* where present and dipoles of finite (non-periodic)
            frames only — a periodic cell dipole is defined only modulo the
            polarization quantum, so it is fitted (with a warning) only when
            asked for by ``"dipole"`` or ``"both"``.
        progress : bool
            Progress bars on stderr: the frames, then the cross-validation
            (one tick per fold and one for the final solve).
        command : str, optional
            The command line that fits, recorded with the date in the model
            file's :attr:`provenance` (the CLI passes its own). Without it
            the file holds no date, so that fits of the same data and
            settings give byte-identical files.

        Returns
        -------
        PolarizationModel
            ``self``.
        """
        frames = list(frames)
        samples = self._samples(frames, targets)
        p = self.parameters
        numbers = sorted({int(z) for s in samples for z in s.atoms.numbers})
        with_born = {int(z) for s in samples if s.born is not None for z in s.atoms.numbers}
        if with_born and set(numbers) - with_born:
            missing = [chemical_symbols[z] for z in sorted(set(numbers) - with_born)]
            raise ValueError(f"species {missing} occur in no frame with Born charges, so their mean "
                             "Born charge cannot be set; add Born-charge frames that contain them, "
                             "or fit targets='dipole'")
        finite = not any(np.any(s.atoms.pbc) for s in samples)
        cutoffs = (CUTOFF_CANDIDATES if p["cutoff"] == "auto" or (p["cutoff"] is None and finite)
                   else (DEFAULT_CUTOFF if p["cutoff"] is None else p["cutoff"],))
        models = (p["model"],) if p["model"] != "auto" else ("linear",)
        if (p["model"] == "auto" and len(cutoffs) > 1 and p["n_references"] is None
                and feature_selection.features_per_species(
                    p["max_features"], len(numbers),
                    LambdaSOAP(numbers, cutoff=1.0, n_max=p["n_max"], l_max=p["l_max"]).n_features)
                is None):
            models = AUTO_MODELS
        search = None
        if len(cutoffs) * len(models) > 1:
            search = self._search_cutoff(frames, targets, progress, cutoffs, models, finite)
        cutoff = search["chosen"] if search else cutoffs[0]
        form = search["model"] if search else models[0]
        descriptor = LambdaSOAP(numbers, cutoff=cutoff, n_max=p["n_max"], l_max=p["l_max"])
        species_index = np.full(max(numbers) + 1, -1, dtype=np.int64)
        species_index[numbers] = np.arange(len(numbers))
        mean_born = self._mean_born(samples, species_index, len(numbers))
        bases, references = self._reference_bases(samples, descriptor, species_index, progress)
        columns = None
        if form == "linear" and p["n_references"] is None:
            kept = feature_selection.features_per_species(p["max_features"], len(numbers),
                                                          descriptor.n_features)
            if kept is not None:
                n_keep = np.full(len(numbers), kept)
                if p["max_features"] == "auto":  # and at most 3 per training environment
                    counts = np.bincount(np.concatenate([species_index[s.atoms.numbers] for s in samples]),
                                         minlength=len(numbers))
                    n_keep = np.minimum(n_keep, feature_selection.COLUMNS_PER_ENVIRONMENT * counts)
                columns = self._select_features(samples, descriptor, species_index, n_keep)
        product = None
        if form == "product":
            product = ProductFeatures.fit(descriptor, [s.atoms for s in samples],
                                          n_invariants=p["n_invariants"], n_vectors=p["n_vectors"])
        elif form == "kernel":
            product = KernelFeatures.fit(descriptor, [s.atoms for s in samples], zeta=p["zeta"],
                                         n_references=p["kernel_references"],
                                         n_features=p["n_invariants"], n_vectors=p["n_vectors"],
                                         n_components=p["metric_components"])
        groups = ridge.identical_frame_groups([s.atoms for s in samples])
        n_groups = int(groups.max()) + 1
        n_folds = 1 if p["regularization"] is not None else min(p["cv_folds"], n_groups)
        if p["regularization"] is None and n_folds < 2:
            raise ValueError("cross-validation needs at least 2 training frames; give a "
                             "regularization to fit a single frame" if len(samples) == 1 else
                             f"cross-validation needs at least 2 distinct training frames, but all "
                             f"{len(samples)} are identical (same positions to "
                             f"{ridge.IDENTICAL_FRAMES_A} Å); give distinct frames, or a regularization")
        repeats = np.setdiff1d(np.arange(len(samples)), np.unique(groups, return_index=True)[1])
        if n_folds > 1 and repeats.size:
            warnings.warn(f"training frame(s) {_index_list([samples[i].index for i in repeats])} "
                          "repeat an earlier frame (same "
                          f"positions to {ridge.IDENTICAL_FRAMES_A} Å): {len(samples)} frames, "
                          f"{n_groups} distinct; identical frames are kept in one cross-validation "
                          "fold", stacklevel=2)
        folds = ridge.grouped_folds(groups, n_folds)
        kinds = tuple(k for k, present in (("born", any(s.born is not None for s in samples)),
                                           ("dipole", any(s.dipole is not None for s in samples)))
                      if present)
        n_columns = (len(numbers) * product.n_columns(descriptor) if product is not None else
                     sum(map(len, columns)) if columns is not None else
                     sum(descriptor.n_features if basis is None else len(basis) for basis in bases))
        fit_charges = p["charges"] == "fit"
        n_columns += len(numbers) if fit_charges else 0
        memory.check_fit(n_columns, n_folds=n_folds, n_kinds=len(kinds), n_species=len(numbers),
                         largest_frame_rows=max(9 * len(s.atoms) for s in samples))
        equations = ridge.NormalEquations(n_columns, n_folds=n_folds, kinds=kinds)
        stream = sys.stderr if progress else None
        report = progress_bar(len(samples), "fit", unit="frame", stream=stream)
        for position, sample in enumerate(samples):
            fold = folds[position]
            zbar = mean_born[species_index[sample.atoms.numbers]]
            try:
                if sample.born is not None and product is not None:
                    rows = product.born_rows(sample.atoms)
                elif sample.born is not None:
                    gradients = descriptor.summed_gradients(sample.atoms)  # (N, 3, 3, S, F)
                    rows = _reduce(gradients.reshape(-1, len(numbers), descriptor.n_features), bases,
                                   columns)
                if sample.born is not None:
                    born = sample.born - zbar[:, None, None] * np.eye(3)
                    if fit_charges:
                        rows = np.hstack([rows, _charge_rows(species_index[sample.atoms.numbers],
                                                             len(numbers))])
                    equations.add(fold, "born", rows, born.reshape(-1))
                if sample.dipole is not None and product is not None:
                    rows = product.dipole_rows(sample.atoms)
                elif sample.dipole is not None:
                    summed = descriptor.summed_features(sample.atoms)  # (S, 3, F)
                    rows = _reduce(summed.transpose(1, 0, 2), bases, columns)
                if sample.dipole is not None:
                    if fit_charges:
                        rows = np.hstack([rows, _charge_dipole_rows(
                            species_index[sample.atoms.numbers], len(numbers), sample.atoms.positions)])
                    equations.add(fold, "dipole", rows, sample.dipole - zbar @ sample.atoms.positions)
            except ValueError as error:
                raise ValueError(f"frame {sample.index}: {error}") from None
            report.update(1)
        report.close()
        std = {kind: equations.target_std(kind) for kind in kinds}
        weight = {"born": p["born_weight"], "dipole": p["dipole_weight"]}
        row_weights = {kind: weight[kind] / (std[kind] ** 2 if std[kind] > 0 else 1.0) for kind in kinds}
        if not any(row_weights.values()):
            raise ValueError(f"all weights of the fitted target kinds {list(kinds)} are zero")
        if p["regularization"] is None:
            with progress_bar(n_folds + 1, "cross-validation", unit="solve", stream=stream) as bar:
                solution = ridge.cross_validate(equations, row_weights,
                                                grid=p["regularization_grid"], final=not self._cv_only,
                                                progress=lambda done, total: bar.update(done - bar.n))
            if self._cv_only:
                self._state = {"cv": {"grid": solution.grid.tolist(), "loss": solution.cv_loss.tolist(),
                                      "rmse": {k: v.tolist() for k, v in solution.cv_rmse.items()}}}
                return self
            best = int(np.argmin(solution.cv_loss))
            if p["regularization_grid"] and best in (0, len(solution.grid) - 1) and len(solution.grid) > 1:
                warnings.warn(f"cross-validation chose λ = {solution.regularization:.3g} at the edge "
                              "of the regularization grid; widen regularization_grid", stacklevel=2)
        else:
            solution = ridge.solve(equations, row_weights, p["regularization"])
        corrections = solution.coefficients[n_columns - len(numbers):] if fit_charges else None
        coefficients = _expand(solution.coefficients[:n_columns - len(numbers)] if fit_charges
                               else solution.coefficients, bases, columns, descriptor.n_features)
        posterior_bases = bases + [np.eye(len(numbers))] if fit_charges and bases[0] is not None else bases
        posterior = (self._posterior(equations, row_weights, solution, posterior_bases, n_folds)
                     if self._with_uncertainty else None)
        metrics = {"cutoff_search": search} if search else {}
        if columns is not None:
            F = descriptor.n_features
            if posterior is not None:
                posterior.columns = np.concatenate(
                    [s * F + c for s, c in enumerate(columns)]
                    + ([len(numbers) * F + np.arange(len(numbers))] if fit_charges else []))
            metrics["feature_selection"] = {
                "features_per_species": descriptor.n_features,
                "kept_per_species": dict(zip(descriptor.species, map(len, columns)))}
        if fit_charges:
            metrics["charge_corrections_e"] = dict(zip(descriptor.species, corrections.tolist()))
            mean_born = mean_born + corrections
        metrics |= {"n_frames": len(samples),
                   "n_born_frames": sum(s.born is not None for s in samples),
                   "n_dipole_frames": sum(s.dipole is not None for s in samples),
                   "targets": targets}
        names = {"born": "born_charges_e", "dipole": "dipole_eA"}
        for kind in kinds:
            n = equations.count(kind)
            error = sum(equations.squared_error(solution.coefficients, f, kind) for f in range(n_folds))
            metrics[f"rmse_{names[kind]}"] = float(np.sqrt(error / n))
            metrics[f"std_{names[kind]}"] = std[kind]
            metrics[f"row_weight_{kind}"] = row_weights[kind]
            if solution.cv_rmse:
                metrics[f"cv_rmse_{names[kind]}"] = float(solution.cv_rmse[kind][int(np.argmin(solution.cv_loss))])
        self._state = {
            "descriptor": descriptor, "coefficients": coefficients, "mean_born": mean_born,
            "regularization": solution.regularization, "metrics": metrics, "references": references,
            "cv": {"grid": solution.grid.tolist(), "loss": solution.cv_loss.tolist(),
                   "rmse": {k: v.tolist() for k, v in solution.cv_rmse.items()}},
            "posterior": posterior, "product": product, "kind": form,
        }
        self._state["uncertainty"] = self._training_uncertainty(samples) if posterior else None
        self._state["provenance"] = _training_provenance(samples, command)
        self._file_sha256 = None
        return self

    def _search_cutoff(self, frames, targets, progress, cutoffs, models, finite):
        """Frame-grouped CV over the cut-offs × model forms on a subset of
        frames (:data:`FINITE_SEARCH_FRAMES` of a finite set, else
        :data:`CUTOFF_SEARCH_FRAMES`, evenly spaced); the trial fits
        cross-validate only (no final solve, in the dual form when their rows
        are fewer than their coefficients)."""
        limit = FINITE_SEARCH_FRAMES if finite else CUTOFF_SEARCH_FRAMES
        picks = np.unique(np.linspace(0, len(frames) - 1, min(limit, len(frames))).astype(int))
        subset = [frames[i] for i in picks]
        loss, rmse, trials = [], [], [(c, m) for m in models for c in cutoffs]
        grid = self.parameters["regularization_grid"]
        # every other λ of a fine grid: the same ranking of the trials on the water dimer,
        # methanol and the GFN2 dimer, 15-30 % faster (the final fit searches the whole grid)
        coarse = grid[::2] if len(grid) > SEARCH_GRID_THINNING_ABOVE else grid
        for cutoff, kind in trials:
            trial = PolarizationModel(**dict(self.parameters, cutoff=cutoff, model=kind,
                                             regularization_grid=coarse))
            trial._with_uncertainty, trial._cv_only = False, True
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial.fit(subset, targets=targets, progress=False)
            state = trial._fitted()
            cv = state["cv"]
            if cv["loss"]:
                best = int(np.argmin(cv["loss"]))
                loss.append(float(cv["loss"][best]))
                rmse.append({kind: values[best] for kind, values in cv["rmse"].items()})
            else:
                metrics = state["metrics"]
                loss.append(float(sum(metrics[f"row_weight_{k}"] * metrics[f"rmse_{n}"] ** 2
                                      for k, n in (("born", "born_charges_e"), ("dipole", "dipole_eA"))
                                      if f"rmse_{n}" in metrics)))
                rmse.append({})
            if progress:
                print(f"{kind} model, cut-off {cutoff} Å: cross-validated loss {loss[-1]:.4g}",
                      file=sys.stderr)
        best = int(np.argmin(loss))
        return {"candidates": [float(c) for c, _ in trials], "models": [m for _, m in trials],
                "cv_loss": loss, "cv_rmse": rmse, "frames": [int(i) for i in picks],
                "regularization_grid": [float(x) for x in coarse],
                "chosen": float(trials[best][0]), "model": trials[best][1]}

    @staticmethod
    def _posterior(equations, row_weights, solution, bases, n_folds):
        """Posterior covariance of the coefficients (:mod:`ase_dipole.learning.posterior`)
        with the noise scale from the cross-validated residuals, or from the
        training residuals (evidence estimate) when λ was given."""
        weights = {kind: w for kind, w in row_weights.items() if w > 0}
        n_rows = sum(equations.count(kind) for kind in weights)
        if len(solution.cv_loss):
            scale2 = float(solution.cv_loss[int(np.argmin(solution.cv_loss))]) / n_rows
            method = "cross-validation"
        else:
            residual = sum(w * equations.squared_error(solution.coefficients, f, kind)
                           for kind, w in weights.items() for f in range(n_folds))
            scale2 = evidence_scale2(float(residual), n_rows, None, solution.regularization,
                                     eigen=solution.eigen)
            method = "evidence"
        # the solve's diagonalisation of the same weighted G (zero weights add nothing to it)
        return fit_posterior(None, solution.regularization, scale2, weights, method=method,
                             bases=bases, eigen=solution.eigen)

    def _training_uncertainty(self, samples):
        """σ statistics of the training set: the largest per-atom σ(Z*)
        (predictive, :meth:`predict_std`) of up to :data:`UNCERTAINTY_SAMPLE_FRAMES`
        evenly spaced training frames, and the default flagging threshold
        :data:`THRESHOLD_FACTOR` × their maximum."""
        picks = np.unique(np.linspace(0, len(samples) - 1, min(UNCERTAINTY_SAMPLE_FRAMES,
                                                                len(samples))).astype(int))
        largest = [float(atom_sigma(self.predict_std(samples[i].atoms)[1]).max()) for i in picks]
        return {"frames": [samples[i].index for i in picks],
                "max_atom_sigma_born_e": largest,
                "default_threshold_e": THRESHOLD_FACTOR * max(largest)}

    @staticmethod
    def _mean_born(samples, species_index, n_species):
        """Z̄_J: mean diagonal of Z* over training atoms of each species (0
        for species without Z* data), shape (S,)."""
        total = np.zeros(n_species)
        count = np.zeros(n_species)
        for sample in samples:
            if sample.born is not None:
                index = species_index[sample.atoms.numbers]
                np.add.at(total, index, np.trace(sample.born, axis1=1, axis2=2))
                np.add.at(count, index, 3)
        return np.divide(total, count, out=np.zeros(n_species), where=count > 0)

    @staticmethod
    def _select_features(samples, descriptor, species_index, n_keep):
        """Columns (r_s,) int64 of each species kept by the feature selection, at
        most ``n_keep[s]``
        (:func:`ase_dipole.learning.feature_selection.select_columns` on the Z*
        and dipole design rows of up to ``SELECTION_FRAMES`` evenly spaced
        frames, at most ``SELECTION_ROWS`` per species and 0.6 GB in all)."""
        S, F = len(descriptor.species), descriptor.n_features
        picks = np.unique(np.linspace(0, len(samples) - 1, min(feature_selection.SELECTION_FRAMES,
                                                                len(samples))).astype(int))
        budget = min(feature_selection.SELECTION_ROWS, int(6e8 / (4 * S * F)))
        per_frame = max(1, budget // len(picks))
        rows = [[] for _ in range(S)]
        for i in picks:
            sample = samples[i]
            try:
                blocks = []
                if sample.born is not None:
                    blocks.append(descriptor.summed_gradients(sample.atoms).reshape(-1, S, F))
                if sample.dipole is not None:
                    blocks.append(descriptor.summed_features(sample.atoms).transpose(1, 0, 2))
            except ValueError as error:
                raise ValueError(f"frame {sample.index}: {error}") from None
            for block in blocks:
                for s in range(S):
                    live = block[:, s][np.any(block[:, s] != 0.0, axis=1)]
                    step = max(1, -(-len(live) // per_frame))
                    rows[s].append(live[::step].astype(np.float32))
        return [feature_selection.select_columns(np.concatenate(r) if r else np.zeros((0, F)), n)
                for r, n in zip(rows, n_keep)]

    def _reference_bases(self, samples, descriptor, species_index, progress):
        """Orthonormal bases (r_s, F) of the coefficient space of each species
        and the picked reference environments ``{symbol: [[frame, atom], ...]}``."""
        S, F = len(descriptor.species), descriptor.n_features
        M = self.parameters["n_references"]
        if M is None:
            return [None] * S, {}
        invariants = [[] for _ in range(S)]
        owners = [[] for _ in range(S)]
        report = progress_bar(len(samples), "reference environments", unit="frame",
                              stream=sys.stderr if progress else None)
        for position, sample in enumerate(samples):
            try:
                values = descriptor.invariants(sample.atoms)
            except ValueError as error:
                raise ValueError(f"frame {sample.index}: {error}") from None
            values /= np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-300)
            index = species_index[sample.atoms.numbers]
            for s in range(S):
                atoms_of_s = np.flatnonzero(index == s)
                invariants[s].append(values[atoms_of_s].astype(np.float32))
                owners[s].extend((position, int(a)) for a in atoms_of_s)
            report.update(1)
        report.close()
        bases, references = [], {}
        for s in range(S):
            candidates = np.concatenate(invariants[s])
            picked = ridge.farthest_point_sampling(candidates, min(M, len(candidates)))
            chosen = sorted(owners[s][i] for i in picked)
            rows = []
            for position in sorted({frame for frame, _ in chosen}):
                atoms_here = [a for frame, a in chosen if frame == position]
                rows.append(descriptor.features(samples[position].atoms)[atoms_here].reshape(-1, F))
            vectors = np.concatenate(rows)
            _, singular, vt = np.linalg.svd(vectors, full_matrices=False)
            keep = singular > singular[0] * 1e-10 if singular.size and singular[0] > 0 else singular > 0
            bases.append(vt[keep])
            references[descriptor.species[s]] = [[samples[f].index, a] for f, a in chosen]
        return bases, references

    # -- prediction ------------------------------------------------------------------
    def _check(self, atoms):
        """The fitted state and each atom's mean Born charge (N,), e, after the
        checks of species (once per set of atomic numbers) and positions."""
        state = self._fitted()
        numbers = atoms.numbers
        key = numbers.tobytes()
        descriptor, checked_key, index = self._species_index_of
        if descriptor is not state["descriptor"] or key != checked_key:
            known = set(self.descriptor.numbers)
            unknown = sorted(set(np.unique(numbers).tolist()) - known)
            if unknown:
                raise ValueError(f"species {[chemical_symbols[z] for z in unknown]} not known to this "
                                 f"model (trained on {list(self.species)}); fit a model whose training "
                                 "set contains them")
            index = np.searchsorted(self.descriptor.numbers, numbers)
            self._species_index_of = (state["descriptor"], key, index)
        check_finite_positions(atoms.positions)
        return state, state["mean_born"][index]

    def predict(self, atoms):
        """Dipole and Born charges of a structure.

        Parameters
        ----------
        atoms : ase.Atoms
            Finite or periodic; positions used as given (unwrapped).

        Returns
        -------
        dipole : ndarray, shape (3,), e·Å
        born_charges : ndarray, shape (N, 3, 3), e
            ``Z[k, α, β] = ∂μ_α/∂x_kβ``.
        """
        state, zbar = self._check(atoms)
        if state.get("product") is not None:
            dipole, born = state["product"].dipole_and_born_charges(atoms, state["coefficients"])
        else:
            dipole, born = self.descriptor.dipole_and_born_charges(atoms, state["coefficients"])
        born = np.ascontiguousarray(born)
        born.reshape(len(born), 9)[:, ::4] += zbar[:, None]  # the diagonals, as a view
        return dipole + zbar @ atoms.positions, born

    def predict_dipole(self, atoms):
        """Dipole of a structure, shape (3,), e·Å."""
        state, zbar = self._check(atoms)
        if state.get("product") is not None:
            return state["product"].dipole(atoms, state["coefficients"]) + zbar @ atoms.positions
        return self.descriptor.dipole(atoms, state["coefficients"]) + zbar @ atoms.positions

    def predict_pdot(self, atoms, velocities_A_per_fs):
        """Dipole (3,) e·Å and its time derivative Ṗ = Σ_k Z*_k v_k (3,) e·Å/fs,
        without forming the Born charges.

        Parameters
        ----------
        atoms : ase.Atoms
        velocities_A_per_fs : array_like, shape (N, 3), Å/fs
            ASE velocities times ``ase.units.fs``.

        The product model has no directional route: it forms all Z*.
        """
        state, zbar = self._check(atoms)
        velocities = np.asarray(velocities_A_per_fs, dtype=float)
        if state.get("product") is not None:
            if velocities.shape != (len(atoms), 3):
                raise ValueError(f"velocities have shape {velocities.shape}; expected "
                                 f"({len(atoms)}, 3) in Å/fs")
            if not np.all(np.isfinite(velocities)):
                raise ValueError("velocities contain NaN or inf")
            dipole, born = self.predict(atoms)
            return dipole, np.einsum("kab,kb->a", born, velocities)
        dipole, pdot = self.descriptor.dipole_and_pdot(atoms, state["coefficients"], velocities)
        return dipole + zbar @ atoms.positions, pdot + zbar @ velocities

    @property
    def has_uncertainty(self):
        """Whether the model carries posterior statistics (fitted by this version)."""
        return self._fitted().get("posterior") is not None

    @property
    def uncertainty_threshold(self):
        """Default threshold on the largest per-atom σ(Z*) of a structure, e
        (:data:`THRESHOLD_FACTOR` × the largest seen on training frames)."""
        self._posterior_or_error()
        return float(self._fitted()["uncertainty"]["default_threshold_e"])

    @property
    def training_uncertainty(self):
        """``{"frames", "max_atom_sigma_born_e", "default_threshold_e"}`` of the fit."""
        self._posterior_or_error()
        return json.loads(json.dumps(self._fitted()["uncertainty"]))

    def _posterior_or_error(self):
        posterior = self._fitted().get("posterior")
        if posterior is None:
            raise ValueError("this model file has no posterior statistics (it was written by an "
                             "older ase-dipole); refit the model ('ase-dipole fit' or "
                             "PolarizationModel.fit) to get uncertainties")
        return posterior

    def predict_std(self, atoms, *, include_noise=True, samples=None, seed=0):
        """Posterior predictive standard deviations of the dipole and the Born charges.

        Parameters
        ----------
        atoms : ase.Atoms
        include_noise : bool
            Add the noise variance of a new observation (fitted from the
            cross-validated residuals) to the posterior variance of the model
            (:mod:`ase_dipole.learning.posterior`); ``False`` gives the
            epistemic part alone. The dipole gets a noise term only when
            dipoles were fitted.
        samples : int or None
            ``None``: the exact epistemic variance ``gᵀΣg`` of every Z*
            component from the full design rows (the training-time gradient,
            ~0.5 s for 192-atom water). ``K``: its unbiased estimate from K
            draws of the coefficients from the posterior, ``c_k = W z_k``
            (``Σ = WWᵀ``, z_k standard normal): ``(1/K) Σ_k y(c_k)²`` with
            y(c_k) the dipole and Z* of the model with coefficients c_k, each
            by the cheap prediction route (one μ + all Z* evaluation per
            draw). ``E[y(c_k)²] = gᵀΣg`` exactly, so the variance is unbiased;
            its relative standard deviation per component is √(2/K) (and σ,
            its square root, is biased low by about 1/(4K)). The noise
            variance is added exactly.
        seed : int
            Seed of the K draws (fixed per call, so repeated calls use the
            same posterior samples).

        Returns
        -------
        dipole_std : ndarray, shape (3,), e·Å
        born_std : ndarray, shape (N, 3, 3), e
            σ of ``Z[k, α, β]``.

        Raises
        ------
        ValueError
            If the model has no posterior statistics (an old model file:
            refit), for ``samples`` not a positive integer, or for unknown
            species / non-finite positions.
        """
        posterior = self._posterior_or_error()
        if samples is not None and not (isinstance(samples, (int, np.integer)) and samples >= 1):
            raise ValueError(f"samples must be a positive integer (posterior draws) or None (exact), "
                             f"got {samples!r}")
        self._check(atoms)
        descriptor = self.descriptor
        N, S, F = len(atoms), len(descriptor.species), descriptor.n_features
        product = self._fitted().get("product")
        if samples is not None:
            dipole_var, born_var = self._sampled_variance(atoms, posterior, int(samples), int(seed))
        else:
            memory.check_rows(9 * N, posterior.factor.shape[0], bytes_per_entry=memory.STD_ROW_BYTES,
                              what=f"the exact σ of {N} atoms",
                              fix="use predict_std(atoms, samples=K) (K posterior draws, no design rows)")
            if product is not None:
                born_rows, dipole_rows = product.born_rows(atoms), product.dipole_rows(atoms)
            else:
                born_rows = descriptor.summed_gradients(atoms).reshape(N * 9, S * F)
                dipole_rows = descriptor.summed_features(atoms).transpose(1, 0, 2).reshape(3, S * F)
            if self.parameters["charges"] == "fit":
                index = np.searchsorted(descriptor.numbers, atoms.numbers)
                born_rows = np.hstack([born_rows, _charge_rows(index, S)])
                dipole_rows = np.hstack([dipole_rows, _charge_dipole_rows(index, S, atoms.positions)])
            born_var = posterior.variance(born_rows)
            dipole_var = posterior.variance(dipole_rows)
        if include_noise:
            born_var = born_var + posterior.noise_variance.get("born", 0.0)
            dipole_var = dipole_var + posterior.noise_variance.get("dipole", 0.0)
        return np.sqrt(dipole_var), np.sqrt(born_var).reshape(N, 3, 3)

    def _sampled_variance(self, atoms, posterior, samples, seed):
        """Monte-Carlo estimate of the epistemic variances (3,) and (N·9,) from
        ``samples`` posterior draws of the coefficients (see :meth:`predict_std`)."""
        state = self._fitted()
        cache = state.setdefault("posterior_draws", {})
        if (samples, seed) not in cache:
            factor = posterior.factor.astype(float)
            normal = np.random.default_rng(seed).standard_normal((factor.shape[1], samples))
            shape = state["coefficients"].shape
            n_columns = shape[0] * shape[1] + (shape[0] if self.parameters["charges"] == "fit" else 0)
            cache[samples, seed] = np.ascontiguousarray(
                posterior.full_factor_rows((factor @ normal).T, n_columns))  # (K, P)
        draws = cache[samples, seed]
        S = len(self.descriptor.species)
        n_charges = S if self.parameters["charges"] == "fit" else 0
        shape = state["coefficients"].shape
        index = np.searchsorted(self.descriptor.numbers, atoms.numbers)
        product = state.get("product")
        dipole_var = np.zeros(3)
        born_var = np.zeros((len(atoms), 3, 3))
        for draw in draws:
            coefficients = draw[:draw.size - n_charges].reshape(shape)
            if product is not None:
                dipole, born = product.dipole_and_born_charges(atoms, coefficients)
            else:
                dipole, born = self.descriptor.dipole_and_born_charges(atoms, coefficients)
            if n_charges:
                charges = draw[draw.size - n_charges:][index]
                born[:, [0, 1, 2], [0, 1, 2]] += charges[:, None]
                dipole = dipole + charges @ atoms.positions
            dipole_var += dipole ** 2
            born_var += born ** 2
        return dipole_var / samples, born_var.reshape(-1) / samples

    # -- files -------------------------------------------------------------------
    def to_bytes(self):
        """The model file content: canonical JSON (sorted keys, exact float
        repr, no time stamps), so that the same data and settings give
        byte-identical files."""
        state = self._fitted()
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "ase_dipole_version": __version__,
            "parameters": self.parameters,
            "descriptor": self.descriptor.hyper_parameters,
            "species": list(self.species),
            "mean_born_charges_e": state["mean_born"].tolist(),
            "coefficients": state["coefficients"].tolist(),
            "regularization": state["regularization"],
            "cross_validation": state["cv"],
            "training_metrics": state["metrics"],
            "references": state["references"],
            "model": state["kind"],
        }
        if state.get("product") is not None:
            document["product"] = state["product"].to_document()
        if state.get("posterior") is not None:
            document["posterior"] = state["posterior"].to_document()
            document["uncertainty"] = state["uncertainty"]
        if state.get("provenance") is not None:
            document["provenance"] = state["provenance"]
        document[DIGEST_KEY] = _content_digest(document)
        return (json.dumps(document, sort_keys=True, indent=1, allow_nan=False) + "\n").encode()

    def save(self, path):
        """Write the model to ``path`` atomically (one JSON file, format
        version :data:`FORMAT_VERSION`, with the digest of its content)."""
        write_bytes_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a model file, is damaged, has another format
            version (the message names the file and the version found), or
            its content no longer matches the digest stored when it was
            written (the file was edited). Version-1 files written before
            digests existed load without that check.
        """
        path = os.fspath(path)
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            document = json.loads(data.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path!r} is not a readable PolarizationModel file (damaged or not "
                             f"JSON: {error})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"{path!r} is not a PolarizationModel file (no 'format': {FORMAT!r})")
        version = document.get("format_version")
        if version not in READ_VERSIONS:
            raise ValueError(f"{path!r} has PolarizationModel format version {version!r} (written by "
                             f"ase-dipole {document.get('ase_dipole_version')}); this ase-dipole "
                             f"{__version__} reads version {FORMAT_VERSION} (and the older "
                             f"versions {', '.join(map(str, READ_VERSIONS[:-1]))})")
        try:
            # files written before the options existed held Z̄ at the mean, kept all features
            # and were linear models
            model = cls(**{"charges": "mean", "max_features": None, "model": "linear",
                           **document["parameters"]})
            descriptor = LambdaSOAP(**document["descriptor"])
            coefficients = np.array(document["coefficients"], dtype=float)
            mean_born = np.array(document["mean_born_charges_e"], dtype=float)
            if list(descriptor.species) != list(document["species"]):
                raise ValueError(f"species {document['species']} differ from the descriptor's "
                                 f"{list(descriptor.species)}")
            S = len(descriptor.species)
            product = None
            kind = document.get("model", model.parameters["model"])
            if kind not in MODELS:
                raise ValueError(f"unknown model form {kind!r}")
            if kind == "product":
                product = ProductFeatures.from_document(document["product"], descriptor)
            elif kind == "kernel":
                product = KernelFeatures.from_document(document["product"], descriptor)
            n_columns = descriptor.n_features if product is None else product.n_columns(descriptor)
            if coefficients.shape != (S, n_columns) or mean_born.shape != (S,):
                raise ValueError(f"coefficients {coefficients.shape} / mean Born charges "
                                 f"{mean_born.shape} do not fit {S} species × "
                                 f"{n_columns} coefficients")
            model._state = {
                "descriptor": descriptor, "coefficients": coefficients, "mean_born": mean_born,
                "regularization": float(document["regularization"]),
                "metrics": dict(document["training_metrics"]),
                "references": document["references"], "cv": document["cross_validation"],
                "posterior": None, "uncertainty": None, "product": product, "kind": kind,
            }
            if "posterior" in document:
                charge_columns = S if model.parameters["charges"] == "fit" else 0
                model._state["posterior"] = Posterior.from_document(document["posterior"],
                                                                    S * n_columns + charge_columns)
                model._state["uncertainty"] = dict(document["uncertainty"])
            model._state["provenance"] = document.get("provenance")  # files before it: none
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path!r} is a damaged PolarizationModel file (format version "
                             f"{version}): {type(error).__name__}: {error}") from None
        stored = document.pop(DIGEST_KEY, None)
        if stored is None and version == 1:
            stored = _content_digest(document)  # version 1 before digests: nothing to check
        if stored is None:
            raise ValueError(f"{path!r} has no content digest ({DIGEST_KEY!r}): it was edited or "
                             "written by an older ase-dipole; refit the model (ase-dipole fit)")
        if stored != _content_digest(document):
            raise ValueError(f"{path!r} has been modified since it was written (its content no "
                             f"longer matches its {DIGEST_KEY}); use the file as written by "
                             "ase-dipole fit, or refit the model")
        model._file_sha256 = hashlib.sha256(data).hexdigest()
        return model


def _training_provenance(samples, command):
    """Where a fit comes from: the sha256 of the content of its training
    data (:func:`ase_dipole.provenance.content_sha256` of every frame's atomic
    numbers, positions, cell, pbc and the fitted Z* and dipole), the number
    of frames, the package version and, with a ``command``, it and the date."""
    arrays = (value for s in samples for value in (s.atoms.numbers, s.atoms.positions,
                                                   s.atoms.cell.array, s.atoms.pbc, s.born, s.dipole))
    record = {"training_data_sha256": content_sha256(arrays), "n_training_frames": len(samples),
              "ase_dipole_version": __version__}
    if command is not None:
        record.update(date=date_now(), command=command)
    return record


def _content_digest(document):
    """SHA-256 of a model document without its digest entry, as canonical JSON."""
    body = {key: value for key, value in document.items() if key != DIGEST_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _reduce(rows, bases, columns=None):
    """Design rows (m, S, F) → (m, Σ r_s) in the reference bases, on the kept
    ``columns`` (a list of S index arrays), or flat."""
    if columns is not None:
        return np.concatenate([rows[:, s, kept] for s, kept in enumerate(columns)], axis=1)
    if bases[0] is None:
        return rows.reshape(len(rows), -1)
    return np.concatenate([rows[:, s] @ basis.T for s, basis in enumerate(bases)], axis=1)


def _expand(solution, bases, columns=None, n_features=None):
    """Reduced coefficients (Σ r_s,) → coefficient vectors (S, F) (zero
    outside the kept ``columns``)."""
    if columns is not None:
        out = np.zeros((len(columns), n_features))
        start = 0
        for s, kept in enumerate(columns):
            out[s, kept] = solution[start:start + len(kept)]
            start += len(kept)
        return out
    if bases[0] is None:
        return solution.reshape(len(bases), -1)
    out, start = [], 0
    for basis in bases:
        out.append(solution[start:start + len(basis)] @ basis)
        start += len(basis)
    return np.array(out)


def _charge_rows(species, n_species):
    """Design rows (N·9, S) of the charge corrections δ_J for the Z* of atoms
    of species index ``species`` (N,): row ``9k + 3a + β`` is δ_aβ at column J(k)."""
    rows = np.zeros((len(species), 3, 3, n_species))
    for a in range(3):
        rows[np.arange(len(species)), a, a, species] = 1.0
    return rows.reshape(len(species) * 9, n_species)


def _charge_dipole_rows(species, n_species, positions):
    """Design rows (3, S) of the charge corrections for the dipole: Σ_{i of J} x_ia."""
    rows = np.zeros((3, n_species))
    for s in range(n_species):
        rows[:, s] = positions[species == s].sum(axis=0)
    return rows


def _index_list(indices, shown=10):
    text = ", ".join(str(i) for i in indices[:shown])
    return text + (f" … ({len(indices)} in all)" if len(indices) > shown else "")
