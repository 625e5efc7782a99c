#!/usr/bin/env bash
# Prepares the clean environment of tests/integration/test_wheel_chroot.py, the test that
# installs the orchard wheel the way an EMR node does (no build tree, no -dev packages,
# no package index):
#
#   .deps/chroot-bookworm/          Debian 12 `debootstrap --variant=minbase bookworm` root
#                                   with python3 (3.11), python3-venv, openjdk-17-jre-headless
#   .deps/pyspark-wheels/VERSION/   pyspark VERSION built into a wheel (PyPI has only an
#                                   sdist) + the py4j wheel it pins
#
# Idempotent and cached: the chroot is rebuilt only when its package list (or this
# script's chroot recipe) changes (stamp: .deps/chroot-bookworm/.orchard-stamp), the
# pyspark wheels only when missing. First run: debootstrap from the Debian mirror this
# machine's apt is configured with (read from /etc/apt/sources.list*, never hard-coded) and
# `pip wheel pyspark` from the package index pip is configured with.
#
#   scripts/make-test-chroot.sh        prints, on stdout, lines KEY=VALUE:
#                                      chroot=DIR pyspark_version=V pyspark_wheels=DIR
#   scripts/make-test-chroot.sh --check   only says (fast, no downloads) whether this
#                                      machine can have the chroot: exit 0 or 77
#
# Env: ORCHARD_TEST_PYSPARK_VERSION (default below; a 3.5.x for EMR 7.x),
#      ORCHARD_DEPS (default <repo>/.deps), ORCHARD_CHROOT_MIRROR (a Debian mirror URL;
#      default: the bookworm entry of the apt sources).
# Exit status: 0 ready; 77 this machine cannot build or use a chroot (not root, no
# debootstrap and no apt-get to install it, no Debian bookworm mirror in the apt sources,
# mounts not permitted) — the reason is the last line on stderr; 1 any other failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
CHROOT="$DEPS/chroot-bookworm"
STAMP="$CHROOT/.orchard-stamp"
SUITE=bookworm
VARIANT=minbase
PACKAGES=(python3 python3-venv openjdk-17-jre-headless)
# Mount points the test binds its inputs to (created empty in the chroot).
MOUNT_POINTS=(wheelhouse pyspark-wheels artifacts fakebin sample out opt/orchard)
PYSPARK_VERSION="${ORCHARD_TEST_PYSPARK_VERSION:-3.5.9}"
PYSPARK_DIR="$DEPS/pyspark-wheels/$PYSPARK_VERSION"

log() { printf '[make-test-chroot] %s\n' "$*" >&2; }
cannot() { log "CANNOT: $*"; exit 77; }
die() { log "ERROR: $*"; exit 1; }

CHECK_ONLY=0
case "${1:-}" in
  --check) CHECK_ONLY=1 ;;
  "") ;;
  *) die "usage: make-test-chroot.sh [--check]" ;;
esac

# ------------------------------------------------------------------ can we at all?
[[ "$(uname -s)" == Linux ]] || cannot "not Linux"
[[ "$(id -u)" == 0 ]] || cannot "needs root (debootstrap and chroot)"
[[ "$(uname -m)" == x86_64 ]] || cannot "the chroot test is for x86_64 (the EMR node type), this is $(uname -m)"
if ! unshare --mount --propagation private true 2>/dev/null; then
  cannot "mount namespaces not permitted here (unshare --mount failed)"
fi

# The recipe the stamp covers: change any of it and the chroot is rebuilt.
recipe="suite=$SUITE variant=$VARIANT packages=${PACKAGES[*]} mounts=${MOUNT_POINTS[*]} recipe=3"
want_stamp="$(printf '%s\n' "$recipe" | sha256sum | cut -d' ' -f1)"

# mirror_from_apt: the first URI serving Debian $SUITE (main) in the apt sources, one-line
# (sources.list, *.list) or deb822 (*.sources) format. Prints "URI KEYRING" (KEYRING may be
# empty).
mirror_from_apt() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2; keyring = ""
        if ($2 ~ /^\[/) {  # options: [signed-by=... arch=...]
          while (i <= NF) {
            opt = $i; gsub(/[\[\]]/, "", opt)
            if (opt ~ /^signed-by=/) { sub(/^signed-by=/, "", opt); keyring = opt }
            if ($i ~ /\]$/) { i++; break }
            i++
          }
        }
        if ($(i + 1) == suite) { print $i, keyring; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$SUITE" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ") \
            && (" " comps " ") ~ / main /) {
          split(uris, u, " "); print u[1], keyring; found = 1; exit
        }
        types = uris = suites = comps = keyring = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0
        else if (key == "uris") uris = $0
        else if (key == "suites") suites = $0
        else if (key == "components") comps = $0
        else if (key == "signed-by") keyring = $0
        else if (key == "enabled") enabled = tolower($0)
      }
      END { if (!found) flush() }' "$f"
  done
}

