#!/usr/bin/env bash
# Probe benchmark (issue 5): Tianshu's probe scheduler and prometheus-blackbox-exporter, one after the other in
# one run, against the same loopback site at the same rate; see bench/RESULTS.md ("Probe executions").
# Usage: bench/probes/run.sh [RATE_PER_MIN] [SECONDS]. Needs the Debian package prometheus-blackbox-exporter
# (installed here when missing and running as root). Everything listens on 127.0.0.1 only and stops by itself.
set -euo pipefail
cd "$(dirname "$0")"
RATE="${1:-5000}"
SECS="${2:-120}"
WARMUP="${WARMUP:-20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/target-bench-probes}"
BB=/usr/bin/prometheus-blackbox-exporter
if [ ! -x "$BB" ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-blackbox-exporter >/dev/null
fi
[ -x "$BB" ] || { echo "prometheus-blackbox-exporter is not installed" >&2; exit 1; }
cargo build -q --release
BIN="$CARGO_TARGET_DIR/release/tianshu-bench-probes"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

SITE_PORT=18090
BB_PORT=19115
"$BIN" serve --port "$SITE_PORT" & pids+=($!)
cat > "$tmp/blackbox.yml" <<'YML'
modules:
  http_login:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ["代理商门户登录"]
YML
"$BB" --config.file="$tmp/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" --log.level=warn & bb_pid=$!
pids+=($bb_pid)
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$SITE_PORT/login" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$BB_PORT/-/healthy" >/dev/null 2>&1 && break
  sleep 0.2
done

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== blackbox: $("$BB" --version 2>&1 | head -1)"
echo "== rate $RATE/min, warm-up ${WARMUP}s, measured ${SECS}s each"
"$BIN" tianshu --target "http://127.0.0.1:$SITE_PORT" --rate "$RATE" --warmup "$WARMUP" --seconds "$SECS"
"$BIN" blackbox --exporter "http://127.0.0.1:$BB_PORT" --target "http://127.0.0.1:$SITE_PORT" --pid "$bb_pid" \
  --rate "$RATE" --warmup "$WARMUP" --seconds "$SECS"
"$BIN" tianshu --target "http://127.0.0.1:$SITE_PORT" --rate "$RATE" --warmup "$WARMUP" --seconds "$SECS" --steps 2
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
