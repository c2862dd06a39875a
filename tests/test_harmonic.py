"""Tests of ase_dipole.spectra.harmonic: Γ modes from phonopy, mode charges, the
harmonic IR spectrum on the absolute scale of docs/conventions.md, and the BORN bridge.

References: phonopy itself (Γ frequencies), ase.vibrations.Infrared with
GFN2-xTB forces (intensities), the Phonopy-Spectroscopy peak table of phenol
(tests/data/phenol/IR-PeakTable.dat), the real NaCl / SnO2 BORN and
vasprun.xml files, and the sum rules of docs/conventions.md.
"""

import os
import warnings

import ase.units
import numpy as np
import phonopy
import pytest
from phonopy.file_IO import parse_BORN
from phonopy.structure.symmetry import symmetrize_borns_and_epsilon

from ase_dipole.learning.fixed_charges import FixedChargesModel
from ase_dipole.spectra.harmonic import (
    CM3_PER_A3,
    THZ_TO_CM1,
    HarmonicIR,
    load_phonopy,
    phonopy_from_calculator,
    read_peaks,
    write_born_from_model,
)
from ase_dipole.units import KM_PER_MOL_PER_E2_AMU
from harmonic_helpers import NACL, PHENOL, SNO2, nacl_harmonic, nacl_phonon, phenol_phonon, sno2_phonon

SNO2_BORN = os.path.join(SNO2, "example_BORN")
SNO2_VASPRUN = os.path.join(SNO2, "vasprun.xml-born.gz")


def _phonopy_gamma_cm1(phonon):
    """Γ frequencies as phonopy itself computes them (THz -> cm⁻¹)."""
    return phonon.run_qpoints([[0.0, 0.0, 0.0]]).frequencies[0] * THZ_TO_CM1


def _degenerate_groups(frequencies, tol_cm1=1e-3):
    groups = [[0]]
    for n in range(1, len(frequencies)):
        if frequencies[n] - frequencies[groups[-1][-1]] < tol_cm1:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def test_mode_charges_complete():
    """Σ_ν |Z̃_ν|² = Σ_i Tr(Z*_i Z*_iᵀ)/m_i (completeness of the eigenvectors),
    with the non-symmetric Z* of the real SnO2 vasprun.xml."""
    harmonic = HarmonicIR(sno2_phonon(), SNO2_VASPRUN).run()
    born = harmonic.born_charges
    masses = harmonic.atoms.get_masses()
    expected = np.einsum("iab,iab,i->", born, born, 1.0 / masses)
    assert abs(harmonic.intensities.sum() - expected) < 1e-10 * expected
    vectors = harmonic.eigenvectors.reshape(len(masses) * 3, -1)
    assert np.allclose(vectors @ vectors.T, np.eye(len(vectors)), atol=1e-12)


def test_nacl_to_mode():
    """One triply degenerate TO mode carries all the intensity; three acoustic
    modes are flagged; ν̃_TO equals phonopy's own Γ frequency and |Z̃|² the
    two-atom formula (z_Na m_Cl − z_Cl m_Na)²/(M m_Na m_Cl) per polarization."""
    harmonic = nacl_harmonic()
    frequencies = harmonic.frequencies_cm1
    np.testing.assert_allclose(frequencies, _phonopy_gamma_cm1(nacl_phonon()), atol=1e-4)
    assert harmonic.is_acoustic.tolist() == [True] * 3 + [False] * 3
    assert not harmonic.is_imaginary.any()
    optical = frequencies[3:]
    assert np.ptp(optical) < 1e-6 and 140 < optical[0] < 170
    born = np.loadtxt(os.path.join(NACL, "BORN"), skiprows=2)  # rows: Na, Cl (isotropic)
    z_na, z_cl = born[0, 0], born[1, 0]
    m_na, m_cl = harmonic.atoms.get_masses()
    per_mode = (z_na * m_cl - z_cl * m_na) ** 2 / ((m_na + m_cl) * m_na * m_cl)
    np.testing.assert_allclose(harmonic.intensities[3:], per_mode, rtol=1e-10)
    assert np.all(harmonic.intensities[:3] < 1e-12 * per_mode + 1e-7)
    np.testing.assert_allclose(harmonic.intensities_km_mol, harmonic.intensities * KM_PER_MOL_PER_E2_AMU)


