#!/usr/bin/env bash
# `run --update` against a full re-run (issue 24, item 5): the bench set (6,550 images, hard
# links) is run once; 1 % more images are added (hard links under new names); then an
# update of that output and a full run of the changed input are timed back to back.
#   bench/update_bench.sh [WORK_DIR]    (default /tmp/orchard-update-bench)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ORCHARD_BIN:-$ROOT/build/apps/orchard/orchard}"
BENCH="$ROOT/../shared/data/fruits360-bench"
WORK="${1:-/tmp/orchard-update-bench}"
rm -rf "$WORK" && mkdir -p "$WORK/in"
cp -al "$BENCH/." "$WORK/in/"
total=$(find "$WORK/in" -name '*.jpg' | wc -l)
"$BIN" run -i "$WORK/in" -o "$WORK/out" -q
# 1 % more: every 100th image again, under a new name in its own folder.
find "$WORK/in" -name '*.jpg' | sort | awk 'NR % 100 == 0' | while read -r image; do
  ln "$image" "$(dirname "$image")/added-$(basename "$image")"
done
added=$(find "$WORK/in" -name 'added-*' | wc -l)
cp -a "$WORK/out" "$WORK/out-update"
seconds() { local start; start=$(date +%s.%N); "$@"; python3 -c "import sys, time; print(time.time() - float(sys.argv[1]))" "$start"; }
update_s=$(seconds "$BIN" run --update -i "$WORK/in" -o "$WORK/out-update" -q)
full_s=$(seconds "$BIN" run -i "$WORK/in" -o "$WORK/out-full" -q)
python3 - "$WORK" "$total" "$added" "$update_s" "$full_s" <<'PY'
import json, sys
work, total, added, update_s, full_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
summary = json.load(open(f"{work}/out-update/report/summary.json"))
print(f"| images | added | --update s | full run s | ratio | update counts |")
print(f"|---:|---:|---:|---:|---:|---|")
print(f"| {total:,} | {added} | {update_s:.1f} | {full_s:.1f} | {update_s / full_s:.3f} | "
      f"{summary['update']} |")
print("seconds of the update:", summary["seconds"])
PY
