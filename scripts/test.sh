#!/usr/bin/env bash
# Install the project with its dev extras into .venv, then lint, check and run the tests.
# DATABASE_URL picks the database (SQLite by default).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
# Tools the tests drive: Debian's chromium and chromedriver (the admin pages in a real
# browser), and curl, jq, zip and unzip (the docs' shell examples).
missing=""
for tool in chromium:chromium chromedriver:chromium-driver curl:curl jq:jq zip:zip unzip:unzip; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q $missing >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
  else
    echo "the tests need:$missing (sudo apt-get install$missing)" >&2
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
DJANGO_SETTINGS_MODULE=comfyvn_site.settings_test .venv/bin/python manage.py check
DJANGO_SETTINGS_MODULE=comfyvn_site.settings_test \
  .venv/bin/python manage.py makemigrations --check --dry-run
.venv/bin/python -m pytest "$@"
