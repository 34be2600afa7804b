"""The diff page: files added, removed and changed since the last approved version,
with a line diff per changed text file."""

from __future__ import annotations

import html
import re

import pytest

from market import review
from market.workbench import views
from tests.bundles import FILES
from tests.workbench.conftest import PNG, body, url


@pytest.fixture
def approved(submit):
    def make(files=None, **manifest):
        entry = submit(files, **manifest)
        return review.catalog_entry_approve(entry=entry)

    return make


def test_first_version_says_everything_is_new(rclient, submit):
    entry = submit()
    page = body(rclient.get(url("diff", entry)))
    assert "No earlier approved version" in page


def test_code_only_change_shows_the_file_and_its_lines(rclient, approved, submit):
    approved({**FILES, "pkg/logic.py": b"def f():\n    return 1\n\n\nX = 'same'\n"})
    entry = submit(
        {**FILES, "pkg/logic.py": b"def f():\n    return 2\n\n\nX = 'same'\n"},
        version="2.0.0",
    )
    response = rclient.get(url("diff", entry))
    assert response.status_code == 200
    page = html.unescape(body(response))
    assert "Since approved version 1.0.0" in page
    assert "0 added, 0 removed, 2 changed" in page  # the code and the manifest
    assert "pkg/logic.py" in page
    assert "+1 \u22121" in page
    plain = _plain(page)  # highlighting splits the lines into spans
    assert "--- 1.0.0/pkg/logic.py" in plain
    assert "+++ 2.0.0/pkg/logic.py" in plain
    assert "-    return 1" in plain
    assert "+    return 2" in plain
    assert "X = 'same'" in plain  # context


def _plain(page: str) -> str:
    """The page's text with Pygments' markup removed."""
    return re.sub(r"<[^>]+>", "", page)


def test_added_removed_and_binary_changes(rclient, approved, submit):
    approved({**FILES, "old.txt": b"gone\n", "assets/icon.png": PNG})
    entry = submit(
        {**FILES, "new.txt": b"fresh\n", "assets/icon.png": PNG + b"\0"},
        version="1.1.0",
    )
    page = _plain(html.unescape(body(rclient.get(url("diff", entry)))))
    assert "1 added, 1 removed, 2 changed" in page
    assert "new.txt" in page and "old.txt" in page
    assert "binary file changed" in page


def test_compares_with_the_newest_approved_version_below(rclient, approved, submit):
    approved({**FILES, "v.txt": b"one\n"})
    approved({**FILES, "v.txt": b"two\n"}, version="1.5.0")
    approved({**FILES, "v.txt": b"four\n"}, version="4.0.0")
    entry = submit({**FILES, "v.txt": b"three\n"}, version="2.0.0")
    page = _plain(html.unescape(body(rclient.get(url("diff", entry)))))
    assert "Since approved version 1.5.0" in page
    assert "-two" in page and "+three" in page


def test_large_diffs_are_collapsed_and_cut(rclient, approved, submit, monkeypatch):
    monkeypatch.setattr(views, "FILE_DIFF_LINES", 50)
    monkeypatch.setattr(views, "COLLAPSE_LINES", 20)
    old = "".join(f"line {i}\n" for i in range(200)).encode()
    new = "".join(f"LINE {i}\n" for i in range(200)).encode()
    approved({**FILES, "big.txt": old, "small.txt": b"a\n"})
    entry = submit({**FILES, "big.txt": new, "small.txt": b"b\n"}, version="2.0.0")
    page = html.unescape(body(rclient.get(url("diff", entry))))
    assert "<details><summary>Large diff: 403 lines (+200 \u2212200)" in page
    assert "the first 50 are shown" in page
    plain = _plain(page)
    assert "-line 10" in plain and "-line 150" not in plain
    assert "+b" in plain  # the small file's diff is shown open


def test_page_budget_stops_rendering_diffs(rclient, approved, submit, monkeypatch):
    monkeypatch.setattr(views, "PAGE_DIFF_LINES", 10)
    approved({**FILES, "a.txt": b"1\n2\n3\n4\n5\n6\n", "b.txt": b"x\n"})
    entry = submit(
        {**FILES, "a.txt": b"one\ntwo\nthree\nfour\nfive\nsix\n", "b.txt": b"y\n"},
        version="2.0.0",
    )
    page = _plain(html.unescape(body(rclient.get(url("diff", entry)))))
    assert "diff not shown: this page's diff budget is spent" in page
    assert "b.txt" in page


def test_unreadable_approved_bundle_is_said(rclient, approved, submit):
    old = approved()
    old.package.storage.delete(old.package.name)
    entry = submit({**FILES, "x.txt": b"x\n"}, version="2.0.0")
    response = rclient.get(url("diff", entry))
    assert response.status_code == 200
    assert "could not be read" in body(response)
