"""The modder hook catalogue (pure: no database, no Django settings)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from market import hooks_catalog
from market.hooks_catalog import HOOK_NAMES, HOOKS, Hook, get_hook
from market.manifest import KNOWN_PERMISSION_SCOPES

# PRODUCT.md section 8, in its order.
PRODUCT_HOOKS = """
on_scene_enter, on_choice_render, on_asset_saved, on_asset_registered,
on_asset_meta_updated, on_asset_removed, on_asset_sidecar_written,
on_audio_tts_cached, on_audio_alignment_generated, on_audio_mix_rendered,
on_prop_applied, on_rating_decision, on_rating_override, on_rating_acknowledged,
on_worldline_diff, on_worldline_merge, on_cloud_sync_plan, on_cloud_sync_complete,
on_weather_changed, on_accessibility_settings, on_accessibility_subtitle,
on_accessibility_input_map, on_accessibility_input, on_perf_budget_state,
on_perf_profiler_snapshot, on_battle_simulated, on_battle_resolved,
on_playtest_start, on_playtest_step, on_playtest_finished,
on_export_publish_preview, on_export_publish_complete, on_policy_enforced,
on_collab_operation, on_security_secret_read, on_security_key_rotated,
on_sandbox_network_blocked, on_extension_installed, on_extension_uninstalled
"""
EXPECTED = [name.strip() for name in PRODUCT_HOOKS.split(",")]


@pytest.fixture(autouse=True)
def market_root():
    """Pure tests: replace the suite's settings-based runtime folder fixture."""
    return None


def test_catalogue_lists_exactly_the_product_hooks_in_order():
    assert [hook.name for hook in HOOKS] == EXPECTED
    assert len(EXPECTED) == 39
    assert frozenset(EXPECTED) == HOOK_NAMES


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.name)
def test_every_hook_is_complete_and_consistent(hook: Hook):
    assert re.fullmatch(r"on_[a-z0-9_]+", hook.name)
    assert hook.ws_topic == f"modder.{hook.name}"
    assert hook.rest_event == hook.name
    assert hook.description.strip() and hook.description.endswith(".")
    assert hook.permission in KNOWN_PERMISSION_SCOPES
    assert "timestamp" in hook.payload
    # A real payload, not just the envelope's timestamp.
    assert len(hook.payload) >= 2
    for field, text in hook.payload.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", field)
        assert text.strip()


def test_permissions_follow_the_registry():
    by_name = {hook.name: hook.permission for hook in HOOKS}
    assert by_name["on_extension_installed"] == "extensions.lifecycle"
    assert by_name["on_extension_uninstalled"] == "extensions.lifecycle"
    assert by_name["on_asset_saved"] == "assets.events"
    assert by_name["on_scene_enter"] == "hooks.listen"


def test_hooks_catalog_is_json_ready_and_a_copy():
    catalog = hooks_catalog.hooks_catalog()
    assert json.loads(json.dumps(catalog)) == catalog
    assert [entry["name"] for entry in catalog] == EXPECTED
    assert set(catalog[0]) == {
        "name",
        "description",
        "payload",
        "ws_topic",
        "rest_event",
        "permission",
    }
    catalog[0]["payload"]["injected"] = "x"
    assert "injected" not in hooks_catalog.hooks_catalog()[0]["payload"]


def test_hooks_are_frozen_and_read_only():
    hook = HOOKS[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        hook.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hook.payload["x"] = "y"  # type: ignore[index]
    assert hash(hook) == hash(HOOKS[0])


def test_get_hook():
    assert get_hook("on_scene_enter") is HOOKS[0]
    assert get_hook("on_nothing") is None


def test_security_hook_never_carries_the_secret_value():
    payload = get_hook("on_security_secret_read").payload
    assert not {"value", "secret", "token"} & set(payload)
