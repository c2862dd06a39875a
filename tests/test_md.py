"""MD-level checks: a 20 K NVE run of GFN2-xTB water reproduces the harmonic
IR spectrum (peak positions and areas, docs/conventions.md, "The harmonic limit"); logs from
stored trajectories (velocities vs positions only); the ``md`` driver and CLI."""

import dataclasses
import json
import os

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.io import read, write
from ase.md.verlet import VelocityVerlet
from ase.vibrations import Vibrations

from ase_dipole.cli import main
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.io.extxyz import set_born_charges, set_dipole
from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.dynamics.md import make_force_calculator, run_ir_md
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.spectra.green_kubo import ir_spectrum
from ase_dipole.dynamics.trajectory import log_from_trajectory
from ase_dipole.units import KM_PER_MOL_PER_E2_AMU
from md_helpers import (
    gfn2_xtb,
    harmonic_modes,
    mode_charges,
    relaxed_water,
    water_model,
)

#: cm per (km/mol): an integrated band of 1 km/mol is 1e5 cm / N_A per molecule
CM_PER_KM_PER_MOL = 1e5 / units._Nav  # [cm / (km/mol)]


def equipartition_velocities(modes, masses_amu, temperature_K):
    """Velocities (N, 3), ASE units, giving every listed mode the kinetic
    energy k_B T at the minimum: its mean total energy in a canonical ensemble."""
    speed = np.sqrt(2.0 * units.kB * temperature_K)
    weighted = speed * modes.sum(axis=0).reshape(-1, 3)
    return weighted / np.sqrt(masses_amu)[:, None]


def component_log(log, axis):
    """The log with Ṗ and μ kept along one Cartesian axis only."""
    keep = np.zeros(3)
    keep[axis] = 1.0
    return dataclasses.replace(log, pdot=log.pdot * keep, dipole=log.dipole * keep)


def test_low_temperature_md_reproduces_harmonic_spectrum(tmp_path):
    """5 K NVE of GFN2-xTB water, every mode started with energy k_B T: MD
    peaks within 1 % of the ase.vibrations frequencies and band areas within
    5 % of π/(6Vcε0)|Z̃_ν|² (in wavenumbers). At 20 K the two stretches, only
    8 cm⁻¹ apart in GFN2-xTB, trade ~9 % of their energy within 2 ps (an
    anharmonic 1:1 resonance); at 5 K the exchange is four times smaller."""
    temperature_K = 5.0
    fwhm_cm1 = 40.0
    model, atoms = water_model()
    masses = atoms.get_masses()
    vibrating = atoms.copy()
    vibrating.calc = gfn2_xtb()
    vibrations = Vibrations(vibrating, name=str(tmp_path / "vib"), delta=0.01)
    vibrations.run()
    wavenumbers, modes = harmonic_modes(vibrations.get_vibrations().get_hessian_2d(), masses)
    wavenumbers, modes = wavenumbers[-3:], modes[-3:]  # bend, two stretches
    charges = mode_charges(model.born_charges, modes, masses)
    # harmonic band areas ∫σ dν̃ = π/(6 V c ε0)|Z̃|² V / (2πc), via the km/mol factor
    areas_cm = KM_PER_MOL_PER_E2_AMU * np.sum(charges**2, axis=1) * CM_PER_KM_PER_MOL

    atoms.calc = gfn2_xtb()
    atoms.set_velocities(equipartition_velocities(modes, masses, temperature_K))
    dyn = VelocityVerlet(atoms, 0.2 * units.fs)
    observer = DipoleObserver(dyn, model, tmp_path / "nve.log", interval=2,
                              temperature_K=temperature_K)
    dyn.attach(observer, interval=2)
    dyn.run(8500)
    observer.close()
    log = read_dipole_log(tmp_path / "nve.log")

    total = ir_spectrum(log, fwhm_cm1=fwhm_cm1)
    assert total.unit == "cm^2"
    # the molecule lies in the yz plane with its C2 axis along z: A1 modes
    # (bend, symmetric stretch) radiate along z, the B2 stretch along y
    partials = {axis: ir_spectrum(component_log(log, axis), fwhm_cm1=fwhm_cm1) for axis in (1, 2)}
    np.testing.assert_allclose(partials[1].intensity + partials[2].intensity, total.intensity,
                               atol=1e-6 * total.intensity.max())
    for wavenumber, charge, area in zip(wavenumbers, charges, areas_cm):
        axis = int(np.argmax(np.abs(charge)))
        assert np.abs(charge[axis]) ** 2 > 0.999 * np.sum(charge**2)
        spectrum = partials[axis]
        window = (spectrum.wavenumber_cm1 > wavenumber - 5 * fwhm_cm1) & (
            spectrum.wavenumber_cm1 < wavenumber + 5 * fwhm_cm1)
        grid, intensity = spectrum.wavenumber_cm1[window], spectrum.intensity[window]
        peak = np.argmax(intensity)
        # parabola through the three highest points
        left, centre, right = intensity[peak - 1:peak + 2]
        step = grid[1] - grid[0]
        peak_cm1 = grid[peak] + 0.5 * step * (left - right) / (left - 2 * centre + right)
        assert peak_cm1 / wavenumber == pytest.approx(1.0, abs=0.01)
        md_area = spectrum.integral(min_wavenumber_cm1=wavenumber - 5 * fwhm_cm1,
                                    max_wavenumber_cm1=wavenumber + 5 * fwhm_cm1)
        assert md_area / area == pytest.approx(1.0, abs=0.05)


