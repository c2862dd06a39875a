"""Labelling frames with reference dipoles and Born charges, one frame at a time.

:func:`compute_labels` runs one reference calculation and returns plain
arrays; :func:`apply_labels` writes them onto a copy of the frame. The serial
:func:`label_frames` and the cached, distributed
:func:`ase_dipole.reference.parallel.label_frames_parallel` both go through
these two functions, so they give the same numbers.
"""

import sys

from ase_dipole.io.extxyz import set_born_charges, set_dipole
from ase_dipole.io.polarizability import set_polarizability, set_polarizability_derivatives
from ase_dipole.progress import progress_bar
from ase_dipole.reference.pyscf_dft import dft_born_charges, dft_dipole
from ase_dipole.reference.qe import qe_born_charges
from ase_dipole.reference.xtb import xtb_born_charges, xtb_dipole

#: method names and their aliases (the CLI's names) → canonical name
METHOD_NAMES = {"gfn2": "gfn2", "xtb": "gfn2", "dft": "dft", "pyscf": "dft", "qe": "qe"}
_OPTIONS = {
    "gfn2": {"method", "charge", "accuracy", "electronic_temperature_K", "step_A"},
    "dft": {"xc", "basis", "charge", "spin", "grid_level", "conv_tol"},
    "qe": {"pseudopotentials", "pseudo_dir", "ecutwfc_Ry", "ecutrho_Ry", "kpts",
           "kpoint_shift", "conv_thr_Ry", "tr2_ph", "acoustic_sum_rule", "pw_command",
           "ph_command", "threads", "timeout_s", "keep_outputs"},
}


