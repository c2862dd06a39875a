"""The memory guard: a fit or an exact-σ prediction that would need more
memory than is available stops with one line naming the size, the need and
the option that fixes it, before it allocates (issue 23: a five-species fit
died in OpenBLAS dsyrk). The available memory is patched to small budgets:
no test allocates more than a few MB."""

import numpy as np
import pytest
from ase import Atoms

from ase_dipole import memory
from ase_dipole.cli import main
from ase_dipole.learning import ridge
from ase_dipole.learning.model import PolarizationModel


def five_species_frames(n_frames=3, seed=0):
    """Small C/H/N/O/S molecules (10 atoms, within one 4 Å cut-off) with Born
    charges obeying the acoustic sum rule and a dipole: the shape of the
    issue-23 molecule set, not its chemistry."""
    rng = np.random.default_rng(seed)
    symbols = "CCHHHNOOSH"
    frames = []
    for _ in range(n_frames):
        atoms = Atoms(symbols, positions=rng.uniform(0.0, 2.5, (len(symbols), 3)))
        born = rng.normal(0.0, 0.5, (len(atoms), 3, 3))
        born -= born.mean(axis=0)
        atoms.arrays["born_charges"] = born.reshape(len(atoms), 9)
        atoms.info["dipole"] = rng.normal(0.0, 1.0, 3)
        frames.append(atoms)
    return frames


@pytest.fixture
def no_normal_equations(monkeypatch):
    """Fail instead of allocating the normal matrices (GBs without the guard)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the fit allocated its normal equations past the memory guard")
    monkeypatch.setattr(ridge, "NormalEquations", refuse)


def test_available_memory_is_read_from_meminfo():
    available = memory.available_bytes()
    with open("/proc/meminfo") as handle:
        total = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemTotal:"))
    assert 0 < available <= total


def test_estimate_counts_fold_matrices_and_solve():
    # 5 species, default descriptor, fitted charges: the 32 205 coefficients, 5 folds,
    # Z* and dipoles: 10 normal matrices of 8.3 GB and the solve's 5
    need = memory.fit_bytes(32205, 10, 9 * 60)
    assert need == 8 * 32205 * (32205 * 15 + 2 * 9 * 60)
    assert 124e9 < need < 125e9
    fitting = memory.largest_fitting_columns(10, 540, need)
    assert fitting == 32205 or memory.fit_bytes(fitting + 1, 10, 540) > need


def test_five_species_fit_beyond_memory_is_one_line_before_it_allocates(monkeypatch, no_normal_equations):
    monkeypatch.setattr(memory, "available_bytes", lambda: 24 * 10**9)  # the 24 GB machine
    frames = five_species_frames()
    with pytest.raises(memory.InsufficientMemoryError,
                       match=r"^a fit of 32205 coefficients \(5 species, 3 fold\(s\) x 2 target kind\(s\), "
                             r"largest frame 90 rows\) needs about 9\d\.\d GB of memory but 24 GB is "
                             r"available; at most 1\d{4} coefficients fit; use n_references <= \d+ .*, "
                             r"or a fixed regularization .*, or a smaller n_max / l_max") as error:
        PolarizationModel(max_features=None).fit(frames, progress=False)
    assert isinstance(error.value, MemoryError) and isinstance(error.value, ValueError)
    assert "\n" not in str(error.value)


@pytest.mark.filterwarnings("ignore:cross-validation chose")
def test_the_suggested_option_fits_within_the_budget(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 20 * 10**6)
    frames = five_species_frames()
    with pytest.raises(memory.InsufficientMemoryError, match=r"use n_references <= (\d+) ") as error:
        PolarizationModel(n_max=4, l_max=2, max_features=None).fit(frames, progress=False)
    suggested = int(error.value.args[0].split("n_references <= ")[1].split()[0])
    model = PolarizationModel(n_max=4, l_max=2, n_references=suggested).fit(frames, progress=False)
    assert model.predict(frames[0])[1].shape == (10, 3, 3)


def test_cli_fit_beyond_memory_is_one_error_line(tmp_path, monkeypatch, capsys, no_normal_equations):
    import ase.io

    path = tmp_path / "molecules.extxyz"
    ase.io.write(path, five_species_frames())
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**9)
    with pytest.raises(SystemExit):
        main(["fit", str(path), "-o", str(tmp_path / "model.json"), "--quiet", "--max-features", "all"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ase-dipole")
             or "error" in line]
    assert len(lines) == 1 and "needs about" in lines[0] and "--n-references <=" in lines[0], lines
    assert not (tmp_path / "model.json").exists()


def test_exact_sigma_beyond_memory_points_to_posterior_draws(monkeypatch, dimer):
    model = PolarizationModel(n_max=4, l_max=2, regularization=1e-6).fit(dimer["born_train"][:8],
                                                                         progress=False)
    atoms = dimer["born_test"][0]
    exact = model.predict_std(atoms)[1]
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**4)
    with pytest.raises(memory.InsufficientMemoryError,
                       match=r"^the exact σ of 6 atoms \(54 x \d+ design rows\) needs about .* of memory "
                             r"but 10 kB is available; use predict_std\(atoms, samples=K\)"):
        model.predict_std(atoms)
    sampled = model.predict_std(atoms, samples=4000)[1]
    assert np.allclose(sampled, exact, rtol=0.1)
