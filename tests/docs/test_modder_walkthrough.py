"""A modder's first extension, from an empty folder to an install, following
docs/manifest.md alone: the walk-through's commands are run in the order the page
gives them against a fresh demo server, then the outcome is checked over the API."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.docs.blocks import REPO, find_blocks

MANIFEST_DOC = REPO / "docs" / "manifest.md"
SECTION = "## Your first extension, from an empty folder to an install"

# What a modder must be able to do from the page, in this order.
STEPS = [
    ("write the manifest", r"cat > /tmp/greeter/manifest\.json"),
    ("write the route module", r"cat > /tmp/greeter/greeter/routes\.py"),
    ("validate", r"manage\.py validate /tmp/greeter\b"),
    ("package", r"manage\.py package /tmp/greeter\b"),
    ("a modder account", r"manage\.py market_user create \S+ --role modder"),
    ("submit", r"manage\.py market_submit "),
    ("a reviewer account", r"manage\.py market_user create \S+ --role reviewer"),
    ("the reviewer approves", r"/decide/approve_"),
    (
        "install by id with an installer token",
        r"\$INSTALLER_TOKEN.*\n.*\"id\": \"ada\.greeter\"",
    ),
    ("see it in list", r"\$B/list"),
]

# A demo server on a loopback port, for the whole session.
pytestmark = pytest.mark.server


def walkthrough_blocks():
    text = MANIFEST_DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    first, last = text.count("\n", 0, start) + 1, text.count("\n", 0, end) + 1
    return [b for b in find_blocks(MANIFEST_DOC) if first <= b.line <= last]


def test_the_walkthrough_documents_every_step_in_order():
    blocks = walkthrough_blocks()
    assert all(b.norun is None for b in blocks)
    commands = "\n".join(step.command for b in blocks for step in b.steps)
    position = 0
    for what, pattern in STEPS:
        found = re.compile(pattern).search(commands, position)
        assert found, f"docs/manifest.md's walk-through does not show how to {what}"
        position = found.end()


def get(demo, path: str, token: str | None = None) -> dict:
    request = urllib.request.Request(f"{demo.url}/api/market/{path}")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_modder_goes_from_an_empty_folder_to_an_install(demo):
    demo.reset()
    demo.fresh = False  # the examples' next file starts from a fresh demo again
    assert not (demo.scratch / "greeter").exists()

    for block in walkthrough_blocks():
        problems = demo.check(block)
        assert not problems, f"{block.name}:\n\n" + "\n\n".join(problems)

    admin = demo.demo_env["ADMIN_TOKEN"]
    entry = get(demo, "catalog/ada.greeter/")["entry"]
    assert (entry["version"], entry["trust"]) == ("0.1.0", "unverified")
    [submission] = [
        item
        for item in get(demo, "submissions/", admin)["items"]
        if item["extension_id"] == "ada.greeter"
    ]
    assert (submission["submitted_by"], submission["status"]) == ("ada", "approved")
    events = get(demo, "events/?extension_id=ada.greeter", admin)["items"]
    assert [(e["action"], e["actor"]) for e in reversed(events)] == [
        ("submit", "ada"),
        ("approve", "rex"),
        ("install", "studio"),
    ]
    installed = get(demo, "installed/ada.greeter/")
    assert installed["source"] == "catalog"
    assert installed["sha256"] == entry["sha256"]
    assert [
        route["effective_path"] for route in installed["capabilities"]["routes"]
    ] == ["/api/extensions/ada.greeter/hello"]
    assert (
        demo.project / "var" / "extensions" / "ada.greeter" / "greeter" / "routes.py"
    ).is_file()
