"""PySCF reference polarizabilities (ase_dipole.reference.polarizability):
analytic CPHF α against finite fields, ∂α/∂x against the rigid-motion sum
rules and against finite differences of the finite-field α, and
``label --property polarizability`` through the cached parallel labelling."""

import os

import numpy as np
import pytest
from ase.build import molecule
from ase.io import read

from ase_dipole.cli import main
from ase_dipole.io.polarizability import get_polarizability, get_polarizability_derivatives
from ase_dipole.reference.parallel import label_frames_parallel
from ase_dipole.reference.polarizability import dft_polarizability, dft_polarizability_derivatives

pytest.importorskip("pyscf")
HF = dict(xc="hf", basis="sto-3g")


@pytest.mark.parametrize("options", [dict(xc="hf", basis="6-31g"), dict(xc="pbe", basis="6-31g", grid_level=2)])
def test_cphf_polarizability_equals_finite_fields(options):
    """Analytic α (coupled-perturbed SCF) = central differences of μ in ±1e-3 au fields, to 1e-4."""
    atoms = molecule("H2O")
    analytic = dft_polarizability(atoms, **options)
    field = dft_polarizability(atoms, route="field", **options)
    assert np.all(np.linalg.eigvalsh(analytic) > 0)
    np.testing.assert_allclose(field, analytic, atol=1e-4 * np.abs(analytic).max())


def test_polarizability_derivatives_obey_rigid_motion_rules_and_match_field_route():
    """Σ_i ∂α/∂x_i = 0 (translation), Σ_i ∂α/∂x_i · (n × r_i) = [Ω, α] (rotation,
    Ω v = n × v); and ∂α/∂x of the CPHF α equals finite differences of the
    finite-field α."""
    atoms = molecule("H2O")
    atoms.rotate(30, "x")  # no zero by symmetry
    alpha, derivatives = dft_polarizability_derivatives(atoms, **HF)
    scale = np.abs(derivatives).max()
    np.testing.assert_allclose(derivatives.sum(axis=0), 0.0, atol=1e-4 * scale)
    positions = atoms.get_positions()
    for axis in np.eye(3):
        generator = np.cross(axis[None, :], np.eye(3)).T  # generator @ v = axis × v
        rotated = np.einsum("iabc,ic->ab", derivatives, np.cross(axis[None, :], positions))
        np.testing.assert_allclose(rotated, generator @ alpha - alpha @ generator, atol=1e-4 * scale)

    step = 5e-3
    reference = atoms.get_positions()
    displaced = atoms.copy()
    for i, c in [(0, 2), (1, 0), (2, 1)]:
        values = []
        for sign in (1.0, -1.0):
            moved = reference.copy()
            moved[i, c] += sign * step
            displaced.positions = moved
            values.append(dft_polarizability(displaced, route="field", **HF))
        np.testing.assert_allclose((values[0] - values[1]) / (2 * step), derivatives[i, :, :, c],
                                   atol=1e-3 * scale)


def test_label_polarizability_is_cached_and_resumable(tmp_path):
    frames = [molecule("H2O"), molecule("H2O")]
    frames[1].positions[1] += [0.0, 0.02, -0.01]
    first = label_frames_parallel(frames, cache_dir=tmp_path / "cache", method="pyscf", options=HF,
                                  dipole=False, born_charges=False, polarizability=True, progress=False)
    assert first.computed == [0, 1] and not first.failures
    alpha, derivatives = dft_polarizability_derivatives(frames[1], **HF)
    np.testing.assert_allclose(get_polarizability(first.frames[1]), alpha, rtol=1e-12)
    np.testing.assert_allclose(get_polarizability_derivatives(first.frames[1]), derivatives, rtol=1e-12, atol=1e-14)
    again = label_frames_parallel(frames, cache_dir=tmp_path / "cache", method="pyscf", options=HF,
                                  dipole=False, born_charges=False, polarizability=True, progress=False)
    assert again.computed == [] and again.reused == [0, 1]
    with pytest.raises(ValueError, match="polarizability labels .* come from PySCF only; use method 'pyscf'"):
        label_frames_parallel(frames, cache_dir=tmp_path / "cache", method="xtb", dipole=False,
                              born_charges=False, polarizability=True, progress=False)


def test_label_command_line_property_polarizability(tmp_path):
    from ase.io import write

    write(tmp_path / "in.extxyz", molecule("H2O"))
    output = tmp_path / "out.extxyz"
    assert main(["label", str(tmp_path / "in.extxyz"), "-o", str(output), "--method", "pyscf", "--xc", "hf",
                 "--basis", "sto-3g", "--property", "polarizability", "--quiet"]) == 0
    frame = read(output)
    assert get_polarizability(frame).shape == (3, 3)
    assert frame.arrays["polarizability_derivatives"].shape == (3, 27)
    assert "dipole" in frame.info or frame.calc is not None
    with pytest.raises(SystemExit):
        main(["label", str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "x.extxyz"), "--method", "xtb",
              "--property", "polarizability", "--quiet"])
    assert not os.path.exists(tmp_path / "x.extxyz")
