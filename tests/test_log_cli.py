"""``ase-dipole log``: one real MD (GFN2-xTB water drifting across a periodic
box) written as ASE .traj, extxyz, VASP XDATCAR and vasprun.xml, and LAMMPS
dumps in two unit styles, gives the observer's log of the same run: exactly
from velocities, to O(Δt²) by finite differences from positions."""

import json

import ase.io
import numpy as np
import pytest
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.verlet import VelocityVerlet

from ase_dipole.cli import main
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.dynamics.observer import DipoleObserver
from ase_dipole.dynamics.trajectory import read_trajectory
from ase_dipole.provenance import file_sha256
from md_helpers import gfn2_xtb, water_model
from trajectory_writers import write_lammps_dump, write_vasprun_md

TIMESTEP_FS = 0.25
BOX_A = 6.0


@pytest.fixture(scope="module")
def md_run(tmp_path_factory):
    """120 steps of GFN2-xTB water with a drift that crosses the cell walls,
    the observer's log, and the frames (wrapped, with velocities, energies
    and forces) in every format."""
    directory = tmp_path_factory.mktemp("log_cli")
    model, atoms = water_model()
    model_path = directory / "water.npz"
    model.save(model_path)
    atoms.calc = gfn2_xtb()
    velocities = np.random.default_rng(7).normal(0.0, 0.02, atoms.positions.shape)
    velocities += [0.06, -0.04, 0.03]
    atoms.set_velocities(velocities / units.fs)
    atoms.positions += [5.0, 1.0, 5.2]
    dyn = VelocityVerlet(atoms, TIMESTEP_FS * units.fs)
    observer = DipoleObserver(dyn, model, directory / "direct.log", interval=1, temperature_K=300)
    dyn.attach(observer, interval=1)
    frames = []

    def store():
        frame = atoms.copy()
        frame.set_cell([BOX_A] * 3)
        frame.pbc = True
        frame.wrap()
        frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(),
                                           forces=atoms.get_forces())
        frames.append(frame)

    dyn.attach(store, interval=1)
    dyn.run(120)
    observer.close()
    paths = {
        "traj": directory / "md.traj",
        "extxyz-velocities": directory / "md_velocities.extxyz",
        "extxyz": directory / "md.extxyz",
        "xdatcar": directory / "XDATCAR",
        "vasprun": directory / "vasprun.xml",
        "lammps-metal": directory / "md_metal.dump",
        "lammps-real": directory / "md_real.dump",
        "lammps-types": directory / "md_types.lammpstrj",
    }
    ase.io.write(paths["traj"], frames)
    ase.io.write(paths["extxyz-velocities"], frames, format="extxyz")
    positions_only = [frame.copy() for frame in frames]
    for frame in positions_only:
        del frame.arrays["momenta"]
    ase.io.write(paths["extxyz"], positions_only, format="extxyz")
    ase.io.write(paths["xdatcar"], positions_only, format="vasp-xdatcar")
    write_vasprun_md(paths["vasprun"], frames)
    write_lammps_dump(paths["lammps-metal"], frames, unit_style="metal")
    write_lammps_dump(paths["lammps-real"], frames, unit_style="real")
    write_lammps_dump(paths["lammps-types"], frames, unit_style="real", element_column=False)
    return {"directory": directory, "model": model_path, "frames": frames, "paths": paths,
            "direct": read_dipole_log(directory / "direct.log")}


def run_log(md_run, key, *extra):
    out = md_run["directory"] / f"{key}.log"
    code = main(["log", str(md_run["paths"][key]), "--model", str(md_run["model"]),
                 "--timestep-fs", str(TIMESTEP_FS), "-o", str(out), "--overwrite",
                 "--temperature-K", "300", *extra])
    assert code == 0
    return read_dipole_log(out)


@pytest.mark.parametrize("key, extra", [
    ("traj", []), ("extxyz-velocities", []),
    ("lammps-metal", ["--lammps-units", "metal"]), ("lammps-real", ["--lammps-units", "real"]),
    ("lammps-types", ["--lammps-units", "real", "--lammps-types", "O", "H"]),
])
def test_velocity_route_equals_the_observer(md_run, key, extra, capsys):
    log = run_log(md_run, key, *extra)
    assert "Z*·v from the velocities" in capsys.readouterr().out
    direct = md_run["direct"]
    np.testing.assert_allclose(log.time_fs, direct.time_fs, atol=1e-9)
    scale = np.abs(direct.pdot).max()
    np.testing.assert_allclose(log.pdot, direct.pdot, atol=1e-7 * scale)
    # μ on positions unwrapped across the cell walls: continuous, as in the run
    np.testing.assert_allclose(log.dipole, direct.dipole, atol=1e-6)
    assert log.metadata["pdot_source"] == "velocities"
    record = log.metadata["provenance"]
    assert record["command"].startswith("ase-dipole log ")
    digests = {item["path"]: item["sha256"] for item in record["inputs"]}
    assert digests[str(md_run["paths"][key])] == file_sha256(md_run["paths"][key])
    assert digests[str(md_run["model"])] == file_sha256(md_run["model"])


