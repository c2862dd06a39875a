"""Readers of real Born-charge files into the extxyz convention
Z[i, α, β] = ∂μ_α/∂x_{iβ} (first index field/dipole). Literal numbers below are
read from the data files; each cites its file and line."""

import gzip
import os
import re

import ase.io
import numpy as np
import pytest
from phonopy.file_IO import parse_BORN
from phonopy.interface.calculator import read_crystal_structure

from ase_dipole.cli import main
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.io import (
    BornChargeFormatError,
    guess_format,
    load_falletta_water,
    load_paper_water,
    load_schienbein_water,
    read_born_charges,
    read_extxyz_born,
    read_phonopy_born,
    read_qe_ph,
    read_vasp_outcar,
    read_vasprun_born,
    write_phonopy_born,
)
from ase_dipole.units import BOHR

DATA = os.path.join(os.path.dirname(__file__), "data")
OUTCAR_1 = os.path.join(DATA, "vasp_outcar", "OUTCAR.0006.001.gz")
OUTCAR_2 = os.path.join(DATA, "vasp_outcar", "OUTCAR.0006.002.gz")
BORN_SIO2 = os.path.join(DATA, "vasp_outcar", "BORN_aSiO2")
POSCAR_SIO2 = os.path.join(DATA, "vasp_outcar", "POSCAR_aSiO2")
VASPRUN = os.path.join(DATA, "vasprun_SnO2", "vasprun.xml-born.gz")
BORN_SNO2 = os.path.join(DATA, "vasprun_SnO2", "BORN_example")
POSCAR_SNO2 = os.path.join(DATA, "vasprun_SnO2", "POSCAR-unitcell")
BORN_NACL = os.path.join(DATA, "phonopy_born", "BORN_NaCl")
POSCAR_NACL = os.path.join(DATA, "phonopy_born", "POSCAR_NaCl")
BORN_PHENOL = os.path.join(DATA, "phonopy_born", "BORN_Phenol")
POSCAR_PHENOL = os.path.join(DATA, "phonopy_born", "POSCAR_Phenol")
QE_CO2 = os.path.join(DATA, "qe_ph", "co2.ph.out.gz")
QE_ALAS_05 = os.path.join(DATA, "qe_ph", "alas.example05.ph.out.gz")
QE_ALAS = os.path.join(DATA, "qe_ph", "alas.ph.out.gz")
LES = os.path.join(DATA, "les_bec_superionic", "S-2cc-T2000K-BEC_first3.xyz")
DIMER = os.path.join(DATA, "water_dimer", "water_dimer_b3lyp_gfn2_apt.extxyz")


def asr(atoms):
    """Largest component of Σ_i Z*_i (e)."""
    return np.abs(get_born_charges(atoms).sum(axis=0)).max()


def gunzip_text(path):
    with gzip.open(path, "rt") as handle:
        return handle.read()


# --------------------------------------------------------------------------- VASP OUTCAR
def test_outcar_values_shapes_and_structure():
    atoms = read_vasp_outcar(OUTCAR_1)
    assert atoms.get_chemical_symbols() == ["Si"] * 3 + ["O"] * 6
    assert atoms.arrays["born_charges"].shape == (9, 9)
    # OUTCAR.0006.001 lines 5711-5713 (ion 1) and 5688-5690 (epsilon)
    np.testing.assert_array_equal(
        get_born_charges(atoms)[0],
        [[2.98436, 0.0, 0.0], [0.00004, 3.62382, -0.31585], [-0.0, 0.27204, 3.42955]],
    )
    np.testing.assert_allclose(np.diag(atoms.info["epsilon"]), [2.514693, 2.514693, 2.547899])
    reference = ase.io.read(OUTCAR_1, format="vasp-out", index=-1)
    np.testing.assert_allclose(atoms.positions, reference.positions)
    assert asr(atoms) < 0.01  # VASP does not impose the ASR; the file's drift is ~4e-3


def test_outcar_rows_are_field_direction():
    """Row k of each cumulative block equals the force response printed under
    'Linear response to external field ... Direction: k'."""
    text = gunzip_text(OUTCAR_1)
    born = get_born_charges(read_vasp_outcar(OUTCAR_1))
    for field in (1, 2, 3):
        block = text.split(f"POSITION         DIRECTION {field}           BORN EFFECTIVE CHARGE")[-1]
        rows = block.splitlines()[2:11]
        response = np.array([[float(x) for x in row.split()[3:6]] for row in rows])
        np.testing.assert_allclose(born[:, field - 1, :], response, atol=1e-5)
        assert np.abs(born[:, :, field - 1] - response).max() > 0.1  # columns do not match