def run_wrapped_water_trajectory(tmp_path, *, steps, timestep_fs):
    """A 300 K GFN2-xTB water trajectory drifting across a 6 Å periodic box,
    stored wrapped: as .traj (with velocities) and extxyz (positions only),
    plus the observer's log of the same run for reference."""
    model, atoms = water_model()
    atoms.calc = gfn2_xtb()
    rng = np.random.default_rng(11)
    velocities = rng.normal(0.0, 0.02, atoms.positions.shape)  # Å/fs, ~300 K for H
    velocities += [0.06, -0.04, 0.03]  # drift: the molecule crosses the cell walls
    atoms.set_velocities(velocities / units.fs)
    atoms.positions += [5.0, 1.0, 5.2]
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    observer = DipoleObserver(dyn, model, tmp_path / "direct.log", interval=1, temperature_K=300)
    dyn.attach(observer, interval=1)
    frames = []

    def store():
        frame = atoms.copy()
        frame.calc = None
        frame.set_cell([6.0, 6.0, 6.0])
        frame.pbc = True
        frame.wrap()
        frames.append(frame)

    dyn.attach(store, interval=1)
    dyn.run(steps)
    observer.close()
    write(tmp_path / "wrapped.traj", frames)
    for frame in frames:
        del frame.arrays["momenta"]
    write(tmp_path / "wrapped.extxyz", frames)
    return model, frames


def test_logs_from_trajectories_velocities_and_positions_agree(tmp_path):
    model, frames = run_wrapped_water_trajectory(tmp_path, steps=160, timestep_fs=0.25)
    jumps = np.abs(np.diff([f.positions for f in frames], axis=0)).max()
    assert jumps > 3.0  # the stored positions really are wrapped
    direct = read_dipole_log(tmp_path / "direct.log")

    route = log_from_trajectory(tmp_path / "wrapped.traj", model, tmp_path / "velocities.log",
                                timestep_fs=0.25, temperature_K=300)
    assert route == "velocities"
    from_velocities = read_dipole_log(tmp_path / "velocities.log")
    np.testing.assert_allclose(from_velocities.time_fs, direct.time_fs, atol=1e-9)
    np.testing.assert_allclose(from_velocities.pdot, direct.pdot, atol=1e-8)
    # μ along unwrapped positions: continuous, equal to the direct run's
    np.testing.assert_allclose(from_velocities.dipole, direct.dipole, atol=1e-7)

    with pytest.warns(UserWarning, match="no velocities: Ṗ is taken from central finite"):
        route = log_from_trajectory(tmp_path / "wrapped.extxyz", model,
                                    tmp_path / "positions.log", timestep_fs=0.25)
    assert route == "finite-differences"
    from_positions = read_dipole_log(tmp_path / "positions.log")
    np.testing.assert_allclose(from_positions.time_fs, direct.time_fs[1:-1], atol=1e-9)
    # VelocityVerlet is time-reversible, so (x(t+Δt) − x(t−Δt))/2Δt = v(t) up to
    # the 1e-8 Å precision of the extxyz positions; μ is linear in x here
    scale = np.abs(direct.pdot).max()
    np.testing.assert_allclose(from_positions.pdot, direct.pdot[1:-1], atol=1e-4 * scale)
    assert from_positions.metadata["pdot_source"] == "finite-differences"


