"""300 K CHGNet NVE trajectories of the α-quartz 2×2×2 supercell logging α̇ and Ṗ.

``run_ir_md`` (the protocol of ``ase-dipole md``) with CHGNet forces
(``../quartz/chgnet_factory.py``), the VASP equilibrium Born charges held
fixed for Ṗ (``FixedChargesModel``), and ``polarizability_model=`` the
first-order α(R) of the fitted model (``linear_polarizability.py``) about
the CHGNet-relaxed supercell: every NVE run writes ``traj_NNN.log`` (Ṗ) and
``traj_NNN.alog`` (α̇, α) into ``work/md``. Checkpointed: rerunning the same
command resumes a killed run.

    PYTHONPATH=../..:../quartz python md_raman.py [--production-steps 1500] ...
"""

import argparse
import os
import sys

import ase.io

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--n-trajectories", type=int, default=3)
    parser.add_argument("--equilibration-steps", type=int, default=400)
    parser.add_argument("--decorrelation-steps", type=int, default=200)
    parser.add_argument("--production-steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--outdir", default=os.path.join(HERE, "work", "md"))
    args = parser.parse_args(argv)

    from ase_dipole.dynamics.md import run_ir_md
    from ase_dipole.learning.fixed_charges import FixedChargesModel
    from ase_dipole.learning.polarizability import PolarizabilityModel
    from linear_polarizability import LinearPolarizability

    start = ase.io.read(os.path.join(HERE, "work", "md_start_2x2x2.extxyz"))
    dipole = FixedChargesModel.from_atoms(start)
    alpha = LinearPolarizability(PolarizabilityModel.load(os.path.join(HERE, "work", "quartz_alpha.npz")), start)
    run_ir_md(start, "chgnet_factory:make_calculator", dipole, args.outdir,
              temperature_K=args.temperature_K, timestep_fs=args.timestep_fs,
              n_trajectories=args.n_trajectories, equilibration_steps=args.equilibration_steps,
              decorrelation_steps=args.decorrelation_steps, production_steps=args.production_steps,
              interval=1, seed=args.seed, polarizability_model=alpha, progress=None,
              command="python md_raman.py " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
