#!/usr/bin/env bash
# Builds the SeaweedFS server (`weed`, Apache-2.0) that the S3 integration tests
# start on loopback (tests/integration/s3server.py) into <repo>/.deps/bin/weed.
#
# SeaweedFS is built from its Go module with plain `go install`, so the only
# network used is the Go module proxy. Everything Go writes (module cache, build
# cache, binary) stays under the git-ignored .deps/ folder.
# Idempotent: does nothing when .deps/bin/weed already is the pinned version
# (read from the Go build info embedded in the binary).
#
# Why SeaweedFS: it is Apache-2.0 (MinIO, used before, is AGPLv3, which this
# workplace's package notes mark not-to-use), it is served by the module proxy,
# and its S3 gateway does SigV4 with static identities, ListObjectsV2 paging,
# multipart upload, CopyObject and DeleteObject.
# The pin is an exact pseudo-version (the project tags releases as x.yy, which
# are not Go semver tags).
# Build time on the 2-core development machine: see docs/s3.md (the time is
# also printed below).
#
# Env overrides: ORCHARD_DEPS (default <repo>/.deps), GO (go binary).
set -euo pipefail

WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_PACKAGE=$WEED_MODULE/weed
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
BIN="$DEPS/bin/weed"

log() { printf '[install-s3-server] %s\n' "$*" >&2; }

# shellcheck source=scripts/versions.sh
source "$ROOT/scripts/versions.sh"
# A Go new enough for the pinned SeaweedFS: the machine's, or one fetched into .deps/ as the
# golang.org/toolchain module when the machine's is older (e.g. Debian 12's 1.19).
GO="${GO:-$(bash "$ROOT/scripts/ensure-go.sh" "$WEED_GO_MIN")}"
unset GOROOT  # the chosen toolchain knows its own root

# Keep the Go state inside the repo. GOPATH is the same folder scripts/setup.sh
# uses for its module downloads, so modules are shared, not fetched twice.
export GOPATH="$DEPS/go"
export GOCACHE="$DEPS/go-cache"
export GOBIN="$DEPS/bin"
export GOMODCACHE="$GOPATH/pkg/mod"
# -modcacherw: lets `rm -rf .deps` work (the module cache is read-only otherwise).
# -buildvcs=false: there is no VCS info for a module build anyway.
export GOFLAGS="-modcacherw -buildvcs=false"
# SeaweedFS release builds are pure Go; no C compiler involvement needed.
export CGO_ENABLED=0
# Go may otherwise try to download a newer toolchain named in go.mod.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# Run outside any go.mod (the repo may contain one some day) so that
# `go install module@version` is in module-aware "global" mode.
cd "$DEPS" 2>/dev/null || { mkdir -p "$DEPS"; cd "$DEPS"; }

installed_version() {
  # Prints the seaweedfs module version recorded in the binary, or nothing.
  [ -x "$BIN" ] || return 0
  "$GO" version -m "$BIN" 2>/dev/null |
    awk -v m="$WEED_MODULE" '($1 == "mod" || $1 == "dep") && $2 == m { print $3; exit }'
}

if [ "$(installed_version)" = "$WEED_VERSION" ]; then
  log "$BIN is already $WEED_MODULE@$WEED_VERSION"
  exit 0
fi

# A build of the same pinned version made by an earlier checkout on this machine (our own
# build output, kept outside the repo so fresh clones and CI do not rebuild for 10+ min).
CACHE_DIR="${ORCHARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orchard}"
CACHED="$CACHE_DIR/weed-$WEED_VERSION"
if [ -x "$CACHED" ]; then
  mkdir -p "$(dirname "$BIN")"
  cp "$CACHED" "$BIN.tmp" && mv -f "$BIN.tmp" "$BIN"
  if [ "$(installed_version)" = "$WEED_VERSION" ]; then
    log "$BIN copied from the build cache $CACHED"
    exit 0
  fi
fi

mkdir -p "$GOBIN"
log "building $WEED_PACKAGE@$WEED_VERSION with $("$GO" version) (takes many minutes on 2 cores)"
start=$(date +%s)
# `go install module/pkg@version` refuses modules whose go.mod has replace
# directives, and seaweedfs's has one (github.com/tyler-smith/go-bip39 =>
# github.com/cosmos/go-bip39). So build from a throw-away wrapper module whose
# go.mod is seaweedfs's own (same requirements, same replace) plus a requirement
# on seaweedfs itself at the pinned version: the versions selected are exactly
# the ones seaweedfs's own build uses, and go.sum comes from seaweedfs.
"$GO" mod download "$WEED_MODULE@$WEED_VERSION"
SRC="$("$GO" mod download -json "$WEED_MODULE@$WEED_VERSION" |
  awk -F'"' '$2 == "Dir" { print $4; exit }')"
[ -f "$SRC/go.mod" ] || { log "ERROR: no go.mod in module source '$SRC'"; exit 1; }
WRAP="$DEPS/weed-build"
rm -rf "$WRAP"
mkdir -p "$WRAP"
sed 's|^module .*|module orchard.local/weedbuild|' "$SRC/go.mod" >"$WRAP/go.mod"
printf '\nrequire %s %s\n' "$WEED_MODULE" "$WEED_VERSION" >>"$WRAP/go.mod"
cp "$SRC/go.sum" "$WRAP/go.sum"
cd "$WRAP"
# -mod=mod: lets go add the go.sum lines for seaweedfs itself.
# -trimpath: no local paths in the binary; -s -w: smaller binary, faster link.
# -p 2: the development machine has 2 cores shared with others.
"$GO" build -mod=mod -p 2 -trimpath -ldflags="-s -w" -o "$BIN.tmp" "$WEED_PACKAGE"
mv -f "$BIN.tmp" "$BIN"
cd "$DEPS"
rm -rf "$WRAP"
end=$(date +%s)

got="$(installed_version)"
if [ "$got" != "$WEED_VERSION" ]; then
  log "ERROR: built $BIN but it reports version '$got', expected $WEED_VERSION"
  exit 1
fi
log "built $BIN in $((end - start)) s"
{ mkdir -p "$CACHE_DIR" && cp "$BIN" "$CACHED.tmp" && mv -f "$CACHED.tmp" "$CACHED"; } || log "note: could not store the build in $CACHE_DIR"
