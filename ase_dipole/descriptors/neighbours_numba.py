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


@njit(cache=True, fastmath=False)
def shifts_of(positions, offsets, neighbours, vectors, shifts):
    """``shifts[p] = vectors[p] − (x_k − x_c)``: the lattice translation of
    each pair p = c→k, Å."""
    for c in range(offsets.shape[0] - 1):
        for p in range(offsets[c], offsets[c + 1]):
            k = neighbours[p]
            for a in range(3):
                shifts[p, a] = vectors[p, a] - (positions[k, a] - positions[c, a])


@njit(cache=True, fastmath=False)
def reverse_pairs(offsets, neighbours, shifts, reverse):
    """``reverse[p]``: the pair k→c (shift −s) of each pair p = c→k (shift s),
    found among the pairs of k; then the shift of the later of the two is set
    to minus the earlier's, so that pair vectors ``x_k − x_c + s`` are exact
    negatives of each other. Returns the number of pairs without a reverse (0
    for a list built with one cut-off)."""
    unmatched = 0
    for c in range(offsets.shape[0] - 1):
        for p in range(offsets[c], offsets[c + 1]):
            k = neighbours[p]
            reverse[p] = -1
            for q in range(offsets[k], offsets[k + 1]):
                if (neighbours[q] == c and abs(shifts[q, 0] + shifts[p, 0]) < 1e-6
                        and abs(shifts[q, 1] + shifts[p, 1]) < 1e-6
                        and abs(shifts[q, 2] + shifts[p, 2]) < 1e-6):
                    reverse[p] = q
                    break
            if reverse[p] < 0:
                unmatched += 1
    for p in range(reverse.shape[0]):
        q = reverse[p]
        if q > p:
            for a in range(3):
                shifts[q, a] = -shifts[p, a]
    return unmatched


@njit(cache=True, fastmath=False)
def within_cutoff(positions, offsets, neighbours, shifts, reverse, cutoff, out_offsets,
                  out_neighbours, out_vectors, out_reverse, position_in_output):
    """Pairs of a skin list still within ``cutoff`` at ``positions``: writes the
    compact list (CSR, with the index of each pair's reverse) and returns
    (number of pairs, index of the closest pair or −1, its distance).

    Vectors are ``x_k − x_c + s``, so a pair and its reverse (shifts of
    opposite sign, from :func:`reverse_pairs`) are exact negatives and are
    kept or dropped together; pairs without a reverse (at the edge of the
    list's own cut-off) are dropped. ``position_in_output`` is (P,) int64 scratch.
    """
    cutoff2 = cutoff * cutoff
    total = 0
    closest = -1
    closest2 = np.inf
    out_offsets[0] = 0
    for c in range(offsets.shape[0] - 1):
        for p in range(offsets[c], offsets[c + 1]):
            k = neighbours[p]
            dx = positions[k, 0] - positions[c, 0] + shifts[p, 0]
            dy = positions[k, 1] - positions[c, 1] + shifts[p, 1]
            dz = positions[k, 2] - positions[c, 2] + shifts[p, 2]
            d2 = dx * dx + dy * dy + dz * dz
            position_in_output[p] = -1
            if d2 < cutoff2 and reverse[p] >= 0:
                position_in_output[p] = total
                out_neighbours[total] = k
                out_vectors[total, 0] = dx
                out_vectors[total, 1] = dy
                out_vectors[total, 2] = dz
                if d2 < closest2:
                    closest2 = d2
                    closest = total
                total += 1
        out_offsets[c + 1] = total
    for p in range(neighbours.shape[0]):
        t = position_in_output[p]
        if t >= 0:
            out_reverse[t] = position_in_output[reverse[p]]
    return total, closest, np.sqrt(closest2)


@njit(cache=True, fastmath=False)
def max_displacement(positions, reference):
    """Largest |x_i − x_i(reference)|, Å."""
    largest = 0.0
    for i in range(positions.shape[0]):
        d2 = 0.0
        for a in range(3):
            d2 += (positions[i, a] - reference[i, a]) ** 2
        if d2 > largest:
            largest = d2
    return np.sqrt(largest)
