"""The workbench views: file tree, file pages, raw bytes, the package, access."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import review
from market.models import CatalogEntry
from tests.bundles import FILES
from tests.workbench.conftest import PNG, assert_hardened, body, url


def test_tree_lists_every_file_with_size_and_digest(rclient, submit):
    entry = submit()
    response = rclient.get(url("tree", entry))
    assert response.status_code == 200
    assert_hardened(response)
    page = body(response)
    for name, data in FILES.items():
        assert name in page
        assert hashlib.sha256(data).hexdigest() in page
        assert f'<td class="num">{len(data)}</td>' in page
    assert "manifest.json" in page
    assert "Score <strong>0</strong>" in page


def test_tree_links_risk_findings_to_their_line(rclient, submit):
    entry = submit({**FILES, "pkg/run.py": b"x = 1\nimport subprocess\n"})
    page = body(rclient.get(url("tree", entry)))
    assert "process_exec" in page
    assert f'href="{url("file", entry, "pkg/run.py")}#L-2"' in page.replace(
        "&amp;", "&"
    )
    assert "pkg/run.py:2" in page


def test_text_file_has_line_numbers_and_highlighting(rclient, submit):
    entry = submit({**FILES, "pkg/run.py": b"def f():\n    return 'hi'\n"})
    response = rclient.get(url("file", entry, "pkg/run.py"))
    assert response.status_code == 200
    assert_hardened(response)
    page = body(response)
    assert 'id="L-1"' in page and 'id="L-2"' in page
    assert '<span class="k">def</span>' in page
    assert hashlib.sha256(b"def f():\n    return 'hi'\n").hexdigest() in page
    assert "market/workbench.css" in page


def test_large_text_file_is_cut_with_a_note(rclient, submit, monkeypatch):
    from market.workbench import bundles

    monkeypatch.setattr(bundles, "VIEW_BYTES", 100)
    entry = submit({**FILES, "big.txt": b"line\n" * 100})
    page = body(rclient.get(url("file", entry, "big.txt")))
    assert "The first 100" in page
    assert 'id="L-20"' in page and 'id="L-21"' not in page


def test_image_is_shown_inline_from_its_own_endpoint(rclient, submit):
    entry = submit({**FILES, "assets/icon.png": PNG})
    page = body(rclient.get(url("file", entry, "assets/icon.png")))
    image_url = url("image", entry, "assets/icon.png")
    assert f'src="{image_url}"'.replace("&", "&amp;") in page or image_url in page
    response = rclient.get(image_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == PNG
    assert response["Content-Disposition"].startswith("inline")
    assert_hardened(response)
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("assets/fake.png", b"<html><script>alert(1)</script></html>"),
        ("assets/icon.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("main.py", FILES["main.py"]),
        ("assets/photo.jpg", PNG),  # name and bytes disagree
    ],
)
def test_image_endpoint_serves_real_raster_images_only(rclient, submit, name, data):
    entry = submit({**FILES, name: data})
    response = rclient.get(url("image", entry, name))
    assert response.status_code == 404
    assert_hardened(response)


def test_binary_file_is_metadata_only(rclient, submit):
    elf = b"\x7fELF\x02\x01\x01" + bytes(200) + b"<script>alert(1)</script>"
    entry = submit({**FILES, "lib/tool.so": elf})
    page = body(rclient.get(url("file", entry, "lib/tool.so")))
    assert "native ELF executable" in page
    assert hashlib.sha256(elf).hexdigest() in page
    assert "alert(1)" not in page
    assert 'class="highlight"' not in page


def test_raw_download_is_an_attachment(rclient, submit):
    entry = submit()
    response = rclient.get(url("raw", entry, "assets/readme.txt"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="readme.txt"'
    assert response["Content-Length"] == str(len(FILES["assets/readme.txt"]))
    assert b"".join(response.streaming_content) == FILES["assets/readme.txt"]
    assert_hardened(response)


def test_package_download_for_reviewers(rclient, submit):
    entry = submit()
    response = rclient.get(url("download", entry))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{entry.extension_id}-{entry.version}.cvnext"'
    )
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == entry.package_sha256
    assert_hardened(response)


def test_package_link_on_the_entry_page_downloads_the_bundle(client, make_user, submit):
    client.force_login(make_user("boss", superuser=True))
    entry = submit()
    page = body(
        client.get(reverse("admin:market_catalogentry_change", args=[entry.pk]))
    )
    assert f'href="{url("download", entry)}"' in page
    assert f'href="{url("tree", entry)}"' in page
    assert "/media/" not in page
    assert client.get(url("download", entry)).status_code == 200


# --- who may look ---

VIEWS = [
    ("tree", None),
    ("file", "main.py"),
    ("raw", "main.py"),
    ("image", "main.py"),
    ("diff", None),
    ("download", None),
]


@pytest.mark.parametrize(("view", "path"), VIEWS)
def test_anonymous_is_sent_to_the_login(client, submit, view, path):
    entry = submit()
    response = client.get(url(view, entry, path))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert_hardened(response)


@pytest.mark.parametrize(("view", "path"), VIEWS)
def test_non_staff_with_the_permission_is_sent_to_the_login(
    client, make_user, submit, view, path
):
    client.force_login(make_user("modder", "market.review_catalogentry"))
    entry = submit()
    response = client.get(url(view, entry, path))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(("view", "path"), VIEWS)
def test_staff_without_the_review_permission_is_refused(
    client, make_user, submit, view, path
):
    clerk = make_user(
        "clerk", "market.view_catalogentry", "market.change_catalogentry", staff=True
    )
    client.force_login(clerk)
    entry = submit()
    response = client.get(url(view, entry, path))
    assert response.status_code == 403
    assert_hardened(response)
    assert b"print" not in response.content


def test_unknown_entry_is_404(rclient, submit):
    entry = submit()
    response = rclient.get(reverse("market-workbench:tree", args=[entry.pk + 100]))
    assert response.status_code == 404
    assert_hardened(response)


# --- paths that are not members ---


@pytest.fixture
def outside_file(tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("OUTSIDE-THE-BUNDLE")
    return secret


@pytest.mark.parametrize("view", ["file", "raw", "image"])
@pytest.mark.parametrize(
    "path",
    [
        "../main.py",
        "./main.py",
        "assets/../main.py",
        "/main.py",
        "main.py\x00",
        "main.py\x00.png",
        "main.py/",
        "MAIN.PY",
        "assets\\readme.txt",
        "unknown.py",
        "",
        "{outside}",
        "../../../../../../../..{outside}",
        "file://{outside}",
    ],
)
def test_a_path_that_is_not_a_member_is_404(rclient, submit, outside_file, view, path):
    entry = submit()
    response = rclient.get(url(view, entry, path.format(outside=outside_file)))
    assert response.status_code == 404
    assert_hardened(response)
    assert "OUTSIDE-THE-BUNDLE" not in body(response)


@pytest.mark.parametrize("view", ["file", "raw", "image"])
def test_no_path_is_404(rclient, submit, view):
    entry = submit()
    assert rclient.get(url(view, entry)).status_code == 404


def test_a_missing_stored_bundle_is_refused_in_plain_text(rclient, submit):
    entry = submit()
    entry.package.storage.delete(entry.package.name)
    response = rclient.get(url("tree", entry))
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/plain")
    assert_hardened(response)
    assert rclient.get(url("download", entry)).status_code == 404


# --- query budget ---


def _grown(submit, files: int):
    many = {f"pkg/m{i:04}.py": f"X = {i}\n".encode() for i in range(files)}
    entry = submit({**FILES, **many}, version=f"1.0.{files}")
    for extra in range(files // 10):
        submit({"x.py": b"x\n"}, version=f"0.0.{extra}")
    return entry


@pytest.mark.parametrize("files", [5, 300])
def test_tree_page_query_budget(rclient, submit, django_assert_max_num_queries, files):
    entry = _grown(submit, files)
    with django_assert_max_num_queries(6):
        response = rclient.get(url("tree", entry))
    assert response.status_code == 200
    assert body(response).count("pkg/m0") == files


@pytest.mark.parametrize("files", [5, 300])
def test_file_page_query_budget(rclient, submit, django_assert_max_num_queries, files):
    entry = _grown(submit, files)
    with django_assert_max_num_queries(6):
        response = rclient.get(url("file", entry, "pkg/m0003.py"))
    assert response.status_code == 200
    assert 'id="L-1"' in body(response)


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_pages_only_read(rclient, submit, method):
    entry = submit()
    response = getattr(rclient, method)(url("tree", entry))
    assert response.status_code in (403, 405)  # CSRF or method refused
    assert_hardened(response)
    assert rclient.head(url("tree", entry)).status_code == 200


def test_entry_page_shows_the_risk_score(client, make_user, submit):
    client.force_login(make_user("boss", superuser=True))
    entry = submit({**FILES, "pkg/run.py": b"import ctypes\n"})
    page = body(
        client.get(reverse("admin:market_catalogentry_change", args=[entry.pk]))
    )
    assert "Score <strong>15</strong> of 100 &middot; 1 finding" in page
    assert "bundle/file/?path=pkg%2Frun.py#L-1" in page


def test_pages_need_nothing_the_csp_forbids(rclient, submit):
    """No inline script or style: the pages work under their own CSP."""
    entry = submit({**FILES, "pkg/run.py": b"import ctypes\n", "i.png": PNG})
    for page_url in (
        url("tree", entry),
        url("file", entry, "pkg/run.py"),
        url("file", entry, "i.png"),
        url("diff", entry),
    ):
        page = body(rclient.get(page_url))
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts and all(" src=" in tag for tag in scripts), page_url
        assert not re.search(r"<[^>]+\sstyle=", page), page_url
        assert "<style" not in page, page_url
        assert not re.search(r"<[^>]+\son[a-z]+=", page), page_url


@pytest.mark.parametrize(
    ("view", "path"),
    [
        ("tree", None),
        ("file", "main.py"),
        ("raw", "main.py"),
        ("download", None),
        ("diff", None),
    ],
)
def test_a_bundle_changed_in_storage_is_refused(rclient, submit, tmp_path, view, path):
    review.catalog_entry_approve(entry=submit(version="0.9.0"))
    entry = submit()
    other = submit({**FILES, "main.py": b"print('changed')\n"}, version="9.0.0")
    Path(entry.package.path).write_bytes(Path(other.package.path).read_bytes())
    response = rclient.get(url(view, entry, path))
    assert response.status_code == 422
    assert "content_mismatch" in body(response)
    assert "changed" not in body(response).replace("content_mismatch", "")
    assert_hardened(response)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=st.text(max_size=30) | st.sampled_from(sorted(FILES)))
def test_any_path_is_a_member_or_404(rclient, submit, name):
    entry = CatalogEntry.objects.first() or submit()
    for view in ("file", "raw"):
        response = rclient.get(url(view, entry, name))
        expected = 200 if name in {*FILES, "manifest.json"} else 404
        assert response.status_code == expected, (view, name)
        assert_hardened(response)
