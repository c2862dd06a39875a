"""CHGNet-relaxed α-quartz and its phonopy force constants (needs chgnet + torch).

Positions relaxed with CHGNet 0.3.0 in the fixed VASP cell (``data/POSCAR-vasp``,
space group kept by ``FixSymmetry``, fmax 1e-3 eV/Å), then phonopy ±0.01 Å
finite displacements of the 2×2×2 supercell (72 atoms) through
:func:`ase_dipole.spectra.harmonic.phonopy_from_calculator`. Writes

- ``results/quartz_chgnet_relaxed.extxyz``: the relaxed 9-atom cell;
- ``results/phonopy_chgnet.yaml.xz``: phonopy's parameters and FORCE_SETS
  (``harmonic_raman.py`` reads it; it needs no torch);
- ``work/md_start_2x2x2.extxyz``: the relaxed 2×2×2 supercell with the VASP
  equilibrium Born charges (``data/BORN-vasp`` expanded by symmetry) as
  ``born_charges``, for ``ase-dipole md --fixed-charges``.

    PYTHONPATH=../quartz python chgnet_phonons.py
"""

import lzma
import os
import sys
import tempfile
import time
import warnings

import ase.io
import numpy as np
from ase.constraints import FixSymmetry
from ase.optimize import BFGS

from ase_dipole.atomic import atomic_write
from ase_dipole.io.extxyz import set_born_charges
from ase_dipole.spectra.harmonic import phonopy_from_calculator

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "quartz"))


def relax_positions(atoms, calculator, fmax_eV_A=1e-3):
    """Positions relaxed with ``calculator`` in the fixed cell, space group kept."""
    relaxed = atoms.copy()
    relaxed.set_constraint(FixSymmetry(relaxed))
    relaxed.calc = calculator
    BFGS(relaxed, logfile=None).run(fmax=fmax_eV_A, steps=300)
    relaxed.set_constraint()
    relaxed.calc = None
    return relaxed


def born_charges_by_symmetry(atoms, path):
    """(N, 3, 3) e of ``atoms`` from a BORN file (phonopy's reader expands the
    independent atoms by the space group)."""
    from phonopy.file_IO import parse_BORN
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:],
                        scaled_positions=atoms.get_scaled_positions())
    return parse_BORN(cell, filename=path)["born"]


def main():
    from chgnet_factory import make_calculator

    start = time.process_time()
    unitcell = ase.io.read(os.path.join(HERE, "data", "POSCAR-vasp"))
    calculator = make_calculator()
    relaxed = relax_positions(unitcell, calculator)
    shift = float(np.sqrt(np.mean((relaxed.positions - unitcell.positions) ** 2)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
        phonon = phonopy_from_calculator(relaxed, calculator, supercell_matrix=[2, 2, 2],
                                         primitive_matrix="P", log=None)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "work"), exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        phonon.save(os.path.join(folder, "phonopy.yaml"), settings={"force_sets": True})
        with open(os.path.join(folder, "phonopy.yaml"), "rb") as handle:
            text = handle.read()
    with atomic_write(os.path.join(HERE, "results", "phonopy_chgnet.yaml.xz"), "wb") as out:
        out.write(lzma.compress(text))
    ase.io.write(os.path.join(HERE, "results", "quartz_chgnet_relaxed.extxyz"), relaxed)
    born = born_charges_by_symmetry(relaxed, os.path.join(HERE, "data", "BORN-vasp"))
    supercell = relaxed.copy()
    set_born_charges(supercell, born)
    supercell = supercell.repeat((2, 2, 2))
    ase.io.write(os.path.join(HERE, "work", "md_start_2x2x2.extxyz"), supercell)
    print(f"relaxed positions moved {shift:.4f} Å rms from the VASP cell; "
          f"{len(phonon.displacements)} displacements; {time.process_time() - start:.0f} CPU-s")


if __name__ == "__main__":
    main()
