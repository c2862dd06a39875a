"""phonopy ``BORN`` files: read (expanding a symmetry-reduced file to all
atoms with phonopy's own parser) and write (phonopy reads it back).

Format (phonopy documentation, "BORN (optional)"): line 1 is either the old
NAC unit-conversion factor (e.g. ``14.400``) or a comment
(``# epsilon and Z* of atoms 1 3``, 1-based indices of the symmetry-independent
atoms); line 2 holds ε∞ row-major (9 numbers); then one line of 9 numbers per
independent atom, the 3×3 Z* row-major with the ROW the electric-field
direction, as in the VASP OUTCAR it is usually made from — already our
convention ``Z[i, α, β] = ∂μ_α/∂x_{iβ}``. phonopy's ``_expand_borns`` maps the
independent atoms onto the others with the cell's rotations,
``Z_j = R Z_i Rᵀ``.
"""

import numpy as np
from ase import Atoms
from phonopy.exception import BORNFileParseError
from phonopy.file_IO import parse_BORN_from_strings
from phonopy.interface.calculator import read_crystal_structure
from phonopy.structure.atoms import PhonopyAtoms
from phonopy.structure.symmetry import Symmetry, elaborate_borns_and_epsilon

from ase_dipole.atomic import write_text_atomic
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.io._common import BornChargeFormatError, check_file, finish_frame, read_text


def _to_phonopy(atoms):
    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.array(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
    )


def _load_structure(structure):
    if isinstance(structure, Atoms):
        return structure.copy()
    path = check_file(structure)
    cell, _ = read_crystal_structure(path, interface_mode="vasp")
    if cell is None:
        raise BornChargeFormatError(f"{path}: phonopy could not read a crystal structure (POSCAR)")
    return Atoms(symbols=cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


def read_phonopy_born(born_path, structure, *, symprec=1e-5):
    """Read a phonopy BORN file and expand it to every atom of ``structure``.

    Parameters
    ----------
    born_path : str or path-like
        BORN file, old style (NAC factor on line 1) or new style (comment line).
    structure : ase.Atoms or str or path-like
        The cell the BORN file was written for (usually phonopy's unit or
        primitive cell), as Atoms or a POSCAR path read by phonopy's
        ``read_crystal_structure``. Its symmetry-independent atoms must be the
        ones the BORN file lists.
    symprec : float, optional
        Symmetry tolerance in Å passed to phonopy.

    Returns
    -------
    ase.Atoms
        ``structure`` with ``arrays['born_charges']`` (N, 9) e in our
        convention, ``info['epsilon']`` (3, 3), ``info['source']``.

    Raises
    ------
    BornChargeFormatError
        When the file does not parse or lists other independent atoms (e.g. a
        BORN file of another structure).
    """
    born_path = check_file(born_path)
    atoms = _load_structure(structure)
    text = read_text(born_path)
    cell = _to_phonopy(atoms)
    independent = Symmetry(cell, symprec=symprec).get_independent_atoms()
    first = text.splitlines()[0] if text.strip() else ""
    if first.lstrip().startswith("#") and "atoms" in first:
        listed = [int(token) for token in first.split("atoms", 1)[1].split() if token.isdigit()]
        if listed and listed != list(independent + 1):
            raise BornChargeFormatError(
                f"{born_path}: lists independent atoms {listed} but the structure "
                f"({atoms.get_chemical_formula()}, {len(atoms)} atoms) has "
                f"{(independent + 1).tolist()}: it was written for another structure; pass the cell "
                "the BORN file was written for"
            )
    try:
        nac = parse_BORN_from_strings(text, cell, symprec=symprec)
    except (BORNFileParseError, ValueError, IndexError) as error:
        raise BornChargeFormatError(
            f"{born_path}: not a BORN file for this structure "
            f"({atoms.get_chemical_formula()}, {len(independent)} independent atoms "
            f"expected): {error}"
        ) from error
    return finish_frame(
        atoms, nac["born"], source=f"{born_path} (phonopy BORN)", epsilon=nac["dielectric"]
    )


def write_phonopy_born(path, atoms, born_charges=None, epsilon=None, *, symmetrize=True, symprec=1e-5):
    """Write a phonopy BORN file (new style, comment header) for ``atoms``.

    Parameters
    ----------
    path : str or path-like
        Output file.
    atoms : ase.Atoms
        The unit cell; only its symmetry-independent atoms are written.
    born_charges : array_like, shape (N, 3, 3), optional
        Z* in e, our convention (row = field); default: from ``atoms``.
    epsilon : array_like, shape (3, 3), optional
        ε∞; default ``atoms.info['epsilon']``.
    symmetrize : bool, optional
        Symmetrize Z* and ε∞ with the cell's point group first (phonopy's
        ``symmetrize_borns_and_epsilon``), as phonopy's own writer does.
    symprec : float, optional
        Symmetry tolerance in Å.
    """
    born = get_born_charges(atoms) if born_charges is None else np.asarray(born_charges, dtype=float)
    if born is None or born.shape != (len(atoms), 3, 3):
        raise ValueError(
            f"write_phonopy_born needs Born charges of shape ({len(atoms)}, 3, 3); "
            "pass born_charges= or set them with ase_dipole.io.extxyz.set_born_charges"
        )
    if epsilon is None:
        if "epsilon" not in atoms.info:
            raise ValueError("write_phonopy_born needs epsilon (3, 3); pass epsilon= or set atoms.info['epsilon']")
        epsilon = atoms.info["epsilon"]
    epsilon = np.asarray(epsilon, dtype=float).reshape(3, 3)
    borns, epsilon, indices = elaborate_borns_and_epsilon(
        _to_phonopy(atoms), born, epsilon, symmetrize_tensors=symmetrize, symprec=symprec
    )
    lines = ["# epsilon and Z* of atoms " + " ".join(str(i + 1) for i in indices)]
    lines += [("%13.8f " * 9) % tuple(np.ravel(tensor)) for tensor in (epsilon, *borns)]
    write_text_atomic(path, "\n".join(lines) + "\n")