def test_outcar_transposition_caught_by_born_file():
    """The ± displaced pair averages to the equilibrium Z* that phonopy expands
    from the BORN file; the non-symmetric quartz tensors make Zᵀ fail."""
    pair = [get_born_charges(read_vasp_outcar(path)) for path in (OUTCAR_1, OUTCAR_2)]
    average = 0.5 * (pair[0] + pair[1])
    reference = get_born_charges(read_phonopy_born(BORN_SIO2, POSCAR_SIO2))
    assert np.abs(average - reference).max() < 1.5e-3
    assert np.abs(average.transpose(0, 2, 1) - reference).max() > 0.5


@pytest.mark.parametrize(
    "header, label",
    [
        ("BORN EFFECTIVE CHARGES (including local field effects) (in |e|, cummulative output)", False),
        ("BORN EFFECTIVE CHARGES (including local field effects) (in |e|, cumulative output)", True),
    ],
)
def test_outcar_new_header_style(tmp_path, header, label):
    text = gunzip_text(OUTCAR_1).replace("BORN EFFECTIVE CHARGES (in e, cummulative output)", header)
    if label:  # py4vasp-style "ion    1   Si"
        symbols = ["Si"] * 3 + ["O"] * 6
        text = re.sub(r"^ ion +(\d+)$", lambda m: f"{m.group(0)}   {symbols[int(m.group(1)) - 1]}", text, flags=re.M)
    path = tmp_path / "OUTCAR"
    path.write_text(text)
    np.testing.assert_array_equal(
        get_born_charges(read_vasp_outcar(path)), get_born_charges(read_vasp_outcar(OUTCAR_1))
    )


