"""SemVer ranges: the syntax of ``compatibility.studio`` and ``dependencies``.

Pure: no Django. The syntax is a subset of npm's (docs/manifest.md#version-ranges):

- a range is one or more comparator sets joined by ``||`` (any of them);
- a comparator set is one or more comparators separated by spaces (all of them);
- a comparator is ``[op]version`` with op one of ``>=``, ``<=``, ``>``, ``<``,
  ``=``, ``^``, ``~`` or none (``=``); the version may be partial (``1``, ``1.2``)
  or use ``x``, ``X`` or ``*`` for a part (``1.x``, ``1.2.*``, ``*``).

Every comparator set is one interval of versions, so a range is a union of
intervals. Pre-releases follow npm: a pre-release version (``2.0.0-rc.1``) is in
a set only if the set names a pre-release of the same ``major.minor.patch``, so
``<2.0.0`` never lets in ``2.0.0-alpha``. Hyphen ranges (``1.2 - 2``) are not
supported.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import semver

# A range is a short string; this bounds the parser's work on hostile input.
MAX_RANGE_LENGTH = 256
MAX_SETS = 16
MAX_COMPARATORS = 16

_OPS = (">=", "<=", ">", "<", "=", "^", "~")
_WILD = frozenset({"x", "X", "*"})
_NUMBER = re.compile(r"0|[1-9][0-9]{0,15}")
_PARTIAL = re.compile(
    r"(?P<major>[0-9]+|[xX*])"
    r"(?:\.(?P<minor>[0-9]+|[xX*])"
    r"(?:\.(?P<patch>[0-9]+|[xX*])"
    r"(?P<rest>(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?))?)?"
)


class RangeError(ValueError):
    """The text is not a version range; ``str()`` says why, for a modder."""


@dataclass(frozen=True, order=True)
class _Bound:
    version: semver.Version
    inclusive: bool


@dataclass(frozen=True)
class Interval:
    """The versions of one comparator set; ``None`` bounds are open-ended.

    ``prereleases`` are the ``(major, minor, patch)`` triples whose pre-releases the
    set admits (those it names).
    """

    low: _Bound | None
    high: _Bound | None
    prereleases: frozenset[tuple[int, int, int]] = frozenset()

    def contains(self, version: semver.Version) -> bool:
        if self.low is not None:
            order = version.compare(self.low.version)
            if order < 0 or (order == 0 and not self.low.inclusive):
                return False
        if self.high is not None:
            order = version.compare(self.high.version)
            if order > 0 or (order == 0 and not self.high.inclusive):
                return False
        if version.prerelease:
            return (version.major, version.minor, version.patch) in self.prereleases
        return True

    def is_empty(self) -> bool:
        if self.high is None:
            return False
        # Below 0.0.0 there are only pre-releases a plain bound never admits.
        low = self.low or _Bound(semver.Version(0), True)
        order = low.version.compare(self.high.version)
        return order > 0 or (order == 0 and not (low.inclusive and self.high.inclusive))


@dataclass(frozen=True)
class VersionRange:
    """A parsed range: ``text`` as written (stripped), and its intervals."""

    text: str
    intervals: tuple[Interval, ...]

    def contains(self, version: str | semver.Version) -> bool:
        """Whether ``version`` (a SemVer string or Version) is in the range."""
        if isinstance(version, str):
            try:
                version = semver.Version.parse(version)
            except ValueError:
                return False
        return any(i.contains(version) for i in self.intervals)

    def __str__(self) -> str:
        return self.text


def parse_range(text: object) -> VersionRange:
    """Parse a range, or raise RangeError saying what is wrong with it."""
    if not isinstance(text, str):
        raise RangeError("a version range must be a string")
    stripped = text.strip()
    if not stripped:
        raise RangeError("a version range must not be empty (use * for any version)")
    if len(stripped) > MAX_RANGE_LENGTH:
        raise RangeError(f"a version range has at most {MAX_RANGE_LENGTH} characters")
    sets = stripped.split("||")
    if len(sets) > MAX_SETS:
        raise RangeError(f"a version range joins at most {MAX_SETS} sets with ||")
    intervals = []
    for part in sets:
        interval = _parse_set(part)
        if interval.is_empty():
            raise RangeError(f"{part.strip()!r} matches no version")
        intervals.append(interval)
    return VersionRange(stripped, tuple(intervals))


@functools.lru_cache(maxsize=1024)
def cached_range(text: str) -> VersionRange | None:
    """``parse_range`` of a stored range, or None when it does not parse."""
    try:
        return parse_range(text)
    except RangeError:
        return None


def satisfies(version: str | semver.Version, text: str) -> bool:
    """Whether ``version`` is in the range ``text`` (False for a bad range)."""
    parsed = cached_range(text)
    return parsed is not None and parsed.contains(version)


def parse_version(text: object) -> semver.Version | None:
    """A full SemVer 2.0.0 version, or None."""
    if not isinstance(text, str) or len(text) > 128:
        return None
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError):
        return None


def _parse_set(part: str) -> Interval:
    tokens = _tokens(part)
    if not tokens:
        raise RangeError("an empty set between || (use * for any version)")
    if len(tokens) > MAX_COMPARATORS:
        raise RangeError(f"a set has at most {MAX_COMPARATORS} comparators")
    low: _Bound | None = None
    high: _Bound | None = None
    prereleases: set[tuple[int, int, int]] = set()
    for token in tokens:
        lo, hi, pre = _comparator(token)
        if lo is not None and (low is None or _tighter_low(lo, low)):
            low = lo
        if hi is not None and (high is None or _tighter_high(hi, high)):
            high = hi
        if pre is not None:
            prereleases.add(pre)
    return Interval(low, high, frozenset(prereleases))


def _tokens(part: str) -> list[str]:
    """Comparators of a set; an operator may be followed by spaces (``>= 1.2``)."""
    words = part.split()
    tokens: list[str] = []
    pending = ""
    for word in words:
        if word in _OPS:
            if pending:
                raise RangeError(f"{pending!r} is not followed by a version")
            pending = word
            continue
        tokens.append(pending + word)
        pending = ""
    if pending:
        raise RangeError(f"{pending!r} is not followed by a version")
    return tokens


def _tighter_low(new: _Bound, old: _Bound) -> bool:
    order = new.version.compare(old.version)
    return order > 0 or (order == 0 and not new.inclusive)


def _tighter_high(new: _Bound, old: _Bound) -> bool:
    order = new.version.compare(old.version)
    return order < 0 or (order == 0 and not new.inclusive)


def _v(major: int, minor: int = 0, patch: int = 0) -> semver.Version:
    return semver.Version(major, minor, patch)


Triple = tuple[int, int, int]
Parts = tuple[int | None, int | None, int | None]


def _comparator(token: str) -> tuple[_Bound | None, _Bound | None, Triple | None]:
    """One comparator as (low bound, high bound, pre-release triple it admits)."""
    op = next((o for o in _OPS if token.startswith(o)), "")
    body = token[len(op) :]
    match = _PARTIAL.fullmatch(body)
    if match is None:
        raise RangeError(f"{token!r} is not a comparator (e.g. >=1.2.0, ^1.2, 1.x)")
    parts = _numbers(match, token)
    rest = match.group("rest") or ""
    full: semver.Version | None = None
    if None not in parts:
        try:
            full = semver.Version.parse(body)
        except ValueError as exc:
            raise RangeError(f"{token!r} does not name a SemVer version") from exc
    elif rest:
        raise RangeError(f"{token!r}: a pre-release needs a full version")
    pre = (full.major, full.minor, full.patch) if full and full.prerelease else None
    low, high = _bounds(op, parts, full, token)
    return low, high, pre


def _numbers(match: re.Match[str], token: str) -> Parts:
    out: list[int | None] = []
    wild = False
    for name in ("major", "minor", "patch"):
        value = match.group(name)
        if value is None or value in _WILD:
            wild = True
            out.append(None)
            continue
        if wild:
            raise RangeError(f"{token!r}: a number after x or * is meaningless")
        if not _NUMBER.fullmatch(value):
            raise RangeError(f"{token!r}: {value} is not a version number")
        out.append(int(value))
    return out[0], out[1], out[2]


def _bounds(
    op: str, parts: Parts, full: semver.Version | None, token: str
) -> tuple[_Bound | None, _Bound | None]:
    major, minor, patch = parts
    if major is None:
        if op in ("<", ">"):
            raise RangeError(f"{token!r} matches no version")
        return None, None
    floor = full or _v(major, minor or 0, patch or 0)
    # The first version after the partial version (1.2 -> 1.3.0, 1 -> 2.0.0).
    if minor is None:
        after = _v(major + 1)
    elif patch is None:
        after = _v(major, minor + 1)
    else:
        after = None
    if op in ("", "="):
        if after is None:
            return _Bound(floor, True), _Bound(floor, True)
        return _Bound(floor, True), _Bound(after, False)
    if op == ">=":
        return _Bound(floor, True), None
    if op == ">":
        return (_Bound(after, True), None) if after else (_Bound(floor, False), None)
    if op == "<":
        return None, _Bound(floor, False)
    if op == "<=":
        return (None, _Bound(after, False)) if after else (None, _Bound(floor, True))
    if op == "~":
        if minor is None:
            return _Bound(floor, True), _Bound(_v(major + 1), False)
        return _Bound(floor, True), _Bound(_v(major, minor + 1), False)
    # "^": the left-most non-zero part may not change.
    if major > 0 or minor is None:
        top = _v(major + 1)
    elif minor > 0 or patch is None:
        top = _v(0, minor + 1)
    else:
        top = _v(0, 0, patch + 1)
    return _Bound(floor, True), _Bound(top, False)


def studio_range(data: dict) -> str:
    """A manifest's ``compatibility.studio`` range, or "" when it has no valid one."""
    compat = data.get("compatibility")
    text = compat.get("studio") if isinstance(compat, dict) else None
    if not isinstance(text, str) or cached_range(text) is None:
        return ""
    return cached_range(text).text  # type: ignore[union-attr]


def dependency_ranges(data: dict) -> dict[str, str]:
    """A manifest's valid ``dependencies``: id -> range, in the manifest's order."""
    deps = data.get("dependencies")
    if not isinstance(deps, dict):
        return {}
    return {
        dep_id: spec.strip()
        for dep_id, spec in deps.items()
        if isinstance(dep_id, str)
        and isinstance(spec, str)
        and cached_range(spec.strip()) is not None
        and dep_id != data.get("id")
    }
