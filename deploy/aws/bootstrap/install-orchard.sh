#!/usr/bin/env bash
# EMR bootstrap action: runs as the hadoop user on every node (primary, core, task)
# before applications start. Installs python3.11, a venv with the orchard wheel and its
# dependencies from the project bucket (no package index needed), the MobileNetV2 model,
# and a small launcher so spark-submit can run `-m orchard.spark`.
#
#   install-orchard.sh BUCKET [ARTIFACTS_PREFIX]
#
# Reads (instance role, IMDSv2):
#   s3://BUCKET/artifacts/wheelhouse/                    orchard + dependency wheels,
#                                                        requirements.txt, SHA256SUMS
#                                                        (scripts/make-wheelhouse.sh)
#   s3://BUCKET/artifacts/mobilenet_v2_imagenet.onnx     + optional .sha256 next to it
# Installs (Amazon Linux 2023 package repositories): python3.11 python3.11-pip
# Writes:
#   /opt/orchard/venv/                                   python3.11 venv: orchard, pyarrow,
#                                                        onnxruntime, numpy, pandas; its
#                                                        bin/python is PYSPARK_PYTHON
#   /opt/orchard/mobilenet_v2_imagenet.onnx
#   /opt/orchard/orchard_spark_main.py                   runs python -m orchard.spark
set -euo pipefail

BUCKET="${1:?usage: install-orchard.sh BUCKET [ARTIFACTS_PREFIX]}"
PREFIX="${2:-artifacts}"
PREFIX="${PREFIX%/}"
DEST=/opt/orchard
VENV=$DEST/venv
MODEL=mobilenet_v2_imagenet.onnx
# EMR 7.x: /usr/bin/python3 is 3.9; orchard's wheel and wheelhouse are for CPython 3.11.
PYTHON="${ORCHARD_PYTHON:-python3.11}"

log() { echo "install-orchard: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

retry() {  # retry N CMD...: S3 reads and dnf right after node start can fail transiently
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
  "s3://$BUCKET/$PREFIX/wheelhouse/" "$work/wheelhouse/" \
  || die "cannot download s3://$BUCKET/$PREFIX/wheelhouse/ (run: deploy/aws/orchard-aws upload)"
[[ -f "$work/wheelhouse/requirements.txt" ]] \
  || die "no s3://$BUCKET/$PREFIX/wheelhouse/requirements.txt (run: deploy/aws/orchard-aws upload)"
compgen -G "$work/wheelhouse/orchard-*.whl" >/dev/null \
  || die "no orchard wheel in s3://$BUCKET/$PREFIX/wheelhouse/ (run: deploy/aws/orchard-aws upload)"
if [[ -f "$work/wheelhouse/SHA256SUMS" ]]; then
  (cd "$work/wheelhouse" && sha256sum --check --quiet --strict SHA256SUMS) \
    || die "wheelhouse checksum mismatch (partial upload? run: deploy/aws/orchard-aws upload)"
  log "wheelhouse sha256 ok ($(grep -c . "$work/wheelhouse/SHA256SUMS") wheels)"
fi

retry 5 aws s3 cp --only-show-errors "s3://$BUCKET/$PREFIX/$MODEL" "$work/$MODEL" \
  || die "missing s3://$BUCKET/$PREFIX/$MODEL (run: deploy/aws/orchard-aws upload)"
if aws s3 cp --only-show-errors "s3://$BUCKET/$PREFIX/$MODEL.sha256" "$work/$MODEL.sha256" 2>/dev/null; then
  want="$(awk '{print $1; exit}' "$work/$MODEL.sha256")"
  got="$(sha256sum "$work/$MODEL" | awk '{print $1}')"
  [[ "$want" == "$got" ]] || die "model checksum mismatch: expected $want, got $got"
  log "model sha256 ok ($got)"
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  log "installing python3.11 (dnf)"
  retry 3 sudo dnf install -y -q python3.11 python3.11-pip || die "cannot install python3.11 with dnf"
fi
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || die "$PYTHON is not Python 3.11 (the wheelhouse is for cp311)"

log "creating $VENV and installing orchard from the wheelhouse (no package index)"
sudo install -d -m 0755 "$DEST"
sudo rm -rf "$VENV"
sudo "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv $VENV failed (is python3.11-pip installed?)"
sudo "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
  --no-index --find-links "$work/wheelhouse" -r "$work/wheelhouse/requirements.txt" \
  || die "pip install from the wheelhouse failed (wheel built for another Python/CPU, or a dependency missing from it?)"

sudo install -m 0644 "$work/$MODEL" "$DEST/$MODEL"
sudo tee "$DEST/orchard_spark_main.py" >/dev/null <<'PY'
# spark-submit needs a file; this runs the orchard.spark module as `python -m orchard.spark`.
import runpy

runpy.run_module("orchard.spark", run_name="__main__", alter_sys=True)
PY
sudo chmod 0644 "$DEST/orchard_spark_main.py"

# Spark is installed after bootstrap actions run, so only the engine itself is checked here.
"$VENV/bin/python" -c 'import orchard, orchard._native' \
  || die "orchard does not import in $VENV (wrong Python/CPU build, or a library missing from the wheel?)"
log "done: $(cd "$work/wheelhouse" && echo orchard-*.whl) in $VENV, $DEST/$MODEL"
