"""How converged are the QE Born charges of α-quartz, and how close to VASP?

Runs :func:`ase_dipole.reference.qe.qe_born_charges` on the equilibrium
9-atom cell of ``data/POSCAR-vasp`` (the structure of the VASP reference,
symmetric, so every run is cheap) for the settings named on the command line
(``ECUTWFC:ECUTRHO:K:SHIFT:XC``, e.g. ``30:240:2:001:pbe`` for a 2×2×2 grid
shifted along c only; XC ``pbe`` uses
Si.pbe-rrkj.UPF + O.pbe-rrkjus.UPF, ``lda`` Si.pz-vbc.UPF + O.pz-rrkjus.UPF)
and compares each with the VASP BORN file of the same structure
(``data/BORN-vasp``: VASP 5.4.1, LDA PAW, 520 eV, 6×6×6 k) and with the first
setting. Results are appended to ``results/qe_convergence.json``.
"""

import json
import os
import sys
import time

import ase.io
import numpy as np

from ase_dipole.io import read_born_charges
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.reference.qe import qe_born_charges

HERE = os.path.dirname(os.path.abspath(__file__))
PSEUDOPOTENTIALS = {"pbe": {"Si": "Si.pbe-rrkj.UPF", "O": "O.pbe-rrkjus.UPF"},
                    "lda": {"Si": "Si.pz-vbc.UPF", "O": "O.pz-rrkjus.UPF"}}


def main(settings):
    cell = ase.io.read(os.path.join(HERE, "data", "POSCAR-vasp"))
    vasp = get_born_charges(read_born_charges(os.path.join(HERE, "data", "BORN-vasp"),
                                              structure=os.path.join(HERE, "data", "POSCAR-vasp"))[0])
    out_path = os.path.join(HERE, "results", "qe_convergence.json")
    results = json.load(open(out_path)) if os.path.exists(out_path) else []
    done = {r["setting"] for r in results}
    for setting in settings:
        if setting in done:
            continue
        ecut, ecutrho, k, shift, xc = setting.split(":")
        start = time.perf_counter()
        born, epsilon, details = qe_born_charges(
            cell, pseudopotentials=PSEUDOPOTENTIALS[xc], ecutwfc_Ry=float(ecut),
            ecutrho_Ry=float(ecutrho), kpts=(int(k),) * 3, kpoint_shift=tuple(int(c) for c in shift),
            keep_outputs=os.path.join(HERE, "work", "convergence", setting.replace(":", "_")))
        results.append({"setting": setting, "wall_s": time.perf_counter() - start,
                        "born_charges": born.tolist(), "epsilon": epsilon.tolist(),
                        "rmse_vs_vasp_e": float(np.sqrt(np.mean((born - vasp) ** 2))),
                        "max_abs_vs_vasp_e": float(np.abs(born - vasp).max()), **details})
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        with open(out_path + ".tmp", "w") as out:
            json.dump(results, out, indent=1)
        os.replace(out_path + ".tmp", out_path)
        print(setting, {k: v for k, v in results[-1].items() if k not in ("born_charges", "epsilon")},
              flush=True)
    first = np.array(results[0]["born_charges"])
    for r in results:
        born = np.array(r["born_charges"])
        print(f"{r['setting']:>20}: Z*(Si)xx {born[0, 0, 0]:+.4f}  Z*(O)xx {born[3, 0, 0]:+.4f}  "
              f"eps_xx {r['epsilon'][0][0]:.4f}  RMSE vs VASP {r['rmse_vs_vasp_e']:.4f} e  "
              f"max |vs {results[0]['setting']}| {np.abs(born - first).max():.4f} e  "
              f"ASR {r['acoustic_sum_rule_violation_e']:.4f} e  cpu {r['pw_cpu_s'] + r['ph_cpu_s']:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