def test_log_from_trajectory_rejects_bad_input(tmp_path):
    model, frames = run_wrapped_water_trajectory(tmp_path, steps=4, timestep_fs=0.25)
    with pytest.raises(ValueError, match="timestep_fs must be a positive number"):
        log_from_trajectory(frames, model, tmp_path / "a.log", timestep_fs=0.0)
    with pytest.raises(ValueError, match="has 2 frame"):
        log_from_trajectory(frames[:2], model, tmp_path / "b.log", timestep_fs=0.25)
    with pytest.warns(UserWarning, match="no velocities"):
        log_from_trajectory([f.copy() for f in frames], model, tmp_path / "c.log",
                            timestep_fs=0.25)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        log_from_trajectory(frames, model, tmp_path / "c.log", timestep_fs=0.25)
    shuffled = [frames[0], frames[1][[1, 0, 2]], frames[2]]
    with pytest.raises(ValueError, match="frame 1 has different atoms"):
        log_from_trajectory(shuffled, model, tmp_path / "d.log", timestep_fs=0.25)


def test_md_driver_writes_logs_and_skips_finished_ones(tmp_path):
    model, atoms = water_model()
    options = dict(temperature_K=300.0, timestep_fs=0.5, equilibration_steps=40,
                   decorrelation_steps=20, production_steps=30, interval=3, seed=5, progress=None)
    logs = run_ir_md(atoms, "md_helpers:gfn2_xtb", model, tmp_path, n_trajectories=2, **options)
    assert [os.path.basename(p) for p in logs] == ["traj_000.log", "traj_001.log"]
    starts = [read(tmp_path / f"start_{k:03d}.traj") for k in range(2)]
    # independent starts with velocities, centre of mass at rest
    assert np.abs(starts[0].positions - starts[1].positions).max() > 1e-3
    for start in starts:
        np.testing.assert_allclose(start.get_momenta().sum(axis=0), 0.0, atol=1e-10)
    for k, path in enumerate(logs):
        log = read_dipole_log(path)
        np.testing.assert_allclose(log.time_fs, 1.5 * np.arange(11), atol=1e-9)
        assert log.metadata["trajectory"] == k
        assert log.metadata["temperature_K"] == 300.0
        assert log.metadata["model_sha256"] == model.sha256
        # the NVE run starts from its stored starting configuration
        start = starts[k]
        start_dipole, start_pdot = model.predict_pdot(start, start.get_velocities() * units.fs)
        np.testing.assert_allclose(log.pdot[0], start_pdot, atol=1e-9)
        # the NVE record: kinetic temperature of the start and a conserved energy
        with open(tmp_path / f"traj_{k:03d}.nve.json") as handle:
            quality = json.load(handle)
        assert quality["samples"] == 11
        assert quality["mean_temperature_K"] > 0
        assert abs(quality["energy_drift_eV_per_atom"]) < 1e-3
        assert quality["max_energy_excursion_eV_per_atom"] >= abs(quality["energy_drift_eV_per_atom"])
    stamps = [os.stat(path).st_mtime_ns for path in logs]
    more = run_ir_md(atoms, "md_helpers:gfn2_xtb", model, tmp_path, n_trajectories=3, **options)
    assert [os.stat(path).st_mtime_ns for path in more[:2]] == stamps
    assert len(read_dipole_log(more[2]).time_fs) == 11
    with pytest.raises(ValueError, match=r"other parameters \(seed: 5 -> 6\)"):
        run_ir_md(atoms, "md_helpers:gfn2_xtb", model, tmp_path, n_trajectories=3,
                  **dict(options, seed=6))


