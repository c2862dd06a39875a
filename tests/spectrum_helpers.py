"""Real ASE molecular dynamics that write Ṗ logs for the spectrum tests.

Morse molecules (ase.calculators.morse.MorsePotential) carry fixed, random,
asymmetric Born charges Z*_i (acoustic sum rule Σ_i Z*_i = 0 per molecule);
Ṗ = Σ_i Z*_i v_i and μ = Σ_i Z*_i x_i are logged with DipoleLogWriter.
The molecules are far apart and never interact, so MorsePotential gets a
neighbour function returning the fixed intramolecular pairs (same
signature and output as ase.neighborlist.neighbor_list, without rebuilding
a cell list at every step).
"""

import numpy as np
from ase import Atoms, units
from ase.calculators.morse import MorsePotential
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet

from ase_dipole.dynamics.dipole_log import DipoleLogWriter

try:
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # ase < 3.29
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

#: Morse parameters shared by all molecules: well depth (eV), bond length (Å), ρ0
MORSE = {"epsilon": 5.0, "r0": 1.2, "rho0": 2.0}
#: harmonic force constant of the Morse bond, 2 ε ρ0² / r0² (ASE morse.py docstring)
MORSE_K_EV_A2 = 2.0 * MORSE["epsilon"] * MORSE["rho0"] ** 2 / MORSE["r0"] ** 2  # [eV/Å²]
#: spacing of the molecules; each owns a (10 Å)³ cell, beyond the 3.24 Å Morse cutoff
SPACING_A = 10.0


def fixed_pairs(n_molecules, atoms_per_molecule):
    """A neighbour function for MorsePotential listing every ordered pair
    inside each molecule (and none between molecules)."""
    a, b = np.nonzero(~np.eye(atoms_per_molecule, dtype=bool))
    offsets = atoms_per_molecule * np.arange(n_molecules)[:, None]
    first = (offsets + a).ravel()
    second = (offsets + b).ravel()

    def neighbours(quantities, atoms, cutoff):
        vectors = atoms.positions[second] - atoms.positions[first]
        return first, second, np.linalg.norm(vectors, axis=1), vectors

    return neighbours


def random_born_charges(n_atoms, seed):
    """(n_atoms, 3, 3) asymmetric Z* in e with Σ_i Z*_i = 0."""
    z = np.random.default_rng(seed).normal(size=(n_atoms, 3, 3))
    return z - z.mean(axis=0)


def _molecule_grid(n_molecules):
    side = int(np.ceil(n_molecules ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return SPACING_A * grid[:n_molecules], SPACING_A * side


def _write_logs(paths, times_fs, pdot, dipole, metadata):
    for index, path in enumerate(paths):
        with DipoleLogWriter(path, metadata) as writer:
            for t, p, m in zip(times_fs, pdot[:, index], dipole[:, index]):
                writer.write(t, p, m)


def langevin_triatomic_logs(directory, *, temperature_K, periodic, seed, n_molecules=100,
                            n_rows=1000, interval=4, timestep_fs=1.0, friction_per_fs=0.2):
    """Canonical (Langevin) MD of ``n_molecules`` Morse triatomics, one log per molecule.

    Strong friction decorrelates the velocities within a few fs, so each row
    (every ``interval`` steps) is close to an independent Maxwellian sample.
    For ``periodic`` the logs say each molecule sits in its own periodic
    (10 Å)³ cell (it does not interact with images beyond the cutoff).

    Returns
    -------
    paths : list of pathlib.Path
    born_charges : (3, 3, 3) Z* of the three atoms, e
    masses_amu : (3,)
    """
    masses = np.array([12.0, 14.0, 16.0])
    born = random_born_charges(3, seed=11)
    triangle = MORSE["r0"] * np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, np.sqrt(0.75), 0.0]])
    origins, box = _molecule_grid(n_molecules)
    atoms = Atoms(
        positions=(origins[:, None, :] + triangle[None]).reshape(-1, 3),
        masses=np.tile(masses, n_molecules),
        cell=[box] * 3,
        pbc=True,
    )
    atoms.calc = MorsePotential(**MORSE, neighbor_list=fixed_pairs(n_molecules, 3))
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K,
                   friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    dyn.run(200)  # equilibrate the bond lengths (relaxation time ~ γ/ω² ≈ 10 fs)
    z_all = np.tile(born, (n_molecules, 1, 1))
    pdot, dipole = [], []

    def record():
        velocities = atoms.get_velocities() * units.fs  # Å/fs
        pdot.append(np.einsum("iab,ib->ia", z_all, velocities).reshape(n_molecules, 3, 3).sum(1))
        dipole.append(np.einsum("iab,ib->ia", z_all, atoms.positions).reshape(n_molecules, 3, 3).sum(1))

    dyn.attach(record, interval=interval)
    dyn.run(interval * (n_rows - 1))
    metadata = {"timestep_fs": timestep_fs, "interval": interval, "n_atoms": 3,
                "volume_A3": SPACING_A**3 if periodic else None, "periodic": periodic,
                "temperature_K": temperature_K, "masses_amu": masses.tolist()}
    paths = [directory / f"molecule{index:03d}.log" for index in range(n_molecules)]
    times = timestep_fs * interval * np.arange(n_rows)
    _write_logs(paths, times, np.array(pdot), np.array(dipole), metadata)
    return paths, born, masses


