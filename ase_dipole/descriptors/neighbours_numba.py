"""numba kernels of the neighbour list: arithmetic only, preallocated outputs.

Driven by :mod:`ase_dipole.descriptors.neighbours`, which validates and allocates.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=False)
def ghosts(frac, cell, periodic, n_images, reach, ghost_positions, ghost_atom, ghost_is_home, fill):
    """Periodic images (ghosts) of every atom within ``reach`` (fractional) of
    the unit cell: returns their number and, if ``fill``, writes their
    Cartesian positions (Å), atom index and whether they are the atom itself.

    frac : (N, 3) fractional coordinates, wrapped into [0, 1) along periodic axes.
    """
    g = 0
    for i in range(frac.shape[0]):
        for sa in range(-n_images[0], n_images[0] + 1):
            fa = frac[i, 0] + sa
            if periodic[0] and (fa < -reach[0] or fa > 1.0 + reach[0]):
                continue
            for sb in range(-n_images[1], n_images[1] + 1):
                fb = frac[i, 1] + sb
                if periodic[1] and (fb < -reach[1] or fb > 1.0 + reach[1]):
                    continue
                for sc in range(-n_images[2], n_images[2] + 1):
                    fc = frac[i, 2] + sc
                    if periodic[2] and (fc < -reach[2] or fc > 1.0 + reach[2]):
                        continue
                    if fill:
                        for k in range(3):
                            ghost_positions[g, k] = fa * cell[0, k] + fb * cell[1, k] + fc * cell[2, k]
                        ghost_atom[g] = i
                        ghost_is_home[g] = sa == 0 and sb == 0 and sc == 0
                    g += 1
    return g


@njit(cache=True, fastmath=False)
def bin_ghosts(ghost_positions, origin, bin_size, n_bins, bin_start, bin_members):
    """Counting sort of ghosts into a Cartesian grid of bins (CSR layout)."""
    n_ghosts = ghost_positions.shape[0]
    ghost_bin = np.empty(n_ghosts, dtype=np.int64)
    for g in range(n_ghosts):
        index = 0
        for k in range(3):
            b = int((ghost_positions[g, k] - origin[k]) / bin_size[k])
            b = min(max(b, 0), n_bins[k] - 1)
            index = index * n_bins[k] + b
        ghost_bin[g] = index
    bin_start[:] = 0
    for g in range(n_ghosts):
        bin_start[ghost_bin[g] + 1] += 1
    for b in range(bin_start.shape[0] - 1):
        bin_start[b + 1] += bin_start[b]
    cursor = bin_start[:-1].copy()
    for g in range(n_ghosts):
        bin_members[cursor[ghost_bin[g]]] = g
        cursor[ghost_bin[g]] += 1


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def search_pairs(centres, ghost_positions, ghost_atom, ghost_is_home, origin, bin_size,
                 n_bins, bin_start, bin_members, cutoff, counts, offsets,
                 neighbours, vectors, fill):
    """Count (``fill=False``) or write (``fill=True``) the pairs of every centre.

    counts : (N,) pairs per centre; offsets : (N + 1,) CSR offsets (fill pass).
    neighbours : (P,) atom index of each pair's neighbour; vectors : (P, 3),
    r_k + image − r_centre in Å.
    """
    cutoff2 = cutoff * cutoff
    for c in prange(centres.shape[0]):
        home = np.empty(3, dtype=np.int64)
        for k in range(3):
            b = int((centres[c, k] - origin[k]) / bin_size[k])
            home[k] = min(max(b, 0), n_bins[k] - 1)
        n = 0
        p = offsets[c]
        for ba in range(max(home[0] - 1, 0), min(home[0] + 2, n_bins[0])):
            for bb in range(max(home[1] - 1, 0), min(home[1] + 2, n_bins[1])):
                for bc in range(max(home[2] - 1, 0), min(home[2] + 2, n_bins[2])):
                    index = (ba * n_bins[1] + bb) * n_bins[2] + bc
                    for q in range(bin_start[index], bin_start[index + 1]):
                        g = bin_members[q]
                        if ghost_is_home[g] and ghost_atom[g] == c:
                            continue
                        dx = ghost_positions[g, 0] - centres[c, 0]
                        dy = ghost_positions[g, 1] - centres[c, 1]
                        dz = ghost_positions[g, 2] - centres[c, 2]
                        if dx * dx + dy * dy + dz * dz < cutoff2:
                            if fill:
                                neighbours[p] = ghost_atom[g]
                                vectors[p, 0] = dx
                                vectors[p, 1] = dy
                                vectors[p, 2] = dz
                                p += 1
                            n += 1
        counts[c] = n
