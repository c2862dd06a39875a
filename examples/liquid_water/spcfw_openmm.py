r"""SPC/Fw flexible water as an ASE calculator on OpenMM's CPU engine.

SPC/Fw (Wu, Tepper & Voth, J. Chem. Phys. 124, 024503 (2006), Table I; the
same numbers are restated in Table I of Paesani et al., J. Chem. Phys. 125,
184507 (2006)) is a three-site flexible point-charge model:

.. math::

    V = \sum_{\mathrm{OH}} \frac{k_b}{2} (r - r_0)^2
      + \sum_{\mathrm{HOH}} \frac{k_\theta}{2} (\theta - \theta_0)^2
      + \sum_{i<j}^{\mathrm{inter}} \frac{q_i q_j}{4\pi\varepsilon_0 r_{ij}}
      + \sum_{\mathrm{O}<\mathrm{O'}}^{\mathrm{inter}} 4\varepsilon
        \left[ (\sigma/r)^{12} - (\sigma/r)^6 \right]

with :math:`k_b` = 1059.162 kcal mol⁻¹ Å⁻², :math:`r_0` = 1.012 Å,
:math:`k_\theta` = 75.90 kcal mol⁻¹ rad⁻², :math:`\theta_0` = 113.24°,
:math:`q_\mathrm{O}` = −0.82 e, :math:`q_\mathrm{H}` = +0.41 e,
σ = 3.165492 Å and ε = 0.1554253 kcal mol⁻¹ on O only. Intramolecular pairs
have no Coulomb or Lennard-Jones term. OpenMM's ``HarmonicBondForce`` and
``HarmonicAngleForce`` use the same k/2 convention.

Electrostatics are particle-mesh Ewald; the Lennard-Jones term is switched
smoothly to zero between ``switch_A`` and ``cutoff_A`` (so the energy is
continuous and NVE runs conserve it) with the homogeneous long-range
dispersion correction. The cut-off must stay below half the box edge, which
for 64 molecules (12.43 Å) means ≤ 6.2 Å; the original model used longer
cut-offs, a small difference for the intramolecular vibrations an IR
spectrum probes.

The molecules are found from the geometry (each H bonded to its nearest O
under the minimum-image convention), so any atom order works (O H H ..., or
all H then all O as in the paper-water data set).
"""

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.geometry import get_distances

#: SPC/Fw parameters (Wu, Tepper & Voth 2006, Table I)
SPCFW_BOND_K_KCAL_MOL_A2 = 1059.162  # [kcal/mol/Å²]
SPCFW_BOND_R0_A = 1.012  # [Å]
SPCFW_ANGLE_K_KCAL_MOL_RAD2 = 75.90  # [kcal/mol/rad²]
SPCFW_ANGLE_THETA0_DEG = 113.24  # [degree]
SPCFW_CHARGE_O = -0.82  # [e]
SPCFW_CHARGE_H = 0.41  # [e]
SPCFW_SIGMA_OO_A = 3.165492  # [Å]
SPCFW_EPSILON_OO_KCAL_MOL = 0.1554253  # [kcal/mol]

#: OpenMM units: kJ/mol, nm, kJ/mol/nm
KCAL_KJ = 4.184  # [kJ / kcal]
NM_A = 10.0  # [Å / nm]
KJ_MOL_EV = units.kJ / units.mol  # [eV / (kJ/mol)]
#: an H farther than this from every O is not part of a water molecule
MAX_OH_BOND_A = 1.6  # [Å]


def _import_openmm():
    try:
        import openmm
    except ImportError:
        raise ImportError(
            "the SPC/Fw calculator needs OpenMM: pip install openmm"
        ) from None
    return openmm


