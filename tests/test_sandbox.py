"""The route sandbox: segment-aware matching, trust levels and allowlist files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market import sandbox
from market.errors import ConfigError
from market.sandbox import (
    Allowlist,
    check_routes,
    default_allowlist,
    effective_path,
    effective_routes,
    load_allowlist_file,
    parse_allowlist,
    path_matches,
)

EXT = "sample.toolkit"


@pytest.fixture(autouse=True)
def market_root(tmp_path: Path) -> Path:
    """Overrides the Django-backed conftest fixture: this module is pure."""
    return tmp_path / "var"


def route(path: str, expose: str = "global") -> dict:
    return {"path": path, "methods": ["GET"], "expose": expose}


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/ws/modder", "/ws/modder", True),
        ("/ws/modder/", "/ws/modder", True),
        ("/ws/modder/x", "/ws/modder", True),
        ("/ws/modderevil", "/ws/modder", False),
        ("/ws/modder-x", "/ws/modder", False),
        ("/api/modder/x", "/api/modder/", True),
        ("/api/modder/x/y", "/api/modder/", True),
        ("/api/modder", "/api/modder/", True),
        ("/api/modderx", "/api/modder/", False),
        ("/api/Modder/x", "/api/modder/", False),
        ("/api/modder/../admin", "/api/modder/", False),
        ("/api/modder/./x", "/api/modder/", False),
        ("/api/modder//x", "/api/modder/", False),
        ("/api/modder/%2e%2e/admin", "/api/modder/", False),
        ("/api/modder\\x", "/api/modder/", False),
        ("/api/modder/x\x00", "/api/modder/", False),
        ("api/modder/x", "/api/modder/", False),
        ("/api", "/api/modder/", False),
    ],
)
def test_path_matches_is_segment_aware(path: str, prefix: str, expected: bool) -> None:
    assert path_matches(path, prefix) is expected


def test_default_allowlist() -> None:
    allow = default_allowlist()
    assert allow.for_level("unverified", EXT) == ()
    assert allow.for_level("verified", EXT) == (
        "/api/modder/",
        "/api/hooks/",
        f"/api/extensions/{EXT}/",
        "/ws/modder",
    )
    assert allow.for_level("nonsense", EXT) == ()


@pytest.mark.parametrize(
    "path",
    [
        "/api/modder/tools",
        "/api/hooks/on_scene_enter",
        f"/api/extensions/{EXT}/status",
        f"/api/extensions/{EXT}",
        "/ws/modder",
        "/ws/modder/feed",
    ],
)
def test_verified_global_routes_inside_allowlist(path: str) -> None:
    assert check_routes(EXT, [route(path)], "verified", default_allowlist()) == []


@pytest.mark.parametrize(
    "path",
    [
        "/ws/modderevil",
        "/api/admin",
        "/api/extensions/other.ext/steal",
        "/api/extensions/other.ext",
        "/api/extensions",
        "/api/extensions/",
        f"/api/extensions/{EXT}evil/x",
        "/api/modder/../market/install",
        "/",
    ],
)
def test_verified_global_routes_outside_allowlist(path: str) -> None:
    problems = check_routes(EXT, [route(path)], "verified", default_allowlist())
    assert [(p.path, p.code) for p in problems] == [
        ("routes[0].path", "route_not_allowed")
    ]


def test_other_namespace_refused_even_if_allowlisted() -> None:
    allow = parse_allowlist({"verified": ["/api/extensions/"]})
    problems = check_routes(
        EXT, [route("/api/extensions/other.ext/x")], "verified", allow
    )
    assert problems[0].code == "route_not_allowed"
    assert "another extension" in problems[0].message


def test_unverified_has_no_global_routes() -> None:
    routes = [
        route("/status", "extension"),
        route("/api/modder/x"),
        route("/ws/modder"),
        route(f"/api/extensions/{EXT}/x"),
    ]
    problems = check_routes(EXT, routes, "unverified", default_allowlist())
    assert [(p.path, p.code) for p in problems] == [
        ("routes[1].path", "route_not_allowed"),
        ("routes[2].path", "route_not_allowed"),
        ("routes[3].path", "route_not_allowed"),
    ]
    assert "cannot expose global routes" in problems[0].message


def test_unknown_trust_level_is_treated_as_unverified() -> None:
    problems = check_routes(EXT, [route("/api/modder/x")], "gold", None)
    assert [p.code for p in problems] == ["route_not_allowed"]


def test_extension_routes_always_allowed_but_must_be_plain() -> None:
    routes = [
        route("/", "extension"),
        route("/a/b", "extension"),
        {"path": "/default-expose"},
        route("/../../admin", "extension"),
        route("relative", "extension"),
    ]
    problems = check_routes(EXT, routes, "unverified", None)
    assert [p.path for p in problems] == ["routes[3].path", "routes[4].path"]


def test_malformed_route_entries_left_to_schema() -> None:
    assert check_routes(EXT, ["nope", {"path": 3}, {}], "verified", None) == []


def test_effective_paths() -> None:
    assert effective_path(EXT, route("/status", "extension")) == (
        f"/api/extensions/{EXT}/status"
    )
    assert effective_path(EXT, {"path": "/x"}) == f"/api/extensions/{EXT}/x"
    assert effective_path(EXT, route("/api/modder/x")) == "/api/modder/x"
    routes = [route("/a", "extension"), route("/ws/modder")]
    result = effective_routes(EXT, routes)
    assert [r["effective_path"] for r in result] == [
        f"/api/extensions/{EXT}/a",
        "/ws/modder",
    ]
    assert "effective_path" not in routes[0]


def test_parse_allowlist_merges_into_defaults() -> None:
    allow = parse_allowlist(
        {"verified": ["/api/studio/", "/api/modder/"], "unverified": []}
    )
    assert allow.for_level("verified", EXT) == (
        "/api/modder/",
        "/api/hooks/",
        f"/api/extensions/{EXT}/",
        "/ws/modder",
        "/api/studio/",
    )
    assert allow.for_level("unverified", EXT) == ()
    assert check_routes(EXT, [route("/api/studio/x")], "verified", allow) == []
    assert check_routes(EXT, [route("/api/studiox")], "verified", allow) != []
    # Merging again (as the server does with its setting) changes nothing.
    assert default_allowlist().merged(allow) == allow


def test_parse_allowlist_accepts_id_placeholder() -> None:
    allow = parse_allowlist({"verified": ["/api/studio/{id}/"]})
    assert f"/api/studio/{EXT}/" in allow.for_level("verified", EXT)
    assert check_routes(EXT, [route(f"/api/studio/{EXT}/x")], "verified", allow) == []
    assert check_routes(EXT, [route("/api/studio/other/x")], "verified", allow)


def test_allowlist_is_immutable_copy() -> None:
    source = {"verified": ["/api/a/"]}
    allow = Allowlist(source)
    source["verified"].append("/api/b/")
    assert allow.prefixes["verified"] == ("/api/a/",)


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        (["/api/x/"], "JSON object"),
        ("verified", "JSON object"),
        ({"trusted": ["/api/x/"]}, "unknown trust level"),
        ({"verified": "/api/x/"}, "list of path prefixes"),
        ({"verified": [3]}, "must be a string"),
        ({"verified": ["api/x/"]}, "must start with '/'"),
        ({"verified": ["/api/../admin/"]}, "'..'"),
        ({"verified": ["/api//x/"]}, "plain path"),
        ({"verified": ["/api\\x/"]}, "plain path"),
        ({"verified": ["/"]}, "every route"),
        ({"verified": ["/api/{name}/"]}, "placeholder"),
        ({"unverified": ["/api/public/"]}, "unverified bundles never expose global"),
    ],
)
def test_parse_allowlist_refuses_bad_shapes(obj, fragment: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_allowlist(obj)
    assert excinfo.value.code == "config_invalid"
    assert fragment in excinfo.value.message


def test_parse_allowlist_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_allowlist({"verified": ["ok", 1], "gold": []})
    paths = [p["path"] for p in excinfo.value.details["problems"]]
    assert paths == ["verified[0]", "verified[1]", "gold"]


def test_load_allowlist_file(tmp_path: Path) -> None:
    good = tmp_path / "allow.json"
    good.write_text(json.dumps({"verified": ["/api/studio/"]}))
    assert "/api/studio/" in load_allowlist_file(good).for_level("verified", EXT)

    cases = {
        "missing.json": (None, "cannot read"),
        "bad.json": (b"{nope", "not valid JSON"),
        "latin1.json": ('{"verified": ["/é/"]}'.encode("latin-1"), "not UTF-8"),
        "shape.json": (b'{"verified": "/x/"}', "list of path prefixes"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ConfigError) as excinfo:
            load_allowlist_file(path)
        assert fragment in excinfo.value.message, name


def test_module_is_pure() -> None:
    assert "django" not in sandbox.__dict__
    source = Path(sandbox.__file__).read_text()
    assert "import django" not in source
    assert "from django" not in source
