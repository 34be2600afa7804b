"""``manage.py package`` and ``manage.py validate``: output, exit codes, options."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "extensions"
HEX = "[0-9a-f]{64}"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def src(tmp_path) -> Path:
    path = tmp_path / "src" / "sample_toolkit"
    shutil.copytree(FIXTURES / "sample_toolkit", path)
    return path


def edit_manifest(src: Path, change) -> None:
    path = src / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_package_prints_the_spec_block(src, tmp_path):
    code, out, err = run("package", str(src), "--output", str(tmp_path / "out"))
    assert code == 0 and err == UNPROVEN_WARNING
    bundle = (tmp_path / "out" / "sample.toolkit-1.2.3.cvnext").resolve()
    pattern = (
        rf"\[ok\] created {re.escape(str(bundle))}\n"
        rf"      files=7 bytes={bundle.stat().st_size} sha256={HEX}\n"
        r"      manifest id=sample\.toolkit version=1\.2\.3\n"
        rf"      trust=verified manifest_sha256={HEX}\n"
    )
    assert re.fullmatch(pattern, out), out


UNPROVEN_WARNING = (
    "[warn] trust.level: claims verified without proof: installing it is refused "
    "(trust_unproven) until the catalogue approves it as verified or a trusted key "
    "signs it (docs/manifest.md#how-a-bundle-becomes-verified) [trust_unproven]\n"
)


def test_claiming_verified_warns_that_install_needs_proof(src, tmp_path):
    out_dir = tmp_path / "out"
    assert run("package", str(src), "--output", str(out_dir))[2] == UNPROVEN_WARNING
    bundle = out_dir / "sample.toolkit-1.2.3.cvnext"
    for target in (src, bundle):
        code, out, err = run("validate", str(target))
        assert code == 0 and out.startswith("[ok] sample.toolkit 1.2.3 ")
        assert err == UNPROVEN_WARNING
        payload = json.loads(run("validate", str(target), "--json")[1])
        assert {
            "path": "trust.level",
            "code": "trust_unproven",
            "message": UNPROVEN_WARNING[
                len("[warn] trust.level: ") : -len(" [trust_unproven]\n")
            ],
        } in payload["warnings"]
    hello = FIXTURES / "hello_minimal"
    # Unverified bundles promise nothing; --trust verified claims and is warned.
    assert run("validate", str(hello))[2] == ""
    assert run("validate", str(hello), "--trust", "verified")[2] == UNPROVEN_WARNING
    # A bundle carrying an ed25519 signature has its proof with it: install decides.
    edit_manifest(
        src, lambda d: d["trust"].update(signature="ed25519:" + "A" * 86 + "==")
    )
    assert run("validate", str(src))[2] == ""


def test_allowlist_file_cannot_give_unverified_bundles_global_routes(tmp_path):
    allowlist = tmp_path / "allow.json"
    allowlist.write_text(json.dumps({"unverified": ["/api/public/"]}))
    hello = FIXTURES / "hello_minimal"
    for command in ("package", "validate"):
        code, out, err = run(
            command,
            str(hello),
            "--output" if command == "package" else "--trust",
            str(tmp_path / "out") if command == "package" else "unverified",
            "--allowlist",
            str(allowlist),
        )
        assert (code, out) == (1, "")
        assert err == (
            "[error] config_invalid: invalid route allowlist: unverified: unverified "
            "bundles never expose global routes, so they get no allowlisted prefixes; "
            'list these prefixes under "verified", or expose the routes as '
            "'extension' (mounted under /api/extensions/<id>)\n"
        )
    assert not (tmp_path / "out").exists()
    allowlist.write_text(json.dumps({"unverified": [], "verified": ["/api/tools/"]}))
    assert run("validate", str(hello), "--allowlist", str(allowlist))[0] == 0


def test_default_output_is_the_current_folder(src, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("package", str(src))[0] == 0
    assert (tmp_path / "sample.toolkit-1.2.3.cvnext").is_file()


def test_json_output_is_one_object(src, tmp_path):
    code, out, _ = run("package", str(src), "--output", str(tmp_path), "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["ok"] is True
    assert payload["manifest"] == {
        "id": "sample.toolkit",
        "version": "1.2.3",
        "trust": "verified",
    }
    assert payload["bytes"] == Path(payload["path"]).stat().st_size
    assert payload["content"]["files"] == payload["files"] - 1


def test_manifest_errors_list_every_problem_and_exit_65(src, tmp_path):
    edit_manifest(
        src,
        lambda d: d.update(
            version="1.0.0/../../x", permissions=["nope"], hooks=["on_nothing"]
        ),
    )
    code, out, err = run("package", str(src), "--output", str(tmp_path / "out"))
    assert code == 65 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("[error] manifest_invalid: ")
    assert any(re.fullmatch(r"  version: .* \[invalid_version\]", ln) for ln in lines)
    assert any(ln.startswith("  permissions[0]") for ln in lines)
    assert any(ln.startswith("  hooks[0]") for ln in lines)
    assert not (tmp_path / "out").exists()


def test_route_outside_allowlist_exits_65_and_allowlist_file_widens_it(src, tmp_path):
    edit_manifest(src, lambda d: d["routes"][0].update(path="/api/tools/scenes"))
    code, _, err = run("package", str(src), "--output", str(tmp_path))
    assert code == 65
    assert "  routes[0].path: " in err and "[route_not_allowed]" in err
    allowlist = tmp_path / "allow.json"
    allowlist.write_text(json.dumps({"verified": ["/api/tools/"]}))
    args = ("package", str(src), "--output", str(tmp_path), "--allowlist")
    assert run(*args, str(allowlist))[0] == 0


def test_missing_referenced_files_exit_65(src, tmp_path):
    (src / "assets" / "icon.png").unlink()
    code, out, err = run("package", str(src), "--output", str(tmp_path / "out"))
    assert code == 65 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("[error] manifest_invalid: ")
    assert "  ui.panels[0].icon: 'assets/icon.png' is not in the bundle" in err
    assert "[missing_file]" in err
    assert not (tmp_path / "out").exists()
    status, _, err = run("validate", str(src), "--ignore", "ui")
    assert status == 65 and "  ui.panels[0].path: " in err


def test_missing_file_in_a_bundle_exits_65(tmp_path):
    manifest = json.loads((FIXTURES / "hello_minimal" / "manifest.json").read_text())
    manifest["routes"][0]["entry"] = "pkg/missing.py"
    bundle = tmp_path / "hand-made.cvnext"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("hello.py", "def hello():\n    return 'hi'\n")
    status, out, _ = run("validate", str(bundle), "--json")
    payload = json.loads(out)
    assert status == 65 and payload["ok"] is False
    assert payload["error"]["details"]["problems"] == [
        {
            "path": "routes[0].entry",
            "code": "missing_file",
            "message": "'pkg/missing.py' is not in the bundle",
        }
    ]


def test_colliding_names_print_one_line_and_exit_1(src, tmp_path):
    (src / "readme.md").write_text("lower\n")
    if not {"README.md", "readme.md"} <= {p.name for p in src.iterdir()}:
        pytest.skip("this file system folds the names itself")
    status, out, err = run("package", str(src), "--output", str(tmp_path / "out"))
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("[error] duplicate_entry: cannot be packed: ")
    assert "'README.md'" in err and "'readme.md'" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_trust_override(src, tmp_path):
    code, _, err = run(
        "package", str(src), "--output", str(tmp_path), "--trust", "unverified"
    )
    assert code == 65 and "[route_not_allowed]" in err
    hello = FIXTURES / "hello_minimal"
    code, out, _ = run(
        "package", str(hello), "--output", str(tmp_path), "--trust", "verified"
    )
    assert code == 0 and "trust=verified" in out


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda s: os.symlink("/etc/hostname", s / "link"), "packaging_failed"),
        (lambda s: (s / "manifest.json").unlink(), "manifest_missing"),
        (
            lambda s: edit_manifest(
                s, lambda d: d["trust"].update(signature="sha256:" + "0" * 64)
            ),
            "signature_mismatch",
        ),
        (
            lambda s: edit_manifest(s, lambda d: d["trust"].update(signature="rsa:x")),
            "signature_unsupported",
        ),
    ],
    ids=["symlink", "missing-manifest", "signature-mismatch", "signature-unknown"],
)
def test_other_failures_print_one_line_and_exit_1(src, tmp_path, setup, code):
    setup(src)
    status, out, err = run("package", str(src), "--output", str(tmp_path / "out"))
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"[error] {code}: ")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_allowlist_file_is_one_line(src, tmp_path):
    bad = tmp_path / "allow.json"
    bad.write_text("{nope")
    status, _, err = run("package", str(src), "--allowlist", str(bad))
    assert status == 1 and err.startswith("[error] config_invalid: ")


def test_json_failure_payload(src, tmp_path):
    (src / "manifest.json").write_text("{")
    status, out, err = run("package", str(src), "--output", str(tmp_path), "--json")
    payload = json.loads(out)
    assert status == 65 and err == ""
    assert payload["ok"] is False
    assert payload["error"]["code"] == "manifest_invalid"
    assert payload["error"]["details"]["problems"][0]["code"] == "invalid_json"


def test_force_replaces_an_existing_bundle(src, tmp_path):
    assert run("package", str(src), "--output", str(tmp_path))[0] == 0
    status, _, err = run("package", str(src), "--output", str(tmp_path))
    assert status == 1 and "already exists" in err and "--force" in err
    assert run("package", str(src), "--output", str(tmp_path), "--force")[0] == 0


def test_ignore_and_include_hidden(src, tmp_path):
    (src / "notes.tmp").write_text("scratch")
    (src / ".editorconfig").write_text("root = true\n")
    (src / "drafts").mkdir()
    (src / "drafts" / "scene.txt").write_text("draft\n")
    args = ("package", str(src), "--output", str(tmp_path), "--force")
    assert run(*args, "--ignore", "*.tmp", "--ignore", "drafts")[0] == 0
    with zipfile.ZipFile(tmp_path / "sample.toolkit-1.2.3.cvnext") as zf:
        names = zf.namelist()
    assert "notes.tmp" not in names and "drafts/scene.txt" not in names
    assert ".editorconfig" not in names
    run(*args, "--include-hidden")
    with zipfile.ZipFile(tmp_path / "sample.toolkit-1.2.3.cvnext") as zf:
        assert {".editorconfig", "notes.tmp"} <= set(zf.namelist())


def test_check_reports_identical_and_different_bytes(src, tmp_path):
    run("package", str(src), "--output", str(tmp_path))
    bundle = tmp_path / "sample.toolkit-1.2.3.cvnext"
    status, out, _ = run("package", str(src), "--check", str(bundle))
    assert status == 0 and out.startswith(f"[ok] identical: {bundle.resolve()}")
    (src / "README.md").write_text("changed\n")
    status, out, err = run("package", str(src), "--check", str(bundle))
    assert status == 1
    assert err.startswith("[error] not_identical: ")
    assert re.search(rf"bundle  sha256={HEX}", err)
    assert re.search(rf"rebuilt sha256={HEX}", err)
    status, out, _ = run("package", str(src), "--check", str(bundle), "--json")
    payload = json.loads(out)
    assert status == 1 and payload["identical"] is False
    assert payload["bundle"]["sha256"] != payload["rebuilt"]["sha256"]


@pytest.fixture
def big_src(tmp_path) -> Path:
    path = tmp_path / "big"
    shutil.copytree(FIXTURES / "hello_minimal", path)
    for i in range(201):
        (path / "data" / f"{i:03}.txt").parent.mkdir(exist_ok=True)
        (path / "data" / f"{i:03}.txt").write_text(f"line {i}\n")
    return path


def test_progress_only_on_a_terminal_for_large_trees(big_src, tmp_path):
    args = ("package", str(big_src), "--output", str(tmp_path), "--force")
    _, out, err = run(*args, stderr=Tty())
    assert "\r  packing 202/202 files" in err
    assert "packing" not in out
    assert "packing" not in run(*args)[2]  # not a terminal
    _, out, err = run(*args, "--json", stderr=Tty())
    assert "packing" not in err + out
    json.loads(out)
    small = FIXTURES / "hello_minimal"
    _, _, err = run("package", str(small), "--output", str(tmp_path), stderr=Tty())
    assert "packing" not in err


def test_validate_source_and_bundle(src, tmp_path):
    status, out, _ = run("validate", str(src))
    match = re.fullmatch(
        rf"\[ok\] sample\.toolkit 1\.2\.3 manifest_sha256=({HEX}) sha256=({HEX})\n", out
    )
    assert status == 0 and match
    assert list(tmp_path.glob("**/*.cvnext")) == []
    run("package", str(src), "--output", str(tmp_path))
    bundle = tmp_path / "sample.toolkit-1.2.3.cvnext"
    status, out, _ = run("validate", str(bundle))
    assert status == 0
    assert out == match.group(0)  # the would-be bundle is the real one
    payload = json.loads(run("validate", str(bundle), "--json")[1])
    assert payload["kind"] == "bundle" and payload["content_verified"] is True


def test_validate_reports_problems(src, tmp_path):
    edit_manifest(src, lambda d: d.update(name=" ", hooks=["on_nothing"]))
    status, _, err = run("validate", str(src))
    assert status == 65
    assert "  name: " in err and "  hooks[0]" in err
    junk = tmp_path / "junk.cvnext"
    junk.write_bytes(b"not a zip")
    status, _, err = run("validate", str(junk))
    assert status == 1 and err.startswith("[error] corrupt_archive: ")


def test_command_line_exit_codes_without_a_database(src, tmp_path):
    """Through manage.py, as a modder runs it: no migrations, no traceback."""
    edit_manifest(src, lambda d: d.update(version="bad"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comfyvn_site.settings_test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-created.sqlite3'}",
    }
    cmd = [sys.executable, str(ROOT / "manage.py"), "package", str(src)]
    bad = subprocess.run(
        [*cmd, "--output", str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 65
    assert "[invalid_version]" in bad.stderr and "Traceback" not in bad.stderr
    good = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "package",
            str(FIXTURES / "hello_minimal"),
            "--output",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("[ok] created ")
    assert not (tmp_path / "never-created.sqlite3").exists()


def test_manage_py_package_starts_without_django(tmp_path):
    """The packager path loads the packager, not the web app: no Django, DRF, admin
    or API module is imported (they are most of a cold start). Nor what only other
    inputs need: jsonschema (a valid manifest passes the schema's own predicates),
    semver and the range parser (no ranges), the bundle reader (no --check)."""
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(ROOT / "manage.py"),
            "package",
            str(FIXTURES / "hello_minimal"),
            "--output",
            str(tmp_path),
        ],
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("[ok] created ")
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "market.packaging.builder" in imported
    heavy = sorted(
        name
        for name in imported
        if name.split(".")[0] in ("django", "rest_framework", "drf_spectacular")
        or name.startswith(("market.api", "market.admin", "market.models"))
    )
    assert heavy == []
    not_needed = sorted(
        name
        for name in imported
        if name.split(".")[0] in ("jsonschema", "referencing", "semver", "tempfile")
        or name
        in ("market.archive.reader", "market.manifest.ranges", "market.hooks_catalog")
    )
    assert not_needed == []


def test_manage_py_package_with_django_options_runs_through_django(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "package",
            str(FIXTURES / "hello_minimal"),
            "--output",
            str(tmp_path),
            "--settings=comfyvn_site.settings_test",
            "-v",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("[ok] created ")
    assert (tmp_path / "hello.minimal-0.1.0.cvnext").is_file()
