"""Reference dipoles and Born effective charges from electronic-structure codes.

These produce the training labels of the model: the dipole μ (3,) in e·Å
and the Born charges ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` (N, 3, 3) in e (first
index the dipole component, second the displacement direction), written
into the extended-XYZ convention of :mod:`ase_dipole.io.extxyz` by
:func:`label_frames`.

* :mod:`~ase_dipole.reference.xtb`: GFN2-xTB (tblite), Z* by finite differences.
* :mod:`~ase_dipole.reference.pyscf_dft`: DFT / Hartree–Fock (PySCF), Z* analytic.
* :mod:`~ase_dipole.reference.qe`: periodic insulators, Quantum ESPRESSO
  pw.x + ph.x (DFPT at Γ), Z* and ε∞.
* :mod:`~ase_dipole.reference.parallel`: one (Dask) task per frame, cached
  and resumable (``ase-dipole label``).
"""

from ase_dipole.reference.labelling import label_frames
from ase_dipole.reference.parallel import label_frames_parallel
from ase_dipole.reference.pyscf_dft import dft_born_charges, dft_dipole
from ase_dipole.reference.qe import qe_born_charges
from ase_dipole.reference.xtb import xtb_born_charges, xtb_dipole

__all__ = ["dft_born_charges", "dft_dipole", "label_frames", "label_frames_parallel",
           "qe_born_charges", "xtb_born_charges", "xtb_dipole"]
