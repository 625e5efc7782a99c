#!/usr/bin/env bash
# Installs what only the tests need: the S3-compatible server for the S3 tests
# (SeaweedFS, Apache-2.0, built from its Go module into .deps/bin/weed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install-s3-server.sh"
bash "$ROOT/scripts/install-s3a-jars.sh"  # hadoop-aws + AWS SDK v2 bundle for the Spark S3A test
