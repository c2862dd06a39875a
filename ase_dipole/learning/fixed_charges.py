"""A dipole model with Born effective charges held fixed.

.. math::

    \\mu_\\alpha(X) = \\mu^0_\\alpha
        + \\sum_i \\sum_\\beta Z^*_{i,\\alpha\\beta} (x_{i\\beta} - x^0_{i\\beta})

This is the harmonic-order model of the dipole: exact for a harmonic IR
spectrum, and the usual choice for a solid whose Born tensors (phonopy
``BORN``, VASP ``LEPSILON``) are assumed not to change with temperature. It
obeys the same protocol as :class:`ase_dipole.learning.model.PolarizationModel`
(``species``, ``predict``, ``predict_dipole``, ``predict_pdot``, ``sha256``,
``save``/``load``), so it can be used wherever a trained model can.

Units: positions Å, charges e, dipole e·Å, velocities Å/fs, Ṗ e·Å/fs.
``Z[i, α, β] = ∂μ_α/∂x_{iβ}``.
"""

import hashlib
import os

import numpy as np

from ase_dipole.atomic import atomic_write
from ase_dipole.descriptors.neighbours import check_finite_positions
from ase_dipole.io.extxyz import get_born_charges, get_dipole

#: version of the ``.npz`` file written by :meth:`FixedChargesModel.save`
FIXED_CHARGES_FORMAT_VERSION = 1
#: key marking a fixed-charges ``.npz`` file
FORMAT_KEY = "fixed_charges_format_version"
#: entry holding the model's sha256 when written, checked on load
DIGEST_KEY = "content_sha256"


def _as_array(values, shape, name, unit):
    """A float64 C-contiguous copy of ``values``, checked for shape and NaN."""
    array = np.array(values, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}; expected {shape} in {unit}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    return array


