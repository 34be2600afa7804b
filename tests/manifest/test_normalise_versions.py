"""``compatibility`` and ``dependencies`` in a manifest: normalised, or every problem
reported with its own code; the packager, ``validate`` and the schema agree."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from jsonschema import Draft202012Validator

from market.errors import ManifestError
from market.manifest import load_schema, normalise_manifest
from market.packaging import build_package

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "extensions"
BASE = {"id": "sample.app", "name": "App", "version": "1.0.0", "summary": "An app."}


def problems(**extra) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as exc:
        normalise_manifest({**BASE, **extra})
    return [(p["path"], p["code"]) for p in exc.value.details["problems"]]


def test_ranges_are_kept_stripped_and_unknown_keys_are_warned_about():
    manifest = normalise_manifest(
        {
            **BASE,
            "compatibility": {"studio": " >=1.2 <2 ", "engine": "3"},
            "dependencies": {"sample.lib": "^1.2.0", "other.lib": "~0.3"},
        }
    )
    assert manifest.data["compatibility"] == {"studio": ">=1.2 <2", "engine": "3"}
    assert manifest.data["dependencies"] == {
        "sample.lib": "^1.2.0",
        "other.lib": "~0.3",
    }
    assert [(w.path, w.code) for w in manifest.warnings] == [
        ("compatibility.engine", "unknown_field")
    ]


def test_manifests_without_them_keep_their_digest():
    plain = normalise_manifest(dict(BASE))
    assert "compatibility" not in plain.data and "dependencies" not in plain.data
    with_empty = normalise_manifest({**BASE, "dependencies": {}})
    assert with_empty.data["dependencies"] == {}
    assert with_empty.digest() != plain.digest()


def test_every_problem_has_its_own_code():
    assert problems(
        compatibility={"studio": "two"},
        dependencies={
            "sample.app": "1",
            "Bad Id": "1",
            "sample.lib": ">3 <2",
            "other.lib": 5,
        },
    ) == [
        ("compatibility.studio", "invalid_range"),
        ("dependencies.Bad Id", "invalid_dependency"),
        ("dependencies.other.lib", "invalid_type"),
        ("dependencies.sample.app", "self_dependency"),
        ("dependencies.sample.lib", "invalid_range"),
    ]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"compatibility": "1.x"}, [("compatibility", "invalid_type")]),
        (
            {"compatibility": {"studio": ""}},
            [("compatibility.studio", "invalid_range")],
        ),
        ({"compatibility": {"studio": 2}}, [("compatibility.studio", "invalid_type")]),
        ({"dependencies": ["sample.lib"]}, [("dependencies", "invalid_type")]),
        (
            {"dependencies": {f"dep.n{i}": "1" for i in range(65)}},
            [("dependencies", "invalid_dependency")],
        ),
    ],
)
def test_wrong_shapes(extra, expected):
    assert sorted(problems(**extra)) == sorted(expected)


def test_the_schema_describes_both():
    schema = load_schema()
    validator = Draft202012Validator(schema)
    good = {**BASE, "compatibility": {"studio": "^1.2"}, "dependencies": {"a.bc": "1"}}
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors({**BASE, "dependencies": {"a.bc": 1}}))
    assert list(validator.iter_errors({**BASE, "compatibility": {"studio": ""}}))
    assert schema["properties"]["dependencies"]["additionalProperties"] == {
        "$ref": "#/$defs/range"
    }


def _source(tmp_path: Path, **extra) -> Path:
    src = tmp_path / "src" / "hello_minimal"
    shutil.copytree(FIXTURES / "hello_minimal", src)
    path = src / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **extra}))
    return src


def test_the_packager_refuses_a_self_dependency(tmp_path):
    src = _source(tmp_path, dependencies={"hello.minimal": "^0.1"})
    with pytest.raises(ManifestError) as exc:
        build_package(src, tmp_path / "out")
    assert exc.value.details["problems"] == [
        {
            "path": "dependencies.hello.minimal",
            "code": "self_dependency",
            "message": "'hello.minimal' is this extension's own id; an extension "
            "cannot depend on itself",
        }
    ]
    assert not (tmp_path / "out").exists()


def test_package_and_validate_print_a_bad_range_and_exit_65(tmp_path):
    src = _source(tmp_path, compatibility={"studio": ">=banana"})
    for command in (
        ("package", str(src), "--output", str(tmp_path / "out")),
        ("validate", str(src)),
    ):
        err = io.StringIO()
        with pytest.raises(SystemExit) as exc:
            call_command(*command, stdout=io.StringIO(), stderr=err)
        assert exc.value.code == 65, command
        assert "compatibility.studio" in err.getvalue()
        assert "[invalid_range]" in err.getvalue()


def test_the_packager_writes_both_into_the_bundle(tmp_path):
    src = _source(
        tmp_path, compatibility={"studio": "^1.4"}, dependencies={"sample.lib": "1.x"}
    )
    result = build_package(src, tmp_path / "out")
    assert result.manifest.data["compatibility"] == {"studio": "^1.4"}
    assert result.manifest.data["dependencies"] == {"sample.lib": "1.x"}


def test_the_schema_and_the_rules_agree_on_the_dependency_limit():
    from market.manifest.registry import MAX_DEPENDENCIES

    assert load_schema()["properties"]["dependencies"]["maxProperties"] == (
        MAX_DEPENDENCIES
    )
    many = {f"dep.n{i}": "1" for i in range(MAX_DEPENDENCIES + 1)}
    with pytest.raises(ManifestError) as exc:
        normalise_manifest({**BASE, "dependencies": many})
    [problem] = exc.value.details["problems"]
    assert problem["message"].endswith(f"must have at most {MAX_DEPENDENCIES} entries")
