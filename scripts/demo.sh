#!/usr/bin/env bash
# Set up a virtualenv, install the project, migrate, load demo data and run the server
# on SQLite at http://127.0.0.1:8000 (admin at /admin/, API at /api/market/list).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
export COMFYVN_CONFIG=${COMFYVN_CONFIG:-$PWD/var/comfyvn.demo.json}
export DEBUG=${DEBUG:-true}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py market_demo
exec .venv/bin/python manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
