"""A yes-or-don't-know check of a manifest against the JSON Schema, without jsonschema.

Loading ``jsonschema`` (with ``referencing``, ``attrs`` and the bundled metaschemas)
takes longer than the rest of the packager's start-up together, and nearly every
manifest it checks is valid. So the schema is compiled once into plain predicates
for the keywords it uses, and a manifest they accept skips the validator: it would
have reported nothing. Anything they do not accept goes to ``jsonschema`` as before,
which finds and words the problems, so a "no" here only means "ask the validator".

The predicates may refuse what the validator accepts, never the other way round:
only exact JSON types pass (no subclasses, no ``1.0`` for an integer), an ``if``
they cannot prove true asks for both ``then`` and ``else``, and a schema with a
keyword not listed here, a non-local ``$ref`` or a nested ``$id`` compiles to
:data:`None`, which leaves every manifest to the validator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never make an instance invalid (Draft 2020-12 annotations; the
# validator is built without a format checker). ``$defs`` is read through ``$ref``,
# ``then`` and ``else`` through ``if``.
_IGNORED = frozenset(
    {
        "$comment",
        "$defs",
        "$schema",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "then",
        "else",
    }
)
_JSON_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "array": (list,),
    "object": (dict,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


class UnsupportedSchema(Exception):
    """The schema uses something :func:`compile_schema` does not check."""


def compile_schema(schema: Mapping[str, Any]) -> Check | None:
    """``schema`` as one predicate that is true only for instances the validator
    accepts, or :data:`None` when it uses a keyword (or a reference) not supported
    here."""
    try:
        return _Compiler(schema).compile(schema, root=True)
    except UnsupportedSchema:
        return None


def _always(_instance: Any) -> bool:
    return True


def _never(_instance: Any) -> bool:
    return False


def _on(kinds: tuple[type, ...], test: Check) -> Check:
    """``test`` for instances of ``kinds`` (exactly), true for any other JSON value
    (the keyword does not apply to it), false for what is not JSON at all."""
    if len(kinds) == 1:
        kind = kinds[0]
        return lambda x: test(x) if type(x) is kind else type(x) in _JSON_TYPES
    return lambda x: test(x) if type(x) in kinds else type(x) in _JSON_TYPES


def _str_keys(obj: dict[Any, Any]) -> bool:
    return all(type(key) is str for key in obj)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        # ``$ref`` target -> its predicate, in a list so that a recursive schema can
        # refer to itself before it is compiled.
        self.refs: dict[str, list[Check]] = {}
        self.keywords: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
            "type": self.type_,
            "enum": self.enum,
            "const": self.const,
            "pattern": self.pattern,
            "minLength": self.size(str, at_least=True),
            "maxLength": self.size(str, at_least=False),
            "minItems": self.size(list, at_least=True),
            "maxItems": self.size(list, at_least=False),
            "minProperties": self.size(dict, at_least=True),
            "maxProperties": self.size(dict, at_least=False),
            "minimum": self.bound(at_least=True),
            "maximum": self.bound(at_least=False),
            "required": self.required,
            "properties": self.properties,
            "additionalProperties": self.additional_properties,
            "items": self.items,
            "if": self.if_,
            "$ref": self.ref,
        }

    def compile(self, schema: Any, *, root: bool = False) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if type(schema) is not dict:
            raise UnsupportedSchema(f"not a schema: {schema!r}")
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _IGNORED or (keyword == "$id" and root):
                continue
            compile_keyword = self.keywords.get(keyword)
            if compile_keyword is None:
                raise UnsupportedSchema(f"keyword {keyword!r}")
            checks.append(compile_keyword(value, schema))
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(check(x) for check in checks)

    # Keywords: (the keyword's value, the schema holding it) -> predicate.

    def type_(self, value: Any, schema: dict[str, Any]) -> Check:
        names = [value] if isinstance(value, str) else value
        if type(names) is not list or not all(n in _TYPES for n in names):
            raise UnsupportedSchema(f"type {value!r}")
        # Exact types: a bool is no integer here, and subclasses are not judged.
        allowed = frozenset(kind for name in names for kind in _TYPES[name])
        return lambda x: type(x) in allowed

    def enum(self, value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not list or not all(type(v) is str for v in value):
            raise UnsupportedSchema("enum of anything but strings")
        members = frozenset(value)
        return lambda x: type(x) is str and x in members

    def const(self, value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not str:
            raise UnsupportedSchema("const of anything but a string")
        return lambda x: type(x) is str and x == value

    def pattern(self, value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not str:
            raise UnsupportedSchema(f"pattern {value!r}")
        # As the validator does: re.search with the pattern as written, compiled on
        # first use (and cached by re), so fields a manifest lacks cost nothing.
        return _on((str,), lambda x: re.search(value, x) is not None)

    def size(
        self, kind: type, *, at_least: bool
    ) -> Callable[[Any, dict[str, Any]], Check]:
        def compile_size(value: Any, schema: dict[str, Any]) -> Check:
            if type(value) is not int or value < 0:
                raise UnsupportedSchema(f"size {value!r}")
            if at_least:
                return _on((kind,), lambda x: len(x) >= value)
            return _on((kind,), lambda x: len(x) <= value)

        return compile_size

    def bound(self, *, at_least: bool) -> Callable[[Any, dict[str, Any]], Check]:
        def compile_bound(value: Any, schema: dict[str, Any]) -> Check:
            if type(value) not in (int, float):
                raise UnsupportedSchema(f"bound {value!r}")
            if at_least:
                return _on((int, float), lambda x: x >= value)
            return _on((int, float), lambda x: x <= value)

        return compile_bound

    def required(self, value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not list or not all(type(k) is str for k in value):
            raise UnsupportedSchema(f"required {value!r}")
        keys = tuple(value)
        return _on((dict,), lambda x: _str_keys(x) and all(k in x for k in keys))

    def properties(self, value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not dict:
            raise UnsupportedSchema("properties")
        props = {key: self.compile(sub) for key, sub in value.items()}
        return _on(
            (dict,),
            lambda x: (
                _str_keys(x)
                and all(props[key](item) for key, item in x.items() if key in props)
            ),
        )

    def additional_properties(self, value: Any, schema: dict[str, Any]) -> Check:
        if "patternProperties" in schema:
            raise UnsupportedSchema("patternProperties")
        known = frozenset(schema.get("properties", ()))
        extra = self.compile(value)
        return _on(
            (dict,),
            lambda x: (
                _str_keys(x)
                and all(extra(item) for key, item in x.items() if key not in known)
            ),
        )

    def items(self, value: Any, schema: dict[str, Any]) -> Check:
        if "prefixItems" in schema:
            raise UnsupportedSchema("prefixItems")
        each = self.compile(value)
        return _on((list,), lambda x: all(map(each, x)))

    def if_(self, value: Any, schema: dict[str, Any]) -> Check:
        test = self.compile(value)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        # ``test`` true means the validator's ``if`` holds too; false only means
        # "not proven", so then both branches must hold.
        return lambda x: then(x) if test(x) else then(x) and otherwise(x)

    def ref(self, value: Any, schema: dict[str, Any]) -> Check:
        if type(value) is not str or not (value == "#" or value.startswith("#/")):
            raise UnsupportedSchema(f"$ref {value!r}")
        cell = self.refs.get(value)
        if cell is None:
            cell = self.refs[value] = []
            cell.append(self.compile(self._resolve(value), root=value == "#"))
        return lambda x: cell[0](x)

    def _resolve(self, ref: str) -> Any:
        target: Any = self.root
        for token in ref[2:].split("/") if ref != "#" else ():
            token = token.replace("~1", "/").replace("~0", "~")
            if "%" in token or type(target) is not dict or token not in target:
                raise UnsupportedSchema(f"$ref {ref!r}")
            target = target[token]
        return target