def test_sno2_ir_active_modes():
    """Rutile: the IR-active modes are A2u (z, single) + 3 Eu (xy, doublets);
    the other eight optical modes are dark. BORN and vasprun.xml Z* agree."""
    phonon = sno2_phonon()
    from_born = HarmonicIR(phonon, SNO2_BORN).run()
    from_vasprun = HarmonicIR(phonon, SNO2_VASPRUN).run()
    np.testing.assert_allclose(from_born.frequencies_cm1, _phonopy_gamma_cm1(phonon), atol=1e-4)
    assert from_born.is_acoustic.sum() == 3 and not from_born.is_imaginary.any()
    # BORN is the symmetrised vasprun.xml: same charges to the 4th decimal
    assert np.abs(from_born.born_charges - from_vasprun.born_charges).max() < 5e-4
    np.testing.assert_allclose(from_vasprun.intensities, from_born.intensities, rtol=2e-3, atol=1e-6)

    frequencies = from_born.frequencies_cm1
    groups = _degenerate_groups(frequencies)[1:]  # drop the acoustic triplet
    strength = np.array([from_born.intensities[g].sum() for g in groups])
    active = [g for g, s in zip(groups, strength) if s > 1e-3 * strength.max()]
    assert [len(g) for g in active] == [2, 2, 1, 2]  # Eu, Eu, A2u, Eu
    dark = [g for g, s in zip(groups, strength) if s <= 1e-3 * strength.max()]
    assert sum(len(g) for g in dark) == 8 and strength[[groups.index(g) for g in dark]].max() < 1e-10
    charges = from_born.mode_charges
    a2u = active[2][0]
    assert np.abs(charges[a2u, :2]).max() < 1e-8 and abs(charges[a2u, 2]) > 1.0
    for doublet in (active[0], active[1], active[3]):
        assert np.abs(charges[doublet, 2]).max() < 1e-8
        # the doublet sums to an isotropic in-plane response
        tensor = np.einsum("na,nb->ab", charges[doublet, :2], charges[doublet, :2])
        np.testing.assert_allclose(tensor, tensor[0, 0] * np.eye(2), atol=1e-8)


def test_phenol_reproduces_phonopy_spectroscopy(tmp_path):
    """Frequencies and intensities of the Phonopy-Spectroscopy peak table, all
    modes above 100 cm⁻¹; the six low modes are 3 acoustic + 3 imaginary
    (free rotations of the molecule in its box)."""
    reference = np.loadtxt(os.path.join(PHENOL, "IR-PeakTable.dat"), skiprows=1)
    with pytest.warns(UserWarning, match="3 imaginary modes"):
        harmonic = HarmonicIR(phenol_phonon(tmp_path), os.path.join(PHENOL, "BORN")).run()
    assert harmonic.is_acoustic.sum() == 3 and harmonic.is_imaginary.sum() == 3
    assert np.all(harmonic.frequencies_cm1[harmonic.is_imaginary] < -1.0)
    high = reference[:, 0] > 100.0
    assert high.sum() == 33
    np.testing.assert_allclose(harmonic.frequencies_cm1[high], reference[high, 0], atol=2e-3)
    # reference intensities are printed with 6 decimals (e²/amu)
    np.testing.assert_allclose(harmonic.intensities[high], reference[high, 1], atol=1e-6)
    relative = harmonic.intensities[high] / harmonic.intensities[high].max()
    np.testing.assert_allclose(relative, reference[high, 1] / reference[high, 1].max(), atol=1e-5)


