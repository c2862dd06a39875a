"""Force error and CPU cost of the RPBE-D3 MACE water model on held-out frames.

Evaluates the MACE model (``mace:PATH`` of :func:`ase_dipole.dynamics.md.make_force_calculator`)
on the 50 RPBE-D3 frames held out of its training set (64 H2O, 12.429 Å, the
paper's box) and prints the force RMSE against RPBE-D3 (all components, per
element), the energy error per atom, and the CPU time of one force call — one
MD step's worth of force field — with the torch thread count.

Usage (in an environment with ``pip install ase-dipole[mace]``)::

    OMP_NUM_THREADS=1 python examples/liquid_water/mace_force_check.py \\
        --model PATH/mace_rpbe_d3_water.model --frames PATH/test-H2O_RPBE-D3.xyz

Both files come from ChengUCB/les_fit (CC BY-NC 4.0, see README.md here);
the defaults are the project's copies. ``-o FILE.json`` also writes the
figures with their provenance.
"""

import argparse
import json
import os
import platform
import time

import ase.io
import numpy as np

from ase_dipole.atomic import write_text_atomic
from ase_dipole.dynamics.md import make_force_calculator
from ase_dipole.provenance import provenance

SHARED = "/work/shared/data/paper_liquid_water"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default=os.path.join(SHARED, "mace_rpbe_d3_water.model"),
                        help="MACE model file")
    parser.add_argument("--frames", default=os.path.join(SHARED, "test-H2O_RPBE-D3.xyz"),
                        help="held-out frames with RPBE-D3 energies and forces (extxyz)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="floating-point type of the evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("-n", "--n-frames", type=int, default=None, help="first N frames only")
    parser.add_argument("-o", "--output", help="JSON file for the figures")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    frames = ase.io.read(args.frames, index=":" if args.n_frames is None else f":{args.n_frames}")
    calculator = make_force_calculator(f"mace:{args.model}?dtype={args.dtype}")
    errors, energy_errors, symbols, seconds = [], [], [], []
    for frame in frames:
        reference_forces = frame.get_forces().copy()  # eV/Å
        reference_energy = frame.get_potential_energy()  # eV
        frame.calc = calculator
        start = time.process_time()
        forces = frame.get_forces()
        seconds.append(time.process_time() - start)
        errors.append(forces - reference_forces)
        energy_errors.append(frame.get_potential_energy() - reference_energy)
        symbols.extend(frame.get_chemical_symbols())
    errors = np.concatenate(errors)  # (n_atoms_total, 3), eV/Å
    symbols = np.array(symbols)
    energy_errors = np.array(energy_errors) / len(frames[0])  # eV/atom
    rmse = {"all": float(np.sqrt(np.mean(errors ** 2)))}
    for symbol in sorted(set(symbols)):
        rmse[symbol] = float(np.sqrt(np.mean(errors[symbols == symbol] ** 2)))
    # the first call builds the model's state; the per-step cost is the median of the others
    per_step = float(np.median(seconds[1:] if len(seconds) > 1 else seconds))
    energy_offset = float(np.mean(energy_errors))
    result = dict(
        model=os.path.abspath(args.model), frames=os.path.abspath(args.frames),
        n_frames=len(frames), n_atoms=len(frames[0]), dtype=args.dtype,
        torch_threads=torch.get_num_threads(),
        force_rmse_meV_per_A={key: 1000 * value for key, value in rmse.items()},
        energy_offset_meV_per_atom=1000 * energy_offset,
        energy_rmse_after_offset_meV_per_atom=1000 * float(np.std(energy_errors)),
        cpu_s_per_force_call=per_step, load_average=list(os.getloadavg()),
        torch=torch.__version__, machine=platform.processor() or platform.machine(),
    )
    print(f"{len(frames)} held-out frames x {len(frames[0])} atoms, {args.dtype}, "
          f"{result['torch_threads']} torch thread(s)")
    print("force RMSE vs RPBE-D3: " + ", ".join(
        f"{key} {value:.1f}" for key, value in result["force_rmse_meV_per_A"].items()) + " meV/Å")
    print(f"energy: mean offset {result['energy_offset_meV_per_atom']:.2f} meV/atom, "
          f"RMSE after it {result['energy_rmse_after_offset_meV_per_atom']:.2f} meV/atom")
    print(f"CPU time per force call (one MD step): {per_step:.3f} s on {result['torch_threads']} "
          f"thread(s) (median of {max(len(seconds) - 1, 1)}; load average "
          f"{result['load_average'][0]:.1f})")
    if args.output:
        result["provenance"] = provenance(inputs=[args.model, args.frames])
        write_text_atomic(args.output, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
