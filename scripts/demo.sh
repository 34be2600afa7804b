#!/usr/bin/env bash
# Set up a virtualenv, install the project, migrate, load demo data and run the server
# on SQLite at http://127.0.0.1:8000 (admin at /admin/, API at /api/market/list).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
# A random SECRET_KEY of its own, kept in .env (read by the settings) across runs.
if ! grep -qs '^SECRET_KEY=' .env; then
  if [ -s .env ] && [ -n "$(tail -c1 .env)" ]; then echo >> .env; fi
  echo "SECRET_KEY=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env
fi
export COMFYVN_CONFIG=${COMFYVN_CONFIG:-$PWD/var/comfyvn.demo.json}
export DEBUG=${DEBUG:-true}
mkdir -p "${MARKET_ROOT:-var}/packages"  # the default package folder (check market.W003)
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py market_demo
exec .venv/bin/python manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
