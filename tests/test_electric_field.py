"""DipoleCalculator in a static electric field: the field forces are the
negative gradient of the field energy −μ·E (central finite differences, with
the index order of Z* told apart by non-symmetric charges), NVE in a field
conserves kinetic + potential + field energy as well as zero-field NVE does,
the constant of μ shifts the energy only, and bad input is refused.

Real systems: a PolarizationModel fitted to the GFN2-xTB Born charges of the
shipped water-dimer set, with GFN2-xTB (tblite) forces; the GFN2-xTB water
molecule's FixedChargesModel. The linear-response check of the canonical
average is in tests/test_electric_field_response.py."""

import ase.io
import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

import ase_dipole
from ase_dipole.dynamics.calculator import FIELD_LINEAR_BOUND_V_PER_A, DipoleCalculator
from ase_dipole.dynamics.md import NVEMonitor
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.learning.learning_curve import uniform_subset
from ase_dipole.learning.model import PolarizationModel
from finite_difference import assert_matches, position_derivative
from md_helpers import gfn2_xtb, water_model

#: a field along no symmetry direction, V/Å (|E| = 0.071 V/Å, below the bound)
FIELD_V_PER_A = np.array([0.03, -0.04, 0.05])


@pytest.fixture(scope="module")
def dimer_model():
    """Z*-only PolarizationModel on 20 GFN2-xTB water dimers (small descriptor,
    fixed ridge λ), and a held-out dimer."""
    frames = ase.io.read(f"{ase_dipole.__path__[0]}/data/water_dimer_gfn2.extxyz.gz", index=":")
    train = [frame for frame in frames if frame.info["split"] == "born_train"]
    train = [train[i] for i in uniform_subset(len(train), 20)]
    model = PolarizationModel(cutoff=4.5, n_max=4, l_max=2, regularization=1e-6)
    model.fit(train, targets="born", progress=False)
    held_out = next(frame for frame in frames if frame.info["split"] == "born_test")
    atoms = held_out.copy()
    atoms.calc = None
    return model, atoms


def test_field_forces_are_minus_gradient_of_field_energy(dimer_model):
    """F_field = −∂(−μ·E)/∂x to 1e-6 of its size; the model's Z* is not
    symmetric, so Σ_α E_α Z*_{i,βα} (the transposed order) would fail."""
    model, atoms = dimer_model
    atoms = atoms.copy()
    atoms.positions += 0.03 * np.random.default_rng(1).standard_normal(atoms.positions.shape)
    calculator = DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=FIELD_V_PER_A)
    atoms.calc = calculator
    field_forces = calculator.get_property("field_forces", atoms)
    born = calculator.get_property("born_effective_charges", atoms)
    assert np.abs(born - born.transpose(0, 2, 1)).max() > 0.03

    def field_energy(a):
        return DipoleCalculator(model, calculator=gfn2_xtb(),
                                electric_field_V_per_A=FIELD_V_PER_A).get_property("field_energy", a)

    numeric = -position_derivative(field_energy, atoms, step_A=1e-4)
    assert_matches(field_forces, numeric)
    transposed = np.einsum("a,iba->ib", FIELD_V_PER_A, born)
    assert np.abs(transposed - numeric).max() > 100 * np.abs(field_forces - numeric).max()
    assert calculator.get_property("field_energy", atoms) == pytest.approx(
        -model.predict_dipole(atoms) @ FIELD_V_PER_A, abs=1e-14)


