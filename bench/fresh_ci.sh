#!/usr/bin/env bash
# A fresh-machine CI run, timed: a clean clone of this checkout's HEAD, every cache empty (hoofenv's, uv's, pip's,
# XDG), then .ci/run's commands with pytest's slowest durations. Target: under 45 min (docs/PERFORMANCE.md, `## CI`).
set -u
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
T=$(mktemp -d /tmp/freshci.XXXX)
git clone -q "$REPO" "$T/repo"
cd "$T/repo"
export HOOFENV_CACHE_DIR="$T/cache" UV_CACHE_DIR="$T/uv" XDG_CACHE_HOME="$T/xdg" PIP_CACHE_DIR="$T/pip"
echo "fresh CI in $T, commit $(git rev-parse --short HEAD), start $(date -u +%H:%M:%S)"
start=$(date +%s)
python3 -m venv .venv && .venv/bin/pip install -q -e ".[dev]" && .venv/bin/python -m pytest -p no:cacheprovider --durations=40 -rs
rc=$?
echo "rc=$rc wall=$(( $(date +%s) - start )) s end $(date -u +%H:%M:%S)"
exit $rc
