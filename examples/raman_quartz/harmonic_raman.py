"""Harmonic Raman of α-quartz: CHGNet phonons, the fitted model's Raman tensors.

Reads ``results/phonopy_chgnet.yaml.xz`` (from ``chgnet_phonons.py``: CHGNet
0.3.0 force constants of the relaxed cell; no torch needed here) and the
polarizability model ``work/quartz_alpha.npz`` (``fit_polarizability.py``),
and runs :class:`ase_dipole.spectra.raman.HarmonicRaman` (532 nm, 300 K Bose
factor). Each Γ mode's irreducible representation is phonopy's
(``Phonopy.run_irreps``, point group 32); degenerate sets are summed (activity,
invariants) as Phonopy-Spectroscopy's table does, and set beside that table
(VASP-LDA, ``tests/data/vasp_outcar/aSiO2_peak_table_README.txt``), matched by
irrep and rank within it. Writes

- ``results/peaks_harmonic.txt`` (the package's per-mode table),
- ``results/modes_harmonic.txt`` (per degenerate set: irrep, frequency,
  activity, depolarization; VASP's frequency and activity),
- ``results/raman_harmonic.csv`` and ``results/raman_harmonic_activity.csv``
  (Gaussian lines of ``--fwhm-cm1``, the MD window's; cross-section and
  activity per primitive cell);
- ``results/raman_harmonic_2x2x2.csv`` (and ``_activity_2x2x2``): the spectra times the
  8 cells of the MD's 2×2×2 supercell (the MD spectrum is per simulated
  system), the reference ``ase-dipole compare`` is given.

    python harmonic_raman.py [--fwhm-cm1 45]
"""

import argparse
import lzma
import os
import tempfile

import numpy as np
import phonopy
import yaml

from ase_dipole.atomic import atomic_write
from ase_dipole.learning.polarizability import PolarizabilityModel
from ase_dipole.spectra.raman import HarmonicRaman, RamanSpectrum, raman_invariants

HERE = os.path.dirname(os.path.abspath(__file__))
VASP_TABLE = os.path.join(HERE, "..", "..", "tests", "data", "vasp_outcar", "aSiO2_peak_table_README.txt")


def load_phonons(path=os.path.join(HERE, "results", "phonopy_chgnet.yaml.xz")):
    """phonopy.Phonopy with force constants from the compressed phonopy.yaml."""
    with tempfile.TemporaryDirectory() as folder:
        plain = os.path.join(folder, "phonopy.yaml")
        with open(path, "rb") as compressed, open(plain, "wb") as out:
            out.write(lzma.decompress(compressed.read()))
        return phonopy.load(plain, log_level=0)


def irreps_at_gamma(phonon):
    """[(band indices, irrep label)] of the Γ modes (phonopy, sets of degenerate bands)."""
    phonon.run_irreps([0, 0, 0], degeneracy_tolerance=1e-3)
    with tempfile.TemporaryDirectory() as folder:
        current = os.getcwd()
        os.chdir(folder)
        try:
            phonon.irreps.write_yaml()
            with open("irreps.yaml") as handle:
                data = yaml.safe_load(handle)
        finally:
            os.chdir(current)
    return [(list(np.array(mode["band_indices"]) - 1), mode.get("ir_label")) for mode in data["normal_modes"]]


def read_vasp_table(path=VASP_TABLE):
    """Rows (frequency_cm1, irrep, activity or None, depolarization or None)."""
    rows = []
    with open(path) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split()
            rows.append((float(parts[0]), parts[1], None if parts[3] == "Inactive" else float(parts[3]),
                         None if parts[5] == "-" else float(parts[5])))
    return rows


