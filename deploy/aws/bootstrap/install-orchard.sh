#!/usr/bin/env bash
# EMR bootstrap action: runs as the hadoop user on every node (primary, core, task)
# before applications start. Installs the orchard wheel and the MobileNetV2 model from
# the project bucket, and a small launcher so spark-submit can run `-m orchard.spark`.
#
#   install-orchard.sh BUCKET [ARTIFACTS_PREFIX]
#
# Reads (instance role, IMDSv2):
#   s3://BUCKET/artifacts/orchard-*.whl                  newest version wins
#   s3://BUCKET/artifacts/mobilenet_v2_imagenet.onnx     + optional .sha256 next to it
# Writes:
#   /opt/orchard/mobilenet_v2_imagenet.onnx
#   /opt/orchard/orchard_spark_main.py                  runs python3 -m orchard.spark
set -euo pipefail

BUCKET="${1:?usage: install-orchard.sh BUCKET [ARTIFACTS_PREFIX]}"
PREFIX="${2:-artifacts}"
PREFIX="${PREFIX%/}"
DEST=/opt/orchard
MODEL=mobilenet_v2_imagenet.onnx
PYTHON="${ORCHARD_PYTHON:-/usr/bin/python3}"

log() { echo "install-orchard: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

retry() {  # retry N CMD...: S3 reads right after node start can fail transiently
  local n=$1 i; shift
  for ((i = 1; i <= n; i++)); do
    "$@" && return 0
    log "attempt $i/$n failed: $*"
    sleep $((i * 5))
  done
  return 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "fetching artifacts from s3://$BUCKET/$PREFIX/"
retry 5 aws s3 cp --only-show-errors --recursive \
  --exclude '*' --include 'orchard-*.whl' \
  "s3://$BUCKET/$PREFIX/" "$work/wheels/" || die "cannot list/download s3://$BUCKET/$PREFIX/orchard-*.whl"
wheel="$(find "$work/wheels" -maxdepth 1 -name 'orchard-*.whl' -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
[[ -n "$wheel" ]] || die "no s3://$BUCKET/$PREFIX/orchard-*.whl (run: deploy/aws/orchard-aws upload)"

retry 5 aws s3 cp --only-show-errors "s3://$BUCKET/$PREFIX/$MODEL" "$work/$MODEL" \
  || die "missing s3://$BUCKET/$PREFIX/$MODEL (run: deploy/aws/orchard-aws upload)"
if aws s3 cp --only-show-errors "s3://$BUCKET/$PREFIX/$MODEL.sha256" "$work/$MODEL.sha256" 2>/dev/null; then
  want="$(awk '{print $1; exit}' "$work/$MODEL.sha256")"
  got="$(sha256sum "$work/$MODEL" | awk '{print $1}')"
  [[ "$want" == "$got" ]] || die "model checksum mismatch: expected $want, got $got"
  log "model sha256 ok ($got)"
fi

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  log "pip missing for $PYTHON; installing python3-pip"
  retry 3 sudo dnf install -y -q python3-pip || die "cannot install python3-pip"
fi
log "installing $wheel with $PYTHON"
retry 3 sudo "$PYTHON" -m pip install --quiet --disable-pip-version-check "$work/wheels/$wheel" \
  || die "pip install $wheel failed (is the wheel built for this node's Python and CPU architecture?)"

sudo install -d -m 0755 "$DEST"
sudo install -m 0644 "$work/$MODEL" "$DEST/$MODEL"
sudo tee "$DEST/orchard_spark_main.py" >/dev/null <<'PY'
# spark-submit needs a file; this runs the orchard.spark module as `python3 -m orchard.spark`.
import runpy

runpy.run_module("orchard.spark", run_name="__main__", alter_sys=True)
PY
sudo chmod 0644 "$DEST/orchard_spark_main.py"

# Spark is installed after bootstrap actions run, so only the engine itself is checked here.
"$PYTHON" -c 'import orchard' || die "orchard does not import after installing $wheel (wrong Python/CPU build?)"
log "done: $wheel, $DEST/$MODEL"
