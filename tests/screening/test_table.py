"""predict_frame: the one prediction record as a DataFrame, equal to what `predict` writes."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from zincfluor.cli import app
from zincfluor.screening import Predictor, predict_frame

SMILES = ["CCN(CC)c1ccc2ccc(=O)oc2c1", "C1CC", "[Na+].[Cl-]", "c1ccc2ccccc2c1"]
IDS = ["coumarin", "broken", "salt", "naphthalene"]


@pytest.fixture(scope="module")
def model():
    from pathlib import Path

    from zincfluor.screening.card import default_model_dir

    path = default_model_dir(must_exist=False)
    if not any((Path(path) / name).is_file() for name in ("checkpoint.pt", "ensemble.json")):
        pytest.skip("no shipped model in this checkout")
    return path


def test_frame_equals_the_predict_command_output(model, tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"smiles": SMILES, "id": IDS}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["predict", str(source), "--model", str(model), "--out",
                                      str(out), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, keep_default_na=False, dtype=str)

    frame = predict_frame(SMILES, ids=IDS, model=model, device="cpu")
    assert list(frame.columns) == list(written.columns)
    assert frame["status"].tolist() == ["ok", "invalid", "out_of_scope", "ok"]
    assert frame["row"].tolist() == [1, 2, 3, 4]
    assert frame.loc[1, "reason"] == "unclosed ring" and pd.isna(frame.loc[1, "rare_score"])
    for column in ("rare_score", "p_red", "level"):
        expected = written[column].tolist()
        got = ["" if pd.isna(v) else (f"{v:.6f}" if isinstance(v, float) else str(v))
               for v in frame[column]]
        assert got == expected, column


def test_a_loaded_predictor_is_reused_and_ids_must_match(model):
    predictor = Predictor.load(model, device="cpu")
    frame = predict_frame(SMILES[:1], predictor=predictor, model=model)
    assert list(frame.columns[:2]) == ["smiles", "row"] and frame.loc[0, "status"] == "ok"
    with pytest.raises(ValueError, match="2 ids for 1 molecules"):
        predict_frame(SMILES[:1], ids=["a", "b"], predictor=predictor)
