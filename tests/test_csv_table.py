"""The headed CSV of the spectra: round trip of the header and table, and the
errors of a foreign, damaged or incomplete file."""

import numpy as np
import pytest

from ase_dipole.spectra import green_kubo
from ase_dipole.spectra.csv_table import read_headed_csv
from ase_dipole.spectra.dielectric import read_dielectric_csv
from ase_dipole.spectra.green_kubo import read_spectrum_csv

MAGIC = "# a test table"


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_header_values_and_table_round_trip(tmp_path):
    table = np.arange(6.0).reshape(3, 2) / 7.0
    path = write(tmp_path / "t.csv", [MAGIC, "# unit: cm^-1", '# metadata: {"a": "x: y"}', "# a note",
                                      "a,b"] + [f"{x:.17g},{y:.17g}" for x, y in table])
    header, read = read_headed_csv(path, magic=MAGIC, columns="a,b", required=("unit", "metadata"),
                                   kind="test")
    assert header == {"unit": "cm^-1", "metadata": '{"a": "x: y"}'}
    np.testing.assert_array_equal(read, table)


def test_foreign_damaged_and_incomplete_files_are_refused(tmp_path):
    options = dict(magic=MAGIC, columns="a,b", required=("unit", "metadata"), kind="test")
    with pytest.raises(ValueError, match=r"foreign.csv' is not an ase-dipole test CSV.*first line"):
        read_headed_csv(write(tmp_path / "foreign.csv", ["a,b", "1,2"]), **options)
    with pytest.raises(ValueError, match=r"expected the column line 'a,b', found 'a,c'; .*damaged"):
        read_headed_csv(write(tmp_path / "d.csv", [MAGIC, "# unit: x", "# metadata: {}", "a,c"]),
                        **options)
    with pytest.raises(ValueError, match=r"lacks the '# metadata:' line"):
        read_headed_csv(write(tmp_path / "m.csv", [MAGIC, "# unit: x", "a,b", "1,2"]), **options)


def test_spectrum_and_dielectric_readers_name_their_kind(tmp_path):
    path = write(tmp_path / "x.csv", ["wavenumber,value", "1,2"])
    with pytest.raises(ValueError, match="not an ase-dipole spectrum CSV.*read_experiment"):
        read_spectrum_csv(path)
    with pytest.raises(ValueError, match="not an ase-dipole dielectric-function CSV"):
        read_dielectric_csv(path)
    incomplete = write(tmp_path / "s.csv", [green_kubo.CSV_MAGIC, "# unit: cm^-1",
                                            green_kubo.CSV_COLUMNS, "1,2,3"])
    with pytest.raises(ValueError, match=r"lacks the '# metadata:' line"):
        read_spectrum_csv(incomplete)