def water_molecules(atoms):
    """Index triples (O, H, H) of the water molecules in ``atoms``.

    Each H is bonded to its nearest O (minimum image in periodic cells).

    Parameters
    ----------
    atoms : ase.Atoms
        Only H and O, two H per O.

    Returns
    -------
    numpy.ndarray, shape (M, 3), int
        Atom indices (O, H1, H2) of each molecule, ordered by O index.
    """
    symbols = np.array(atoms.get_chemical_symbols())
    others = sorted(set(symbols) - {"H", "O"})
    if others:
        raise ValueError(f"SPC/Fw knows only H and O; the atoms contain {others}")
    oxygens = np.flatnonzero(symbols == "O")
    hydrogens = np.flatnonzero(symbols == "H")
    if len(hydrogens) != 2 * len(oxygens) or len(oxygens) == 0:
        raise ValueError(
            f"{len(oxygens)} O and {len(hydrogens)} H is not a set of water molecules "
            "(need two H per O)"
        )
    positions = atoms.get_positions()
    _, distances = get_distances(positions[hydrogens], positions[oxygens],
                                 cell=atoms.cell, pbc=atoms.pbc)
    nearest = np.argmin(distances, axis=1)
    bond = distances[np.arange(len(hydrogens)), nearest]
    if np.any(bond > MAX_OH_BOND_A):
        worst = hydrogens[np.argmax(bond)]
        raise ValueError(
            f"H atom {worst} is {bond.max():.2f} Å from the nearest O (> {MAX_OH_BOND_A} Å): "
            "not a water molecule"
        )
    counts = np.bincount(nearest, minlength=len(oxygens))
    if np.any(counts != 2):
        bad = oxygens[np.flatnonzero(counts != 2)[0]]
        raise ValueError(
            f"O atom {bad} has {counts[np.flatnonzero(counts != 2)[0]]} nearest H atoms, "
            "not 2: the structure is not intact water (H3O+/OH- or overlapping molecules)"
        )
    order = np.argsort(nearest, kind="stable")
    return np.column_stack([oxygens, hydrogens[order].reshape(-1, 2)])


