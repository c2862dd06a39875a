"""Quantum ESPRESSO labeller (pw.x + ph.x at Γ) on zincblende AlAs (2 atoms,
LDA, 16 Ry): Z* equal to a direct ph.x run of QE's own input to the printed
precision, the acoustic sum rule violation shrinking with the k-point grid
(it is a sampling error), and clear errors for a missing program, missing
pseudopotentials and non-periodic input.

Under CI (``CI=true``) a missing ``pw.x`` is a failure; elsewhere the QE runs
are skipped.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest
from ase import Atoms

from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.io.qe import read_qe_ph
from ase_dipole.reference.qe import DEBIAN_PSEUDO_DIR, default_pseudo_dir, qe_born_charges
from ase_dipole.units import BOHR

ALAT_BOHR = 10.50
PSEUDOPOTENTIALS = {"Al": "Al.pz-vbc.UPF", "As": "As.pz-bhs.UPF"}
HAVE_QE = shutil.which("pw.x") is not None and shutil.which("ph.x") is not None
HAVE_PSEUDO = all(os.path.isfile(os.path.join(default_pseudo_dir(), f))
                  for f in PSEUDOPOTENTIALS.values())

if os.environ.get("CI") == "true":
    assert HAVE_QE and HAVE_PSEUDO, (
        "CI must run the QE tests: pw.x/ph.x or the AlAs pseudopotentials are missing; "
        ".ci/run installs quantum-espresso and quantum-espresso-data")
needs_qe = pytest.mark.skipif(not (HAVE_QE and HAVE_PSEUDO),
                              reason="Quantum ESPRESSO (pw.x, ph.x, quantum-espresso-data) not installed")

DIRECT_SCF = f"""&control
  calculation='scf', prefix='alas', pseudo_dir='{default_pseudo_dir()}', outdir='./tmp'
/
&system
  ibrav=2, celldm(1)={ALAT_BOHR}, nat=2, ntyp=2, ecutwfc=16.0
/
&electrons
  conv_thr=1.0d-10
/
ATOMIC_SPECIES
 Al 26.98 Al.pz-vbc.UPF
 As 74.92 As.pz-bhs.UPF
ATOMIC_POSITIONS (alat)
 Al 0.00 0.00 0.00
 As 0.25 0.25 0.25
K_POINTS automatic
 4 4 4 1 1 1
"""
DIRECT_PH = """Z* of AlAs at Gamma
&inputph
  tr2_ph=1.0d-14, prefix='alas', outdir='./tmp', epsil=.true., zeu=.true., trans=.false.
