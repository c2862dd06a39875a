"""Born effective charges of periodic solids from Quantum ESPRESSO density-functional
perturbation theory: a ``pw.x`` SCF, then ``ph.x`` at Γ with the electric-field
perturbation only (``epsil = .true.``, ``zeu = .true.``, ``trans = .false.``),
which gives ε∞ and ``Z[i, α, β] = ∂F_{iβ}/∂E_α``, read with
:func:`ase_dipole.io.qe.read_qe_ph` (already in our convention, first index the
field / dipole component).

Needs the Quantum ESPRESSO programs on ``PATH`` (Debian: ``apt-get install
quantum-espresso quantum-espresso-data``; the data package puts
pseudopotentials in ``/usr/share/espresso/pseudo``) and is meant for
insulators: ph.x computes ε∞ and Z* only when the system has a gap.

The raw Z* violate the acoustic sum rule Σ_i Z*_i = 0 by the basis-set and
k-point error of the run; ``acoustic_sum_rule="simple"`` subtracts the mean
per tensor component, as QE's ``dynmat.x`` (``asr = 'simple'``) does.

Pseudopotential files may be gzip-compressed (``Pb-d.upf.gz``): each run
links or decompresses the files it needs into its own scratch folder, so
pw.x always reads plain files and the originals are never touched.
"""

import gzip
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
import time

import numpy as np
from ase.data import atomic_masses, chemical_symbols

from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.io.qe import read_qe_ph

#: where Debian's quantum-espresso-data installs its pseudopotentials
DEBIAN_PSEUDO_DIR = "/usr/share/espresso/pseudo"
INSTALL_HINT = ("install Quantum ESPRESSO (Debian/Ubuntu: apt-get install quantum-espresso "
                "quantum-espresso-data) or pass pw_command=/ph_command= with the full path")
_ASR_CHOICES = (None, "simple")


def default_pseudo_dir():
    """``$ESPRESSO_PSEUDO`` if set, else Debian's ``/usr/share/espresso/pseudo``."""
    return os.environ.get("ESPRESSO_PSEUDO", DEBIAN_PSEUDO_DIR)


def find_program(command):
    """Split ``command`` (e.g. ``"mpirun -np 2 pw.x"``) and check its programs exist.

    Raises
    ------
    FileNotFoundError
        Naming the missing program and how to install it.
    """
    words = shlex.split(command)
    if not words:
        raise ValueError("empty Quantum ESPRESSO command; use e.g. 'pw.x'")
    missing = [word for word in (words[0], words[-1]) if shutil.which(word) is None]
    if missing:
        raise FileNotFoundError(f"Quantum ESPRESSO program '{missing[0]}' not found on PATH; "
                                f"{INSTALL_HINT}")
    return words


def _check_solid(atoms):
    if len(atoms) == 0:
        raise ValueError("QE reference: the Atoms object has no atoms")
    if not np.all(atoms.pbc):
        raise ValueError(
            f"QE reference: atoms.pbc = {list(map(bool, atoms.pbc))}; Born charges from ph.x "
            "are for periodic cells: set atoms.pbc = True with a full 3-D cell"
        )
    if abs(np.linalg.det(atoms.cell.array)) < 1e-6:
        raise ValueError("QE reference: the cell has zero volume; give a full 3-D cell in Å")
    if not (np.all(np.isfinite(atoms.positions)) and np.all(np.isfinite(atoms.cell.array))):
        raise ValueError("QE reference: positions or cell contain NaN or inf; fix the structure")


def _pseudopotential_table(symbols, pseudopotentials, pseudo_dir):
    if not os.path.isdir(pseudo_dir):
        raise FileNotFoundError(
            f"pseudopotential folder {pseudo_dir!r} does not exist; pass pseudo_dir= or set "
            f"ESPRESSO_PSEUDO ({INSTALL_HINT})"
        )
    pseudopotentials = dict(pseudopotentials or {})
    missing = sorted(set(symbols) - set(pseudopotentials))
    if missing:
        offers = {s: sorted(f for f in os.listdir(pseudo_dir)
                            if f.split(".")[0].split("_")[0] == s) for s in missing}
        raise ValueError(
            f"no pseudopotential given for {missing}; pass pseudopotentials={{symbol: file}} "
            f"with files from {pseudo_dir} (one functional for all species), e.g. candidates "
            f"there: {offers}"
        )
    for symbol in sorted(set(symbols)):
        path = os.path.join(pseudo_dir, pseudopotentials[symbol])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"pseudopotential {path!r} for {symbol} not found; "
                                    f"check pseudopotentials= and pseudo_dir=")
    return pseudopotentials


def _stage_pseudopotentials(pseudopotentials, pseudo_dir, folder):
    """Plain copies (``.gz`` decompressed) or links of the files in ``folder``/pseudo.

    Returns ``{symbol: file name}`` in that folder and the folder.
    """
    staged_dir = os.path.join(folder, "pseudo")
    os.makedirs(staged_dir)
    staged = {}
    for symbol, name in pseudopotentials.items():
        source = os.path.abspath(os.path.join(pseudo_dir, name))
        plain = os.path.basename(name[:-3] if name.endswith(".gz") else name)
        target = os.path.join(staged_dir, plain)
        if not os.path.exists(target):
            if name.endswith(".gz"):
                with gzip.open(source, "rb") as packed, open(target, "wb") as out:
                    shutil.copyfileobj(packed, out)
            else:
                os.symlink(source, target)
        staged[symbol] = plain
    return staged, staged_dir


