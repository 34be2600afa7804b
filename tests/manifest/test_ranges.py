"""SemVer ranges (market.manifest.ranges): the documented syntax, and properties."""

from __future__ import annotations

import pytest
import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from market.manifest import RangeError, parse_range, satisfies
from market.manifest.ranges import MAX_RANGE_LENGTH, dependency_ranges, studio_range

# range, versions in it, versions out of it
CASES = [
    ("*", ["0.0.0", "1.2.3", "99.0.0"], ["1.0.0-rc.1"]),
    ("1.x", ["1.0.0", "1.9.9"], ["0.9.9", "2.0.0", "2.0.0-alpha"]),
    ("1", ["1.0.0", "1.5.0"], ["2.0.0"]),
    ("1.2.*", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.9"]),
    ("1.2.3", ["1.2.3", "1.2.3+build.5"], ["1.2.4", "1.2.3-rc.1"]),
    ("=1.2.3", ["1.2.3"], ["1.2.2"]),
    (">=1.2 <2", ["1.2.0", "1.9.0"], ["1.1.9", "2.0.0", "2.0.0-rc.1"]),
    (">= 1.2 < 2", ["1.2.0"], ["2.0.0"]),
    (">1.2", ["1.3.0"], ["1.2.9"]),
    (">1.2.3", ["1.2.4"], ["1.2.3"]),
    ("<=1.2", ["1.2.9"], ["1.3.0"]),
    ("<=1.2.3", ["1.2.3"], ["1.2.4"]),
    ("<1.2", ["1.1.9"], ["1.2.0"]),
    ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
    ("^1.2", ["1.2.0", "1.99.0"], ["2.0.0", "1.1.0"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4"]),
    ("^0.x", ["0.0.1", "0.9.0"], ["1.0.0"]),
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
    ("~1.2", ["1.2.0"], ["1.3.0"]),
    ("~1", ["1.9.0"], ["2.0.0"]),
    ("^1.0.0 || ^3.0.0", ["1.5.0", "3.1.0"], ["2.0.0", "4.0.0"]),
    (">=2.0.0-rc.1 <3", ["2.0.0-rc.2", "2.0.0", "2.5.0"], ["2.1.0-beta", "1.9.0"]),
]


@pytest.mark.parametrize(("text", "inside", "outside"), CASES)
def test_documented_syntax(text, inside, outside):
    parsed = parse_range(text)
    for version in inside:
        assert parsed.contains(version), (text, version)
    for version in outside:
        assert not parsed.contains(version), (text, version)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("abc", "is not a comparator"),
        ("1.2.3.4", "is not a comparator"),
        (">=", "is not followed by a version"),
        ("1.2 >=", "is not followed by a version"),
        (">2 <1", "matches no version"),
        ("<0.0.0", "matches no version"),
        ("<*", "matches no version"),
        ("1.x.3", "meaningless"),
        ("01.2.3", "not a version number"),
        ("1.2-beta", "is not a comparator"),
        ("1.2.x-beta", "needs a full version"),
        ("^1.2.3 ||", "empty set"),
        ("1 - 2", "is not a comparator"),
        ("x" * (MAX_RANGE_LENGTH + 1), "at most"),
        ("||".join(["1"] * 20), "at most"),
        (" ".join([">=1"] * 20), "at most"),
    ],
)
def test_bad_ranges_say_why(text, says):
    with pytest.raises(RangeError, match=says):
        parse_range(text)


def test_non_strings_are_refused():
    for value in (None, 1, ["1"], {"a": 1}):
        with pytest.raises(RangeError):
            parse_range(value)


def test_a_bad_version_or_range_is_never_satisfied():
    assert not satisfies("banana", "*")
    assert not satisfies("1.0.0", "not a range")


def test_manifest_helpers_keep_valid_values_only():
    data = {
        "id": "a.bc",
        "compatibility": {"studio": " ^1.2 "},
        "dependencies": {"b.cd": "^1", "c.de": "nope", "a.bc": "1", "d.ef": 3},
    }
    assert studio_range(data) == "^1.2"
    assert dependency_ranges(data) == {"b.cd": "^1"}
    assert studio_range({"compatibility": {"studio": "??"}}) == ""
    assert studio_range({"compatibility": "1.x"}) == ""
    assert dependency_ranges({"dependencies": ["b.cd"]}) == {}


numbers = st.integers(min_value=0, max_value=30)
versions = st.builds(semver.Version, numbers, numbers, numbers)
ops = st.sampled_from([">=", "<=", ">", "<", "="])


def _compare(version: semver.Version, op: str, bound: semver.Version) -> bool:
    order = version.compare(bound)
    return {
        ">=": order >= 0,
        "<=": order <= 0,
        ">": order > 0,
        "<": order < 0,
        "=": order == 0,
    }[op]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ops, versions), min_size=1, max_size=4), versions)
def test_a_set_is_every_comparator_at_once(comparators, version):
    text = " ".join(f"{op}{bound}" for op, bound in comparators)
    expected = all(_compare(version, op, bound) for op, bound in comparators)
    try:
        parsed = parse_range(text)
    except RangeError:
        # Refused only when nothing at all can satisfy it.
        assert not expected
        return
    assert parsed.contains(version) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ops, versions), min_size=1, max_size=4), versions)
def test_sets_joined_by_or_are_any_of_them(comparators, version):
    sets = [f"{op}{bound}" for op, bound in comparators]
    text = " || ".join(sets)
    try:
        parsed = parse_range(text)
    except RangeError:
        return  # one of the sets matches nothing
    assert parsed.contains(version) == any(satisfies(version, s) for s in sets)


@settings(max_examples=200, deadline=None)
@given(versions)
def test_caret_and_tilde_contain_their_base_and_stop_at_the_next_break(version):
    assert satisfies(version, f"^{version}")
    assert satisfies(version, f"~{version}")
    assert not satisfies(version.bump_major(), f"^{version}") or version.major == 0
    assert not satisfies(version.bump_minor(), f"~{version}")
    # A pre-release of the next version is never let in by a plain range.
    assert not satisfies(f"{version.bump_major()}-rc.1", f"<{version.bump_major()}")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_range_error(text):
    try:
        parsed = parse_range(text)
    except RangeError:
        return
    assert parsed.text == text.strip()