def test_md_driver_npt_sampling_lets_cell_breathe(tmp_path):
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 1)
    model = FixedChargesModel(np.zeros((len(crystal), 3, 3)),
                              symbols=crystal.get_chemical_symbols())
    with pytest.warns(UserWarning, match="P_mass"):
        logs = run_ir_md(crystal, "ase.calculators.emt:EMT", model, tmp_path, temperature_K=300.0,
                         timestep_fs=2.0, n_trajectories=2, equilibration_steps=60,
                         decorrelation_steps=30, production_steps=10, ensemble="npt",
                         progress=None)
    volumes = [read(tmp_path / f"start_{k:03d}.traj").get_volume() for k in range(2)]
    assert abs(volumes[0] - crystal.get_volume()) > 1e-3
    assert abs(volumes[1] - volumes[0]) > 1e-4
    for path, volume in zip(logs, volumes):
        assert read_dipole_log(path).metadata["volume_A3"] == pytest.approx(volume, rel=1e-12)
    with pytest.raises(ValueError, match="'npt' needs a 3-D periodic cell"):
        run_ir_md(water_model()[1], "md_helpers:gfn2_xtb", model, tmp_path / "x",
                  temperature_K=300.0, timestep_fs=0.5, ensemble="npt")


def test_exploding_run_stops_with_an_error_naming_the_cause(tmp_path):
    """A 40 fs step blows up Cu (EMT): it stopped silently with <T> ~ 1e17 K."""
    from ase_dipole.dynamics.md import MDBlowUpError

    crystal = bulk("Cu", "fcc", a=3.6, cubic=True)
    model = FixedChargesModel(np.zeros((len(crystal), 3, 3)),
                              symbols=crystal.get_chemical_symbols())
    options = dict(temperature_K=300.0, n_trajectories=1, equilibration_steps=40,
                   decorrelation_steps=0, production_steps=20, progress=None)
    with pytest.raises(MDBlowUpError, match=r"equilibration exploded at step \d+: kinetic "
                                            r"temperature .* K, above 3000 K.*the timestep 40 fs"):
        run_ir_md(crystal, "ase.calculators.emt:EMT", model, tmp_path / "a", timestep_fs=40.0,
                  **options)
    assert not (tmp_path / "a" / "start_000.traj").exists()
    # NVE: a start whose velocities are 100x too large (~3e6 K) on a sane timestep
    run = tmp_path / "b"
    run_ir_md(crystal, "ase.calculators.emt:EMT", model, run, timestep_fs=2.0,
              **dict(options, production_steps=10))
    start = read(run / "start_000.traj")
    start.set_velocities(start.get_velocities() * 100.0)
    for name in ("traj_000.log", "traj_000.nve.json"):
        os.remove(run / name)
    write(run / "start_000.traj", start)
    with pytest.raises(MDBlowUpError, match=r"production 1/1 exploded at step 0: kinetic "
                                            r"temperature"):
        run_ir_md(crystal, "ase.calculators.emt:EMT", model, run, timestep_fs=2.0,
                  **dict(options, production_steps=10))
    assert not (run / "traj_000.nve.json").exists()


def test_blow_up_guard_watches_the_conserved_energy_of_nve_runs():
    from types import SimpleNamespace

    from ase.calculators.singlepoint import SinglePointCalculator

    from ase_dipole.dynamics.md import MDBlowUpError, BlowUpGuard

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.set_velocities(np.full((4, 3), 1e-3))
    dyn = SimpleNamespace(atoms=atoms, nsteps=0)
    parameters = dict(temperature_K=300.0, timestep_fs=5.0,
                      electric_field_V_per_A=[0.0, 0.0, 0.5])
    guard = BlowUpGuard(dyn, "production 2/3", parameters, nve=True)
    for step, energy in ((0, -1.0), (10, 2.0)):  # +0.75 eV/atom: kept
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
        dyn.nsteps = step
        guard()
    atoms.calc = SinglePointCalculator(atoms, energy=4.0)
    dyn.nsteps = 20
    with pytest.raises(MDBlowUpError, match=r"production 2/3 exploded at step 20: the conserved "
                                            r"energy changed by \+1.25 eV/atom .*the electric "
                                            r"field \|E\| = 0.5 V/Å drives it, or the timestep 5 fs"):
        guard()


def test_force_calculator_specifications():
    from ase.calculators.emt import EMT

    assert isinstance(make_force_calculator("ase.calculators.emt:EMT"), EMT)
    assert isinstance(make_force_calculator(EMT), EMT)
    with pytest.raises(ValueError, match="unknown calculator 'emt'; use one of"):
        make_force_calculator("emt")
    with pytest.raises(ImportError, match="cannot import 'no_such_module'"):
        make_force_calculator("no_such_module:factory")
    with pytest.raises(ValueError, match="has no callable 'NotThere'"):
        make_force_calculator("ase.calculators.emt:NotThere")