def test_total_forces_are_minus_gradient_of_total_energy(dimer_model):
    """The total energy (GFN2-xTB − μ·E) against the total forces by central
    differences; the field part of the forces is ~50 times the tolerance
    (GFN2-xTB's SCF noise), so a missing or reversed field term fails."""
    model, atoms = dimer_model
    atoms = atoms.copy()
    field = 2.0 * FIELD_V_PER_A / np.linalg.norm(FIELD_V_PER_A) * 0.05

    def make():
        return DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=field)

    atoms.calc = make()
    forces = atoms.get_forces()
    field_forces = atoms.calc.results["field_forces"]
    bare = atoms.copy()
    bare.calc = gfn2_xtb()
    np.testing.assert_allclose(forces - field_forces, bare.get_forces(), atol=1e-12)
    assert atoms.get_potential_energy() == pytest.approx(
        bare.get_potential_energy() + atoms.calc.results["field_energy"], abs=1e-12)
    numeric = -position_derivative(lambda a: make().get_property("energy", a), atoms, step_A=1e-3)
    tolerance_eV_per_A = 2e-4
    assert np.abs(forces - numeric).max() < tolerance_eV_per_A
    assert np.abs(field_forces).max() > 50 * tolerance_eV_per_A


def test_index_order_on_fixed_charges():
    """Z*_{i,αβ} = ∂μ_α/∂x_{iβ}: a field along α pulls atom i along β by
    E_α Z*_{i,αβ} (docs/conventions.md), on GFN2-xTB water's non-symmetric
    Born charges."""
    model, atoms = water_model()
    born = model.born_charges
    for alpha in range(3):
        field = np.zeros(3)
        field[alpha] = 0.05
        atoms.calc = DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=field)
        np.testing.assert_allclose(atoms.calc.get_property("field_forces", atoms),
                                   0.05 * born[:, alpha, :], atol=1e-15)
    assert np.abs(born - born.transpose(0, 2, 1)).max() > 0.03


def test_dipole_constant_shifts_the_energy_only():
    """μ0 is arbitrary (the reference dipole): it shifts the energy by −μ0·E
    and leaves the forces unchanged."""
    model, atoms = water_model()
    shifted = FixedChargesModel(model.born_charges, reference_positions=model.reference_positions,
                                reference_dipole=model.reference_dipole + [0.3, -0.2, 0.1],
                                symbols=model.symbols)
    atoms.positions += 0.02 * np.random.default_rng(2).standard_normal(atoms.positions.shape)
    results = []
    for dipole_model in (model, shifted):
        calculator = DipoleCalculator(dipole_model, calculator=gfn2_xtb(),
                                      electric_field_V_per_A=FIELD_V_PER_A)
        results.append((calculator.get_property("energy", atoms),
                        calculator.get_property("forces", atoms)))
    assert results[1][0] - results[0][0] == pytest.approx(-np.dot([0.3, -0.2, 0.1], FIELD_V_PER_A),
                                                          abs=1e-9)
    np.testing.assert_allclose(results[1][1], results[0][1], atol=1e-9)


def _nve(model, atoms, field, *, steps, timestep_fs=0.5):
    """NVE from ``atoms`` (with momenta) under ``field``: NVEMonitor summary,
    the total energies (kinetic + potential incl. −μ·E) and the field energies."""
    atoms = atoms.copy()
    atoms.calc = DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=field)
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    monitor = NVEMonitor(atoms)
    field_energies = []
    dyn.attach(monitor, interval=1)
    dyn.attach(lambda: field_energies.append(atoms.calc.get_property("field_energy", atoms)
                                             if field is not None else 0.0), interval=1)
    dyn.run(steps)
    return monitor.summary(), np.array(monitor.total_energies_eV), np.array(field_energies)


