"""Shared fixtures of the calculator / observer / MD tests: a GFN2-xTB water
molecule (tblite), its Born charges by finite differences of the GFN2-xTB
dipole, and harmonic modes from ase.vibrations."""

import functools

import numpy as np
from ase import units
from ase.build import molecule
from ase.optimize import BFGS

from ase_dipole.learning.fixed_charges import FixedChargesModel

#: displacement of the finite-difference Born charges, Å: balances the SCF
#: noise of the GFN2-xTB dipole against the O(δ²) error (the acoustic sum
#: rule then holds to 1e-5 e)
FD_STEP_A = 3e-3


def gfn2_xtb():
    """Factory of a GFN2-xTB calculator (used as 'md_helpers:gfn2_xtb').

    SCF converged 100x tighter than tblite's default: with the default, a
    20 K NVE run of water loses ~10 % of its vibrational energy in 2 ps.
    """
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", accuracy=0.01, verbosity=0)


def gfn2_xtb_stateless():
    """Factory of a GFN2-xTB calculator whose SCF starts from the same guess
    at every step (used as 'md_helpers:gfn2_xtb_stateless').

    tblite starts each SCF from the previous step's wavefunction, so a run
    resumed from a checkpoint (fresh calculator) agrees with an uninterrupted
    one only to the SCF tolerance; without that memory the forces depend on
    the positions alone and the two runs are bitwise equal.
    """
    from tblite.ase import TBLite

    class StatelessTBLite(TBLite):
        def calculate(self, *args, **kwargs):
            self._res = None
            super().calculate(*args, **kwargs)

    return StatelessTBLite(method="GFN2-xTB", accuracy=0.01, verbosity=0)


def one_thread():
    """Hold BLAS and OpenMP (tblite) to one thread, as on a Dask worker.

    The tests set ``OMP_NUM_THREADS=1``, but numba's threading layer resets
    the OpenMP count when it starts; tblite on two OpenMP threads sums in an
    order that changes between runs, in the last digits of the logs.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def dipole_finite_difference(atoms, dipole_of, *, step_A=FD_STEP_A):
    """Z[i, α, β] = (μ_α(x + δ e_iβ) − μ_α(x − δ e_iβ)) / 2δ, (N, 3, 3), e.

    ``dipole_of(atoms)`` returns μ (3,) e·Å; ``atoms`` is restored.
    """
    born = np.empty((len(atoms), 3, 3))
    reference = atoms.get_positions()
    for i in range(len(atoms)):
        for beta in range(3):
            dipoles = []
            for sign in (1.0, -1.0):
                displaced = reference.copy()
                displaced[i, beta] += sign * step_A
                atoms.set_positions(displaced)
                dipoles.append(np.asarray(dipole_of(atoms), dtype=float))
            born[i, :, beta] = (dipoles[0] - dipoles[1]) / (2.0 * step_A)
    atoms.set_positions(reference)
    return born


@functools.lru_cache(maxsize=None)
def _relaxed_water():
    atoms = molecule("H2O")
    atoms.calc = gfn2_xtb()
    BFGS(atoms, logfile=None).run(fmax=1e-5, steps=200)
    born = dipole_finite_difference(atoms, lambda a: a.get_dipole_moment())
    dipole = atoms.get_dipole_moment()
    atoms.calc = None
    return atoms, born, dipole


def relaxed_water():
    """GFN2-xTB minimum of H2O (a copy, no calculator), its GFN2-xTB Born
    charges (3, 3, 3) e and dipole (3,) e·Å."""
    atoms, born, dipole = _relaxed_water()
    return atoms.copy(), born.copy(), dipole.copy()


def water_model():
    """FixedChargesModel of GFN2-xTB water at its minimum, and the atoms."""
    atoms, born, dipole = relaxed_water()
    model = FixedChargesModel(born, reference_positions=atoms.positions, reference_dipole=dipole,
                              symbols=atoms.get_chemical_symbols())
    return model, atoms


def harmonic_modes(hessian_2d, masses_amu):
    """Normal modes of a (3N, 3N) Hessian in eV/Å².

    Returns
    -------
    wavenumbers_cm1 : (3N,) float, cm⁻¹ (negative for imaginary)
    modes : (3N, 3N) float, rows are unit mass-weighted eigenvectors e_ν
    """
    inverse_sqrt_mass = np.repeat(np.asarray(masses_amu) ** -0.5, 3)
    eigenvalues, vectors = np.linalg.eigh(
        inverse_sqrt_mass[:, None] * hessian_2d * inverse_sqrt_mass[None, :]
    )
    # eV/(Å² amu) -> (rad/s)²
    omega2 = eigenvalues * units._e / (1e-20 * units._amu)
    omega = np.sign(omega2) * np.sqrt(np.abs(omega2))
    return omega / (2.0 * np.pi * units._c * 100.0), vectors.T.copy()


def mode_charges(born_charges, modes, masses_amu):
    """Z̃_{ν,α} = Σ_{iβ} Z*_{i,αβ} e_{ν,iβ}/√m_i, (M, 3), e/√amu."""
    n_atoms = len(masses_amu)
    weighted = modes.reshape(len(modes), n_atoms, 3) / np.sqrt(np.asarray(masses_amu))[None, :, None]
    return np.einsum("iab,nib->na", born_charges, weighted)


def log_text_of_the_run(path):
    """A dipole log's or NVE record's text without the date and the command
    line its header records (which differ between runs of the same MD)."""
    import json

    lines = []
    with open(path) as handle:
        for line in handle:
            if line.startswith("# metadata: "):
                metadata = json.loads(line[len("# metadata: "):])
                metadata.pop("date", None)
                metadata.pop("command", None)
                line = "# metadata: " + json.dumps(metadata, sort_keys=True) + "\n"
            lines.append(line)
    return "".join(lines)
