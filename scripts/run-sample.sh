#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole pipeline on the bundled 60-image sample.
# Results go to out/sample/ (replaced on every run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"
OUT="$ROOT/out/sample"
"$ROOT/build/apps/orchard/orchard" run --input "$ROOT/data/sample" --output "$OUT" --overwrite
echo
echo "Results are in $OUT:"
echo "  features/  pca/  errors/   Parquet tables (path, label, vector)"
echo "  pca_model/                 mean, components, explained variance (model.json, components.parquet)"
echo "  report/index.html          the run at a glance: counts, scree, PCA scatter, classes, errors"
echo "  report/scree.svg           cumulative explained-variance plot (open it in a browser)"
echo "  report/summary.json        counts, timings, images/s, peak memory"
