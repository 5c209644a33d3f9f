#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh Debian
# machine, then runs the whole suite. Safe to re-run; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(postfix maildrop swaks clamav-daemon spamassassin amavisd-new xz-utils)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test.sh: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}" >&2
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services are started by the tests themselves, never by package scripts.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

cargo test --locked "$@"
