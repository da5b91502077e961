#!/bin/bash
# Instructions per new alert of the alert intake, counted by callgrind (repeatable for the same binary and input,
# whatever else the machine does — unlike a rate). One keep-alive connection sends alerts one at a time, so every
# alert is its own group commit; compare binaries with each other, not with the rates of the load benchmark.
#
#   bench/alerts/callgrind/run.sh BIN TAG [N]    (prints "TAG total_Ir=… per_alert=…"; work dir /var/tmp/cg/TAG)
#
# The demo's probes build their HTTP client (TLS roots) once, early: the counters are zeroed only after a pause
# (WARM_SLEEP seconds, default 60) and 300 warm-up alerts, so that one-off cost stays out of the count.
set -euo pipefail
BIN=$1; TAG=$2; N=${3:-2000}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../../.." && pwd)
D=/var/tmp/cg/$TAG; rm -rf "$D"; mkdir -p "$D/data"; cp -r "$ROOT/policies/default" "$D/pack"
# One token sends everything: lift the pack's per-token rate limit, as the load benchmark does.
sed -i "s/requests_per_minute = 600/requests_per_minute = 1000000000/" "$D/pack/pack.toml"
PORT=$((20000 + RANDOM % 10000))
valgrind --tool=callgrind --callgrind-out-file="$D/cg.out" "$BIN" --data-dir "$D/data" --policy-dir "$D/pack" \
    --log-level warn serve --demo --listen 127.0.0.1:$PORT > "$D/server.log" 2>&1 &
VP=$!
for _ in $(seq 1 300); do curl -sf http://127.0.0.1:$PORT/readyz > /dev/null && break; sleep 1; done
TOKEN=$("$BIN" --data-dir "$D/data" --policy-dir "$D/pack" --log-level warn token create --user admin --name cg \
    --days 30 | tr ' ' '\n' | grep '^tsk_')
sleep "${WARM_SLEEP:-60}"
python3 "$HERE/client.py" $PORT "$TOKEN" warm 300
callgrind_control -z $VP > /dev/null
python3 "$HERE/client.py" $PORT "$TOKEN" m "$N"
callgrind_control -d $VP > /dev/null
sleep 1
kill $VP; wait $VP 2> /dev/null || true
ir=$(callgrind_annotate "$D/cg.out.1" 2> /dev/null | grep -m1 "PROGRAM TOTALS" | awk '{gsub(",","",$1); print $1}')
echo "$TAG total_Ir=$ir per_alert=$((ir / N))"
