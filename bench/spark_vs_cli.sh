#!/usr/bin/env bash
# Spark job (local[2]) vs the orchard CLI on the same images and the same 2 cores.
#   bench/spark_vs_cli.sh [N_IMAGES (default 1000)] [SOURCE (default ../shared/data/fruits360-bench)]
# Prints a markdown table: images/s of the featurize stage (from each run's
# report/summary.json) and end to end (wall clock of the whole command, Spark's JVM
# start included). Both runs write the full output contract (features, PCA, report).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-1000}"
SRC="${2:-$ROOT/../shared/data/fruits360-bench}"
PY="$ROOT/.deps/venv/bin/python"
BIN="${ORCHARD_BIN:-$ROOT/build/apps/orchard/orchard}"
CORES="${BENCH_CORES:-2}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Deterministic subset: N files evenly spaced over the sorted listing, hard-linked.
"$PY" - "$SRC" "$WORK/in" "$N" <<'PYEOF'
import os, shutil, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)
step = max(1, len(files) // n)
for rel in files[::step][:n]:
    os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
    try:
        os.link(os.path.join(src, rel), os.path.join(dst, rel))
    except OSError:
        shutil.copy(os.path.join(src, rel), os.path.join(dst, rel))
PYEOF
count="$(find "$WORK/in" -type f | wc -l)"

now() { date +%s.%N; }
t0="$(now)"
"$BIN" run -i "$WORK/in" -o "$WORK/cli" -q --threads "$CORES" >/dev/null 2>&1
t1="$(now)"
PYTHONPATH="$ROOT/python" "$PY" -m orchard.spark --master "local[$CORES]" \
  -i "$WORK/in" -o "$WORK/spark" >"$WORK/spark.log" 2>&1 || { tail -50 "$WORK/spark.log"; exit 1; }
t2="$(now)"

"$PY" - "$WORK" "$count" "$t0" "$t1" "$t2" "$CORES" <<'PYEOF'
import json, sys
work, count, t0, t1, t2, cores = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6]
cli = json.load(open(f"{work}/cli/report/summary.json"))
spark = json.load(open(f"{work}/spark/report/summary.json"))
rows = [("orchard CLI (`orchard run --threads %s`)" % cores, cli, t1 - t0),
        ("Spark local[%s] (`python -m orchard.spark`)" % cores, spark, t2 - t1)]
print(f"| engine | images | featurize images/s | end-to-end s | end-to-end images/s | pca k |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, summary, wall in rows:
    print(f"| {name} | {count} | {summary['images_per_second']:.1f} | {wall:.1f} | "
          f"{count / wall:.1f} | {summary['pca']['k']} |")
print()
print(f"Spark/CLI featurize ratio: {spark['images_per_second'] / cli['images_per_second']:.2f}, "
      f"end to end: {(t1 - t0) / (t2 - t1):.2f}")
PYEOF
