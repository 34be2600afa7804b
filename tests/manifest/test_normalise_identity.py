"""The manifest's ``version`` check accepts exactly what ``semver`` parses.

Pure tests: no database and no Django settings.
"""

from __future__ import annotations

import pytest
import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from market.manifest.normalise_identity import _SEMVER_RE, _is_semver
from market.manifest.registry import MAX_VERSION_LENGTH


def semver_parses(version: str) -> bool:
    if len(version) > MAX_VERSION_LENGTH:
        return False
    try:
        semver.Version.parse(version)
    except (ValueError, TypeError):
        return False
    return True


# Characters a near-miss is made of: SemVer's own, and look-alikes it refuses.
NEAR = "0123456789.-+azAZ \n\t\u0663\uff11_"
valid = st.from_regex(_SEMVER_RE, fullmatch=True)


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    text = list(draw(valid))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert" or not text:
            text.insert(at, draw(st.sampled_from(NEAR)))
        elif action == "delete":
            del text[min(at, len(text) - 1)]
        else:
            text[min(at, len(text) - 1)] = draw(st.sampled_from(NEAR))
    return "".join(text)


@settings(max_examples=500, deadline=None)
@given(valid | near_misses() | st.text(NEAR, max_size=20))
def test_the_version_check_is_semvers(version: str):
    assert _is_semver(version) == semver_parses(version)


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("1.2.3", True),
        ("0.0.0", True),
        ("1.2.3-rc.1+build.5", True),
        ("1.2.3-0a", True),
        ("1.2.3+01", True),
        ("1.2.3-01", False),
        ("01.2.3", False),
        ("1.2", False),
        ("1.2.3-", False),
        ("1.2.3+", False),
        ("1.2.3-a..b", False),
        ("1.2.3\n", False),
        (" 1.2.3", False),
        ("\u0661.2.3", False),
        ("1.2.3-" + "a" * (MAX_VERSION_LENGTH - 6), True),
        ("1.2.3-" + "a" * (MAX_VERSION_LENGTH - 5), False),
    ],
)
def test_versions(version: str, ok: bool):
    assert _is_semver(version) is ok
    assert semver_parses(version) is ok
