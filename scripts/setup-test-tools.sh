#!/usr/bin/env bash
# Installs what only the tests need: the MinIO server (S3 tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$ROOT/scripts/install-minio.sh" ]; then bash "$ROOT/scripts/install-minio.sh"; fi
