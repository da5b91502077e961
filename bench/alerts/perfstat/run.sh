#!/bin/bash
# Server CPU and system calls per new alert under load, from perf stat on the running server (a 5 s window inside a
# 10 s measured phase of the load benchmark, Tianshu only, server on CPU 1). Rates on this kind of VM spread
# ±10–20 % run to run; counts per alert (WAL syncs, page writes and reads) spread far less and show what a storage
# change does to the disk path, which callgrind (user space only) cannot.
#
#   bench/alerts/perfstat/run.sh BIN CONNS     (needs perf with syscall tracepoints; build the bench first; give
#   BIN a name of its own, e.g. /var/tmp/tianshu-NAME: the server is found by its process name)
set -euo pipefail
BIN=$1; C=$2
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=$(mktemp)
( taskset -c 0 $ROOT/bench/alerts/target/release/tianshu-bench-alerts --server-cpus 1 --skip-alertmanager --kill-after 0 --conns $C --secs 10 --tianshu-bin $BIN 2>&1 | grep "conns:" > $OUT ) &
sleep 7
PID=$(pgrep -x $(basename $BIN) | head -1)
perf stat -x, -e 'task-clock,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pread64' -p $PID -- sleep 5 2> $OUT.stat
wait
rate=$(sed -E 's/.*= ([0-9]+)\/s.*/\1/' $OUT)
python3 - $rate $OUT.stat <<'PY'
import sys
rate=int(sys.argv[1]); n=rate*5
out=[f"rate {rate}/s"]
for l in open(sys.argv[2]):
    f=l.strip().split(',')
    if len(f)>3 and f[0].replace('.','').isdigit():
        v=float(f[0]); name=f[2].replace('syscalls:sys_enter_','')
        if name=='task-clock': out.append(f"cpu/alert {v*1000/n:.1f}us")
        else: out.append(f"{name}/alert {v/n:.3f}")
print(', '.join(out))
PY
rm -f $OUT $OUT.stat
