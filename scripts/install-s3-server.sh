#!/usr/bin/env bash
# Builds the MinIO server that the S3 integration tests start on loopback
# (tests/integration/s3server.py) into <repo>/.deps/bin/minio.
#
# MinIO is built from its Go module with plain `go install`, so the only network
# used is the Go module proxy. Everything Go writes (module cache, build cache,
# binary) stays under the git-ignored .deps/ folder.
# Idempotent: does nothing when .deps/bin/minio already is the pinned version
# (read from the Go build info embedded in the binary).
#
# The MinIO project publishes no semver tags, only RELEASE.<date> tags, which the
# module proxy does not resolve by name here; so the pin is the exact
# pseudo-version of a commit (the module's newest at the time of pinning).
# Build time on the 2-core development machine: see the timing printed below
# and the notes in tests/integration/s3server.py.
#
# Env overrides: ORCHARD_DEPS (default <repo>/.deps), GO (go binary).
set -euo pipefail

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
BIN="$DEPS/bin/minio"

log() { printf '[install-minio] %s\n' "$*" >&2; }

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ] && ! command -v "$GO" >/dev/null 2>&1; then
  log "ERROR: no Go toolchain found (install golang-go or set GO=/path/to/go)"
  exit 1
fi

# Keep the Go state inside the repo. GOPATH is the same folder scripts/setup.sh
# uses for its module downloads, so modules are shared, not fetched twice.
export GOPATH="$DEPS/go"
export GOCACHE="$DEPS/go-cache"
export GOBIN="$DEPS/bin"
export GOMODCACHE="$GOPATH/pkg/mod"
# -modcacherw: lets `rm -rf .deps` work (the module cache is read-only otherwise).
# -buildvcs=false: there is no VCS info for a module build anyway.
export GOFLAGS="-modcacherw -buildvcs=false"
# MinIO's own release builds are pure Go; no C compiler involvement needed.
export CGO_ENABLED=0
# Run outside any go.mod (the repo may contain one some day) so that
# `go install module@version` is in module-aware "global" mode.
cd "$DEPS" 2>/dev/null || { mkdir -p "$DEPS"; cd "$DEPS"; }

installed_version() {
  # Prints the main module's version recorded in the binary, or nothing.
  [ -x "$BIN" ] || return 0
  "$GO" version -m "$BIN" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

if [ "$(installed_version)" = "$MINIO_VERSION" ]; then
  log "$BIN is already $MINIO_MODULE@$MINIO_VERSION"
  exit 0
fi

mkdir -p "$GOBIN"
log "building $MINIO_MODULE@$MINIO_VERSION with $("$GO" version) (takes several minutes on 2 cores)"
start=$(date +%s)
# -trimpath: no local paths in the binary; -s -w: smaller binary, faster link.
"$GO" install -trimpath -ldflags="-s -w" "$MINIO_MODULE@$MINIO_VERSION"
end=$(date +%s)

got="$(installed_version)"
if [ "$got" != "$MINIO_VERSION" ]; then
  log "ERROR: built $BIN but it reports version '$got', expected $MINIO_VERSION"
  exit 1
fi
log "built $BIN in $((end - start)) s"