def test_md_command_line(tmp_path, capsys):
    atoms, born, dipole = relaxed_water()
    set_born_charges(atoms, born)
    set_dipole(atoms, dipole)
    write(tmp_path / "water.extxyz", atoms)
    arguments = ["md", str(tmp_path / "water.extxyz"), "--fixed-charges",
                 str(tmp_path / "water.extxyz"), "--calculator", "md_helpers:gfn2_xtb",
                 "-o", str(tmp_path / "run"), "--temperature-K", "250", "--timestep-fs", "0.5",
                 "--n-trajectories", "2", "--equilibration-steps", "20",
                 "--decorrelation-steps", "10", "--production-steps", "20", "--interval", "2"]
    assert main(arguments) == 0
    captured = capsys.readouterr()
    assert "production 2/2" in captured.err
    for k in range(2):
        log = read_dipole_log(tmp_path / "run" / f"traj_{k:03d}.log")
        assert len(log.time_fs) == 11
        assert log.metadata["temperature_K"] == 250.0
    with pytest.raises(SystemExit):
        main(arguments[:4] + ["--calculator", "emt"] + arguments[6:])
    assert "unknown calculator 'emt'" in capsys.readouterr().err


def test_md_command_line_logs_raman_with_a_polarizability_model(tmp_path, capsys):
    """``ase-dipole md --raman MODEL.npz`` writes traj_000.alog beside the
    dipole log, whose α̇ equals central differences of its α; a file that is
    no model is one clear error."""
    from raman_helpers import emt_water

    from ase_dipole.dynamics.polarizability_log import read_polarizability_log
    from ase_dipole.learning.polarizability import PolarizabilityModel

    atoms = emt_water()
    set_born_charges(atoms, np.array([-0.8, 0.4, 0.4])[:, None, None] * np.eye(3))
    set_dipole(atoms, np.zeros(3))
    write(tmp_path / "water.extxyz", atoms)
    alpha_model = PolarizabilityModel(["H", "O"], cutoff=3.0, n_max=3)
    alpha_model.coefficients = np.random.default_rng(3).normal(size=alpha_model.n_columns)
    alpha_model.save(tmp_path / "alpha.npz")
    arguments = ["md", str(tmp_path / "water.extxyz"), "--fixed-charges", str(tmp_path / "water.extxyz"),
                 "--calculator", "ase.calculators.emt:EMT", "-o", str(tmp_path / "run"),
                 "--temperature-K", "300", "--timestep-fs", "0.25", "--n-trajectories", "1",
                 "--equilibration-steps", "10", "--decorrelation-steps", "0", "--production-steps", "40",
                 "--quiet"]
    assert main(arguments + ["--raman", str(tmp_path / "alpha.npz")]) == 0
    log = read_polarizability_log(tmp_path / "run" / "traj_000.alog")
    assert len(log.time_fs) == 41 and log.metadata["model_sha256"] == alpha_model.sha256
    assert log.metadata["temperature_K"] == 300.0
    central = (log.alpha[2:] - log.alpha[:-2]) / (log.time_fs[2:] - log.time_fs[:-2])[:, None]
    np.testing.assert_allclose(central, log.alphadot[1:-1], atol=0.01 * np.abs(log.alphadot).max())
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "other") if argument == str(tmp_path / "run") else argument for argument in arguments]
             + ["--raman", str(tmp_path / "water.extxyz")])
    assert "is not a PolarizabilityModel file" in capsys.readouterr().err


