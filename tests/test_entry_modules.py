"""A route's or event's ``entry`` names a module the bundle packs.

One rule in the pure layer (``market.manifest.views``), so the packager, ``validate``
(source folders and bundles) and submissions refuse it alike: ``missing_entry_module``
at the entry's path, among the manifest's other problems.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from market.errors import ManifestError
from market.manifest import entry_module_files, missing_entry_problems
from market.models import CatalogEntry, LifecycleError
from market.packaging import build_package
from tests.bundles import good_entries, write_zip

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
ROUTE = {"path": "/hello", "methods": ["GET"]}


@pytest.mark.parametrize(
    ("entry", "files"),
    [
        ("pkg/mod.py", None),  # a referenced file: missing_file's business
        ("pkg/mod.py:run", ("pkg/mod.py",)),
        ("pkg.mod", ("pkg/mod.py", "pkg/mod/__init__.py")),
        ("pkg.mod:run", ("pkg/mod.py", "pkg/mod/__init__.py")),
        ("hello", ("hello.py", "hello/__init__.py")),
        ("pkg/mod", ("pkg/mod.py", "pkg/mod/__init__.py")),
    ],
)
def test_the_files_an_entry_can_name(entry, files):
    assert entry_module_files(entry) == files


def test_a_package_or_a_module_file_satisfies_a_module_name():
    data = {
        "routes": [
            {**ROUTE, "entry": "pkg.mod:run"},
            {**ROUTE, "entry": "pkg.sub"},
            {**ROUTE, "entry": "tools.py:run"},
            {**ROUTE},  # no entry: declared for review only
        ],
        "events": [{"topic": "t", "entry": "pkg.sub:on_event"}],
    }
    present = {"pkg/mod.py", "pkg/sub/__init__.py", "tools.py"}
    assert missing_entry_problems(data, present) == []
    missing = missing_entry_problems(data, {"pkg/mod.py"})
    assert [(p.path, p.code) for p in missing] == [
        ("routes[1].entry", "missing_entry_module"),
        ("routes[2].entry", "missing_entry_module"),
        ("events[0].entry", "missing_entry_module"),
    ]
    assert missing[0].message == (
        "'pkg.sub' names a module the bundle does not pack: neither 'pkg/sub.py' "
        "nor 'pkg/sub/__init__.py' is in the bundle"
    )
    assert missing[1].message == (
        "'tools.py:run' names a module the bundle does not pack: 'tools.py' is not "
        "in the bundle"
    )


def _source(tmp_path: Path, entry: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(FIXTURES / "hello_minimal", src)
    path = src / "manifest.json"
    data = json.loads(path.read_text())
    data["routes"][0]["entry"] = entry
    path.write_text(json.dumps(data))
    return src


def test_the_packager_refuses_an_unpacked_entry_module_with_every_other_problem(
    tmp_path,
):
    src = _source(tmp_path, "hello_pkg.routes:hello")
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    assert [(p.path, p.code) for p in exc.value.problems] == [
        ("routes[0].entry", "missing_entry_module")
    ]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    data = json.loads((src / "manifest.json").read_text())
    data["version"] = "x"
    (src / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    codes = {p.path: p.code for p in exc.value.problems}
    assert codes["routes[0].entry"] == "missing_entry_module" and "version" in codes
    # packing the module makes the same manifest good
    data["version"] = "0.2.0"
    (src / "manifest.json").write_text(json.dumps(data))
    (src / "hello_pkg" / "routes").mkdir(parents=True)
    (src / "hello_pkg" / "routes" / "__init__.py").write_text("def hello(r): ...\n")
    assert build_package(src, tmp_path / "out").manifest.version == "0.2.0"


def test_a_module_left_out_by_ignore_is_missing(tmp_path):
    src = _source(tmp_path, "hello:hello")
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out", ignore=["hello.py"])
    assert [p.code for p in exc.value.problems] == ["missing_entry_module"]
    assert build_package(src, tmp_path / "out").files == 2


def _validate(target: Path) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        err = io.StringIO()
        call_command("validate", str(target), "--json", stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


EXPECTED = [
    {
        "path": "routes[0].entry",
        "code": "missing_entry_module",
        "message": "'app.handlers:hello' names a module the bundle does not pack: "
        "neither 'app/handlers.py' nor 'app/handlers/__init__.py' is in the bundle",
    }
]


def test_validate_refuses_it_in_a_source_folder_and_in_a_bundle(tmp_path):
    code, payload = _validate(_source(tmp_path, "app.handlers:hello"))
    assert code == 65 and payload["error"]["details"]["problems"] == EXPECTED
    routes = [{**ROUTE, "entry": "app.handlers:hello"}]
    bundle = write_zip(tmp_path / "b.cvnext", good_entries(routes=routes))
    code, payload = _validate(bundle)
    assert code == 65 and payload["error"]["code"] == "manifest_invalid"
    assert payload["error"]["details"]["problems"] == EXPECTED
    files = {"main.py": b"x = 1\n", "app/handlers.py": b"def hello(r): ...\n"}
    good = write_zip(tmp_path / "g.cvnext", good_entries(files, routes=routes))
    assert _validate(good)[0] == 0


def test_a_module_removed_after_packaging_is_a_content_mismatch(tmp_path):
    files = {"main.py": b"x = 1\n", "app/handlers.py": b"def hello(r): ...\n"}
    routes = [{**ROUTE, "entry": "app.handlers:hello"}]
    entries = good_entries(files, routes=routes)
    bundle = write_zip(
        tmp_path / "b.cvnext", [e for e in entries if e[0] != "app/handlers.py"]
    )
    code, payload = _validate(bundle)
    assert code == 1 and payload["error"]["code"] == "content_mismatch"


def test_a_submission_naming_an_unpacked_module_is_refused_and_stores_nothing(
    flags_on, token_client, make_user, tmp_path, market_root
):
    modder = make_user("modder", "market.submit_catalogentry")
    routes = [{**ROUTE, "entry": "app.handlers:hello"}]
    bundle = write_zip(tmp_path / "b.cvnext", good_entries(routes=routes))
    with bundle.open("rb") as fh:
        response = token_client(modder).post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "manifest_invalid"
    assert error["details"]["problems"] == EXPECTED
    assert CatalogEntry.objects.count() == 0
    assert LifecycleError.objects.get().code == "manifest_invalid"
    assert not (market_root / "catalog").exists() or not any(
        (market_root / "catalog").rglob("*.cvnext")
    )
