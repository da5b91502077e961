"""The DuckDB peer: one FULL OUTER JOIN with IS DISTINCT FROM per column; prints one JSON object."""
import json
import sys

import duckdb

left, right, key, cols = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
# Everything as text (no type guessing, like the engine without rules); a quoted "" is the empty
# string and an unquoted empty field is NULL, the engine's default NULL policy.
opts = "header=true, all_varchar=true, allow_quoted_nulls=false, delim=',', quote='\"', escape='\"'"
both = f"l.{key} IS NOT NULL AND r.{key} IS NOT NULL"
differs = " OR ".join(f"l.{c} IS DISTINCT FROM r.{c}" for c in cols)
per_col = ",\n".join(
    f"count(*) FILTER (WHERE {both} AND l.{c} IS DISTINCT FROM r.{c}) AS \"{c}\"" for c in cols
)
q = f"""
SELECT
  count(*) FILTER (WHERE r.{key} IS NULL) AS only_left,
  count(*) FILTER (WHERE l.{key} IS NULL) AS only_right,
  count(*) FILTER (WHERE {both} AND ({differs})) AS changed,
  count(*) FILTER (WHERE {both} AND NOT ({differs})) AS identical,
  {per_col}
FROM read_csv('{left}', {opts}) l
FULL OUTER JOIN read_csv('{right}', {opts}) r ON l.{key} = r.{key}
"""
con = duckdb.connect()
row = con.execute(q).fetchone()
names = [d[0] for d in con.description]
res = dict(zip(names, row))
out = {k: res[k] for k in ("only_left", "only_right", "changed", "identical")}
out["per_column"] = {c: res[c] for c in cols}
union = out["only_left"] + out["only_right"] + out["changed"] + out["identical"]
out["consistency"] = out["identical"] / union if union else 1.0
print(json.dumps(out))
