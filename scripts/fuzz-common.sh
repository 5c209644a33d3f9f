# Shared by fuzz-smoke.sh and fuzz-long.sh (sourced, not run).
# cargo-fuzz needs nightly flags (-Z sanitizer, coverage passes): on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
export RUSTC_BOOTSTRAP=1
TARGETS=(smtp_session mime_splice archive_list cf_parse amavisd_conf)

# The dictionary for a target, if it has one.
dict_for() {
  case "$1" in
    smtp_session) echo "-dict=dict/smtp.dict" ;;
    cf_parse) echo "-dict=dict/cf.dict" ;;
    amavisd_conf) echo "-dict=dict/conf.dict" ;;
  esac
}

ensure_cargo_fuzz() {
  # libfuzzer-sys compiles libFuzzer (C++).
  if ! command -v c++ >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "fuzzing needs a C++ compiler: apt-get install -y g++" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null; }
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
  fi
}
