#!/usr/bin/env bash
# Next hop down under load (issue 7): MESSAGES messages through a private Postfix →
# amavisd-rs → Postfix while Postfix's reinjection listener (the filter's 10025) is down
# for SECS seconds. The filter must answer 451 4.4.1, Postfix defer, and everything arrive
# after. Prints sent/delivered/duplicated/lost. Runs the next-hop test of
# tests/e2e_neighbours.rs at full size.
#
#   scripts/chaos-downstream.sh [-m MESSAGES] [-s SECS]     (defaults: 500 messages, 30 s)
#
# Needs root and the Debian packages postfix, maildrop (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
messages=500 secs=30
while getopts "m:s:" o; do
  case $o in
    m) messages=$OPTARG ;;
    s) secs=$OPTARG ;;
    *) echo "usage: $0 [-m MESSAGES] [-s SECS]" >&2; exit 2 ;;
  esac
done
log=$(mktemp /tmp/chaos-downstream.XXXXXX.log)
start=$(date +%s)
status=0
AMAVISD_RS_CHAOS_MESSAGES=$messages AMAVISD_RS_CHAOS_OUTAGE_SECS=$secs \
  nice -n 10 cargo test --locked --test e2e_neighbours next_hop_down -- --nocapture >"$log" 2>&1 \
  || status=$?
line=$(grep -o 'chaos-downstream: .*' "$log" || true)
echo "${line:-chaos-downstream: no summary (see $log)}"
echo "wall (incl. build) $(($(date +%s) - start)) s; full output: $log"
exit $status
