#!/usr/bin/env bash
# Long fuzzing runs: each target for SECONDS (default 600), one after the
# other, on one core at low priority, growing fuzz/corpus/<target>/ (only
# the seed-* files there are committed). Prints per target: executions,
# exec/s, final coverage (cov/ft), corpus size and whether it crashed.
#   usage: scripts/fuzz-long.sh [SECONDS] [TARGET...]   (SANITIZER=address|none, default address)
# Logs: fuzz/logs/<target>.log; crash inputs: fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
source ../scripts/fuzz-common.sh
SECS=${1:-600}
shift || true
(($#)) && TARGETS=("$@")
SANITIZER=${SANITIZER:-address}

ensure_cargo_fuzz
nice -n 10 cargo fuzz build -s "$SANITIZER" || exit 1
# Run the built binaries directly: a source edit during the run (a crash
# fix) must not make the next target wait for a rebuild.
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs
status=0
for t in "${TARGETS[@]}"; do
  log="logs/$t.log"
  mkdir -p "corpus/$t" "artifacts/$t"
  # shellcheck disable=SC2046
  nice -n 10 "$bin/$t" -artifact_prefix="artifacts/$t/" "corpus/$t" \
    -max_total_time="$SECS" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    $(dict_for "$t") >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' <<<"$last" | cut -d' ' -f2)
  if ((rc == 0)); then verdict="no crash"; else verdict="CRASH (rc $rc, see $log)"; status=1; fi
  printf '%-14s execs=%s exec/s=%s cov=%s ft=%s corpus=%s %s\n' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict"
done
exit $status
