"""Hook payloads in code form: the Python type of every field of every hook.

The hook catalogue (:mod:`market.hooks_catalog`) says what each payload field means;
this module says what type it has, and renders the whole catalogue as ``TypedDict``
classes, printed in ``docs/runtime.md`` (a test keeps the two identical).
"""

from __future__ import annotations

from market.hooks_catalog import HOOKS, Hook

# A field's type by its name, the same in every hook that has it ...
FIELD_TYPES: dict[str, str] = {
    **dict.fromkeys(
        [
            "scene_id",
            "node_id",
            "uid",
            "type",
            "path",
            "sidecar",
            "line_id",
            "voice",
            "cache_key",
            "clip",
            "alignment_path",
            "prop_id",
            "target",
            "anchor",
            "item_id",
            "kind",
            "rating",
            "previous",
            "actor",
            "reason",
            "base",
            "other",
            "source",
            "provider",
            "weather",
            "time_of_day",
            "profile",
            "action",
            "device",
            "budget",
            "state",
            "snapshot_id",
            "battle_id",
            "outcome",
            "run_id",
            "policy",
            "log_path",
            "result",
            "subject",
            "user",
            "operation",
            "vault_entry",
            "reader",
            "extension_id",
            "host",
            "version",
            "trust",
            "sha256",
            "text",
        ],
        "str",
    ),
    **dict.fromkeys(
        [
            "bytes",
            "duration_ms",
            "words",
            "uploads",
            "deletes",
            "uploaded",
            "deleted",
            "transition_ms",
            "step",
            "steps",
            "seed",
            "revision",
            "port",
            "files",
        ],
        "int",
    ),
    **dict.fromkeys(["timestamp", "value", "limit", "memory_mb"], "float"),
    **dict.fromkeys(["allowed", "files_deleted", "fast_forward", "dry_run"], "bool"),
    **dict.fromkeys(
        ["pov", "choice", "ending", "speaker", "url", "key_id"], "str | None"
    ),
    **dict.fromkeys(["variables", "meta", "settings", "changes"], "dict[str, Any]"),
    **dict.fromkeys(["changed", "tracks", "reasons", "warnings"], "list[str]"),
    **dict.fromkeys(
        ["choices", "conflicts", "errors", "spans", "log"], "list[dict[str, Any]]"
    ),
    "bindings": "dict[str, list[str]]",
    "previous_version": "str | None",
}
# ... except where one hook's field differs from the others of that name.
HOOK_FIELD_TYPES: dict[tuple[str, str], str] = {
    ("on_export_publish_complete", "sha256"): "str | None",
}


def field_type(hook: Hook, field: str) -> str:
    """The Python type of ``field`` in ``hook``'s payload."""
    return HOOK_FIELD_TYPES.get((hook.name, field)) or FIELD_TYPES[field]


def class_name(hook: Hook) -> str:
    """``on_scene_enter`` -> ``OnSceneEnter``."""
    return "".join(part.capitalize() for part in hook.name.split("_"))


def payload_typeddicts() -> str:
    """Python source declaring one ``TypedDict`` per hook, in catalogue order."""
    lines = [
        "from typing import Any, TypedDict",
        "",
    ]
    for hook in HOOKS:
        lines += [
            "",
            f"class {class_name(hook)}(TypedDict):",
            f'    """{hook.name} ({hook.permission}): {hook.description}"""',
            "",
        ]
        lines += [
            f"    {field}: {field_type(hook, field)}  # {meaning}"
            for field, meaning in hook.payload.items()
        ]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
