#!/usr/bin/env bash
# Browser end-to-end tests of the Tianshu console: headless Debian Chromium driven by playwright-core
# (never a downloaded browser build), one test file at a time, each against its own fresh demo server.
# Installs missing peers idempotently: Debian's chromium and fonts-noto-cjk (when root), e2e/node_modules
# (npm ci), the tianshu debug binary (cargo build). With CI=true a missing peer fails the run;
# otherwise it prints one SKIP line and exits 0. Screenshots land in e2e/artifacts/.
# Extra arguments are passed to `node --test` (e.g. --test-name-pattern=login).
set -euo pipefail
cd "$(dirname "$0")/.."

CI="${CI:-false}"
CHROMIUM=/usr/bin/chromium
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/debug/tianshu"

say() { printf '\n== %s\n' "$*"; }
missing() { # missing NAME: fatal under CI, else skip the browser tests
  if [ "$CI" = "true" ]; then echo "FATAL: required test peer missing: $1" >&2; exit 1; fi
  echo "SKIP browser tests ($1 not available here; CI=true makes it mandatory)"
  exit 0
}
is_root() { [ "$(id -u)" = 0 ]; }

# 1. Chromium and a CJK font (without one, Chinese renders as boxes in the screenshots).
apt_updated=false
apt_install() {
  is_root && command -v apt-get >/dev/null 2>&1 || return 1
  say "installing $* (Debian packages)"
  if [ "$apt_updated" = false ]; then apt-get update -qq || return 1; apt_updated=true; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium || true
fi
[ -x "$CHROMIUM" ] || missing chromium
if ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed'; then
  apt_install fonts-noto-cjk || echo "WARN: fonts-noto-cjk not installed: Chinese may render as boxes in screenshots"
fi

# 2. playwright-core from the lock file; reinstalled when the lock changes.
command -v npm >/dev/null 2>&1 || missing npm
lock_sum=$(sha256sum e2e/package-lock.json | cut -d' ' -f1)
stamp=e2e/node_modules/.tianshu-lock-sha256
if [ ! -d e2e/node_modules/playwright-core ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  say "installing e2e dependencies (npm ci)"
  if (cd e2e && npm ci --no-audit --no-fund --loglevel=error); then
    echo "$lock_sum" > "$stamp"
  else
    missing "npm packages of e2e/ (npm ci failed)"
  fi
fi

# 3. The binary under test, rebuilt when the sources changed (a no-op when it is fresh), so a test never
#    runs against a stale binary.
say "building tianshu ($BIN)"
cargo build -q -p tianshu

# 4. The tests, one file at a time.
say "browser tests (chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'), binary $BIN)"
mkdir -p e2e/artifacts
export TIANSHU_BIN="$BIN"
node --test --test-concurrency=1 "$@" e2e/tests/
