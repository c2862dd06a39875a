"""The α-quartz ε∞ data set of this example, cut from Phonopy-Spectroscopy's 40 OUTCARs.

Each ``OUTCAR.MMMM.00K`` of ``example/a-SiO2/OUTCAR-Files.tar.gz``
(skelton-group/Phonopy-Spectroscopy, MIT; ``data/SOURCE.md``) is a VASP
LEPSILON run at the structure displaced − (K = 1) or + (K = 2) along Γ mode
MMMM. Every frame keeps the geometry and cell, ``info['polarizability']`` =
V(ε∞ − 1)/4π (3, 3) Å³ (:func:`ase_dipole.io.polarizability.read_vasp_polarizability`),
``info['epsilon']``, ``info['mode']``, ``info['sign']`` (−1 or +1) and
``info['source']``; written to ``data/vasp_polarizability_displaced.extxyz.gz``.

    python make_data.py OUTCAR-Files.tar.gz
"""

import gzip
import os
import re
import sys
import tarfile
import tempfile
import warnings

import ase.io
from ase import Atoms

from ase_dipole.atomic import atomic_write
from ase_dipole.io.polarizability import read_vasp_polarizability

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "data", "vasp_polarizability_displaced.extxyz.gz")


def read_archive(archive):
    """The 40 frames, sorted by mode then sign."""
    frames = []
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        for root, _, names in os.walk(folder):
            for name in names:
                match = re.fullmatch(r"OUTCAR\.(\d{4})\.00([12])", name)
                if not match:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    full = read_vasp_polarizability(os.path.join(root, name))
                atoms = Atoms(full.get_chemical_symbols(), positions=full.positions, cell=full.cell, pbc=True)
                atoms.info.update(polarizability=full.info["polarizability"], epsilon=full.info["epsilon"],
                                  mode=int(match[1]), sign=-1 if match[2] == "1" else 1, source=name)
                frames.append(atoms)
    frames.sort(key=lambda a: (a.info["mode"], a.info["sign"]))
    return frames


def main(archive):
    frames = read_archive(archive)
    with atomic_write(OUTPUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        text = tempfile.SpooledTemporaryFile(mode="w+")
        ase.io.write(text, frames, format="extxyz")
        text.seek(0)
        handle.write(text.read().encode())
    print(f"{len(frames)} frames, modes {sorted({a.info['mode'] for a in frames})} -> {OUTPUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[-1].strip())
    main(sys.argv[1])
