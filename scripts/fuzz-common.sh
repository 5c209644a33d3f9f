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
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
  fi
}
