#!/usr/bin/env bash
# Offline checks for deploy/aws: cfn-lint + checkov on the CloudFormation templates,
# ShellCheck on the shell scripts, pytest on the orchard-aws --dry-run behaviour.
# Needs python3 (venv), shellcheck on PATH and, on first run only, the package registry
# for `pip install`. Never calls AWS. Exits non-zero if any check fails; pytest's summary
# line is the last line of output.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
DEPLOY="$ROOT/deploy/aws"
VENV="$ROOT/.deps/venv-deploy"
REQS="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"

cd "$ROOT" || exit 1

# --- 1. tools (idempotent: reinstall only when requirements.txt changes) --------------
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "== installing pinned cfn-lint, checkov, pytest into ${VENV#"$ROOT"/}"
  python3 -m venv "$VENV" || { echo "FAILED: python3 -m venv (install python3-venv)"; exit 1; }
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" \
    || { echo "FAILED: pip install -r ${REQS#"$ROOT"/}"; exit 1; }
  echo "$want" >"$STAMP"
fi
command -v shellcheck >/dev/null 2>&1 || { echo "FAILED: shellcheck not on PATH (apt-get install shellcheck)"; exit 1; }

failed=()
step() { # step NAME CMD...: run one check, remember failures, keep going
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failed+=("$name"); fi
}

# --- 2. checks -------------------------------------------------------------------------
step "cfn-lint" "$VENV/bin/cfn-lint" "$DEPLOY"/templates/*.yaml

# checkov: skips live in deploy/aws/.checkov.yaml and are explained in checkov-skips.md.
# skip-download + these variables keep it offline (no policy or version downloads).
step "checkov" env BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
  "$VENV/bin/checkov" --config-file "$DEPLOY/.checkov.yaml" -d "$DEPLOY/templates"

mapfile -t scripts < <(
  { find "$DEPLOY" -type f -name '*.sh'; echo "$DEPLOY/orchard-aws"; echo "$ROOT/scripts/make-wheelhouse.sh"; } | sort -u
)
step "shellcheck (${#scripts[@]} scripts)" shellcheck "${scripts[@]}"

if ((${#failed[@]})); then
  echo "== failed so far: ${failed[*]}"
fi

# --- 3. pytest last, so its summary line ends the output ----------------------------
echo "== pytest"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -c /dev/null --rootdir "$HERE" "$HERE"
rc=$?
if ((${#failed[@]})) && ((rc == 0)); then rc=1; fi
exit "$rc"
