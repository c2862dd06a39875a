"""One C, H, N, O, S cluster (CH3SH, NH3, CH3OH) rattled by 0.08 Å per component,
with GFN2-xTB labels: the fixture of tests/test_feature_selection.py (SOURCE.md).

Usage: python make.py OUTPUT.extxyz N_FRAMES
"""

import sys

import numpy as np
from ase.build import molecule
from ase.io import write

from ase_dipole.reference.labelling import label_frames

rng = np.random.default_rng(11)
base = molecule("CH3SH")
for name, shift_A in (("NH3", (3.4, 0.0, 0.0)), ("CH3OH", (0.0, 3.6, 0.0))):
    other = molecule(name)
    other.translate(np.array(shift_A) - other.positions.mean(axis=0) + base.positions.mean(axis=0))
    base += other
for i in range(int(sys.argv[2])):
    atoms = base.copy()
    atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
    write(sys.argv[1], label_frames([atoms], method="gfn2", progress=False)[0], append=True,
          format="extxyz")
    print(f"frame {i} labelled", flush=True)
