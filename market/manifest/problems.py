"""Problems: path formatting, schema-error mapping, de-duplication and sorting.

Turns ``jsonschema`` errors into ``Problem`` values with stable codes and readable
paths (``routes[1].methods``), and puts a list of problems in the order a modder
reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from market.errors import Problem

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


def format_path(parts: Iterable[str | int]) -> str:
    """``["routes", 1, "methods"]`` -> ``"routes[1].methods"``; the root is ``""``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _path_key(problem: Problem) -> tuple[tuple[int, int | str], ...]:
    # Natural order, so routes[2] sorts before routes[10].
    tokens = re.findall(r"\[(\d+)\]|([^.\[\]]+)", problem.path)
    return tuple((0, int(num)) if num else (1, name) for num, name in tokens)


def finish_problems(problems: Iterable[Problem]) -> list[Problem]:
    """One problem per (path, code), the first reported kept, sorted by path."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.path, problem.code)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=_path_key)


def short(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, for quoting a value in a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def schema_problems(validator: Draft202012Validator, raw: Any) -> list[Problem]:
    """Every schema failure as a Problem with a stable code and a readable path."""
    errors = list(validator.iter_errors(raw))
    # A wrong type explains every other failure at the same place.
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: list[Problem] = []
    for error in errors:
        parts = list(error.absolute_path)
        if error.validator != "type" and tuple(parts) in typed:
            continue
        problems.extend(_error_problems(error, parts))
    return problems


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
    if error.validator == "enum":
        allowed = list(error.validator_value)
        listing = ", ".join(map(str, allowed)) if len(allowed) <= 12 else "see schema"
        message = f"{short(error.instance)} is not one of: {listing}"
    elif error.validator == "pattern":
        message = f"{short(error.instance)} does not match {error.validator_value}"
    elif error.validator in ("maxLength", "minLength", "maxItems", "minItems"):
        # jsonschema quotes the whole value first, so the reason would be cut off.
        limit = error.validator_value
        bound = "at most" if error.validator.startswith("max") else "at least"
        unit = "characters" if error.validator.endswith("Length") else "items"
        message = f"{short(error.instance)} must have {bound} {limit} {unit}"
    else:
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
    yield Problem(format_path(parts), code, message)
