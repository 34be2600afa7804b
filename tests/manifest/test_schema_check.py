"""The schema's plain predicates: they accept only what jsonschema accepts, accept the
manifests people write, and leave the problems reported exactly as before.

Pure tests: no database and no Django settings.
"""

from __future__ import annotations

import copy
import json
import re
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from market.errors import ManifestError
from market.manifest import load_schema, normalise_manifest
from market.manifest import normalise as normalise_module
from market.manifest.schema import schema_precheck
from market.manifest.schema_check import compile_schema
from tests.test_manifest import (
    arbitrary_objects,
    full_raw,
    json_values,
    paths_in,
    valid_manifests,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_MANIFESTS = sorted(
    [
        *(ROOT / "fixtures").rglob("manifest.json"),
        *(ROOT / "fixtures").rglob("extension.json"),
    ]
)
VALIDATOR = Draft202012Validator(load_schema())


def has_float(value: Any) -> bool:
    """Floats are the one JSON value the predicates refuse where the schema may not
    (an integer-valued float is an ``integer`` to jsonschema)."""
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_float(v) for v in value)
    return isinstance(value, float)


def damaged(raw: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """``raw`` with a few values anywhere replaced by arbitrary JSON."""
    raw = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(min_value=0, max_value=3))):
        if not raw:
            break
        target_path = data.draw(st.sampled_from(paths_in(raw)[1:]))
        parent = raw
        for key in target_path[:-1]:
            parent = parent[key]
        parent[target_path[-1]] = data.draw(json_values)
    return raw


def outcome(raw: dict[str, Any]) -> Any:
    try:
        manifest = normalise_manifest(raw)
    except ManifestError as exc:
        return exc.as_dict()
    return manifest.data, manifest.warnings, manifest.warning_count


def test_the_manifest_schema_compiles():
    assert schema_precheck() is not None


@pytest.mark.parametrize(
    "path", FIXTURE_MANIFESTS, ids=lambda p: str(p.relative_to(ROOT / "fixtures"))
)
def test_the_sample_manifests_need_no_validator(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert VALIDATOR.is_valid(raw)
    check = schema_precheck()
    assert check is not None and check(raw)


def test_raw_and_normalised_full_manifests_need_no_validator():
    check = schema_precheck()
    assert check is not None
    raw = full_raw()
    assert check(raw)
    assert check(normalise_manifest(raw).data)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_manifests | st.builds(full_raw) | arbitrary_objects, st.data())
def test_the_predicates_agree_with_jsonschema(raw: dict, data: st.DataObject):
    raw = damaged(raw, data)
    check = schema_precheck()
    assert check is not None
    accepted = check(raw)
    if accepted:
        assert VALIDATOR.is_valid(raw)
    elif not has_float(raw):
        assert not VALIDATOR.is_valid(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_manifests | st.builds(full_raw) | arbitrary_objects, st.data())
def test_normalise_reports_the_same_with_or_without_the_predicates(
    raw: dict, data: st.DataObject
):
    raw = damaged(raw, data)
    fast = outcome(copy.deepcopy(raw))
    with mock.patch.object(normalise_module, "schema_precheck", lambda: None):
        slow = outcome(copy.deepcopy(raw))
    assert fast == slow


def test_a_valid_manifest_does_not_load_the_validator():
    with mock.patch.object(
        normalise_module, "schema_validator", side_effect=AssertionError
    ):
        normalise_manifest(full_raw())
    with pytest.raises(ManifestError) as info:
        normalise_manifest({**full_raw(), "routes": "nope"})
    assert [(p.path, p.code) for p in info.value.problems] == [
        ("routes", "invalid_type")
    ]


# --- the compiler, keyword by keyword, against jsonschema ---------------------------

