#!/usr/bin/env python3
"""Database-to-database benchmark: `tianshu recon run --mode db` and reladiff (PyPI) in the same
run, on a PostgreSQL table (left) and a MariaDB table (right) loaded by load.sh from gen.py's files.

Prints wall time, CPU time and peak RSS of the client process, rows transferred (tianshu reports
it; reladiff does not) and the counts versus the generator's truth.
The databases' own CPU is not in these figures (same servers for both tools).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def measure(cmd, env=None):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        o, e = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if code not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({code}):\n{e[-4000:]}")
    return {"secs": secs, "cpu": ru.ru_utime + ru.ru_stime, "rss_mib": ru.ru_maxrss / 1024,
            "stdout": o, "stderr": e}


def reladiff_counts(text):
    minus, plus = set(), set()
    for line in text.splitlines():
        if line.startswith("- ") or line.startswith("+ "):
            key = line[2:].strip().lstrip("(").split(",")[0].strip().strip("'\"")
            (minus if line[0] == "-" else plus).add(key)
    both = minus & plus
    return {"only_left": len(minus - both), "only_right": len(plus - both), "changed": len(both)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/var/tmp/recondb-bench/10m")
    ap.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--my-url", default="mysql://root@127.0.0.1:3306/recondb_bench")
    ap.add_argument("--tianshu", default="/var/tmp/target-recondb/release/tianshu",
                    help="the tianshu binary (cargo build [--release] -p tianshu)")
    ap.add_argument("--reladiff", default=os.path.expanduser("~/.cache/reladiff-venv/bin/reladiff"))
    ap.add_argument("--threads", default="1", help="reladiff -j (worker threads per database)")
    ap.add_argument("--skip-reladiff", action="store_true")
    ap.add_argument("--tianshu-args", default="")
    a = ap.parse_args()
    truth = json.load(open(os.path.join(a.dir, "truth.json")))
    print("truth:", json.dumps(truth))
    cols = ["name", "balance", "status", "opened", "flag", "note"]
    env = {**os.environ, "RECONDB_PG": a.pg_url, "RECONDB_MY": a.my_url}
    cmd = [a.tianshu, "recon", "run", "--mode", "db", "--key", "id", "--output", "json",
           "--left-url-env", "RECONDB_PG", "--left-table", "recondb_bench.subs",
           "--right-url-env", "RECONDB_MY", "--right-table", "subs", "--no-progress"]
    cmd += a.tianshu_args.split()
    t = measure(cmd, env)
    got = json.loads(t["stdout"])
    print(f"tianshu --mode db: {t['secs']:.1f} s wall, {t['cpu']:.1f} CPU-s, {t['rss_mib']:.0f} MiB peak RSS")
    print("  " + t["stderr"].strip().replace("\n", "\n  "))
    print("  counts:", json.dumps(got))
    ok = all(got[k] == truth[k] for k in truth)
    print("  counts equal truth (incl. per_column):", ok)
    results = {"tianshu": {k: v for k, v in t.items() if k not in ("stdout", "stderr")} | {"ok": ok}}
    if not a.skip_reladiff:
        # reladiff wants postgresql:// and a schema-qualified table as a dotted name.
        pg = a.pg_url.replace("postgres://", "postgresql://", 1)
        # --skip-sort-results: reladiff 0.6.0 crashes sorting its output when a value is NULL
        # ("'<' not supported between instances of 'NoneType' and 'str'").
        rcmd = [a.reladiff, pg, "recondb_bench.subs", a.my_url, "subs", "-k", "id", "-j", a.threads,
                "--skip-sort-results"]
        for c in cols:
            rcmd += ["-c", c]
        r = measure(rcmd)
        rc = reladiff_counts(r["stdout"])
        print(f"reladiff -j {a.threads}: {r['secs']:.1f} s wall, {r['cpu']:.1f} CPU-s, {r['rss_mib']:.0f} MiB peak RSS")
        print("  counts:", json.dumps(rc))
        rok = all(rc[k] == truth[k] for k in rc)
        print("  counts equal truth (only_left, only_right, changed; no per-column counts):", rok)
        if not rok:
            print("  first lines:\n  " + "\n  ".join(r["stdout"].splitlines()[:10]))
            print("  stderr tail:\n  " + r["stderr"][-2000:])
        results["reladiff"] = {k: v for k, v in r.items() if k not in ("stdout", "stderr")} | {"ok": rok}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
