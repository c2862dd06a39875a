"""Threading policy of the kernels: the serial threshold and its settings,
and results that do not depend on the thread count."""

import numba
import numpy as np
import pytest
from ase.build import bulk

from ase_dipole import threads
from ase_dipole.descriptors.lambda_soap import LambdaSOAP


def test_small_systems_run_serially_and_the_threshold_is_settable(monkeypatch):
    monkeypatch.delenv("ASE_DIPOLE_SERIAL_BELOW_ATOMS", raising=False)
    assert threads.serial_below_atoms() == threads.SERIAL_BELOW_ATOMS
    assert threads.kernel_threads(threads.SERIAL_BELOW_ATOMS - 1) == 1
    monkeypatch.setenv("ASE_DIPOLE_SERIAL_BELOW_ATOMS", "10")
    assert threads.serial_below_atoms() == 10
    threads.set_serial_below_atoms(5)
    try:
        assert threads.serial_below_atoms() == 5
        assert 1 <= threads.kernel_threads(10**6) <= numba.get_num_threads()
    finally:
        threads.set_serial_below_atoms(None)
    assert threads.serial_below_atoms() == 10
    monkeypatch.setenv("ASE_DIPOLE_SERIAL_BELOW_ATOMS", "many")
    with pytest.raises(ValueError, match="ASE_DIPOLE_SERIAL_BELOW_ATOMS='many' is not an integer"):
        threads.serial_below_atoms()
    with pytest.raises(ValueError, match="non-negative number of atoms"):
        threads.set_serial_below_atoms(-1)


def test_never_more_threads_than_given(monkeypatch):
    monkeypatch.setattr(threads, "_available_cores", lambda: 1)
    assert threads.kernel_threads(10**6) == 1
    monkeypatch.setattr(threads, "_available_cores", lambda: 64)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(threads, "_dask_worker_threads", lambda: 64)
    assert threads.kernel_threads(10**6) == 1  # a Dask worker's task gets its share
    monkeypatch.setattr(threads, "_dask_worker_threads", lambda: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (80.0, 80.0, 80.0))
    assert threads.kernel_threads(10**6) == 1  # busy machine


def test_the_thread_setting_is_restored_and_results_do_not_depend_on_it():
    atoms = bulk("NaCl", "rocksalt", 5.64, cubic=True) * (2, 1, 1)
    atoms.rattle(0.05, seed=3)
    descriptor = LambdaSOAP(["Na", "Cl"], cutoff=4.0, n_max=3, l_max=3)
    coefficients = np.random.default_rng(0).normal(size=(2, descriptor.n_features))
    before = numba.get_num_threads()
    serial = descriptor.dipole_and_born_charges(atoms, coefficients)
    assert numba.get_num_threads() == before
    threads.set_serial_below_atoms(0)
    try:
        parallel = descriptor.dipole_and_born_charges(atoms, coefficients)
    finally:
        threads.set_serial_below_atoms(None)
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])


def _blas_threads():
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_the_kernels_matrix_products_run_on_one_blas_thread(monkeypatch):
    from threadpoolctl import threadpool_limits

    from ase_dipole.descriptors import prediction

    atoms = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    atoms.rattle(0.05, seed=4)
    descriptor = LambdaSOAP(["Na", "Cl"], cutoff=4.0, n_max=3, l_max=3)
    coefficients = np.random.default_rng(1).normal(size=(2, descriptor.n_features))
    seen = []
    original = prediction.kernels.bilinear_sums

    def recording(*args):  # every BLAS loaded by now, numba's (scipy's) too
        seen.append(_blas_threads())
        return original(*args)

    monkeypatch.setattr(prediction.kernels, "bilinear_sums", recording)
    with threadpool_limits(2, user_api="blas"):
        given = _blas_threads()
        if given == {1}:
            pytest.skip("BLAS runs on one thread here whatever it is given")
        descriptor.dipole_and_born_charges(atoms, coefficients)
        assert _blas_threads() == given  # restored
    assert seen and all(counts == {1} for counts in seen)
