"""The static ionic susceptibility ε(0) − ε∞ = β⟨δMδM⟩/(Vε0) from dipole logs
(ase_dipole.spectra.dielectric.static_susceptibility), on NVE trajectories of
harmonic NaCl (VASP force constants and Born charges, tests/data/phonopy_NaCl)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ase_dipole.dynamics.dipole_log import DipoleLog, read_dipole_log
from ase_dipole.spectra.dielectric import static_susceptibility

from dielectric_helpers import nacl_logs, nacl_supercell


@pytest.fixture(scope="module")
def nacl(tmp_path_factory):
    return nacl_logs(tmp_path_factory.mktemp("nacl_static"), n_trajectories=24, n_steps=1000)


def test_harmonic_crystal_exact_susceptibility(nacl):
    """For a harmonic crystal χ = Σ_ν Z̃_ν Z̃_νᵀ/(V ε0 ω_ν²) exactly (cubic:
    isotropic); the fluctuation formula must agree within its standard error."""
    _, _, _, _, chi_exact = nacl_supercell()
    assert np.allclose(chi_exact, np.trace(chi_exact) / 3 * np.eye(3), atol=1e-8)
    result = static_susceptibility(nacl)
    assert result.error_from == "trajectories" and result.samples.shape == (24, 3, 3)
    exact = np.trace(chi_exact) / 3
    assert abs(result.isotropic - exact) < 3.0 * result.isotropic_error
    # the estimate is informative: its error is well below the value
    assert result.isotropic_error < 0.2 * exact
    assert np.all(np.abs(result.tensor - chi_exact) < 4.0 * result.tensor_error)
    assert result.epsilon_static(2.5) == pytest.approx(2.5 + result.isotropic)


def test_logs_and_arrays_agree(nacl):
    logs = [read_dipole_log(path) for path in nacl[:3]]
    from_logs = static_susceptibility(logs)
    from_arrays = static_susceptibility([log.dipole for log in logs],
                                        volume_A3=logs[0].metadata["volume_A3"],
                                        temperature_K=300.0)
    assert np.array_equal(from_logs.tensor, from_arrays.tensor)
    assert from_logs.isotropic_error == from_arrays.isotropic_error
    # the temperature enters as 1/T, the volume as 1/V
    hotter = static_susceptibility(logs, temperature_K=600.0)
    assert np.allclose(hotter.tensor, from_logs.tensor / 2, rtol=1e-12)
    bigger = static_susceptibility(logs[0].dipole, volume_A3=2 * logs[0].metadata["volume_A3"],
                                   temperature_K=300.0)
    assert bigger.isotropic == pytest.approx(static_susceptibility(logs[0]).isotropic / 2, rel=1e-12)


def test_rotation_covariance(nacl):
    """Rotating every dipole by R turns χ into R χ Rᵀ and keeps Tr χ."""
    log = read_dipole_log(nacl[0])
    volume = log.metadata["volume_A3"]
    rotation = Rotation.from_euler("zyx", [0.3, -1.1, 2.0]).as_matrix()
    plain = static_susceptibility(log.dipole, volume_A3=volume, temperature_K=300.0)
    rotated = static_susceptibility(log.dipole @ rotation.T, volume_A3=volume, temperature_K=300.0)
    assert np.allclose(rotated.tensor, rotation @ plain.tensor @ rotation.T, rtol=1e-10, atol=1e-12)
    assert rotated.isotropic == pytest.approx(plain.isotropic, rel=1e-12)


def test_single_trajectory_block_error(nacl):
    one = static_susceptibility(nacl[0], n_blocks=5)
    assert one.error_from == "blocks" and one.samples.shape == (5, 3, 3)
    assert np.allclose(one.samples.mean(axis=0), one.tensor, rtol=1e-12, atol=1e-14)
    assert one.isotropic_error == pytest.approx(
        np.std(np.trace(one.samples, axis1=1, axis2=2) / 3, ddof=1) / np.sqrt(5))
    assert one.metadata["n_blocks"] == 5


def test_bad_input(nacl, tmp_path):
    log = read_dipole_log(nacl[0])
    molecule = DipoleLog(time_fs=log.time_fs, pdot=log.pdot, dipole=log.dipole,
                         metadata=dict(log.metadata, periodic=False, volume_A3=None))
    with pytest.raises(ValueError, match=r"not of a periodic cell.*cross-section per molecule"):
        static_susceptibility(molecule)
    with pytest.raises(ValueError, match=r"volume_A3 is missing.*pass volume_A3="):
        static_susceptibility(log.dipole, temperature_K=300.0)
    with pytest.raises(ValueError, match=r"volume_A3 must be a positive number"):
        static_susceptibility(log.dipole, volume_A3=-1.0, temperature_K=300.0)
    with pytest.raises(ValueError, match=r"temperature_K must be a positive number"):
        static_susceptibility(log.dipole, volume_A3=100.0, temperature_K=float("nan"))
    with pytest.raises(ValueError, match=r"taken from the logs' metadata"):
        static_susceptibility(log, volume_A3=100.0)
    with pytest.raises(ValueError, match=r"shape \(1000, 2\)"):
        static_susceptibility(log.dipole[:, :2], volume_A3=100.0, temperature_K=300.0)
    unrecorded = DipoleLog(time_fs=log.time_fs, pdot=log.pdot, dipole=np.full_like(log.dipole, np.nan),
                           metadata=log.metadata)
    with pytest.raises(ValueError, match=r"NaN in the dipole column \(mu not recorded\)"):
        static_susceptibility(unrecorded)
    with pytest.raises(ValueError, match=r"n_blocks=600 blocks"):
        static_susceptibility(log, n_blocks=600)
    with pytest.raises(TypeError, match="not a mixture"):
        static_susceptibility([log, log.dipole])
