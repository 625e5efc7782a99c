#!/usr/bin/env bash
# Configures and builds orchard (Release, warnings as errors) into build/.
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ORCHARD_BUILD_DIR:-$ROOT/build}"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DORCHARD_WERROR=ON -DORCHARD_BUILD_PYTHON=ON "$@" >/dev/null
cmake --build "$BUILD_DIR"
