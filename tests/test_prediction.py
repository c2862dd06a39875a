"""The per-species prediction route (densities species-major, the adjoint as
matrix products per species, pair charges per pair) against the per-centre
kernel it replaced, which the product model still uses: μ, Z* and Ṗ on a
liquid-water frame and on the water dimer, for several chunk sizes, and with a
reused (Verlet) neighbour list against a fresh one along a trajectory."""

import os

import ase.io
import numpy as np
import pytest

import ase_dipole
from ase_dipole.descriptors import prediction
from ase_dipole.descriptors import prediction_numba
from ase_dipole.descriptors.lambda_soap import LambdaSOAP
from ase_dipole.descriptors.neighbours import neighbour_list
from ase_dipole.io import load_paper_water

DIMER = os.path.join(os.path.dirname(ase_dipole.__file__), "data", "water_dimer_gfn2.extxyz.gz")


def per_centre_reference(descriptor, atoms, coefficients, velocities):
    """μ, Z* and Ṗ from :func:`prediction_numba.predict` with one coefficient
    set per centre (the kernel's other use), on a fresh neighbour list."""
    nl = neighbour_list(atoms.positions, atoms.cell.array, atoms.pbc, descriptor.cutoff)
    species = descriptor._species_index[atoms.numbers]
    per_atom = coefficients[species]
    Sn = len(descriptor.species) * descriptor.n_max
    three = per_atom[:, Sn:].reshape(len(atoms), descriptor.l_max, Sn, Sn)
    args = (nl.offsets, nl.vectors, species[nl.neighbours])
    blocks = (np.arange(len(atoms)), np.ascontiguousarray(per_atom[:, :Sn]),
              np.ascontiguousarray(three), np.ascontiguousarray(three.transpose(0, 1, 3, 2)),
              descriptor._T, descriptor._G,
              descriptor._table, descriptor._grid_step, descriptor.l_max, descriptor._norm,
              int(np.diff(nl.offsets).max()))
    dipole = np.empty((len(atoms), 3))
    W = np.empty((len(nl.neighbours), 3, 3))
    prediction_numba.predict(*args, np.empty((0, 3)), *blocks, 2, dipole, np.empty((0, 3)), W)
    born = np.zeros((len(atoms), 3, 3))
    centres = nl.centres
    np.add.at(born, nl.neighbours, W)
    np.add.at(born, centres, -W)
    relative = np.ascontiguousarray(velocities[nl.neighbours] - velocities[centres])
    pdot = np.empty((len(atoms), 3))
    prediction_numba.predict(*args, relative, *blocks, 1, np.empty((len(atoms), 3)), pdot,
                             np.empty((0, 3, 3)))
    return dipole.sum(axis=0), born, pdot.sum(axis=0)


def water_frame():
    frames = load_paper_water(index="10:11")
    return frames[0]


def water_dimer():
    return ase.io.read(DIMER, index=0)


def assert_relative(actual, expected, tolerance=1e-12):
    scale = np.abs(expected).max()
    assert np.abs(actual - expected).max() <= tolerance * scale, np.abs(actual - expected).max() / scale


# (structure, centres per range, n_max, l_max): the default shape on both
# structures, in one range and in ranges of 5; then n_max off the eight vector
# lanes (a vector of eight and one of four; four and a remainder of 2 or 1; no
# whole vector) with other l-block widths
ROUTE_CASES = ([(build, chunk, 8, 4) for build in (water_frame, water_dimer)
                for chunk in (prediction.CHUNK_CENTRES, 5)]
               + [(water_frame, prediction.CHUNK_CENTRES, n_max, l_max)
                  for n_max, l_max in ((12, 2), (6, 3), (5, 2), (3, 1))])


@pytest.mark.parametrize("build, chunk, n_max, l_max", ROUTE_CASES)
def test_species_route_equals_the_per_centre_kernel(build, chunk, n_max, l_max, monkeypatch):
    monkeypatch.setattr(prediction, "CHUNK_CENTRES", chunk)
    atoms = build()
    descriptor = LambdaSOAP(["H", "O"], cutoff=4.0, n_max=n_max, l_max=l_max)
    rng = np.random.default_rng(7)
    coefficients = rng.normal(size=(2, descriptor.n_features))
    velocities = rng.normal(scale=0.01, size=(len(atoms), 3))
    dipole, born, pdot = per_centre_reference(descriptor, atoms, coefficients, velocities)
    mu, Z = descriptor.dipole_and_born_charges(atoms, coefficients)
    assert_relative(mu, dipole)
    assert_relative(Z, born)
    assert_relative(descriptor.dipole(atoms, coefficients), dipole)
    mu_again, rate = descriptor.dipole_and_pdot(atoms, coefficients, velocities)
    assert_relative(mu_again, dipole)
    assert_relative(rate, pdot)
    assert_relative(rate, np.einsum("kab,kb->a", Z, velocities))


def test_reused_neighbour_list_gives_the_fresh_list_results():
    """Along small steps (list reused), a jump beyond skin / 2, a changed cell
    and a removed molecule (each a rebuild): the same μ, Z*, Ṗ as with a fresh
    list (skin 0)."""
    atoms = water_frame()
    reused = LambdaSOAP(["H", "O"], cutoff=4.0, n_max=6, l_max=3)
    fresh = LambdaSOAP(["H", "O"], cutoff=4.0, n_max=6, l_max=3)
    fresh._neighbours.skin = 0.0
    rng = np.random.default_rng(8)
    coefficients = rng.normal(size=(2, reused.n_features))
    steps = [lambda a: a.positions.__iadd__(rng.normal(scale=0.03, size=a.positions.shape))] * 3
    steps.append(lambda a: a.positions.__setitem__(5, a.positions[5] + [0.4, 0.0, 0.0]))
    steps.append(lambda a: a.set_cell(a.cell.array * 1.002, scale_atoms=True))
    steps.append(lambda a: a.__delitem__([0, 1, 2]))
    builds = []
    for step in [lambda a: None] + steps:
        step(atoms)
        velocities = rng.normal(scale=0.01, size=(len(atoms), 3))
        for method, extra in (("dipole_and_born_charges", ()), ("dipole_and_pdot", (velocities,))):
            got = getattr(reused, method)(atoms, coefficients, *extra)
            expected = getattr(fresh, method)(atoms, coefficients, *extra)
            for a, b in zip(got, expected):
                assert_relative(a, b)
        builds.append(reused._neighbours.n_builds)
    assert builds == [1, 1, 1, 1, 2, 3, 4]
