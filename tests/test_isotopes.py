"""Isotopes: ``--mass SYMBOL=AMU`` in ``harmonic``, ``md`` and ``log`` gives
what the API gives with the same masses; D₂O/H₂O harmonic frequencies obey
the Teller–Redlich product rule."""

import ase.io
import numpy as np
import pytest

from ase_dipole.cli import main
from ase_dipole.dynamics.dipole_log import read_dipole_log
from ase_dipole.spectra.harmonic import HarmonicIR, phonopy_from_calculator, read_peaks
from md_helpers import gfn2_xtb, water_model

DEUTERIUM_AMU = 2.014


def vibrations(frequencies_cm1):
    """The three largest wavenumbers: water's bend and two stretches."""
    return np.sort(frequencies_cm1)[-3:]


@pytest.fixture(scope="module")
def water_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("isotopes")
    model, atoms = water_model()
    atoms.center(vacuum=4.0)
    ase.io.write(directory / "water.extxyz", atoms, format="extxyz")
    model.save(directory / "water.npz")
    return directory, model, atoms


@pytest.mark.filterwarnings("ignore:.*imaginary modes at Γ")
def test_harmonic_cli_isotope_ratios_equal_the_api(water_files):
    directory, model, atoms = water_files
    api = {}
    for name, masses in (("H2O", None), ("D2O", {"H": DEUTERIUM_AMU})):
        work = atoms.copy()
        if masses:
            work.set_masses([masses.get(s, m) for s, m in zip(work.get_chemical_symbols(), work.get_masses())])
        harmonic = HarmonicIR(phonopy_from_calculator(work, gfn2_xtb(), log=None), model).run()
        api[name] = (vibrations(harmonic.frequencies_cm1), work)
    cli = {}
    for name, extra in (("H2O", []), ("D2O", ["--mass", f"H={DEUTERIUM_AMU}"])):
        peaks = directory / f"{name}.peaks"
        assert main(["harmonic", "--structure", str(directory / "water.extxyz"), "--calculator",
                     "md_helpers:gfn2_xtb", "--model", str(directory / "water.npz"), "--molecule",
                     "-o", str(directory / f"{name}.csv"), "--peaks", str(peaks), *extra]) == 0
        cli[name] = vibrations(read_peaks(peaks)["frequency_cm1"])
        with open(peaks) as handle:
            assert handle.readline().startswith("# provenance: ")
    api_ratio = api["D2O"][0] / api["H2O"][0]
    cli_ratio = cli["D2O"] / cli["H2O"]
    np.testing.assert_allclose(cli_ratio, api_ratio, rtol=1e-6)
    # bend, symmetric and antisymmetric stretch: well below 1 and above 1/√2 (H→D)
    assert np.all((api_ratio > 1 / np.sqrt(2)) & (api_ratio < 0.76))
    # Teller–Redlich product rule over all vibrations (exact in the harmonic limit):
    # Π ω_D/ω_H = (m_H/m_D)^{3/2·2} (M_D2O/M_H2O)^{3/2} (Π I_D / Π I_H)^{1/2}
    h2o, d2o = api["H2O"][1], api["D2O"][1]
    m_h, m_d = h2o.get_masses()[1], d2o.get_masses()[1]
    expected = ((m_h / m_d) ** 3 * (d2o.get_masses().sum() / h2o.get_masses().sum()) ** 1.5
                * np.sqrt(np.prod(d2o.get_moments_of_inertia()) / np.prod(h2o.get_moments_of_inertia())))
    assert np.prod(api_ratio) == pytest.approx(expected, rel=1e-4)


def test_md_cli_uses_the_isotope_masses(water_files, tmp_path, capsys):
    directory, _, _ = water_files
    command = ["md", str(directory / "water.extxyz"), "--model", str(directory / "water.npz"),
               "--calculator", "md_helpers:gfn2_xtb", "-o", str(tmp_path), "--temperature-K", "100",
               "--n-trajectories", "1", "--equilibration-steps", "4", "--decorrelation-steps", "2",
               "--production-steps", "6", "--timestep-fs", "0.5", "--mass", f"H={DEUTERIUM_AMU}",
               "--quiet"]
    assert main(command) == 0
    assert "skipped" not in capsys.readouterr().out
    assert main(command) == 0  # a rerun says what it skipped
    assert "skipped 1 finished trajectory(ies) of a previous run: traj_000" in capsys.readouterr().out
    (log_path,) = sorted(tmp_path.glob("traj_*.log"))
    assert read_dipole_log(log_path).metadata["masses_amu"] == pytest.approx([15.999, DEUTERIUM_AMU,
                                                                               DEUTERIUM_AMU])
