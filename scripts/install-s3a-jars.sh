#!/usr/bin/env bash
# Installs the S3A connector for the Spark S3A test (tests/integration/test_spark_s3a.py)
# into <repo>/.deps/s3a-jars/: hadoop-aws of pyspark's own Hadoop version and its runtime
# dependencies (the AWS SDK v2 `bundle` jar, analyticsaccelerator-s3, wildfly-openssl),
# resolved by Maven (`mvn dependency:copy-dependencies` on a throw-away pom) from the
# default remote repository into ~/.m2, then copied here.
#
# The Hadoop version is read from pyspark's jars/hadoop-client-api-<version>.jar, so the
# connector always matches the Hadoop client classes it is loaded next to (mixing Hadoop
# versions on one classpath does not work). For pyspark 4.1.1: hadoop-aws 3.4.2 and
# bundle 2.29.52, about 645 MB in all, almost all of it the SDK bundle (~642 MB).
# Idempotent: does nothing when the stamp file names the same Hadoop version and every
# jar it lists is there.
#
# Env overrides: ORCHARD_DEPS (default <repo>/.deps), MVN (maven binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
PY="$DEPS/venv/bin/python"
DEST="$DEPS/s3a-jars"
STAMP="$DEST/.installed"

log() { printf '[install-s3a-jars] %s\n' "$*" >&2; }

if [ ! -x "$PY" ]; then
  log "ERROR: $PY not found: run scripts/setup.sh first (it installs pyspark)"
  exit 1
fi
spark_jars="$("$PY" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
api_jar="$(find "$spark_jars" -maxdepth 1 -name 'hadoop-client-api-*.jar' | head -n 1)"
if [ -z "$api_jar" ]; then
  log "ERROR: no hadoop-client-api-*.jar in $spark_jars"
  exit 1
fi
HADOOP_VERSION="$(basename "$api_jar" .jar)"
HADOOP_VERSION="${HADOOP_VERSION#hadoop-client-api-}"

# Already installed for this Hadoop version?
if [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "hadoop-aws $HADOOP_VERSION" ]; then
  complete=1
  while read -r jar; do
    [ -s "$DEST/$jar" ] || complete=0
  done < <(tail -n +2 "$STAMP")
  if [ "$complete" = 1 ]; then
    log "hadoop-aws $HADOOP_VERSION already in $DEST"
    exit 0
  fi
fi

MVN="${MVN:-$(command -v mvn || true)}"
if [ -z "$MVN" ]; then
  log "ERROR: Maven (mvn) not found: install the 'maven' package"
  exit 1
fi

log "resolving hadoop-aws $HADOOP_VERSION and its runtime dependencies with Maven"
start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>orchard.deps</groupId>
  <artifactId>s3a-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.hadoop</groupId>
      <artifactId>hadoop-aws</artifactId>
      <version>$HADOOP_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
# compile + runtime scope: hadoop-common etc. are `provided` (pyspark's Hadoop client jars).
(cd "$work" && "$MVN" -q -B dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$work/jars")

rm -rf "$DEST"
mkdir -p "$DEST"
cp "$work"/jars/*.jar "$DEST/"
{
  echo "hadoop-aws $HADOOP_VERSION"
  (cd "$DEST" && ls -1 -- *.jar)
} >"$STAMP"
log "installed in $(( $(date +%s) - start ))s: $(du -sh "$DEST" | cut -f1) in $DEST"
(cd "$DEST" && ls -l -- *.jar) >&2
