"""Infrared and Raman spectra: finite temperature (Green–Kubo, α̇
correlation), harmonic (phonopy), their comparison and plots."""

from ase_dipole.spectra.compare import compare_spectra
from ase_dipole.spectra.green_kubo import IRSpectrum, ir_spectrum, read_experiment, read_spectrum_csv
from ase_dipole.spectra.harmonic import (HarmonicIR, load_phonopy, phonopy_from_calculator,
                                         write_born_from_model)
from ase_dipole.spectra.raman import HarmonicRaman, RamanSpectrum, raman_spectrum, read_raman_csv

__all__ = ["HarmonicIR", "IRSpectrum", "compare_spectra", "ir_spectrum", "load_phonopy",
           "phonopy_from_calculator", "read_experiment", "read_spectrum_csv",
           "write_born_from_model", "HarmonicRaman", "RamanSpectrum", "raman_spectrum", "read_raman_csv"]
