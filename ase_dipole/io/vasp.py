"""Born effective charges from VASP: OUTCAR and vasprun.xml.

Index order (established, see the tests): in both files each 3×3 block is
printed with the electric-field direction as the ROW and the displacement
(force) direction as the column, i.e. ``Z[i, α, β] = ∂F_{iβ}/∂E_α =
∂μ_α/∂x_{iβ}`` — already our convention, so no transposition is applied.
Evidence:

* the OUTCAR of a LEPSILON run prints, after "Linear response to external
  field, progress: Direction: k", a table "POSITION DIRECTION k BORN
  EFFECTIVE CHARGE" whose three numbers per ion are the force response to a
  field along k; these are row k of the cumulative block
  (``tests/test_io.py::test_outcar_rows_are_field_direction``);
* the displacement-averaged OUTCAR Z* of α-quartz (non-symmetric tensors,
  Z_yz = −0.313 vs Z_zy = +0.270 on Si1) matches phonopy-spectroscopy's
  ``BORN`` row for row, and fails by 0.58 e when transposed;
* py4vasp (``BornEffectiveChargeHandler.__str__``) notes "like OUTCAR, each row
  is the field direction; vaspout.h5 stores it last", and phonopy's
  ``get_born_vasprunxml`` takes vasprun.xml without transposing while its
  vaspout.h5 reader transposes ``(0, 2, 1)``.
"""

import re
import xml.etree.ElementTree as ET

import ase.io
import numpy as np

from ase_dipole.io._common import BornChargeFormatError, check_file, finish_frame, open_text, read_text

#: header of the cumulative Born-charge block, old ("in e") and new
#: ("including local field effects ... in |e|") VASP wording, either spelling of
#: "cumulative"; the RPA block "(excluding local field effects)" is not matched.
_BORN_HEADER = re.compile(
    r"^[ \t]*BORN EFFECTIVE CHARGES "
    r"\((?:in e|including local field effects\) \(in \|e\|), cumm?ulative output\)[ \t]*$",
    re.M,
)
_ION_LINE = re.compile(r"^\s*ion\s+(\d+)(?:\s+[A-Za-z_]+)?\s*$")
_EPSILON = re.compile(
    r"MACROSCOPIC STATIC DIELECTRIC TENSOR \(including local field effects[^)\n]*\)[^\n]*\n"
    r"\s*-+\s*\n((?:[^\n]*\n){3})"
)


def _parse_outcar_born(text, source):
    headers = list(_BORN_HEADER.finditer(text))
    if not headers:
        raise BornChargeFormatError(
            f"{source}: no 'BORN EFFECTIVE CHARGES' block found; run VASP with "
            "LEPSILON = .TRUE. or LCALCEPS = .TRUE. (and let it finish)"
        )
    header = headers[-1]
    header_line = text.count("\n", 0, header.start()) + 1
    lines = text[header.end():].splitlines()[2:]
    first_line = header_line + 2  # file line number of lines[0]

    def incomplete(position, what):
        raise BornChargeFormatError(
            f"{source} line {first_line + position}: the Born block that starts on line "
            f"{header_line} is incomplete ({what}); the file was cut off: use the complete "
            "OUTCAR of a finished run"
        )

    tensors = []
    position = 0
    while position < len(lines):
        match = _ION_LINE.match(lines[position])
        if match is None:
            break
        if int(match.group(1)) != len(tensors) + 1:
            raise BornChargeFormatError(
                f"{source} line {first_line + position}: ions out of order in the Born block"
            )
        if position + 3 >= len(lines):
            incomplete(len(lines) - 1, f"the file ends inside ion {match.group(1)}")
        rows = [lines[position + k].split() for k in (1, 2, 3)]
        for k, row in enumerate(rows, start=1):
            if len(row) != 4 or row[0] != str(k):
                if position + k == len(lines) - 1 and not text.endswith("\n"):
                    incomplete(position + k, f"the last row of ion {match.group(1)} is cut short")
                raise BornChargeFormatError(
                    f"{source} line {first_line + position + k}: malformed Born block row of "
                    f"ion {match.group(1)} (expected 'k Zk1 Zk2 Zk3')"
                )
        tensors.append([[float(value) for value in row[1:]] for row in rows])
        position += 4
    if not tensors:
        raise BornChargeFormatError(
            f"{source} line {header_line}: the Born block holds no 'ion' entries"
        )
    if position >= len(lines):
        incomplete(position - 1, f"the file ends after ion {len(tensors)}")
    return np.array(tensors)