build_chroot() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || cannot "debootstrap is not installed and there is no apt-get to install it"
    log "installing debootstrap (apt-get)"
    apt-get install -y -q debootstrap >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q debootstrap >&2; } \
      || cannot "debootstrap is not installed and apt-get install debootstrap failed"
  fi
  local mirror keyring line
  if [[ -n "${ORCHARD_CHROOT_MIRROR:-}" ]]; then
    mirror=$ORCHARD_CHROOT_MIRROR keyring=""
  else
    line="$(mirror_from_apt | head -n 1)"
    [[ -n "$line" ]] || cannot "no Debian '$SUITE' mirror in /etc/apt/sources.list* (set ORCHARD_CHROOT_MIRROR)"
    mirror="${line%% *}" keyring="${line#* }"
    [[ "$keyring" == "$mirror" ]] && keyring=""
  fi
  local -a kr=()
  if [[ -n "$keyring" && -f "$keyring" ]]; then
    kr=(--keyring "$keyring")
  elif [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
    kr=(--keyring /usr/share/keyrings/debian-archive-keyring.gpg)
  fi

  local tmp="$CHROOT.tmp.$$"
  rm -rf "$tmp"
  # debootstrap mounts /proc and /sys inside the target while it configures packages;
  # a private mount namespace guarantees none of them outlives it, even on failure.
  log "debootstrap --variant=$VARIANT $SUITE (${PACKAGES[*]}) from $mirror"
  local start=$SECONDS
  if ! unshare --mount --propagation private \
      debootstrap --variant="$VARIANT" --include="$(IFS=,; echo "${PACKAGES[*]}")" \
      ${kr[@]+"${kr[@]}"} "$SUITE" "$tmp" "$mirror" >&2; then
    [[ -f "$tmp/debootstrap/debootstrap.log" ]] && tail -n 30 "$tmp/debootstrap/debootstrap.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed (mirror $mirror)"
  fi
  # Smaller and reproducible: no downloaded .debs, apt lists; the mount points exist.
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/debootstrap
  local m
  for m in "${MOUNT_POINTS[@]}"; do mkdir -p "$tmp/$m"; done
  chmod 1777 "$tmp/tmp"
  # debootstrap writes no /etc/hosts (the installer does): Spark binds to "localhost".
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$tmp/etc/hosts"
  # Sanity check: the interpreter and Java run inside.
  # shellcheck disable=SC2016  # $1 is expanded by the inner sh
  unshare --mount --propagation private sh -c '
    mount -t proc proc "$1/proc" && chroot "$1" /usr/bin/python3 -c "import venv, sys; print(sys.version)" \
      && chroot "$1" java -version' sh "$tmp" >&2 || { rm -rf "$tmp"; die "the new chroot does not run python3/java"; }
  echo "$want_stamp" >"$tmp/.orchard-stamp"
  rm -rf "$CHROOT"
  mv "$tmp" "$CHROOT"
  log "chroot ready in $((SECONDS - start)) s: $CHROOT ($(du -sh "$CHROOT" | cut -f1))"
}

build_pyspark_wheels() {
  local py="$DEPS/venv/bin/python"
  [[ -x "$py" ]] || py="$(command -v python3)"
  local tmp="$PYSPARK_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building the pyspark $PYSPARK_VERSION wheel (PyPI ships an sdist) with $py"
  local start=$SECONDS
  "$py" -m pip wheel --quiet --no-deps --no-cache-dir -w "$tmp" "pyspark==$PYSPARK_VERSION" >&2 \
    || { rm -rf "$tmp"; die "pip wheel pyspark==$PYSPARK_VERSION failed"; }
  local whl
  whl="$(find "$tmp" -maxdepth 1 -name 'pyspark-*.whl' | head -n 1)"
  [[ -n "$whl" ]] || { rm -rf "$tmp"; die "no pyspark wheel was built"; }
  # Its pinned dependency (py4j==...), as a wheel.
  local reqs
  reqs="$("$py" - "$whl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    for line in z.read(meta).decode().splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            print(line.split(":", 1)[1].split(";")[0].strip().replace(" ", ""))
PY
)"
  if [[ -n "$reqs" ]]; then
    # shellcheck disable=SC2086  # one requirement per word
    "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" $reqs >&2 \
      || { rm -rf "$tmp"; die "pip download $reqs failed"; }
  fi
  rm -rf "$PYSPARK_DIR"
  mv "$tmp" "$PYSPARK_DIR"
  log "pyspark wheels ready in $((SECONDS - start)) s: $(cd "$PYSPARK_DIR" && echo *.whl)"
}

chroot_current() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" && -x "$CHROOT/usr/bin/python3" ]]
}

if [[ "$CHECK_ONLY" == 1 ]]; then
  if ! chroot_current; then  # it would have to be built: can it?
    command -v debootstrap >/dev/null 2>&1 || command -v apt-get >/dev/null 2>&1 \
      || cannot "debootstrap is not installed and there is no apt-get to install it"
    [[ -n "${ORCHARD_CHROOT_MIRROR:-}" || -n "$(mirror_from_apt | head -n 1)" ]] \
      || cannot "no Debian '$SUITE' mirror in /etc/apt/sources.list* (set ORCHARD_CHROOT_MIRROR)"
  fi
  log "this machine can have the test chroot"
  exit 0
fi

mkdir -p "$DEPS"
# One builder at a time (several worktrees share .deps; tests may run in parallel).
exec 9>"$DEPS/.make-test-chroot.lock"
flock 9
# Leftovers of an interrupted build (only a lock holder builds, so none is in use).
rm -rf "$CHROOT".tmp.* "$DEPS"/pyspark-wheels/*.tmp.*

if chroot_current; then
  log "chroot up to date: $CHROOT"
else
  build_chroot
fi
if compgen -G "$PYSPARK_DIR/pyspark-*.whl" >/dev/null && compgen -G "$PYSPARK_DIR/py4j-*.whl" >/dev/null; then
  log "pyspark $PYSPARK_VERSION wheels present: $PYSPARK_DIR"
else
  build_pyspark_wheels
fi

printf 'chroot=%s\npyspark_version=%s\npyspark_wheels=%s\n' "$CHROOT" "$PYSPARK_VERSION" "$PYSPARK_DIR"