def _pw_input(atoms, *, pseudopotentials, pseudo_dir, ecutwfc_Ry, ecutrho_Ry, kpts,
              kpoint_shift, conv_thr_Ry, prefix, outdir):
    species = sorted(set(atoms.get_chemical_symbols()), key=atoms.get_chemical_symbols().index)
    lines = [
        " &control",
        "    calculation = 'scf'",
        f"    prefix = '{prefix}'",
        f"    pseudo_dir = '{os.path.abspath(pseudo_dir)}'",
        f"    outdir = '{outdir}'",
        " /",
        " &system",
        "    ibrav = 0",
        f"    nat = {len(atoms)}",
        f"    ntyp = {len(species)}",
        f"    ecutwfc = {ecutwfc_Ry!r}",
        f"    ecutrho = {ecutrho_Ry!r}",
        " /",
        " &electrons",
        f"    conv_thr = {conv_thr_Ry!r}",
        " /",
        "ATOMIC_SPECIES",
    ]
    for symbol in species:
        mass = atomic_masses[chemical_symbols.index(symbol)]
        lines.append(f" {symbol} {mass:.6f} {pseudopotentials[symbol]}")
    lines.append("CELL_PARAMETERS angstrom")
    lines += [" " + " ".join(f"{x:.12f}" for x in row) for row in atoms.cell.array]
    lines.append("ATOMIC_POSITIONS angstrom")
    lines += [f" {s} " + " ".join(f"{x:.12f}" for x in pos)
              for s, pos in zip(atoms.get_chemical_symbols(), atoms.positions)]
    lines.append("K_POINTS automatic")
    lines.append(" " + " ".join(str(int(k)) for k in kpts) + " "
                 + " ".join(str(int(s)) for s in kpoint_shift))
    return "\n".join(lines) + "\n"


def _ph_input(*, prefix, outdir, tr2_ph):
    return "\n".join([
        "Born charges and dielectric constant at Gamma",
        " &inputph",
        f"    prefix = '{prefix}'",
        f"    outdir = '{outdir}'",
        f"    tr2_ph = {tr2_ph!r}",
        "    epsil = .true.",
        "    zeu = .true.",
        "    trans = .false.",
        "    fildyn = 'dyn.G'",
        " /",
        "0.0 0.0 0.0",
    ]) + "\n"


def _children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(words, input_path, output_path, folder, timeout_s, environment):
    """Run one QE program; return its CPU time (user + system), s."""
    name = os.path.basename(words[-1])
    cpu_start = _children_cpu_s()
    with open(input_path) as stdin, open(output_path, "w") as stdout:
        try:
            completed = subprocess.run(words, stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT,
                                       cwd=folder, timeout=timeout_s, env=environment)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} did not finish within {timeout_s} s (output: "
                               f"{output_path}); raise timeout_s or lower the settings") from None
    with open(output_path) as handle:
        text = handle.read()
    if completed.returncode != 0 or "JOB DONE" not in text:
        tail = "\n".join(text.strip().splitlines()[-12:])
        raise RuntimeError(f"{name} failed (exit code {completed.returncode}); last lines of "
                           f"its output:\n{tail}")
    return _children_cpu_s() - cpu_start