/
0.0 0.0 0.0
"""


def alas():
    """QE's ibrav=2 cell, a = 10.50 bohr, in Å."""
    alat_A = ALAT_BOHR * BOHR
    cell = alat_A / 2 * np.array([[-1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [-1.0, 1.0, 0.0]])
    return Atoms("AlAs", positions=[[0, 0, 0], [0.25 * alat_A] * 3], cell=cell, pbc=True)


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    """ph.x output of QE's own AlAs input (ibrav=2), run here."""
    folder = tmp_path_factory.mktemp("alas_direct")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name, text, program in (("scf", DIRECT_SCF, "pw.x"), ("ph", DIRECT_PH, "ph.x")):
        (folder / f"{name}.in").write_text(text)
        with open(folder / f"{name}.in") as stdin, open(folder / f"{name}.out", "w") as stdout:
            subprocess.run([program], stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT,
                           cwd=folder, env=env, check=True)
    return read_qe_ph(folder / "ph.out")


@needs_qe
def test_alas_born_charges_equal_a_direct_ph_run(direct_run, tmp_path):
    # the direct input's settings, tr2_ph included (1e-14; the labeller's default is QE's 1e-12)
    born, epsilon, details = qe_born_charges(alas(), pseudopotentials=PSEUDOPOTENTIALS,
                                             ecutwfc_Ry=16.0, kpts=(4, 4, 4), tr2_ph=1e-14,
                                             kpoint_shift=(1, 1, 1), keep_outputs=tmp_path)
    direct = get_born_charges(direct_run)
    # ph.x prints Z* with 5 decimals: equal to within the rounding of both prints
    assert np.abs(born - direct).max() <= 1.5e-5
    assert np.abs(epsilon - direct_run.info["epsilon"]).max() < 1e-6
    assert born[0, 0, 0] > 2.0 and born[1, 0, 0] < -2.0  # Al cation, As anion
    assert np.abs(born - born[:, :1, :1] * np.eye(3)).max() < 1e-5  # cubic: isotropic
    assert {p.name for p in tmp_path.iterdir()} == {"pw.in", "pw.out", "ph.in", "ph.out"}
    # the raw charges break the acoustic sum rule by QE's own error, reported as such ...
    raw_sum = born.sum(axis=0)
    assert details["acoustic_sum_rule_violation_e"] == pytest.approx(np.abs(raw_sum).max())
    assert 1e-3 < details["acoustic_sum_rule_violation_e"] < 0.1
    # ... and asr='simple' (dynmat.x's rule: subtract the mean) removes it exactly
    fixed, _, _ = qe_born_charges(alas(), pseudopotentials=PSEUDOPOTENTIALS, ecutwfc_Ry=16.0,
                                  kpts=(4, 4, 4), kpoint_shift=(1, 1, 1), tr2_ph=1e-14,
                                  acoustic_sum_rule="simple")
    assert np.abs(fixed.sum(axis=0)).max() < 1e-12
    np.testing.assert_allclose(fixed, born - born.mean(axis=0), atol=1e-12)


@needs_qe
def test_sum_rule_violation_shrinks_with_k_points():
    violations = []
    for k in (2, 4):
        _, _, details = qe_born_charges(alas(), pseudopotentials=PSEUDOPOTENTIALS,
                                        ecutwfc_Ry=16.0, kpts=(k, k, k), kpoint_shift=(1, 1, 1))
        violations.append(details["acoustic_sum_rule_violation_e"])
    assert violations[0] > 2 * violations[1]


def test_qe_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="program 'no-such-pw.x' not found on PATH; "
                                                "install Quantum ESPRESSO"):
        qe_born_charges(alas(), pseudopotentials=PSEUDOPOTENTIALS, pw_command="no-such-pw.x")
    molecule = Atoms("AlAs", positions=[[0, 0, 0], [2.4, 0, 0]])
    with pytest.raises(ValueError, match=r"atoms.pbc = \[False, False, False\].*periodic cells"):
        qe_born_charges(molecule, pseudopotentials=PSEUDOPOTENTIALS)
    with pytest.raises(ValueError, match="acoustic_sum_rule = 'crystal'; use None or 'simple'"):
        qe_born_charges(alas(), acoustic_sum_rule="crystal")
    monkeypatch.setenv("ESPRESSO_PSEUDO", str(tmp_path))
    assert default_pseudo_dir() == str(tmp_path)
    monkeypatch.delenv("ESPRESSO_PSEUDO")
    assert default_pseudo_dir() == DEBIAN_PSEUDO_DIR
    if HAVE_QE:
        (tmp_path / "Al.pz-vbc.UPF").write_text("")
        with pytest.raises(ValueError, match=r"no pseudopotential given for \['Al', 'As'\].*"
                                             r"candidates there: \{'Al': \['Al.pz-vbc.UPF'\], 'As': \[\]\}"):
            qe_born_charges(alas(), pseudo_dir=tmp_path)
        with pytest.raises(FileNotFoundError, match="As.pz-bhs.UPF' for As not found"):
            qe_born_charges(alas(), pseudo_dir=tmp_path, pseudopotentials=PSEUDOPOTENTIALS)
        with pytest.raises(ValueError, match="kpts = \\(4, 4\\), kpoint_shift"):
            qe_born_charges(alas(), pseudopotentials=PSEUDOPOTENTIALS, kpts=(4, 4))
