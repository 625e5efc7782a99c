#!/usr/bin/env bash
# Creates the Python environment of the Spark peers (bench/spark_peer.py): a plain venv
# .deps/venv-bench (separate from .deps/venv) with the pinned bench/requirements.txt
# (pyspark, tensorflow-cpu, onnxruntime, pillow, pandas, pyarrow). Spark needs Java 17
# (openjdk-17-jre-headless, installed by scripts/setup.sh). Safe to re-run: nothing is
# reinstalled while bench/requirements.txt is unchanged.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
VENV="$DEPS/venv-bench"
log() { printf '[bench-setup] %s\n' "$*" >&2; }

if ! command -v java >/dev/null 2>&1; then
  log "java not found: installing openjdk-17-jre-headless"
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless
fi
for tool in /usr/bin/time python3; do
  command -v "$tool" >/dev/null 2>&1 || { log "missing $tool (run scripts/setup.sh)"; exit 1; }
done

mkdir -p "$DEPS"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$ROOT/bench/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing bench/requirements.txt into $VENV (tensorflow-cpu + pyspark: ~1.5 GB)"
  "$VENV/bin/python" -m pip install -q -r "$ROOT/bench/requirements.txt"
  echo "$want" >"$stamp"
fi
log "ok: $VENV"