@pytest.fixture(scope="module")
def water_gfn2():
    """GFN2-xTB water relaxed in a box, and its Z* by central differences
    of the tblite dipole (δ = 0.01 Å)."""
    tblite_ase = pytest.importorskip("tblite.ase")
    from ase.build import molecule
    from ase.optimize import BFGS

    atoms = molecule("H2O")
    atoms.center(vacuum=4.0)
    atoms.pbc = False
    atoms.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)
    BFGS(atoms, logfile=None).run(fmax=1e-3)
    born = np.empty((len(atoms), 3, 3))
    reference = atoms.get_positions()
    for i in range(len(atoms)):
        for beta in range(3):
            dipoles = []
            for sign in (1, -1):
                displaced = reference.copy()
                displaced[i, beta] += sign * 0.01
                atoms.positions = displaced
                dipoles.append(atoms.get_dipole_moment())
            born[i, :, beta] = (dipoles[0] - dipoles[1]) / 0.02
    atoms.positions = reference
    raw_phonon = phonopy_from_calculator(
        atoms, tblite_ase.TBLite(method="GFN2-xTB", verbosity=0), symmetry=False, symmetrize_fc=False, log=None
    )
    return atoms, born, tblite_ase.TBLite, raw_phonon


def test_agrees_with_ase_infrared(water_gfn2, tmp_path):
    """phonopy displacements + Z̃ formula == ase.vibrations.Infrared (central
    differences of forces and of a fixed-Z* dipole), mode by mode."""
    from ase.vibrations import Infrared

    from ase_dipole.dynamics.calculator import DipoleCalculator

    atoms, born, TBLite, phonon = water_gfn2
    model = FixedChargesModel(born, reference_positions=atoms.get_positions(), symbols=atoms.get_chemical_symbols())
    ase_atoms = atoms.copy()
    ase_atoms.calc = DipoleCalculator(model, calculator=TBLite(method="GFN2-xTB", verbosity=0))
    infrared = Infrared(ase_atoms, delta=0.01, name=str(tmp_path / "ir"))
    infrared.run()
    ase_frequencies = infrared.get_frequencies()  # cm⁻¹, complex for imaginary
    ase_signed = np.where(np.abs(ase_frequencies.imag) > 0, -ase_frequencies.imag, ase_frequencies.real)
    # ASE: (D/Å)²/amu with the dipole in e·Å -> e²/amu by Debye²
    ase_intensities = infrared.intensities * ase.units.Debye**2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no ASR imposed: rotations/translations not clean zeros
        harmonic = HarmonicIR(phonon, model, periodic=True).run()
        molecule = HarmonicIR(phonon, model).run()  # pbc False: rigid motions projected out
    assert not molecule.periodic
    vib = slice(6, 9)
    assert np.all(ase_signed[vib] > 1000)
    # same central differences; what is left is tblite's SCF noise (~1e-5 relative)
    for result in (harmonic, molecule):
        np.testing.assert_allclose(result.frequencies_cm1[vib], ase_signed[vib], rtol=5e-5)
        np.testing.assert_allclose(result.intensities[vib], ase_intensities[vib], rtol=1e-3)
    # signed ν̃² of all nine modes (the six near-zero ones included), unprojected
    np.testing.assert_allclose(
        harmonic.frequencies_cm1 * np.abs(harmonic.frequencies_cm1), ase_signed * np.abs(ase_signed), rtol=1e-4, atol=50.0
    )
    # km/mol: ASE uses Porezag's 42.255 km/mol per (D/Å)²/amu
    np.testing.assert_allclose(
        harmonic.intensities_km_mol[vib], 42.255 * infrared.intensities[vib], rtol=2e-4
    )


