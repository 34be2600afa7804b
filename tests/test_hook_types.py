"""Hook payloads in code form: typed for every field, printed in docs/runtime.md."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from market.hook_types import FIELD_TYPES, class_name, field_type, payload_typeddicts
from market.hooks_catalog import HOOKS

RUNTIME_DOC = Path(__file__).resolve().parent.parent / "docs" / "runtime.md"


@pytest.fixture(autouse=True)
def market_root():
    """Pure tests: replace the suite's settings-based runtime folder fixture."""
    return None


def test_every_payload_field_of_every_hook_has_a_type():
    for hook in HOOKS:
        for field in hook.payload:
            assert field_type(hook, field), (hook.name, field)
    used = {field for hook in HOOKS for field in hook.payload}
    assert set(FIELD_TYPES) <= used  # no types left over for fields that are gone


def test_typeddicts_are_valid_python_matching_the_catalogue():
    namespace: dict = {}
    exec(compile(payload_typeddicts(), "hook_payloads", "exec"), namespace)
    for hook in HOOKS:
        cls = namespace[class_name(hook)]
        assert list(cls.__annotations__) == list(hook.payload), hook.name
        assert typing.is_typeddict(cls)
        assert cls.__doc__.startswith(f"{hook.name} ({hook.permission}): ")


def test_runtime_doc_prints_the_generated_payloads():
    text = RUNTIME_DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert payload_typeddicts() in blocks


def test_runtime_doc_lists_every_slot():
    from market.manifest import KNOWN_UI_SLOTS

    text = RUNTIME_DOC.read_text()
    for slot, description in KNOWN_UI_SLOTS.items():
        assert f"| `{slot}` | {description} |" in text
