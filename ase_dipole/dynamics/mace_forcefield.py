"""A MACE machine-learned force field as the force calculator of the MD.

``make_force_calculator("mace:PATH")`` (and so ``--calculator mace:PATH``
wherever a command takes a calculator, and each Dask worker of
``ase-dipole md``, which builds its own from the string) returns a
:class:`MACEForceField`: an ASE calculator of energy, forces and stress
that wraps mace-torch's ``MACECalculator`` on the CPU. The specification is

``mace:PATH``
    the model file at ``PATH``, evaluated in float64 (mace-torch converts the
    model's weights; the NVE energy is then conserved to float64 rounding
    plus the time-step error);
``mace:PATH?dtype=float32``
    in float32, about twice as fast (models are usually trained in float32).

mace-torch is the optional extra ``pip install ase-dipole[mace]`` (it pulls
in PyTorch; install the CPU build of torch first where the default would be a
CUDA one). The file is checked before mace-torch is imported, and the
model's species are checked against every structure it is given, so each
bad input is one line naming the path, the extra to install, or the
elements the model does not know.
"""

import os

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols

#: prefix of a MACE specification
PREFIX = "mace:"
#: floating-point types the model can run in (``?dtype=...``)
DTYPES = ("float64", "float32")
#: default dtype of ``mace:PATH``
DEFAULT_DTYPE = "float64"


def is_mace_specification(spec):
    """Whether ``spec`` is a ``mace:PATH[?dtype=...]`` string."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse_mace_specification(spec):
    """The model path and dtype of a ``mace:PATH[?dtype=float32|float64]`` string.

    Parameters
    ----------
    spec : str

    Returns
    -------
    path : str
    dtype : str, one of :data:`DTYPES`

    Raises
    ------
    ValueError
        An empty path, an unknown option or an unknown dtype.
    """
    body = spec[len(PREFIX):]
    path, _, options = body.partition("?")
    if not path:
        raise ValueError(f"calculator {spec!r} gives no model file; use 'mace:PATH' "
                         "(optionally 'mace:PATH?dtype=float32')")
    dtype = DEFAULT_DTYPE
    if options:
        key, _, value = options.partition("=")
        if key != "dtype":
            raise ValueError(f"calculator {spec!r}: unknown option {key!r}; the only option is "
                             f"'?dtype=' with one of {', '.join(DTYPES)}")
        if value not in DTYPES:
            raise ValueError(f"calculator {spec!r}: unknown dtype {value!r}; use one of "
                             f"{', '.join(DTYPES)}")
        dtype = value
    return path, dtype


def check_model_file(path):
    """Raise FileNotFoundError naming ``path`` when it is not a file."""
    if not os.path.isfile(path):
        where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
        raise FileNotFoundError(f"MACE model file {path!r} not found{where}; give the path of a "
                                "model saved by mace-torch, e.g. 'mace:/path/to/water.model'")


def check_mace_species(model_numbers, numbers):
    """Raise ValueError naming the elements of a structure the model does not know.

    Parameters
    ----------
    model_numbers : array-like of int
        Atomic numbers the MACE model was trained on.
    numbers : array-like of int, shape (n_atoms,)
        Atomic numbers of the structure.
    """
    missing = sorted(set(np.asarray(numbers, dtype=int).tolist())
                     - set(np.asarray(model_numbers, dtype=int).tolist()))
    if missing:
        known = ", ".join(chemical_symbols[z] for z in sorted(set(map(int, model_numbers))))
        raise ValueError(
            f"the MACE model knows {known} only; the structure also holds "
            f"{', '.join(chemical_symbols[z] for z in missing)}: use a model trained on all its "
            "elements"
        )


def _load_mace_calculator(path, dtype):
    """mace-torch's ``MACECalculator`` for ``path`` on the CPU in ``dtype``."""
    try:
        from mace.calculators import MACECalculator
    except ImportError:
        raise ImportError("the 'mace:' calculator needs mace-torch: pip install ase-dipole[mace] "
                          "(install a CPU build of torch first)") from None
    return MACECalculator(model_paths=path, device="cpu", default_dtype=dtype)


class MACEForceField(Calculator):
    """Energy, forces and stress of a MACE model file (mace-torch, CPU).

    Parameters
    ----------
    path : str or path-like
        Model file saved by mace-torch.
    dtype : {'float64', 'float32'}, keyword-only
        Floating-point type of the evaluation.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a file (checked first).
    ImportError
        mace-torch is not installed (names the extra).
    ValueError
        Later, at :meth:`calculate`: the structure holds elements the model
        does not know (named).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, path, *, dtype=DEFAULT_DTYPE, **kwargs):
        super().__init__(**kwargs)
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        self.path = os.fspath(path)
        self.dtype = dtype
        check_model_file(self.path)
        self.mace = _load_mace_calculator(self.path, dtype)
        self.model_numbers = [int(z) for z in self.mace.z_table.zs]  # elements it was trained on

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        check_mace_species(self.model_numbers, self.atoms.numbers)
        periodic = self.atoms.cell.rank == 3
        wanted = [name for name in properties
                  if name in self.implemented_properties and (periodic or name != "stress")]
        self.mace.calculate(self.atoms, wanted or ["energy"], system_changes)
        for name in self.implemented_properties:
            if name in self.mace.results and (periodic or name != "stress"):
                self.results[name] = self.mace.results[name]
        self.results.setdefault("free_energy", self.results["energy"])

    def __repr__(self):
        return f"MACEForceField({self.path!r}, dtype={self.dtype!r})"


def mace_from_specification(spec):
    """:class:`MACEForceField` of a ``mace:PATH[?dtype=...]`` string."""
    path, dtype = parse_mace_specification(spec)
    return MACEForceField(path, dtype=dtype)
