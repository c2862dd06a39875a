"""Test-session settings.

tblite and PySCF parallelise with OpenMP; on a 2-core machine that competes
with numba's own threads and makes the many tiny GFN2-xTB and PySCF
calculations of the tests several times slower, so the tests run them on one
OpenMP thread (set before any of those libraries is loaded).
"""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def dimer():
    """GFN2-xTB water-dimer set (package data), grouped by split."""
    import ase.io

    import ase_dipole

    path = f"{ase_dipole.__path__[0]}/data/water_dimer_gfn2.extxyz.gz"
    groups = {}
    for frame in ase.io.read(path, index=":"):
        groups.setdefault(frame.info["split"], []).append(frame)
    return groups
