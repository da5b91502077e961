#!/usr/bin/env python3
"""Generate a left/right table pair (tab-separated, \\N = NULL) with a known number of differences.

Deterministic by seed. Left keys are even numbers 0, 2, 4, …; rows deleted on the right are
`only_left`, odd keys inserted on the right are `only_right`, and changed rows have exactly one
column edited. Writes left.tsv, right.tsv and truth.json into --dir.
"""
import argparse
import json
import os
import random

CHARS = "天枢客户账户产品状态号码省集团山河云海星月金木水火土东南西北中华数据核对一二三四五六七八九十"
STATUS = ["A", "B", "C", "S1", "X"]
COLUMNS = ["name", "balance", "status", "opened", "flag", "note"]


def row(rng, k):
    name = "".join(rng.choice(CHARS) for _ in range(rng.randint(2, 6)))
    bal = f"{rng.randint(-10**9, 10**11) / 100:.2f}"
    st = rng.choice(STATUS)
    sec = rng.randint(1_600_000_000, 1_800_000_000)
    us = rng.choice([0, rng.randint(0, 999_999)])
    import time
    t = time.gmtime(sec)
    opened = time.strftime("%Y-%m-%d %H:%M:%S", t) + (f".{us:06d}" if us else "")
    flag = str(rng.randint(0, 1))
    r = rng.random()
    note = "\\N" if r < 0.1 else ("" if r < 0.15 else f"备注{rng.randint(0, 10**6)}")
    return [str(k), name, bal, st, opened, flag, note]


def edit(rng, r, col):
    r = list(r)
    i = COLUMNS.index(col) + 1
    if col == "name":
        r[i] = r[i] + "改"
    elif col == "balance":
        r[i] = f"{float(r[i]) + 0.01:.2f}"
    elif col == "status":
        r[i] = "Z"
    elif col == "opened":
        r[i] = r[i][:17] + ("58" if r[i][17:19] != "58" else "59") + r[i][19:]
    elif col == "flag":
        r[i] = "1" if r[i] == "0" else "0"
    else:  # note: NULL <-> empty string, or text change
        r[i] = "" if r[i] == "\\N" else ("\\N" if r[i] == "" else "")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--diff-ppm", type=int, default=100, help="differences per million rows (100 = 0.01 %)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    rng = random.Random(a.seed)
    ndiff = max(3, a.rows * a.diff_ppm // 1_000_000)
    picks = rng.sample(range(a.rows), ndiff)
    third = ndiff // 3
    deleted = set(picks[:third])
    inserted = set(picks[third:2 * third])
    changed = {p: rng.choice(COLUMNS) for p in picks[2 * third:]}
    per_column = {c: 0 for c in COLUMNS}
    for c in changed.values():
        per_column[c] += 1
    with open(os.path.join(a.dir, "left.tsv"), "w") as lf, open(os.path.join(a.dir, "right.tsv"), "w") as rf:
        lw, rw = [], []
        for i in range(a.rows):
            r = row(rng, 2 * i)
            lw.append("\t".join(r))
            if i in deleted:
                pass
            elif i in changed:
                rw.append("\t".join(edit(rng, r, changed[i])))
            else:
                rw.append("\t".join(r))
            if i in inserted:
                rw.append("\t".join(row(rng, 2 * i + 1)))
            if len(lw) >= 100_000:
                lf.write("\n".join(lw) + "\n")
                rf.write("\n".join(rw) + "\n")
                lw, rw = [], []
        if lw:
            lf.write("\n".join(lw) + "\n")
        if rw:
            rf.write("\n".join(rw) + "\n")
    truth = {
        "only_left": len(deleted), "only_right": len(inserted), "changed": len(changed),
        "identical": a.rows - len(deleted) - len(changed),
        "duplicate_keys_left": 0, "duplicate_keys_right": 0, "per_column": per_column,
    }
    with open(os.path.join(a.dir, "truth.json"), "w") as f:
        json.dump(truth, f)
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
