"""Neighbour lists for finite and periodic systems.

Every periodic image within the cut-off is listed, so a cell smaller than
twice the cut-off (where an atom sees several images of one neighbour, or of
itself) is handled. The list is full (both i→j and j→i) and in CSR layout;
each pair knows its reverse, and the vectors of the two are exact negatives.

:class:`VerletList` keeps a list built with ``cutoff + skin`` and reuses it
while no atom has moved more than ``skin / 2`` since it was built (and the
cell, the boundary conditions and the number of atoms are unchanged), so
consecutive MD steps only recompute the pair vectors; it keeps one such list
for each of the last few systems it saw.
"""

from dataclasses import dataclass

import numpy as np

from ase_dipole.descriptors import neighbours_numba as kernels


@dataclass(frozen=True)
class NeighbourList:
    """Pairs within the cut-off, grouped by centre atom.

    Attributes
    ----------
    offsets : (N + 1,) int64; the pairs of centre ``i`` are ``offsets[i]:offsets[i+1]``
    neighbours : (P,) int64, index of the neighbour atom of each pair
    vectors : (P, 3) float64, Å; neighbour position (image included) minus centre
    reverse : (P,) int64, index of the pair k→c of each pair c→k (its vector
        is exactly ``-vectors[p]``)
    """

    offsets: np.ndarray
    neighbours: np.ndarray
    vectors: np.ndarray
    reverse: np.ndarray

    @property
    def centres(self):
        """(P,) int64, the centre atom of each pair."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


def _complete_cell(cell, pbc):
    """A non-singular cell: periodic vectors as given, zero ones replaced by
    unit vectors orthogonal to the others (they only index non-periodic axes)."""
    cell = np.array(cell, dtype=float).reshape(3, 3)
    zero = np.linalg.norm(cell, axis=1) < 1e-8
    for axis in np.flatnonzero(zero & pbc):
        raise ValueError(
            f"periodic boundaries along axis {axis} but cell vector {axis} is zero; "
            "set atoms.cell or use pbc=False for that axis"
        )
    if zero.any():
        _, singular_values, vt = np.linalg.svd(cell)
        null_space = vt[singular_values < 1e-8 * max(singular_values.max(), 1.0)]
        cell[zero] = null_space[: zero.sum()]
    if abs(np.linalg.det(cell)) < 1e-8:
        raise ValueError("the cell is singular (its vectors are linearly dependent); fix atoms.cell")
    return cell


def _check_closest(offsets, neighbours, closest, distance, min_distance):
    if closest >= 0 and distance < min_distance:
        centre = int(np.searchsorted(offsets, closest, side="right") - 1)
        raise ValueError(
            f"atoms {centre} and {int(neighbours[closest])} are {distance:.3g} Å apart "
            f"(below {min_distance} Å): overlapping atoms; check the structure"
        )


def check_finite_positions(positions):
    """Raise a ``ValueError`` naming the atoms whose positions (N, 3), Å,
    hold NaN or inf."""
    if not np.isfinite(positions).all():
        bad = np.flatnonzero(~np.all(np.isfinite(positions), axis=1))
        raise ValueError(
            f"positions of atoms {bad.tolist()} are not finite (NaN or inf): the structure is "
            "broken or the MD has blown up (check the force field and the timestep)"
        )


def _validated(positions, pbc):
    positions = np.ascontiguousarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions have shape {positions.shape}; expected (N, 3) in Å")
    check_finite_positions(positions)
    return positions, np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()


def _build(positions, cell, pbc, cutoff):
    """Every pair within ``cutoff`` as (offsets, neighbours, shifts (P, 3) Å,
    reverse): the lattice translation and the reverse pair of each, the shifts
    of a pair and its reverse exact negatives (validated ``positions``, ``pbc``)."""
    n_atoms = len(positions)
    if pbc.any():
        cell = _complete_cell(cell, pbc)
        frac = positions @ np.linalg.inv(cell)
        frac[:, pbc] -= np.floor(frac[:, pbc])
        volume = abs(np.linalg.det(cell))
        spacing = np.array([volume / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3]))
                            for a in range(3)])
        reach = np.where(pbc, cutoff / spacing, 0.0)
        n_images = np.where(pbc, np.ceil(reach).astype(np.int64) + 1, 0).astype(np.int64)
    else:
        cell = np.eye(3)
        frac = positions.copy()
        reach = np.zeros(3)
        n_images = np.zeros(3, dtype=np.int64)
    frac = np.ascontiguousarray(frac)
    n_ghosts = kernels.ghosts(frac, cell, pbc, n_images, reach, np.empty((0, 3)),
                              np.empty(0, dtype=np.int64), np.empty(0, dtype=np.bool_), False)
    ghost_positions = np.empty((n_ghosts, 3))
    ghost_atom = np.empty(n_ghosts, dtype=np.int64)
    ghost_is_home = np.empty(n_ghosts, dtype=np.bool_)
    kernels.ghosts(frac, cell, pbc, n_images, reach, ghost_positions, ghost_atom, ghost_is_home, True)
    centres = np.ascontiguousarray(ghost_positions[ghost_is_home][np.argsort(ghost_atom[ghost_is_home])])

    origin = ghost_positions.min(axis=0) if n_ghosts else np.zeros(3)
    extent = (ghost_positions.max(axis=0) - origin) if n_ghosts else np.zeros(3)
    n_bins = np.maximum(1, np.floor(extent / cutoff)).astype(np.int64)
    while np.prod(n_bins) > max(8 * n_ghosts, 1000):
        n_bins = np.maximum(1, n_bins // 2)
    bin_size = np.where(n_bins > 0, np.maximum(extent / n_bins, cutoff), cutoff)
    bin_start = np.zeros(int(np.prod(n_bins)) + 1, dtype=np.int64)
    bin_members = np.empty(n_ghosts, dtype=np.int64)
    kernels.bin_ghosts(ghost_positions, origin, bin_size, n_bins, bin_start, bin_members)

    counts = np.zeros(n_atoms, dtype=np.int64)
    offsets = np.zeros(n_atoms + 1, dtype=np.int64)
    empty_i = np.empty(0, dtype=np.int64)
    empty_v = np.empty((0, 3))
    args = (centres, ghost_positions, ghost_atom, ghost_is_home, origin, bin_size, n_bins,
            bin_start, bin_members, float(cutoff), counts)
    kernels.search_pairs(*args, offsets, empty_i, empty_v, False)
    offsets[1:] = np.cumsum(counts)
    neighbours = np.empty(offsets[-1], dtype=np.int64)
    vectors = np.empty((offsets[-1], 3))
    kernels.search_pairs(*args, offsets, neighbours, vectors, True)
    shifts = np.empty_like(vectors)
    kernels.shifts_of(positions, offsets, neighbours, vectors, shifts)
    reverse = np.empty(len(neighbours), dtype=np.int64)
    kernels.reverse_pairs(offsets, neighbours, shifts, reverse)
    return offsets, neighbours, shifts, reverse


def _select(positions, built, cutoff, min_distance):
    """The :class:`NeighbourList` of the pairs of ``built`` (from :func:`_build`)
    within ``cutoff`` at ``positions``."""
    offsets, neighbours, shifts, reverse = built
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    out_neighbours = np.empty(len(neighbours), dtype=np.int64)
    out_vectors = np.empty((len(neighbours), 3))
    out_reverse = np.empty(len(neighbours), dtype=np.int64)
    total, closest, distance = kernels.within_cutoff(
        positions, offsets, neighbours, shifts, reverse, float(cutoff), out_offsets,
        out_neighbours, out_vectors, out_reverse, np.empty(len(neighbours), dtype=np.int64))
    _check_closest(out_offsets, out_neighbours, closest, distance, min_distance)
    return NeighbourList(offsets=out_offsets, neighbours=out_neighbours[:total],
                         vectors=out_vectors[:total], reverse=out_reverse[:total])


def neighbour_list(positions, cell, pbc, cutoff, *, min_distance=0.1):
    """Full neighbour list within ``cutoff``.

    Parameters
    ----------
    positions : (N, 3) array, Å
    cell : (3, 3) array, Å, rows are lattice vectors (ignored along non-periodic axes)
    pbc : bool or (3,) bools
    cutoff : float, Å
    min_distance : float, Å; closer pairs raise ``ValueError`` (overlapping atoms)

    Returns
    -------
    NeighbourList
    """
    positions, pbc = _validated(positions, pbc)
    return _select(positions, _build(positions, cell, pbc, cutoff), cutoff, min_distance)


class VerletList:
    """Neighbour lists reused between calls while the atoms move little.

    Parameters
    ----------
    cutoff : float, Å
    skin : float, Å
        A list is built with ``cutoff + skin`` and rebuilt once an atom has
        moved more than ``skin / 2`` from where it was at the last build;
        ``0`` rebuilds at every call.
    kept : int
        Lists of up to this many systems are kept (most recently used
        first), so calculators that share one model on different systems
        (a molecule and a liquid, say) each keep theirs.

    Notes
    -----
    Pairs are found with :func:`neighbour_list` at ``cutoff + skin``; each call
    recomputes the pair vectors from the current (unwrapped) positions and
    keeps the pairs within ``cutoff``. Wrapping atoms back into the cell moves
    them by a lattice vector, which triggers a rebuild. A rebuilt list
    replaces the kept list of the same cell and number of atoms whose atoms
    are nearest (the same system, moved on), so a run over many frames of
    one box keeps one list.
    """

    def __init__(self, cutoff, skin=0.5, kept=4):
        if not skin >= 0:
            raise ValueError(f"skin must be >= 0 Å, got {skin!r}")
        if int(kept) != kept or kept < 1:
            raise ValueError(f"kept must be a positive integer, got {kept!r}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.kept = int(kept)
        self._built = ()  # most recent first: (positions, cell, pbc, offsets, neighbours, shifts, reverse)
        self.n_builds = 0

    def _match(self, positions, cell, pbc):
        """The kept list reusable at ``positions`` (or None), and the index of
        the kept list of the same box and size whose atoms are nearest (or None)."""
        nearest, nearest_moved = None, np.inf
        for index, built in enumerate(self._built):
            reference, cell_then, pbc_then = built[:3]
            if (reference.shape != positions.shape or not np.array_equal(pbc_then, pbc)
                    or not np.array_equal(cell_then, cell)):
                continue
            moved = kernels.max_displacement(positions, reference)
            if moved <= 0.5 * self.skin and self.skin > 0:
                return built, index
            if moved < nearest_moved:
                nearest, nearest_moved = index, moved
        return None, nearest

    def update(self, positions, cell, pbc, *, min_distance=0.1):
        """The :class:`NeighbourList` within ``cutoff`` at ``positions``
        (arguments as for :func:`neighbour_list`)."""
        positions, pbc = _validated(positions, pbc)
        cell = np.array(cell, dtype=float).reshape(3, 3)
        kept = self._built
        built, index = self._match(positions, cell, pbc)
        if built is None:
            wide = _build(positions, cell, pbc, self.cutoff + self.skin)
            built = (positions.copy(), cell, pbc, *wide)
            self.n_builds += 1
        if index is not None:
            kept = kept[:index] + kept[index + 1:]
        self._built = ((built,) + kept)[:self.kept]  # one assignment: safe across threads
        return _select(positions, built[3:], self.cutoff, min_distance)
