#!/usr/bin/env python3
"""Reconciliation benchmark: `tianshu recon run` and DuckDB's FULL OUTER JOIN on the same files.

Generates (or reuses) a left/right pair with known differences, runs both tools one after the
other, and prints wall time, peak RSS and counts; both must equal the generator's truth.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def measure(cmd):
    """Run cmd; return (seconds, peak RSS in MiB, stdout, exit code) using wait4's rusage."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        e = err.read().decode(errors="replace")
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{e}")
    measure.cpu = ru.ru_utime + ru.ru_stime
    return secs, ru.ru_maxrss / 1024, out.decode(), e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default="/var/tmp/recon-bench")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--target", default="/var/tmp/target-bench-recon")
    ap.add_argument("--gen-target", default="/var/tmp/target-bench-recon",
                    help="CARGO_TARGET_DIR for the generator (its own cargo project)")
    ap.add_argument("--python", default=os.path.expanduser("~/.cache/recon-bench-venv/bin/python"))
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--in-process", action="store_true",
                    help="run the engine through the generator binary instead of the tianshu CLI")
    ap.add_argument("--tianshu-args", default="", help="extra arguments for tianshu recon run")
    a = ap.parse_args()

    data = os.path.join(a.dir, f"{a.rows}-{a.seed}{'-gz' if a.gzip else ''}")
    truth_path = os.path.join(data, "truth.json")
    if not os.path.exists(truth_path):
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--manifest-path", os.path.join(HERE, "Cargo.toml")],
            check=True, env={**os.environ, "CARGO_TARGET_DIR": a.gen_target},
        )
        t0 = time.perf_counter()
        cmd = [os.path.join(a.gen_target, "release", "tianshu-bench-recon"),
               "--rows", str(a.rows), "--seed", str(a.seed), "--out", data]
        if a.gzip:
            cmd.append("--gzip")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        print(f"generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    truth = json.load(open(truth_path))
    left, right = truth["left"], truth["right"]
    size = os.path.getsize(left) + os.path.getsize(right)
    cols = list(truth["per_column"].keys())
    fields = ["only_left", "only_right", "changed", "identical", "per_column"]
    want = {k: truth[k] for k in fields}

    print(f"machine: {platform.node()} {platform.machine()}, nproc {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}, kernel {platform.release()}")
    print(f"data: {a.rows} left rows x 22 columns, {size / 1e9:.2f} GB ({'gzip' if a.gzip else 'csv'}), {data}")
    st = os.statvfs(a.dir)
    print(f"free disk under {a.dir}: {st.f_bavail * st.f_frsize / 2**30:.1f} GiB")

    secs, _, _, _ = measure(["sh", "-c", f"cat '{left}' '{right}' > /dev/null"])
    print(f"cat both files: {secs:.2f} s")

    results = []
    tianshu = os.path.join(a.target, "release", "tianshu")
    if a.in_process:
        # The same engine called in-process by the generator binary (no CLI, no progress thread).
        cmd = [os.path.join(a.gen_target, "release", "tianshu-bench-recon"), "--compare", left, right,
               "subscriber_id"]
        name = "tianshu-recon (in-process)"
    else:
        cmd = [tianshu, "recon", "run", "--left", left, "--right", right, "--key", "subscriber_id",
               "--output", "json", "--no-progress"] + a.tianshu_args.split()
        name = "tianshu recon run"
    secs, rss, out, err = measure(cmd)
    got = json.loads(out)
    results.append((name, secs, rss, got, err.strip().splitlines()[-1:], measure.cpu))
    if not a.skip_duckdb:
        cmd = [a.python, os.path.join(HERE, "duckdb_fulljoin.py"), left, right, "subscriber_id", json.dumps(cols)]
        secs, rss, out, _ = measure(cmd)
        results.append(("duckdb FULL OUTER JOIN", secs, rss, json.loads(out), [], measure.cpu))

    print()
    print(f"| tool | wall s | CPU s (user+sys) | peak RSS MiB | only_left | only_right | changed | identical | per_column = truth | counts = truth |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    ok = True
    for name, secs, rss, got, _, cpu in results:
        good = all(got.get(k) == want[k] for k in fields)
        ok &= good
        print(f"| {name} | {secs:.2f} | {cpu:.2f} | {rss:.0f} | {got['only_left']} | {got['only_right']} | "
              f"{got['changed']} | {got['identical']} | {got['per_column'] == want['per_column']} | {good} |")
    print(f"| truth | | | | {want['only_left']} | {want['only_right']} | {want['changed']} | {want['identical']} | | |")
    if len(results) == 2:
        t, d = results
        print(f"\nspeed-up {d[1] / t[1]:.2f}x wall, {d[5] / t[5]:.2f}x CPU; "
              f"memory {t[2] / d[2] * 100:.1f} % of DuckDB's peak RSS")
    for name, *_rest, note, _cpu in results:
        if note:
            print(f"{name}: {note[0]}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