def test_outcar_without_born_block(tmp_path):
    path = tmp_path / "OUTCAR"
    path.write_text(gunzip_text(OUTCAR_1).replace("BORN EFFECTIVE CHARGES", "BORN CHARGES REMOVED"))
    with pytest.raises(BornChargeFormatError, match="no 'BORN EFFECTIVE CHARGES' block.*LEPSILON"):
        read_vasp_outcar(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such file: 'nowhere/OUTCAR'"):
        read_born_charges("nowhere/OUTCAR")


# --------------------------------------------------------------------------- vasprun.xml
def test_vasprun_values():
    atoms = read_vasprun_born(VASPRUN)
    assert atoms.get_chemical_symbols() == ["Sn", "Sn", "O", "O", "O", "O"]
    # vasprun.xml-born lines 1673-1675 (ion 3) and 1624-1626 (epsilon)
    np.testing.assert_array_equal(
        get_born_charges(atoms)[2],
        [[-2.04720419, 0.71761807, 0.0], [0.71788102, -2.04708674, 0.0], [-0.00021885, 0.00021885, -2.24106318]],
    )
    np.testing.assert_allclose(np.diag(atoms.info["epsilon"]), [4.42038879, 4.42038879, 4.77663396])
    assert asr(atoms) < 1e-6


def test_vasprun_without_born(tmp_path):
    path = tmp_path / "vasprun.xml"
    path.write_text(gunzip_text(VASPRUN).replace('name="born_charges"', 'name="something_else"'))
    with pytest.raises(BornChargeFormatError, match="no <array name=\"born_charges\">"):
        read_vasprun_born(path)


# --------------------------------------------------------------------------- phonopy BORN
def test_phonopy_born_old_style_nacl():
    atoms = read_phonopy_born(BORN_NACL, POSCAR_NACL)
    born = get_born_charges(atoms)
    # BORN_NaCl lines 2-4
    np.testing.assert_allclose(atoms.info["epsilon"], 2.43533967 * np.eye(3))
    sodium = np.array(atoms.get_chemical_symbols()) == "Na"
    np.testing.assert_allclose(born[sodium], np.broadcast_to(1.08703 * np.eye(3), (4, 3, 3)))
    np.testing.assert_allclose(born[~sodium], np.broadcast_to(-1.08672 * np.eye(3), (4, 3, 3)))


def test_phonopy_born_expansion_follows_symmetry():
    """α-quartz: Si1 sits on a C2 axis along x (Z_xy = Z_xz = Z_yx = Z_zx = 0);
    the other Si are rotated copies with the same invariants."""
    atoms = read_phonopy_born(BORN_SIO2, POSCAR_SIO2)
    born = get_born_charges(atoms)
    # BORN_aSiO2 line 3 (atom 1)
    np.testing.assert_allclose(born[0].ravel(), [2.98594009, 0, 0, 0, 3.62220987, -0.31310225, 0, 0.26996802, 3.42882331], atol=1e-8)
    for j in (1, 2):
        np.testing.assert_allclose(np.trace(born[j]), np.trace(born[0]), atol=1e-7)
        np.testing.assert_allclose(np.linalg.svd(born[j])[1], np.linalg.svd(born[0])[1], atol=1e-7)
        assert np.abs(born[j] - born[0]).max() > 0.1
    assert asr(atoms) < 1e-6


def test_phonopy_born_phenol_and_new_style():
    phenol = read_phonopy_born(BORN_PHENOL, POSCAR_PHENOL)
    assert len(phenol) == 13 and asr(phenol) < 5e-3
    sno2 = read_phonopy_born(BORN_SNO2, POSCAR_SNO2)
    # BORN_example line 3 (atom 1, Sn)
    np.testing.assert_allclose(get_born_charges(sno2)[0].ravel()[:2], [4.09429092, 0.47310041])


def test_phonopy_born_roundtrip_through_phonopy(tmp_path):
    """vasprun Z* -> our BORN writer -> phonopy's own parse_BORN and our reader:
    equal to the symmetrized input and to the BORN phonopy wrote from the same run."""
    atoms = read_vasprun_born(VASPRUN)
    path = tmp_path / "BORN"
    write_phonopy_born(path, atoms)
    cell, _ = read_crystal_structure(POSCAR_SNO2, interface_mode="vasp")
    nac = parse_BORN(cell, filename=path)
    reread = read_phonopy_born(path, atoms)
    np.testing.assert_allclose(get_born_charges(reread), nac["born"], atol=1e-12)
    np.testing.assert_allclose(get_born_charges(reread), get_born_charges(atoms), atol=3e-4)
    np.testing.assert_allclose(
        get_born_charges(reread), get_born_charges(read_phonopy_born(BORN_SNO2, POSCAR_SNO2)), atol=1e-7
    )
    write_phonopy_born(path, atoms, symmetrize=False)
    np.testing.assert_allclose(read_phonopy_born(path, atoms).info["epsilon"], atoms.info["epsilon"], atol=1e-8)


def test_phonopy_born_for_another_structure():
    with pytest.raises(BornChargeFormatError, match=r"lists independent atoms \[1, 4\].*pass the cell"):
        read_phonopy_born(BORN_SIO2, POSCAR_NACL)
    with pytest.raises(BornChargeFormatError, match="not a BORN file for this structure"):
        read_phonopy_born(BORN_NACL, POSCAR_PHENOL)
    with pytest.raises(ValueError, match="pass structure="):
        read_born_charges(BORN_NACL)


# --------------------------------------------------------------------------- Quantum ESPRESSO
def test_qe_co2_values_and_structure():
    atoms = read_qe_ph(QE_CO2)
    assert atoms.get_chemical_symbols() == ["C", "O", "O"]
    # co2.ph.out lines 55-58, 70-73: alat 14 bohr, tau(2) = (0.51771 0.51771 0.47833) alat
    np.testing.assert_allclose(atoms.cell, 14.0 * BOHR * np.eye(3))
    np.testing.assert_allclose(atoms.positions[1], np.array([0.51771, 0.51771, 0.47833]) * 14.0 * BOHR)
    # lines 175-187 (last block: 403-415): atom 1 C, rows Ex and Ez
    born = get_born_charges(atoms)
    np.testing.assert_array_equal(born[0, 0], [1.32759, 0.92095, 0.00002])
    np.testing.assert_array_equal(born[0, 2], [0.00057, 0.00057, 0.40520])
    # a linear molecule: the large principal axis of Z*(C) lies along O–O
    axis = atoms.positions[1] - atoms.positions[2]
    values, vectors = np.linalg.eigh(0.5 * (born[0] + born[0].T))
    assert abs(vectors[:, -1] @ axis / np.linalg.norm(axis)) > 0.999
    assert asr(atoms) < 0.05  # ASR not imposed in this ph.x run


def test_qe_alas_force_and_polarization_blocks_agree():
    atoms = read_qe_ph(QE_ALAS_05)
    force = get_born_charges(atoms)
    polarization = atoms.arrays["born_charges_dp_du"].reshape(2, 3, 3)
    # alas.example05.ph.out lines 383-390 and 394-401
    np.testing.assert_allclose(np.diag(force[0]), 2.14176)
    np.testing.assert_allclose(np.diag(polarization[1]), -2.14349)
    assert np.abs(force - polarization).max() < 2e-4
    assert asr(atoms) < 2e-3
    np.testing.assert_allclose(
        get_born_charges(read_qe_ph(QE_ALAS_05, block="dP/du")), polarization
    )
    generated = read_qe_ph(QE_ALAS)  # alas.ph.out lines 234-242
    np.testing.assert_allclose(np.diag(get_born_charges(generated)[1]), -2.17274)
    np.testing.assert_allclose(np.diag(generated.info["epsilon"]), 9.336122825)


def test_qe_without_effective_charges(tmp_path):
    path = tmp_path / "co2.ph.out"
    path.write_text(gunzip_text(QE_CO2).replace("Effective charges", "Removed charges"))
    with pytest.raises(BornChargeFormatError, match="no 'Effective charges .d Force / dE.*epsil"):
        read_qe_ph(path)
    with pytest.raises(ValueError, match="unknown block 'dF/du'"):
        read_qe_ph(QE_CO2, block="dF/du")


# --------------------------------------------------------------------------- water sets
def test_paper_water():
    frames = load_paper_water()
    assert len(frames) == 100
    atoms = frames[0]
    assert atoms.get_chemical_symbols() == ["H"] * 128 + ["O"] * 64
    np.testing.assert_allclose(atoms.cell.lengths(), 12.429)
    assert "BEC" not in atoms.info
    # H2O_BEC.xyz line 2: first tensor of the BEC JSON
    np.testing.assert_array_equal(
        get_born_charges(atoms)[0],
        [[0.2713, -0.19542, -0.09621], [-0.18969, 1.15247, 0.46387], [-0.08551, 0.43809, 0.47708]],
    )
    assert max(asr(a) for a in frames) < 2e-4  # 5-decimal rounding
    diagonal = np.array([np.trace(z) / 3 for a in frames[:5] for z in get_born_charges(a)])
    assert diagonal[:128].mean() > 0.3 and diagonal[128:192].mean() < -0.6


def test_old_loader_name_warns_and_loads_the_same_frames():
    with pytest.warns(DeprecationWarning, match="load_paper_water"):
        old = load_falletta_water(index="3:5")
    new = load_paper_water(index="3:5")
    for a, b in zip(old, new):
        np.testing.assert_array_equal(get_born_charges(a), get_born_charges(b))


def test_schienbein_water():
    train, test = load_schienbein_water("train"), load_schienbein_water("test")
    assert (len(train), len(test)) == (5, 10)
    atoms = train[0]
    assert len(atoms) == 384 and atoms.get_chemical_formula() == "H256O128"
    np.testing.assert_allclose(atoms.cell.lengths(), 15.6627)
    # train_05.xyz line 3 (first O), the 9 numbers as stored ...
    stored = [-8.2582532000e-01, -9.6295050001e-02, 1.1912730001e-02, -9.4721599997e-03, -8.0349377000e-01,
              -1.1779588000e-01, -1.0974050000e-02, -8.6256370000e-02, -7.7307642000e-01]
    as_read = load_schienbein_water("train", order="dipole-first")[0]
    np.testing.assert_allclose(as_read.arrays["born_charges"][0], stored)
    # ... are ∂μ_β/∂x_α (row = displacement): the default reading transposes them
    np.testing.assert_allclose(atoms.arrays["born_charges"][0], np.reshape(stored, (3, 3)).T.ravel())
    with pytest.raises(ValueError, match="unknown order 'rows'"):
        load_schienbein_water("train", order="rows")
    # finite-difference APTs: ASR to ~1e-3 e per atom, not better
    assert max(asr(a) / len(a) for a in train + test) < 2e-3
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load_schienbein_water("validation")


def test_les_superionic_extxyz():
    frames = read_born_charges(LES)
    assert guess_format(LES) == "extxyz" and len(frames) == 3
    assert "BEC" not in frames[0].arrays and frames[0].arrays["born_charges"].shape == (162, 9)
    # S-2cc-T2000K-BEC.xyz line 3 (first H), the 9 BEC columns
    np.testing.assert_allclose(
        frames[0].arrays["born_charges"][0],
        [0.48624, 0.30439, -0.05827, 0.32047, 1.45481, -0.25112, -0.07887, -0.31608, 0.66243],
    )
    assert max(asr(a) for a in frames) < 0.05


def test_dimer_rotational_sum_rule_fixes_index_order():
    """Σ_i Z_i (ω × r_i) = ω × μ for a rigid rotation of an isolated molecule;
    with a permanent dipole this holds only for the field-first order."""
    frames = read_extxyz_born(DIMER, born_key="apt_b3lyp", dipole_key="dipole_b3lyp")
    for atoms in frames:
        born, dipole = get_born_charges(atoms), get_dipole(atoms)
        for order, bound in (((0, 1, 2), 1e-4), ((0, 2, 1), None)):
            z = born.transpose(order)
            residual = max(
                np.abs(np.einsum("iab,ib->a", z, np.cross(w, atoms.positions)) - np.cross(w, dipole)).max()
                for w in np.eye(3)
            )
            assert residual < bound if bound else residual > 0.03
    with pytest.raises(BornChargeFormatError, match="no Born charges under.*born_key="):
        read_extxyz_born(DIMER)


# --------------------------------------------------------------------------- round trip, dispatch, CLI
def test_extxyz_roundtrip(tmp_path):
    frames = read_extxyz_born(DIMER, born_key="apt_gfn2", dipole_key="dipole_gfn2")[:3]
    frames.append(read_vasp_outcar(OUTCAR_1))
    path = tmp_path / "out.extxyz"
    ase.io.write(path, frames)
    back = ase.io.read(path, index=":")
    for original, reread in zip(frames, back):
        np.testing.assert_array_equal(get_born_charges(reread), get_born_charges(original))
        if get_dipole(original) is not None:
            np.testing.assert_array_equal(get_dipole(reread), get_dipole(original))
    np.testing.assert_array_equal(back[-1].info["epsilon"], frames[-1].info["epsilon"])


@pytest.mark.parametrize(
    "path, expected",
    [(OUTCAR_1, "vasp-out"), (VASPRUN, "vasp-xml"), (BORN_NACL, "phonopy-born"), (QE_CO2, "qe-ph"), (DIMER, "extxyz")],
)
def test_guess_format(path, expected, tmp_path):
    assert guess_format(path) == expected
    renamed = tmp_path / "renamed"  # by content alone
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as source:
        renamed.write_bytes(source.read())
    assert guess_format(renamed) == expected


def test_unknown_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(BornChargeFormatError, match="cannot tell the format.*pass format="):
        read_born_charges(path)
    with pytest.raises(ValueError, match="unknown format 'cif'"):
        read_born_charges(OUTCAR_1, format="cif")


def test_cli_convert(tmp_path, capsys):
    out = tmp_path / "all.extxyz"
    schienbein = tmp_path / "test.xyz"
    with gzip.open(os.path.join(os.path.dirname(__file__), "..", "ase_dipole", "data", "schienbein_water_test.xyz.gz"), "rb") as src:
        schienbein.write_bytes(src.read())
    assert main(["convert", OUTCAR_1, QE_CO2, "-o", str(out)]) == 0
    back = ase.io.read(out, index=":")
    assert [len(a) for a in back] == [9, 3]
    np.testing.assert_array_equal(get_born_charges(back[1]), get_born_charges(read_qe_ph(QE_CO2)))
    assert main(["convert", BORN_SIO2, "--structure", POSCAR_SIO2, "-o", str(out)]) == 0
    np.testing.assert_allclose(get_born_charges(ase.io.read(out)), get_born_charges(read_phonopy_born(BORN_SIO2, POSCAR_SIO2)), atol=1e-8)
    assert main(["convert", str(schienbein), "--cell-A", "15.6627", "-o", str(out)]) == 0
    assert len(ase.io.read(out, index=":")) == 10
    with pytest.raises(SystemExit):
        main(["convert", BORN_SIO2, "-o", str(out)])
    assert "pass --structure" in capsys.readouterr().err


def test_command_line_reads_the_paper_sets_bec_key_as_born_charges(tmp_path):
    """`ase-dipole fit/predict` read Z* stored as `BEC` (the shipped paper-water file's
    comment key) as the package's own reader does, not as frames without Z*."""
    import argparse

    import ase_dipole
    from ase_dipole.cli.fit import read_frames
    from ase_dipole.io import load_paper_water

    source = os.path.join(os.path.dirname(ase_dipole.__file__), "data", "paper_water_rpbe_d3_bec.xyz.gz")
    with gzip.open(source, "rt") as handle:
        n_atoms = int(handle.readline())
        handle.seek(0)
        text = "".join(handle.readline() for _ in range(2 * (n_atoms + 2)))
    assert "BEC=" in text
    path = tmp_path / "two_frames.xyz"
    path.write_text(text)
    frames = read_frames(str(path), argparse.ArgumentParser())
    reference = load_paper_water()[:2]
    for atoms, expected in zip(frames, reference):
        assert "BEC" not in atoms.info and "BEC" not in atoms.arrays
        np.testing.assert_array_equal(get_born_charges(atoms), get_born_charges(expected))
