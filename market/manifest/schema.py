"""The manifest JSON Schema: loading it once, and the validator built from it.

The schema file is package data (``market/schemas/manifest-1.1.schema.json``); the
API publishes it as is, and ``normalise_manifest`` validates against it.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

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
    return Draft202012Validator(_schema())


def load_schema() -> dict[str, Any]:
    """The manifest JSON Schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_schema())