def _parse_outcar_epsilon(text):
    blocks = _EPSILON.findall(text)
    if not blocks:
        return None
    return np.array([[float(value) for value in row.split()[:3]] for row in blocks[-1].splitlines()])


def read_vasp_outcar(path, *, structure=None):
    """Born charges and ε∞ from a VASP OUTCAR (LEPSILON / LCALCEPS).

    Parameters
    ----------
    path : str or path-like
        OUTCAR, optionally gzipped. Both header styles are read:
        "BORN EFFECTIVE CHARGES (in e, cummulative output)" (VASP ≤ 5.4.1) and
        "BORN EFFECTIVE CHARGES (including local field effects) (in \\|e\\|,
        cumulative output)" (later versions; "cummulative" spelling too).
        The last such block in the file is used.
    structure : ase.Atoms, optional
        Structure to attach the charges to; by default the last geometry of the
        OUTCAR via ``ase.io.read(path, format='vasp-out', index=-1)``.

    Returns
    -------
    ase.Atoms
        ``arrays['born_charges']`` (N, 9) e, row-major
        ``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` (OUTCAR rows are the field direction α:
        see the module docstring); ``info['epsilon']`` (3, 3) the
        ion-clamped dielectric tensor with local-field effects, if printed;
        ``info['source']``.
    """
    path = check_file(path)
    text = read_text(path)
    born = _parse_outcar_born(text, path)
    atoms = structure.copy() if structure is not None else ase.io.read(path, format="vasp-out", index=-1)
    return finish_frame(atoms, born, source=f"{path} (VASP OUTCAR)", epsilon=_parse_outcar_epsilon(text))


def _rows(element):
    return np.array([[float(value) for value in v.text.split()] for v in element.findall("v")])


def read_vasprun_born(path, *, structure=None):
    """Born charges and ε∞ from a VASP vasprun.xml (LEPSILON / LCALCEPS).

    Parameters
    ----------
    path : str or path-like
        vasprun.xml, optionally gzipped; reads the last
        ``<array name="born_charges">`` (one ``<set>`` of three ``<v>`` rows per
        ion, rows = field direction as in the OUTCAR) and the last
        ``<varray name="epsilon">`` (or ``"dielectric_dft"``).
    structure : ase.Atoms, optional
        Structure to attach the charges to; by default the last geometry via
        ``ase.io.read(path, format='vasp-xml', index=-1)``.

    Returns
    -------
    ase.Atoms
        ``arrays['born_charges']`` (N, 9) e in our convention,
        ``info['epsilon']`` (3, 3), ``info['source']``.
    """
    path = check_file(path)
    born = None
    epsilon = None
    with open_text(path) as handle:
        try:
            for _, element in ET.iterparse(handle, events=("end",)):
                name = element.get("name")
                if element.tag == "array" and name == "born_charges":
                    born = np.array([_rows(s) for s in element.findall("set")])
                elif element.tag == "varray" and name in ("epsilon", "dielectric_dft"):
                    epsilon = _rows(element)
        except ET.ParseError as error:
            if born is None:
                raise BornChargeFormatError(f"{path}: not a readable vasprun.xml ({error})") from error
    if born is None:
        raise BornChargeFormatError(
            f"{path}: no <array name=\"born_charges\"> found; run VASP with "
            "LEPSILON = .TRUE. or LCALCEPS = .TRUE."
        )
    atoms = structure.copy() if structure is not None else ase.io.read(path, format="vasp-xml", index=-1)
    return finish_frame(atoms, born, source=f"{path} (VASP vasprun.xml)", epsilon=epsilon)