@pytest.mark.parametrize("key", ["extxyz", "xdatcar", "vasprun"])
def test_finite_difference_route_agrees_with_velocities(md_run, key):
    with pytest.warns(UserWarning, match="no velocities: Ṗ is taken from central finite differences"):
        log = run_log(md_run, key)
    direct = md_run["direct"]
    np.testing.assert_allclose(log.time_fs, direct.time_fs[1:-1], atol=1e-9)
    # VelocityVerlet is time-reversible: (x(t+Δt) − x(t−Δt))/2Δt = v(t) + O(Δt²),
    # and μ is linear in x for this model, so only the rounding of the files is left
    # (measured 1e-7 to 1e-5 of max|Ṗ| for vasprun.xml, extxyz, XDATCAR)
    scale = np.abs(direct.pdot).max()
    np.testing.assert_allclose(log.pdot, direct.pdot[1:-1], atol=1e-4 * scale)
    error = np.abs(log.pdot - direct.pdot[1:-1]).max() / scale
    assert error > 0  # really a different route
    assert log.metadata["pdot_source"] == "finite-differences"


@pytest.mark.parametrize("key, extra", [
    ("traj", []), ("extxyz", []), ("xdatcar", []), ("vasprun", []),
    ("lammps-metal", ["metal"]), ("lammps-types", ["real", ["O", "H"]]),
])
def test_formats_round_trip_the_frames(md_run, key, extra):
    options = {}
    if extra:
        options["lammps_units"] = extra[0]
        if len(extra) > 1:
            options["lammps_types"] = extra[1]
    frames = read_trajectory(md_run["paths"][key], **options)
    original = md_run["frames"]
    assert len(frames) == len(original)
    assert frames[0].get_chemical_symbols() == original[0].get_chemical_symbols()
    for back, frame in zip(frames, original):
        np.testing.assert_allclose(back.get_scaled_positions() % 1.0, frame.get_scaled_positions() % 1.0,
                                   atol=1e-7)
        if back.has("momenta"):
            np.testing.assert_allclose(back.get_velocities(), frame.get_velocities(), rtol=1e-7,
                                       atol=1e-9)


def test_isotope_masses_are_recorded(md_run):
    log = run_log(md_run, "traj", "--mass", "H=2.014")
    assert log.metadata["masses_amu"] == pytest.approx([15.999, 2.014, 2.014])
    np.testing.assert_allclose(log.pdot, md_run["direct"].pdot, rtol=1e-12)


def test_bad_input_names_the_flag(md_run, capsys):
    def error_of(*argv):
        with pytest.raises(SystemExit):
            main(["log", *map(str, argv)])
        return capsys.readouterr().err

    model, out = md_run["model"], md_run["directory"] / "bad.log"
    common = ["--model", model, "--timestep-fs", TIMESTEP_FS, "-o", out]
    message = error_of(md_run["paths"]["lammps-metal"], *common)
    assert "does not record its unit style: pass --lammps-units, one of metal, real" in message
    assert "lammps_units" not in message
    assert "pass the element of each type with --lammps-types O H ..." in error_of(
        md_run["paths"]["lammps-types"], *common, "--lammps-units", "real")
    assert "--mass 'H:2': use SYMBOL=AMU" in error_of(md_run["paths"]["traj"], *common, "--mass", "H:2")
    assert "'D' is not an element symbol (isotopes take their element's symbol: --mass H=2.014" \
        in error_of(md_run["paths"]["traj"], *common, "--mass", "D=2")
    assert "a mass is given for C, but the atoms hold only ['H', 'O']" in error_of(
        md_run["paths"]["traj"], *common, "--mass", "C=13.003")
    assert "--timestep-fs must be a positive number of fs between frames, got 0" in error_of(
        md_run["paths"]["traj"], "--model", model, "--timestep-fs", "0", "-o", out)
    run_log(md_run, "traj")
    existing = md_run["directory"] / "traj.log"
    message = error_of(md_run["paths"]["traj"], "--model", model, "--timestep-fs", TIMESTEP_FS,
                       "-o", existing, "--temperature-K", "250")
    assert "--overwrite" in message
    assert "Traceback" not in message
    with open(existing) as handle:
        assert json.loads(handle.readlines()[1][len("# metadata:"):])["temperature_K"] == 300.0


@pytest.mark.parametrize("key, extra, implied", [
    ("traj", ["--timestep-fs", str(2 * TIMESTEP_FS)], TIMESTEP_FS),  # claimed 2× too long
    ("traj", ["--timestep-fs", str(TIMESTEP_FS), "--index", "::2"], 2 * TIMESTEP_FS),
    ("lammps-metal", ["--timestep-fs", str(TIMESTEP_FS), "--lammps-units", "real"],
     TIMESTEP_FS / 1000),  # Å/ps read as Å/fs: Ṗ 1000× too large
    ("lammps-real", ["--timestep-fs", str(TIMESTEP_FS), "--lammps-units", "metal"],
     TIMESTEP_FS * 1000),
])
def test_timestep_or_units_contradicted_by_the_frames_is_refused(md_run, key, extra, implied,
                                                                 capsys):
    out = md_run["directory"] / "contradicted.log"
    with pytest.raises(SystemExit):
        main(["log", str(md_run["paths"][key]), "--model", str(md_run["model"]), "-o", str(out),
              *extra])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "positions and velocities imply" in message
    implied_fs = float(message.split("imply ")[1].split(" fs")[0])
    assert implied_fs == pytest.approx(implied, rel=0.02)  # 0.25 fs steps: tan(u)/u − 1 < 1 %
    assert not out.exists()
