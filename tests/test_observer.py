"""DipoleObserver on ASE VelocityVerlet runs of GFN2-xTB water: step 0 logged,
Ṗ = Σ Z*_i v_i, Ṗ = dμ/dt, the time column, a run killed with SIGKILL leaves a
log the spectrum code reads, restarts append, and bad set-ups fail clearly."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase import Atoms, units
from ase.md.verlet import VelocityVerlet

from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.spectra.green_kubo import ir_spectrum
from md_helpers import gfn2_xtb, water_model

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def hot_water(seed=2, temperature_K=300.0):
    """GFN2-xTB water with Maxwell–Boltzmann velocities, and its model."""
    from ase.md.velocitydistribution import Stationary

    model, atoms = water_model()
    atoms.calc = gfn2_xtb()
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(units.kB * temperature_K / atoms.get_masses())[:, None]
    atoms.set_momenta(atoms.get_masses()[:, None] * sigma * rng.standard_normal((3, 3)))
    Stationary(atoms)
    return model, atoms


def test_observer_logs_pdot_equal_to_born_charges_times_velocities(tmp_path):
    model, atoms = hot_water()
    timestep_fs = 0.1
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    observer = DipoleObserver(dyn, model, tmp_path / "run.log", interval=1, temperature_K=300)
    dyn.attach(observer, interval=1)
    velocities = []
    dyn.attach(lambda: velocities.append(atoms.get_velocities() * units.fs), interval=1)
    dyn.run(60)
    observer.close()
    log = read_dipole_log(tmp_path / "run.log")
    # step 0 is logged; time in fs
    np.testing.assert_allclose(log.time_fs, timestep_fs * np.arange(61), atol=1e-12)
    direct = np.einsum("iab,tib->ta", model.born_charges, np.array(velocities))
    np.testing.assert_allclose(log.pdot, direct, atol=1e-9 * np.abs(direct).max())
    # Ṗ is dμ/dt of the logged μ: VelocityVerlet is time reversible, so the
    # central difference of positions equals v(t) and μ is linear here; left
    # only the 10-digit text precision of μ
    finite_difference = (log.dipole[2:] - log.dipole[:-2]) / (2.0 * timestep_fs)
    np.testing.assert_allclose(log.pdot[1:-1], finite_difference, atol=1e-5 * np.abs(direct).max())
    assert log.metadata["timestep_fs"] == pytest.approx(timestep_fs, rel=1e-12)
    assert log.metadata["masses_amu"] == pytest.approx(list(atoms.get_masses()))
    assert log.metadata["periodic"] is False
    assert log.metadata["model_sha256"] == model.sha256


def test_interval_and_restart_append(tmp_path):
    model, atoms = hot_water()
    path = tmp_path / "restart.log"
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    observer = DipoleObserver(dyn, model, path, interval=4, temperature_K=300)
    dyn.attach(observer, interval=4)
    dyn.run(20)
    observer.close()
    assert len(read_dipole_log(path).time_fs) == 6
    # resumed from the last logged state with new dynamics: time continues and
    # the shared state is not logged twice
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    observer = DipoleObserver(dyn, model, path, interval=4, temperature_K=300)
    dyn.attach(observer, interval=4)
    dyn.run(12)
    observer.close()
    log = read_dipole_log(path)
    np.testing.assert_allclose(log.time_fs, 2.0 * np.arange(9), atol=1e-12)
    uninterrupted_model, uninterrupted = hot_water()
    dyn = VelocityVerlet(uninterrupted, 0.5 * units.fs)
    observer = DipoleObserver(dyn, uninterrupted_model, tmp_path / "straight.log", interval=4)
    dyn.attach(observer, interval=4)
    dyn.run(32)
    observer.close()
    straight = read_dipole_log(tmp_path / "straight.log")
    np.testing.assert_allclose(log.pdot, straight.pdot, atol=1e-8)
    # dynamics restored with their step count (16 fs logged; the next row,
    # 18 fs, is after step 36): their own time continues the log
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.nsteps = 32
    observer = DipoleObserver(dyn, model, path, interval=4, temperature_K=300)
    dyn.attach(observer, interval=4)
    dyn.run(4)
    observer.close()
    np.testing.assert_allclose(read_dipole_log(path).time_fs, 2.0 * np.arange(10), atol=1e-12)
    # another run from another state (a rerun of the script) is not spliced on
    rows_before = path.read_text()
    atoms.positions[0] += 0.001
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    observer = DipoleObserver(dyn, model, path, interval=4, temperature_K=300)
    dyn.attach(observer, interval=4)
    with pytest.raises(ValueError, match=r"does not continue it .* pass overwrite=True"):
        dyn.run(4)
    observer.close()
    assert path.read_text() == rows_before
    # ... unless asked to replace the log
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    observer = DipoleObserver(dyn, model, path, interval=4, temperature_K=300, overwrite=True)
    dyn.attach(observer, interval=4)
    dyn.run(4)
    observer.close()
    np.testing.assert_allclose(read_dipole_log(path).time_fs, [0.0, 2.0], atol=1e-12)
    # another temperature or model is another run
    with pytest.raises(ValueError, match="its temperature_K is 300.0, this run has 350.0"):
        DipoleObserver(dyn, model, path, interval=4, temperature_K=350)
    # appending with another time step is refused by the log
    with pytest.raises(ValueError, match="cannot append.*timestep_fs"):
        DipoleObserver(VelocityVerlet(atoms, 1.0 * units.fs), model, path, interval=4)


def test_bad_setups_fail_clearly(tmp_path):
    model, atoms = water_model()
    with pytest.raises(ValueError, match="pass timestep_fs"):
        DipoleObserver(atoms, model, tmp_path / "a.log")
    observer = DipoleObserver(atoms, model, tmp_path / "b.log", timestep_fs=0.5)
    with pytest.raises(ValueError, match="no velocities"):
        observer()
    observer.close()
    moving = atoms.copy()
    moving.calc = gfn2_xtb()
    dyn = VelocityVerlet(moving, 0.5 * units.fs)
    with pytest.raises(ValueError, match="disagrees with the dynamics' time step 0.5 fs"):
        DipoleObserver(dyn, model, tmp_path / "c.log", timestep_fs=1.0)
    observer = DipoleObserver(dyn, model, tmp_path / "d.log", interval=2)
    dyn.attach(observer, interval=3)
    with pytest.raises(ValueError, match="attached with interval=3 but built with interval=2"):
        dyn.run(3)
    observer.close()
    with pytest.raises(ValueError, match=r"knows species \('H', 'O'\)"):
        DipoleObserver(Atoms("CH2", positions=atoms.positions), model, tmp_path / "e.log",
                       timestep_fs=0.5)
    with pytest.warns(UserWarning, match="resolves wavenumbers only up to 3336 cm"):
        DipoleObserver(dyn, model, tmp_path / "g.log", interval=10)
    with pytest.raises(ValueError, match="interval must be a positive integer"):
        DipoleObserver(dyn, model, tmp_path / "f.log", interval=0)


CRASHING_RUN = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from ase_dipole.dynamics.observer import DipoleObserver
    from test_observer import hot_water

    model, atoms = hot_water()
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    observer = DipoleObserver(dyn, model, sys.argv[1], interval=1, temperature_K=300)
    dyn.attach(observer, interval=1)
    dyn.attach(lambda: os.kill(os.getpid(), signal.SIGKILL), interval=-int(sys.argv[2]))
    dyn.run(100000)
""")


def test_log_of_killed_run_is_readable_and_gives_a_spectrum(tmp_path):
    path = tmp_path / "killed.log"
    environment = dict(os.environ, OMP_NUM_THREADS="1",
                       PYTHONPATH=os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", CRASHING_RUN, str(path), "1600"],
                            env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    log = read_dipole_log(path)
    np.testing.assert_allclose(log.time_fs, 0.5 * np.arange(1601), atol=1e-9)
    spectrum = ir_spectrum(path, fwhm_cm1=120.0)
    assert np.all(np.isfinite(spectrum.intensity))
    assert spectrum.intensity.max() > 0