def canonical_method(method):
    """``"xtb"``/``"gfn2"`` → ``"gfn2"``, ``"pyscf"``/``"dft"`` → ``"dft"``, ``"qe"``."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method '{method}'; use one of "
                         f"{', '.join(map(repr, METHOD_NAMES))}")
    return METHOD_NAMES[method]


def check_request(method, *, dipole, born_charges, options, polarizability=False):
    """Validate a labelling request; return the canonical method name."""
    method = canonical_method(method)
    if not (dipole or born_charges or polarizability):
        raise ValueError("nothing to compute: set dipole=True, born_charges=True and/or polarizability=True")
    if polarizability and method != "dft":
        raise ValueError(f"polarizability labels (α and ∂α/∂x) come from PySCF only; use method 'pyscf' "
                         f"(or 'dft'), not '{method}'")
    if method == "qe" and (dipole or not born_charges):
        raise ValueError("method 'qe' gives Born charges and ε∞ of periodic cells, not a "
                         "dipole (the bulk polarization is multivalued): use dipole=False, "
                         "born_charges=True")
    unknown = sorted(set(options) - _OPTIONS[method])
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for method '{method}'; "
                        f"allowed: {sorted(_OPTIONS[method])}")
    return method


def reference_name(method, options):
    """Human-readable name of the reference stored in ``info['reference']``."""
    method = canonical_method(method)
    if method == "gfn2":
        return f"{options.get('method', 'GFN2-xTB')} (tblite)"
    if method == "dft":
        return f"{options.get('xc', 'b3lyp')}/{options.get('basis', 'def2-svp')} (PySCF)"
    pseudo = ", ".join(f"{s}: {f}" for s, f in sorted((options.get("pseudopotentials") or {}).items()))
    return (f"Quantum ESPRESSO pw.x+ph.x (ecutwfc {options.get('ecutwfc_Ry', 30.0)} Ry, "
            f"k {tuple(options.get('kpts', (2, 2, 2)))}, {pseudo})")


def compute_labels(frame, method, options, *, dipole=True, born_charges=True, polarizability=False):
    """Reference labels of one frame as plain arrays.

    Parameters are those of :func:`label_frames`, ``options`` the dict of
    its keyword options (a dict, so that tblite's own ``method`` option can
    be given).

    Returns
    -------
    dict
        ``"dipole"`` (3,) e·Å or None, ``"born_charges"`` (N, 3, 3) e or None,
        ``"epsilon"`` (3, 3) or None (QE only), ``"details"`` (dict of
        numbers, QE only), ``"reference"`` (str), ``"polarizability"`` (3, 3)
        Å³ and ``"polarizability_derivatives"`` (N, 3, 3, 3) Å² or None
        (``polarizability=True``, PySCF: analytic CPHF α, ∂α/∂x by central
        differences of it, :mod:`ase_dipole.reference.polarizability`).
    """
    method = check_request(method, dipole=dipole, born_charges=born_charges, options=options,
                           polarizability=polarizability)
    atoms = frame.copy()
    atoms.calc = None
    labels = {"dipole": None, "born_charges": None, "epsilon": None, "details": {},
              "reference": reference_name(method, options), "polarizability": None,
              "polarizability_derivatives": None}
    if polarizability:
        from ase_dipole.reference.polarizability import dft_polarizability_derivatives

        labels["polarizability"], labels["polarizability_derivatives"] = dft_polarizability_derivatives(
            atoms, **options)
        if not (dipole or born_charges):
            return labels
    if method == "qe":
        labels["born_charges"], labels["epsilon"], labels["details"] = qe_born_charges(atoms, **options)
        return labels
    compute_born, compute_dipole = ((xtb_born_charges, xtb_dipole) if method == "gfn2"
                                    else (dft_born_charges, dft_dipole))
    if born_charges:
        mu, labels["born_charges"] = compute_born(atoms, **options)
    else:
        mu = compute_dipole(atoms, **{k: v for k, v in options.items() if k != "step_A"})
    if dipole:
        labels["dipole"] = mu
    return labels


def apply_labels(frame, labels):
    """A copy of ``frame`` (calculator dropped) carrying ``labels`` in the
    extended-XYZ convention of :mod:`ase_dipole.io.extxyz`."""
    atoms = frame.copy()
    atoms.calc = None
    if labels["born_charges"] is not None:
        set_born_charges(atoms, labels["born_charges"])
    if labels["dipole"] is not None:
        set_dipole(atoms, labels["dipole"])
    if labels["epsilon"] is not None:
        atoms.info["epsilon"] = labels["epsilon"].copy()
    if labels.get("polarizability") is not None:
        set_polarizability(atoms, labels["polarizability"])
    if labels.get("polarizability_derivatives") is not None:
        set_polarizability_derivatives(atoms, labels["polarizability_derivatives"])
    for key in ("acoustic_sum_rule_violation_e",):
        if key in labels["details"]:
            atoms.info[key] = float(labels["details"][key])
    atoms.info["reference"] = labels["reference"]
    return atoms


def label_frames(frames, *, method="gfn2", dipole=True, born_charges=True,
                 progress=True, polarizability=False, **options):
    """Label frames with reference dipoles and/or Born charges, in this process.

    Returns copies of the frames in the extended-XYZ convention of
    :mod:`ase_dipole.io.extxyz`: ``info['dipole']`` (3,) e·Å and the per-atom
    array ``born_charges`` (N, 9) row-major, e; plus ``info['reference']``
    naming the method (and ``info['epsilon']`` for QE). Calculators attached
    to the input are dropped. For many or costly frames, on several workers
    and resumable, see :func:`ase_dipole.reference.parallel.label_frames_parallel`.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Molecules (``pbc`` all False) for ``"gfn2"`` / ``"dft"``; periodic
        cells for ``"qe"``.
    method : {"gfn2", "xtb", "dft", "pyscf", "qe"}
        ``"gfn2"`` (alias ``"xtb"``): :func:`xtb_dipole` / :func:`xtb_born_charges`;
        ``"dft"`` (alias ``"pyscf"``): :func:`dft_dipole` / :func:`dft_born_charges`;
        ``"qe"``: :func:`ase_dipole.reference.qe.qe_born_charges` (Born
        charges and ε∞ only: pass ``dipole=False``).
    dipole, born_charges : bool
        Which labels to store (at least one).
    progress : bool
        Show progress on stderr (:func:`ase_dipole.progress.progress_bar`).
    polarizability : bool
        Also store ``info['polarizability']`` (Å³) and
        ``arrays['polarizability_derivatives']`` (N, 27) Å² (method ``"dft"`` only).
    **options
        Passed to the underlying functions (e.g. ``xc``, ``basis`` for
        ``"dft"``; ``accuracy``, ``step_A`` for ``"gfn2"``;
        ``pseudopotentials``, ``ecutwfc_Ry``, ``kpts`` for ``"qe"``).

    Returns
    -------
    list of ase.Atoms
    """
    method = check_request(method, dipole=dipole, born_charges=born_charges, options=options,
                           polarizability=polarizability)
    frames = list(frames)
    labelled = []
    with progress_bar(len(frames), f"label_frames [{reference_name(method, options)}]",
                      unit="frame", stream=sys.stderr if progress else None) as report:
        for frame in frames:
            labels = compute_labels(frame, method, options, dipole=dipole, born_charges=born_charges,
                                    polarizability=polarizability)
            labelled.append(apply_labels(frame, labels))
            report.update(1)
    return labelled