def mode_sets(harmonic, sets):
    """Per degenerate set: irrep, degeneracy, mean frequency, summed activity
    (45 Σā² + 7 Σγ², Å⁴/amu), ρ = 3Σγ²/(45Σā² + 4Σγ²)."""
    mean_square, anisotropy_square = raman_invariants(harmonic.raman_tensors)
    rows = []
    for bands, label in sets:
        a2, g2 = mean_square[bands].sum(), anisotropy_square[bands].sum()
        activity = 45 * a2 + 7 * g2
        rows.append({"irrep": label, "degeneracy": len(bands),
                     "frequency_cm1": float(harmonic.frequencies_cm1[bands].mean()),
                     "activity_A4_amu": float(activity),
                     "depolarization": float(3 * g2 / (45 * a2 + 4 * g2)) if activity > 0 else float("nan")})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fwhm-cm1", type=float, default=45.0)
    parser.add_argument("--cells", type=int, default=8, help="cells of the MD supercell")
    parser.add_argument("--model", default=os.path.join(HERE, "work", "quartz_alpha.npz"))
    args = parser.parse_args(argv)
    phonon = load_phonons()
    model = PolarizabilityModel.load(args.model)
    harmonic = HarmonicRaman(phonon, model, laser_wavelength_nm=532.0, temperature_K=300.0).run()
    harmonic.write_peaks(os.path.join(HERE, "results", "peaks_harmonic.txt"))
    sets = [(bands, label) for bands, label in irreps_at_gamma(phonon)
            if not np.all(harmonic.frequencies_cm1[bands] < 20.0)]  # acoustic
    rows = mode_sets(harmonic, sets)
    vasp = read_vasp_table()
    lines = [f"# harmonic Raman of alpha-quartz: CHGNet 0.3.0 phonons (phonopy 2x2x2, relaxed in the VASP cell), "
             f"Raman tensors of PolarizabilityModel {model.sha256[:16]}",
             "# activity = 45 sum(a^2) + 7 sum(g^2) over the degenerate set, A^4/amu; rho its depolarization ratio",
             "# VASP columns: Phonopy-Spectroscopy's VASP-LDA table, same irrep and rank within it",
             "# irrep deg  freq_CHGNet_cm1  activity  rho    freq_VASP_cm1  diff_%  activity_VASP  rho_VASP"]
    for row in rows:
        same = [r for r in vasp if r[1] == row["irrep"]]
        rank = sum(1 for r in rows[:rows.index(row)] if r["irrep"] == row["irrep"])
        ref = same[rank] if rank < len(same) else None
        activity = "Inactive" if row["irrep"] == "A2" else f"{row['activity_A4_amu']:.3f}"
        rho = "-" if row["irrep"] == "A2" else f"{row['depolarization']:.3f}"
        if ref is None:
            tail = "-"
        else:
            ref_activity = "Inactive" if ref[2] is None else f"{ref[2]:.3f}"
            ref_rho = "-" if ref[3] is None else f"{ref[3]:.2f}"
            tail = (f"{ref[0]:10.2f} {100 * (row['frequency_cm1'] / ref[0] - 1):+7.2f} "
                    f"{ref_activity:>10} {ref_rho:>6}")
        lines.append(f"{row['irrep']:5} {row['degeneracy']:3d} {row['frequency_cm1']:12.2f} {activity:>10} {rho:>6}  {tail}")
    text = "\n".join(lines) + "\n"
    with atomic_write(os.path.join(HERE, "results", "modes_harmonic.txt")) as out:
        out.write(text)
    print(text)
    grid = np.arange(1.0, 1500.0, 1.0)
    for quantity, suffix in (("cross_section", ""), ("activity", "_activity")):
        spectrum = harmonic.spectrum(grid, fwhm_cm1=args.fwhm_cm1, lineshape="gaussian", quantity=quantity)
        spectrum.write_csv(os.path.join(HERE, "results", f"raman_harmonic{suffix}.csv"))
        RamanSpectrum(wavenumber_cm1=spectrum.wavenumber_cm1, intensity=args.cells * spectrum.intensity,
                      error=np.zeros_like(spectrum.intensity), unit=spectrum.unit,
                      metadata=dict(spectrum.metadata, cells=args.cells,
                                    note=f"{args.cells} x the spectrum per primitive cell")).write_csv(
            os.path.join(HERE, "results", f"raman_harmonic{suffix}_2x2x2.csv"))


if __name__ == "__main__":
    main()
