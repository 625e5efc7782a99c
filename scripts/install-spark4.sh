#!/usr/bin/env bash
# Installs pyspark 4.x (+ its py4j) into .deps/pyspark4/, outside the project venv (which
# holds pyspark 3.5, EMR 7's line), for the Spark 4 smoke test: the test puts this folder
# first on PYTHONPATH. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
PY="$DEPS/venv/bin/python"
VERSION="${ORCHARD_SPARK4_VERSION:-4.1.1}"
PY4J_VERSION=0.10.9.9
DEST="$DEPS/pyspark4"
STAMP="$DEST/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "pyspark==$VERSION py4j==$PY4J_VERSION" ]; then
  exit 0
fi
echo "[install-spark4] pyspark $VERSION into $DEST" >&2
rm -rf "$DEST"
"$PY" -m pip install -q --no-deps --target "$DEST" "pyspark==$VERSION" "py4j==$PY4J_VERSION"
echo "pyspark==$VERSION py4j==$PY4J_VERSION" >"$STAMP"