def test_second_identical_md_waits_and_says_so(tmp_path, capsys):
    """A second identical ``md`` started while the first runs a trajectory
    waits for its lock; it printed "resumed 1 interrupted trajectory"."""
    import fcntl
    import threading

    crystal = bulk("Cu", "fcc", a=3.6, cubic=True)
    set_born_charges(crystal, np.zeros((len(crystal), 3, 3)))
    write(tmp_path / "cu.extxyz", crystal)
    arguments = ["md", str(tmp_path / "cu.extxyz"), "--fixed-charges", str(tmp_path / "cu.extxyz"),
                 "--calculator", "ase.calculators.emt:EMT", "-o", str(tmp_path / "run"),
                 "--temperature-K", "300", "--timestep-fs", "2", "--n-trajectories", "1",
                 "--equilibration-steps", "10", "--decorrelation-steps", "0",
                 "--production-steps", "10"]
    assert main(arguments) == 0
    capsys.readouterr()
    os.remove(tmp_path / "run" / "traj_000.nve.json")  # as while the first one still runs
    handle = open(tmp_path / "run" / "start_000.traj", "rb")  # the first one's lock
    fcntl.flock(handle, fcntl.LOCK_EX)
    release = threading.Timer(1.0, handle.close)
    release.start()
    try:
        assert main(arguments) == 0
    finally:
        release.join()
    printed = capsys.readouterr()
    assert "resumed" not in printed.out
    assert "waited for 1 trajectory(ies) that another process was running (not interrupted): " \
        "traj_000" in printed.out
    assert "production 1/1: another process is running it" in printed.err
    assert "was finished by another process while this one waited for it; kept" in printed.err


def test_progress_writes_lines_into_files_and_redraws_on_terminals():
    import io

    from ase_dipole.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream in (io.StringIO(), Terminal()):
        with progress_bar(1000, "production", stream=stream) as bar:
            for _ in range(50):
                bar.update(20)
        text = stream.getvalue()
        last = text.rstrip("\n").split("\n")[-1].split("\r")[-1]
        assert "production: 100%" in last and "1000/1000" in last
        if isinstance(stream, Terminal):
            assert text.count("\n") == 1 and "\r" in text  # redrawn in place
        else:
            assert "\r" not in text  # a file gets whole lines: first, last (and one per 30 s)
            assert text.count("\n") == 2


def test_md_progress_is_one_bar_over_the_whole_run(tmp_path):
    """The remaining time of an MD run covers all its phases: one bar counts
    the steps of the equilibration, the decorrelations and every production
    run (20 + 10 + 2 × 30 = 90); a rerun counts only what is left (one more
    trajectory: 10 + 30 steps)."""
    import io

    from ase.calculators.emt import EMT

    model, atoms = water_model()
    options = dict(temperature_K=300.0, timestep_fs=0.5, equilibration_steps=20,
                   decorrelation_steps=10, production_steps=30, interval=3, seed=5)
    report = io.StringIO()
    run_ir_md(atoms, EMT, model, tmp_path, n_trajectories=2, progress=report, **options)
    bars = [line for line in report.getvalue().splitlines() if "%|" in line]
    assert bars[-1].startswith("production 2/2: 100%") and "| 90/90 [" in bars[-1], bars
    assert {line.split("|")[2].split("[")[0].split("/")[1].strip() for line in bars} == {"90"}
    report = io.StringIO()
    run_ir_md(atoms, EMT, model, tmp_path, n_trajectories=3, progress=report, **options)
    assert "| 40/40 [" in [line for line in report.getvalue().splitlines() if "%|" in line][-1]


def test_nve_temperature_counts_the_removed_centre_of_mass_motion():
    """Maxwell–Boltzmann momenta at 100 K with the centre-of-mass momentum
    removed hold ⟨E_kin⟩ = (3N − 3) k_B T / 2: the monitor's mean temperature
    is 100 K with 3N − 3 degrees of freedom (it read 3N/(3N−3) too low)."""
    from ase.calculators.emt import EMT
    from ase.md.velocitydistribution import Stationary

    from ase_dipole.dynamics.md import NVEMonitor

    from ase.build import molecule

    atoms = molecule("CH3OH")  # 6 atoms
    atoms.calc = EMT()
    masses = atoms.get_masses()[:, None]
    rng = np.random.default_rng(5)

    def draw(stationary):
        atoms.set_momenta(np.sqrt(masses * units.kB * 100.0) * rng.standard_normal((len(atoms), 3)))
        if stationary:
            Stationary(atoms, preserve_temperature=False)

    for stationary, expected_dof in ((True, 15), (False, 18)):
        draw(stationary)
        monitor = NVEMonitor(atoms)
        assert monitor.degrees_of_freedom == expected_dof
        for _ in range(4000):
            draw(stationary)
            monitor()
        summary = monitor.summary()
        assert summary["degrees_of_freedom"] == expected_dof
        # 4000 samples of a χ²/f variable: standard error 100·sqrt(2/(f·4000)) ≈ 0.6 K
        assert summary["mean_temperature_K"] == pytest.approx(100.0, abs=2.5)
