#!/usr/bin/env bash
# Set up a virtualenv, install the project, migrate, load demo data and run the server
# on SQLite at http://$HOST:$PORT (default 127.0.0.1:8000; admin at /admin/, API at
# /api/market/list). The server URL and demo tokens are written to var/demo.env: run
# `. var/demo.env` in another shell before trying the examples of README.md and docs/.
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
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
.venv/bin/python manage.py market_demo --env-file var/demo.env --server-url "http://$HOST:$PORT"
echo "In another shell: . var/demo.env   (the examples' \$B, \$TOKEN, ...)"
exec .venv/bin/python manage.py runserver "$HOST:$PORT"
