"""One list of trust levels: ``TrustLevel`` in the manifest registry. Everything else
that names the levels (model choices, serializers, the OpenAPI document, the sandbox,
the commands, the schema) is built from it or held to it here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from market import sandbox
from market.api import openapi
from market.api import serializers as s
from market.manifest import TRUST_LEVELS, TrustLevel, load_schema
from market.models import CatalogEntry, InstalledExtension

ROOT = Path(__file__).resolve().parent.parent
ENUM = [(level.value, level.label) for level in TrustLevel]


def test_the_enum():
    assert [level.value for level in TrustLevel] == ["unverified", "verified"]
    assert TRUST_LEVELS == ("unverified", "verified")
    assert TrustLevel.VERIFIED == "verified"  # a str: compares and serialises as one
    assert f"{TrustLevel.UNVERIFIED}" == "unverified"


def test_model_choices_are_the_enum():
    assert CatalogEntry.Trust.choices == ENUM
    assert [m.name for m in CatalogEntry.Trust] == [m.name for m in TrustLevel]
    for model in (CatalogEntry, InstalledExtension):
        assert model._meta.get_field("trust_level").choices == ENUM


def test_serializers_and_the_api_document_use_the_enum():
    fields = [
        s.InstallRequestSerializer().fields["trust"],
        openapi.CatalogItemSerializer().fields["trust"],
        openapi.InstalledItemSerializer().fields["trust"],
    ]
    for field in fields:
        assert list(field.choices) == list(TRUST_LEVELS)


def test_sandbox_and_schema_use_the_enum():
    assert sandbox.LEVELS == TRUST_LEVELS
    assert tuple(sandbox.default_allowlist().prefixes) == TRUST_LEVELS
    schema = load_schema()
    trust = schema["$defs"].get("trust") or schema["properties"]["trust"]
    level = trust["properties"]["level"]
    assert tuple(level["enum"]) == TRUST_LEVELS


def test_commands_offer_the_enum():
    from market.management.commands.market_install import Command
    from market.packaging import cli

    parser = Command().create_parser("manage.py", "market_install")
    trust = next(a for a in parser._actions if a.dest == "trust")
    assert tuple(trust.choices) == TRUST_LEVELS
    packager = argparse.ArgumentParser()
    cli.add_manifest_options(packager)
    trust = next(a for a in packager._actions if a.dest == "trust")
    assert tuple(trust.choices) == TRUST_LEVELS


def test_no_other_literal_list_of_levels():
    """A list spelling both levels out is a second copy that can drift."""
    both = re.compile(r"""["']unverified["'],\s*["']verified["']""")
    found = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "market").rglob("*.py")
        if "migrations" not in path.parts and both.search(path.read_text())
    ]
    assert found == []
