"""Phonopy bridge: Γ-point normal modes, mode effective charges and the 0 K
harmonic IR spectrum on the absolute scale of the Green–Kubo spectrum.

With mass-weighted Γ normal modes :math:`e_\\nu` (unit norm, from phonopy's
dynamical matrix) and Born charges :math:`Z^*_{i,\\alpha\\beta} =
\\partial\\mu_\\alpha/\\partial x_{i\\beta}`, the mode effective charges are

.. math::

    \\tilde Z_{\\nu\\alpha} = \\sum_{i\\beta} Z^*_{i,\\alpha\\beta}\\,
    e_{\\nu,i\\beta} / \\sqrt{m_i}

(e/√amu), the IR intensity of mode ν is :math:`|\\tilde Z_\\nu|^2` (e²/amu, or
km/mol with :data:`ase_dipole.units.KM_PER_MOL_PER_E2_AMU`), and the classical
spectrum of the harmonic crystal (docs/conventions.md, "The harmonic limit") is

.. math::

    \\alpha n(\\omega) = \\frac{\\pi}{6 V c \\varepsilon_0}
    \\sum_\\nu |\\tilde Z_\\nu|^2 \\delta(\\omega - \\omega_\\nu)
    \\quad\\Longleftrightarrow\\quad
    \\alpha n(\\tilde\\nu) = \\frac{1}{12 V \\varepsilon_0 c^2}
    \\sum_\\nu |\\tilde Z_\\nu|^2 L(\\tilde\\nu - \\tilde\\nu_\\nu),

with :math:`\\tilde\\nu = \\omega/(2\\pi c)` and L a line shape of unit area in
ν̃. Since :math:`N_A |\\tilde Z_\\nu|^2/(12\\varepsilon_0 c^2)` is the molar
integrated absorption :math:`A_\\nu` (km/mol), the cross-section per cell is
:math:`\\sigma(\\tilde\\nu) = \\alpha n V = \\sum_\\nu (A_\\nu/N_A)
L(\\tilde\\nu-\\tilde\\nu_\\nu)` (cm²) and :math:`\\alpha n = \\sigma / V` (cm⁻¹).
"""

import datetime
import os
import sys
import warnings
import weakref

import ase.units
import numpy as np
import phonopy
from ase import Atoms
from phonopy.harmonic.dynamical_matrix import get_dynamical_matrix
from phonopy.interface.calculator import get_calculator_physical_units
from phonopy.structure.atoms import PhonopyAtoms

from ase_dipole import __version__
from ase_dipole.atomic import write_text_atomic
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.progress import progress_bar
from ase_dipole.units import KM_PER_MOL_PER_E2_AMU

THZ_TO_CM1 = 1e12 / (ase.units._c * 100.0)  # [cm⁻¹ / THz]
CM_PER_KM_MOL = 1e5 / ase.units._Nav  # [cm (cross-section integrated over ν̃ in cm⁻¹) / (km/mol)]
CM3_PER_A3 = 1e-24  # [cm³ / Å³]

LINESHAPES = ("lorentzian", "gaussian")
#: vacuum added around a molecule given without a cell, Å (the forces are
#: evaluated with pbc False, so the box only gives phonopy a cell)
MOLECULE_VACUUM_A = 5.0

#: whether a phonopy object built by :func:`phonopy_from_calculator` holds a
#: periodic system (its atoms' pbc); phonopy itself keeps no pbc
_PERIODIC_OF = weakref.WeakKeyDictionary()


class HarmonicNotRunError(RuntimeError):
    """A result of :class:`HarmonicIR` was read before ``run()``."""


