#!/usr/bin/env bash
# SMTP load harness (issue 6). Postfix's smtp-source sends into the filter,
# the filter forwards to smtp-sink; the direct smtp-source -> smtp-sink rate is
# measured in the same run as the reference, and with --against-amavisd the
# real amavisd-new runs the same configuration in the same run.
#
#   scripts/bench-smtp.sh [-M "none clamd rules"] [--against-amavisd] [-m MSGS] [-a AMAVISD_MSGS]
#                         [-F FILE | -l SIZE] [-s "1 4 16"] [-r RUNS] [-n LATENCY_MSGS] [-c EXTRA.yaml]
#
# Modes (the same amavisd.conf drives both filters; ours gets it through
# `amavisd-rs migrate`, so "equivalent configuration" is checked, not assumed):
#   none   virus and spam checks bypassed (Debian's amavisd default); banned and bad-header checks run
#   clamd  + a real clamd (Debian clamav-daemon) with a two-signature test database
#   rules  + the SpamAssassin rules installed by Debian's spamassassin package (local tests only)
# Message: benches/msgs/ham-3k.eml (the anchor message) unless -F/-l.
# Output: one Markdown table per mode: msg/s, ratio to direct, ratio to amavisd,
# mean latency (Little's law), p50 added latency at 1 session (examples/smtp_latency),
# peak RSS (ours: VmHWM; amavisd: peak of the sum over its processes).
# Needs root for --against-amavisd (amavisd drops to user amavis) and installs
# postfix/clamav-daemon/spamassassin/amavisd-new with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODES="none clamd rules"; AGAINST=0; MSGS=1000; AMSGS=""; FILE="$ROOT/benches/msgs/ham-3k.eml"; SIZE=""
SESSIONS="1 4 16"; RUNS=3; LAT=200; EXTRA=""
args=()
for a in "$@"; do [ "$a" = --against-amavisd ] && AGAINST=1 || args+=("$a"); done
set -- "${args[@]+"${args[@]}"}"
while getopts "M:m:a:F:l:s:r:n:c:A" o; do
  case $o in
    M) MODES=$OPTARG;; m) MSGS=$OPTARG;; a) AMSGS=$OPTARG;; F) FILE=$OPTARG;; l) SIZE=$OPTARG; FILE="";;
    s) SESSIONS=$OPTARG;; r) RUNS=$OPTARG;; n) LAT=$OPTARG;; c) EXTRA=$(cat "$OPTARG");; A) AGAINST=1;;
    *) sed -n '2,22p' "$0"; exit 2;;
  esac
done

need() { # binary debian-package
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  [ "$(id -u)" = 0 ] || { echo "missing $1: apt-get install $2" >&2; exit 1; }
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null || {
    apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
  rm -f /usr/sbin/policy-rc.d
}
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
need smtp-source postfix
[[ " $MODES " =~ " clamd "|" rules " ]] && need clamd clamav-daemon
[[ " $MODES " =~ " rules " ]] && need spamassassin spamassassin
if [ "$AGAINST" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "--against-amavisd needs root (amavisd runs as user amavis)" >&2; exit 1; }
  need amavisd amavisd-new; need spamassassin spamassassin; need clamd clamav-daemon
fi
cargo build --release --quiet --bin amavisd-rs --example smtp_latency
BIN=$ROOT/target/release/amavisd-rs; PROBE=$ROOT/target/release/examples/smtp_latency

WORK=$(mktemp -d /tmp/bench-smtp.XXXXXX); chmod 755 "$WORK"
SINK_PORT=${SINK_PORT:-27025}; FILTER_PORT=${FILTER_PORT:-27024}; AMAVIS_PORT=${AMAVIS_PORT:-27026}
PIDS=()
cleanup() {
  set +e
  [ -s "$WORK/amavis/amavisd.pid" ] && kill "$(cat "$WORK/amavis/amavisd.pid")" 2>/dev/null
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
  sleep 0.5; rm -rf "$WORK"
}
trap cleanup EXIT
wait_port() { for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
              echo "nothing listens on $1" >&2; tail -5 "$WORK"/filter-*.log >&2 2>/dev/null; return 1; }

smtp-sink -u "$(id -un)" -c 127.0.0.1:$SINK_PORT 1000 >/dev/null 2>&1 & PIDS+=($!)
wait_port $SINK_PORT

if [[ " $MODES " =~ " clamd "|" rules " ]] || [ "$AGAINST" = 1 ]; then
  D=$WORK/clamd; mkdir -p "$D/db"
  EICAR='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
  echo "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature" > "$D/db/test.hdb"
  echo "Eicar-Test-Signature:0:*:$(printf '%s' "$EICAR" | od -An -tx1 | tr -d ' \n')" > "$D/db/test.ndb"
  cat > "$D/clamd.conf" <<EOC
Foreground yes
LocalSocket $D/clamd.sock
LocalSocketMode 666
DatabaseDirectory $D/db
LogFile $D/clamd.log
MaxThreads 16
StreamMaxLength 50M
ScanMail yes
ScanArchive yes
Bytecode no
SelfCheck 0
EOC
  clamd -c "$D/clamd.conf" >/dev/null 2>&1 & PIDS+=($!)
  for _ in $(seq 600); do [ -S "$D/clamd.sock" ] && break; sleep 0.1; done
fi

# The amavisd.conf for one mode: Debian's defaults (as shared/tools/amavisd-anchor
# measured amavisd), our ports, amavisd's default $max_servers = 2 (its fastest
# setting on 2 cores; AMAVISD_MAX_SERVERS overrides).
# Both filters drop root to this user (amavisd's $daemon_user, carried by migrate).
daemon_user() {
  if [ "$(id -u)" != 0 ]; then id -un; elif id amavis >/dev/null 2>&1; then echo amavis; else echo nobody; fi
}
amavisd_conf() { # mode dir
  local bv=1 bs=1; case $1 in clamd) bv=0;; rules) bv=0; bs=0;; esac
  local du; du=$(daemon_user)
  mkdir -p "$2"/{tmp,db,var,quarantine}
  cat <<EOC
