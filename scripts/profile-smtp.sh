#!/usr/bin/env bash
# Profile the filter under SMTP load: starts smtp-sink and `amavisd-rs serve`
# with CONFIG, records it with perf (software clock: this VM has no hardware
# counters) while smtp-source sends MSGS messages at SESSIONS sessions, then
# prints the top symbols and, when inferno is installed
# (`cargo install inferno`), writes a flamegraph SVG.
#
#   scripts/profile-smtp.sh [-c EXTRA.yaml] [-m MSGS] [-s SESSIONS] [-F FILE] [-o OUT.svg]
#
# Needs: postfix (smtp-source, smtp-sink), linux-perf; root or perf_event_paranoid <= 1.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA=""; MSGS=1000; S=4; FILE=benches/msgs/ham-3k.eml; OUT=""
while getopts "c:m:s:F:o:" o; do
  case $o in
    c) EXTRA=$(cat "$OPTARG");; m) MSGS=$OPTARG;; s) S=$OPTARG;; F) FILE=$OPTARG;; o) OUT=$OPTARG;;
    *) sed -n '2,10p' "$0"; exit 2;;
  esac
done
command -v perf >/dev/null || { echo "install linux-perf" >&2; exit 1; }
cargo build --release --quiet --bin amavisd-rs
W=$(mktemp -d /tmp/profile-smtp.XXXXXX)
SINK=27225; PORT=27224
trap 'kill $SINKPID $FPID 2>/dev/null || true; rm -rf "$W"' EXIT
smtp-sink -u "$(id -un)" -c 127.0.0.1:$SINK 1000 >/dev/null 2>&1 & SINKPID=$!
printf "inet_socket_port: %s\nforward_method: 'smtp:[127.0.0.1]:%s'\nmax_servers: 64\ntempbase: '%s'\n%s\n" \
  $PORT $SINK "$W" "$EXTRA" > "$W/c.yaml"
AMAVISD_RS_LOG=warn target/release/amavisd-rs serve -c "$W/c.yaml" 2>"$W/filter.log" & FPID=$!
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
smtp-source -4 -s 1 -m 5 -F "$FILE" -f a@example.org -t b@example.com 127.0.0.1:$PORT  # warm-up
perf record -q -e cpu-clock -F 1999 -g -p $FPID -o "$W/perf.data" 2>/dev/null & PERF=$!
sleep 0.5
t0=$(date +%s.%N)
smtp-source -4 -s "$S" -m "$MSGS" -F "$FILE" -f a@example.org -t b@example.com 127.0.0.1:$PORT
t1=$(date +%s.%N)
kill -INT $PERF; wait $PERF 2>/dev/null || true
echo "$MSGS messages at $S sessions: $(echo "$MSGS / ($t1 - $t0)" | bc -l | xargs printf '%.0f') msg/s while profiled"
perf report -i "$W/perf.data" --no-children --sort symbol --percent-limit 0.7 --stdio 2>/dev/null \
  | grep -E '^ +[0-9.]+%' | head -40
if [ -n "$OUT" ]; then
  if command -v inferno-collapse-perf >/dev/null; then
    perf script -i "$W/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph > "$OUT"
    echo "flamegraph: $OUT"
  else
    echo "no inferno: cargo install inferno for the flamegraph" >&2
  fi
fi
