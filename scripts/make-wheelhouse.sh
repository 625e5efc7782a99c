#!/usr/bin/env bash
# Builds the wheelhouse the EMR nodes install orchard from, with no package index:
#
#   dist/wheelhouse/   the orchard wheel + binary wheels of its runtime dependencies
#                      (pyarrow, onnxruntime, numpy and theirs) + pandas (pyspark 3.5's
#                      Arrow/pandas support requires it on the driver and the executors),
#                      for CPython 3.11 on x86_64 manylinux (Amazon Linux 2023: glibc 2.34),
#                      + requirements.txt (what to install: orchard==VERSION and the
#                      extras) + SHA256SUMS
#
#   scripts/make-wheelhouse.sh [WHEEL]    WHEEL: default the newest dist/orchard-*.whl
#
# `deploy/aws/orchard-aws upload` runs it and syncs the result to
# s3://BUCKET/artifacts/wheelhouse/; the bootstrap action installs with
# `pip install --no-index --find-links DIR -r DIR/requirements.txt` into a python3.11 venv.
# tests/integration/test_wheel_chroot.py installs from it the same way.
#
# Downloads go through pip's configured package index (`pip download --only-binary=:all:
# --platform ... --python-version 3.11 --implementation cp`): nothing is built, so the
# result does not depend on this machine's OS or Python. Cached: when the dependency set
# (the wheel's Requires-Dist + the extras below + the target) is unchanged and every file
# is still there, no index is contacted; only the orchard wheel is replaced.
#
# Env: ORCHARD_WHEELHOUSE (output folder, default <repo>/dist/wheelhouse),
#      ORCHARD_PYTHON (the pip to use; default <repo>/.deps/venv/bin/python, else python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ORCHARD_WHEELHOUSE:-$ROOT/dist/wheelhouse}"
PY="${ORCHARD_PYTHON:-$ROOT/.deps/venv/bin/python}"
[[ -x "$PY" ]] || PY="$(command -v python3)"

# The target: EMR 7.x nodes (Amazon Linux 2023, glibc 2.34, x86_64) running python3.11.
PYTHON_VERSION=3.11
PLATFORMS=(manylinux2014_x86_64 manylinux_2_28_x86_64)
# Needed on the nodes beyond the wheel's own dependencies. pyspark 3.5 (EMR 7.x) checks
# for pandas >= 1.0.5 before any Arrow-based function (mapInArrow); pandas 3 drops APIs
# pyspark 3.5 uses, so stay on 2.x.
EXTRA_REQUIREMENTS=("pandas>=1.5,<3")

log() { printf '[make-wheelhouse] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

wheel="${1:-}"
if [[ -z "$wheel" ]]; then
  wheel="$(find "$ROOT/dist" -maxdepth 1 -name 'orchard-*.whl' -printf '%T@ %p\n' 2>/dev/null \
    | sort -n | tail -n 1 | cut -d' ' -f2- || true)"
  [[ -n "$wheel" ]] || die "no dist/orchard-*.whl: build it first (bash scripts/build-wheel.sh) or pass WHEEL"
fi
[[ -f "$wheel" ]] || die "no such wheel: $wheel"
# Work on a copy: the wheel given may be the one in $OUT, which is replaced below.
stage="$(mktemp -d)"
tmp=""
trap 'rm -rf "$stage" ${tmp:+"$tmp"}' EXIT
cp -p "$wheel" "$stage/"
wheel="$stage/$(basename "$wheel")"

# The wheel's tags (name-version-pythontag-abitag-platformtag.whl) and runtime requirements.
IFS=- read -r _ _ py_tag _ plat_tag <<<"$(basename "$wheel" .whl)"
case "$py_tag" in
  cp311 | py3 | cp3*abi3 | py2.py3) ;;
  *) log "warning: $(basename "$wheel") is for $py_tag, the nodes run CPython $PYTHON_VERSION (cp311)" ;;
esac
case "$plat_tag" in
  manylinux*x86_64* | any) ;;
  *) log "warning: $(basename "$wheel") is not a manylinux wheel ($plat_tag): it needs the build machine's shared libraries on the nodes" ;;
esac
reqs="$("$PY" - "$wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    for line in z.read(meta).decode().splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            print(line.split(":", 1)[1].strip())
PY
)" || die "cannot read the requirements of $wheel (not a wheel?)"
mapfile -t requirements <<<"$reqs"
[[ -n "${requirements[0]}" ]] || die "$(basename "$wheel") declares no dependencies: expected pyarrow, onnxruntime, numpy"
requirements+=("${EXTRA_REQUIREMENTS[@]}")

target=(--only-binary=:all: --python-version "$PYTHON_VERSION" --implementation cp)
for p in "${PLATFORMS[@]}"; do target+=(--platform "$p"); done
want_stamp="$(printf '%s\n' "${requirements[@]}" "${target[@]}" | sha256sum | cut -d' ' -f1)"

complete() { # the stamp matches and every file it lists is present
  [[ -f "$OUT/.stamp" && "$(head -n 1 "$OUT/.stamp")" == "$want_stamp" ]] || return 1
  local f
  while read -r f; do [[ -s "$OUT/$f" ]] || return 1; done < <(tail -n +2 "$OUT/.stamp")
}

if complete; then
  log "dependencies up to date in ${OUT#"$ROOT"/} (no index contacted)"
else
  log "downloading for cp${PYTHON_VERSION/./} ${PLATFORMS[*]}: ${requirements[*]}"
  tmp="$OUT.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  "$PY" -m pip download --quiet --disable-pip-version-check -d "$tmp" "${target[@]}" "${requirements[@]}" >&2 \
    || die "pip download failed (is the package index reachable? see pip's message above)"
  { echo "$want_stamp"; (cd "$tmp" && find . -maxdepth 1 -name '*.whl' -printf '%f\n' | sort); } >"$tmp/.stamp"
  rm -rf "$OUT"
  mkdir -p "$(dirname "$OUT")"
  mv "$tmp" "$OUT"
  tmp=""
fi

# Exactly one orchard wheel: the one given.
find "$OUT" -maxdepth 1 -name 'orchard-*.whl' -delete
cp -p "$wheel" "$OUT/"
version="$(basename "$wheel" | cut -d- -f2)"
printf '%s\n' "# pip install --no-index --find-links THIS_FOLDER -r requirements.txt" \
  "orchard==$version" "${EXTRA_REQUIREMENTS[@]}" >"$OUT/requirements.txt"
(cd "$OUT" && sha256sum ./*.whl | sed 's#  \./#  #' >SHA256SUMS)

# Offline check that the folder is complete: resolve orchard from it alone, for the target
# (plus the orchard wheel's own platform tag, which may be plain linux_x86_64 today).
check_target=("${target[@]}")
[[ "$plat_tag" == any ]] || check_target+=(--platform "$plat_tag")
"$PY" -m pip install --quiet --disable-pip-version-check --dry-run --ignore-installed --no-index \
  --find-links "$OUT" --target "$OUT.check" "${check_target[@]}" -r "$OUT/requirements.txt" >&2 \
  || die "the wheelhouse does not resolve offline (see pip's message above)"
rm -rf "$OUT.check"

log "$(find "$OUT" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT"
printf '%s\n' "$OUT"