def qe_born_charges(atoms, *, pseudopotentials=None, pseudo_dir=None, ecutwfc_Ry=30.0,
                    ecutrho_Ry=None, kpts=(2, 2, 2), kpoint_shift=(0, 0, 0),
                    conv_thr_Ry=1e-10, tr2_ph=1e-12, acoustic_sum_rule=None,
                    pw_command="pw.x", ph_command="ph.x", threads=1, timeout_s=None,
                    keep_outputs=None):
    """Born effective charges and ε∞ of a periodic cell from QE (pw.x + ph.x at Γ).

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic cell (``pbc`` all True), positions and cell in Å.
    pseudopotentials : dict
        ``{symbol: file name}`` in ``pseudo_dir``, one functional for all
        species (QE takes the functional from the files), e.g.
        ``{"Si": "Si.pbe-rrkj.UPF", "O": "O.pbe-rrkjus.UPF"}``; names ending
        in ``.gz`` are decompressed for the run.
    pseudo_dir : str, optional
        Folder of the files (default :func:`default_pseudo_dir`).
    ecutwfc_Ry, ecutrho_Ry : float
        Plane-wave cut-offs of the orbitals and the density, Ry (default
        density cut-off 4 × ecutwfc; use 8–12 × for ultrasoft or PAW files).
    kpts : sequence of 3 int
        Monkhorst–Pack grid.
    kpoint_shift : sequence of 3 int
        0 or 1 per direction (1: grid shifted by half a step).
    conv_thr_Ry : float
        SCF convergence, Ry.
    tr2_ph : float
        ph.x self-consistency threshold (QE's default 1e-12).
    acoustic_sum_rule : {None, "simple"}
        None: Z* as printed by ph.x; ``"simple"``: minus the mean over atoms
        per component, as ``dynmat.x`` with ``asr = 'simple'``.
    pw_command, ph_command : str
        Commands, optionally with an MPI launcher (``"mpirun -np 4 pw.x"``).
    threads : int
        OMP_NUM_THREADS of the QE processes.
    timeout_s : float, optional
        Limit for each program, s.
    keep_outputs : str, optional
        Folder to copy ``pw.in``, ``pw.out``, ``ph.in``, ``ph.out`` into.

    Returns
    -------
    born_charges : numpy.ndarray
        (N, 3, 3), e, ``Z[i, α, β] = ∂F_{iβ}/∂E_α = ∂μ_α/∂x_{iβ}``.
    epsilon : numpy.ndarray
        (3, 3), the clamped-ion dielectric tensor ε∞.
    details : dict
        ``acoustic_sum_rule_violation_e`` (max :math:`|\\sum_i Z^*_i|` of the raw
        charges, e), ``pw_seconds``, ``ph_seconds`` (wall time, s),
        ``pw_cpu_s``, ``ph_cpu_s`` (CPU time of the programs, s: the cost on
        a loaded machine).
    """
    if acoustic_sum_rule not in _ASR_CHOICES:
        raise ValueError(f"acoustic_sum_rule = {acoustic_sum_rule!r}; use None or 'simple'")
    _check_solid(atoms)
    pw_words, ph_words = find_program(pw_command), find_program(ph_command)
    pseudo_dir = default_pseudo_dir() if pseudo_dir is None else os.fspath(pseudo_dir)
    pseudopotentials = _pseudopotential_table(atoms.get_chemical_symbols(), pseudopotentials,
                                              pseudo_dir)
    kpts, kpoint_shift = tuple(int(k) for k in kpts), tuple(int(s) for s in kpoint_shift)
    if len(kpts) != 3 or min(kpts) < 1 or len(kpoint_shift) != 3 or set(kpoint_shift) - {0, 1}:
        raise ValueError(f"kpts = {kpts}, kpoint_shift = {kpoint_shift}: give 3 positive "
                         "grid sizes and 3 shifts of 0 or 1")
    if not ecutwfc_Ry > 0:
        raise ValueError(f"ecutwfc_Ry = {ecutwfc_Ry!r}; give a positive cut-off in Ry")
    ecutrho_Ry = 4.0 * float(ecutwfc_Ry) if ecutrho_Ry is None else float(ecutrho_Ry)
    environment = dict(os.environ, OMP_NUM_THREADS=str(int(threads)))
    with tempfile.TemporaryDirectory(prefix="ase_dipole_qe_") as folder:
        paths = {name: os.path.join(folder, name) for name in ("pw.in", "pw.out", "ph.in", "ph.out")}
        staged, staged_dir = _stage_pseudopotentials(pseudopotentials, pseudo_dir, folder)
        with open(paths["pw.in"], "w") as handle:
            handle.write(_pw_input(atoms, pseudopotentials=staged, pseudo_dir=staged_dir,
                                   ecutwfc_Ry=float(ecutwfc_Ry), ecutrho_Ry=ecutrho_Ry, kpts=kpts,
                                   kpoint_shift=kpoint_shift, conv_thr_Ry=float(conv_thr_Ry),
                                   prefix="frame", outdir="./tmp"))
        with open(paths["ph.in"], "w") as handle:
            handle.write(_ph_input(prefix="frame", outdir="./tmp", tr2_ph=float(tr2_ph)))
        try:
            start = time.perf_counter()
            pw_cpu_s = _run(pw_words, paths["pw.in"], paths["pw.out"], folder, timeout_s,
                            environment)
            pw_seconds = time.perf_counter() - start
            ph_cpu_s = _run(ph_words, paths["ph.in"], paths["ph.out"], folder, timeout_s,
                            environment)
            ph_seconds = time.perf_counter() - pw_seconds - start
            parsed = read_qe_ph(paths["ph.out"])
        finally:
            if keep_outputs is not None:
                os.makedirs(keep_outputs, exist_ok=True)
                for name, path in paths.items():
                    if os.path.exists(path):
                        shutil.copyfile(path, os.path.join(keep_outputs, name))
    if len(parsed) != len(atoms) or not np.allclose(parsed.positions, atoms.positions, atol=1e-4):
        raise RuntimeError("ph.x output lists other atoms or positions than the input; "
                           "QE may have reordered or moved the atoms")
    born = get_born_charges(parsed)
    violation = float(np.abs(born.sum(axis=0)).max())
    if acoustic_sum_rule == "simple":
        born = born - born.mean(axis=0)
    details = {"acoustic_sum_rule_violation_e": violation, "pw_seconds": pw_seconds,
               "ph_seconds": ph_seconds, "pw_cpu_s": pw_cpu_s, "ph_cpu_s": ph_cpu_s}
    return born, np.asarray(parsed.info["epsilon"], dtype=float), details
