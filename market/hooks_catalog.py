"""The modder hook catalogue: every event the Studio publishes to extensions.

A manifest's ``hooks[]`` may only name hooks listed here, and ``GET /api/market/list``
returns the catalogue so a modder can see what each hook carries.

Naming scheme, the same for every hook:

- ``name`` is ``on_<subject>_<happening>``, e.g. ``on_asset_saved``.
- ``ws_topic`` is ``modder.<name>``: the topic of the Studio's modder WebSocket stream
  (``/ws/modder``), so a client subscribes to ``modder.on_asset_saved``.
- ``rest_event`` is ``<name>`` itself: the ``event`` field of the envelopes the Studio's
  REST hook surface returns (history under ``/api/modder/hooks``) and POSTs to
  registered webhooks. The envelope is ``{"event": rest_event, "payload": {...}}``.
- ``permission`` is the manifest scope an extension needs to receive the hook:
  ``assets.events`` for asset registry hooks, ``extensions.lifecycle`` for install and
  uninstall, ``hooks.listen`` for everything else.

Every payload carries ``timestamp`` (UTC seconds since the epoch, a float) besides the
fields listed per hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

WS_TOPIC_PREFIX = "modder."
TIMESTAMP_FIELD = "timestamp"
_TIMESTAMP_DESCRIPTION = "Emission time, UTC seconds since the epoch."


@dataclass(frozen=True)
class Hook:
    """One hook: what it means, what its payload holds and where it is delivered."""

    name: str
    description: str
    # Read-only mapping; excluded from eq/hash so a Hook stays hashable.
    payload: Mapping[str, str] = field(compare=False)
    ws_topic: str
    rest_event: str
    permission: str = "hooks.listen"
    # A hook about secrets or the sandbox's defences: worth a reviewer's second look.
    # Not part of ``as_dict``: the published catalogue describes payloads only.
    sensitive: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "payload": dict(self.payload),
            "ws_topic": self.ws_topic,
            "rest_event": self.rest_event,
            "permission": self.permission,
        }


def _hook(
    name: str, description: str, permission: str = "hooks.listen", **payload: str
) -> Hook:
    fields = dict(payload)
    fields[TIMESTAMP_FIELD] = _TIMESTAMP_DESCRIPTION
    return Hook(
        name=name,
        description=description,
        # Read-only, so the module-level catalogue cannot be changed by a caller.
        payload=MappingProxyType(fields),
        ws_topic=WS_TOPIC_PREFIX + name,
        rest_event=name,
        permission=permission,
    )


def _sensitive(hook: Hook) -> Hook:
    return replace(hook, sensitive=True)


_ASSET = "assets.events"
_ASSET_FIELDS = {
    "uid": "Asset registry id (derived from the file's content hash).",
    "type": "Asset type bucket, e.g. character, background, audio.",
    "path": "Asset path relative to the project's assets folder.",
}

HOOKS: tuple[Hook, ...] = (
    # --- scenes and choices -------------------------------------------------------
    _hook(
        "on_scene_enter",
        "The player or the preview runner entered a scene.",
        scene_id="Id of the scene entered.",
        node_id="Id of the first node run in the scene.",
        pov="Point-of-view character id, if the scene has one.",
        variables="Snapshot of the story variables on entry.",
    ),
    _hook(
        "on_choice_render",
        "A choice menu is about to be shown to the player.",
        scene_id="Id of the scene showing the menu.",
        node_id="Id of the choice node.",
        choices="List of {id, text, enabled} options in display order.",
    ),
    # --- asset registry -----------------------------------------------------------
    _hook(
        "on_asset_saved",
        "An asset file was written to the registry (new or overwritten).",
        _ASSET,
        **_ASSET_FIELDS,
        bytes="File size in bytes.",
        meta="Metadata stored with the asset.",
    ),
    _hook(
        "on_asset_registered",
        "A new asset was added to the registry.",
        _ASSET,
        **_ASSET_FIELDS,
        bytes="File size in bytes.",
        meta="Metadata stored with the asset.",
        sidecar="Path of the asset's sidecar JSON.",
    ),
    _hook(
        "on_asset_meta_updated",
        "An asset's metadata (tags, licence, notes) changed.",
        _ASSET,
        **_ASSET_FIELDS,
        meta="Metadata after the change.",
        changed="Names of the metadata keys that changed.",
    ),
    _hook(
        "on_asset_removed",
        "An asset was removed from the registry.",
        _ASSET,
        **_ASSET_FIELDS,
        meta="Metadata the asset had before removal.",
        files_deleted="True when the files were deleted, false when only unlisted.",
    ),
    _hook(
        "on_asset_sidecar_written",
        "An asset's sidecar JSON was written to disk.",
        _ASSET,
        **_ASSET_FIELDS,
        sidecar="Path of the sidecar JSON written.",
    ),
    # --- audio --------------------------------------------------------------------
    _hook(
        "on_audio_tts_cached",
        "A text-to-speech line was synthesised and stored in the audio cache.",
        line_id="Id of the dialogue line voiced.",
        voice="Voice preset id used.",
        cache_key="Cache key of the audio clip.",
        path="Path of the cached clip.",
        duration_ms="Clip length in milliseconds.",
    ),
    _hook(
        "on_audio_alignment_generated",
        "Lip-sync/word alignment data was produced for a voiced line.",
        line_id="Id of the dialogue line.",
        clip="Path of the audio clip aligned.",
        alignment_path="Path of the alignment JSON.",
        words="Number of aligned words.",
    ),
    _hook(
        "on_audio_mix_rendered",
        "A scene's music, ambience and voice tracks were mixed down to a file.",
        scene_id="Id of the scene mixed.",
        path="Path of the rendered mix.",
        tracks="List of the track ids mixed.",
        duration_ms="Mix length in milliseconds.",
    ),
    # --- props, ratings, worldlines -----------------------------------------------
    _hook(
        "on_prop_applied",
        "A prop (item, costume, effect) was attached to a character or scene.",
        prop_id="Id of the prop applied.",
        target="Character or scene id the prop was applied to.",
        anchor="Placement anchor used, e.g. hand_left or background.",
        scene_id="Id of the scene being edited.",
    ),
    _hook(
        "on_rating_decision",
        "The content rating filter classified a line, asset or prompt.",
        item_id="Id of the rated item.",
        kind="What was rated: line, asset or prompt.",
        rating="Rating assigned, e.g. E, T, M.",
        allowed="True when the item is allowed under the active rating.",
        reasons="Rule ids that produced the decision.",
    ),
    _hook(
        "on_rating_override",
        "A user overrode a rating decision.",
        item_id="Id of the rated item.",
        previous="Rating before the override.",
        rating="Rating after the override.",
        actor="User who made the override.",
        reason="Reason given for the override.",
    ),
    _hook(
        "on_rating_acknowledged",
        "A user acknowledged a rating warning and chose to continue.",
        item_id="Id of the rated item.",
        rating="Rating acknowledged.",
        actor="User who acknowledged it.",
    ),
    _hook(
        "on_worldline_diff",
        "Two worldlines (story branches) were compared.",
        base="Id of the base worldline.",
        other="Id of the compared worldline.",
        changes="Summary of changed scenes, variables and assets.",
    ),
    _hook(
        "on_worldline_merge",
        "A worldline was merged into another.",
        source="Id of the worldline merged from.",
        target="Id of the worldline merged into.",
        conflicts="Conflicts found, with how each was resolved.",
        fast_forward="True when no three-way merge was needed.",
    ),
    # --- cloud sync and weather ---------------------------------------------------
    _hook(
        "on_cloud_sync_plan",
        "A cloud sync computed what it is about to upload and delete.",
        provider="Sync target, e.g. s3 or drive.",
        uploads="Number of files to upload.",
        deletes="Number of remote files to delete.",
        bytes="Total bytes to upload.",
        dry_run="True when the plan will not be executed.",
    ),
    _hook(
        "on_cloud_sync_complete",
        "A cloud sync finished.",
        provider="Sync target.",
        uploaded="Number of files uploaded.",
        deleted="Number of remote files deleted.",
        errors="List of per-file errors, empty on success.",
        duration_ms="Wall time of the sync in milliseconds.",
    ),
    _hook(
        "on_weather_changed",
        "The scene's weather or time-of-day state changed.",
        scene_id="Id of the scene.",
        weather="Weather preset, e.g. clear, rain, snow.",
        time_of_day="Time of day, e.g. dawn, noon, night.",
        transition_ms="Length of the visual transition in milliseconds.",
    ),
    # --- accessibility ------------------------------------------------------------
    _hook(
        "on_accessibility_settings",
        "Accessibility settings (font scale, contrast, motion) changed.",
        settings="Full accessibility settings after the change.",
        changed="Names of the settings that changed.",
    ),
    _hook(
        "on_accessibility_subtitle",
        "A subtitle or caption was shown for a line or a sound.",
        line_id="Id of the dialogue line or sound cue.",
        text="Caption text as displayed.",
        speaker="Speaker name, if any.",
        duration_ms="How long the caption stays on screen.",
    ),
    _hook(
        "on_accessibility_input_map",
        "The input remapping profile changed.",
        profile="Id of the active input profile.",
        bindings="Map of action name to the keys or buttons bound to it.",
    ),
    _hook(
        "on_accessibility_input",
        "A remapped input action fired (after remapping is applied).",
        action="Action name, e.g. advance, back, skip.",
        device="Device kind: keyboard, gamepad, pointer or switch.",
        source="Physical key or button that triggered the action.",
    ),
    # --- performance --------------------------------------------------------------
    _hook(
        "on_perf_budget_state",
        "A performance budget (VRAM, frame time, queue length) changed state.",
        budget="Budget name.",
        state="New state: ok, warn or exceeded.",
        value="Measured value.",
        limit="Configured limit.",
    ),
    _hook(
        "on_perf_profiler_snapshot",
        "The profiler captured a snapshot of timings and memory.",
        snapshot_id="Id of the snapshot.",
        spans="Top timing spans as {name, ms} objects.",
        memory_mb="Resident memory in megabytes.",
    ),
    # --- battle -------------------------------------------------------------------
    _hook(
        "on_battle_simulated",
        "A battle was simulated (preview, no story state changed).",
        battle_id="Id of the battle encounter.",
        seed="Random seed used, so the run can be reproduced.",
        outcome="Predicted outcome: win, lose or draw.",
        log="Turn-by-turn log of the simulation.",
    ),
    _hook(
        "on_battle_resolved",
        "A battle was resolved and its outcome written to the story variables.",
        battle_id="Id of the battle encounter.",
        outcome="Outcome: win, lose or draw.",
        variables="Story variables set by the outcome.",
        scene_id="Scene the story continues in.",
    ),
    # --- playtest -----------------------------------------------------------------
    _hook(
        "on_playtest_start",
        "An automated playtest run started.",
        run_id="Id of the playtest run.",
        scene_id="Scene the run starts in.",
        seed="Random seed of the run.",
        policy="Choice policy, e.g. random, first or scripted.",
    ),
    _hook(
        "on_playtest_step",
        "An automated playtest advanced by one node.",
        run_id="Id of the playtest run.",
        step="Step number, from 1.",
        node_id="Id of the node run.",
        choice="Choice taken at this step, if any.",
    ),
    _hook(
        "on_playtest_finished",
        "An automated playtest run ended.",
        run_id="Id of the playtest run.",
        steps="Number of steps run.",
        ending="Id of the ending reached, if any.",
        errors="Problems found (dead ends, missing assets).",
        log_path="Path of the run's log.",
    ),
    # --- export -------------------------------------------------------------------
    _hook(
        "on_export_publish_preview",
        "An export (Ren'Py, web, itch.io) was dry-run and its manifest is ready.",
        target="Export target.",
        files="Number of files that would be published.",
        bytes="Total size in bytes.",
        warnings="Problems found while preparing the export.",
    ),
    _hook(
        "on_export_publish_complete",
        "An export was published.",
        target="Export target.",
        path="Output folder or archive.",
        url="Public URL, when the target has one.",
        sha256="SHA-256 of the published archive, if one was produced.",
    ),
    # --- policy, collaboration, security ------------------------------------------
    _hook(
        "on_policy_enforced",
        "A content or licence policy blocked or changed an action.",
        policy="Policy id.",
        action="Action affected, e.g. export or asset import.",
        result="What happened: blocked, warned or modified.",
        subject="Id of the item the policy applied to.",
    ),
    _hook(
        "on_collab_operation",
        "A collaborator's edit was applied to the shared project.",
        user="Collaborator who made the edit.",
        operation="Operation kind, e.g. insert_node or edit_line.",
        target="Id of the edited scene, node or asset.",
        revision="Project revision after the edit.",
    ),
    _sensitive(
        _hook(
            "on_security_secret_read",
            "A stored secret (API key, token) was read. The value is never included.",
            vault_entry="Name of the vault entry read.",
            reader="Component or extension that read it.",
        )
    ),
    _sensitive(
        _hook(
            "on_security_key_rotated",
            "A stored secret or signing key was rotated.",
            vault_entry="Name of the vault entry or key rotated.",
            key_id="Id of the new key, when it has one.",
        )
    ),
    _sensitive(
        _hook(
            "on_sandbox_network_blocked",
            "The sandbox blocked an extension's outgoing network request.",
            extension_id="Id of the extension whose request was blocked.",
            host="Destination host.",
            port="Destination port.",
            reason="Why it was blocked, e.g. host not in the allowlist.",
        )
    ),
    # --- extension lifecycle ------------------------------------------------------
    _hook(
        "on_extension_installed",
        "An extension was installed, upgraded or reinstalled from the marketplace.",
        "extensions.lifecycle",
        extension_id="Id of the extension.",
        version="Version installed.",
        previous_version="Version replaced, or null on a first install.",
        trust="Trust level established at install: verified or unverified.",
        sha256="SHA-256 of the installed bundle.",
    ),
    _hook(
        "on_extension_uninstalled",
        "An extension was uninstalled.",
        "extensions.lifecycle",
        extension_id="Id of the extension.",
        version="Version removed.",
    ),
)

HOOK_NAMES: frozenset[str] = frozenset(hook.name for hook in HOOKS)
SENSITIVE_HOOKS: frozenset[str] = frozenset(h.name for h in HOOKS if h.sensitive)
_BY_NAME: dict[str, Hook] = {hook.name: hook for hook in HOOKS}


def get_hook(name: str) -> Hook | None:
    """The hook called ``name``, or ``None``."""
    return _BY_NAME.get(name)


def hooks_catalog() -> list[dict[str, Any]]:
    """The catalogue as JSON-ready dicts, in catalogue order."""
    return [hook.as_dict() for hook in HOOKS]
