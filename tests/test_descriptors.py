"""λ-SOAP descriptor: derivatives, symmetry, continuity, an independent
NumPy reference, the cheap prediction routes and bad input."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from finite_difference import assert_matches, position_derivative
from scipy.spatial.transform import Rotation

from ase_dipole.descriptors.basis import gradient_ladder, harmonic_norms, harmonics_at, radial_functions
from ase_dipole.descriptors.lambda_soap import LambdaSOAP

SMALL = dict(cutoff=4.0, n_max=3, l_max=3)


def ethanol():
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=4)
    return atoms


def triclinic_nacl():
    """A rattled, sheared 8-atom NaCl cell (periodic, triclinic)."""
    atoms = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    cell = atoms.cell.array + np.array([[0.0, 0.4, 0.2], [0.3, 0.0, -0.2], [0.5, 0.1, 0.0]])
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.08, seed=5)
    return atoms


def tiny_cell():
    """Two atoms in a 2.9 Å triclinic cell: much smaller than 2 r_c, so every
    atom sees many images of its neighbour and of itself."""
    atoms = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.48, 0.52, 0.5]],
                  cell=[[2.9, 0, 0], [0.7, 2.8, 0], [0.4, 0.5, 3.1]], pbc=True)
    return atoms


CASES = {
    "molecule": (ethanol, ["C", "H", "O"]),
    "triclinic": (triclinic_nacl, ["Na", "Cl"]),
    "tiny_cell": (tiny_cell, ["Na", "Cl"]),
}


@pytest.mark.parametrize("case", CASES)
def test_feature_gradients_match_finite_differences(case):
    build, species = CASES[case]
    atoms = build()
    descriptor = LambdaSOAP(species, **SMALL)
    analytic = descriptor.feature_gradients(atoms)  # [j, k, a, β, f]
    numeric = position_derivative(descriptor.features, atoms)  # [k, β, j, a, f]
    assert_matches(analytic, numeric.transpose(2, 0, 3, 1, 4))


@pytest.mark.parametrize("case", CASES)
def test_invariant_gradients_match_finite_differences(case):
    build, species = CASES[case]
    atoms = build()
    descriptor = LambdaSOAP(species, **SMALL)
    analytic = descriptor.invariant_gradients(atoms)  # [j, k, β, q]
    numeric = position_derivative(descriptor.invariants, atoms)  # [k, β, j, q]
    assert_matches(analytic, numeric.transpose(2, 0, 1, 3))


@pytest.mark.parametrize("case", CASES)
def test_summed_gradients_are_species_sums_of_per_atom_gradients(case):
    build, species = CASES[case]
    atoms = build()
    descriptor = LambdaSOAP(species, **SMALL)
    per_atom = descriptor.feature_gradients(atoms)
    summed = descriptor.summed_gradients(atoms)
    index = np.array([descriptor.species.index(s) for s in atoms.get_chemical_symbols()])
    for s in range(len(species)):
        np.testing.assert_allclose(summed[:, :, :, s], per_atom[index == s].sum(axis=0), atol=1e-12)


def test_rotation_transforms_features_as_vectors():
    atoms = ethanol()
    descriptor = LambdaSOAP(["C", "H", "O"], **SMALL)
    D = descriptor.features(atoms)
    for seed in range(3):
        R = Rotation.random(random_state=seed).as_matrix()
        rotated = atoms.copy()
        rotated.positions = atoms.positions @ R.T
        np.testing.assert_allclose(descriptor.features(rotated), np.einsum("ab,jbf->jaf", R, D), atol=1e-12)


def test_rotation_of_a_periodic_cell():
    atoms = triclinic_nacl()
    descriptor = LambdaSOAP(["Na", "Cl"], **SMALL)
    R = Rotation.random(random_state=7).as_matrix()
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ R.T, scale_atoms=False)
    rotated.positions = atoms.positions @ R.T
    np.testing.assert_allclose(descriptor.features(rotated),
                               np.einsum("ab,jbf->jaf", R, descriptor.features(atoms)), atol=1e-12)


def test_inversion_flips_the_polar_features():
    atoms = ethanol()
    descriptor = LambdaSOAP(["C", "H", "O"], **SMALL)
    inverted = atoms.copy()
    inverted.positions = -atoms.positions
    D = descriptor.features(atoms)
    assert np.abs(D).max() > 0.1
    np.testing.assert_allclose(descriptor.features(inverted), -D, atol=1e-12)


def test_invariants_are_invariant_under_rotation_and_inversion():
    atoms = ethanol()
    descriptor = LambdaSOAP(["C", "H", "O"], **SMALL)
    P = descriptor.invariants(atoms)
    R = -Rotation.random(random_state=3).as_matrix()
    moved = atoms.copy()
    moved.positions = atoms.positions @ R.T + 1.7
    assert P.shape == (len(atoms), descriptor.n_invariants)
    np.testing.assert_allclose(descriptor.invariants(moved), P, atol=1e-12)


def test_translation_and_wrapping_leave_features_unchanged():
    atoms = triclinic_nacl()
    descriptor = LambdaSOAP(["Na", "Cl"], **SMALL)
    D = descriptor.features(atoms)
    moved = atoms.copy()
    moved.positions += np.array([13.1, -7.3, 2.2])
    np.testing.assert_allclose(descriptor.features(moved), D, atol=1e-12)
    moved.wrap()
    np.testing.assert_allclose(descriptor.features(moved), D, atol=1e-12)


def test_permutation_of_like_atoms_permutes_features():
    atoms = ethanol()
    descriptor = LambdaSOAP(["C", "H", "O"], **SMALL)
    order = np.arange(len(atoms))
    hydrogens = np.flatnonzero(atoms.numbers == 1)
    order[hydrogens] = hydrogens[::-1]
    order[[0, 1]] = order[[1, 0]]
    np.testing.assert_allclose(descriptor.features(atoms[order]), descriptor.features(atoms)[order], atol=1e-12)


def test_supercell_has_the_per_atom_features_of_its_unit_cell():
    atoms = triclinic_nacl()
    descriptor = LambdaSOAP(["Na", "Cl"], **SMALL)
    supercell = atoms.repeat((2, 1, 2))
    np.testing.assert_allclose(descriptor.features(supercell),
                               np.tile(descriptor.features(atoms), (4, 1, 1)), atol=1e-11)


def test_features_and_gradients_vanish_smoothly_at_the_cutoff():
    descriptor = LambdaSOAP(["H", "O"], **SMALL)
    cutoff = SMALL["cutoff"]

    def dimer(distance):
        return Atoms("OH", positions=[[0, 0, 0], [distance * 0.6, distance * 0.8, 0]])

    outside = dimer(cutoff + 1e-6)
    assert np.all(descriptor.features(outside) == 0)
    sizes = []
    for gap in (1e-2, 5e-3):
        atoms = dimer(cutoff - gap)
        sizes.append((np.abs(descriptor.features(atoms)).max(),
                      np.abs(descriptor.feature_gradients(atoms)).max()))
    (d1, g1), (d2, g2) = sizes
    # g_nl = j_l(z r/r_c) f_c(r): the Bessel zero at r_c (∝ gap) times the
    # cosine cut-off (∝ gap²), so features vanish as gap³ and slopes as gap²
    assert d1 < 1e-6 and g1 < 1e-3
    assert 7.0 < d1 / d2 < 9.0
    assert 3.5 < g1 / g2 < 4.5


def reference_features(atoms, species, cutoff, n_max, l_max):
    """Plain NumPy λ = 1 features from the definition, independent of the
    kernels' harmonics: by the addition theorem the l-density on the sphere is
    ρ_l(û) = Σ_k g_nl(r_k) (2l+1)/(4π) P_l(r̂_k·û), and
    D^a = sqrt(3/4π) ∫ u_a ρ_l(û) ρ_{l+1}(û) dΩ (3-body), D^a = sqrt(3/4π) Σ_k g_n1(r_k) r̂_ka (2-body)."""
    from numpy.polynomial.legendre import Legendre, leggauss

    cos_theta, w_theta = leggauss(2 * l_max + 4)
    n_phi = 4 * l_max + 8
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    ct, ph = np.meshgrid(cos_theta, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    u = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3)
    w = (w_theta[:, None] * np.full(n_phi, 2 * np.pi / n_phi)).reshape(-1)
    S = len(species)
    F = S * n_max + S * S * n_max * n_max * l_max
    out = np.zeros((len(atoms), 3, F))
    symbols = atoms.get_chemical_symbols()
    for j in range(len(atoms)):
        rho = np.zeros((S, n_max, l_max + 1, len(u)))
        two_body = np.zeros((S, n_max, 3))
        for k in range(len(atoms)):
            if k == j:
                continue
            r = atoms.positions[k] - atoms.positions[j]
            d = np.linalg.norm(r)
            if d >= cutoff:
                continue
            g, _ = radial_functions(np.array([d]), cutoff, n_max, l_max)
            b = species.index(symbols[k])
            for l in range(l_max + 1):
                P = Legendre.basis(l)(u @ (r / d))
                rho[b, :, l] += g[0, l, :, None] * (2 * l + 1) / (4 * np.pi) * P[None, :]
            two_body[b] += g[0, 1, :, None] * (r / d)[None, :]
        scale = np.sqrt(3 / (4 * np.pi))
        out[j, :, : S * n_max] = scale * two_body.reshape(S * n_max, 3).T
        f = S * n_max
        for l in range(l_max):
            for b1 in range(S):
                for n1 in range(n_max):
                    for b2 in range(S):
                        for n2 in range(n_max):
                            out[j, :, f] = scale * np.einsum("q,qa,q,q->a", w, u, rho[b1, n1, l], rho[b2, n2, l + 1])
                            f += 1
    return out


@pytest.mark.parametrize("l_max", [0, 1, 4, 6])
def test_gradient_ladder_gives_the_harmonics_gradients(l_max):
    """∇P_lm(u) from the harmonics of degree l − 1 equals the gradient the
    recursion of solid_harmonics gives, and the gradient by finite differences
    of the homogeneous polynomial |r|^l Y_lm(r/|r|), at random directions."""
    norm = harmonic_norms(l_max)
    target, source, coefficient = gradient_ladder(l_max, norm)
    assert np.all(np.diff(target) >= 0)
    directions = np.random.default_rng(3).normal(size=(30, 3))
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    Y, gradients = harmonics_at(directions, l_max, norm, with_gradients=True)
    from_ladder = np.zeros((len(directions), 3 * len(norm)))
    np.add.at(from_ladder, (slice(None), target), coefficient * Y[:, source])
    from_ladder = from_ladder.reshape(len(directions), 3, -1).transpose(0, 2, 1)
    np.testing.assert_allclose(from_ladder, gradients, rtol=0, atol=1e-13)
    degree = np.repeat(np.arange(l_max + 1), 2 * np.arange(l_max + 1) + 1)
    h = 1e-5
    for beta in range(3):
        step = np.zeros(3)
        step[beta] = h
        values = []
        for sign in (1, -1):
            r = directions + sign * step
            length = np.linalg.norm(r, axis=1)[:, None]
            values.append(length**degree * harmonics_at(r / length, l_max, norm))
        np.testing.assert_allclose(from_ladder[:, :, beta], (values[0] - values[1]) / (2 * h), atol=1e-8)


def test_numba_kernels_agree_with_a_plain_numpy_reference():
    atoms = molecule("H2O") + molecule("H2O")
    atoms.positions[3:] += [2.6, 0.3, 0.4]
    atoms.rattle(0.05, seed=1)
    species = ["H", "O"]
    descriptor = LambdaSOAP(species, cutoff=4.5, n_max=3, l_max=3)
    reference = reference_features(atoms, list(descriptor.species), 4.5, 3, 3)
    np.testing.assert_allclose(descriptor.features(atoms), reference, atol=1e-7 * np.abs(reference).max())


def test_fused_features_equal_the_density_then_contraction_route():
    # features() forms each density in cache; the product model contracts a
    # stored density array: both must give the same bits
    from ase_dipole.descriptors import lambda_soap_numba as kernels

    atoms = triclinic_nacl() * (2, 1, 1)
    descriptor = LambdaSOAP(["Na", "Cl"], **SMALL)
    rho = descriptor._density(descriptor._environment(atoms))
    two_step = np.empty((len(atoms), 3, descriptor.n_features))
    kernels.features(rho, descriptor._T, descriptor._G, descriptor.l_max, two_step)
    np.testing.assert_array_equal(descriptor.features(atoms), two_step)


@pytest.mark.parametrize("case", CASES)
def test_cheap_routes_agree_with_the_full_gradient(case):
    build, species = CASES[case]
    atoms = build()
    descriptor = LambdaSOAP(species, **SMALL)
    rng = np.random.default_rng(11)
    coefficients = rng.normal(size=(len(species), descriptor.n_features))
    velocities = rng.normal(scale=0.01, size=(len(atoms), 3))
    expected_dipole = np.einsum("saf,sf->a", descriptor.summed_features(atoms), coefficients)
    expected_born = np.einsum("kabsf,sf->kab", descriptor.summed_gradients(atoms), coefficients)
    dipole, born = descriptor.dipole_and_born_charges(atoms, coefficients)
    np.testing.assert_allclose(dipole, expected_dipole, atol=1e-12 * np.abs(expected_dipole).max() + 1e-14)
    np.testing.assert_allclose(born, expected_born, atol=1e-12 * np.abs(expected_born).max())
    np.testing.assert_allclose(descriptor.dipole(atoms, coefficients), expected_dipole, atol=1e-12)
    dipole_again, pdot = descriptor.dipole_and_pdot(atoms, coefficients, velocities)
    np.testing.assert_allclose(dipole_again, expected_dipole, atol=1e-12)
    np.testing.assert_allclose(pdot, np.einsum("kab,kb->a", expected_born, velocities), atol=1e-12)


def test_born_charges_are_the_derivative_of_the_dipole():
    atoms = triclinic_nacl()
    descriptor = LambdaSOAP(["Na", "Cl"], **SMALL)
    coefficients = np.random.default_rng(2).normal(size=(2, descriptor.n_features))
    _, born = descriptor.dipole_and_born_charges(atoms, coefficients)
    numeric = position_derivative(lambda a: descriptor.dipole(a, coefficients), atoms)  # [k, β, a]
    assert_matches(born, numeric.transpose(0, 2, 1))


def test_feature_count_of_the_defaults():
    descriptor = LambdaSOAP(["H", "O"])
    assert descriptor.n_features == 2 * 8 + 4 * 64 * 4 == 1040
    assert LambdaSOAP(**descriptor.hyper_parameters).hyper_parameters == descriptor.hyper_parameters


def test_bad_input_gets_clear_errors():
    descriptor = LambdaSOAP(["H", "O"], **SMALL)
    with pytest.raises(ValueError, match=r"unknown species \['C'\].*knows \['H', 'O'\]"):
        descriptor.features(molecule("CH4"))
    water = molecule("H2O")
    water.positions[1] = water.positions[0] + 0.01
    with pytest.raises(ValueError, match="overlapping atoms"):
        descriptor.features(water)
    water = molecule("H2O")
    water.positions[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"atoms \[2\] are not finite"):
        descriptor.features(water)
    water = molecule("H2O")
    water.pbc = True
    with pytest.raises(ValueError, match="cell vector 0 is zero"):
        descriptor.features(water)
    with pytest.raises(ValueError, match="coefficients have shape"):
        descriptor.dipole(molecule("H2O"), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="velocities have shape"):
        descriptor.dipole_and_pdot(molecule("H2O"), np.zeros((2, descriptor.n_features)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_max >= 1 and l_max >= 1"):
        LambdaSOAP(["H"], l_max=0)


def test_features_into_a_reused_buffer_and_pickled_descriptors():
    import pickle

    atoms = triclinic_nacl()
    descriptor = LambdaSOAP(["Na", "Cl"], **SMALL)
    expected = descriptor.features(atoms)
    buffer = np.full(expected.shape, np.nan)
    assert descriptor.features(atoms, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)
    with pytest.raises(ValueError, match=r"out must be a writeable C-contiguous float64 array of shape \(8, 3, "):
        descriptor.features(atoms, out=np.empty((8, 3, 5)))
    copy = pickle.loads(pickle.dumps(descriptor))
    np.testing.assert_array_equal(copy.features(atoms), expected)
