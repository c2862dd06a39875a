#!/bin/sh
# 300 K CHGNet MD of the 2x2x2 supercell with alpha-dot logging (see README.md); rerun to resume
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export PYTHONPATH=../..:../quartz
exec nice -n 10 "${PYTHON:-python}" md_raman.py "$@"
