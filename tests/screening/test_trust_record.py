"""The trust fields of the prediction record: present exactly when the model folder has trust
files, consistent with the stored calibration, the same for one molecule however it is written,
and the same through predict, screen and the service's stored-prediction path."""

import csv
import json

import numpy as np
import pytest
from rdkit import Chem
from trust_fixtures import plain_model, trust_data, trusted_model  # noqa: F401

from zincfluor.screening.predictor import Predictor
from zincfluor.screening.record import (
    TRUST_FIELDS,
    RecordLayout,
    format_record,
    prediction_rows,
    typed_row,
    zincfluor_fields,
)
from zincfluor.screening.screen import screen_library
from zincfluor.screening.writer import prediction_layout, write_predictions
from zincfluor.trust.conformal import LevelConformal
from zincfluor.trust.fingerprints import mol_for_fingerprint, morgan_fingerprints, tanimoto
from zincfluor.trust.store import TrustFiles

pytestmark = pytest.mark.slow  # the fixture model trains for 2 epochs once per session

SMILES = ["CCN(CC)c1ccc2ccc(=O)oc2c1", "c1ccc2cc3ccccc3cc2c1", "C1CC", "[Na+].[Cl-]",
          "O=C(O)c1ccccc1", "CCCCCCCCCCCCN", "Nc1ccc2cc3ccc(N)cc3nc2c1"]


class _Record:
    def __init__(self, row, smiles):
        self.row, self.smiles, self.values, self.problem = row, smiles, (smiles,), None


def _rows(predictor, smiles):
    layout = prediction_layout(predictor, ["smiles"])
    batch = predictor.predict(smiles)
    records = [_Record(k, s) for k, s in enumerate(smiles, start=1)]
    return layout, [typed_row(layout, r) for r in prediction_rows(layout, records, batch, [5, 6])]


def test_trust_fields_appear_exactly_when_the_folder_has_trust_files(plain_model,  # noqa: F811
                                                                     trusted_model):  # noqa: F811
    plain = Predictor.load(plain_model, device="cpu")
    names = plain.level_names
    today = zincfluor_fields(names)
    assert not plain.has_trust
    assert prediction_layout(plain, ["smiles"]).fields == today
    trusted = Predictor.load(trusted_model, device="cpu")
    assert trusted.has_trust
    fields = prediction_layout(trusted, ["smiles"]).fields
    assert fields == today + ["prediction_set", "nearest_similarity", "in_domain"]
    assert not Predictor.load(trusted_model, device="cpu", trust=False).has_trust
    # wavelength models get the 90 % interval too, right after the wavelength fields; an
    # ensemble's rare_score_std and inchikey stay last
    full = zincfluor_fields(names, wavelength=True, ensemble=True, inchikey=True, trust=True)
    at = full.index("emission_nm_high")
    assert full[at + 1: at + 6] == list(TRUST_FIELDS)
    assert full[-2:] == ["rare_score_std", "inchikey"]


def test_in_domain_and_similarity_match_the_stored_calibration(trusted_model):  # noqa: F811
    predictor = Predictor.load(trusted_model, device="cpu")
    domain = json.loads((trusted_model / "trust" / "domain.json").read_text())
    _, rows = _rows(predictor, SMILES)
    reference = predictor.trust.reference_set
    scored = [r for r in rows if r["status"] == "ok"]
    assert len(scored) >= 4
    for row in scored:
        query = morgan_fingerprints([mol_for_fingerprint(row["canonical_smiles"])])
        expected = float(tanimoto(query, reference.fingerprints).max())
        assert row["nearest_similarity"] == pytest.approx(expected, abs=5.01e-4)  # 3 decimals
        assert row["in_domain"] is (expected >= domain["threshold"])
    for row in rows:
        if row["status"] != "ok":
            assert row["prediction_set"] is None and row["in_domain"] is None
            assert row["nearest_similarity"] is None
    # a training molecule is its own nearest neighbour
    _, [own] = _rows(predictor, [reference.smiles[0]])
    assert own["nearest_similarity"] == 1.0 and own["in_domain"] is True


