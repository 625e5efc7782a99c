#!/usr/bin/env bash
# Installs everything orchard needs on a fresh Debian 12 / Ubuntu 22.04+ machine.
#
# System packages go through apt; Python packages, ONNX Runtime and Arrow C++ go into
# the git-ignored project folder .deps/ so nothing else on the machine changes.
# Safe to re-run: every step checks whether its result is already there.
# Where each dependency comes from, and why, is in docs/decisions.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${ORCHARD_DEPS:-$ROOT/.deps}"
# shellcheck source=scripts/versions.sh
source "$ROOT/scripts/versions.sh"

log() { printf '[setup] %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# ---------------------------------------------------------------- system packages
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  python3 python3-venv python3-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libjpeg-dev libpng-dev libwebp-dev zlib1g-dev gfortran
  libeigen3-dev libopenblas-dev liblapacke-dev libcli11-dev nlohmann-json3-dev libssl-dev
  liblbfgspp-dev
  libfaiss-dev
  libgtest-dev libgmock-dev libexpat1-dev
  libarchive-dev
  clang clang-format libclang-rt-14-dev
  openjdk-17-jre-headless
  shellcheck time
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Go builds the S3 test server (SeaweedFS) from its module; a preinstalled Go is preferred
# (SeaweedFS needs Go >= 1.24: Debian 12's golang-go is older, see docs/s3.md).
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then missing+=(golang-go); fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- python environment
mkdir -p "$DEPS"
if [ ! -x "$DEPS/venv/bin/python" ]; then
  log "creating $DEPS/venv"
  python3 -m venv "$DEPS/venv"
fi
PY="$DEPS/venv/bin/python"
stamp="$DEPS/venv/.requirements.sha256"
want="$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing Python packages (scripts/requirements.txt)"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q -r "$ROOT/scripts/requirements.txt"
  echo "$want" >"$stamp"
fi

# ---------------------------------------------------------------- Arrow C++ (pyarrow wheel)
"$PY" - <<'PYEOF'
import pyarrow
pyarrow.create_library_symlinks()
PYEOF

# ---------------------------------------------------------------- ONNX Runtime C API
# Library: the onnxruntime wheel's capi/libonnxruntime.so.<version>.
# Headers: onnxruntime_c_api.h (+ onnxruntime_ep_c_api.h, which it includes) of the same API version, as shipped in the Go module
# github.com/yalue/onnxruntime_go (MIT, Microsoft's header unchanged); checked by sha256.
ORT_DIR="$DEPS/onnxruntime"
mkdir -p "$ORT_DIR/include" "$ORT_DIR/lib"
if [ ! -f "$ORT_DIR/include/onnxruntime_c_api.h" ]; then
  GO="$(command -v go || echo /usr/local/go/bin/go)"
  log "fetching onnxruntime_c_api.h (module $ORT_GO_MODULE@$ORT_GO_MODULE_VERSION)"
  moddir="$(cd "$DEPS" && GOPATH="$DEPS/go" GOFLAGS=-modcacherw "$GO" mod download -json \
      "$ORT_GO_MODULE@$ORT_GO_MODULE_VERSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  (cd "$moddir" && printf '%s\n' "${ORT_HEADER_SHA256S[@]}" | sha256sum -c --quiet -)
  cp "$moddir/onnxruntime_c_api.h" "$moddir/onnxruntime_ep_c_api.h" "$ORT_DIR/include/"
fi
ort_capi="$("$PY" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')"
ort_lib="$ort_capi/libonnxruntime.so.$ORT_VERSION"
[ -f "$ort_lib" ] || { log "ERROR: $ort_lib not found: onnxruntime==$ORT_VERSION wheel missing?"; exit 1; }
ln -sf "$ort_lib" "$ORT_DIR/lib/libonnxruntime.so.1"
ln -sf "$ort_lib" "$ORT_DIR/lib/libonnxruntime.so"

log "dependencies ready in $DEPS"
