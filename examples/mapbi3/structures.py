"""Starting cells of CH₃NH₃PbI₃ (MAPbI₃) for the Born-charge campaign, written as extxyz.

Three cells, all built from one pseudo-cubic perovskite cage:

``cubic``  (12 atoms)
    Pb at the origin, I half-way between neighbouring Pb, at (a/2, 0, 0),
    (0, a/2, 0), (0, 0, a/2) (the face centres of the cubic cell in the
    A-at-origin setting; the PbI₆ octahedra share these I), and one CH₃NH₃⁺ with the
    midpoint of its C–N bond at the cage centre (a/2, a/2, a/2) and C→N along
    ``--direction`` (default [111], which keeps the cage's 3-fold axis: the
    cell then has C3v symmetry, used by the tests).
``tetragonal`` (48 atoms)
    The √2 × √2 × 2 supercell of the pseudo-cubic cell (the I4/mcm cell's
    shape: a_t = √2 a_pc, c_t = 2 a_pc), stretched to the experimental
    tetragonal lattice constants.
``orthorhombic`` (48 atoms)
    The same supercell stretched to the experimental orthorhombic lattice
    constants (a_o ≈ √2 a_pc, b_o ≈ √2 a_pc, c_o ≈ 2 a_pc in the setting
    quoted below).

The 48-atom cells are **not** the experimental structures: their PbI₆
octahedra are untilted and the four MA cations only alternate their C–N
direction between pseudo-cubic [100] and [010] (towards the centres of the
cage's square Pb₄I₄ windows) from one cage to the next, a checkerboard that
is a guess at the ordering, not a refinement.
The I4/mcm out-of-phase tilt and the orthorhombic a⁻a⁻c⁺ tilt and MA order
must come from a relaxation (force field or DFT) before these cells are
used as phases; only the cell shapes are experimental.

Lattice constants (quoted from memory, not checked against the paper here:
this machine has no internet) from X-ray powder diffraction,
A. Poglitsch and D. Weber, J. Chem. Phys. 87, 6373 (1987), Table I:

* cubic Pm3̄m above 327.4 K: a = 6.329 Å (at 330 K);
* tetragonal I4/mcm, 162.2–327.4 K: a = 8.855 Å, c = 12.659 Å (at 220 K);
* orthorhombic (Pna2₁ there, Pnma in later neutron work), below 162.2 K:
  a = 8.861 Å, b = 8.581 Å, c = 12.620 Å (at 100 K).

MA geometry from standard bond lengths (not from a refinement): C–N 1.48 Å,
C–H 1.09 Å, N–H 1.03 Å, tetrahedral angles (H–C–N = H–N–C = 109.47°), the
CH₃ and NH₃ groups staggered (the ammonium cation's conformation).

Run: ``python structures.py [--outdir data] [--direction 1 1 1]``; writes
``MAPbI3_cubic.extxyz``, ``MAPbI3_tetragonal.extxyz``,
``MAPbI3_orthorhombic.extxyz`` (each written to a temporary file first, then
renamed).
"""

import argparse
import os

import ase.io
import numpy as np
from ase import Atoms

#: Poglitsch & Weber, J. Chem. Phys. 87, 6373 (1987), quoted from memory [Å]
A_CUBIC_A = 6.329
TETRAGONAL_A = (8.855, 8.855, 12.659)
ORTHORHOMBIC_A = (8.861, 8.581, 12.620)
#: standard bond lengths of CH₃NH₃⁺ [Å]
CN_A, CH_A, NH_A = 1.48, 1.09, 1.03
TETRAHEDRAL_DEG = 109.4712206


def methylammonium(direction):
    """CH₃NH₃⁺ centred on the C–N midpoint.

    Parameters
    ----------
    direction : sequence of 3 float
        C→N direction (any length).

    Returns
    -------
    symbols : list of str
        ``["C", "N", "H" × 6]`` (3 methyl H, then 3 ammonium H).
    positions : numpy.ndarray
        (8, 3), Å, relative to the C–N midpoint. One methyl H lies in the
        plane of ``direction`` and the cube axis least parallel to it (so
        for [111] the molecule's mirror planes are the cage's).
    """
    axis = np.asarray(direction, dtype=float)
    if axis.shape != (3,) or not np.linalg.norm(axis) > 0:
        raise ValueError(f"direction = {direction!r}; give 3 numbers, not all zero")
    axis /= np.linalg.norm(axis)
    reference = np.eye(3)[np.argmin(np.abs(axis))]
    perp1 = reference - axis * (reference @ axis)
    perp1 /= np.linalg.norm(perp1)
    perp2 = np.cross(axis, perp1)
    carbon, nitrogen = -0.5 * CN_A * axis, 0.5 * CN_A * axis
    tilt = np.radians(180.0 - TETRAHEDRAL_DEG)  # angle between the bond to H and -axis
    angles = np.radians([0.0, 120.0, 240.0])
    ring = np.cos(angles)[:, None] * perp1 + np.sin(angles)[:, None] * perp2  # (3, 3)
    methyl = carbon + CH_A * (-np.cos(tilt) * axis + np.sin(tilt) * ring)
    ammonium = nitrogen + NH_A * (np.cos(tilt) * axis - np.sin(tilt) * ring)  # staggered
    return ["C", "N"] + ["H"] * 6, np.vstack([carbon, nitrogen, methyl, ammonium])