def harmonic_dimer_logs(directory, *, temperature_K, masses_amu=((12.0, 12.0), (20.0, 20.0), (32.0, 32.0)),
                        n_steps=5000, timestep_fs=0.5):
    """NVE (VelocityVerlet) MD of Morse dimers that only stretch, one log per dimer.

    Each dimer starts at its bond length r0 with a stretching velocity that
    gives it the vibrational energy k_B T, the mean energy of a classical
    harmonic mode, so the time average of q̇² is k_B T without sampling
    noise (up to the Morse anharmonicity, k_B T/ε ≈ 0.5 %).

    Returns
    -------
    paths : list of pathlib.Path, one finite-system log per dimer
    frequencies_cm1 : (n_dimers,) harmonic wavenumbers √(k/μ)/(2πc), cm⁻¹
    mode_charges2 : (n_dimers,) |Z̃_ν|² in e²/amu, Z̃_ν = Σ_i Z*_i e_νi/√m_i
        (docs/conventions.md, "The harmonic limit", e_ν the unit mass-weighted mode)
    """
    masses = np.asarray(masses_amu, dtype=float)
    n_dimers = len(masses)
    directions = np.random.default_rng(5).normal(size=(n_dimers, 3))
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    origins, box = _molecule_grid(n_dimers)
    positions = np.stack([origins, origins + MORSE["r0"] * directions], axis=1).reshape(-1, 3)
    atoms = Atoms(positions=positions, masses=masses.ravel())
    atoms.calc = MorsePotential(**MORSE, neighbor_list=fixed_pairs(n_dimers, 2))
    born = random_born_charges(2 * n_dimers, seed=3).reshape(n_dimers, 2, 3, 3)
    born -= born.mean(axis=1, keepdims=True)

    reduced = masses.prod(axis=1) / masses.sum(axis=1)
    # mass-weighted unit mode: e_1 = √(μ/m_1) b, e_2 = −√(μ/m_2) b
    modes = np.sqrt(reduced[:, None] / masses)[..., None] * np.stack([directions, -directions], axis=1)
    mode_charges = np.einsum("dkab,dkb->da", born, modes / np.sqrt(masses)[..., None])
    # q̇ = √(2 k_B T) along the mode: Cartesian v_i = q̇ e_i / √m_i (ASE units)
    qdot = np.sqrt(2.0 * units.kB * temperature_K)
    atoms.set_velocities((qdot * modes / np.sqrt(masses)[..., None]).reshape(-1, 3))

    born_all = born.reshape(-1, 3, 3)
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    pdot, dipole = [], []

    def record():
        velocities = atoms.get_velocities() * units.fs
        pdot.append(np.einsum("iab,ib->ia", born_all, velocities).reshape(n_dimers, 2, 3).sum(1))
        dipole.append(np.einsum("iab,ib->ia", born_all, atoms.positions).reshape(n_dimers, 2, 3).sum(1))

    dyn.attach(record, interval=1)
    dyn.run(n_steps - 1)
    metadata = {"timestep_fs": timestep_fs, "interval": 1, "n_atoms": 2,
                "volume_A3": None, "periodic": False, "temperature_K": temperature_K}
    paths = [directory / f"dimer{index}.log" for index in range(n_dimers)]
    times = timestep_fs * np.arange(n_steps)
    _write_logs(paths, times, np.array(pdot), np.array(dipole), metadata)
    omega = np.sqrt(MORSE_K_EV_A2 / reduced) * units.fs  # rad/fs
    frequencies = omega * 1e15 / (2.0 * np.pi * units._c * 100.0)
    return paths, frequencies, np.sum(mode_charges**2, axis=1)
