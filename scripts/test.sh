#!/usr/bin/env bash
# Install the project with its dev extras into .venv, then lint, check and run the tests.
# DATABASE_URL picks the database (SQLite by default).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
# The admin pages are tested in a real browser: Debian's chromium and chromedriver.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium chromium-driver >/dev/null \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
  else
    echo "browser tests need chromium and chromedriver: sudo apt-get install chromium chromium-driver" >&2
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
DJANGO_SETTINGS_MODULE=comfyvn_site.settings_test .venv/bin/python manage.py check
DJANGO_SETTINGS_MODULE=comfyvn_site.settings_test \
  .venv/bin/python manage.py makemigrations --check --dry-run
.venv/bin/python -m pytest "$@"
