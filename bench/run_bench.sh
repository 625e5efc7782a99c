#!/usr/bin/env bash
# Issue 5: orchard end-to-end vs its peers on the same images, 2 cores, then orchard alone
# at growing sizes to show that its peak memory stays flat.
#
#   bench/run_bench.sh [N_IMAGES]        (default 1000)
#
# Peers: orchard (`orchard run`), (a) PySpark + Keras MobileNetV2 as the course teaches it,
# (b) PySpark + onnxruntime on orchard's model, (c) the inference ceiling
# (build/bench/orchard_infer_ceiling). Every command runs under bench/measure.py (wall time,
# peak RSS/PSS summed over the process tree, GNU time's max RSS).
#
# Environment:
#   ORCHARD_BENCH_DATA     source image folder (default /work/shared/data/fruits360-bench, else shared/data/fruits360-bench)
#   ORCHARD_BENCH_WORK     work folder (default: a new mktemp -d); results stay there
#   ORCHARD_BENCH_PEERS    which to run (default "orchard keras onnx ceiling")
#   ORCHARD_BENCH_MEM      sizes for the memory table (default "1000 4000 16000"; "" to skip)
#   ORCHARD_BENCH_CORES    cores / threads (default 2)     ORCHARD_BENCH_BATCH  batch size (default 32)
#   ORCHARD_BENCH_SKIP_BUILD=1  use the existing build     ORCHARD_BUILD_DIR    build folder (default build/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-1000}"
CORES="${ORCHARD_BENCH_CORES:-2}"
BATCH="${ORCHARD_BENCH_BATCH:-32}"
PEERS="${ORCHARD_BENCH_PEERS:-orchard keras onnx ceiling}"
MEM_SIZES="${ORCHARD_BENCH_MEM-1000 4000 16000}"
BUILD_DIR="${ORCHARD_BUILD_DIR:-$ROOT/build}"
DATA="${ORCHARD_BENCH_DATA:-}"
if [ -z "$DATA" ]; then
  for candidate in /work/shared/data/fruits360-bench "$ROOT/shared/data/fruits360-bench" "$ROOT/../shared/data/fruits360-bench"; do
    if [ -d "$candidate" ]; then DATA="$candidate"; break; fi
  done
fi
[ -d "$DATA" ] || { echo "no bench images: set ORCHARD_BENCH_DATA" >&2; exit 1; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bash "$ROOT/bench/setup.sh"
if [ "${ORCHARD_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  ORCHARD_BUILD_DIR="$BUILD_DIR" bash "$ROOT/scripts/build.sh"
fi
ORCHARD="$BUILD_DIR/apps/orchard/orchard"
CEILING="$BUILD_DIR/bench/orchard_infer_ceiling"
PY_BENCH="${ORCHARD_DEPS:-$ROOT/.deps}/venv-bench/bin/python"
MEASURE=(python3 "$ROOT/bench/measure.py")

WORK="${ORCHARD_BENCH_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/orchard-bench.XXXXXX")}"
mkdir -p "$WORK"
log "work folder: $WORK"
echo "$N" >"$WORK/n_images"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p')"
  echo "cores: $(nproc)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "orchard binary: $ORCHARD (built $(date -u -r "$ORCHARD" +%Y-%m-%dT%H:%M:%SZ))"
  echo "uptime before: $(uptime)"
} >"$WORK/machine.txt"

INPUT="$WORK/input-$N"
rm -rf "$INPUT"
python3 "$ROOT/bench/make_subset.py" "$DATA" "$INPUT" "$N" >&2

K=""
for peer in $PEERS; do
  case "$peer" in
    orchard)
      log "orchard run ($N images, --threads $CORES)"
      "${MEASURE[@]}" "$WORK/orchard.measure.json" -- "$ORCHARD" run -i "$INPUT" -o "$WORK/out-orchard" \
        --threads "$CORES" --batch-size "$BATCH" --overwrite --quiet --json >"$WORK/orchard.summary.json"
      K="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pca"]["k"])' "$WORK/orchard.summary.json")"
      ;;
    keras | onnx)
      # PCA with orchard's k (k of ~99 % variance on orchard's features) when orchard ran;
      # otherwise the peer picks k for 99 % variance itself (one more PCA fit).
      log "spark peer $peer ($N images, local[$CORES])"
      "${MEASURE[@]}" "$WORK/$peer.measure.json" -- "$PY_BENCH" "$ROOT/bench/spark_peer.py" --peer "$peer" \
        -i "$INPUT" -o "$WORK/out-$peer" --cores "$CORES" --batch-size "$BATCH" ${K:+--pca-k "$K"} \
        >"$WORK/$peer.stdout" 2>"$WORK/$peer.stderr" || log "peer $peer failed: see $WORK/$peer.stderr"
      ;;
    ceiling)
      log "inference ceiling ($N images)"
      "${MEASURE[@]}" "$WORK/ceiling.measure.json" -- "$CEILING" --images "$N" --batch-size "$BATCH" \
        --threads "$CORES" >"$WORK/ceiling.stdout"
      ;;
    *) log "unknown peer $peer"; exit 2 ;;
  esac
done

for size in $MEM_SIZES; do
  log "memory: orchard alone on $size images"
  input="$WORK/input-mem-$size"
  rm -rf "$input"
  python3 "$ROOT/bench/make_subset.py" "$DATA" "$input" "$size" >&2
  "${MEASURE[@]}" "$WORK/mem.$size.measure.json" -- "$ORCHARD" run -i "$input" -o "$WORK/out-mem-$size" \
    --threads "$CORES" --batch-size "$BATCH" --overwrite --quiet --json >"$WORK/mem.$size.summary.json"
  rm -rf "$input" "$WORK/out-mem-$size"
done
echo "uptime after: $(uptime)" >>"$WORK/machine.txt"

cat "$WORK/machine.txt"
python3 "$ROOT/bench/report.py" "$WORK" | tee "$WORK/tables.md"
