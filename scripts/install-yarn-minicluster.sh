#!/usr/bin/env bash
# Fetches the jars of the loopback YARN cluster of tests/integration/test_spark_yarn.py into
# <repo>/.deps/hadoop/: Hadoop's MiniYARNCluster (hadoop-client-minicluster, the version of
# the Hadoop client jars inside pyspark 3.5: 3.3.4) and what it needs that pyspark does not
# ship (JUnit + Hamcrest, which MiniYARNCluster's test utilities load; BouncyCastle, which
# the ResourceManager's proxy CA loads). Everything else comes from pyspark's jars/.
#
# From Maven Central with curl; every jar is pinned by version and sha256 (checked after
# download; a mismatch deletes the file and fails). Idempotent: a present jar with the
# right sha256 is kept. Env overrides: ORCHARD_DEPS (default <repo>/.deps),
# ORCHARD_MAVEN_REPO (default https://repo1.maven.org/maven2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ORCHARD_DEPS:-$ROOT/.deps}/hadoop"
REPO="${ORCHARD_MAVEN_REPO:-https://repo1.maven.org/maven2}"

# path under the repository, sha256
JARS=(
  "org/apache/hadoop/hadoop-client-minicluster/3.3.4/hadoop-client-minicluster-3.3.4.jar cd8a1703393946c302bb3a52d0fcd23f6f8ded4554bc0dac5d2ee673dbe2b40e"
  "junit/junit/4.13.2/junit-4.13.2.jar 8e495b634469d64fb8acfa3495a065cbacc8a0fff55ce1e31007be4c16dc57d3"
  "org/hamcrest/hamcrest-core/1.3/hamcrest-core-1.3.jar 66fdef91e9739348df7a096aa384a5685f4e875584cce89386a7a47251c4d8e9"
  "org/bouncycastle/bcprov-jdk15on/1.68/bcprov-jdk15on-1.68.jar f732a46c8de7e2232f2007c682a21d1f4cc8a8a0149b6b7bd6aa1afdc65a0f8d"
  "org/bouncycastle/bcpkix-jdk15on/1.68/bcpkix-jdk15on-1.68.jar fb8d0f8f673ad6e16c604732093d7aa31b26ff4e0bd9cae1d7f99984c06b8a0f"
)

mkdir -p "$DEST"
for entry in "${JARS[@]}"; do
  path=${entry% *} want=${entry#* }
  file="$DEST/$(basename "$path")"
  if [[ -f "$file" ]] && [[ "$(sha256sum "$file" | cut -d' ' -f1)" == "$want" ]]; then
    continue
  fi
  echo "[install-yarn-minicluster] $REPO/$path" >&2
  curl -sSfL --retry 3 -o "$file.part" "$REPO/$path"
  got="$(sha256sum "$file.part" | cut -d' ' -f1)"
  if [[ "$got" != "$want" ]]; then
    rm -f "$file.part"
    echo "[install-yarn-minicluster] sha256 mismatch for $path: got $got, want $want" >&2
    exit 1
  fi
  mv "$file.part" "$file"
done
command -v javac >/dev/null 2>&1 || {
  echo "[install-yarn-minicluster] javac not found: the YARN test compiles its launcher (install a JDK 17, e.g. openjdk-17-jdk-headless)" >&2
  exit 1
}