class FixedChargesModel:
    """Dipole model with per-atom Born charges held fixed.

    Parameters
    ----------
    born_charges : array_like, shape (N, 3, 3), float, e
        ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` of every atom, held fixed.
    reference_positions : array_like, shape (N, 3), float, Å, optional
        Positions ``x0`` at which the dipole equals ``reference_dipole``.
        Default: the origin (μ = μ0 + Σ_i Z*_i x_i).
    reference_dipole : array_like, shape (3,), float, e·Å, optional
        Dipole ``μ0`` at ``reference_positions``. Default zero.
    symbols : sequence of str, length N, optional
        Chemical symbols in atom order. When given, every prediction checks
        that the atoms carry the same symbols in the same order; when
        ``None``, only the number of atoms is checked and :attr:`species` is
        ``None``.

    Notes
    -----
    The charges belong to atoms by index, not to species: the model describes
    one system (a molecule or a supercell) whose atoms keep their order, as in
    MD. Positions are used as given; pass unwrapped positions (ASE MD does
    not wrap) so that μ is continuous in time.
    """

    def __init__(self, born_charges, *, reference_positions=None, reference_dipole=None,
                 symbols=None):
        charges = np.asarray(born_charges, dtype=float)
        if charges.ndim == 2 and charges.shape[1] == 9:
            charges = charges.reshape(-1, 3, 3)
        if charges.ndim != 3 or charges.shape[1:] != (3, 3) or len(charges) == 0:
            raise ValueError(
                f"born_charges has shape {charges.shape}; expected (N, 3, 3) or (N, 9) in e "
                "with N >= 1"
            )
        n_atoms = len(charges)
        self._born_charges = _as_array(charges, (n_atoms, 3, 3), "born_charges", "e")
        if reference_positions is None:
            reference_positions = np.zeros((n_atoms, 3))
        self._reference_positions = _as_array(
            reference_positions, (n_atoms, 3), "reference_positions", "Å"
        )
        if reference_dipole is None:
            reference_dipole = np.zeros(3)
        self._reference_dipole = _as_array(reference_dipole, (3,), "reference_dipole", "e·Å")
        if symbols is not None:
            symbols = tuple(str(s) for s in symbols)
            if len(symbols) != n_atoms:
                raise ValueError(
                    f"symbols has {len(symbols)} entries for {n_atoms} Born charges"
                )
        self._symbols = symbols
        for array in (self._born_charges, self._reference_positions, self._reference_dipole):
            array.flags.writeable = False

    @classmethod
    def from_atoms(cls, atoms):
        """Build the model from a frame carrying Born charges.

        Parameters
        ----------
        atoms : ase.Atoms
            Frame with Born charges in the extxyz convention
            (``atoms.arrays['born_charges']`` (N, 9) or a calculator result
            ``'born_effective_charges'``). Its positions become the reference
            positions and its dipole (``info['dipole']`` or a calculator's
            ``'dipole'``), if present, the reference dipole.
        """
        charges = get_born_charges(atoms)
        if charges is None:
            raise ValueError(
                "atoms carry no Born charges: expected atoms.arrays['born_charges'] (N, 9) "
                "or a calculator result 'born_effective_charges' (see ase_dipole.io.extxyz)"
            )
        return cls(
            charges,
            reference_positions=atoms.get_positions(),
            reference_dipole=get_dipole(atoms),
            symbols=atoms.get_chemical_symbols(),
        )

    @property
    def born_charges(self):
        """Born charges, (N, 3, 3) read-only array, e."""
        return self._born_charges

    @property
    def reference_positions(self):
        """Reference positions x0, (N, 3) read-only array, Å."""
        return self._reference_positions

    @property
    def reference_dipole(self):
        """Reference dipole μ0, (3,) read-only array, e·Å."""
        return self._reference_dipole

    @property
    def symbols(self):
        """Chemical symbols in atom order, or ``None`` if not given."""
        return self._symbols

    @property
    def species(self):
        """Sorted tuple of the chemical symbols known, or ``None``."""
        if self._symbols is None:
            return None
        return tuple(sorted(set(self._symbols)))

    @property
    def sha256(self):
        """Hex digest of the charges, reference positions, dipole and symbols."""
        digest = hashlib.sha256()
        for array in (self._born_charges, self._reference_positions, self._reference_dipole):
            digest.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
        digest.update(repr(self._symbols).encode())
        return digest.hexdigest()

    def _check(self, atoms):
        n_atoms = len(self._born_charges)
        if len(atoms) != n_atoms:
            raise ValueError(
                f"FixedChargesModel holds Born charges of {n_atoms} atoms; got {len(atoms)} atoms"
            )
        if self._symbols is not None:
            symbols = atoms.get_chemical_symbols()
            if tuple(symbols) != self._symbols:
                bad = next(i for i, (a, b) in enumerate(zip(symbols, self._symbols)) if a != b)
                raise ValueError(
                    f"atom {bad} is {symbols[bad]!r} but the fixed Born charges belong to "
                    f"{self._symbols[bad]!r}; the atoms must keep the order of the reference"
                )
        check_finite_positions(atoms.positions)

    def predict_dipole(self, atoms):
        """Dipole μ, (3,) float array, e·Å."""
        self._check(atoms)
        displacement = atoms.get_positions() - self._reference_positions
        return self._reference_dipole + np.einsum("iab,ib->a", self._born_charges, displacement)

    def predict(self, atoms):
        """Dipole (3,) e·Å and Born charges (N, 3, 3) e (a copy)."""
        return self.predict_dipole(atoms), np.array(self._born_charges)

    def predict_pdot(self, atoms, velocities_A_per_fs):
        """Dipole μ (3,) e·Å and Ṗ = Σ_i Z*_i v_i (3,) e·Å/fs.

        Parameters
        ----------
        atoms : ase.Atoms
        velocities_A_per_fs : array_like, shape (N, 3), float, Å/fs
            ASE velocities times ``ase.units.fs``.
        """
        velocities = _as_array(velocities_A_per_fs, (len(atoms), 3), "velocities_A_per_fs", "Å/fs")
        dipole = self.predict_dipole(atoms)
        return dipole, np.einsum("iab,ib->a", self._born_charges, velocities)

    def save(self, path):
        """Write the model to a ``.npz`` file (format version
        :data:`FIXED_CHARGES_FORMAT_VERSION`)."""
        arrays = {
            FORMAT_KEY: np.array(FIXED_CHARGES_FORMAT_VERSION),
            "born_charges": self._born_charges,
            "reference_positions": self._reference_positions,
            "reference_dipole": self._reference_dipole,
        }
        if self._symbols is not None:
            arrays["symbols"] = np.array(self._symbols, dtype="U3")
        arrays[DIGEST_KEY] = np.array(self.sha256)
        with atomic_write(path, "wb") as handle:
            np.savez(handle, **arrays)

    @staticmethod
    def is_fixed_charges_file(path):
        """Whether ``path`` is a ``.npz`` file written by :meth:`save`."""
        if not os.path.isfile(path):
            return False
        try:
            with np.load(path, allow_pickle=False) as data:
                return FORMAT_KEY in data.files
        except (OSError, ValueError):
            return False

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; a ``ValueError`` if the file
        is not one, has another format version or was modified since."""
        path = os.fspath(path)
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path!r} is not a FixedChargesModel .npz file: {error}") from None
        with data:
            if FORMAT_KEY not in data.files:
                raise ValueError(f"{path!r} is not a FixedChargesModel file (no {FORMAT_KEY!r})")
            version = int(data[FORMAT_KEY])
            if version != FIXED_CHARGES_FORMAT_VERSION:
                raise ValueError(
                    f"{path!r} has fixed-charges format version {version}; this ase-dipole "
                    f"reads version {FIXED_CHARGES_FORMAT_VERSION}"
                )
            symbols = [str(s) for s in data["symbols"]] if "symbols" in data.files else None
            model = cls(
                data["born_charges"],
                reference_positions=data["reference_positions"],
                reference_dipole=data["reference_dipole"],
                symbols=symbols,
            )
            stored = str(data[DIGEST_KEY]) if DIGEST_KEY in data.files else None
        if stored is None:
            raise ValueError(f"{path!r} has no content digest ({DIGEST_KEY!r}): it was edited or "
                             "written by an older ase-dipole; save the model again")
        if stored != model.sha256:
            raise ValueError(f"{path!r} has been modified since it was written (its content no "
                             f"longer matches its {DIGEST_KEY}); save the model again")
        return model

    def __repr__(self):
        return f"FixedChargesModel(n_atoms={len(self._born_charges)}, species={self.species})"
