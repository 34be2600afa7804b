"""Server paths never leave the server: the sanitiser on its own."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.redact import PLACEHOLDER, redact, redact_text

ROOTS = ("/srv/comfyvn-market", "/opt/app")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            str(FileNotFoundError(errno.ENOENT, "No such file", f"{ROOTS[0]}/x")),
            f"[Errno 2] No such file: '{PLACEHOLDER}'",
        ),
        (
            str(PermissionError(errno.EACCES, "Permission denied", "/home/u/a b.pem")),
            f"[Errno 13] Permission denied: '{PLACEHOLDER} b.pem'",
        ),
        (
            "cannot write /opt/app/var/staging/x.tmp: No space left on device",
            f"cannot write {PLACEHOLDER}: No space left on device",
        ),
        ("key file /opt/app.", f"key file {PLACEHOLDER}."),
        ("/tmp/abc", PLACEHOLDER),
        ("see /var/lib/market/db.sqlite3 (locked)", f"see {PLACEHOLDER} (locked)"),
        (r"C:\Users\bob\market\x.cvnext missing", f"{PLACEHOLDER} missing"),
        (r"\\fileserver\share\x.cvnext", PLACEHOLDER),
        ("file:///etc/passwd", PLACEHOLDER),
        # Not server paths: routes, URLs, relative names, JSON paths.
        ("global route /api/modder/x is fine", "global route /api/modder/x is fine"),
        ("/ws/modder", "/ws/modder"),
        ("http://example.org/tmp/x", "http://example.org/tmp/x"),
        ("entry assets/tmp/a.png", "entry assets/tmp/a.png"),
        ("routes[2].path: must start with /", "routes[2].path: must start with /"),
        ("/srv/comfyvn-marketplace/x", PLACEHOLDER),  # generic net: /srv
        ("/optional/thing", "/optional/thing"),
    ],
)
def test_realistic_messages(text, expected):
    assert redact_text(text, ROOTS) == expected


def test_roots_anywhere_in_the_text():
    assert redact_text("in /opt/app and /opt/app/x, then /api/app", ROOTS) == (
        f"in {PLACEHOLDER} and {PLACEHOLDER}, then /api/app"
    )


def test_a_root_outside_the_system_folders_is_redacted_too():
    roots = ("/market-data",)
    assert redact_text("cannot read /market-data/k.pem", roots) == (
        f"cannot read {PLACEHOLDER}"
    )
    assert redact_text("cannot read /market-database/k", roots) == (
        "cannot read /market-database/k"
    )


def test_nested_values_and_keys():
    value = {
        "path": "/srv/comfyvn-market/var/x",
        "/opt/app/key": ["ok", ("/tmp/y", 3)],
        "n": None,
        "count": 2,
    }
    assert redact(value, ROOTS) == {
        "path": PLACEHOLDER,
        PLACEHOLDER: ["ok", [PLACEHOLDER, 3]],
        "n": None,
        "count": 2,
    }


SEGMENT = st.text(
    alphabet=st.characters(blacklist_characters="/\\\x00", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=12,
)


@given(
    prefix=st.text(max_size=20),
    segments=st.lists(SEGMENT, min_size=0, max_size=4),
    root=st.sampled_from(ROOTS),
)
def test_no_root_survives_whatever_surrounds_it(prefix, segments, root):
    path = os.path.join(root, *segments)
    text = redact_text(f"{prefix} {path}: failed", ROOTS)
    assert root not in text
