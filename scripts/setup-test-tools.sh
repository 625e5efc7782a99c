#!/usr/bin/env bash
# Installs what only the tests need: the S3-compatible server for the S3 tests
# (SeaweedFS, Apache-2.0, built from its Go module into .deps/bin/weed) and a headless
# browser for the report test (Debian's chromium, installed only when missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install-s3-server.sh"
bash "$ROOT/scripts/install-s3a-jars.sh"  # hadoop-aws + AWS SDK v2 bundle for the Spark S3A test
if ! command -v chromium >/dev/null 2>&1; then  # renders report/index.html in test_report.py
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
