//! The private instance's configuration files, built from `master.cf.snippet`.

use super::{DELIVERY_USER, DOMAIN, LOCAL_PART, SNIPPET};
use std::path::Path;

/// main.cf of the private instance: the how-to's delivery settings, loopback only, fast retries.
pub(super) fn main_cf(
    root: &Path,
    queue: &Path,
    data: &Path,
    home: &Path,
    log: &Path,
    filter_port: u16,
) -> String {
    let content_filter = content_filter_from_snippet(SNIPPET, filter_port);
    format!(
        "# Private Postfix for amavisd-rs end-to-end tests (tests/common/postfix.rs).
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $mydomain
mydestination = $mydomain, localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
biff = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
# The test mailbox: an alias of an existing unprivileged user.
alias_maps = inline:{{ {LOCAL_PART}={DELIVERY_USER} }}
alias_database =
# Delivery as in the how-to (home_mailbox, maildrop); maildrop in manual mode reads our rules.
home_mailbox = Maildir/
mailbox_command = /usr/bin/maildrop {home}/.mailfilter
command_execution_directory = {home}
# From master.cf.snippet's main.cf line, with the test's filter port.
content_filter = {content_filter}
# Own log file, written by postlogd: no syslogd needed.
maillog_file = {log}
maillog_file_prefixes = {root}
# Retry deferred mail within seconds, not minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
",
        queue = queue.display(),
        data = data.display(),
        home = home.display(),
        log = log.display(),
        root = root.display(),
    )
}

/// The standard services (Debian's master.cf without chroot) plus the inbound smtpd.
pub(super) fn base_master_cf(inbound_port: u16) -> String {
    format!(
        "# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{inbound_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"
    )
}

/// One master.cf service entry: its first line and continuation lines.
struct MasterEntry {
    service: String,
    lines: Vec<String>,
}

/// Splits master.cf text into entries (comment and blank lines dropped).
fn parse_master_cf(text: &str) -> Vec<MasterEntry> {
    let mut entries: Vec<MasterEntry> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let entry = entries
                .last_mut()
                .expect("continuation line before any entry");
            entry.lines.push(line.to_string());
        } else {
            let service = trimmed.split_whitespace().next().unwrap_or("").to_string();
            entries.push(MasterEntry {
                service,
                lines: vec![line.to_string()],
            });
        }
    }
    entries
}

/// The snippet's entries for master.cf, its reinjection listener moved from 10025 to
/// `reinject_port`. Panics if either of the two entries is missing.
pub fn master_cf_from_snippet(snippet: &str, reinject_port: u16) -> String {
    let entries = parse_master_cf(snippet);
    for want in ["smtp-amavis", "127.0.0.1:10025"] {
        assert!(
            entries.iter().any(|e| e.service == want),
            "master.cf.snippet has no `{want}` entry"
        );
    }
    let mut out = String::new();
    for entry in entries {
        let mut first = entry.lines[0].clone();
        if let Some(addr) = entry.service.strip_suffix(":10025") {
            first = first.replacen(&entry.service, &format!("{addr}:{reinject_port}"), 1);
        }
        out.push_str(&first);
        out.push('\n');
        for line in &entry.lines[1..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The fields of the first line of the snippet's entry for `service` (`smtp-amavis`, ...).
pub fn snippet_service_fields(snippet: &str, service: &str) -> Option<Vec<String>> {
    parse_master_cf(snippet)
        .into_iter()
        .find(|e| e.service == service)
        .map(|e| e.lines[0].split_whitespace().map(String::from).collect())
}

/// The `content_filter` value of the snippet's commented main.cf line, as written.
pub fn snippet_content_filter(snippet: &str) -> &str {
    snippet
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.strip_prefix("content_filter"))
        .find_map(|rest| rest.trim_start().strip_prefix('='))
        .map(str::trim)
        .expect("master.cf.snippet has no `content_filter = ...` main.cf line")
}

/// The `content_filter` value from the snippet's commented main.cf line, 10024 replaced by
/// `filter_port`.
pub fn content_filter_from_snippet(snippet: &str, filter_port: u16) -> String {
    let value = snippet_content_filter(snippet);
    let base = value
        .strip_suffix(":10024")
        .unwrap_or_else(|| panic!("content_filter {value:?} does not end in :10024"));
    assert!(
        base.starts_with("smtp-amavis:"),
        "content_filter {value:?} does not use the smtp-amavis transport"
    );
    format!("{base}:{filter_port}")
}
