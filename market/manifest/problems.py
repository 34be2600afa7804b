"""Problems: path formatting, schema-error mapping, de-duplication and sorting.

Turns ``jsonschema`` errors into ``Problem`` values with stable codes and readable
paths (``routes[1].methods``), and puts a list of problems in the order a modder
reads them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from market.errors import (
    MAX_LISTED,
    ManifestError,
    Problem,
    problem_sort_key,
)
from market.manifest.wording import REGISTRIES, did_you_mean, pattern_rule, unknown_name

if TYPE_CHECKING:
    # Only the validator's results are read here; normalise_manifest imports it
    # when a manifest needs it.
    from jsonschema import Draft202012Validator, ValidationError

# Problem code of a schema failure (other than type/required) by top-level field.
_FIELD_CODES = {
    "manifest_version": "unsupported_manifest_version",
    "id": "invalid_id",
    "name": "invalid_name",
    "version": "invalid_version",
    "permissions": "unknown_permission",
    "routes": "invalid_route",
    "events": "invalid_event",
    "ui": "invalid_panel",
    "hooks": "unknown_hook",
    "trust": "invalid_trust",
    "content": "invalid_content",
    "compatibility": "invalid_range",
    "dependencies": "invalid_dependency",
}
_TYPE_NAMES = {
    "string": "a string",
    "array": "a list",
    "object": "an object",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}
_MAX_MESSAGE = 200
_SIZE_KEYWORDS = {
    "maxLength": "characters",
    "minLength": "characters",
    "maxItems": "items",
    "minItems": "items",
    "maxProperties": "entries",
}


def format_path(parts: Iterable[str | int]) -> str:
    """``["routes", 1, "methods"]`` -> ``"routes[1].methods"``; the root is ``""``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# Natural order, so routes[2] sorts before routes[10] (and no int() of a huge index).
_path_key = problem_sort_key


def root_field(path: str) -> str:
    """``"routes[2].path"`` -> ``"routes"``: the top-level field a path is in."""
    return path.split("[")[0].split(".")[0]


class ProblemList:
    """Problems as the rules report them: one per (path, code), the first reported
    kept, all of them counted, but only the first ``keep`` by path held.

    So a manifest that repeats one mistake a hundred thousand times costs a counter,
    not a hundred thousand held problems, and the problems listed are exactly the
    first ``keep`` of the full sorted list.
    """

    def __init__(self, keep: int = MAX_LISTED) -> None:
        self.keep = keep
        self.count = 0
        # False when a rule stopped looking early: ``count`` is then a minimum.
        self.exact = True
        self.roots: set[str] = set()
        self._seen: set[tuple[str, str]] = set()
        self._held: list[tuple[tuple[tuple[int, int, str], ...], int, Problem]] = []

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, problem: Problem) -> None:
        key = (problem.path, problem.code)
        if key in self._seen:
            return
        self._seen.add(key)
        self.count += 1
        self.roots.add(root_field(problem.path))
        self._held.append((_path_key(problem), self.count, problem))
        if len(self._held) >= 2 * self.keep:
            self._trim()

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    def first(self) -> list[Problem]:
        """The first ``keep`` problems, sorted by path (report order on a tie)."""
        self._trim()
        return [problem for _, _, problem in self._held]

    def error(self) -> ManifestError:
        return ManifestError(self.first(), count=self.count, exact=self.exact)

    def _trim(self) -> None:
        self._held.sort(key=lambda held: held[:2])
        del self._held[self.keep :]


class WarningList:
    """Warnings in the order found: the first ``keep`` held, all of them counted."""

    def __init__(self, keep: int = MAX_LISTED) -> None:
        self.keep = keep
        self.count = 0
        self.held: list[Problem] = []

    def add(self, warning: Problem) -> None:
        self.count += 1
        if len(self.held) < self.keep:
            self.held.append(warning.clipped())


def short(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, for quoting a value in a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def schema_problems(
    validator: Draft202012Validator, raw: Any, *, limit: int | None = None
) -> tuple[list[Problem], bool]:
    """Schema failures as Problems with stable codes and readable paths, and whether
    that is all of them: the scan stops after ``limit`` failures (each costs the
    validator far more than a semantic check, and a manifest that fails a thousand
    times has said enough)."""
    errors = list(
        itertools.islice(
            validator.iter_errors(raw), None if limit is None else limit + 1
        )
    )
    complete = limit is None or len(errors) <= limit
    errors = errors[:limit]
    # A wrong type explains every other failure at the same place.
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: list[Problem] = []
    for error in errors:
        parts = list(error.absolute_path)
        if error.validator != "type" and tuple(parts) in typed:
            continue
        problems.extend(_error_problems(error, parts))
    return problems, complete


def _error_problems(error: ValidationError, parts: list[Any]) -> Iterator[Problem]:
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        for key in error.validator_value:
            if key not in present:
                yield Problem(
                    format_path([*parts, key]), "missing_field", f"{key} is required"
                )
        return
    if error.validator == "type":
        if not parts:
            yield Problem("", "not_an_object", "the manifest must be a JSON object")
            return
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        yield Problem(format_path(parts), "invalid_type", f"must be {wanted}")
        return
    field = parts[0] if parts and isinstance(parts[0], str) else ""
    code = _FIELD_CODES.get(field, "invalid_value")
    if field == "permissions" and error.validator != "enum":
        code = "invalid_permission"
    # Strings and objects both report an unknown scope at the same place.
    if field == "permissions" and error.validator == "enum" and parts[-1] != "scope":
        parts = [*parts, "scope"]
    if field == "ui" and error.validator == "enum" and parts[-1] == "slot":
        code = "unknown_slot"
    if error.validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        if code in REGISTRIES:
            message = unknown_name(code, error.instance, allowed, short(error.instance))
        else:
            message = (
                f"{short(error.instance)} is not one of: {', '.join(allowed)}"
                + did_you_mean(error.instance, allowed)
            )
    elif error.validator == "pattern":
        message = f"{short(error.instance)} {pattern_rule(error.validator_value)}"
    elif error.validator in _SIZE_KEYWORDS:
        # jsonschema quotes the whole value first, so the reason would be cut off.
        limit = error.validator_value
        bound = "at most" if error.validator.startswith("max") else "at least"
        unit = _SIZE_KEYWORDS[error.validator]
        message = f"{short(error.instance)} must have {bound} {limit} {unit}"
    else:
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
    yield Problem(format_path(parts), code, message)
