#!/usr/bin/env bash
# Prints the path of a Go toolchain of at least version $1 (e.g. 1.26.6), obtaining one when
# the machine's is older or missing:
#
#   GO="$(bash scripts/ensure-go.sh 1.26.6)"
#
# 1. `go` on PATH (else /usr/local/go/bin/go), when new enough.
# 2. The toolchain cached in .deps/go-toolchain/, when new enough.
# 3. Otherwise the official toolchain as the Go module `golang.org/toolchain` (the same module
#    the go command itself fetches for GOTOOLCHAIN=goX.Y.Z), downloaded through the Go module
#    proxy by whatever Go is at hand (Debian 12's golang-go 1.19 can; it is installed with apt
#    when there is no Go at all), checked by the module proxy's checksum database, and cached
#    in .deps/go-toolchain/.
# Only the path goes to stdout; progress goes to stderr.
set -euo pipefail

MIN="${1:?usage: ensure-go.sh MIN_VERSION}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
# shellcheck source=scripts/versions.sh
source "$ROOT/scripts/versions.sh"
CACHED="$DEPS/go-toolchain/bin/go"

log() { printf '[ensure-go] %s\n' "$*" >&2; }

# go version -> "1.26.8" ("go version go1.26.8 linux/amd64"); empty when it does not run.
version_of() { "$1" version 2>/dev/null | awk '{ sub(/^go/, "", $3); print $3 }'; }

# True when version $1 >= version $2 (numeric, dot-separated; "1.22rc1"-style tails ignored).
at_least() {
  local IFS=.
  # shellcheck disable=SC2206  # splitting on dots is the point
  local have=(${1%%[a-z]*}) want=(${2%%[a-z]*})
  local idx
  for idx in 0 1 2; do
    local h=${have[idx]:-0} w=${want[idx]:-0}
    ((10#$h > 10#$w)) && return 0
    ((10#$h < 10#$w)) && return 1
  done
  return 0
}

candidates=()
if command -v go >/dev/null 2>&1; then
  candidates+=("$(command -v go)")
elif [ -x /usr/local/go/bin/go ]; then  # the official install, not on PATH
  candidates+=(/usr/local/go/bin/go)
fi
[ -x "$CACHED" ] && candidates+=("$CACHED")
for go in "${candidates[@]}"; do
  have="$(version_of "$go")"
  if [ -n "$have" ] && at_least "$have" "$MIN"; then
    echo "$go"
    exit 0
  fi
done

# Nothing new enough: fetch the pinned toolchain module with any Go there is.
bootstrap=""
for go in "${candidates[@]}"; do
  [ -n "$(version_of "$go")" ] && bootstrap="$go" && break
done
if [ -z "$bootstrap" ]; then
  log "no Go found: installing Debian's golang-go to download the Go $GO_TOOLCHAIN_VERSION toolchain"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go >&2
  bootstrap="$(command -v go)"
fi
arch="$(uname -m)"
case "$arch" in
  x86_64) goarch=amd64 ;;
  aarch64) goarch=arm64 ;;
  *) log "ERROR: no Go toolchain module for $arch"; exit 1 ;;
esac
module="golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-$goarch"
log "$bootstrap is Go $(version_of "$bootstrap") (< $MIN): downloading $module"
dl="$DEPS/go-toolchain-download"
dir="$(cd "$DEPS" && GOPATH="$dl" GOFLAGS=-modcacherw GO111MODULE=on GOTOOLCHAIN=local \
  "$bootstrap" mod download -json "$module" | awk -F'"' '$2 == "Dir" { print $4; exit }')"
[ -x "$dir/bin/go" ] || [ -f "$dir/bin/go" ] || { log "ERROR: $module has no bin/go"; exit 1; }
rm -rf "$DEPS/go-toolchain.tmp"
cp -r "$dir" "$DEPS/go-toolchain.tmp"
# Module zips carry no permission bits: make the tools executable (as the go command does
# when it switches toolchains).
chmod +x "$DEPS/go-toolchain.tmp/bin/"* "$DEPS/go-toolchain.tmp/pkg/tool/"*/*
rm -rf "$DEPS/go-toolchain" "$dl"
mv "$DEPS/go-toolchain.tmp" "$DEPS/go-toolchain"
have="$(version_of "$CACHED")"
if [ -z "$have" ] || ! at_least "$have" "$MIN"; then
  log "ERROR: the downloaded toolchain reports '$have', need >= $MIN"
  exit 1
fi
log "Go $have ready in $DEPS/go-toolchain"
echo "$CACHED"