def test_nve_in_field_conserves_energy_as_well_as_without(dimer_model):
    """Water dimer, GFN2-xTB forces, PolarizationModel Z*(x), 200 K, 400 steps
    of 0.5 fs, the same start with and without |E| = 0.07 V/Å.

    On this time scale velocity Verlet's energy error is its bounded
    oscillation (the secular slope is below its noise in both runs, ratios
    between 0.1 and 2 over seeds): its size, the largest excursion per atom
    of kinetic + potential (−μ·E included) from the start, is the figure
    compared, within 1.5× (measured 2.60e-4 vs 2.59e-4 eV/atom); the end-
    to-end drift of the field run stays within it. Without the −μ·E term
    the same run's energy wanders > 10× more (measured 18×): the check has
    teeth."""
    model, atoms = dimer_model
    atoms = atoms.copy()
    from ase_dipole.dynamics.md import _thermalize

    _thermalize(atoms, 200.0, np.random.default_rng(5))
    Stationary(atoms)
    ZeroRotation(atoms)
    zero, _, _ = _nve(model, atoms, None, steps=400)
    field, energies_field, field_energies = _nve(model, atoms, FIELD_V_PER_A, steps=400)
    excursion_zero = zero["max_energy_excursion_eV_per_atom"]
    assert field["max_energy_excursion_eV_per_atom"] <= 1.5 * excursion_zero
    assert abs(field["energy_drift_eV_per_atom"]) <= 1.5 * excursion_zero
    without_term = energies_field - field_energies
    excursion_without = np.max(np.abs(without_term - without_term[0])) / len(atoms)
    assert excursion_without > 10 * excursion_zero


def test_bad_field_input_is_refused():
    model, atoms = water_model()
    with pytest.raises(ValueError, match=r"shape \(2,\); give the three Cartesian"):
        DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=(0.0, 0.1))
    with pytest.raises(ValueError, match="contains NaN or inf"):
        DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=(0.0, np.nan, 0.0))
    with pytest.raises(ValueError, match="contains NaN or inf"):
        DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=(np.inf, 0.0, 0.0))
    with pytest.raises(ValueError, match="is not three numbers"):
        DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=("x", 0.0, 0.0))
    with pytest.raises(ValueError, match="needs a force calculator.*pass calculator="):
        DipoleCalculator(model, electric_field_V_per_A=(0.0, 0.0, 0.01))
    with pytest.warns(UserWarning, match=r"\|E\| = 0.15 V/Å exceeds 0.1 V/Å"):
        DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=(0.0, 0.09, 0.12))
    assert FIELD_LINEAR_BOUND_V_PER_A == 0.1
    with pytest.raises(ValueError, match=r"\|E\| = 100 V/Å is far beyond the linear regime.*"
                                         r"give a field below 1.0 V/Å"):
        DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=(0.0, 100.0, 0.0))
    calculator = DipoleCalculator(model, calculator=gfn2_xtb(), electric_field_V_per_A=(0, 0, 0.01))
    assert "stress" not in calculator.implemented_properties
    atoms.set_cell([10.0, 10.0, 10.0])
    atoms.pbc = True
    atoms.calc = calculator
    with pytest.raises(PropertyNotImplementedError, match="stress.*not available in an electric field.*run at fixed cell"):
        atoms.get_stress()
    with pytest.raises(ValueError):
        calculator.electric_field_V_per_A[0] = 1.0  # read-only


