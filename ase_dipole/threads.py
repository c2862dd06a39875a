"""How many threads the numba kernels use: never more than they are given.

The kernels run on ``min(numba's thread count, the cores this process may
use)`` threads, where numba's count is what ``NUMBA_NUM_THREADS`` or
``numba.set_num_threads`` (thread-local) give. Inside a Dask worker, whose
task threads already share the worker's cores, each task gets its share
``max(1, cores // worker threads)``; when the machine is busy (1-minute load
average at or above the core count) the kernels take one thread. Systems below :func:`serial_below_atoms`
atoms run on one thread: there, starting threads costs more than it saves,
and far more when the cores are busy (an MD engine, other processes).

The threshold is :data:`SERIAL_BELOW_ATOMS` unless the environment variable
``ASE_DIPOLE_SERIAL_BELOW_ATOMS`` or :func:`set_serial_below_atoms` says
otherwise; ``benchmarks/threads.py`` measures where two threads start to pay.

The small matrix products between the kernels run on one BLAS thread
(:func:`single_blas_thread`): the kernels already have the cores, and a BLAS
thread left spinning after its product takes one from them (μ + Z* of 1536
water atoms on 2 cores took 69 ms with BLAS on 2 threads, 24–27 ms on one).
"""

import contextlib
import functools
import os
import sys

import numba

#: default size (atoms) below which the kernels run serially. Measured with
#: benchmarks/threads.py on an idle 2-core machine (μ + Z*, default model):
#: two threads gave 1.27x at 192 atoms, the smallest box it times, and
#: 1.3–1.4x from 1536 on; under load the cross-over moves up, which is why
#: the default is kept at 384
SERIAL_BELOW_ATOMS = 384

_override = None
_blas_controllers = None


def serial_below_atoms():
    """Systems with fewer atoms run on one thread."""
    if _override is not None:
        return _override
    value = os.environ.get("ASE_DIPOLE_SERIAL_BELOW_ATOMS")
    if value is None:
        return SERIAL_BELOW_ATOMS
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"ASE_DIPOLE_SERIAL_BELOW_ATOMS={value!r} is not an integer number "
                         "of atoms") from None


def set_serial_below_atoms(n_atoms):
    """Set the serial threshold (atoms); ``None`` restores the default /
    environment value."""
    global _override
    if n_atoms is not None and (int(n_atoms) != n_atoms or n_atoms < 0):
        raise ValueError(f"the serial threshold must be a non-negative number of atoms, got {n_atoms!r}")
    _override = None if n_atoms is None else int(n_atoms)


def _available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _dask_worker_threads():
    """Task threads of the Dask worker running this code, or None."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:
        return None
    state = getattr(worker, "state", worker)
    return getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)


def kernel_threads(n_atoms):
    """Threads the kernels may use for a system of ``n_atoms``."""
    if n_atoms < serial_below_atoms():
        return 1
    cores = _available_cores()
    threads = min(numba.get_num_threads(), cores)
    worker_threads = _dask_worker_threads()
    if worker_threads:
        threads = min(threads, max(1, cores // worker_threads))
    if threads > 1 and hasattr(os, "getloadavg") and os.getloadavg()[0] >= cores:
        threads = 1
    return max(1, threads)


@contextlib.contextmanager
def threads_for(n_atoms):
    """Run the enclosed kernels on :func:`kernel_threads` threads (restored after)."""
    previous = numba.get_num_threads()
    wanted = kernel_threads(n_atoms)
    if wanted == previous:
        yield
        return
    numba.set_num_threads(wanted)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def with_kernel_threads(method):
    """Decorate ``method(self, atoms, ...)`` to run under :func:`threads_for`."""

    @functools.wraps(method)
    def wrapper(self, atoms, *args, **kwargs):
        with threads_for(len(atoms)):
            return method(self, atoms, *args, **kwargs)

    return wrapper


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded when first asked,
    numpy's and scipy's (whose BLAS numba's ``np.dot`` calls) among them."""
    global _blas_controllers
    if _blas_controllers is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS of numba's np.dot)
        from threadpoolctl import ThreadpoolController

        _blas_controllers = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_controllers


@contextlib.contextmanager
def single_blas_thread():
    """Hold the BLAS libraries of :func:`_blas_libraries` (numpy's and scipy's,
    those loaded at its first use) to one thread in the enclosed block
    (restored after). About 4 µs a use when they already run on one thread:
    nothing is changed then."""
    libraries = _blas_libraries()
    previous = [library.get_num_threads() for library in libraries]
    changed = [(library, threads) for library, threads in zip(libraries, previous) if threads != 1]
    for library, _ in changed:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, threads in changed:
            library.set_num_threads(threads)


@contextlib.contextmanager
def limit_threads(threads):
    """Hold numba, OpenMP (tblite) and BLAS to ``threads`` threads inside the
    block (``None``: leave them alone), restoring the previous counts.

    The owners of thread pools (numba's threading layer, scipy's BLAS,
    tblite's OpenMP) are loaded first: ``threadpoolctl`` acts on loaded
    libraries, and numba's layer resets the OpenMP count when it starts.
    """
    if threads is None:
        yield
        return
    import numba
    import scipy.linalg  # noqa: F401  (scipy's own BLAS)
    from threadpoolctl import threadpool_limits

    with contextlib.suppress(ImportError):
        import tblite.ase  # noqa: F401  (OpenMP)
    previous = numba.get_num_threads()  # starts numba's threading layer
    numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        numba.set_num_threads(previous)
