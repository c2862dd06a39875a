"""Five-species (C, H, N, O, S) size test: 60 peptides of 25–60 atoms, GFN2-xTB labels.

Glutathione (γ-Glu-Cys-Gly) and 59 neutral (non-zwitterionic) linear
tripeptides X-Cys-Y or X-Met-Y, X and Y drawn (seeded) from 18 standard
residues (all but Pro and Arg),
kept when the molecule has 25–60 atoms and is new. Geometries from RDKit
(ETKDG + MMFF94), labels GFN2-xTB dipole + Z* by finite differences (see
``examples/datasets/_gfn2_set.py``). Every 5th molecule (2nd, 7th, ...) is
``test``. Made to show that a five-species model fits in bounded memory and
time (issue 23), not as an accuracy benchmark.

Run (resumes from ``--cache-dir``)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 \
        python examples/datasets/peptides_gfn2/make.py
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _gfn2_set  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
#: one-letter code → SMILES of the residue "N[C@@H](side chain)C(=O)" (Gly: no side chain)
RESIDUES = {
    "G": "NCC(=O)", "A": "N[C@@H](C)C(=O)", "S": "N[C@@H](CO)C(=O)", "C": "N[C@@H](CS)C(=O)",
    "M": "N[C@@H](CCSC)C(=O)", "V": "N[C@@H](C(C)C)C(=O)", "T": "N[C@@H]([C@@H](C)O)C(=O)",
    "L": "N[C@@H](CC(C)C)C(=O)", "I": "N[C@@H]([C@@H](C)CC)C(=O)", "N": "N[C@@H](CC(N)=O)C(=O)",
    "Q": "N[C@@H](CCC(N)=O)C(=O)", "D": "N[C@@H](CC(=O)O)C(=O)", "E": "N[C@@H](CCC(=O)O)C(=O)",
    "F": "N[C@@H](Cc1ccccc1)C(=O)", "Y": "N[C@@H](Cc1ccc(O)cc1)C(=O)",
    "H": "N[C@@H](Cc1c[nH]cn1)C(=O)", "K": "N[C@@H](CCCCN)C(=O)", "W": "N[C@@H](Cc1c[nH]c2ccccc12)C(=O)",
}
GLUTATHIONE = "N[C@@H](CCC(=O)N[C@@H](CS)C(=O)NCC(=O)O)C(=O)O"
N_MOLECULES = 60
ATOMS_RANGE = (25, 60)


def n_atoms(smiles):
    from rdkit import Chem

    return Chem.AddHs(Chem.MolFromSmiles(smiles)).GetNumAtoms()


def molecules(seed):
    """[(name, SMILES)]: glutathione and 59 tripeptides with Cys or Met in the middle."""
    rng = np.random.default_rng(seed)
    chosen = [("glutathione", GLUTATHIONE)]
    codes = sorted(RESIDUES)
    while len(chosen) < N_MOLECULES:
        name = "".join([rng.choice(codes), rng.choice(["C", "M"]), rng.choice(codes)])
        smiles = "".join(RESIDUES[c] for c in name) + "O"
        if name in dict(chosen) or not ATOMS_RANGE[0] <= n_atoms(smiles) <= ATOMS_RANGE[1]:
            continue
        chosen.append((name, smiles))
    return chosen


def main(argv=None):
    args = _gfn2_set.parse_args(__doc__.split("\n\n")[0], HERE, "peptides_gfn2", argv)
    _gfn2_set.make(molecules(args.seed), args,
                   summary_path=os.path.join(HERE, "peptides_gfn2.summary.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
