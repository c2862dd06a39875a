"""Fixtures shared by tests/test_harmonic.py and tests/test_compare.py: the
real phonopy data sets of tests/data loaded through ase_dipole.spectra.harmonic."""

import gzip
import os
import shutil
import warnings

from ase_dipole.spectra.harmonic import HarmonicIR, load_phonopy

DATA = os.path.join(os.path.dirname(__file__), "data")
NACL = os.path.join(DATA, "phonopy_NaCl")
SNO2 = os.path.join(DATA, "phonopy_SnO2")
PHENOL = os.path.join(DATA, "phenol")


def nacl_phonon():
    """NaCl, VASP 2×2×2 FD force sets (phonopy example/NaCl)."""
    return load_phonopy(os.path.join(NACL, "phonopy_disp.yaml"), force_sets=os.path.join(NACL, "FORCE_SETS"))


def sno2_phonon():
    """Rutile SnO2, VASP 2×2×3 FD force sets (phonopy example/SnO2)."""
    return load_phonopy(
        structure=os.path.join(SNO2, "example_POSCAR-unitcell"),
        supercell_matrix=(2, 2, 3),
        force_sets=os.path.join(SNO2, "example_FORCE_SETS"),
    )


def phenol_phonon(tmp_path):
    """Phenol in a box (Phonopy-Spectroscopy example); FORCE_SETS is stored
    gzipped and decompressed into ``tmp_path`` (phonopy reads it plain)."""
    force_sets = os.path.join(tmp_path, "FORCE_SETS")
    with gzip.open(os.path.join(PHENOL, "FORCE_SETS.gz"), "rb") as source, open(force_sets, "wb") as target:
        shutil.copyfileobj(source, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # phonopy's note on primitive_matrix='auto'
        return load_phonopy(os.path.join(PHENOL, "phonopy.yaml"), force_sets=force_sets)


def nacl_harmonic():
    return HarmonicIR(nacl_phonon(), os.path.join(NACL, "BORN")).run()
