"""The ``mace:PATH`` force calculator: specification, bad input, delegation.

Everything but the last test runs without mace-torch (and without torch): the
loader is replaced by a stand-in where a loaded model is needed. The last test
evaluates a real MACE model; it runs where mace-torch is installed and the
model file is found (``ASE_DIPOLE_MACE_MODEL``, default: the project's copy of
the RPBE-D3 water model) and is skipped otherwise.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.lj import LennardJones

from ase_dipole.cli import main
from ase_dipole.dynamics import mace_forcefield
from ase_dipole.dynamics.mace_forcefield import (
    MACEForceField,
    check_mace_species,
    parse_mace_specification,
)
from ase_dipole.dynamics.md import _build_calculator, _check_specification, make_force_calculator

MODEL = os.environ.get("ASE_DIPOLE_MACE_MODEL",
                       "/work/shared/data/paper_liquid_water/mace_rpbe_d3_water.model")


@pytest.fixture
def model_file(tmp_path):
    """A file that stands for a model (its content is never read by mace here)."""
    path = tmp_path / "water.model"
    path.write_bytes(b"not read")
    return str(path)


class _StandIn(LennardJones):
    """A loaded 'MACE model' of H and O: Lennard-Jones energies and forces."""

    def __init__(self, path, dtype):
        super().__init__(sigma=1.0, epsilon=0.01, rc=4.0)
        self.loaded = (path, dtype)
        self.z_table = type("Table", (), {"zs": [1, 8]})()


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(mace_forcefield, "_load_mace_calculator", _StandIn)


def test_specification_gives_path_and_dtype():
    assert parse_mace_specification("mace:/a/b.model") == ("/a/b.model", "float64")
    assert parse_mace_specification("mace:b.model?dtype=float32") == ("b.model", "float32")
    with pytest.raises(ValueError, match=r"unknown dtype 'float16'; use one of float64, float32"):
        parse_mace_specification("mace:b.model?dtype=float16")
    with pytest.raises(ValueError, match=r"unknown option 'device'"):
        parse_mace_specification("mace:b.model?device=cuda")
    with pytest.raises(ValueError, match=r"gives no model file; use 'mace:PATH'"):
        parse_mace_specification("mace:")


def test_bad_specification_fails_before_the_workers():
    """With a Dask client only the form is checked locally: a bad dtype must
    fail there, not in the first task."""
    _check_specification("mace:/not/checked/here.model")
    with pytest.raises(ValueError, match="unknown dtype"):
        _check_specification("mace:x.model?dtype=half")


def test_missing_model_file_names_the_path(tmp_path):
    path = str(tmp_path / "nowhere" / "water.model")
    with pytest.raises(FileNotFoundError, match=f"MACE model file '{path}' not found"):
        make_force_calculator(f"mace:{path}")
    with pytest.raises(FileNotFoundError, match=r"could not be built on this process.*water.model"):
        _build_calculator(f"mace:{path}", {})


def test_without_mace_torch_names_the_extra(model_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "mace", None)  # import mace → ImportError
    monkeypatch.setitem(sys.modules, "mace.calculators", None)
    with pytest.raises(ImportError, match=r"needs mace-torch: pip install ase-dipole\[mace\]"):
        make_force_calculator(f"mace:{model_file}")


def test_species_the_model_does_not_know_are_named():
    check_mace_species([1, 8], [8, 1, 1])
    with pytest.raises(ValueError, match=r"knows H, O only; the structure also holds Na, Cl: use"):
        check_mace_species([8, 1], [1, 8, 11, 17, 17])


def test_calculator_delegates_and_checks_species(model_file, stand_in):
    calculator = make_force_calculator(f"mace:{model_file}?dtype=float32")
    assert isinstance(calculator, MACEForceField)
    assert calculator.mace.loaded == (model_file, "float32")
    water = molecule("H2O")
    water.calc = calculator
    reference = molecule("H2O")
    reference.calc = LennardJones(sigma=1.0, epsilon=0.01, rc=4.0)
    np.testing.assert_allclose(water.get_forces(), reference.get_forces(), rtol=1e-12, atol=1e-14)
    assert water.get_potential_energy() == pytest.approx(reference.get_potential_energy(), rel=1e-12)
    salt = Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]])
    salt.calc = calculator
    with pytest.raises(ValueError, match=r"knows H, O only; the structure also holds Na, Cl"):
        salt.get_forces()


def test_md_command_names_the_missing_model(tmp_path, capsys):
    from ase_dipole.io.extxyz import set_born_charges, write_extxyz

    water = molecule("H2O")
    set_born_charges(water, np.einsum("i,ab->iab", [-0.8, 0.4, 0.4], np.eye(3)))
    structure = tmp_path / "water.xyz"
    write_extxyz(structure, [water])
    missing = tmp_path / "absent.model"
    with pytest.raises(SystemExit):
        main(["md", str(structure), "--fixed-charges", str(structure), "--calculator",
              f"mace:{missing}", "-o", str(tmp_path / "md"), "--temperature-K", "300", "--quiet"])
    assert f"MACE model file '{missing}' not found" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("mace") is None,
                    reason="mace-torch is not installed (pip install ase-dipole[mace])")
@pytest.mark.skipif(not os.path.isfile(MODEL), reason=f"no MACE model at {MODEL} "
                    "(set ASE_DIPOLE_MACE_MODEL)")
def test_real_model_forces_are_minus_the_energy_gradient():
    """A real MACE water model: forces = −∂E/∂x by central differences
    (h = 1e-3 Å, float64), and the RPBE-D3 forces of a frame of the paper's
    set within 50 meV/Å RMS (the model's held-out error is ~14 meV/Å)."""
    from ase_dipole.io import load_paper_water

    frame = load_paper_water(index="0:1")[0]
    reference = frame.get_forces().copy()
    frame.calc = make_force_calculator(f"mace:{MODEL}")
    forces = frame.get_forces()
    assert np.sqrt(np.mean((forces - reference) ** 2)) < 0.05
    step = 1e-3
    for atom, axis in ((150, 2),):
        energies = []
        for sign in (1, -1):
            moved = frame.copy()
            moved.calc = frame.calc
            moved.positions[atom, axis] += sign * step
            energies.append(moved.get_potential_energy())
        assert -(energies[0] - energies[1]) / (2 * step) == pytest.approx(forces[atom, axis], abs=2e-4)
    frame.numbers[0] = 11
    with pytest.raises(ValueError, match="also holds Na"):
        frame.get_forces()
