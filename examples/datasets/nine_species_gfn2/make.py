"""Nine-species (C, H, N, O, S, P, F, Cl, Br) case: 40 small and medium molecules, GFN2-xTB labels.

Hand-picked neutral closed-shell molecules, each of P, F, Cl, Br and S in
at least eight of them, several with three or more of these; geometries from
RDKit (ETKDG + MMFF94), one frame per molecule (``--conformers 2`` adds
one with a seeded 0.05 Å Gaussian rattle per molecule), labels GFN2-xTB
dipole + Z* by finite differences (see ``examples/datasets/_gfn2_set.py``).
Every 5th molecule (2nd, 7th, ...) is ``test``. Made to show that a
nine-species model fits without running out of memory (issue 23).

Run (resumes from ``--cache-dir``)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 15 \
        python examples/datasets/nine_species_gfn2/make.py
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import _gfn2_set  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MOLECULES = [
    ("fluoromethane", "CF"), ("dichloromethane", "ClCCl"), ("bromomethane", "CBr"),
    ("halothane", "FC(F)(F)C(Cl)Br"), ("bromochlorofluoromethane", "FC(Cl)Br"),
    ("trifluoroacetic acid", "OC(=O)C(F)(F)F"), ("fluorobenzene", "Fc1ccccc1"),
    ("chlorobenzene", "Clc1ccccc1"), ("bromobenzene", "Brc1ccccc1"),
    ("1-bromo-3-chloro-5-fluorobenzene", "Fc1cc(Cl)cc(Br)c1"),
    ("4-fluoroaniline", "Nc1ccc(F)cc1"), ("3-bromopyridine", "Brc1cccnc1"),
    ("2-chloropyrimidine", "Clc1ncccn1"), ("chloroacetamide", "NC(=O)CCl"),
    ("bromoacetic acid", "OC(=O)CBr"), ("2-fluoroethanol", "OCCF"),
    ("trimethyl phosphate", "COP(=O)(OC)OC"), ("dimethyl methylphosphonate", "CP(=O)(OC)OC"),
    ("phosphoric acid", "OP(O)(O)=O"), ("trimethylphosphine", "CP(C)C"),
    ("methylphosphonic acid", "CP(=O)(O)O"), ("trimethyl thiophosphate", "COP(=S)(OC)OC"),
    ("glyphosate", "OC(=O)CNCP(=O)(O)O"), ("O-phosphoserine", "N[C@@H](COP(=O)(O)O)C(=O)O"),
    ("diethyl chlorophosphate", "CCOP(=O)(Cl)OCC"),
    ("4-bromophenyl dimethyl phosphate", "COP(=O)(OC)Oc1ccc(Br)cc1"),
    ("tris(2-chloroethyl) phosphate", "ClCCOP(=O)(OCCCl)OCCCl"),
    ("dimethyl sulfoxide", "CS(C)=O"), ("methanethiol", "CS"), ("thiophene", "c1ccsc1"),
    ("methanesulfonyl chloride", "CS(=O)(=O)Cl"),
    ("triflic acid", "OS(=O)(=O)C(F)(F)F"), ("sulfanilamide", "Nc1ccc(cc1)S(N)(=O)=O"),
    ("4-bromothiophenol", "Sc1ccc(Br)cc1"), ("2-chlorothiophene", "Clc1cccs1"),
    ("4-fluorobenzenesulfonyl chloride", "Fc1ccc(cc1)S(=O)(=O)Cl"),
    ("5-bromo-2-fluoropyridine", "Fc1ccc(Br)cn1"),
    ("2-bromo-4-chlorophenol", "Oc1ccc(Cl)cc1Br"),
    ("S-methyl thioacetate", "CC(=O)SC"), ("dimethyl phosphite", "COP(=O)OC"),
]


def main(argv=None):
    args = _gfn2_set.parse_args(__doc__.split("\n\n")[0], HERE, "nine_species_gfn2", argv)
    _gfn2_set.make(MOLECULES, args,
                   summary_path=os.path.join(HERE, "nine_species_gfn2.summary.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
