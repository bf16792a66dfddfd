import json

import numpy as np
import pytest

from zincfluor.data.labels import (
    EMISSION8,
    LabelScheme,
    categorical_scheme,
    resolve_scheme,
)


def test_emission8_matches_the_shared_readme_table():
    assert EMISSION8.name == "emission8"
    assert EMISSION8.names == (
        "ultraviolet",
        "violet",
        "blue",
        "green",
        "yellow-orange",
        "red",
        "far-red",
        "near-infrared",
    )
    assert EMISSION8.edges == (400, 450, 500, 565, 625, 700, 780)
    assert EMISSION8.num_classes == 8


@pytest.mark.parametrize(
    ("emission", "level"),
    [
        (250.0, 0),
        (399.99, 0),
        (400.0, 1),
        (449.9, 1),
        (450.0, 2),
        (564.9, 3),
        (565.0, 4),
        (700.0, 6),
        (779.9, 6),
        (780.0, 7),
        (1200.0, 7),
    ],
)
def test_emission8_levels_at_the_edges(emission, level):
    assert EMISSION8.assign(np.array([emission]))[0] == level


def test_assign_returns_int64_for_a_vector():
    levels = EMISSION8.assign(np.array([350.0, 480.0, 800.0]))
    assert levels.dtype == np.int64
    assert levels.tolist() == [0, 2, 7]


def test_assign_refuses_nan_and_categorical_schemes():
    with pytest.raises(ValueError, match="NaN"):
        EMISSION8.assign(np.array([400.0, np.nan]))
    with pytest.raises(ValueError, match="categorical"):
        categorical_scheme(["a", "b"]).assign(np.array([1.0]))


def test_describe_levels():
    assert EMISSION8.describe_levels() == [
        "< 400 nm",
        "400 - 450 nm",
        "450 - 500 nm",
        "500 - 565 nm",
        "565 - 625 nm",
        "625 - 700 nm",
        "700 - 780 nm",
        ">= 780 nm",
    ]
    assert LabelScheme("q", ("low", "high"), (0.5,), unit="").describe_levels() == [
        "< 0.5",
        ">= 0.5",
    ]
    assert categorical_scheme(["x", "y"]).describe_levels() == ["given", "given"]


@pytest.mark.parametrize("scheme", [EMISSION8, categorical_scheme(["low", "high"], name="qy")])
def test_to_dict_round_trips_through_json(scheme):
    data = json.loads(json.dumps(scheme.to_dict()))
    assert LabelScheme.from_dict(data) == scheme


def test_from_dict_defaults_and_missing_keys():
    scheme = LabelScheme.from_dict({"name": "two", "names": ["a", "b"], "edges": [1]})
    assert scheme.edges == (1.0,)
    assert scheme.unit == "nm"
    with pytest.raises(ValueError, match="names"):
        LabelScheme.from_dict({"name": "broken", "edges": [1]})


@pytest.mark.parametrize(
    ("names", "edges", "message"),
    [
        (("a", "b", "c"), (500.0, 400.0), "strictly increasing"),
        (("a", "b", "c"), (400.0, 400.0), "strictly increasing"),
        (("a", "b"), (400.0, 500.0), "3 levels, but 2 names"),
        (("a", "a"), (400.0,), "repeats"),
        ((), None, "no level names"),
        (("a", "b"), (float("nan"),), "non-finite"),
    ],
)
def test_invalid_schemes_are_refused(names, edges, message):
    with pytest.raises(ValueError, match=message):
        LabelScheme("bad", names, edges)


def test_resolve_registered_scheme():
    assert resolve_scheme() is EMISSION8
    assert resolve_scheme(" emission8 ") is EMISSION8


def test_resolve_inline_edges_with_default_names():
    scheme = resolve_scheme("400,500,600")
    assert scheme.edges == (400.0, 500.0, 600.0)
    assert scheme.names == ("level 0", "level 1", "level 2", "level 3")
    assert scheme.assign(np.array([399.0, 500.0, 650.0])).tolist() == [0, 2, 3]


def test_resolve_inline_edges_with_level_names():
    scheme = resolve_scheme("400, 500.5", level_names="blue-ish, green-ish, red-ish")
    assert scheme.names == ("blue-ish", "green-ish", "red-ish")
    assert scheme.edges == (400.0, 500.5)


def test_resolve_inline_edges_with_wrong_number_of_names():
    with pytest.raises(ValueError, match="2 edges make 3 levels, but 2 names"):
        resolve_scheme("400,500", level_names="a,b")


def test_resolve_inline_edges_not_increasing():
    with pytest.raises(ValueError, match="strictly increasing"):
        resolve_scheme("500,400")


def test_resolve_unknown_spec_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown label scheme 'emission9'.*emission8"):
        resolve_scheme("emission9")


def test_resolve_level_names_with_a_named_scheme_is_refused():
    with pytest.raises(ValueError, match="inline edges"):
        resolve_scheme("emission8", level_names="a,b")


def test_resolve_scheme_file(tmp_path):
    path = tmp_path / "three.json"
    path.write_text(json.dumps({"name": "three", "edges": [450, 600], "names": ["b", "g", "r"]}))
    scheme = resolve_scheme(str(path))
    assert scheme == LabelScheme("three", ("b", "g", "r"), (450.0, 600.0))


def test_resolve_scheme_file_without_a_name_uses_the_file_stem(tmp_path):
    path = tmp_path / "halves.json"
    path.write_text(json.dumps({"edges": [500], "names": ["short", "long"]}))
    assert resolve_scheme(str(path)).name == "halves"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"names": ["a", "b"]}), "must hold"),
        (json.dumps({"edges": None, "names": ["a"]}), "not null"),
        (json.dumps({"edges": [600, 500], "names": ["a", "b", "c"]}), "strictly increasing"),
        (json.dumps({"edges": [500], "names": ["a", "b", "c"]}), "1 edges make 2 levels"),
    ],
)
def test_invalid_scheme_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        resolve_scheme(str(path))


def test_missing_scheme_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        resolve_scheme(str(tmp_path / "absent.json"))
