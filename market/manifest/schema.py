"""The manifest JSON Schema: loading it once, and the checks built from it.

The schema file is package data (``market/schemas/manifest-1.1.schema.json``); the
API publishes it as is, and ``normalise_manifest`` validates against it: first with
the plain predicates of :mod:`market.manifest.schema_check`, and only when they do
not accept the manifest with ``jsonschema``, which is imported then (it is most of
the packager's start-up otherwise).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from market.manifest.schema_check import Check, compile_schema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

# market/manifest/schema.py -> market/schemas/
SCHEMA_PATH = (
    Path(__file__).resolve().parent.parent / "schemas" / "manifest-1.1.schema.json"
)


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def schema_validator() -> Draft202012Validator:
    """The (shared, cached) validator for the manifest schema."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


@functools.lru_cache(maxsize=1)
def schema_precheck() -> Check | None:
    """True only for a manifest the validator would accept without a problem
    (``None`` if the schema uses a keyword the predicates do not check)."""
    return compile_schema(_schema())


def load_schema() -> dict[str, Any]:
    """The manifest JSON Schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_schema())
