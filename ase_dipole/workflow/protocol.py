"""Protocol files: the whole method for one system in one TOML file.

A protocol names the structure and the force calculator, where the Born
charges come from (a labelled data file, or sampling → selection →
labelling), the fit, the MD, the spectrum, the harmonic route and the
comparison. :func:`load_protocol` reads and checks it: an unknown section
or key, a wrong type or a value outside its choices is one error naming it
and the allowed ones. Paths are relative to the protocol file. Every
section and key, with its default, is in :data:`SCHEMA`;
``ase_dipole/workflow/protocols/`` holds the shipped protocols
(:func:`shipped_protocol`).

Sections and what they drive (steps of :mod:`ase_dipole.workflow.steps`):

``[system]`` the structure (``structure``: a file ase.io.read understands,
or ``collection:s22/Water_dimer`` from :mod:`ase.collections`), the force
calculator (``'tblite'`` or ``'module:factory'``), an optional relaxation
and, for a molecule, the vacuum of its box (step ``structure``);
``[data]`` a labelled reference file (step ``data``), or ``[sample]``,
``[select]``, ``[label]`` together (steps ``sample``, ``select``, ``label``);
``[fit]`` the polarization model, or Born charges held fixed (step ``fit``);
``[md]`` (step ``md``), ``[spectrum]`` (step ``spectrum``), ``[harmonic]``
(step ``harmonic``), ``[compare]`` (step ``compare``); ``[cluster]`` where
labelling and MD run (not part of any step's key: the results do not depend
on it).
"""

