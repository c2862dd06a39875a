"""A periodic box of water molecules at a given density.

Molecules (O, H, H in that order) sit on a simple-cubic lattice with a small
random displacement and a random orientation; orientations are redrawn until
no two atoms of different molecules are closer than ``min_contact_A``, so
the box can be minimised and heated without a blow-up.
"""

import numpy as np
from ase import Atoms, units
from ase.geometry import get_distances
from scipy.spatial.transform import Rotation

from spcfw_openmm import SPCFW_ANGLE_THETA0_DEG, SPCFW_BOND_R0_A

#: mass of one H2O, amu (ASE's standard atomic weights)
H2O_MASS_AMU = Atoms("H2O").get_masses().sum()  # [amu]
#: kg per amu and m³ per Å³
AMU_KG = units._amu  # [kg / amu]
A3_M3 = 1e-30  # [m³ / Å³]


def box_edge_A(n_molecules, density_kg_m3):
    """Edge (Å) of the cubic box holding ``n_molecules`` H2O at ``density_kg_m3``."""
    return (n_molecules * H2O_MASS_AMU * AMU_KG / density_kg_m3 / A3_M3) ** (1.0 / 3.0)


def _molecule_template():
    """O at the origin, H atoms in the xy plane at the SPC/Fw geometry, (3, 3) Å."""
    half = np.deg2rad(SPCFW_ANGLE_THETA0_DEG) / 2
    r = SPCFW_BOND_R0_A
    return np.array([[0.0, 0.0, 0.0],
                     [r * np.sin(half), r * np.cos(half), 0.0],
                     [-r * np.sin(half), r * np.cos(half), 0.0]])


def build_water_box(n_molecules=64, *, density_kg_m3=997.0, min_oo_A=2.5, min_contact_A=1.5,
                    jitter_A=0.2, seed=0, max_redraws=200):
    """Cubic periodic box of ``n_molecules`` water molecules.

    Parameters
    ----------
    n_molecules : int
        Number of H2O.
    density_kg_m3 : float, keyword-only
        Mass density, kg/m³ (997 = liquid water at 25 °C).
    min_oo_A : float, keyword-only
        Smallest allowed O–O distance, Å.
    min_contact_A : float, keyword-only
        Smallest allowed distance between atoms of different molecules, Å.
    jitter_A : float, keyword-only
        Largest random displacement of an O from its lattice site, Å.
    seed : int, keyword-only
        Seed of the placement.
    max_redraws : int, keyword-only
        Rounds of re-orienting clashing molecules before giving up.

    Returns
    -------
    ase.Atoms
        3 × ``n_molecules`` atoms ordered O H H per molecule, periodic cubic cell.
    """
    rng = np.random.default_rng(seed)
    edge = box_edge_A(n_molecules, density_kg_m3)
    per_side = int(np.ceil(n_molecules ** (1.0 / 3.0) - 1e-9))
    spacing = edge / per_side
    if spacing - 2 * jitter_A < min_oo_A:
        raise ValueError(
            f"lattice spacing {spacing:.2f} Å minus twice jitter_A={jitter_A} is below "
            f"min_oo_A={min_oo_A}: lower the density or the jitter"
        )
    grid = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = grid[rng.permutation(len(grid))[:n_molecules]] * spacing + spacing / 2
    oxygens = sites + rng.uniform(-jitter_A, jitter_A, size=sites.shape)
    template = _molecule_template()
    rotations = Rotation.random(n_molecules, random_state=rng).as_matrix()
    cell = np.eye(3) * edge
    molecule = np.repeat(np.arange(n_molecules), 3)
    for _ in range(max_redraws):
        positions = (oxygens[:, None, :] + np.einsum("mij,aj->mai", rotations, template))
        positions = positions.reshape(-1, 3)
        _, distances = get_distances(positions, cell=cell, pbc=True)
        distances[molecule[:, None] == molecule[None, :]] = np.inf
        clashes = np.unique(molecule[np.nonzero(distances < min_contact_A)[0]])
        if len(clashes) == 0:
            break
        rotations[clashes] = Rotation.random(len(clashes), random_state=rng).as_matrix()
    else:
        raise RuntimeError(
            f"could not orient {n_molecules} molecules without contacts < {min_contact_A} Å "
            f"in {max_redraws} rounds; lower min_contact_A or the density"
        )
    atoms = Atoms("OH2" * n_molecules, positions=positions, cell=cell, pbc=True)
    _, oo = get_distances(positions[::3], cell=cell, pbc=True)
    np.fill_diagonal(oo, np.inf)
    if oo.min() < min_oo_A:
        raise RuntimeError(f"O–O distance {oo.min():.2f} Å < min_oo_A={min_oo_A}")
    atoms.wrap()
    return atoms
