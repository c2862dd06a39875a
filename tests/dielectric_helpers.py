"""Periodic MD logs for the dielectric tests: rocksalt NaCl on its VASP
(PBE) harmonic potential energy surface.

The force constants come from phonopy's real NaCl FORCE_SETS (2×2×2
conventional supercell, 64 atoms) and the Born charges and ε∞ from its BORN
file (tests/data/phonopy_NaCl). Each trajectory starts from an exact
canonical sample of the harmonic crystal (normal-mode coordinates q_ν ~
N(0, k_BT/ω_ν²), velocities ~ N(0, k_BT), no centre-of-mass motion) and runs
NVE (velocity Verlet), logging Ṗ = Σ_i Z*_i v_i and μ = Σ_i Z*_i x_i
with :class:`ase_dipole.dynamics.dipole_log.DipoleLogWriter`.

For this system the ionic susceptibility is known exactly: only the Γ TO
modes carry a dipole, and χ_ab = Σ_ν Z̃_νa Z̃_νb / (V ε0 ω_ν²)
(docs/conventions.md, "The harmonic limit"), independent of temperature.
"""

import functools
import os

import numpy as np
from ase import units
from phonopy.harmonic.force_constants import compact_fc_to_full_fc

from ase_dipole.dynamics.dipole_log import DipoleLogWriter
from ase_dipole.io.phonopy_born import read_phonopy_born
from ase_dipole.spectra.harmonic import _to_ase_atoms, load_phonopy

DATA = os.path.join(os.path.dirname(__file__), "data", "phonopy_NaCl")
BORN = os.path.join(DATA, "BORN")
POSCAR = os.path.join(DATA, "POSCAR-unitcell")


@functools.lru_cache(maxsize=None)
def nacl_supercell():
    """(atoms, Φ (3N, 3N) eV/Å², Z* (N, 3, 3) e with the acoustic sum rule,
    ε∞ (3, 3), exact χ (3, 3))."""
    phonon = load_phonopy(os.path.join(DATA, "phonopy_disp.yaml"),
                          force_sets=os.path.join(DATA, "FORCE_SETS"))
    atoms = _to_ase_atoms(phonon.supercell)
    n_atoms = len(atoms)
    full = compact_fc_to_full_fc(phonon.primitive, phonon.force_constants)
    matrix = full.transpose(0, 2, 1, 3).reshape(3 * n_atoms, 3 * n_atoms)
    matrix = 0.5 * (matrix + matrix.T)
    unit = read_phonopy_born(BORN, POSCAR)
    charges = dict(zip(unit.get_chemical_symbols(), unit.arrays["born_charges"].reshape(-1, 3, 3)))
    born = np.array([charges[s] for s in atoms.get_chemical_symbols()])
    born -= born.mean(axis=0)
    epsilon_inf = np.array(unit.info["epsilon"], dtype=float)

    masses = atoms.get_masses()
    omega2, modes = _modes(matrix, masses)
    optical = omega2 > 1e-6 * omega2.max()
    weighted = modes[:, optical] / np.sqrt(np.repeat(masses, 3))[:, None]  # Å per √amu·Å
    mode_charges = np.einsum("iab,ibn->na", born, weighted.reshape(n_atoms, 3, -1))  # e/√amu
    omega2_si = omega2[optical] * units._e / (1e-20 * units._amu)  # (rad/s)²
    chi = np.einsum("na,nb,n->ab", mode_charges, mode_charges, 1.0 / omega2_si)
    chi *= units._e**2 / units._amu / (atoms.get_volume() * 1e-30 * units._eps0)
    return atoms, matrix, born, epsilon_inf, chi


def _modes(matrix, masses):
    inverse_sqrt = np.repeat(masses, 3) ** -0.5
    omega2, vectors = np.linalg.eigh(inverse_sqrt[:, None] * matrix * inverse_sqrt[None, :])
    return omega2, vectors  # eV/(Å² amu), columns unit mass-weighted modes


def nacl_logs(directory, *, n_trajectories=8, temperature_K=300.0, n_steps=2000,
              timestep_fs=8.0, seed=7):
    """NVE trajectories of the harmonic NaCl supercell, one log per trajectory.

    Velocity Verlet on the harmonic surface, all trajectories advanced
    together (one (3N, 3N) × (3N, n_trajectories) product per step); a row
    is logged at every step. 8 fs is 1/17 of the shortest period (≈ 250
    cm⁻¹): the Verlet frequency error is (ωΔt)²/24 < 0.6 %.

    Returns the list of log paths (metadata: periodic, volume_A3,
    temperature_K, timestep_fs, interval, n_atoms, masses_amu).
    """
    atoms0, matrix, born, _, _ = nacl_supercell()
    masses = atoms0.get_masses()
    omega2, modes = _modes(matrix, masses)
    optical = omega2 > 1e-6 * omega2.max()
    kt = units.kB * temperature_K
    rng = np.random.default_rng(seed)
    inverse_sqrt = np.repeat(masses, 3) ** -0.5
    shape = (len(omega2), n_trajectories)
    q = rng.normal(size=shape) * np.sqrt(kt / np.where(optical, omega2, 1.0))[:, None]
    qdot = rng.normal(size=shape) * np.sqrt(kt)  # √amu·Å per ASE time unit
    q[~optical] = qdot[~optical] = 0.0
    u = inverse_sqrt[:, None] * (modes @ q)  # (3N, n_traj) Å
    v = inverse_sqrt[:, None] * (modes @ qdot)  # Å per ASE time unit
    dt = timestep_fs * units.fs
    acceleration = -(matrix @ u) * inverse_sqrt[:, None] ** 2
    x0 = atoms0.positions.ravel()[:, None]
    z = born.transpose(1, 0, 2).reshape(3, -1)  # (3, 3N): μ_α = Σ Z_{iαβ} x_iβ
    pdot = np.empty((n_steps, 3, n_trajectories))
    dipole = np.empty((n_steps, 3, n_trajectories))
    for step in range(n_steps):
        pdot[step] = z @ v * units.fs  # e·Å/fs
        dipole[step] = z @ (x0 + u)
        v += 0.5 * dt * acceleration
        u += dt * v
        acceleration = -(matrix @ u) * inverse_sqrt[:, None] ** 2
        v += 0.5 * dt * acceleration
    metadata = {"timestep_fs": timestep_fs, "interval": 1, "n_atoms": len(atoms0),
                "volume_A3": float(atoms0.get_volume()), "periodic": True,
                "temperature_K": temperature_K, "masses_amu": masses.tolist(),
                "model_sha256": "fixed BORN charges (phonopy NaCl example)"}
    times = timestep_fs * np.arange(n_steps)
    paths = []
    for k in range(n_trajectories):
        path = os.path.join(directory, f"nacl_{k:02d}.log")
        with DipoleLogWriter(path, metadata, overwrite=True) as writer:
            for t, p, m in zip(times, pdot[:, :, k], dipole[:, :, k]):
                writer.write(t, p, m)
        paths.append(path)
    return paths
