"""A periodic solid through the whole labelling route of a protocol: GFN2-xTB
sampling of zincblende AlAs, farthest point selection, Quantum ESPRESSO Born
charges (pw.x + ph.x at Γ) as one task per frame, and the fit of the
polarization model on Z* alone (no dipoles exist for a periodic cell).

Under CI (``CI=true``) missing QE programs are a failure (see test_qe.py);
elsewhere the test is skipped."""

import os

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.workflow.protocol import load_protocol
from ase_dipole.workflow.steps import run_protocol

from test_qe import PSEUDOPOTENTIALS, needs_qe

PROTOCOL = f"""
[system]
title = "AlAs, GFN2-xTB sampling, QE Born charges"
structure = "POSCAR"
calculator = "tblite"

[sample]
temperatures_K = [300.0]
steps = 60
interval = 20
timestep_fs = 2.0
seed = 3

[select]
n_train = 2
n_test = 1
method = "fps"

[label]
method = "qe"
options = {{ pseudopotentials = {{ Al = "{PSEUDOPOTENTIALS['Al']}", As = "{PSEUDOPOTENTIALS['As']}" }}, \
ecutwfc_Ry = 16.0, kpts = [4, 4, 4], kpoint_shift = [1, 1, 1] }}

[fit]
n_max = 4
l_max = 2
regularization = 1e-6
"""


@needs_qe
def test_solid_protocol_labels_with_qe_and_fits_born_charges_only(tmp_path):
    pytest.importorskip("tblite")
    bulk("AlAs", "zincblende", a=5.5563).write(tmp_path / "POSCAR", format="vasp", direct=True)
    path = tmp_path / "alas.toml"
    path.write_text(PROTOCOL)
    result = run_protocol(load_protocol(path), tmp_path / "out", threads=1, stream=None)
    assert [entry.step.name for entry in result.plan] == [
        "structure", "sample", "select", "label", "fit"]

    labelled = ase.io.read(os.path.join(result.outdir, "labelled.extxyz"), ":")
    assert len(labelled) == 3 and all(frame.pbc.all() for frame in labelled)
    for frame in labelled:  # cation / anion, and QE's own sum-rule level at these settings
        charges = get_born_charges(frame)
        assert np.trace(charges[0]) / 3 > 1.5 and np.trace(charges[1]) / 3 < -1.5
        assert np.abs(charges.sum(axis=0)).max() / len(frame) < 0.1

    fit = result.results["fit"]
    assert fit["n_train"] == 2 and fit["n_born_test"] == 1
    assert fit["dipole_rmspe"] is None  # periodic: Z* only, nothing to compare a dipole with
    assert fit["born_rmspe"] < 0.1, fit
    with open(result.summary_path) as handle:
        assert "no held-out dipoles: periodic frames" in handle.read()

    again = run_protocol(load_protocol(path), tmp_path / "out", threads=1, stream=None)
    assert set(again.reused) == {"structure", "sample", "select", "label", "fit"}
