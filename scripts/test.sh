#!/usr/bin/env bash
# Install the project with its dev extras into .venv, then lint, check and run the tests.
# DATABASE_URL picks the database (SQLite by default).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
DJANGO_SETTINGS_MODULE=comfyvn_site.settings_test .venv/bin/python manage.py check
DJANGO_SETTINGS_MODULE=comfyvn_site.settings_test \
  .venv/bin/python manage.py makemigrations --check --dry-run
.venv/bin/python -m pytest "$@"
