#!/usr/bin/env bash
# Full-size hostile-client runs against the real binary (the CI suite runs
# the same cases at the smallest size that proves them): a 200 MB message
# spooled with flat memory, the same over smtpd_message_size_limit, and a
# 1,000-connection flood, 950 commands of 100 KB. Prints the FIGURES lines. HOSTILE_MB overrides 200.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTILE_MB="${HOSTILE_MB:-200}" nice -n 10 cargo test --locked --test wire_hostile -- \
  --ignored --nocapture --test-threads=1 full_size flood_against long_commands 2>&1 | grep -E "FIGURES|test result|panicked|FAILED"