def test_md_driver_runs_in_the_field_and_records_it(tmp_path):
    """run_ir_md with a field: the NVE run is the one of DipoleCalculator in
    that field (its logged μ, recomputed from the stored start, differs from
    the zero-field run's), its energy record includes −μ·E, and run.json, the
    log and the NVE record carry the field; a rerun with another field, NPT
    in a field and averaging logs of different fields are refused."""
    import json

    from ase.io import read

    from ase_dipole.dynamics.dipole_log import read_dipole_log
    from ase_dipole.dynamics.md import run_ir_md
    from ase_dipole.spectra.green_kubo import ir_spectrum

    model, atoms = water_model()
    field = [0.0, 0.06, -0.05]
    options = dict(temperature_K=300.0, timestep_fs=0.5, equilibration_steps=40,
                   decorrelation_steps=20, production_steps=60, interval=3, seed=5, progress=None)
    logs = run_ir_md(atoms, "md_helpers:gfn2_xtb", model, tmp_path / "field", n_trajectories=1,
                     electric_field_V_per_A=field, **options)
    log = read_dipole_log(logs[0])
    assert log.metadata["electric_field_V_per_A"] == field
    with open(tmp_path / "field" / "run.json") as handle:
        assert json.load(handle)["parameters"]["electric_field_V_per_A"] == field
    with open(tmp_path / "field" / "traj_000.nve.json") as handle:
        quality = json.load(handle)
    assert quality["electric_field_V_per_A"] == field
    assert quality["max_energy_excursion_eV_per_atom"] < 1e-3

    def replay(electric_field):
        start = read(tmp_path / "field" / "start_000.traj")
        start.calc = DipoleCalculator(model, calculator=gfn2_xtb(),
                                      electric_field_V_per_A=electric_field)
        VelocityVerlet(start, 0.5 * units.fs).run(60)
        return model.predict_dipole(start)

    in_field, without = replay(field), replay(None)
    np.testing.assert_allclose(log.dipole[-1], in_field, atol=1e-7)
    assert np.abs(without - in_field).max() > 1e3 * np.abs(log.dipole[-1] - in_field).max()

    with pytest.raises(ValueError, match=r"other parameters \(electric_field_V_per_A"):
        run_ir_md(atoms, "md_helpers:gfn2_xtb", model, tmp_path / "field", n_trajectories=1,
                  electric_field_V_per_A=[0.0, 0.0, 0.01], **options)
    with pytest.raises(ValueError, match="'npt' cannot run in an electric field"):
        periodic = atoms.copy()
        periodic.set_cell([12.0, 12.0, 12.0])
        periodic.pbc = True
        run_ir_md(periodic, "md_helpers:gfn2_xtb", model, tmp_path / "npt", ensemble="npt",
                  electric_field_V_per_A=field, **options)
    zero = run_ir_md(atoms, "md_helpers:gfn2_xtb", model, tmp_path / "zero", n_trajectories=1,
                     **options)
    assert read_dipole_log(zero[0]).metadata["electric_field_V_per_A"] is None
    with pytest.raises(ValueError, match="electric field.*average only logs of one field"):
        ir_spectrum(logs + zero, fwhm_cm1=200.0)


def test_md_command_line_field_option(tmp_path, capsys):
    from ase.io import write

    from ase_dipole.cli import main
    from ase_dipole.io.extxyz import set_born_charges
    from md_helpers import relaxed_water

    atoms, born, _ = relaxed_water()
    set_born_charges(atoms, born)
    write(tmp_path / "water.extxyz", atoms)
    arguments = ["md", str(tmp_path / "water.extxyz"), "--fixed-charges",
                 str(tmp_path / "water.extxyz"), "--calculator", "md_helpers:gfn2_xtb",
                 "-o", str(tmp_path / "run"), "--temperature-K", "250", "--n-trajectories", "1",
                 "--equilibration-steps", "10", "--decorrelation-steps", "0",
                 "--production-steps", "10", "--quiet"]
    with pytest.raises(SystemExit):
        main(arguments + ["--electric-field-V-per-A", "0", "nan", "0"])
    assert "--electric-field-V-per-A 0.0 nan 0.0: the components must be finite" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(arguments + ["--electric-field-V-per-A", "0", "0", "0.01", "--ensemble", "npt"])
    assert "cannot be used with --ensemble npt" in capsys.readouterr().err
    for strength in ("1e6", "100"):  # exited 0 with <T> = 9.3e17 K
        with pytest.raises(SystemExit):
            main(arguments + ["--electric-field-V-per-A", strength, "0", "0"])
        assert "is far beyond the linear regime" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()
    assert main(arguments + ["--electric-field-V-per-A", "0", "0", "0.01"]) == 0
    from ase_dipole.dynamics.dipole_log import read_dipole_log

    log = read_dipole_log(tmp_path / "run" / "traj_000.log")
    assert log.metadata["electric_field_V_per_A"] == [0.0, 0.0, 0.01]
