#!/usr/bin/env bash
# CI smoke run of the fuzz targets: install cargo-fuzz if missing, build all
# targets once, run each for SECONDS (default 20) on its committed seeds.
# Exits non-zero on any crash, timeout or leak. New inputs go to a temporary
# directory, so the committed corpus is left as it is.
#   usage: scripts/fuzz-smoke.sh [SECONDS]    (SANITIZER=address|none, default address: the same build as fuzz-long.sh)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
source ../scripts/fuzz-common.sh
SECONDS_PER_TARGET=${1:-20}
SANITIZER=${SANITIZER:-address}

ensure_cargo_fuzz
cargo fuzz build -s "$SANITIZER"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$work/$t"
  echo "== $t (${SECONDS_PER_TARGET}s)" >&2
  # shellcheck disable=SC2046
  if ! cargo fuzz run -s "$SANITIZER" "$t" "$work/$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=2048 \
      -print_final_stats=1 $(dict_for "$t") >"$work/$t.log" 2>&1; then
    failed+=("$t")
    tail -n 60 "$work/$t.log" >&2
  fi
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|stat::number_of_executed_units' "$work/$t.log" >&2 || true
done
if ((${#failed[@]})); then
  echo "fuzz-smoke: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#TARGETS[@]} targets ran clean" >&2
