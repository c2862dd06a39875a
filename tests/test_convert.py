"""``ase-dipole convert`` of every shipped real Born-charge file, read back
and compared with the API reader; damaged inputs (a cut-off OUTCAR, an edited
Z*) and a failed write give one clear message and leave files intact."""

import gzip
import os
import re

import numpy as np
import pytest

from ase_dipole.cli import main
from ase_dipole.io import read_born_charges
from ase_dipole.io.extxyz import get_born_charges

DATA = os.path.join(os.path.dirname(__file__), "data")
OUTCAR = os.path.join(DATA, "vasp_outcar", "OUTCAR.0006.001.gz")
OLD_HEADER = "BORN EFFECTIVE CHARGES (in e, cummulative output)"
NEW_HEADER = "BORN EFFECTIVE CHARGES (including local field effects) (in |e|, cumulative output)"
QUARTZ = ["Si"] * 3 + ["O"] * 6


def _outcar_text():
    with gzip.open(OUTCAR, "rt") as handle:
        return handle.read()


def new_header_outcar(directory):
    """The real quartz OUTCAR with the Born header of later VASP versions
    (py4vasp style, element after each ion number)."""
    text = _outcar_text().replace(OLD_HEADER, NEW_HEADER)
    text = re.sub(r"^ ion +(\d+)$", lambda m: f"{m.group(0)}   {QUARTZ[int(m.group(1)) - 1]}",
                  text, flags=re.M)
    path = os.path.join(directory, "OUTCAR")
    with open(path, "w") as handle:
        handle.write(text)
    return path


CASES = {
    "outcar-old-header": ([OUTCAR], {}),
    "outcar-old-header-2": ([os.path.join(DATA, "vasp_outcar", "OUTCAR.0006.002.gz")], {}),
    "outcar-new-header": (["NEW_HEADER_OUTCAR"], {}),
    "vasprun": ([os.path.join(DATA, "vasprun_SnO2", "vasprun.xml-born.gz")], {}),
    "born-old-reduced": ([os.path.join(DATA, "phonopy_born", "BORN_NaCl")],
                         {"structure": os.path.join(DATA, "phonopy_born", "POSCAR_NaCl")}),
    "born-old-full": ([os.path.join(DATA, "phonopy_born", "BORN_Phenol")],
                      {"structure": os.path.join(DATA, "phonopy_born", "POSCAR_Phenol")}),
    "born-new-reduced": ([os.path.join(DATA, "vasprun_SnO2", "BORN_example")],
                         {"structure": os.path.join(DATA, "vasprun_SnO2", "POSCAR-unitcell")}),
    "born-new-reduced-low-symmetry": (
        [os.path.join(DATA, "vasp_outcar", "BORN_aSiO2")],
        {"structure": os.path.join(DATA, "vasp_outcar", "POSCAR_aSiO2")}),
    "ph.x-co2": ([os.path.join(DATA, "qe_ph", "co2.ph.out.gz")], {}),
    "ph.x-alas": ([os.path.join(DATA, "qe_ph", "alas.ph.out.gz")], {}),
    "ph.x-alas-example05": ([os.path.join(DATA, "qe_ph", "alas.example05.ph.out.gz")], {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_convert_round_trip(case, tmp_path):
    inputs, options = CASES[case]
    inputs = [new_header_outcar(tmp_path) if path == "NEW_HEADER_OUTCAR" else path
              for path in inputs]
    output = tmp_path / "out.extxyz"
    flags = ["--structure", options["structure"]] if "structure" in options else []
    assert main(["convert", *inputs, *flags, "-o", str(output)]) == 0
    expected = [frame for path in inputs for frame in read_born_charges(path, **options)]
    back = read_born_charges(output)
    assert len(back) == len(expected)
    for reread, original in zip(back, expected):
        assert reread.get_chemical_symbols() == original.get_chemical_symbols()
        np.testing.assert_allclose(reread.positions, original.positions, atol=1e-8)
        np.testing.assert_allclose(reread.cell[:], original.cell[:], atol=1e-8)
        assert list(reread.pbc) == list(original.pbc)
        # the extxyz text keeps 8 decimals
        np.testing.assert_allclose(get_born_charges(reread), get_born_charges(original),
                                   rtol=0, atol=1e-8)
        if "epsilon" in original.info:
            np.testing.assert_allclose(np.reshape(reread.info["epsilon"], (3, 3)),
                                       original.info["epsilon"], atol=1e-8)


def test_cut_off_outcar_names_file_and_line(tmp_path, capsys):
    cut = tmp_path / "OUTCAR"
    cut.write_text("".join(_outcar_text().splitlines(keepends=True)[:5730]))
    output = tmp_path / "out.extxyz"
    output.write_text("previous\n")
    with pytest.raises(SystemExit):
        main(["convert", str(cut), "-o", str(output)])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(r"OUTCAR line 5730: the Born block that starts on line 5708 is incomplete "
                     r"\(the file ends inside ion 6\).*complete OUTCAR", message), message
    assert output.read_text() == "previous\n"


def test_edited_component_breaks_the_sum_rule(tmp_path):
    lines = _outcar_text().splitlines(keepends=True)
    assert lines[5710] == "    1     2.98436     0.00000     0.00000\n"  # ion 1, Z_xx
    lines[5710] = "    1    29.8         0.00000     0.00000\n"
    edited = tmp_path / "OUTCAR"
    edited.write_text("".join(lines))
    # the real file: Σ_i Z*_i = 0 within 0.004 e, no warning
    with pytest.warns(UserWarning) as record:
        read_born_charges(OUTCAR)
        read_born_charges(edited)
    assert len(record) == 1
    assert re.search(r"OUTCAR \(VASP OUTCAR\) frame 0: the Born charges break the acoustic sum "
                     r"rule: a component of Σ_i Z\*_i is off by 26.8 e \(2.98 e per atom",
                     str(record[0].message)), str(record[0].message)


def test_failed_write_keeps_the_previous_output(tmp_path, capsys, monkeypatch):
    output = tmp_path / "out.extxyz"
    assert main(["convert", OUTCAR, "-o", str(output)]) == 0
    before = output.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(SystemExit):
        main(["convert", OUTCAR, "-o", str(output)])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(r"--output: could not write .*out.extxyz: No space left on device; the "
                     r"previous file, if any, is unchanged", message), message
    assert output.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.extxyz"]


def test_sum_rule_is_checked_per_frame(tmp_path):
    from ase_dipole.io import read_extxyz_born
    from ase_dipole.io.extxyz import write_extxyz

    dimers = os.path.join(DATA, "water_dimer", "water_dimer_b3lyp_gfn2_apt.extxyz")
    frames = read_extxyz_born(dimers, born_key="apt_gfn2")
    born = get_born_charges(frames[3])
    born[0, 1, 1] += 1.5  # O of frame 3: Z_yy off by 1.5 e
    frames[3].arrays["born_charges"] = born.reshape(-1, 9)
    edited = tmp_path / "dimers.extxyz"
    write_extxyz(edited, frames)
    with pytest.warns(UserWarning) as record:
        read_born_charges(edited)
    assert len(record) == 1
    assert re.search(r"dimers.extxyz frame 3 \(extxyz 'born_charges'\): .* off by 1.5 e \(0.25 e "
                     r"per atom", str(record[0].message)), str(record[0].message)
