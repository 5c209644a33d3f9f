#!/usr/bin/env bash
# Crash under load (issue 7): MESSAGES messages through a private Postfix → amavisd-rs →
# Postfix → maildrop → Maildir while the filter is killed with SIGKILL KILLS times and
# restarted. Prints sent/delivered/duplicated/lost. Runs tests/e2e_chaos.rs at full size.
#
#   scripts/chaos-kill9.sh [-m MESSAGES] [-k KILLS]     (defaults: 2000 messages, 5 kills)
#
# Needs root and the Debian packages postfix, maildrop (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=2000 kills=5
while getopts "m:k:" o; do
  case $o in
    m) messages=$OPTARG ;;
    k) kills=$OPTARG ;;
    *) echo "usage: $0 [-m MESSAGES] [-k KILLS]" >&2; exit 2 ;;
  esac
done
log=$(mktemp /tmp/chaos-kill9.XXXXXX.log)
start=$(date +%s)
status=0
AMAVISD_RS_CHAOS_MESSAGES=$messages AMAVISD_RS_CHAOS_KILLS=$kills \
  nice -n 10 cargo test --locked --test e2e_chaos -- --nocapture >"$log" 2>&1 || status=$?
line=$(grep -o 'chaos-kill9: .*' "$log" || true)
echo "${line:-chaos-kill9: no summary (see $log)}"
echo "wall (incl. build) $(($(date +%s) - start)) s; full output: $log"
exit $status
