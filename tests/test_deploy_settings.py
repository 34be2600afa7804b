"""The production settings as documented pass ``check --deploy``; a missing key stops.

The environment is read from the deployment block of docs/operations.md, so the
documentation and this test cannot drift apart. Host-specific folders are moved to a
temporary directory; every other value is used as written.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operations.md"
EXPORT = re.compile(r"^export ([A-Z_]+)=(.*)$")


def documented_environment() -> dict[str, str]:
    text = DOC.read_text()
    section = text.split("## Deployment: PostgreSQL and gunicorn", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    values = {}
    for line in block.splitlines():
        match = EXPORT.match(line)
        if match:
            values[match[1]] = match[2].strip("'\"")
    return values


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _production_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    documented = documented_environment()
    assert {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_PROXY_SSL_HEADER"} <= set(
        documented
    )
    root = tmp_path / "market"
    (root / "packages").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "comfyvn_site.settings",
        **documented,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MARKET_ROOT": str(root),
        "COMFYVN_CONFIG": str(root / "config" / "comfyvn.json"),
    }
    env.update(changes)
    return env


def test_check_deploy_passes_on_the_documented_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        _production_env(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"
    assert result.stderr == ""


def test_without_a_secret_key_check_and_the_wsgi_application_refuse(tmp_path):
    env = _production_env(
        tmp_path, SECRET_KEY="django-insecure-comfyvn-market-development-key"
    )
    check = _run(["manage.py", "check"], env)
    assert check.returncode == 1
    assert "(market.E010) SECRET_KEY is not set" in check.stderr
    wsgi = _run(["-c", "import comfyvn_site.wsgi"], env)
    assert wsgi.returncode == 1
    assert "refusing to start" in wsgi.stderr
    assert "market.E010" in wsgi.stderr


def test_a_bad_market_setting_stops_check_and_start_up(tmp_path):
    env = _production_env(tmp_path, MARKET_ROUTE_ALLOWLIST='{"verified": "/api/x/"}')
    check = _run(["manage.py", "check"], env)
    assert check.returncode == 1
    assert "(market.E004) MARKET_ROUTE_ALLOWLIST is invalid" in check.stderr
    wsgi = _run(["-c", "import comfyvn_site.wsgi"], env)
    assert wsgi.returncode == 1
    assert "market.E004" in wsgi.stderr


def test_debug_needs_no_secret_key(tmp_path):
    env = _production_env(
        tmp_path,
        DEBUG="true",
        SECRET_KEY="django-insecure-comfyvn-market-development-key",
    )
    check = _run(["manage.py", "check"], env)
    assert check.returncode == 0, check.stderr