use strict;
\$daemon_user = '$du'; \$daemon_group = '$du';
\$MYHOME = '$2'; \$TEMPBASE = '$2/tmp'; \$ENV{TMPDIR} = \$TEMPBASE;
\$db_home = '$2/db'; \$helpers_home = '$2/var'; \$QUARANTINEDIR = '$2/quarantine';
\$pid_file = '$2/amavisd.pid'; \$lock_file = '$2/amavisd.lock';
\$DO_SYSLOG = 0; \$LOGFILE = '$2/amavis.log'; \$log_level = 0;
\$mydomain = 'example.com'; \$myhostname = 'mx.example.com';
@local_domains_acl = ( ".\$mydomain" );
@mynetworks = qw( 127.0.0.0/8 [::1] );
\$max_servers = ${AMAVISD_MAX_SERVERS:-2}; \$max_requests = 20; \$child_timeout = 8*60;
\$inet_socket_bind = '127.0.0.1'; \$inet_socket_port = $AMAVIS_PORT;
@inet_acl = qw( 127.0.0.1 [::1] );
\$forward_method = 'smtp:[127.0.0.1]:$SINK_PORT'; \$notify_method = \$forward_method;
\$sa_local_tests_only = 1; \$enable_dkim_verification = 0; \$enable_dkim_signing = 0;
\$sa_spam_subject_tag = '***SPAM*** ';
\$sa_tag_level_deflt = 2.0; \$sa_tag2_level_deflt = 6.31; \$sa_kill_level_deflt = 6.31;
\$sa_dsn_cutoff_level = 10; \$sa_mail_body_size_limit = 200*1024;
\$MAXLEVELS = 14; \$MAXFILES = 1500;
\$MIN_EXPANSION_QUOTA = 100*1024; \$MAX_EXPANSION_QUOTA = 300*1024*1024;
\$final_virus_destiny = D_DISCARD; \$final_banned_destiny = D_DISCARD;
\$final_spam_destiny = D_PASS; \$final_bad_header_destiny = D_PASS;
\$virus_admin = "postmaster\@\$mydomain";
\$X_HEADER_LINE = "Debian \$myproduct_name at \$mydomain";
\$banned_filename_re = new_RE(
  qr'\.[^./]*\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\.?\$'i,
  qr'^application/x-msdownload\$'i, qr'^application/x-msdos-program\$'i, qr'^application/hta\$'i,
  qr'.\.(exe|vbs|pif|scr|bat|cmd|com|cpl)\$'i, qr'^\.(exe-ms)\$' );
