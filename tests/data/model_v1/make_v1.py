"""Write a version-1 PolarizationModel file with the code of the checked-out
commit (run with that tree first on sys.path)."""
import sys
import ase_dipole
from ase_dipole.io import read_extxyz_born
from ase_dipole.learning.model import PolarizationModel, FORMAT_VERSION
print(ase_dipole.__file__, ase_dipole.__version__, "FORMAT_VERSION", FORMAT_VERSION)
frames = read_extxyz_born("/work/h27a/tests/data/water_dimer/water_dimer_b3lyp_gfn2_apt.extxyz",
                          born_key="apt_gfn2", dipole_key="dipole_gfn2")
model = PolarizationModel(cutoff=4.0, n_max=2, l_max=1, regularization=1e-6).fit(
    frames, targets="born", progress=False)
model.save(sys.argv[1])
import numpy as np
mu, z = model.predict(frames[0])
np.save(sys.argv[1] + ".expected.npy", np.concatenate([mu.ravel(), z.ravel()]))