def test_prediction_set_always_holds_the_predicted_level(trusted_model):  # noqa: F811
    predictor = Predictor.load(trusted_model, device="cpu")
    _, rows = _rows(predictor, SMILES)
    for row in rows:
        if row["status"] == "ok":
            assert row["level"] in row["prediction_set"]
    # thresholds of 0 put no level in the conformal set: the predicted level is still there
    names = predictor.level_names
    strict = LevelConformal(names, [10] * len(names), {"0.1": [0.0] * len(names)})
    predictor.use_trust(TrustFiles(levels=strict))
    _, rows = _rows(predictor, SMILES)
    for row in rows:
        if row["status"] == "ok":
            assert row["prediction_set"] == [row["level"]]


def test_one_molecule_written_differently_gets_the_same_trust_fields(trusted_model):  # noqa: F811
    predictor = Predictor.load(trusted_model, device="cpu")
    forms = ["CCN(CC)c1ccc2ccc(=O)oc2c1", "O=c1ccc2ccc(N(CC)CC)cc2o1",
             "CC[NH+](CC)c1ccc2ccc(=O)oc2c1.[Cl-]",
             Chem.MolFromSmiles("O=c1ccc2ccc(N(CC)CC)cc2o1")]
    batch = predictor.predict(forms)
    fields = [batch.trust.values(i, predictor.level_names) for i in range(len(forms))]
    assert all(f is not None for f in fields) and len(set(fields)) == 1
    # the service's path, from stored probabilities and canonical SMILES, agrees
    again = predictor.trust_fields_of_smiles(batch.probs, None, batch.canonical)
    assert [again.values(i, predictor.level_names) for i in range(len(forms))] == fields


def test_text_json_and_parquet_forms_of_the_trust_fields(tmp_path):
    layout = RecordLayout(("blue", "red"), ("smiles",), trust=True, wavelength=True)
    from zincfluor.screening.record import TrustValues

    trust = TrustValues(("blue", "red"), (401.04, 612.96), 0.81234, False)
    text = format_record(layout, values=["CCO"], row=1, status="ok", canonical_smiles="CCO",
                         probs=[0.6, 0.4], rare_score=0.4, emission_nm=[450, 420, 480],
                         trust=trust)
    by_name = dict(zip(layout.columns, text, strict=True))
    assert by_name["prediction_set"] == "blue|red" and by_name["in_domain"] == "false"
    assert by_name["emission_nm_low_90"] == "401.0" and by_name["nearest_similarity"] == "0.812"
    typed = typed_row(layout, text)
    assert typed["prediction_set"] == ["blue", "red"] and typed["in_domain"] is False
    unscored = format_record(layout, values=["C1CC"], row=2, status="invalid", reason="x",
                             trust=trust)
    assert typed_row(layout, unscored)["prediction_set"] is None

    import pandas as pd

    from zincfluor.screening.record import open_record_writer

    with open_record_writer(tmp_path / "out.parquet", layout) as writer:
        writer.write([text, unscored])
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert list(frame["prediction_set"][0]) == ["blue", "red"]
    assert frame["in_domain"][0] is np.False_ or frame["in_domain"][0] is False
    assert frame["prediction_set"][1] is None


def test_screen_and_predict_write_the_same_trust_fields(trusted_model, tmp_path):  # noqa: F811
    predictor = Predictor.load(trusted_model, device="cpu")
    source = tmp_path / "lib.smi"
    source.write_text("".join(f"{s} m{k}\n" for k, s in enumerate(SMILES * 3)))
    counts = write_predictions(predictor, source, tmp_path / "p.csv", target_levels=[5, 6],
                               progress=False)
    summary = screen_library(predictor, source, tmp_path / "s.csv", target_levels=[5, 6],
                             jobs=2, chunk_size=5)
    predicted = {r["row"]: r for r in _read(tmp_path / "p.csv")}
    screened = _read(tmp_path / "s.csv")
    fields = ["prediction_set", "nearest_similarity", "in_domain"]
    for row in screened:
        assert [row[f] for f in fields] == [predicted[row["row"]][f] for f in fields]
    outside = sum(r["in_domain"] == "false" for r in screened)
    assert summary.out_of_domain == outside == counts["out_of_domain"]
    plain = Predictor.load(trusted_model, device="cpu", trust=False)
    assert screen_library(plain, source, tmp_path / "n.csv", target_levels=[5, 6],
                          jobs=1).out_of_domain is None
    assert "in_domain" not in _read(tmp_path / "n.csv")[0]


def _read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