def cubic_cell(a_A=A_CUBIC_A, direction=(1, 1, 1)):
    """The 12-atom pseudo-cubic cell (Pb, 3 I, CH₃NH₃⁺), Å; see the module docstring."""
    symbols, ma = methylammonium(direction)
    cage = a_A * np.array([[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]])
    positions = np.vstack([cage, ma + 0.5 * a_A])
    return Atoms(["Pb", "I", "I", "I"] + symbols, positions=positions,
                 cell=a_A * np.eye(3), pbc=True)


def supercell_48(lattice_A, a_pc_A=A_CUBIC_A):
    """The √2 × √2 × 2 supercell (48 atoms) stretched to ``lattice_A`` = (a, b, c) Å.

    The supercell vectors are pseudo-cubic [110], [-110], [002]; the MA of
    each cage points along pseudo-cubic [100] or [010] in a checkerboard
    (untilted octahedra: a starting guess to be relaxed, see the module
    docstring).
    """
    lattice_A = np.asarray(lattice_A, dtype=float)
    matrix = np.array([[1, 1, 0], [-1, 1, 0], [0, 0, 2]])
    pb_i = cubic_cell(a_pc_A)[:4]
    inverse = np.linalg.inv(matrix.astype(float))
    # pseudo-cubic lattice translations inside the supercell: fractional coordinates in [0, 1)
    shifts = [n for n in np.mgrid[-1:3, -1:3, 0:2].reshape(3, -1).T
              if np.all((n @ inverse >= -1e-9) & (n @ inverse < 1 - 1e-9))]
    symbols, positions = [], []
    for n in shifts:
        symbols += pb_i.get_chemical_symbols()
        positions.append(pb_i.positions + a_pc_A * n)
        direction = (1, 0, 0) if (n.sum() % 2 == 0) else (0, 1, 0)
        ma_symbols, ma = methylammonium(direction)
        symbols += ma_symbols
        positions.append(ma + a_pc_A * (n + 0.5))
    # stretch to the experimental cell: the cage scales with the cell, each molecule is
    # shifted rigidly with its C-N midpoint (bond lengths kept)
    positions = np.vstack(positions)
    stretch = np.linalg.solve(a_pc_A * matrix, np.diag(lattice_A))  # ideal -> target, row vectors
    stretched = positions @ stretch
    for start in (i for i, s in enumerate(symbols) if s == "C"):
        block = slice(start, start + 8)
        centre = 0.5 * (positions[start] + positions[start + 1])
        stretched[block] = positions[block] - centre + centre @ stretch
    atoms = Atoms(symbols, positions=stretched, cell=np.diag(lattice_A), pbc=True)
    atoms.wrap()
    return atoms


def _write(atoms, path, comment):
    atoms.info["comment"] = comment
    tmp = path + ".tmp"
    ase.io.write(tmp, atoms, format="extxyz")
    os.replace(tmp, path)
    print(f"{path}: {len(atoms)} atoms, {atoms.get_chemical_formula()}, "
          f"cell {np.round(atoms.cell.lengths(), 4).tolist()} Å")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outdir", default=os.path.join(os.path.dirname(__file__), "data"))
    parser.add_argument("--direction", type=float, nargs=3, default=(1.0, 1.0, 1.0),
                        help="C->N direction of the 12-atom cell (default 1 1 1)")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    _write(cubic_cell(direction=args.direction), os.path.join(args.outdir, "MAPbI3_cubic.extxyz"),
           f"pseudo-cubic a={A_CUBIC_A} A (Poglitsch & Weber 1987), C->N {list(args.direction)}")
    _write(supercell_48(TETRAGONAL_A), os.path.join(args.outdir, "MAPbI3_tetragonal.extxyz"),
           f"tetragonal cell shape {TETRAGONAL_A} A, untilted: relax before use")
    _write(supercell_48(ORTHORHOMBIC_A), os.path.join(args.outdir, "MAPbI3_orthorhombic.extxyz"),
           f"orthorhombic cell shape {ORTHORHOMBIC_A} A, untilted: relax before use")


if __name__ == "__main__":
    main()