def test_symmetrised_calculator_route_keeps_modes(water_gfn2):
    """With phonopy's symmetry and FC symmetrisation the three vibrations
    barely move and exactly three acoustic modes appear."""
    atoms, born, TBLite, phonon_raw = water_gfn2
    phonon = phonopy_from_calculator(atoms, TBLite(method="GFN2-xTB", verbosity=0), log=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = HarmonicIR(phonon_raw, born).run()
        symmetrised = HarmonicIR(phonon, born).run()
    assert symmetrised.is_acoustic.sum() == 6  # a molecule: translations and rotations
    np.testing.assert_array_equal(symmetrised.frequencies_cm1[:6], 0.0)
    np.testing.assert_allclose(symmetrised.frequencies_cm1[6:], raw.frequencies_cm1[6:], atol=5.0)
    np.testing.assert_allclose(symmetrised.intensities[6:], raw.intensities[6:], rtol=0.05)


def test_spectrum_integral_and_lineshapes():
    """∫ α n dν̃ = Σ_active |Z̃|² / (12 V ε0 c²) (docs/conventions.md, SI evaluated here),
    for Gaussian (fully inside the window) and Lorentzian (analytic tails)."""
    harmonic = HarmonicIR(sno2_phonon(), SNO2_BORN).run()
    active = harmonic.active
    e, amu, eps0, c = ase.units._e, ase.units._amu, ase.units._eps0, ase.units._c
    volume_m3 = harmonic.volume_A3 * 1e-30
    total_si = harmonic.intensities[active].sum() * e**2 / amu / (12 * volume_m3 * eps0 * c**2)  # m⁻²
    # same total from the ω form: (1/2πc) π/(6Vcε0) Σ|Z̃|²
    omega_form = (1 / (2 * np.pi * c)) * np.pi / (6 * volume_m3 * c * eps0) * harmonic.intensities[active].sum() * e**2 / amu
    assert abs(omega_form - total_si) < 1e-12 * total_si
    total_cm2 = total_si * 1e-4  # m⁻² -> cm⁻²: ∫ (cm⁻¹) d(cm⁻¹)
    grid = np.arange(0.0, 1500.0, 0.05)
    fwhm = 8.0
    gaussian = harmonic.spectrum(grid, fwhm_cm1=fwhm, lineshape="gaussian")
    assert gaussian.unit == "cm^-1"
    np.testing.assert_allclose(np.trapezoid(gaussian.intensity, grid), total_cm2, rtol=1e-8)
    lorentzian = harmonic.spectrum(grid, fwhm_cm1=fwhm, lineshape="lorentzian")
    centres = harmonic.frequencies_cm1[active]
    weights = harmonic.intensities[active] / harmonic.intensities[active].sum()
    inside = np.sum(weights * (np.arctan((grid[-1] - centres) / (fwhm / 2)) - np.arctan((grid[0] - centres) / (fwhm / 2)))) / np.pi
    np.testing.assert_allclose(np.trapezoid(lorentzian.intensity, grid), total_cm2 * inside, rtol=1e-5)
    # cross-section per cell = α n V
    sigma = harmonic.spectrum(grid, fwhm_cm1=fwhm, lineshape="gaussian", periodic=False)
    assert sigma.unit == "cm^2"
    np.testing.assert_allclose(sigma.intensity, gaussian.intensity * harmonic.volume_A3 * CM3_PER_A3, rtol=1e-12)
    # the imaginary / acoustic modes never enter: default grid starts at 0 cm⁻¹
    default = harmonic.spectrum(fwhm_cm1=fwhm)
    assert default.wavenumber_cm1[0] == 0.0 and default.wavenumber_cm1[-1] > centres.max()


def test_asr_and_peak_table(tmp_path):
    """asr=True makes Σ_i Z*_i vanish and reports the violation of the input;
    the peak table round-trips."""
    plain = nacl_harmonic()
    corrected = HarmonicIR(nacl_phonon(), os.path.join(NACL, "BORN"), asr=True).run()
    born = np.loadtxt(os.path.join(NACL, "BORN"), skiprows=2)
    np.testing.assert_allclose(np.diag(corrected.asr_violation), born[0, 0] + born[1, 0], atol=1e-12)
    assert np.abs(corrected.born_charges.sum(axis=0)).max() < 1e-14
    assert np.abs(plain.born_charges.sum(axis=0)).max() > 1e-4
    path = tmp_path / "peaks.txt"
    corrected.write_peaks(path)
    table = read_peaks(path)
    np.testing.assert_allclose(table["frequency_cm1"], corrected.frequencies_cm1, atol=1e-4)
    np.testing.assert_allclose(table["intensity_e2_amu"], corrected.intensities, rtol=1e-6, atol=1e-12)
    assert table["acoustic"].tolist() == corrected.is_acoustic.tolist()
    assert "acoustic sum rule imposed: True" in path.read_text()


def test_born_from_model_round_trip(tmp_path):
    """A model's Z* written as BORN are read back by phonopy's own parser (the
    symmetrised charges) and give the same spectrum as the model itself."""
    from ase_dipole.io import read_born_charges

    frame = read_born_charges(SNO2_VASPRUN)[-1]
    model = FixedChargesModel.from_atoms(frame)
    phonon = sno2_phonon()
    path = tmp_path / "BORN"
    epsilon = frame.info["epsilon"]
    write_born_from_model(path, frame, model, epsilon=epsilon)
    parsed = parse_BORN(phonon.primitive, filename=str(path))
    expected, expected_eps = symmetrize_borns_and_epsilon(model.predict(frame)[1], epsilon, phonon.primitive)
    np.testing.assert_allclose(parsed["born"], expected, atol=1e-8)
    np.testing.assert_allclose(parsed["dielectric"], expected_eps, atol=1e-8)
    from_model = HarmonicIR(phonon, model).run()
    from_file = HarmonicIR(phonon, path).run()
    np.testing.assert_allclose(from_file.intensities, from_model.intensities, rtol=2e-3, atol=1e-6)
    with pytest.warns(UserWarning, match="no epsilon given"):
        write_born_from_model(tmp_path / "BORN_noeps", frame, model)


def test_calculator_route_needs_a_cell_for_crystals():
    from ase.build import molecule

    periodic = molecule("H2O", pbc=True)
    with pytest.raises(ValueError, match="periodic \\(pbc True\\) but have no 3D cell.*pbc=False"):
        phonopy_from_calculator(periodic, None, log=None)
    with pytest.raises(ValueError, match="a molecule \\(pbc False\\) takes no supercell"):
        phonopy_from_calculator(molecule("H2O"), None, supercell_matrix=(2, 2, 2), log=None)


def test_molecule_without_cell_rotations_projected(water_gfn2):
    """A water molecule without a cell (pbc False): the six rigid motions are
    exact zeros outside the spectrum, the spectrum is a cross-section in cm²
    whose maximum is a vibration, with nothing at low wavenumber; as a
    'crystal' its free rotations get 10-100s of km/mol at low ν̃."""
    atoms, born, TBLite, _ = water_gfn2
    bare = atoms.copy()
    bare.set_cell(None)
    phonon = phonopy_from_calculator(bare, TBLite(method="GFN2-xTB", verbosity=0), log=None)
    molecule = HarmonicIR(phonon, born).run()
    assert not molecule.periodic
    assert molecule.is_acoustic.sum() == 6 and not molecule.is_imaginary.any()
    np.testing.assert_array_equal(molecule.frequencies_cm1[molecule.is_acoustic], 0.0)
    assert np.all(molecule.frequencies_cm1[~molecule.is_acoustic] > 1000.0)
    spectrum = molecule.spectrum(fwhm_cm1=10.0)
    assert spectrum.unit == "cm^2" and spectrum.metadata["periodic"] is False
    assert spectrum.metadata["volume_A3"] is None
    peak = spectrum.wavenumber_cm1[np.argmax(spectrum.intensity)]
    assert np.min(np.abs(molecule.frequencies_cm1[molecule.active] - peak)) < 1.0
    low = spectrum.wavenumber_cm1 < 500.0
    assert spectrum.intensity[low].max() < 1e-3 * spectrum.intensity.max()
    # the cross-section integrates to the vibrations' intensities alone
    area_km_mol = np.trapezoid(spectrum.intensity, spectrum.wavenumber_cm1) / 1e5 * ase.units._Nav
    assert area_km_mol == pytest.approx(molecule.intensities_km_mol[molecule.active].sum(), rel=0.02)
    # treated as periodic the same force constants leave rotations at low ν̃
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crystal = HarmonicIR(phonon, born, periodic=True).run()
    low_modes = ~crystal.is_acoustic & (np.abs(crystal.frequencies_cm1) < 500.0)
    assert low_modes.sum() == 3
    assert crystal.spectrum().metadata["periodic"] is True


def test_phenol_as_a_molecule_projects_its_free_rotations(tmp_path):
    """Phenol in its phonopy box, declared a molecule: the three imaginary
    free rotations become exact zeros and the 33 vibrations above 100 cm⁻¹
    stay at the Phonopy-Spectroscopy values."""
    reference = np.loadtxt(os.path.join(PHENOL, "IR-PeakTable.dat"), skiprows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        molecule = HarmonicIR(phenol_phonon(tmp_path), os.path.join(PHENOL, "BORN"),
                              periodic=False).run()
    assert molecule.is_acoustic.sum() == 6 and not molecule.is_imaginary.any()
    high = reference[:, 0] > 100.0
    vibrations = ~molecule.is_acoustic
    assert vibrations.sum() == high.sum() == 33
    np.testing.assert_allclose(molecule.frequencies_cm1[vibrations], reference[high, 0], atol=0.5)
    np.testing.assert_allclose(molecule.intensities[vibrations], reference[high, 1], rtol=0.01, atol=1e-4)


def test_bad_inputs(tmp_path, monkeypatch):
    phonon = sno2_phonon()
    with pytest.raises(ValueError, match=r"lists independent atoms \[1, 5\].*written for another structure"):
        HarmonicIR(phonon, os.path.join(SNO2, "BORN_test"))
    with pytest.raises(ValueError, match="does not fit the primitive cell"):
        HarmonicIR(nacl_phonon(), os.path.join(PHENOL, "BORN"))
    with pytest.raises(ValueError, match="computed for another structure"):
        HarmonicIR(nacl_phonon(), SNO2_VASPRUN)
    with pytest.raises(ValueError, match=r"shape \(5, 3, 3\) do not fit the primitive cell of 6 atoms"):
        HarmonicIR(phonon, np.zeros((5, 3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        HarmonicIR(phonon, np.full((6, 3, 3), np.nan))
    model = FixedChargesModel(np.zeros((6, 3, 3)), symbols=["Sn"] * 6)
    with pytest.raises(ValueError, match=r"knows species \('Sn',\).*\['O'\]"):
        HarmonicIR(phonon, model)
    monkeypatch.chdir(tmp_path)  # no FORCE_SETS in the working directory
    with pytest.raises(ValueError, match="no force constants"):
        load_phonopy(os.path.join(NACL, "phonopy_disp.yaml"))
    bare = phonopy.load(os.path.join(NACL, "phonopy_disp.yaml"), produce_fc=False, is_nac=False)
    with pytest.raises(ValueError, match="no force constants"):
        HarmonicIR(bare, os.path.join(NACL, "BORN"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_phonopy(structure="POSCAR", supercell_matrix=(2, 2, 2))
    harmonic = HarmonicIR(phonon, SNO2_BORN)
    with pytest.raises(RuntimeError, match=r"HarmonicIR.run\(\) has to be done"):
        harmonic.intensities
    harmonic.run()
    with pytest.raises(ValueError, match="unknown lineshape 'voigt'"):
        harmonic.spectrum(lineshape="voigt")
    with pytest.raises(ValueError, match="volume_A3 has no meaning"):
        harmonic.spectrum(periodic=False, volume_A3=10.0)
