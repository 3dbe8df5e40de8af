#!/usr/bin/env bash
# Draws docs/img/*.svg from bench-results/ with matplotlib from a virtual environment of its
# own (created on first use under target/, from PyPI), so nothing is installed system-wide.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/plots-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || { echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'matplotlib>=3.7,<4'
fi
exec "$VENV/bin/python" scripts/plots.py "$@"
