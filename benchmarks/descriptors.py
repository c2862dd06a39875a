"""Descriptor timings on a 192-atom water box and its 2×2×2 replica.

Prints the median wall time of: features only; features + full (species-
summed) gradients; μ + all Z* by the adjoint route; Ṗ only; and an
``ase.calculators.lj.LennardJones`` force call on the same box for scale.
Targets (2 cores): μ + all Z* ≤ 12 ms (192 atoms) and ≤ 0.1 s (1536 atoms).
"""


import numpy as np
from ase.calculators.lj import LennardJones
from common import median_time, water_box

from ase_dipole.descriptors.lambda_soap import LambdaSOAP


def main():
    import numba

    descriptor = LambdaSOAP(["H", "O"], cutoff=5.5, n_max=8, l_max=4)
    rng = np.random.default_rng(0)
    coefficients = rng.normal(size=(2, descriptor.n_features))
    print(f"numba threads: {numba.get_num_threads()}, features per atom: {descriptor.n_features}")
    print(f"{'atoms':>6} {'features':>10} {'+gradients':>11} {'mu+Z*':>9} {'Pdot':>9} {'LJ forces':>10} {'(mu+Z*)/LJ':>11}")
    for replica in (1, 2):
        atoms = water_box() * (replica, replica, replica)
        velocities = rng.normal(scale=0.01, size=(len(atoms), 3))
        repeats = 10 if replica == 1 else 3
        t_features = median_time(lambda: descriptor.features(atoms), repeats)
        t_gradients = median_time(lambda: (descriptor.features(atoms), descriptor.summed_gradients(atoms)),
                                  max(1, repeats // 3))
        t_born = median_time(lambda: descriptor.dipole_and_born_charges(atoms, coefficients), repeats)
        t_pdot = median_time(lambda: descriptor.dipole_and_pdot(atoms, coefficients, velocities), repeats)
        lj = LennardJones(sigma=3.15, epsilon=0.0067, rc=5.5)

        def lj_forces():
            lj.reset()
            lj.get_forces(atoms)

        t_lj = median_time(lj_forces, repeats)
        print(f"{len(atoms):6d} {t_features * 1e3:8.1f}ms {t_gradients * 1e3:9.1f}ms "
              f"{t_born * 1e3:7.1f}ms {t_pdot * 1e3:7.1f}ms {t_lj * 1e3:8.1f}ms {t_born / t_lj:11.2f}")


if __name__ == "__main__":
    main()