def _to_phonopy_atoms(atoms):
    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.array(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def _to_ase_atoms(cell, *, distance_to_A=1.0, pbc=True):
    return Atoms(
        symbols=list(cell.symbols),
        cell=np.asarray(cell.cell) * distance_to_A,
        scaled_positions=cell.scaled_positions,
        masses=cell.masses,
        pbc=pbc,
    )


def _require_force_constants(phonon, hint):
    if phonon.force_constants is None:
        raise ValueError(
            "no force constants: phonopy has neither FORCE_SETS nor FORCE_CONSTANTS for "
            f"this structure; {hint}"
        )


def load_phonopy(
    phonopy_yaml=None,
    *,
    structure=None,
    supercell_matrix=None,
    primitive_matrix="auto",
    force_sets=None,
    force_constants=None,
    symmetrize_fc=True,
    symprec=1e-5,
    log_level=0,
):
    """Load a :class:`phonopy.Phonopy` with force constants via ``phonopy.load``.

    Parameters
    ----------
    phonopy_yaml : str or path-like, optional
        ``phonopy.yaml`` / ``phonopy_disp.yaml`` (structure, supercell and
        primitive matrices, optionally the displacement dataset or force
        constants).
    structure : str or path-like, optional
        Unit cell file (VASP POSCAR) instead of ``phonopy_yaml``; then
        ``supercell_matrix`` must be given.
    supercell_matrix : array_like of int, shape (3,) or (3, 3), optional
        Supercell of the force calculation (with ``structure``).
    primitive_matrix : str or array_like, optional
        phonopy's primitive matrix (``"auto"``, ``"P"``, ``"F"``, ... or 3×3).
    force_sets : str or path-like, optional
        ``FORCE_SETS`` file.
    force_constants : str or path-like, optional
        ``FORCE_CONSTANTS`` or ``force_constants.hdf5`` file.
    symmetrize_fc : bool, optional
        Symmetrize force constants (translational invariance and space group),
        as ``phonopy --fc-symmetry`` does.
    symprec : float, optional
        Symmetry tolerance in Å.
    log_level : int, optional
        phonopy's verbosity.

    Returns
    -------
    phonopy.Phonopy
        With force constants; NAC is off (it does not enter the Γ TO modes).

    Notes
    -----
    As ``phonopy.load`` does, a ``FORCE_SETS``/``FORCE_CONSTANTS`` in the
    current directory is used when no other source of forces is given.
    """
    if (phonopy_yaml is None) == (structure is None):
        raise ValueError("give exactly one of phonopy_yaml= (phonopy.yaml) and structure= (POSCAR)")
    for path in (phonopy_yaml, structure, force_sets, force_constants):
        if path is not None and not os.path.isfile(os.fspath(path)):
            raise FileNotFoundError(f"no such file: '{os.fspath(path)}'; check the path")
    if structure is not None and supercell_matrix is None:
        raise ValueError("structure= needs supercell_matrix= (the supercell of the force calculation, e.g. (2, 2, 2))")
    phonon = phonopy.load(
        phonopy_yaml,
        unitcell_filename=structure,
        supercell_matrix=supercell_matrix,
        primitive_matrix=primitive_matrix,
        force_sets_filename=force_sets,
        force_constants_filename=force_constants,
        is_nac=False,
        symmetrize_fc=symmetrize_fc,
        symprec=symprec,
        log_level=log_level,
    )
    _require_force_constants(phonon, "pass force_sets= (FORCE_SETS) or force_constants= (FORCE_CONSTANTS)")
    return phonon


def phonopy_from_calculator(
    atoms,
    calculator,
    *,
    supercell_matrix=(1, 1, 1),
    primitive_matrix="P",
    displacement_A=0.01,
    symmetry=True,
    symmetrize_fc=True,
    symprec=1e-5,
    log=sys.stderr,
):
    """Finite-displacement force constants of ``atoms`` with any ASE calculator.

    phonopy generates ± displacements of the supercell
    (``generate_displacements``), ``calculator`` evaluates the forces of each
    displaced supercell, and phonopy builds the force constants
    (``produce_force_constants``).

    Parameters
    ----------
    atoms : ase.Atoms
        Relaxed unit cell, or a molecule (``pbc`` False; without a cell it is
        put in a box with :data:`MOLECULE_VACUUM_A` of vacuum). ``atoms.pbc``
        is kept for the force evaluations and decides whether
        :class:`HarmonicIR` treats the system as periodic. Its masses (amu)
        are used.
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator giving forces in eV/Å.
    supercell_matrix : array_like of int, shape (3,) or (3, 3), optional
        Supercell for the displacements (1 1 1 for a molecule).
    primitive_matrix : str or array_like, optional
        phonopy primitive matrix; ``"P"`` keeps ``atoms`` (and its atom order)
        as the cell of the Γ modes.
    displacement_A : float, optional
        Displacement amplitude in Å.
    symmetry : bool, optional
        Use the space group to reduce the displacements. ``False`` displaces
        every atom ± along x, y, z (central differences, as
        :class:`ase.vibrations.Vibrations`).
    symmetrize_fc : bool, optional
        Symmetrize the force constants afterwards (translational invariance).
    symprec : float, optional
        Symmetry tolerance in Å.
    log : file-like or None, optional
        Stream for one progress line per displaced supercell.

    Returns
    -------
    phonopy.Phonopy
        With force constants in eV/Å².
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    periodic = bool(np.all(atoms.pbc))
    if periodic and atoms.cell.rank != 3:
        raise ValueError("atoms are periodic (pbc True) but have no 3D cell; give the cell, or "
                         "set pbc=False for a molecule")
    if not periodic:
        if np.any(atoms.pbc):
            raise ValueError(f"atoms have pbc={list(atoms.pbc)}: the harmonic bridge handles "
                             "crystals (pbc all True) and molecules (pbc all False)")
        matrix = np.asarray(supercell_matrix)
        if not np.array_equal(matrix, np.ones(3) if matrix.ndim == 1 else np.eye(3)):
            raise ValueError(f"a molecule (pbc False) takes no supercell, got {supercell_matrix}")
        if atoms.cell.rank != 3:
            atoms = atoms.copy()
            atoms.center(vacuum=MOLECULE_VACUUM_A)
    phonon = phonopy.Phonopy(
        _to_phonopy_atoms(atoms),
        supercell_matrix=supercell_matrix,
        primitive_matrix=primitive_matrix,
        symprec=symprec,
        is_symmetry=symmetry,
    )
    phonon.generate_displacements(distance=displacement_A, is_plusminus=True, is_diagonal=False)
    supercells = phonon.supercells_with_displacements
    forces = []
    with progress_bar(len(supercells), "phonopy displacements", unit="supercell",
                      stream=log) as progress:
        for cell in supercells:
            displaced = _to_ase_atoms(cell, pbc=atoms.pbc)
            displaced.calc = calculator
            forces.append(displaced.get_forces())
            progress.update(1)
    phonon.forces = np.array(forces)
    phonon.produce_force_constants(show_drift=False)
    if symmetrize_fc:
        phonon.symmetrize_force_constants(show_drift=False)
    _PERIODIC_OF[phonon] = periodic
    return phonon


def _unit_to_primitive_index(phonon):
    supercell = phonon.supercell
    return np.array([supercell.u2u_map[supercell.s2u_map[p]] for p in phonon.primitive.p2s_map])


def _same_structure(atoms, reference, tolerance_A=1e-3):
    if len(atoms) != len(reference) or atoms.get_chemical_symbols() != reference.get_chemical_symbols():
        return False
    if not np.allclose(np.array(atoms.cell), np.array(reference.cell), atol=tolerance_A):
        return False
    delta = atoms.get_scaled_positions(wrap=False) - reference.get_scaled_positions(wrap=False)
    delta -= np.round(delta)
    return bool(np.all(np.abs(delta @ np.array(reference.cell)) < tolerance_A))


def _read_born_file(path, phonon, symprec):
    """Born charges (N, 3, 3), e, of a phonopy BORN file expanded onto
    phonopy's primitive cell (:func:`ase_dipole.io.read_phonopy_born`)."""
    from ase_dipole.io import BornChargeFormatError, read_phonopy_born

    primitive = _to_ase_atoms(phonon.primitive)
    try:
        return get_born_charges(read_phonopy_born(path, primitive, symprec=symprec))
    except BornChargeFormatError as error:
        raise ValueError(
            f"BORN file '{path}' does not fit the primitive cell ({len(primitive)} atoms: "
            f"{' '.join(primitive.get_chemical_symbols())}): {error}"
        ) from error


class HarmonicIR:
    """Γ-point harmonic IR spectrum from phonopy normal modes and Born charges.

    Parameters
    ----------
    phonon : phonopy.Phonopy
        With force constants (see :func:`load_phonopy`,
        :func:`phonopy_from_calculator`). The Γ modes are those of its
        primitive cell.
    born_charges : str, path-like, array_like or model
        Z* (e, ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``) from one of

        * a phonopy ``BORN`` file (symmetry-reduced files are expanded by
          phonopy's parser);
        * a VASP ``vasprun.xml`` / ``OUTCAR`` (LEPSILON), or an extended XYZ
          file with ``born_charges`` (read by :mod:`ase_dipole.io` /
          :mod:`ase_dipole.io.extxyz`), computed for phonopy's unit or
          primitive cell;
        * an array of shape (N, 3, 3) for the N atoms of the primitive cell or
          of the unit cell (mapped onto the primitive cell);
        * a model with ``predict(atoms) -> (dipole, born_charges)`` (see
          ``ase_dipole.learning.model``), evaluated at the primitive cell.
    asr : bool, optional
        Impose the acoustic sum rule Σ_i Z*_i = 0 by subtracting the mean over
        atoms; the violation before is kept in :attr:`asr_violation`.
    symprec : float, optional
        Symmetry tolerance in Å for the BORN parser.
    acoustic_threshold_cm1 : float, optional
        A mode is acoustic when :math:`|\\tilde\\nu|` is below this AND its eigenvector is a
        rigid translation (translational weight > 0.9).
    periodic : bool, optional
        A crystal (True) or a molecule (False). Default: the ``pbc`` of the
        atoms given to :func:`phonopy_from_calculator`; True for phonopy
        files. For a molecule the rigid translations and rotations are
        projected out of the dynamical matrix (they become exact
        zero-frequency modes, flagged :attr:`is_acoustic`, outside the
        spectrum), Z* of a model are evaluated with pbc False, and the
        spectrum is a cross-section (cm²).
    """

    def __init__(self, phonon, born_charges, *, asr=False, symprec=1e-5, acoustic_threshold_cm1=20.0,
                 periodic=None):
        if not isinstance(phonon, phonopy.Phonopy):
            raise TypeError(f"phonon must be a phonopy.Phonopy, got {type(phonon).__name__}")
        _require_force_constants(
            phonon, "load them with load_phonopy(force_sets=...) or phonopy_from_calculator()"
        )
        self._phonon = phonon
        self._distance_to_A = get_calculator_physical_units(phonon.calculator).distance_to_A
        self._periodic = bool(_PERIODIC_OF.get(phonon, True) if periodic is None else periodic)
        self._atoms = _to_ase_atoms(phonon.primitive, distance_to_A=self._distance_to_A,
                                    pbc=self._periodic)
        self._asr = bool(asr)
        self._acoustic_threshold_cm1 = float(acoustic_threshold_cm1)
        raw = self._resolve_born_charges(born_charges, symprec)
        self._asr_violation = raw.sum(axis=0)
        self._born = raw - raw.mean(axis=0) if self._asr else raw
        self._source = born_charges if isinstance(born_charges, (str, os.PathLike)) else type(born_charges).__name__
        if isinstance(born_charges, (str, os.PathLike)):
            from ase_dipole.provenance import file_sha256

            self._source_identity = {"born_charges_sha256": file_sha256(born_charges)}
        elif hasattr(born_charges, "sha256"):
            self._source_identity = {"model_sha256": str(born_charges.sha256)}
        else:
            self._source_identity = {}
        self._results = None

    def _resolve_born_charges(self, source, symprec):
        n_prim = len(self._atoms)
        if hasattr(source, "predict"):
            from ase_dipole.dynamics.calculator import check_species

            check_species(source, self._atoms)
            _, born = source.predict(self._atoms.copy())
            born = np.asarray(born, dtype=float)
        elif isinstance(source, (str, os.PathLike)):
            from ase_dipole.io import guess_format, read_born_charges

            path = os.fspath(source)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such Born-charge file: '{path}'; check the path")
            if guess_format(path) == "phonopy-born":
                born = _read_born_file(path, self._phonon, symprec)
            else:
                atoms = read_born_charges(path)[-1]
                born = get_born_charges(atoms)
                unitcell = _to_ase_atoms(self._phonon.unitcell, distance_to_A=self._distance_to_A)
                if _same_structure(atoms, unitcell):
                    born = born[_unit_to_primitive_index(self._phonon)]
                elif not _same_structure(atoms, self._atoms):
                    raise ValueError(
                        f"the Born charges in '{path}' were computed for another structure "
                        f"({atoms.get_chemical_formula()}, {len(atoms)} atoms) than phonopy's unit cell "
                        f"({unitcell.get_chemical_formula()}, {len(unitcell)} atoms) or primitive cell; "
                        "compute Z* for the same relaxed cell (same atom order)"
                    )
        else:
            born = np.asarray(source, dtype=float)
            n_unit = len(self._phonon.unitcell)
            if born.ndim == 3 and born.shape[0] == n_unit != n_prim and born.shape[1:] == (3, 3):
                born = born[_unit_to_primitive_index(self._phonon)]
        if born.shape != (n_prim, 3, 3):
            raise ValueError(
                f"Born charges of shape {born.shape} do not fit the primitive cell of "
                f"{n_prim} atoms; expected ({n_prim}, 3, 3)"
            )
        if not np.all(np.isfinite(born)):
            raise ValueError("Born charges contain NaN or inf")
        return born

    def run(self):
        """Diagonalise the Γ dynamical matrix and form the mode charges.

        Returns
        -------
        HarmonicIR
            ``self``, for chaining.
        """
        phonon = self._phonon
        dynmat = get_dynamical_matrix(phonon.force_constants, phonon.supercell, phonon.primitive)
        dynmat.run([0.0, 0.0, 0.0])
        matrix = np.asarray(dynmat.dynamical_matrix)
        matrix = 0.5 * (matrix + matrix.conj().T).real
        n_atoms = len(self._atoms)
        masses = self._atoms.get_masses()
        if self._periodic:
            eigenvalues, vectors = np.linalg.eigh(matrix)
            rigid = np.zeros(3 * n_atoms, dtype=bool)
        else:
            eigenvalues, vectors, rigid = _internal_modes(matrix, self._molecule_positions(), masses)
        frequencies_cm1 = (
            np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * phonon.unit_conversion_factor * THZ_TO_CM1
        )
        eigenvectors = np.ascontiguousarray(vectors.T.reshape(3 * n_atoms, n_atoms, 3))
        mode_charges = np.einsum("iab,nib->na", self._born, eigenvectors / np.sqrt(masses)[None, :, None])
        translation = np.einsum("nia,i->na", eigenvectors, np.sqrt(masses)) / np.sqrt(masses.sum())
        translational_weight = np.sum(translation**2, axis=1)
        if self._periodic:
            acoustic = (translational_weight > 0.9) & (np.abs(frequencies_cm1) < self._acoustic_threshold_cm1)
        else:
            acoustic = rigid
        imaginary = (frequencies_cm1 < 0.0) & ~acoustic
        self._results = {
            "frequencies_cm1": frequencies_cm1,
            "eigenvectors": eigenvectors,
            "mode_charges": mode_charges,
            "intensities": np.sum(mode_charges**2, axis=1),
            "translational_weight": translational_weight,
            "acoustic": acoustic,
            "imaginary": imaginary,
        }
        for array in self._results.values():
            array.flags.writeable = False
        if self._periodic and acoustic.sum() != 3:
            warnings.warn(
                f"found {acoustic.sum()} acoustic modes at Γ (rigid translations with "
                f"|ν̃| < {self._acoustic_threshold_cm1} cm⁻¹), expected 3; check the force "
                "constants (symmetrize them to impose translational invariance)",
                stacklevel=2,
            )
        if imaginary.any():
            listing = ", ".join(f"{f:.1f}" for f in frequencies_cm1[imaginary])
            warnings.warn(
                f"{imaginary.sum()} imaginary modes at Γ ({listing} cm⁻¹, shown negative): "
                "excluded from the spectrum; relax the structure"
                + (" or, for a molecule in a box, these are usually its free rotations: "
                   "give it pbc=False (or periodic=False) to project them out"
                   if self._periodic else ""),
                stacklevel=2,
            )
        return self

    def _molecule_positions(self):
        """Positions (N, 3) Å of the molecule made whole: each atom at the
        periodic image of the box nearest to atom 0."""
        cell = np.array(self._atoms.cell)
        positions = self._atoms.get_positions()
        if self._atoms.cell.rank != 3:
            return positions
        fractional = (positions - positions[0]) @ np.linalg.inv(cell)
        return positions[0] + (fractional - np.round(fractional)) @ cell

    def _get(self, key):
        if self._results is None:
            raise HarmonicNotRunError("HarmonicIR.run() has to be done")
        return self._results[key]

    @property
    def periodic(self):
        """True for a crystal, False for a molecule (see the class parameters)."""
        return self._periodic

    @property
    def phonon(self):
        """The :class:`phonopy.Phonopy` the modes come from."""
        return self._phonon

    @property
    def atoms(self):
        """The primitive cell (ase.Atoms, Å, amu) the modes and Z* refer to."""
        return self._atoms.copy()

    @property
    def born_charges(self):
        """(N, 3, 3) e: Z* used (after the sum rule if ``asr=True``)."""
        born = self._born.copy()
        born.flags.writeable = False
        return born

    @property
    def asr_violation(self):
        """(3, 3) e: Σ_i Z*_i of the input charges, before any correction."""
        return self._asr_violation.copy()

    @property
    def frequencies_cm1(self):
        """(3N,) cm⁻¹, ascending; imaginary frequencies are negative."""
        return self._get("frequencies_cm1")

    @property
    def eigenvectors(self):
        """(3N, N, 3): mass-weighted unit-norm eigenvectors e_ν,iβ (real)."""
        return self._get("eigenvectors")

    @property
    def mode_charges(self):
        """(3N, 3) e/√amu: Z̃_ν,α = Σ_iβ Z*_i,αβ e_ν,iβ / √m_i."""
        return self._get("mode_charges")

    @property
    def intensities(self):
        """(3N,) e²/amu: :math:`|\\tilde Z_\\nu|^2`."""
        return self._get("intensities")

    @property
    def intensities_km_mol(self):
        """(3N,) km/mol: molar integrated absorption
        :math:`N_A |\\tilde Z_\\nu|^2/(12 \\varepsilon_0 c^2)`."""
        return self._get("intensities") * KM_PER_MOL_PER_E2_AMU

    @property
    def is_acoustic(self):
        """(3N,) bool: for a crystal, :math:`|\\tilde\\nu|` small and the eigenvector a rigid
        translation; for a molecule, the rigid translations and rotations."""
        return self._get("acoustic")

    @property
    def is_imaginary(self):
        """(3N,) bool: negative (imaginary) frequency, not acoustic."""
        return self._get("imaginary")

    @property
    def translational_weight(self):
        """(3N,) in [0, 1]: weight of the mode on the three rigid translations."""
        return self._get("translational_weight")

    @property
    def active(self):
        """(3N,) bool: modes that enter the spectrum (not acoustic, not imaginary)."""
        return ~(self._get("acoustic") | self._get("imaginary"))

    @property
    def volume_A3(self):
        """Volume of the primitive cell in Å³."""
        return float(self._atoms.get_volume())

    def spectrum(
        self,
        wavenumber_cm1=None,
        *,
        fwhm_cm1=20.0,
        lineshape="lorentzian",
        periodic=None,
        volume_A3=None,
    ):
        """Harmonic IR spectrum on the absolute scale of the Green–Kubo one.

        .. math::

            \\alpha n(\\tilde\\nu) = \\frac{1}{12 V \\varepsilon_0 c^2}
            \\sum_{\\nu\\,\\mathrm{active}} |\\tilde Z_\\nu|^2 L(\\tilde\\nu - \\tilde\\nu_\\nu)

        Parameters
        ----------
        wavenumber_cm1 : array_like, shape (K,), optional
            Grid in cm⁻¹; default 0 … max ν̃ + 10·fwhm in steps of
            min(1, fwhm/10) cm⁻¹.
        fwhm_cm1 : float, optional
            Full width at half maximum of every line in cm⁻¹; the default,
            20, is that of :func:`ase_dipole.spectra.green_kubo.ir_spectrum`.
        lineshape : {'lorentzian', 'gaussian'}, optional
            Unit-area line shape in ν̃.
        periodic : bool, optional
            True: α(ν̃)n(ν̃) in cm⁻¹ for the crystal. False (a molecule): the
            cross-section σ = α n V in cm² per molecule, independent of any
            box. Default :attr:`periodic`.
        volume_A3 : float, optional
            Volume in Å³ for ``periodic=True``; default the primitive cell's.

        Returns
        -------
        ase_dipole.spectra.green_kubo.IRSpectrum
            ``intensity`` (K,), ``error`` zeros (no statistical error), ``unit``
            'cm^-1' or 'cm^2', metadata with the mode table.
        """
        from ase_dipole.spectra.green_kubo import IRSpectrum

        periodic = self._periodic if periodic is None else bool(periodic)
        if lineshape not in LINESHAPES:
            raise ValueError(f"unknown lineshape '{lineshape}'; use one of {', '.join(repr(s) for s in LINESHAPES)}")
        if not fwhm_cm1 > 0:
            raise ValueError(f"fwhm_cm1 must be positive, got {fwhm_cm1}")
        if not periodic and volume_A3 is not None:
            raise ValueError("volume_A3 has no meaning for periodic=False (a cross-section per cell)")
        active = self.active
        centres = self.frequencies_cm1[active]
        areas_cm = self.intensities_km_mol[active] * CM_PER_KM_MOL
        if wavenumber_cm1 is None:
            top = (centres.max() if centres.size else 0.0) + 10.0 * fwhm_cm1
            wavenumber_cm1 = np.arange(0.0, top, min(1.0, fwhm_cm1 / 10.0))
        wavenumber_cm1 = np.asarray(wavenumber_cm1, dtype=float)
        if wavenumber_cm1.ndim != 1:
            raise ValueError(f"wavenumber_cm1 must be 1-D, got shape {wavenumber_cm1.shape}")
        offset = wavenumber_cm1[:, None] - centres[None, :]
        if lineshape == "lorentzian":
            gamma = 0.5 * fwhm_cm1
            shape = gamma / np.pi / (offset**2 + gamma**2)
        else:
            sigma = fwhm_cm1 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
            shape = np.exp(-0.5 * (offset / sigma) ** 2) / (sigma * np.sqrt(2.0 * np.pi))
        cross_section_cm2 = shape @ areas_cm
        if periodic:
            volume = self.volume_A3 if volume_A3 is None else float(volume_A3)
            if not volume > 0:
                raise ValueError(f"volume_A3 must be positive, got {volume_A3}")
            intensity, unit = cross_section_cm2 / (volume * CM3_PER_A3), "cm^-1"
        else:
            volume, intensity, unit = None, cross_section_cm2, "cm^2"
        metadata = {
            "method": "harmonic",
            "lineshape": lineshape,
            "fwhm_cm1": float(fwhm_cm1),
            "periodic": bool(periodic),
            "volume_A3": volume,
            "n_atoms": len(self._atoms),
            "formula": self._atoms.get_chemical_formula(),
            "born_charges_source": str(self._source),
            **self._source_identity,
            "masses_amu": [float(m) for m in self._atoms.get_masses()],
            "asr": self._asr,
            "ase_dipole_version": __version__,
            "phonopy_version": phonopy.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        return IRSpectrum(
            wavenumber_cm1=wavenumber_cm1,
            intensity=intensity,
            error=np.zeros_like(intensity),
            unit=unit,
            metadata=metadata,
        )

    def peak_table(self):
        """The mode table as text (one line per mode, header with units)."""
        lines = [
            f"# harmonic Γ modes of {self._atoms.get_chemical_formula()} "
            f"({len(self._atoms)} atoms), ase-dipole {__version__}, phonopy {phonopy.__version__}",
            f"# Born charges: {self._source}; acoustic sum rule imposed: {self._asr}; "
            f"max |Σ_i Z*_i| before: {np.abs(self._asr_violation).max():.3e} e",
            "# mode  frequency_cm1  |Z~|^2_e2/amu  intensity_km/mol  acoustic  imaginary",
        ]
        for n, (freq, inten, acoustic, imaginary) in enumerate(
            zip(self.frequencies_cm1, self.intensities, self.is_acoustic, self.is_imaginary), 1
        ):
            lines.append(
                f"{n:6d} {freq:14.4f} {inten:14.6e} {inten * KM_PER_MOL_PER_E2_AMU:17.4f} "
                f"{int(acoustic):9d} {int(imaginary):10d}"
            )
        return "\n".join(lines) + "\n"

    def write_peaks(self, path):
        """Write :meth:`peak_table` to ``path`` atomically."""
        write_text_atomic(path, self.peak_table())


def _internal_modes(matrix, positions_A, masses_amu):
    """Eigen-pairs of a molecule's mass-weighted dynamical matrix with its
    rigid-body motions projected out.

    The rigid translations and rotations about the centre of mass span an
    orthonormal basis R (3N × r, r = 6, or 5 for a linear molecule); the
    matrix is diagonalised in the complement Q of R, and the columns of R are
    returned as exact zero-frequency modes.

    Parameters
    ----------
    matrix : (3N, 3N) float array
        Symmetric mass-weighted dynamical matrix, atom-major (i, β).
    positions_A : (N, 3) float array, Å
    masses_amu : (N,) float array, amu

    Returns
    -------
    eigenvalues : (3N,) float array, ascending (phonopy units)
    vectors : (3N, 3N) float array, columns the unit-norm eigenvectors
    rigid : (3N,) bool array, True for the r rigid-body modes
    """
    n_atoms = len(masses_amu)
    root = np.sqrt(masses_amu)
    centred = positions_A - (masses_amu @ positions_A) / masses_amu.sum()
    motions = []
    for axis in np.eye(3):
        motions.append((root[:, None] * axis[None, :]).ravel())
        motions.append((root[:, None] * np.cross(axis[None, :], centred)).ravel())
    basis, singular, _ = np.linalg.svd(np.array(motions).T, full_matrices=True)
    rank = int(np.sum(singular > 1e-8 * singular.max()))
    rigid_basis, internal_basis = basis[:, :rank], basis[:, rank:]
    internal_values, internal_vectors = np.linalg.eigh(internal_basis.T @ matrix @ internal_basis)
    eigenvalues = np.concatenate([np.zeros(rank), internal_values])
    vectors = np.concatenate([rigid_basis, internal_basis @ internal_vectors], axis=1)
    rigid = np.arange(3 * n_atoms) < rank
    order = np.argsort(eigenvalues, kind="stable")
    return eigenvalues[order], vectors[:, order], rigid[order]


def read_peaks(path):
    """Read a peak table written by :meth:`HarmonicIR.write_peaks`.

    Returns
    -------
    dict
        ``frequency_cm1`` (M,), ``intensity_e2_amu`` (M,),
        ``intensity_km_mol`` (M,), ``acoustic`` (M,) bool, ``imaginary`` (M,) bool.
    """
    table = np.atleast_2d(np.loadtxt(os.fspath(path), comments="#"))
    return {
        "frequency_cm1": table[:, 1],
        "intensity_e2_amu": table[:, 2],
        "intensity_km_mol": table[:, 3],
        "acoustic": table[:, 4].astype(bool),
        "imaginary": table[:, 5].astype(bool),
    }


def write_born_from_model(path, atoms, model, *, epsilon=None, symprec=1e-5):
    """Write a phonopy BORN file with the model's Z* at ``atoms``.

    phonopy's own non-analytical correction (LO–TO splitting) can then use
    machine-learned Born charges.

    Parameters
    ----------
    path : str or path-like
        Output BORN file (new style, comment header listing the independent
        atoms).
    atoms : ase.Atoms
        The unit cell phonopy will use (same atom order).
    model : object
        Obeys the model protocol: ``species``, ``predict(atoms) -> (dipole,
        born_charges (N, 3, 3))``.
    epsilon : array_like, shape (3, 3), optional
        High-frequency dielectric tensor ε∞. A Z* model does not predict it;
        without it ε∞ = 1 (no electronic screening) is written, with a warning.
    symprec : float, optional
        Symmetry tolerance in Å for symmetrizing Z* and choosing the
        independent atoms.
    """
    from ase_dipole.io import write_phonopy_born

    missing = sorted(set(atoms.get_chemical_symbols()) - set(getattr(model, "species", ())))
    if missing:
        raise ValueError(
            f"the model knows species {sorted(getattr(model, 'species', ()))} but atoms contains {missing}"
        )
    _, born = model.predict(atoms.copy())
    if epsilon is None:
        warnings.warn(
            "no epsilon given: BORN written with ε∞ = 1 (no electronic screening), which "
            "overestimates the LO–TO splitting; pass epsilon= (e.g. from a DFPT run)",
            stacklevel=2,
        )
        epsilon = np.eye(3)
    write_phonopy_born(path, atoms, np.asarray(born, dtype=float), epsilon, symprec=symprec)


def load_calculator(spec):
    """Build an ASE calculator from ``'module:factory'`` (e.g. ``'tblite.ase:TBLite'``),
    ``'tblite'`` or ``'mace:PATH'``, as :func:`ase_dipole.dynamics.md.make_force_calculator`
    does (tblite's SCF printout silenced)."""
    from ase_dipole.dynamics.md import make_force_calculator

    if spec != "tblite" and ":" not in spec:
        raise ValueError(f"calculator '{spec}' is not of the form 'module:factory' (e.g. "
                         "'tblite.ase:TBLite'), 'mace:PATH' or 'tblite'")
    try:
        return make_force_calculator(spec)
    except (ImportError, TypeError) as error:
        raise ValueError(str(error)) from error