@av_scanners = (
  ['ClamAV-clamd', \&ask_daemon, ["{}/*", "clamd:$WORK/clamd/clamd.sock"],
    qr/\bOK\$/m, qr/\bFOUND\$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND\$/m ],
);
@av_scanners_backup = ();
require Amavis::IO::Zlib;
@bypass_virus_checks_maps = ($bv);
@bypass_spam_checks_maps = ($bs);
1;
EOC
}

if [ -n "$FILE" ]; then SRC=(-F "$FILE"); LATFILE=$FILE; else
  SRC=(-l "$SIZE"); LATFILE=$WORK/lat.eml
  { printf 'From: alice@example.org\nTo: bob@example.com\nSubject: latency\n\n'; head -c "$SIZE" /dev/zero | tr '\0' 'x' | fold -w 72; echo; } > "$LATFILE"
fi

rate() { # port sessions messages -> "msg/s errors" (median rate of RUNS)
  local port=$1 s=$2 m=$3 rs=() errs=0
  for _ in $(seq "$RUNS"); do
    local t0 t1 e
    t0=$(date +%s.%N)
    smtp-source -4 -s "$s" -m "$m" -f alice@example.org -t bob@example.com -M client.example.org \
      "${SRC[@]}" 127.0.0.1:"$port" >/dev/null 2>"$WORK/src.err" || true
    t1=$(date +%s.%N)
    e=$(grep -c . "$WORK/src.err" || true); errs=$((errs + e))
    rs+=("$(echo "$m / ($t1 - $t0)" | bc -l)")
  done
  printf '%s\n' "${rs[@]}" | sort -g | awk -v e=$errs '{a[NR]=$1} END {printf "%.1f %d", a[int((NR+1)/2)], e}'
}
p50() { "$PROBE" 127.0.0.1:"$1" "$2" "$LATFILE" | sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p'; }
# Peak summed RSS (kB) of amavisd's master ($1 = its pid file) and children,
# sampled every 0.5 s until the file $2 appears; the peak is left in $2.kb.
rss_sampler() {
  local peak=0 sum m
  while [ ! -e "$2" ]; do
    m=$(cat "$1" 2>/dev/null || echo 0)
    sum=$(ps -eo pid=,ppid=,rss= | awk -v m="$m" '$1 == m || $2 == m {s+=$3} END {print s+0}')
    [ "$sum" -gt "$peak" ] && peak=$sum
    sleep 0.5
  done
  echo "$peak" > "$2.kb"
}

echo "# bench-smtp $(date -u +%FT%TZ): $(nproc) cores; message ${FILE:-$SIZE bytes}; $MSGS msgs per run (amavisd: ${AMSGS:-auto}), median of $RUNS runs; p50 over $LAT msgs"
for mode in $MODES; do
  A=$WORK/amavis; rm -rf "$A"; amavisd_conf "$mode" "$A" > "$WORK/amavisd-$mode.conf"
  # Ours: the same file through migrate, then our own listener and tempdir.
  "$BIN" migrate "$WORK/amavisd-$mode.conf" -o "$WORK/rs-$mode.yaml" 2>"$WORK/migrate-$mode.log"
  mkdir -p "$WORK/rs-tmp"
  sed -i -e "s/^inet_socket_port:.*/inet_socket_port: $FILTER_PORT/" -e "s/^max_servers:.*/max_servers: 64/" \
      -e "s|^tempbase:.*|tempbase: '$WORK/rs-tmp'|" \
      -e "s|^pid_file:.*|pid_file: '$WORK/rs-tmp/amavisd-rs.pid'|" "$WORK/rs-$mode.yaml"
  grep -q '^inet_socket_port:' "$WORK/rs-$mode.yaml" || echo "inet_socket_port: $FILTER_PORT" >> "$WORK/rs-$mode.yaml"
  grep -q '^max_servers:' "$WORK/rs-$mode.yaml" || echo "max_servers: 64" >> "$WORK/rs-$mode.yaml"
  grep -q '^tempbase:' "$WORK/rs-$mode.yaml" || echo "tempbase: '$WORK/rs-tmp'" >> "$WORK/rs-$mode.yaml"
  [ -n "$EXTRA" ] && echo "$EXTRA" >> "$WORK/rs-$mode.yaml"
  chown -R "$(daemon_user)" "$WORK/rs-tmp" "$A"
  "$BIN" check-config "$WORK/rs-$mode.yaml" >/dev/null || { echo "config for $mode rejected" >&2; exit 1; }
  AMAVISD_RS_LOG=warn "$BIN" serve -c "$WORK/rs-$mode.yaml" 2>"$WORK/filter-$mode.log" & FPID=$!; PIDS+=($FPID)
  wait_port $FILTER_PORT
  "$PROBE" 127.0.0.1:$FILTER_PORT 3 "$LATFILE" >/dev/null  # warm-up: rules compiled, clamd connected
  if [ "$AGAINST" = 1 ]; then
    chmod 644 "$WORK/amavisd-$mode.conf"
    amavisd -c "$WORK/amavisd-$mode.conf" start >/dev/null 2>&1
    wait_port $AMAVIS_PORT
    "$PROBE" 127.0.0.1:$AMAVIS_PORT 2 "$LATFILE" >/dev/null || true
    rm -f "$WORK/rss-stop"*; rss_sampler "$A/amavisd.pid" "$WORK/rss-stop" & SAMPLER=$!
  fi
  am=${AMSGS:-$([ "$mode" = rules ] && echo 200 || echo 1000)}
  echo; echo "## mode: $mode"; echo
  if [ "$AGAINST" = 1 ]; then
    echo "| sessions | direct msg/s | amavisd-rs msg/s | ratio to direct | amavisd-new msg/s | amavisd-rs / amavisd-new | mean latency ms (rs / amavisd) | errors (rs / amavisd) |"
    echo "|---|---|---|---|---|---|---|---|"
  else
    echo "| sessions | direct msg/s | amavisd-rs msg/s | ratio to direct | mean latency ms | errors |"
    echo "|---|---|---|---|---|---|"
  fi
  for s in $SESSIONS; do
    read -r d _ <<<"$(rate $SINK_PORT "$s" "$MSGS")"
    read -r f fe <<<"$(rate $FILTER_PORT "$s" "$MSGS")"
    if [ "$AGAINST" = 1 ]; then
      read -r a ae <<<"$(rate $AMAVIS_PORT "$s" "$am")"
      printf "| %s | %.0f | %.0f | %.3f | %.1f | %.1f× | %.2f / %.1f | %s / %s |\n" "$s" "$d" "$f" \
        "$(echo "$f / $d" | bc -l)" "$a" "$(echo "$f / $a" | bc -l)" \
        "$(echo "1000 * $s / $f" | bc -l)" "$(echo "1000 * $s / $a" | bc -l)" "$fe" "$ae"
    else
      printf "| %s | %.0f | %.0f | %.3f | %.2f | %s |\n" "$s" "$d" "$f" "$(echo "$f / $d" | bc -l)" \
        "$(echo "1000 * $s / $f" | bc -l)" "$fe"
    fi
  done
  dl=$(p50 $SINK_PORT "$LAT"); fl=$(p50 $FILTER_PORT "$LAT")
  echo
  printf -- "- p50 latency at 1 session over %s msgs: direct %.3f ms, amavisd-rs %.3f ms, added %.3f ms" "$LAT" "$dl" "$fl" "$(echo "$fl - $dl" | bc -l)"
  if [ "$AGAINST" = 1 ]; then
    al=$(p50 $AMAVIS_PORT "$((LAT < 100 ? LAT : 100))")
    printf "; amavisd-new %.1f ms, added %.1f ms" "$al" "$(echo "$al - $dl" | bc -l)"
  fi
  echo
  rss="amavisd-rs $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$FPID/status)"
  if [ "$AGAINST" = 1 ]; then
    touch "$WORK/rss-stop"; wait "$SAMPLER" || true
    rss="$rss, amavisd-new $(awk '{printf "%.0f MB", $1/1024}' "$WORK/rss-stop.kb") (master + children, sampled)"
  fi
  echo "- peak RSS: $rss"
  kill "$FPID"; wait "$FPID" 2>/dev/null || true
  if [ "$AGAINST" = 1 ]; then
    kill "$(cat "$A/amavisd.pid")" 2>/dev/null || true
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$AMAVIS_PORT") 2>/dev/null || break; sleep 0.2; done
    sleep 1
  fi
  if [ -s "$WORK/migrate-$mode.log" ]; then
    echo "- not carried by migrate (no effect on this path): $(sed -n 's/.* — \([$%@][A-Za-z_]*\).*/\1/p' "$WORK/migrate-$mode.log" | sort -u | tr '\n' ' ')"
  fi
done
