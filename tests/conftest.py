"""Test-session settings.

tblite and PySCF parallelise with OpenMP; on a 2-core machine that competes
with numba's own threads and makes the many tiny GFN2-xTB and PySCF
calculations of the tests several times slower, so the tests run them on one
OpenMP thread (set before any of those libraries is loaded).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