SCHEMAS_AND_INSTANCES: list[tuple[dict[str, Any], list[Any]]] = [
    (
        {"type": "integer", "minimum": 0},
        [0, 5, -1, 1.0, 1.5, True, None, "1", Decimal(1), [], {}],
    ),
    ({"type": ["string", "array"], "items": {"type": "string"}}, ["a", [], ["a", 1]]),
    ({"type": "number", "maximum": 2}, [1, 2.5, 2, False, float("nan")]),
    ({"type": "boolean"}, [True, False, 0, 1, None]),
    ({"type": "null"}, [None, 0, "", False]),
    ({"type": "object"}, [{}, [], OrderedDict(), "x"]),
    ({"type": "array"}, [[], (), {}, "x"]),
    ({"enum": ["a", "b"]}, ["a", "c", 1, None, ["a"]]),
    ({"const": "a"}, ["a", "b", 1]),
    ({"pattern": r"^\d+$"}, ["12", "1a", "١٢", 12, None, [], "12\n"]),
    ({"pattern": r"\S"}, ["", " ", " x ", 3]),
    ({"minLength": 2, "maxLength": 3}, ["a", "ab", "abcd", "😀😀", 1, ["a"]]),
    ({"minItems": 1, "maxItems": 2}, [[], [1], [1, 2, 3], "", {}]),
    (
        {"minProperties": 1, "maxProperties": 2},
        [{}, {"a": 1}, {"a": 1, "b": 2, "c": 3}],
    ),
    ({"required": ["a"]}, [{}, {"a": None}, {1: 2}, [], "a"]),
    (
        {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
        [{}, {"a": "x"}, {"a": 1}, {"b": 1}, {1: "x"}, [1]],
    ),
    (
        {"properties": {"a": True}, "additionalProperties": {"type": "integer"}},
        [{"a": "x", "b": 1}, {"b": "x"}, {"b": True}],
    ),
    (
        {
            "if": {"type": "object"},
            "then": {"required": ["k"]},
            "else": {"enum": ["s"]},
        },
        [{"k": 1}, {}, "s", "t", 1, None],
    ),
    ({"if": {"type": "integer"}, "then": {"minimum": 2}}, [1, 3, 1.0, "x"]),
    ({"if": {"type": "integer"}, "else": {"type": "string"}}, [1, 1.0, "x", None]),
    ({"then": {"type": "string"}, "else": {"type": "string"}}, [1, "x"]),
    (
        {
            "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "$ref": "#/$defs/node",
        },
        [[], [[], [[]]], [[1]], "x"],
    ),
    (
        {"type": "object", "properties": {"child": {"$ref": "#"}}},
        [{}, {"child": {"child": {}}}, {"child": {"child": 1}}],
    ),
    (
        {
            "$defs": {"a/b": {"type": "string"}, "c~d": {"minLength": 1}},
            "items": {"$ref": "#/$defs/a~1b"},
            "properties": {"k": {"$ref": "#/$defs/c~0d"}},
        },
        [["x"], [1], [], {"k": ""}, {"k": "x"}],
    ),
    (True, [1, None, {}]),
    (False, [1, None, {}]),
    ({"items": False}, [[], [1]]),
]


def _cases() -> list[tuple[Any, Any]]:
    return [(schema, x) for schema, xs in SCHEMAS_AND_INSTANCES for x in xs]


@pytest.mark.parametrize(("schema", "instance"), _cases(), ids=repr)
def test_a_predicate_accepts_only_what_jsonschema_accepts(schema: Any, instance: Any):
    check = compile_schema(schema)
    assert check is not None
    valid = Draft202012Validator(schema).is_valid(instance)
    if check(instance):
        assert valid
    elif _json_exact(instance) and not isinstance(instance, float):
        assert not valid


def _json_exact(value: Any) -> bool:
    if type(value) is dict:
        return all(type(k) is str and _json_exact(v) for k, v in value.items())
    if type(value) is list:
        return all(_json_exact(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


def test_values_that_are_not_plain_json_are_left_to_the_validator():
    class Text(str):
        pass

    check = compile_schema(
        {"properties": {"a": {"type": "string"}, "n": {"minimum": 0}}}
    )
    assert check is not None
    assert check({"a": "x", "n": 1})
    assert not check({"a": Text("x")})
    assert not check({"n": Decimal(1)})
    assert not check(OrderedDict(a="x"))
    assert not check({Text("a"): "x"})
    # Where no keyword looks, anything goes, as for the validator.
    assert check({"b": Decimal(-1)})


def test_a_broken_pattern_fails_as_in_the_validator():
    check = compile_schema({"pattern": "("})
    assert check is not None
    with pytest.raises(re.error):
        check("x")
    with pytest.raises(re.error):
        Draft202012Validator({"pattern": "("}).is_valid("x")


@pytest.mark.parametrize(
    "schema",
    [
        {"uniqueItems": True},
        {"format": "email"},
        {"patternProperties": {"^x": {}}, "additionalProperties": False},
        {"prefixItems": [{}], "items": False},
        {"$ref": "https://example.org/other.json"},
        {"$ref": "#/$defs/missing"},
        {"$ref": "#anchor"},
        {"properties": {"a": {"$id": "nested", "type": "string"}}},
        {"$dynamicRef": "#node"},
        {"anyOf": [{"type": "string"}]},
        {"enum": ["a", 1]},
        {"type": "str"},
        {"minLength": -1},
        {"properties": {"a": "not a schema"}},
        {"future_keyword": 1},
    ],
    ids=repr,
)
def test_a_schema_with_anything_else_compiles_to_none(schema: dict[str, Any]):
    assert compile_schema(schema) is None
