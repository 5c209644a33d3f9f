#!/usr/bin/env bash
# SMTP load harness: Postfix's smtp-source into the filter, the filter
# forwarding to smtp-sink, against smtp-source straight into smtp-sink
# measured in the same run. Prints a Markdown table.
#
#   scripts/bench-smtp.sh [-c CONFIG.yaml] [-m MESSAGES] [-l SIZE | -F FILE] [-s "1 4 16"] [-r RUNS]
#
# CONFIG adds to the generated config (scanners, rules); listener, forward
# and max_servers are set by this script. Needs postfix (smtp-source,
# smtp-sink) and a release build (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA=""; MSGS=1000; SIZE=3000; FILE=""; SESSIONS="1 4 16"; RUNS=3
while getopts "c:m:l:F:s:r:" o; do
  case $o in
    c) EXTRA=$(cat "$OPTARG");; m) MSGS=$OPTARG;; l) SIZE=$OPTARG;; F) FILE=$OPTARG;;
    s) SESSIONS=$OPTARG;; r) RUNS=$OPTARG;; *) exit 2;;
  esac
done
command -v smtp-source >/dev/null || { echo "install postfix (smtp-source, smtp-sink)" >&2; exit 1; }
[ -x target/release/amavisd-rs ] || cargo build --release --quiet
BIN=target/release/amavisd-rs
WORK=$(mktemp -d)
SINK_PORT=${SINK_PORT:-27025}; FILTER_PORT=${FILTER_PORT:-27024}
cleanup() { kill "${SINK_PID:-}" "${FILTER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

smtp-sink -u "$(id -un)" -c 127.0.0.1:$SINK_PORT 1000 >/dev/null 2>&1 &
SINK_PID=$!
cat > "$WORK/c.yaml" <<YAML
inet_socket_port: $FILTER_PORT
forward_method: 'smtp:[127.0.0.1]:$SINK_PORT'
max_servers: 64
myhostname: bench.example.com
tempbase: '$WORK'
$EXTRA
YAML
AMAVISD_RS_LOG=warn $BIN serve -c "$WORK/c.yaml" 2>"$WORK/filter.log" &
FILTER_PID=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$FILTER_PORT) 2>/dev/null && break; sleep 0.05; done

SRC_ARGS=(-f alice@example.org -t bob@example.com -M bench.example.com)
if [ -n "$FILE" ]; then SRC_ARGS+=(-F "$FILE"); else SRC_ARGS+=(-l "$SIZE"); fi

rate() { # port sessions -> msg/s (median of RUNS)
  local port=$1 s=$2 rs=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    smtp-source -s "$s" -m "$MSGS" "${SRC_ARGS[@]}" 127.0.0.1:"$port" >/dev/null 2>&1
    t1=$(date +%s.%N)
    rs+=("$(echo "$MSGS / ($t1 - $t0)" | bc -l)")
  done
  printf '%s\n' "${rs[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}'
}

echo "| sessions | direct msg/s | filter msg/s | ratio | mean latency (ms, filter) |"
echo "|---|---|---|---|---|"
for s in $SESSIONS; do
  d=$(rate $SINK_PORT "$s"); f=$(rate $FILTER_PORT "$s")
  lat=$(echo "1000 * $s / $f" | bc -l)
  printf "| %s | %s | %s | %.3f | %.2f |\n" "$s" "$d" "$f" "$(echo "$f / $d" | bc -l)" "$lat"
done
echo
echo "filter peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$FILTER_PID/status); messages per run: $MSGS, size: ${FILE:-$SIZE bytes}, runs: $RUNS (median)"
