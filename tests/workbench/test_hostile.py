"""Hostile bundle content is shown escaped or inert, never rendered."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from market import review
from market.errors import UnsafePathError
from market.models import CatalogEntry
from tests.bundles import FILES, good_entries, write_zip
from tests.workbench.conftest import assert_hardened, body, url

SCRIPT_NAME = "<script>alert(1)</script>.html"
PAYLOAD = "<script>alert('x')</script><img src=x onerror=alert(2)>"
RAW_MARKERS = ("<script>alert(", "<img src=x", "<svg onload", "onerror=alert(2)>")


def assert_inert(page: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in page, marker


def test_a_script_file_name_is_refused_at_submission(db, tmp_path):
    path = write_zip(tmp_path / "b.cvnext", good_entries({**FILES, SCRIPT_NAME: b"x"}))
    with pytest.raises(UnsafePathError):
        review.catalog_entry_submit(bundle_path=path)


@pytest.mark.parametrize("view", ["tree", "diff"])
def test_a_stored_bundle_with_a_script_file_name_is_never_rendered(
    rclient, submit, tmp_path, view
):
    entry = submit()
    # Storage tampered with after review (or rules tightened since): the name the
    # archive checks refuse is in the stored bundle.
    planted = write_zip(
        tmp_path / "planted.cvnext", good_entries({**FILES, SCRIPT_NAME: b"x"})
    )
    with open(entry.package.path, "wb") as out:
        out.write(planted.read_bytes())
    # As if stored so: the digest matches, only the archive checks refuse it.
    CatalogEntry.objects.filter(pk=entry.pk).update(
        package_sha256=hashlib.sha256(planted.read_bytes()).hexdigest()
    )
    response = rclient.get(url(view, entry))
    page = body(response)
    assert_inert(page)
    assert_hardened(response)
    if view == "tree":
        assert response.status_code == 422
        assert response["Content-Type"].startswith("text/plain")
        assert "unsafe_path" in page
    response = rclient.get(url("file", entry, SCRIPT_NAME))
    assert response.status_code == 422
    assert "<script>" not in body(response)


@pytest.mark.parametrize(
    "name",
    ["ui/a' onmouseover='alert(1)&x=1.html", "&lt;b&gt;.txt", "ui/x&quot;y.js"],
)
def test_html_like_file_names_are_escaped(rclient, submit, name):
    entry = submit({**FILES, name: b"content\n"})
    page = body(rclient.get(url("tree", entry)))
    assert "onmouseover='alert" not in page
    assert "&lt;b&gt;" not in page.replace("&amp;lt;b&amp;gt;", "")
    assert url("file", entry, name).replace("&", "&amp;") in page
    response = rclient.get(url("file", entry, name))
    assert response.status_code == 200
    assert "onmouseover='alert" not in body(response)


def test_html_file_with_script_is_shown_as_text(rclient, submit):
    source = b'<html><body onload="alert(3)"><script>alert(1)</script></body></html>\n'
    entry = submit({**FILES, "ui/panel.html": source})
    response = rclient.get(url("file", entry, "ui/panel.html"))
    page = body(response)
    assert_inert(page)
    assert 'onload="alert(3)"' not in page
    assert "&lt;" in page and "script" in page
    assert "alert" in page
    assert "sandbox" not in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    raw = rclient.get(url("raw", entry, "ui/panel.html"))
    assert raw["Content-Type"] == "application/octet-stream"
    assert raw["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in raw["Content-Security-Policy"]


def test_svg_with_script_is_text_never_an_image(rclient, submit):
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>alert(2)</script></svg>\n"
    )
    entry = submit({**FILES, "assets/icon.svg": svg})
    page = body(rclient.get(url("file", entry, "assets/icon.svg")))
    assert_inert(page)
    assert 'onload="alert(1)"' not in page
    assert "<img" not in page.split("<!-- Content -->")[-1]
    assert 'class="highlight"' in page
    assert rclient.get(url("image", entry, "assets/icon.svg")).status_code == 404
    raw = rclient.get(url("raw", entry, "assets/icon.svg"))
    assert raw["Content-Type"] == "application/octet-stream"
    assert raw["Content-Disposition"] == 'attachment; filename="icon.svg"'
    assert_hardened(raw)


def test_manifest_with_html_in_every_text_field(rclient, client, make_user, submit):
    entry = submit(
        {**FILES, "ui/p.html": b"<p>x</p>\n"},
        name=PAYLOAD,
        summary=PAYLOAD,
        description=PAYLOAD,
        authors=[PAYLOAD],
        permissions=[{"scope": "assets.write", "description": PAYLOAD}],
        routes=[
            {
                "path": "/ping",
                "entry": "main.py",
                "callable": "f",
                "summary": PAYLOAD,
                "name": PAYLOAD,
                "tags": [PAYLOAD],
            }
        ],
        ui={"panels": [{"slot": "sidebar", "label": PAYLOAD, "path": "ui/p.html"}]},
        events=[{"topic": "on_scene_enter", "entry": "main.py", "callable": "g"}],
        trust={"level": "unverified", "reason": PAYLOAD},
    )
    assert entry.name == PAYLOAD
    for view, path in [("tree", None), ("file", "manifest.json"), ("diff", None)]:
        response = rclient.get(url(view, entry, path))
        assert response.status_code == 200
        assert_inert(body(response))
    manifest_page = body(rclient.get(url("file", entry, "manifest.json")))
    assert "alert" in manifest_page  # shown, as text
    client.force_login(make_user("boss", superuser=True))
    for page in (
        reverse("admin:market_catalogentry_change", args=[entry.pk]),
        reverse("admin:market_catalogentry_changelist"),
    ):
        response = client.get(page)
        assert response.status_code == 200
        assert_inert(body(response))


@pytest.mark.parametrize(
    "name", ["docs/a;b \u00e9.txt", "docs/x'y.txt", "docs/z%0d%0a.txt"]
)
def test_raw_download_names_are_encoded_in_the_header(rclient, submit, name):
    entry = submit({**FILES, name: b"data\n"})
    response = rclient.get(url("raw", entry, name))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "\r" not in disposition and "\n" not in disposition
    assert b"".join(response.streaming_content) == b"data\n"
