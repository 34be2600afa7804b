"""scripts/demo.sh gives the server a SECRET_KEY of its own in .env, once.

The script runs for real against a stand-in interpreter that records the commands it
is given (pip, manage.py) and runs only the one-liner that makes the key.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo.sh", proj / "scripts" / "demo.sh")
    shim = proj / ".venv" / "bin" / "python"
    shim.parent.mkdir(parents=True)
    shim.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\n'
        'echo "$@" >> calls.log\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return proj


def run(proj: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=proj, env=env, check=True, timeout=60
    )


def keys(proj: Path) -> list[str]:
    lines = (proj / ".env").read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith("SECRET_KEY=")]


def test_a_key_is_made_once_and_kept(tmp_path):
    proj = project(tmp_path)
    run(proj)
    [key] = keys(proj)
    assert len(key) >= 50 and not key.startswith("django-insecure-")
    run(proj)
    assert keys(proj) == [key]  # the same key across runs: sessions survive
    calls = (proj / "calls.log").read_text()
    assert "manage.py migrate --noinput" in calls
    assert calls.rstrip().endswith("manage.py runserver 127.0.0.1:8000")


def test_an_existing_env_file_is_extended_not_replaced(tmp_path):
    proj = project(tmp_path)
    (proj / ".env").write_text("DATABASE_URL=sqlite:///x.db")  # no final newline
    run(proj)
    lines = (proj / ".env").read_text().splitlines()
    assert lines[0] == "DATABASE_URL=sqlite:///x.db"
    assert lines[1].startswith("SECRET_KEY=") and len(lines) == 2


def test_an_operators_key_is_left_alone(tmp_path):
    proj = project(tmp_path)
    (proj / ".env").write_text("SECRET_KEY=mine-" + "x" * 50 + "\n")
    run(proj)
    assert keys(proj) == ["mine-" + "x" * 50]
