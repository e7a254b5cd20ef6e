#!/usr/bin/env bash
# The README's first command, timed end to end as a new user runs it: a clean clone of this checkout's HEAD, the
# command verbatim (no flags), every cache empty (cold: PyPI downloads, the mmcv build, training), then again in a
# second clean clone with those caches present (warm). Prints each run's wall time and the demo's PCK@0.1 line.
# Targets (#12): cold <= 25 min, warm <= 5 min, PCK@0.1 >= 0.95. Usage: bench/readme_first.sh [cold|warm|both]
set -u
WHICH=${1:-both}
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
T=${READMEFIRST_DIR:-$(mktemp -d /tmp/readmefirst.XXXX)}
unset PYTHONDONTWRITEBYTECODE  # as users run it: .pyc files written once, not every module compiled per process
export HOOFENV_CACHE_DIR="$T/cache" UV_CACHE_DIR="$T/uv" XDG_CACHE_HOME="$T/xdg" PIP_CACHE_DIR="$T/pip"
CMD=$(grep -m1 -E '^python3 -m venv .venv && .* && \.venv/bin/hoofenv demo$' "$REPO/README.md")
[ -n "$CMD" ] || { echo "README.md has no first command line ending in 'hoofenv demo'"; exit 2; }
run() {
  git clone -q "$REPO" "$T/$1" && cd "$T/$1" || exit 1
  echo "$1 run in $T/$1, commit $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg), start $(date -u +%H:%M:%S)"
  start=$(date +%s)
  bash -c "$CMD" > "$T/$1.log" 2>&1
  rc=$?
  echo "$1: rc=$rc wall=$(( $(date +%s) - start )) s end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  grep -E "PCK|step|took|seconds" "$T/$1.log" | tail -15
}
case $WHICH in cold) run cold ;; warm) run warm ;; both) run cold; run warm ;; esac
