#!/usr/bin/env bash
# Installs the wheel `make wheel` built into a fresh venv, the way a user of
# the Python wrapper would, then checks that `molecule-mcp` on PATH is the
# venv's (where the wrapper's console script was), names its build, and
# serves an MCP session. Usage: tests/dist/wheel.sh WHEEL VENV VERSION
set -euo pipefail
. "$(dirname "$0")/common.sh"
wheel=$1 venv=$2 version=$3

rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel" ||
    fail "pip install $wheel"

export PATH="$(cd "$venv/bin" && pwd):$PATH"
found=$(command -v molecule-mcp) || fail "molecule-mcp is not on PATH after pip install"
[ "$found" = "$(cd "$venv/bin" && pwd)/molecule-mcp" ] || fail "molecule-mcp on PATH is $found, not the venv's"
check_version molecule-mcp "$version"
timeout 60 "$venv/bin/python" "$(dirname "$0")/session.py" molecule-mcp || fail "MCP session through the wheel's molecule-mcp"
echo "ok: $wheel"