class SPCFwOpenMM(Calculator):
    """SPC/Fw water: energy (eV) and forces (eV/Å) from OpenMM.

    Parameters
    ----------
    cutoff_A : float
        Real-space cut-off of PME and of the Lennard-Jones term, Å; must be
        below half the shortest box edge.
    switch_A : float
        Lennard-Jones switching starts here, Å (< ``cutoff_A``).
    ewald_tolerance : float
        OpenMM's relative PME force error target.
    platform : {'CPU', 'Reference'}
        OpenMM platform; 'Reference' is double precision and slow.
    threads : int
        Threads of the CPU platform.

    Notes
    -----
    Positions are passed as they are (unwrapped is fine; OpenMM applies
    periodic images). The periodic cell must be orthorhombic. The OpenMM
    context is rebuilt when the atoms, their molecules or the cell change.
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    default_parameters = dict(cutoff_A=6.0, switch_A=5.0, ewald_tolerance=5e-4,
                              platform="CPU", threads=2)

    def __init__(self, **kwargs):
        _import_openmm()
        super().__init__(**kwargs)
        if self.parameters.platform not in ("CPU", "Reference"):
            raise ValueError(
                f"unknown platform {self.parameters.platform!r}; use one of 'CPU', 'Reference'"
            )
        if not 0 < self.parameters.switch_A < self.parameters.cutoff_A:
            raise ValueError(
                f"switch_A={self.parameters.switch_A} must lie between 0 and "
                f"cutoff_A={self.parameters.cutoff_A}"
            )
        self._context = None
        self._molecules = None
        self._cell = None

    def _box_nm(self, atoms):
        if not np.all(atoms.pbc) or atoms.cell.rank != 3:
            raise ValueError("SPC/Fw with PME needs a 3-D periodic cell (atoms.pbc all True)")
        cell = atoms.cell.array
        if np.any(np.abs(cell - np.diag(np.diag(cell))) > 1e-8):
            raise ValueError(
                f"the cell must be orthorhombic (diagonal); got {cell.tolist()}"
            )
        lengths = np.diag(cell)
        if self.parameters.cutoff_A >= 0.5 * lengths.min():
            raise ValueError(
                f"cutoff_A={self.parameters.cutoff_A} Å is not below half the shortest box "
                f"edge ({lengths.min():.3f} Å); lower cutoff_A or use a larger box"
            )
        return lengths / NM_A

    def _bonds_intact(self, atoms):
        if self._molecules is None or len(atoms) != 3 * len(self._molecules):
            return False
        positions = atoms.get_positions()
        oxygens = self._molecules[:, [0, 0]].ravel()
        hydrogens = self._molecules[:, 1:].ravel()
        vectors = positions[hydrogens] - positions[oxygens]
        _, lengths = get_distances(np.zeros((1, 3)), vectors, cell=atoms.cell, pbc=atoms.pbc)
        return bool(np.all(lengths < MAX_OH_BOND_A))

    def _build(self, atoms, box_nm):
        openmm = _import_openmm()
        p = self.parameters
        molecules = water_molecules(atoms)
        system = openmm.System()
        for mass in atoms.get_masses():
            system.addParticle(mass)
        system.setDefaultPeriodicBoxVectors(openmm.Vec3(box_nm[0], 0, 0),
                                            openmm.Vec3(0, box_nm[1], 0),
                                            openmm.Vec3(0, 0, box_nm[2]))
        bonds = openmm.HarmonicBondForce()
        angles = openmm.HarmonicAngleForce()
        bond_k = SPCFW_BOND_K_KCAL_MOL_A2 * KCAL_KJ * NM_A**2  # kJ/mol/nm²
        angle_k = SPCFW_ANGLE_K_KCAL_MOL_RAD2 * KCAL_KJ  # kJ/mol/rad²
        theta0 = np.deg2rad(SPCFW_ANGLE_THETA0_DEG)
        pairs = []
        for o, h1, h2 in molecules.tolist():
            bonds.addBond(o, h1, SPCFW_BOND_R0_A / NM_A, bond_k)
            bonds.addBond(o, h2, SPCFW_BOND_R0_A / NM_A, bond_k)
            angles.addAngle(h1, o, h2, theta0, angle_k)
            pairs += [(o, h1), (o, h2)]
        nonbonded = openmm.NonbondedForce()
        nonbonded.setNonbondedMethod(openmm.NonbondedForce.PME)
        nonbonded.setCutoffDistance(p.cutoff_A / NM_A)
        nonbonded.setUseSwitchingFunction(True)
        nonbonded.setSwitchingDistance(p.switch_A / NM_A)
        nonbonded.setUseDispersionCorrection(True)
        nonbonded.setEwaldErrorTolerance(p.ewald_tolerance)
        sigma_nm = SPCFW_SIGMA_OO_A / NM_A
        epsilon = SPCFW_EPSILON_OO_KCAL_MOL * KCAL_KJ
        for symbol in atoms.get_chemical_symbols():
            if symbol == "O":
                nonbonded.addParticle(SPCFW_CHARGE_O, sigma_nm, epsilon)
            else:
                nonbonded.addParticle(SPCFW_CHARGE_H, sigma_nm, 0.0)
        # excludes O–H (1-2) and H–H (1-3) pairs inside each molecule
        nonbonded.createExceptionsFromBonds(pairs, 0.0, 0.0)
        for force in (bonds, angles, nonbonded):
            system.addForce(force)
        platform = openmm.Platform.getPlatformByName(p.platform)
        properties = {"Threads": str(int(p.threads))} if p.platform == "CPU" else {}
        integrator = openmm.VerletIntegrator(0.0005)  # never stepped: ASE integrates
        self._context = openmm.Context(system, integrator, platform, properties)
        self._molecules = molecules
        self._cell = atoms.cell.array.copy()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Fill ``results['energy']`` (eV) and ``results['forces']`` (N, 3) eV/Å."""
        super().calculate(atoms, properties, system_changes)
        openmm = _import_openmm()
        atoms = self.atoms
        box_nm = self._box_nm(atoms)
        rebuild = (self._context is None or "numbers" in system_changes
                   or not np.allclose(atoms.cell.array, self._cell, rtol=0.0, atol=1e-12)
                   or not self._bonds_intact(atoms))
        if rebuild:
            self._build(atoms, box_nm)
        self._context.setPositions(atoms.get_positions() / NM_A)
        state = self._context.getState(getEnergy=True, getForces=True)
        energy = state.getPotentialEnergy().value_in_unit(
            openmm.unit.kilojoule_per_mole) * KJ_MOL_EV
        forces = np.asarray(state.getForces(asNumpy=True).value_in_unit(
            openmm.unit.kilojoule_per_mole / openmm.unit.nanometer)) * (KJ_MOL_EV / NM_A)
        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = forces
