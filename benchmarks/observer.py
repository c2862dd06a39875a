"""Cost of the Ṗ observer per MD step on the 192-atom water box.

Prints the median wall time of one :class:`ase_dipole.dynamics.observer.DipoleObserver`
call (``model.predict_pdot`` plus the flushed log row) with a
:class:`~ase_dipole.learning.model.PolarizationModel` fitted on three frames of real
VASP Born charges of water (tests/data/les_bec_superionic) and with a
:class:`~ase_dipole.learning.fixed_charges.FixedChargesModel`, next to the wall time
of one VelocityVerlet step with ``ase.calculators.lj.LennardJones`` (a
cheap force field, for scale: an MLFF step costs 10–100× more).

Run from the repository root: ``python benchmarks/observer.py``.
"""

import os
import sys
import tempfile
import time

import ase.io
import numpy as np
from ase import units
from ase.calculators.lj import LennardJones
from ase.md.verlet import VelocityVerlet
from common import median_time, water_box

from ase_dipole.io.extxyz import set_born_charges
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.learning.model import PolarizationModel
from ase_dipole.dynamics.observer import DipoleObserver

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINING = os.path.join(REPOSITORY, "tests", "data", "les_bec_superionic",
                        "S-2cc-T2000K-BEC_first3.xyz")


def fitted_model():
    """PolarizationModel fitted to the Born charges of three frames of
    162-atom superionic water (VASP, LES-BEC)."""
    frames = ase.io.read(TRAINING, index=":")
    for frame in frames:
        set_born_charges(frame, frame.arrays.pop("BEC").reshape(-1, 3, 3))
        frame.calc = None
    return PolarizationModel(regularization=1e-4).fit(frames, targets="born", progress=False)


def main():
    atoms = water_box()
    rng = np.random.default_rng(0)
    atoms.set_velocities(rng.normal(scale=0.01, size=(len(atoms), 3)) / units.fs)
    start = time.perf_counter()
    polarization = fitted_model()
    print(f"PolarizationModel fit on 3 frames: {time.perf_counter() - start:.1f} s "
          f"(cutoff {polarization.parameters['cutoff']} Å)", file=sys.stderr)
    born = np.repeat(np.array([-0.9, 0.45, 0.45])[None], 64, axis=0).reshape(-1)
    fixed = FixedChargesModel(born[:, None, None] * np.eye(3), reference_positions=atoms.positions,
                              symbols=atoms.get_chemical_symbols())

    # the random box is far from equilibrium for LJ (which also acts on H):
    # step a copy, so the observer timings see finite velocities
    moving = atoms.copy()
    moving.calc = LennardJones(sigma=3.15, epsilon=0.0067, rc=5.5)
    dyn = VelocityVerlet(moving, 0.01 * units.fs)
    t_step = median_time(lambda: dyn.run(1), 20)

    print(f"{'192-atom water box':<34} {'wall time / call':>16}")
    with tempfile.TemporaryDirectory() as scratch:
        for name, model in (("PolarizationModel", polarization), ("FixedChargesModel", fixed)):
            observer = DipoleObserver(atoms, model, os.path.join(scratch, f"{name}.log"),
                                      timestep_fs=0.5)
            t_observer = median_time(observer, 20)
            observer.close()
            t_pdot_only = median_time(
                lambda m=model: m.predict_pdot(atoms, atoms.get_velocities() * units.fs), 20)
            print(f"observer, {name:<24} {t_observer * 1e3:13.2f} ms "
                  f"(predict_pdot {t_pdot_only * 1e3:.2f} ms)")
        t_born = median_time(lambda: polarization.predict(atoms), 5)
        print(f"{'full Z* (PolarizationModel)':<34} {t_born * 1e3:13.2f} ms")
    print(f"{'VelocityVerlet step, LennardJones':<34} {t_step * 1e3:13.2f} ms")


if __name__ == "__main__":
    main()