import copy
import dataclasses
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PROTOCOL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocols")
REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of a protocol section.

    Attributes
    ----------
    kind : str
        ``'float'``, ``'int'``, ``'str'``, ``'bool'``, ``'floats'``, ``'ints'``,
        ``'strs'`` (lists), ``'table'`` (any TOML table) or ``'tables'`` (a list
        of tables).
    default : object
        Value when absent; :data:`REQUIRED` when the key must be given,
        ``None`` when absent means "not used".
    choices : tuple, optional
        Allowed values.
    path : bool
        A file path, resolved relative to the protocol file.
    positive : bool
        Numbers (or every number of a list) must be > 0.
    """

    kind: str
    default: object = None
    choices: tuple = ()
    path: bool = False
    positive: bool = False


#: section -> key -> :class:`Key`
SCHEMA = {
    "system": {
        "title": Key("str", ""),
        "structure": Key("str", REQUIRED, path=True),
        "calculator": Key("str", "tblite"),
        "relax_fmax_eV_A": Key("float", positive=True),
        "relax_max_steps": Key("int", 1000, positive=True),
        "vacuum_A": Key("float", positive=True),
        "supercell": Key("ints", [1, 1, 1]),
    },
    "data": {
        "file": Key("str", REQUIRED, path=True),
    },
    "sample": {
        "temperatures_K": Key("floats", REQUIRED, positive=True),
        "steps": Key("int", REQUIRED, positive=True),
        "interval": Key("int", 10, positive=True),
        "timestep_fs": Key("float", 1.0, positive=True),
        "friction_per_fs": Key("float", 0.01, positive=True),
        "hydrogen_mass_amu": Key("float", positive=True),
        "fixed_atoms": Key("ints", []),
        "restraints": Key("tables", []),
        "seed": Key("int", 0),
    },
    "select": {
        "n_train": Key("int", REQUIRED, positive=True),
        "n_test": Key("int", REQUIRED, positive=True),
        "method": Key("str", "fps", choices=("fps", "uncertainty", "uniform")),
        "model": Key("str", path=True),
    },
    "label": {
        "method": Key("str", "xtb", choices=("xtb", "pyscf", "qe")),
        "options": Key("table", {}),
    },
    "fit": {
        "targets": Key("str", "born", choices=("born", "dipole", "both")),
        "n_references": Key("int", positive=True),
        "cutoff_A": Key("float", 4.0, positive=True),
        "n_max": Key("int", 8, positive=True),
        "l_max": Key("int", 4),
        "regularization": Key("float", positive=True),
        "learning_curve_sizes": Key("ints", [], positive=True),
        "fixed_charges": Key("str", path=True),
        "fixed_charges_structure": Key("str", path=True),
    },
    "md": {
        "temperature_K": Key("float", REQUIRED, positive=True),
        "timestep_fs": Key("float", 0.5, positive=True),
        "n_trajectories": Key("int", 4, positive=True),
        "equilibration_steps": Key("int", 2000),
        "decorrelation_steps": Key("int", 1000),
        "production_steps": Key("int", 20000, positive=True),
        "interval": Key("int", 1, positive=True),
        "friction_per_fs": Key("float", 0.01, positive=True),
        "ensemble": Key("str", "nvt", choices=("nvt", "npt")),
        "pressure_bar": Key("float", 1.0, positive=True),
        "seed": Key("int", 0),
        "sampling_chains": Key("int", 1, positive=True),
    },
    "spectrum": {
        "fwhm_cm1": Key("float", 20.0, positive=True),
        "max_wavenumber_cm1": Key("float", 4000.0, positive=True),
    },
    "harmonic": {
        "displacement_A": Key("float", 0.01, positive=True),
        "supercell": Key("ints", [1, 1, 1]),
        "symmetry": Key("bool", True),
        "low_mode_cm1": Key("float", 50.0),
    },
    "compare": {
        "from_cm1": Key("float", 0.0),
        "max_shift_cm1": Key("float"),
        "bands": Key("table", {}),
        "band_tolerance_fraction": Key("float", 0.01),
    },
    "cluster": {
        "workers": Key("int", positive=True),
        "scheduler": Key("str"),
        "slurm_jobs": Key("int", positive=True),
        "slurm_options": Key("strs", []),
    },
}
#: sections a protocol must have
REQUIRED_SECTIONS = ("system", "fit")
#: sections that come together (the route from a structure to labelled frames)
SAMPLING_SECTIONS = ("sample", "select", "label")


class ProtocolError(ValueError):
    """A protocol file that cannot be run as written."""


@dataclasses.dataclass
class Protocol:
    """A checked protocol.

    Attributes
    ----------
    sections : dict
        Section -> key -> value, every key of :data:`SCHEMA` of the present
        sections filled in (defaults for absent keys), paths absolute.
    source : str
        The protocol file (or ``'<dict>'``).
    """

    sections: dict
    source: str = "<dict>"

    def __getitem__(self, section):
        return self.sections[section]

    def __contains__(self, section):
        return section in self.sections

    def get(self, section, default=None):
        return self.sections.get(section, default)


def _type_ok(kind, value):
    number = (int, float)
    if kind == "float":
        return isinstance(value, number) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("floats", "ints", "strs", "tables"):
        item = {"floats": "float", "ints": "int", "strs": "str"}.get(kind)
        if not isinstance(value, list):
            return False
        if kind == "tables":
            return all(isinstance(v, dict) for v in value)
        return all(_type_ok(item, v) for v in value)
    if kind == "table":
        return isinstance(value, dict)
    raise AssertionError(kind)


_KIND_WORDS = {"float": "a number", "int": "a whole number", "str": "a string",
               "bool": "true or false", "floats": "a list of numbers",
               "ints": "a list of whole numbers", "strs": "a list of strings",
               "table": "a table", "tables": "a list of tables"}


def check_protocol(data, *, base_dir=".", source="<dict>"):
    """Check a protocol given as a dict (as read from TOML) and fill in defaults.

    Parameters
    ----------
    data : dict
        Section -> key -> value.
    base_dir : str
        Folder relative paths refer to.
    source : str
        Name used in error messages.

    Returns
    -------
    Protocol

    Raises
    ------
    ProtocolError
        Naming the section or key and the allowed ones.
    """
    unknown = sorted(set(data) - set(SCHEMA))
    if unknown:
        raise ProtocolError(f"{source}: unknown section(s) {unknown}; allowed sections: "
                            f"{sorted(SCHEMA)}")
    missing = [name for name in REQUIRED_SECTIONS if name not in data]
    if missing:
        raise ProtocolError(f"{source}: missing section(s) {missing}; a protocol needs "
                            f"{list(REQUIRED_SECTIONS)}")
    sections = {}
    for name, given in data.items():
        if not isinstance(given, dict):
            raise ProtocolError(f"{source}: [{name}] must be a table of keys, got {given!r}")
        schema = SCHEMA[name]
        unknown = sorted(set(given) - set(schema))
        if unknown:
            raise ProtocolError(f"{source}: unknown key(s) {unknown} in [{name}]; allowed keys: "
                                f"{sorted(schema)}")
        section = {}
        for key, spec in schema.items():
            if key not in given:
                if spec.default is REQUIRED:
                    raise ProtocolError(f"{source}: [{name}] needs '{key}' "
                                        f"({_KIND_WORDS[spec.kind]})")
                section[key] = copy.deepcopy(spec.default)
                continue
            value = given[key]
            if not _type_ok(spec.kind, value):
                raise ProtocolError(f"{source}: [{name}] {key} = {value!r}: expected "
                                    f"{_KIND_WORDS[spec.kind]}")
            if spec.kind == "float":
                value = float(value)
            elif spec.kind == "floats":
                value = [float(v) for v in value]
            if spec.positive and not all(v > 0 for v in (value if isinstance(value, list)
                                                         else [value])):
                raise ProtocolError(f"{source}: [{name}] {key} = {value!r}: must be positive")
            if spec.choices and value not in spec.choices:
                raise ProtocolError(f"{source}: [{name}] {key} = {value!r}: use one of "
                                    f"{list(spec.choices)}")
            if spec.path and value is not None:
                value = _resolve_path(value, base_dir)
            section[key] = value
        sections[name] = section
    present = [name for name in SAMPLING_SECTIONS if name in sections]
    if present and len(present) != len(SAMPLING_SECTIONS):
        absent = [name for name in SAMPLING_SECTIONS if name not in sections]
        raise ProtocolError(f"{source}: {present} without {absent}: sampling, selection and "
                            "labelling come together")
    has_data = "data" in sections or bool(present)
    fixed = sections["fit"]["fixed_charges"] is not None
    if has_data == fixed:
        raise ProtocolError(
            f"{source}: give exactly one source of Born charges: [data] file, or [sample] + "
            "[select] + [label], or [fit] fixed_charges"
            + (" (found several)" if has_data else ""))
    if "data" in sections and present:
        raise ProtocolError(f"{source}: [data] and {present} exclude each other: use the "
                            "labelled file or sample and label new frames")
    for k, restraint in enumerate(sections.get("sample", {}).get("restraints", [])):
        _check_restraint(restraint, k, source)
    select = sections.get("select")
    if select is not None and select["method"] == "uncertainty" and select["model"] is None:
        raise ProtocolError(
            f"{source}: [select] method = 'uncertainty' ranks frames by the σ(Z*) of a fitted "
            "model: add model = \"MODEL.json\" (e.g. the model.json of an earlier round)")
    if select is not None and select["method"] != "uncertainty" and select["model"] is not None:
        raise ProtocolError(f"{source}: [select] model is used by method = 'uncertainty' only; "
                            f"drop it or set method = 'uncertainty'")
    for name in ("compare",):
        if name in sections:
            for need in ("spectrum", "harmonic"):
                if need not in sections:
                    raise ProtocolError(f"{source}: [{name}] compares the MD spectrum with the "
                                        f"harmonic one and needs [{need}]")
    if "spectrum" in sections and "md" not in sections:
        raise ProtocolError(f"{source}: [spectrum] is computed from the MD logs and needs [md]")
    for name, (low, high) in _bands(sections).items():
        if not low < high:
            raise ProtocolError(f"{source}: [compare] bands.{name} = [{low}, {high}]: give "
                                "[low, high] in cm^-1 with low < high")
    for name, section in sections.items():
        for key in ("supercell",):
            if key in section and (len(section[key]) != 3 or min(section[key]) < 1):
                raise ProtocolError(f"{source}: [{name}] supercell = {section[key]}: give three "
                                    "whole numbers >= 1")
    return Protocol(sections, source)


#: keys of one ``[sample] restraints`` table: a flat-bottom harmonic wall
#: (ASE ``Hookean``) between two atoms beyond ``distance_A``
RESTRAINT_KEYS = ("atoms", "distance_A", "spring_eV_A2")


def _check_restraint(restraint, k, source):
    where = f"{source}: [sample] restraints[{k}]"
    unknown = sorted(set(restraint) - set(RESTRAINT_KEYS))
    missing = [key for key in RESTRAINT_KEYS if key not in restraint]
    if unknown or missing:
        raise ProtocolError(f"{where}: " + (f"unknown key(s) {unknown}; " if unknown else "")
                            + (f"missing {missing}; " if missing else "")
                            + f"a restraint has exactly {list(RESTRAINT_KEYS)}")
    atoms = restraint["atoms"]
    if not (_type_ok("ints", atoms) and len(atoms) == 2 and atoms[0] != atoms[1]):
        raise ProtocolError(f"{where}: atoms = {atoms!r}: give two different atom indices")
    for key in ("distance_A", "spring_eV_A2"):
        if not (_type_ok("float", restraint[key]) and restraint[key] > 0):
            raise ProtocolError(f"{where}: {key} = {restraint[key]!r}: must be a positive number")


def _bands(sections):
    bands = sections.get("compare", {}).get("bands", {})
    result = {}
    for name, window in bands.items():
        if not (isinstance(window, list) and len(window) == 2
                and all(_type_ok("float", v) for v in window)):
            raise ProtocolError(f"[compare] bands.{name} = {window!r}: give [low, high] in cm^-1")
        result[name] = (float(window[0]), float(window[1]))
    return result


def _resolve_path(value, base_dir):
    if value.startswith("collection:"):
        return value
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def parse_override(text):
    """``'section.key=value'`` (value in TOML syntax, bare words as strings)
    -> ``(section, key, value)``."""
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ProtocolError(f"--set {text!r}: use SECTION.KEY=VALUE, e.g. md.temperature_K=300")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key.strip(), value


def apply_overrides(data, overrides):
    """A copy of the protocol dict ``data`` with ``{(section, key): value}`` set."""
    data = copy.deepcopy(data)
    for (section, key), value in overrides.items():
        data.setdefault(section, {})[key] = value
    return data


def read_protocol_file(path):
    """The raw dict of a TOML protocol file (no checks)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"protocol file {path!r} does not exist")
    with open(path, "rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ProtocolError(f"{path}: not valid TOML: {error}") from None


def load_protocol(path, *, overrides=None):
    """Read and check a protocol file.

    Parameters
    ----------
    path : str or path-like
        TOML file.
    overrides : dict, optional
        ``{(section, key): value}`` applied before the checks (``--set``).

    Returns
    -------
    Protocol
    """
    path = os.fspath(path)
    data = apply_overrides(read_protocol_file(path), overrides or {})
    return check_protocol(data, base_dir=os.path.dirname(os.path.abspath(path)), source=path)


def shipped_protocol(name):
    """Path of a protocol shipped in ``ase_dipole/workflow/protocols/``."""
    path = os.path.join(PROTOCOL_DIR, f"{name}.toml")
    if not os.path.isfile(path):
        available = sorted(f[:-5] for f in os.listdir(PROTOCOL_DIR) if f.endswith(".toml"))
        raise FileNotFoundError(f"no shipped protocol {name!r}; available: {available}")
    return path
