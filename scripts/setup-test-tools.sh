#!/usr/bin/env bash
# Installs what only the tests need: the S3-compatible server for the S3 tests
# (SeaweedFS, Apache-2.0, built from its Go module into .deps/bin/weed), a headless
# browser for the report test (Debian's chromium, installed only when missing), and the
# clean Debian 12 chroot + pyspark 3.5 wheel of the wheel install test, and the jars of
# the loopback YARN cluster of the Spark-on-YARN test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install-s3-server.sh"
if ! command -v chromium >/dev/null 2>&1; then  # renders report/index.html in test_report.py
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
# Debian 12 minbase chroot (.deps/chroot-bookworm) + pyspark 3.5.x wheel for
# tests/integration/test_wheel_chroot.py; cached (about 3.5 min the first time, 0.1 s after).
# Exit 77 = this machine cannot make a chroot (not root, ...): the test then skips.
rc=0
bash "$ROOT/scripts/make-test-chroot.sh" >/dev/null || rc=$?
if [[ $rc == 77 ]]; then
  echo "setup-test-tools: no test chroot on this machine; test_wheel_chroot.py will skip" >&2
elif [[ $rc != 0 ]]; then
  exit "$rc"
fi
bash "$ROOT/scripts/install-spark4.sh"  # pyspark 4.x for the Spark 4 smoke test
# Hadoop's MiniYARNCluster jars (.deps/hadoop) for tests/integration/test_spark_yarn.py.
bash "$ROOT/scripts/install-yarn-minicluster.sh"
