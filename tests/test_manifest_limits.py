"""Bounds on manifests: every limit refused with ``limit_exceeded``, problem and
warning lists capped with their counts, and bounded work for any input.

Pure tests: no database and no Django settings.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.errors import (
    MAX_LISTED,
    MAX_MESSAGE_CHARS,
    MAX_PATH_CHARS,
    MAX_TEXT_CHARS,
    ManifestError,
    ManifestLimitError,
    Problem,
)
from market.manifest import (
    LIMITS,
    MAX_PROBLEMS,
    MAX_WARNINGS,
    Manifest,
    normalise_manifest,
    parse_manifest_bytes,
)
from market.manifest.limits import MAX_SCHEMA_ERRORS

# Fixed bounds on what one refusal may produce, whatever the manifest holds.
MAX_ERROR_BYTES = 64 * 1024


def minimal(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "sample.toolkit",
        "name": "Sample Toolkit",
        "version": "1.2.3",
        "summary": "Tools for samples.",
    }
    raw.update(changes)
    return raw


def encoded(raw: Any) -> bytes:
    return json.dumps(raw, separators=(",", ":")).encode()


def refusal(raw: Any) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        normalise_manifest(parse_manifest_bytes(encoded(raw)))
    return info.value


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


# --- each limit -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name", "path"),
    [
        (minimal(deep=nested(LIMITS.max_depth + 1)), "max_depth", "deep" + "[0]" * 32),
        (
            minimal(wide=list(range(LIMITS.max_array_items + 1))),
            "max_array_items",
            "wide",
        ),
        (
            minimal(obj={f"k{i}": 0 for i in range(LIMITS.max_object_keys + 1)}),
            "max_object_keys",
            "obj",
        ),
        (minimal(obj={"k" * (LIMITS.max_key_chars + 1): 1}), "max_key_chars", "obj"),
        (
            minimal(description="d" * (LIMITS.max_string_chars + 1)),
            "max_string_chars",
            "description",
        ),
        (
            minimal(many=[[0] * 1000 for _ in range(LIMITS.max_values // 1000)]),
            "max_values",
            None,
        ),
    ],
)
def test_each_limit_is_refused_with_its_name_value_and_place(raw, name, path):
    for error in (refusal(raw), _normalise_error(raw)):
        assert isinstance(error, ManifestLimitError)
        assert error.code == "limit_exceeded"
        details = error.details
        assert details["name"] == name
        assert details["limit"] == getattr(LIMITS, name)
        assert details["value"] > details["limit"]
        if path is not None:
            assert details["path"] == path
        assert [(p.path, p.code) for p in error.problems] == [
            (details["path"], "limit_exceeded")
        ]
        assert name in error.message


def _normalise_error(raw: Any) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        normalise_manifest(raw)
    return info.value


def test_manifest_bytes_over_the_limit_are_refused_before_parsing():
    raw = encoded(minimal(description="d" * LIMITS.max_bytes))
    with pytest.raises(ManifestLimitError) as info:
        parse_manifest_bytes(raw)
    assert info.value.details == {
        "name": "max_bytes",
        "limit": LIMITS.max_bytes,
        "value": len(raw),
        "path": "",
        "problems": [info.value.problems[0].as_dict()],
        "problem_count": 1,
    }


def test_values_at_the_limits_are_accepted():
    raw = minimal(
        deep=nested(LIMITS.max_depth - 1),  # "deep" is the first level
        wide=list(range(LIMITS.max_array_items)),
        obj={f"k{i:03}": 0 for i in range(LIMITS.max_object_keys - 1)}
        | {"k" * LIMITS.max_key_chars: 1},
        description="d" * LIMITS.max_string_chars,
    )
    manifest = normalise_manifest(parse_manifest_bytes(encoded(raw)))
    assert manifest.data["wide"] == list(range(LIMITS.max_array_items))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a":' * 50_000,
        "[" * (sys.getrecursionlimit() + 10) + "]" * (sys.getrecursionlimit() + 10),
    ],
)
def test_nesting_deeper_than_the_parser_is_a_limit_not_a_crash(text: str):
    with pytest.raises(ManifestLimitError) as info:
        parse_manifest_bytes(text.encode())
    assert info.value.details["name"] == "max_depth"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"n": ' + "9" * 5000 + "}", "invalid_json"),  # Python's digit limit
        ('{"n": 1e999}', "invalid_value"),
        ('{"n": -1e999}', "invalid_value"),
        ('{"n": 9007199254740993}', "invalid_value"),
        ('{"n": 1.' + "5" * 100_000 + "}", None),  # long, but a fine float
    ],
)
def test_huge_numbers_are_refused_or_kept_never_a_crash(text: str, code):
    raw = text.replace("{", "{" + encoded(minimal()).decode()[1:-1] + ",", 1)
    if code is None:
        manifest = normalise_manifest(parse_manifest_bytes(raw.encode()))
        assert manifest.data["n"] == 1.5555555555555556
        return
    with pytest.raises(ManifestError) as info:
        normalise_manifest(parse_manifest_bytes(raw.encode()))
    assert code in {p.code for p in info.value.problems}


# --- problem and warning lists ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("hooks", ["on_nothing"] * 1000, "unknown_hook"),
        ("permissions", ["nope"] * 1000, "unknown_permission"),
        ("authors", [1] * 1000, "invalid_type"),
        ("routes", [{"path": "/a", "methods": ["FETCH"]}] * 1000, "invalid_route"),
    ],
)
def test_a_repeated_mistake_lists_the_first_problems_and_counts_them_all(
    field, value, code
):
    error = refusal(minimal(**{field: value}))
    assert error.code == "manifest_invalid"
    assert len(error.problems) == MAX_PROBLEMS
    assert error.problem_count >= 1000
    assert {p.code for p in error.problems} <= {code, "invalid_route"}
    # The first problems by path, in natural order: field[0] .. field[49].
    indexes = [int(p.path.split("[")[1].split("]")[0]) for p in error.problems]
    assert indexes == sorted(indexes)
    assert indexes[0] == 0
    assert error.details["problem_count"] == error.problem_count
    assert len(error.details["problems"]) == MAX_PROBLEMS
    assert f"has {error.problem_count} problems" in error.message
    assert len(json.dumps(error.as_dict())) < MAX_ERROR_BYTES


def test_schema_failures_stop_being_looked_at_after_a_ceiling():
    routes = [{"path": 1, "methods": 1, "expose": 1, "entry": 1}] * 1000
    error = refusal(minimal(routes=routes))
    assert len(error.problems) == MAX_PROBLEMS
    assert error.problem_count >= MAX_SCHEMA_ERRORS // 2
    assert error.details["problem_count_exact"] is False
    assert "has at least" in error.message


def test_problems_are_clipped_to_fixed_sizes():
    # The longest path a manifest can make: long keys all the way down.
    deep: Any = "\ud800"
    for i in range(LIMITS.max_depth - 1):
        deep = {f"{i:03}" + "k" * (LIMITS.max_key_chars - 3): deep}
    error = _normalise_error(minimal(x=deep))
    [problem] = error.problems
    assert problem.code == "invalid_value"
    assert len(problem.path) == MAX_PATH_CHARS
    assert problem.path.startswith("x.030kkk")
    long = ManifestError([Problem("p", "c", "m" * 10_000)])
    assert len(long.problems[0].message) == MAX_MESSAGE_CHARS
    assert len(long.message) <= MAX_TEXT_CHARS


def test_unknown_key_warnings_are_capped_and_counted():
    keys = {f"x_{i:03}_" + "k" * 100: i for i in range(LIMITS.max_object_keys - 10)}
    manifest = normalise_manifest(minimal(**keys))
    assert len(manifest.warnings) == MAX_WARNINGS
    assert manifest.warning_count == len(keys)
    assert [w.path for w in manifest.warnings] == list(keys)[:MAX_WARNINGS]
    legacy = normalise_manifest(minimal(**keys), source_name="extension.json")
    assert legacy.warnings[0].code == "legacy_filename"
    assert len(legacy.warnings) == MAX_WARNINGS
    assert legacy.warning_count == len(keys) + 1


def test_manifest_warning_count_defaults_to_its_warnings():
    manifest = normalise_manifest(minimal(extra=1))
    assert manifest.warning_count == len(manifest.warnings) == 1
    assert Manifest(data={}).warning_count == 0


# --- bounded work -----------------------------------------------------------------


def worst_cases() -> dict[str, dict[str, Any]]:
    """Manifests inside every limit that make the rules work hardest."""
    return {
        "bad_hooks": minimal(hooks=[f"h{i}" for i in range(1000)]),
        "bad_types_everywhere": minimal(
            routes=[{"path": 1, "methods": 1, "expose": 1, "entry": 1, "callable": 1}]
            * 1000,
            authors=[1] * 1000,
            hooks=[2] * 1000,
        ),
        "bad_routes": minimal(
            routes=[
                {"path": f"/a/../{i}", "methods": ["FETCH", "X"], "expose": "global"}
                for i in range(1000)
            ]
        ),
        "many_valid_routes": minimal(
            permissions=["api.global"],
            routes=[
                {"path": f"/r{i}", "methods": ["GET", "POST"], "tags": ["a", "b"]}
                for i in range(1000)
            ],
        ),
        "many_values": minimal(
            x=[[i] * 999 for i in range(LIMITS.max_values // 1000 - 1)]
        ),
        "many_warnings": minimal(
            routes=[{"path": f"/r{i}", "u1": 0, "u2": 0, "u3": 0} for i in range(1000)]
        ),
    }


@pytest.mark.parametrize("case", sorted(worst_cases()))
def test_the_worst_manifest_inside_the_limits_gets_a_bounded_answer(case: str):
    # Its CPU cost is measured by benchmarks/bench_rejections.py (worst-in-limits).
    raw = encoded(worst_cases()[case])
    assert len(raw) <= LIMITS.max_bytes
    try:
        result: Manifest | ManifestError = normalise_manifest(parse_manifest_bytes(raw))
    except ManifestError as exc:
        result = exc
    if isinstance(result, ManifestError):
        assert len(json.dumps(result.as_dict())) < MAX_ERROR_BYTES
    else:
        assert len(result.warnings) <= MAX_WARNINGS


def test_a_repeated_mistake_past_the_byte_limit_costs_no_parsing(monkeypatch):
    raw = encoded(minimal(hooks=["x"] * 100_000))

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a manifest over the byte limit was parsed")

    monkeypatch.setattr("market.manifest.parsing.json.loads", never)
    with pytest.raises(ManifestLimitError) as info:
        parse_manifest_bytes(raw)
    assert info.value.details["name"] == "max_bytes"


# --- any JSON ---------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["on_scene_enter", "assets.read", "/x", "GET", "1.0.0", "\0"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _amplify(value: Any, how: str, times: int) -> Any:
    if how == "wide":
        return [value] * times
    if how == "keys":
        return {f"k{i}": value for i in range(times)}
    for _ in range(times):
        value = [value] if how == "deep_list" else {"d": value}
    return value


# Deep and wide values: repeated or nested far past the limits, or just inside them.
amplified = st.builds(
    _amplify,
    json_values,
    st.sampled_from(["wide", "keys", "deep_list", "deep_object"]),
    st.integers(min_value=0, max_value=1500),
)
manifest_fields = st.sampled_from(
    [
        "id",
        "name",
        "version",
        "summary",
        "description",
        "author",
        "authors",
        "permissions",
        "routes",
        "events",
        "ui",
        "hooks",
        "diagnostics",
        "trust",
        "content",
        "x_extra",
    ]
)
manifests = st.dictionaries(manifest_fields, json_values | amplified, max_size=8).map(
    lambda extra: {**minimal(), **extra}
)


def _assert_bounded(error: ManifestError) -> None:
    assert 1 <= len(error.problems) <= MAX_LISTED
    assert error.problem_count >= len(error.problems)
    assert all(p.path is not None and p.code and p.message for p in error.problems)
    assert all(len(p.message) <= MAX_MESSAGE_CHARS for p in error.problems)
    assert all(len(p.path) <= MAX_PATH_CHARS for p in error.problems)
    assert len(json.dumps(error.as_dict())) < MAX_ERROR_BYTES


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(manifests)
def test_any_json_manifest_is_a_manifest_or_a_bounded_manifest_error(raw: dict):
    try:
        manifest = normalise_manifest(raw)
    except ManifestError as exc:
        _assert_bounded(exc)
    else:
        assert len(manifest.warnings) <= MAX_WARNINGS
        assert manifest.warning_count >= len(manifest.warnings)
    try:
        text = json.dumps(raw, allow_nan=True)
    except (ValueError, RecursionError):
        return
    try:
        normalise_manifest(parse_manifest_bytes(text.encode()))
    except ManifestError as exc:
        _assert_bounded(exc)
