"""Raman activities of α-quartz from the 40 VASP ε∞ OUTCARs of Phonopy-Spectroscopy.

Each OUTCAR.MMMM.00K holds ε∞ at the structure displaced − (K = 1) or + (K = 2)
along Γ mode MMMM; α = V(ε∞ − 1)/4π (docs/raman.md) and
R = (α₊ − α₋)/|√m (x₊ − x₋)| give each mode's Raman tensor, its activity
45ā² + 7γ² (Å⁴/amu) and depolarization ratio, printed beside upstream's own
peak table (degenerate E pairs summed there).

    python quartz_vasp_raman.py [OUTCAR-Files.tar.gz | vasp_polarizability_displaced.extxyz.gz]

Default input: ``data/vasp_polarizability_displaced.extxyz.gz``, the α of the
40 OUTCARs cut by ``make_data.py`` (MIT, ``data/SOURCE.md``); upstream's
``example/a-SiO2/OUTCAR-Files.tar.gz`` itself is read as well.
"""

import os
import re
import sys
import tarfile
import tempfile
import warnings

import numpy as np

from ase_dipole.io.polarizability import read_vasp_polarizability
from ase_dipole.spectra.raman import depolarization_ratios, raman_invariants, raman_tensor_from_mode_displacement

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "vasp_polarizability_displaced.extxyz.gz")
REFERENCE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "vasp_outcar",
                         "aSiO2_peak_table_README.txt")


def read_frames(archive):
    """{(mode, K): frame with info['polarizability']}, K = 1 (−) or 2 (+)."""
    if not archive.endswith((".tar.gz", ".tgz")):
        import ase.io

        return {(int(a.info["mode"]), 1 if a.info["sign"] < 0 else 2): a
                for a in ase.io.read(archive, index=":")}
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        frames = {}
        for root, _, names in os.walk(folder):
            for name in names:
                match = re.fullmatch(r"OUTCAR\.(\d{4})\.00([12])", name)
                if match:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        frames[(int(match[1]), int(match[2]))] = read_vasp_polarizability(os.path.join(root, name))
        return frames


def main(archive=DEFAULT):
    frames = read_frames(archive)
    modes = sorted({mode for mode, _ in frames})
    tensors = np.stack([raman_tensor_from_mode_displacement(frames[(mode, 1)], frames[(mode, 2)])
                        for mode in modes])
    mean_square, anisotropy_square = raman_invariants(tensors)
    activity = 45 * mean_square + 7 * anisotropy_square
    rho = depolarization_ratios(tensors)
    print(f"# {len(frames)} OUTCARs, {len(modes)} modes")
    print("# mode  activity_A4/amu  depolarization")
    for mode, a, r in zip(modes, activity, rho):
        print(f"{mode:6d} {a:16.4f} {r:15.3f}")
    if os.path.isfile(REFERENCE):
        print("# upstream peak table (Raman-active rows): frequency_cm1 irrep activity depolarization")
        with open(REFERENCE) as handle:
            for line in handle:
                parts = line.split()
                if line.startswith("#") or parts[3] == "Inactive":
                    continue
                print(f"#   {parts[0]:>8} {parts[1]:3} {parts[3]:>8} {parts[5]:>6}")


if __name__ == "__main__":
    main(*sys.argv[1:])
