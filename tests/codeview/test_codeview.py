"""The pure code-view package: file kinds, highlighting, tree and line diffs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market import codeview
from market.codeview import FileState
from tests.workbench.conftest import PNG

ROOT = Path(__file__).resolve().parents[2]


def test_diff_trees_by_digest():
    old = [FileState("a", 1, "1"), FileState("b", 1, "2"), FileState("c", 1, "3")]
    new = [FileState("b", 1, "2"), FileState("c", 2, "4"), FileState("d", 1, "5")]
    diff = codeview.diff_trees(old, new)
    assert [f.name for f in diff.added] == ["d"]
    assert [f.name for f in diff.removed] == ["a"]
    assert [(o.sha256, n.sha256) for o, n in diff.changed] == [("3", "4")]
    assert diff.unchanged == 1
    assert not diff.is_empty
    assert codeview.diff_trees(old, old).is_empty


def test_diff_text_counts_and_cuts():
    lines = [f"{i}\n" for i in range(100)]
    old = "".join(lines)
    new = "".join(lines[:7] + lines[8:50] + ["fifty\n"] + lines[51:])
    diff = codeview.diff_text(old, new, old_name="1/x", new_name="2/x")
    assert diff.lines[:2] == ("--- 1/x", "+++ 2/x")
    assert (diff.added, diff.removed) == (1, 2)
    assert "+fifty" in diff.lines and "-50" in diff.lines
    assert not diff.truncated
    cut = codeview.diff_text(old, new, max_lines=4)
    assert len(cut.lines) == 4
    assert cut.truncated
    assert cut.total_lines == diff.total_lines
    assert (cut.added, cut.removed) == (1, 2)  # counted past the cut


def test_identical_texts_have_an_empty_diff():
    diff = codeview.diff_text("a\n", "a\n")
    assert diff.lines == () and diff.total_lines == 0


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.png", PNG, "image/png"),
        ("A.PNG", PNG, "image/png"),
        ("a.jpg", b"\xff\xd8\xff\xe0", "image/jpeg"),
        ("a.gif", b"GIF89a....", "image/gif"),
        ("a.webp", b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        ("a.jpg", PNG, None),
        ("a.png", b"<svg/>", None),
        ("a.svg", b"<svg/>", None),
        ("png", PNG, None),
    ],
)
def test_image_type_needs_name_and_bytes_to_agree(name, head, expected):
    assert codeview.image_type(name, head) == expected


def test_file_kind():
    assert codeview.file_kind("a.png", PNG) == "image"
    assert codeview.file_kind("a.svg", b"<svg/>") == "text"
    assert codeview.file_kind("a.py", "é = 1\n".encode()) == "text"
    assert codeview.file_kind("a.bin", b"a\0b") == "binary"
    assert codeview.file_kind("a.txt", b"\xff\xfe") == "binary"
    cut = "ab\u00e9".encode()[:-1]  # a read that ended inside a character
    assert codeview.file_kind("a.txt", cut, truncated=True) == "text"
    assert codeview.file_kind("a.txt", cut) == "binary"


def test_highlighting_escapes_everything():
    page = codeview.highlight_file("x.html", "<script>alert(1)</script>\n&amp;\n")
    assert "<script>" not in page
    assert "&lt;" in page and "&amp;amp;" in page
    assert 'id="L-1"' in page and 'id="L-2"' in page
    assert "style=" not in page
    diff = codeview.highlight_diff(["--- a", "+++ b", "+<script>x</script>"])
    assert "<script>" not in diff and "style=" not in diff


@pytest.mark.parametrize("name", ["noext", "x.unknown-ext", ".hidden", "a/b/", "a.py"])
def test_lexer_by_name_never_fails(name):
    assert codeview.highlight_file(name, "x = 1\n").count('id="L-1"') == 1


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["a.py", "a.js", "a.html", "a.svg"]))
def test_highlighting_arbitrary_text_never_raises(text, name):
    page = codeview.highlight_file(name, text)
    assert "<script" not in page


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_diff_text_of_arbitrary_texts(old, new):
    diff = codeview.diff_text(old, new, max_lines=20)
    assert len(diff.lines) <= 20
    assert diff.total_lines >= len(diff.lines)


def test_stylesheet_in_static_matches_pygments():
    css = (ROOT / "static" / "market" / "workbench.css").read_text()
    assert codeview.stylesheet() in css


def test_package_is_pure():
    for module in sorted(Path(codeview.__file__).parent.glob("*.py")):
        assert "django" not in module.read_text(), module.name


def test_diff_files_within_a_page_budget():
    from market.codeview import DiffBudget, FileVersions

    big_old = "".join(f"{i}\n" for i in range(50)).encode()
    big_new = "".join(f"n{i}\n" for i in range(50)).encode()
    found = codeview.diff_files(
        [
            FileVersions("a.py", b"x = 1\n", b"x = 2\n"),
            FileVersions("b.bin", b"\0\1", b"\0\2"),
            FileVersions("c.txt", big_old, big_new, new_cut=True),
            FileVersions("d.txt", b"a\n", b"b\n"),
        ],
        old_label="1.0.0",
        new_label="2.0.0",
        budget=DiffBudget(page_lines=25, file_lines=20, collapse_lines=10),
    )
    a, b, c, d = found
    assert a.diff is not None and a.diff.lines[0] == "--- 1.0.0/a.py"
    assert not a.collapsed and a.skipped == ""
    assert b.skipped == "binary" and b.diff is None
    assert c.diff is not None and len(c.diff.lines) == 20 and c.diff.truncated
    assert c.collapsed and c.partial_input
    assert d.skipped == "budget"  # 5 + 20 lines spent, then c took the rest
