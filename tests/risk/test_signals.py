"""Risk signals: each fixture bundle triggers exactly its finding, at its file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market import risk
from market.archive import inspect_bundle
from market.archive.files import open_bundle_files
from market.hooks_catalog import SENSITIVE_HOOKS, get_hook
from market.manifest import PERMISSION_SCOPES, SENSITIVE_PERMISSION_SCOPES
from market.risk.python_code import python_findings
from tests.bundles import FILES, good_entries, write_zip

WHY = "Needed by this extension's export panel."
BLOB = "QUJD" * 70 + "ZGVmZ2hp0123"  # base64 of nothing in particular, mixed case


def scan(
    tmp_path: Path,
    files: dict[str, bytes] | None = None,
    previous: dict | None = None,
    **manifest: object,
) -> tuple[list[tuple[str, str | None, int | None]], dict, str]:
    """Package ``files`` as a real bundle, check it as a submission does, scan it."""
    bundle = write_zip(tmp_path / "b.cvnext", good_entries(files, **manifest))
    info = inspect_bundle(bundle)
    with open_bundle_files(bundle, limits=risk_limits()) as opened:
        text = opened.read("manifest.json", max_bytes=1 << 20).decode()
        report = risk.assess_bundle(opened, info.manifest.data, previous)
    found = [(f["code"], f["file"], f["line"]) for f in report["findings"]]
    return found, report, text


def risk_limits():
    from market.archive import DEFAULT_LIMITS

    return DEFAULT_LIMITS


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def py(source: str) -> dict[str, bytes]:
    return {**FILES, "pkg/code.py": source.encode()}


def test_registry_marks_sensitive_scopes_and_hooks():
    assert {"sandbox.fs.limited", "api.global", "assets.write"} <= (
        SENSITIVE_PERMISSION_SCOPES
    )
    assert not PERMISSION_SCOPES["assets.read"].sensitive
    assert PERMISSION_SCOPES["assets.write"].sensitive
    assert {"on_security_secret_read", "on_security_key_rotated"} <= SENSITIVE_HOOKS
    assert get_hook("on_security_secret_read").sensitive
    assert not get_hook("on_scene_enter").sensitive
    # The published catalogue is unchanged: sensitivity is for the reviewer.
    assert "sensitive" not in get_hook("on_security_secret_read").as_dict()


def test_clean_bundle_has_no_findings(tmp_path):
    found, report, _ = scan(
        tmp_path, permissions=[{"scope": "ui.panels", "description": WHY}]
    )
    assert found == []
    assert report["score"] == 0
    assert report["total"] == 0


@pytest.mark.parametrize("scope", sorted(SENSITIVE_PERMISSION_SCOPES - {"api.global"}))
def test_sensitive_permission(tmp_path, scope):
    found, report, text = scan(
        tmp_path, permissions=[{"scope": scope, "description": WHY}]
    )
    assert found == [("sensitive_permission", "manifest.json", line_of(text, scope))]
    assert report["findings"][0]["severity"] == "medium"


def test_sensitive_hook(tmp_path):
    found, _, text = scan(tmp_path, hooks=["on_scene_enter", "on_security_secret_read"])
    line = line_of(text, '"on_security_secret_read"')
    assert found == [("sensitive_hook", "manifest.json", line)]


def test_global_route_comes_with_its_permission(tmp_path):
    found, report, text = scan(
        tmp_path,
        permissions=[{"scope": "api.global", "description": WHY}],
        routes=[
            {
                "path": "/api/modder/ping",
                "expose": "global",
                "entry": "main.py",
                "callable": "f",
            }
        ],
        trust={"level": "verified"},
    )
    assert found == [
        ("sensitive_permission", "manifest.json", line_of(text, '"api.global"')),
        ("global_route", "manifest.json", line_of(text, '"/api/modder/ping"')),
    ]
    assert report["findings"][1]["severity"] == "high"


def test_new_permission_since_the_last_approved_version(tmp_path):
    previous = {
        "version": "1.0.0",
        "permissions": [{"scope": "assets.read", "description": WHY}],
    }
    found, report, text = scan(
        tmp_path,
        previous=previous,
        permissions=[
            {"scope": "assets.read", "description": WHY},
            {"scope": "assets.debug", "description": WHY},
        ],
    )
    assert found == [("new_permission", "manifest.json", line_of(text, "assets.debug"))]
    assert "1.0.0" in report["findings"][0]["message"]


def test_first_version_has_no_new_permission_findings(tmp_path):
    found, _, _ = scan(
        tmp_path, permissions=[{"scope": "assets.debug", "description": WHY}]
    )
    assert found == []


@pytest.mark.parametrize(
    "permission",
    [
        "assets.read",
        {"scope": "assets.read"},
        {"scope": "assets.read", "description": "   "},
        # The registry's own words say what the scope is, not why it is needed.
        {"scope": "assets.read", "description": "List/query asset registry metadata."},
    ],
)
def test_unjustified_permission(tmp_path, permission):
    found, _, text = scan(tmp_path, permissions=[permission])
    assert found == [
        ("unjustified_permission", "manifest.json", line_of(text, "assets.read"))
    ]


CODE_CASES = [
    ("process_exec", "x = 1\nimport subprocess\n", 2),
    ("process_exec", "from subprocess import run as go\n", 1),
    ("process_exec", "import os\n\nos.system('ls')\n", 3),
    ("process_exec", "import os\nos.execvp('ls', ['ls'])\n", 2),
    ("process_exec", "import os as o\no.spawnl(0, 'ls')\n", 2),
    ("process_exec", "from os import system as s\n\n\ns('ls')\n", 4),
    ("process_exec", "import os\nos.popen('ls')\n", 2),
    ("process_exec", "import os\nrun = getattr(os, 'system')\n", 2),
    ("dynamic_code", "f = getattr(__builtins__, 'eval')\n", 1),
    ("dynamic_code", "x = eval('1 + 1')\n", 1),
    ("dynamic_code", "\nexec('print(1)')\n", 2),
    ("dynamic_code", "code = compile('1', 'f', 'eval')\n", 1),
    ("dynamic_code", "import builtins\nbuiltins.eval('1')\n", 2),
    ("native_code", "import ctypes\n", 1),
    ("native_code", "from ctypes import CDLL\n", 1),
    ("unsafe_deserialise", "import pickle\n\ndata = pickle.loads(b'')\n", 3),
    ("unsafe_deserialise", "import marshal\nmarshal.load(open('f', 'rb'))\n", 2),
    ("unsafe_deserialise", "from pickle import loads\nloads(b'')\n", 2),
    ("network_access", "import socket\n", 1),
    ("network_access", "import urllib.request\n", 1),
    ("network_access", "from urllib import request\n", 1),
    ("network_access", "import http.client\n", 1),
    ("network_access", "\nimport requests\n", 2),
    ("dynamic_import", "m = __import__('os')\n", 1),
    ("dynamic_import", "import importlib\nimportlib.import_module('os')\n", 2),
    ("dynamic_import", "from importlib import import_module\nimport_module('x')\n", 2),
    ("encoded_blob", f"x = 1\nPAYLOAD = '{BLOB}'\n", 2),
    ("encoded_blob", "HEX = (\n    '" + "0123456789abcdef" * 20 + "'\n)\n", 2),
    ("encoded_blob", f"RAW = b'{BLOB}'\n", 1),
    ("unparseable_python", "def broken(:\n    pass\n", 1),
    ("unparseable_python", "x = 1\ny = (\n", 2),
]


@pytest.mark.parametrize(("code", "source", "line"), CODE_CASES)
def test_python_code_finding(tmp_path, code, source, line):
    found, report, _ = scan(tmp_path, py(source))
    assert found == [(code, "pkg/code.py", line)]
    assert report["findings"][0]["severity"] in risk.SEVERITIES
    assert report["score"] > 0 or code == "not_scanned"


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.path.join('a', 'b')\nprint(os.getcwd())\n",
        "from urllib.parse import quote\nimport json\njson.loads('1')\n",
        "import hashlib\nh = hashlib.sha256(b'x').hexdigest()\n",
        "# eval( exec( subprocess in a comment\ns = 'import subprocess'\n",
        "TEXT = '" + "a long sentence with spaces " * 20 + "'\n",
        "def evaluate(x):\n    return x.eval()\n",
    ],
)
def test_harmless_python_has_no_findings(tmp_path, source):
    found, _, _ = scan(tmp_path, py(source))
    assert found == []


ELF = b"\x7fELF\x02\x01\x01" + bytes(100)
PE = b"MZ" + bytes(0x3A) + (0x40).to_bytes(4, "little") + b"PE\0\0" + bytes(64)
MACHO = b"\xcf\xfa\xed\xfe" + bytes(60)
FAT = b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + bytes(60)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("lib/native.so", b"not really a library"),
        ("lib/helper.dll", b"x"),
        ("lib/helper.dylib", b"x"),
        ("lib/_speedups.pyd", b"x"),
        ("bin/tool.exe", b"x"),
        ("data/blob.bin", ELF),
        ("data/readme.txt", PE),
        ("data/plain", MACHO),
        ("data/universal", FAT),
    ],
)
def test_native_binary(tmp_path, name, data):
    found, report, _ = scan(tmp_path, {**FILES, name: data})
    assert found == [("native_binary", name, None)]
    assert report["findings"][0]["severity"] == "high"


@pytest.mark.parametrize(
    "name", ["helper.pyc", "pkg/__pycache__/x.cpython-311.pyc", "a.PYO"]
)
def test_compiled_python(tmp_path, name):
    found, report, _ = scan(tmp_path, {**FILES, name: b"\xa7\r\r\n" + bytes(40)})
    assert found == [("compiled_python", name, None)]
    assert report["findings"][0]["severity"] == "high"


def test_java_class_and_text_starting_mz_are_not_native(tmp_path):
    java = b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(60)
    found, _, _ = scan(
        tmp_path, {**FILES, "lib/A.class": java, "notes.txt": b"MZ is a postcode\n"}
    )
    assert found == []


def test_minified_js(tmp_path):
    script = b"// header\nfunction a() {}\n" + b"var x=1;" * 200 + b"\nend();\n"
    found, _, _ = scan(tmp_path, {**FILES, "ui/app.min.js": script})
    assert found == [("minified_js", "ui/app.min.js", 3)]


def test_readable_js_is_not_minified(tmp_path):
    script = b"function a() {\n  return 1;\n}\n" * 200
    found, _, _ = scan(tmp_path, {**FILES, "ui/app.js": script})
    assert found == []


def test_score_grows_with_severity():
    assert risk.score([]) == 0
    assert risk.score(["info"]) == 0
    assert risk.score(["low"]) < risk.score(["medium"]) < risk.score(["high"])
    assert risk.score(["high"] * 50) == 100


# --- bounds -------------------------------------------------------------------------


def test_findings_are_capped_but_all_counted():
    source = "\n".join(f"eval('{i}')" for i in range(500)).encode()
    files = risk.MemoryFiles({"a.py": source})
    limits = risk.RiskLimits(max_findings=10)
    report = risk.assess_bundle(files, {}, None, limits=limits)
    assert len(report["findings"]) == 10
    assert report["total"] == 500
    assert report["counts"]["high"] == 500
    assert [f["line"] for f in report["findings"]] == list(range(1, 11))


def test_files_over_the_budget_are_reported_not_read():
    class Counting(risk.MemoryFiles):
        read_bytes = 0

        def read(self, name, *, max_bytes):
            data = super().read(name, max_bytes=max_bytes)
            Counting.read_bytes += len(data)
            return data

    files = Counting({f"m{i:03}.py": b"x = 1\n" * 100 for i in range(50)})
    files_big = {"big.py": b"x = 1\n" * 1000}
    limits = risk.RiskLimits(max_files=10, max_file_bytes=1000, max_total_bytes=3000)
    report = risk.assess_bundle(files, {}, None, limits=limits)
    assert Counting.read_bytes <= 3000
    assert [f["code"] for f in report["findings"]] == ["not_scanned"]
    assert report["findings"][0]["severity"] == "info"
    big = risk.assess_bundle(risk.MemoryFiles(files_big), {}, None, limits=limits)
    assert [(f["code"], f["file"]) for f in big["findings"]] == [
        ("not_scanned", "big.py")
    ]


@pytest.mark.parametrize(
    "source",
    [
        b"(" * 100_000,
        b"-" * 200_000 + b"1",
        b"x = " + b"[" * 5000 + b"]" * 5000,
        b"\x00\x01\x02",
        b"# -*- coding: no-such-codec -*-\nx = 1\n",
        b"\xff\xfe\xfa",
        b"if 1:\n" + b" " * 100 + b"\tpass\n",
        b"a." * 50_000 + b"b()",
        "x = '\ud800'".encode("utf-8", "surrogatepass"),
    ],
)
def test_hostile_python_is_a_finding_never_a_crash(source):
    findings = python_findings("evil.py", source)
    assert all(f.code in {"unparseable_python", "dynamic_code"} for f in findings)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_as_python_never_raise(data):
    report = risk.assess_bundle(risk.MemoryFiles({"x.py": data, "y.js": data}), {})
    assert report["total"] == len(report["findings"])
    for finding in report["findings"]:
        assert finding["file"] in {"x.py", "y.js"}


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("()[]{}:;=.,'\"\\\n\t abcdefimportsevalx0123")),
        max_size=400,
    )
)
def test_arbitrary_python_like_text_never_raises(text):
    for finding in python_findings("x.py", text.encode()):
        assert finding.code in {
            "unparseable_python",
            "dynamic_code",
            "dynamic_import",
            "process_exec",
            "network_access",
            "native_code",
            "unsafe_deserialise",
            "encoded_blob",
        }


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["permissions", "hooks", "routes", "version"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=20,
        ),
    )
)
def test_arbitrary_manifest_shapes_never_raise(data):
    report = risk.assess_bundle(
        risk.MemoryFiles({"manifest.json": json.dumps(data).encode()}), data, data
    )
    assert report["score"] >= 0


def test_package_is_pure():
    modules = sorted(Path(risk.__file__).parent.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "scan.py", "python_code.py"}
    for module in modules:
        text = module.read_text()
        assert "django" not in text, module.name
        assert "import re\n" not in text, module.name
