#!/usr/bin/env bash
# Checks the orchard wheel in dist/ (scripts/build-wheel.sh; with --build, builds it first:
# incremental, in build-wheel/):
#   1. `auditwheel show`: the platform tag is manylinux_2_34_x86_64 or older, and the only
#      libraries outside the manylinux policy it needs are those of its declared
#      dependencies (pyarrow's libarrow/libparquet, onnxruntime's libonnxruntime).
#   2. objdump -T: no symbol needs a glibc newer than 2.34, none needs libstdc++
#      (GLIBCXX/CXXABI: the C++ runtime is linked in), and only PyInit__native is exported.
#   3. It installs into a fresh venv with `pip install --no-index` from a wheelhouse of its
#      dependencies (ORCHARD_WHEELHOUSE, default build-wheel/wheelhouse, filled once by
#      `pip download`), and the installed package, run from outside the source tree, gives
#      the reference photos their reference top-1 classes and features.
# Registered in ctest as wheel_check (label `wheel`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${ORCHARD_PYTHON:-$ROOT/.deps/venv/bin/python}"
WHEELHOUSE="${ORCHARD_WHEELHOUSE:-$ROOT/build-wheel/wheelhouse}"
MAX_GLIBC="2.34"
fail() { echo "check-wheel: FAIL: $*" >&2; exit 1; }

if [ "${1:-}" = "--build" ]; then bash "$ROOT/scripts/build-wheel.sh"; fi
shopt -s nullglob
wheels=("$ROOT"/dist/orchard-*.whl)
[ "${#wheels[@]}" -eq 1 ] || fail "expected one dist/orchard-*.whl (run scripts/build-wheel.sh)"
WHEEL="${wheels[0]}"
echo "check-wheel: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

# 1. The tag and auditwheel's verdict.
case "$(basename "$WHEEL")" in
  *-cp311-cp311-manylinux_2_*_x86_64.whl) ;;
  *) fail "not a cp311 manylinux x86_64 wheel: $(basename "$WHEEL")" ;;
esac
tag_glibc="$(basename "$WHEEL" | sed -E 's/.*manylinux_2_([0-9]+)_x86_64.*/\1/')"
[ "$tag_glibc" -le 34 ] || fail "tag manylinux_2_${tag_glibc} is newer than manylinux_2_34"
"$PY" -m auditwheel show "$WHEEL" | sed 's/^/  /'
# auditwheel cannot be told that the dependencies' libraries are installed by pyarrow and
# onnxruntime (`show` has no --exclude), so its overall tag is linux_x86_64; the JSON says
# why: the symbol versions allow manylinux_2_34 or older (sym_tag), and the only libraries
# outside the policy (external_libs, libs_to_eliminate) are the dependencies'.
"$PY" -m auditwheel show --json "$WHEEL" | "$PY" -c '
import json, re, sys
report = json.load(sys.stdin)
deps = re.compile(r"^(libarrow|libparquet|libonnxruntime)\.so")
tag = report["sym_tag"]
external = sorted(report["external_libs"])
sym = re.fullmatch(r"manylinux_2_(\d+)_x86_64", tag)
if not sym or int(sym.group(1)) > 34:
    sys.exit(f"check-wheel: FAIL: symbol versions need {tag}")
others = [lib for lib in external if not deps.match(lib)]
for policy in ("manylinux_2_34_x86_64", tag):
    others += [lib for lib in report["policy_upgrades"].get(policy, {}).get("libs_to_eliminate", [])
               if not deps.match(lib)]
if others:
    sys.exit(f"check-wheel: FAIL: libraries outside the policy and the dependencies: {sorted(set(others))}")
print(f"  auditwheel: symbols allow {tag}; outside the policy only {external} "
      "(pyarrow, onnxruntime)")
'
allowed='^(libarrow|libparquet|libonnxruntime)\.so|^(libc|libm|libgcc_s|libpthread|libdl|librt|ld-linux-x86-64)\.so'

# 2. Symbol versions and exports of the extension module.
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PY" -m zipfile -e "$WHEEL" "$TMP/unpacked"
module=("$TMP"/unpacked/orchard/_native*.so)
[ "${#module[@]}" -eq 1 ] || fail "no orchard/_native*.so in the wheel"
needed="$(objdump -p "${module[0]}" | awk '/NEEDED/ {print $2}' | sort | tr '\n' ' ')"
echo "  NEEDED: $needed"
for lib in $needed; do
  echo "$lib" | grep -Eq "$allowed" || fail "_native needs $lib"
done
symbols="$(objdump -T "${module[0]}")"
max_glibc="$(echo "$symbols" | grep -Eo 'GLIBC_[0-9]+\.[0-9]+(\.[0-9]+)?' | sed 's/GLIBC_//' | sort -V | tail -1)"
echo "  newest glibc symbol version: GLIBC_${max_glibc}"
[ "$(printf '%s\n%s\n' "$max_glibc" "$MAX_GLIBC" | sort -V | tail -1)" = "$MAX_GLIBC" ] ||
  fail "symbols need GLIBC_${max_glibc} > ${MAX_GLIBC}: $(echo "$symbols" | grep -E "GLIBC_${max_glibc}" | head -5)"
if echo "$symbols" | grep -Eq 'GLIBCXX_|CXXABI_'; then
  fail "symbols need libstdc++: $(echo "$symbols" | grep -E 'GLIBCXX_|CXXABI_' | head -5)"
fi
exported="$(echo "$symbols" | awk '$2 == "g" && $4 != "*UND*" {print $NF}' | sort -u | tr '\n' ' ')"
echo "  exported: $exported"
[ "$exported" = "PyInit__native " ] || fail "exports more than PyInit__native: $exported"

# 3. Install into a fresh venv, offline, and run the reference photos outside the tree.
if [ ! -f "$WHEELHOUSE/.complete" ]; then
  echo "check-wheel: filling the wheelhouse $WHEELHOUSE (pip download, once)"
  mkdir -p "$WHEELHOUSE"
  "$PY" -m pip download -q -d "$WHEELHOUSE" --only-binary=:all: \
    pyarrow==22.0.0 onnxruntime==1.24.4 numpy
  touch "$WHEELHOUSE/.complete"
fi
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --no-index --find-links "$WHEELHOUSE" "$WHEEL"
mkdir -p "$TMP/run"
cp "$ROOT/scripts/check_installed_wheel.py" "$TMP/run/"
cp "$ROOT"/tests/data/model/*.bmp "$ROOT"/tests/data/model/*.jpg \
  "$ROOT"/tests/data/model/reference_outputs.json "$TMP/run/"
(cd "$TMP/run" && env -u PYTHONPATH -u ORCHARD_MODEL "$TMP/venv/bin/python" -I \
  check_installed_wheel.py "$TMP/run")
echo "check-wheel: OK"
