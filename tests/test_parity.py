"""Born-charge parity (paper Fig. 2): statistics per element, the figure, the CLI."""

import re

import ase.io
import numpy as np
import pytest

from ase_dipole.cli import main
from ase_dipole.io.extxyz import get_born_charges
from ase_dipole.learning.model import PolarizationModel
from ase_dipole.learning.parity import born_charge_parity, parity_statistics

SMALL = ["--cutoff", "4.5", "--n-max", "4", "--l-max", "2"]


def test_statistics_per_element_are_the_rms_of_known_errors():
    """Reference ±1 on the H diagonal and ±2 on the O one; errors of 0.1 e on
    every H component and 0.3 e on one O component in nine: RMSE and σ by
    hand."""
    reference = np.einsum("i,ab->iab", [1.0, -1.0, 2.0, -2.0], np.eye(3))
    predicted = reference.copy()
    predicted[:2] += 0.1
    predicted[2:, 0, 1] += 0.3
    table = parity_statistics(reference, predicted, ["H", "H", "O", "O"])
    assert list(table) == ["all", "H", "O"]
    assert table["H"]["rmse_e"] == pytest.approx(0.1)
    assert table["O"]["rmse_e"] == pytest.approx(0.3 / 3.0)  # sqrt(0.09 / 9)
    assert table["all"]["rmse_e"] == pytest.approx(np.sqrt((18 * 0.01 + 2 * 0.09) / 36))
    assert table["H"]["sigma_e"] == pytest.approx(np.sqrt(1 / 3))  # 6 of 18 values are ±1, mean 0
    assert table["O"]["rmspe_percent"] == pytest.approx(100 * 0.1 / np.sqrt(4 / 3))
    assert table["H"]["n_atoms"] == 2 and table["all"]["n_atoms"] == 4
    with pytest.raises(ValueError, match=r"3 symbols for 4 atoms"):
        parity_statistics(reference, predicted, ["H", "H", "O"])
    with pytest.raises(ValueError, match=r"must both have the shape \(n_atoms, 3, 3\)"):
        parity_statistics(reference[:, 0], predicted[:, 0], ["H", "H", "O", "O"])


def test_parity_of_a_model_on_its_frames_and_given_predictions(dimer, tmp_path):
    """Frames predicted by the model and the same predictions passed as
    arrays give the same statistics; the figure has one panel per set."""
    model = PolarizationModel(cutoff=4.5, n_max=4, l_max=2).fit(dimer["born_train"][::10],
                                                               targets="born", progress=False)
    frames = dimer["born_test"][:3]
    reference = np.concatenate([get_born_charges(frame) for frame in frames])
    predicted = np.concatenate([model.predict(frame)[1] for frame in frames])
    symbols = [symbol for frame in frames for symbol in frame.get_chemical_symbols()]
    path = tmp_path / "parity.png"
    statistics = born_charge_parity({"frames": frames, "arrays": (reference, predicted, symbols)},
                                    path, model=model)
    assert path.stat().st_size > 0
    assert statistics["frames"] == statistics["arrays"]
    expected = np.sqrt(np.mean((predicted - reference)[np.array(symbols) == "O"] ** 2))
    assert statistics["frames"]["O"]["rmse_e"] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"set 'frames' is given as frames: pass model="):
        born_charge_parity({"frames": frames}, path)
    with pytest.raises(ValueError, match=r"unknown extension '.jpg'"):
        born_charge_parity({"arrays": (reference, predicted, symbols)}, tmp_path / "p.jpg")


def test_predict_command_draws_the_parity_plot(dimer, tmp_path, capsys):
    train, test = tmp_path / "train.extxyz", tmp_path / "test.extxyz"
    ase.io.write(train, dimer["born_train"][::10], format="extxyz")
    ase.io.write(test, dimer["born_test"][:4], format="extxyz")
    model_path = tmp_path / "model.json"
    assert main(["fit", str(train), "-o", str(model_path), "--targets", "born", "--quiet", *SMALL]) == 0
    capsys.readouterr()
    figure = tmp_path / "parity.png"
    assert main(["predict", str(model_path), str(test), "--parity", str(figure),
                 "--training", str(train)]) == 0
    out = capsys.readouterr().out
    assert figure.stat().st_size > 0
    model = PolarizationModel.load(model_path)
    statistics = born_charge_parity({"t": dimer["born_test"][:4]}, tmp_path / "check.png", model=model)
    row = [line.split() for line in out.splitlines() if line.startswith("held out: test.extxyz")]
    assert [(r[-4], float(r[-2])) for r in row] == [
        (name, pytest.approx(value["rmse_e"], abs=1e-4)) for name, value in statistics["t"].items()]
    assert any(line.startswith("training: train.extxyz (10 frames)") for line in out.splitlines())
    for argv, message in (
            (["predict", str(model_path), str(test)], "give -o OUT .* and/or --parity FIGURE"),
            (["predict", str(model_path), str(test), "-o", str(tmp_path / "o.extxyz"), "--training",
              str(train)], "--training only adds a panel to --parity"),
            (["predict", str(model_path), str(test), "--parity", str(tmp_path / "p.gif")],
             "--parity: cannot write a figure .* unknown extension '.gif'")):
        with pytest.raises(SystemExit):
            main(argv)
        assert re.search(message, capsys.readouterr().err)
    bare = tmp_path / "bare.extxyz"
    frame = dimer["born_test"][0].copy()
    frame.arrays.pop("born_charges", None)
    ase.io.write(bare, [frame], format="extxyz")
    with pytest.raises(SystemExit):
        main(["predict", str(model_path), str(bare), "--parity", str(figure)])
    assert "frame 0 has no reference Born charges" in capsys.readouterr().err
