//! `amavis-compat.yaml`: the typed configuration.
//!
//! Keys are amavisd-new's own variable names without the sigil, lower-cased
//! (`$inet_socket_port` → `inet_socket_port`, `$QUARANTINEDIR` →
//! `quarantinedir`), with amavisd 2.13's defaults. Unknown keys are errors:
//! a typo must not silently fall back to a default.

mod types;

pub use types::{Destiny, LookupTable, LookupValue, Method, Protocol, Target};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One entry of `banned_filename_re` (amavisd `new_RE(...)`): a Perl regex and
/// whether a match bans (`true`, the default) or allows (`false`, amavisd's
/// `[qr'...' => 0]`). First match wins.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum BannedRule {
    /// A bare regex: a match bans.
    Ban(String),
    /// `{ re: '...', ban: false }`
    Entry { re: String, ban: bool },
}

impl BannedRule {
    pub fn regex(&self) -> &str {
        match self {
            BannedRule::Ban(r) => r,
            BannedRule::Entry { re, .. } => re,
        }
    }
    pub fn bans(&self) -> bool {
        match self {
            BannedRule::Ban(_) => true,
            BannedRule::Entry { ban, .. } => *ban,
        }
    }
}

/// One virus scanner of `av_scanners`. amavisd's entries are Perl code; we
/// carry what they mean: a clamd socket (unix path or `host:port`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AvScanner {
    /// Display name, e.g. `ClamAV-clamd`.
    pub name: String,
    /// Only `clamd` is implemented.
    #[serde(default = "default_av_kind")]
    pub kind: String,
    /// `/var/run/clamav/clamd.ctl` or `127.0.0.1:3310`.
    pub socket: String,
}

fn default_av_kind() -> String {
    "clamd".into()
}

/// `smtpd_forbid_bare_newline` (Postfix's name and values; amavisd has no
/// such setting): what the listener does with lines ending in a bare `<LF>`.
/// Either way only `<CR><LF>.<CR><LF>` ends DATA (see `smtp::data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BareNewline {
    /// Accept them as `<CR><LF>` (Postfix 3.9's default; `yes` is its alias).
    #[default]
    #[serde(alias = "yes")]
    Normalize,
    /// Refuse the command or message: `550 5.5.2 Error: bare <LF> received`.
    Reject,
}

/// A policy bank (`$policy_bank{'NAME'} = {...}`): carried as data; the keys
/// are the same as the top level. Not applied yet (see README).
pub type PolicyBank = BTreeMap<String, serde_json::Value>;

/// The whole configuration. Field docs give the amavisd variable and default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    // ---- identity ----
    /// `$myhostname`: FQDN used in greetings, DSNs, Received. Default: the host name.
    pub myhostname: String,
    /// `$mydomain`: used for admin addresses and `X-Virus-Scanned`.
    pub mydomain: String,
    /// `$localhost_name`: the `by` name in our Received header. Default `localhost`.
    pub localhost_name: String,
    /// `$X_HEADER_TAG` / `$X_HEADER_LINE` (derived: `$myproduct_name at $mydomain`).
    pub x_header_tag: String,
    pub x_header_line: Option<String>,

    // ---- listener ----
    /// `$inet_socket_port`: one port or a list. Default 10024.
    pub inet_socket_port: PortList,
    /// `$inet_socket_bind`: address to bind. Default `127.0.0.1`.
    pub inet_socket_bind: String,
    /// `@inet_acl`: client addresses allowed (IPs or CIDRs, `!` negation). Default loopback.
    pub inet_acl: Vec<String>,
    /// `$max_servers`: concurrent sessions; extra connections wait for a slot
    /// (as in amavisd's listen queue), then get `421 4.3.2`.
    pub max_servers: usize,
    /// Ours: seconds a connection beyond `max_servers` waits, not greeted,
    /// for a free slot before `421 4.3.2`; 0 = refuse at once.
    pub max_servers_wait: u64,
    /// `$smtpd_timeout`: idle timeout of an inbound session, seconds. Default 480.
    pub smtpd_timeout: u64,
    /// `$child_timeout`: cap on one message's whole processing, seconds. Default 480.
    pub child_timeout: u64,
    /// `$smtpd_message_size_limit`: bytes; 0 = no limit. Announced in EHLO SIZE.
    pub smtpd_message_size_limit: u64,
    /// Ours (Postfix's name): `normalize` (default) or `reject`. Postfix's
    /// `no` (a bare-LF `.` line ends DATA) is not offered: it is the
    /// smuggling hole.
    pub smtpd_forbid_bare_newline: BareNewline,
    /// `$smtpd_greeting_banner` is not carried; greeting matches amavisd's default.
    /// `$TEMPBASE`: where spooled bodies go. Default `$MYHOME/tmp` (we use /var/tmp if unset).
    pub tempbase: PathBuf,
    /// `$MYHOME`. Default `/var/amavis`.
    pub myhome: PathBuf,
    /// Ours: bodies up to this many bytes stay in memory; larger ones spool to `tempbase`.
    pub spool_memory_threshold: usize,

    // ---- forwarding ----
    /// `$forward_method`: where passed mail is reinjected. Default `smtp:[127.0.0.1]:10025`.
    pub forward_method: Method,
    /// `$notify_method`: where DSNs and notifications are submitted. Default = forward_method.
    pub notify_method: Option<Method>,
    /// Ours: seconds to wait for each downstream reply. Default 300.
    pub smtp_client_timeout: u64,

    // ---- privileges ----
    pub daemon_user: Option<String>,
    pub daemon_group: Option<String>,
    pub pid_file: Option<PathBuf>,

    // ---- logging ----
    /// `$log_level` 0..5.
    pub log_level: u8,
    /// `$syslog_ident` (log lines are tagged with it).
    pub syslog_ident: String,
    /// `$do_syslog` (`$DO_SYSLOG`): also send the per-message lines to syslog
    /// (`/dev/log`) as `<ident>[pid]: ...`, where logwatch and friends read them.
    pub do_syslog: bool,
    /// `$syslog_facility`. Default `mail`.
    pub syslog_facility: String,

    // ---- recipients and lookups ----
    /// `@mynetworks`.
    pub mynetworks: Vec<String>,
    /// `@local_domains_acl`, `%local_domains`, or a full `@local_domains_maps`.
    pub local_domains_acl: Vec<String>,
    pub local_domains: BTreeMap<String, LookupValue>,
    pub local_domains_maps: Option<Vec<LookupTable>>,

    pub spam_lovers: BTreeMap<String, LookupValue>,
    pub spam_lovers_acl: Vec<String>,
    pub spam_lovers_maps: Option<Vec<LookupTable>>,
    pub virus_lovers: BTreeMap<String, LookupValue>,
    pub virus_lovers_acl: Vec<String>,
    pub virus_lovers_maps: Option<Vec<LookupTable>>,
    pub banned_files_lovers: BTreeMap<String, LookupValue>,
    pub banned_files_lovers_acl: Vec<String>,
    pub banned_files_lovers_maps: Option<Vec<LookupTable>>,
    pub bad_header_lovers: BTreeMap<String, LookupValue>,
    pub bad_header_lovers_acl: Vec<String>,
    pub bad_header_lovers_maps: Option<Vec<LookupTable>>,

    pub bypass_virus_checks: BTreeMap<String, LookupValue>,
    pub bypass_virus_checks_acl: Vec<String>,
    pub bypass_virus_checks_maps: Option<Vec<LookupTable>>,
    pub bypass_spam_checks: BTreeMap<String, LookupValue>,
    pub bypass_spam_checks_acl: Vec<String>,
    pub bypass_spam_checks_maps: Option<Vec<LookupTable>>,
    pub bypass_banned_checks: BTreeMap<String, LookupValue>,
    pub bypass_banned_checks_acl: Vec<String>,
    pub bypass_banned_checks_maps: Option<Vec<LookupTable>>,
    pub bypass_header_checks: BTreeMap<String, LookupValue>,
    pub bypass_header_checks_acl: Vec<String>,
    pub bypass_header_checks_maps: Option<Vec<LookupTable>>,

    /// `%whitelist_sender` / `@whitelist_sender_acl` / `@whitelist_sender_maps`.
    pub whitelist_sender: BTreeMap<String, LookupValue>,
    pub whitelist_sender_acl: Vec<String>,
    pub whitelist_sender_maps: Option<Vec<LookupTable>>,
    pub blacklist_sender: BTreeMap<String, LookupValue>,
    pub blacklist_sender_acl: Vec<String>,
    pub blacklist_sender_maps: Option<Vec<LookupTable>>,

    // ---- spam levels ----
    /// `$sa_tag_level_deflt`: X-Spam-* headers at or above; unset = always.
    pub sa_tag_level_deflt: Option<f64>,
    /// `$sa_tag2_level_deflt`: "spam detected" (X-Spam-Flag: YES, subject tag).
    pub sa_tag2_level_deflt: Option<f64>,
    /// `$sa_kill_level_deflt`: spam evasive actions (final_spam_destiny).
    pub sa_kill_level_deflt: Option<f64>,
    pub sa_dsn_cutoff_level: Option<f64>,
    pub sa_crediblefrom_dsn_cutoff_level: Option<f64>,
    pub sa_quarantine_cutoff_level: Option<f64>,
    /// `$sa_spam_subject_tag` (added at tag2). Unset = none.
    pub sa_spam_subject_tag: Option<String>,
    /// `$sa_spam_level_char`. Default `*`.
    pub sa_spam_level_char: String,
    /// `$sa_mail_body_size_limit`: larger messages are not spam-checked. Unset = no limit.
    pub sa_mail_body_size_limit: Option<u64>,
    /// `$sa_local_tests_only`. Our rule engine is always local; kept for migration.
    pub sa_local_tests_only: bool,
    /// Ours: where SpamAssassin rule files are read from (empty = SpamAssassin's own search order).
    pub sa_rules_dirs: Vec<PathBuf>,
    pub sa_site_rules_dirs: Vec<PathBuf>,
    /// `$remove_existing_spam_headers`. Default 1.
    pub remove_existing_spam_headers: bool,

    // ---- destinies ----
    pub final_virus_destiny: Destiny,
    pub final_banned_destiny: Destiny,
    pub final_unchecked_destiny: Destiny,
    pub final_spam_destiny: Destiny,
    pub final_bad_header_destiny: Destiny,

    // ---- subject tags ----
    /// `$sa_spam_subject_tag` counterpart for viruses. Default `***INFECTED*** `.
    pub virus_subject_tag: Option<String>,
    /// `$undecipherable_subject_tag`. Default `***UNCHECKED*** `.
    pub undecipherable_subject_tag: Option<String>,

    // ---- virus scanning ----
    pub av_scanners: Vec<AvScanner>,
    pub av_scanners_backup: Vec<AvScanner>,
    /// Ours (amavisd: always fatal): if every scanner fails, `451 4.5.0`.
    pub virus_scanners_failure_is_fatal: bool,
    /// `@viruses_that_fake_sender_maps`: regexes of virus names whose sender is forged (no DSN).
    /// Default: all viruses fake senders (amavisd `qr'.'`).
    pub viruses_that_fake_sender_re: Vec<BannedRule>,
    /// Ours: seconds for one scanner. Default 60.
    pub av_scanner_timeout: u64,

    // ---- banned files and decoding limits ----
    pub banned_filename_re: Vec<BannedRule>,
    /// `$MAXLEVELS`: archive nesting limit. Unset = unlimited (we cap at 32).
    pub maxlevels: Option<u32>,
    /// `$MAXFILES`: member count limit.
    pub maxfiles: Option<u32>,
    pub min_expansion_quota: Option<u64>,
    pub max_expansion_quota: Option<u64>,

    // ---- notifications ----
    pub virus_admin: Option<String>,
    pub spam_admin: Option<String>,
    pub banned_admin: Option<String>,
    pub bad_header_admin: Option<String>,
    pub mailfrom_notify_admin: Option<String>,
    pub mailfrom_notify_spamadmin: Option<String>,
    pub hdrfrom_notify_sender: Option<String>,
    /// Directory of template files overriding the built-in texts.
    pub notify_templates_dir: Option<PathBuf>,

    // ---- quarantine ----
    /// `$QUARANTINEDIR`. Unset = no quarantine.
    pub quarantinedir: Option<PathBuf>,
    pub virus_quarantine_method: Option<String>,
    pub spam_quarantine_method: Option<String>,
    pub banned_files_quarantine_method: Option<String>,
    pub bad_header_quarantine_method: Option<String>,
    pub virus_quarantine_to: Option<String>,
    pub spam_quarantine_to: Option<String>,
    pub banned_quarantine_to: Option<String>,
    pub bad_header_quarantine_to: Option<String>,

    // ---- policy banks ----
    pub policy_bank: BTreeMap<String, PolicyBank>,
    pub interface_policy: BTreeMap<String, String>,
}

/// `$inet_socket_port`: `10024` or `[10024, 10026]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PortList {
    One(u16),
    Many(Vec<u16>),
}

impl PortList {
    pub fn ports(&self) -> Vec<u16> {
        match self {
            PortList::One(p) => vec![*p],
            PortList::Many(v) => v.clone(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let host = hostname();
        let mydomain = host
            .split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "localdomain".into());
        Config {
            myhostname: host,
            mydomain,
            localhost_name: "localhost".into(),
            x_header_tag: "X-Virus-Scanned".into(),
            x_header_line: None,
            inet_socket_port: PortList::One(10024),
            inet_socket_bind: "127.0.0.1".into(),
            inet_acl: vec!["127.0.0.1".into(), "[::1]".into()],
            max_servers: 2,
            max_servers_wait: 10,
            smtpd_timeout: 8 * 60,
            child_timeout: 8 * 60,
            smtpd_message_size_limit: 0,
            smtpd_forbid_bare_newline: BareNewline::Normalize,
            tempbase: PathBuf::new(),
            myhome: PathBuf::from("/var/amavis"),
            spool_memory_threshold: 1 << 20,
            forward_method: Method::parse("smtp:[127.0.0.1]:10025").expect("valid default"),
            notify_method: None,
            smtp_client_timeout: 300,
            daemon_user: None,
            daemon_group: None,
            pid_file: None,
            log_level: 0,
            syslog_ident: "amavis".into(),
            do_syslog: false,
            syslog_facility: "mail".into(),
            mynetworks: [
                "127.0.0.0/8",
                "[::1]",
                "169.254.0.0/16",
                "[fe80::]/10",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "[fc00::]/7",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            local_domains_acl: vec![],
            local_domains: BTreeMap::new(),
            local_domains_maps: None,
            spam_lovers: BTreeMap::new(),
            spam_lovers_acl: vec![],
            spam_lovers_maps: None,
            virus_lovers: BTreeMap::new(),
            virus_lovers_acl: vec![],
            virus_lovers_maps: None,
            banned_files_lovers: BTreeMap::new(),
            banned_files_lovers_acl: vec![],
            banned_files_lovers_maps: None,
            bad_header_lovers: BTreeMap::new(),
            bad_header_lovers_acl: vec![],
            bad_header_lovers_maps: None,
            bypass_virus_checks: BTreeMap::new(),
            bypass_virus_checks_acl: vec![],
            bypass_virus_checks_maps: None,
            bypass_spam_checks: BTreeMap::new(),
            bypass_spam_checks_acl: vec![],
            bypass_spam_checks_maps: None,
            bypass_banned_checks: BTreeMap::new(),
            bypass_banned_checks_acl: vec![],
            bypass_banned_checks_maps: None,
            bypass_header_checks: BTreeMap::new(),
            bypass_header_checks_acl: vec![],
            bypass_header_checks_maps: None,
            whitelist_sender: BTreeMap::new(),
            whitelist_sender_acl: vec![],
            whitelist_sender_maps: None,
            blacklist_sender: BTreeMap::new(),
            blacklist_sender_acl: vec![],
            blacklist_sender_maps: None,
            sa_tag_level_deflt: None,
            sa_tag2_level_deflt: None,
            sa_kill_level_deflt: None,
            sa_dsn_cutoff_level: None,
            sa_crediblefrom_dsn_cutoff_level: None,
            sa_quarantine_cutoff_level: None,
            sa_spam_subject_tag: None,
            sa_spam_level_char: "*".into(),
            sa_mail_body_size_limit: None,
            sa_local_tests_only: false,
            sa_rules_dirs: vec![],
            sa_site_rules_dirs: vec![],
            remove_existing_spam_headers: true,
            final_virus_destiny: Destiny::Discard,
            final_banned_destiny: Destiny::Discard,
            final_unchecked_destiny: Destiny::Pass,
            final_spam_destiny: Destiny::Pass,
            final_bad_header_destiny: Destiny::Pass,
            virus_subject_tag: Some("***INFECTED*** ".into()),
            undecipherable_subject_tag: Some("***UNCHECKED*** ".into()),
            av_scanners: vec![],
            av_scanners_backup: vec![],
            virus_scanners_failure_is_fatal: true,
            viruses_that_fake_sender_re: vec![BannedRule::Ban(".".into())],
            av_scanner_timeout: 60,
            banned_filename_re: vec![],
            maxlevels: None,
            maxfiles: None,
            min_expansion_quota: None,
            max_expansion_quota: None,
            virus_admin: None,
            spam_admin: None,
            banned_admin: None,
            bad_header_admin: None,
            mailfrom_notify_admin: None,
            mailfrom_notify_spamadmin: None,
            hdrfrom_notify_sender: None,
            notify_templates_dir: None,
            quarantinedir: None,
            virus_quarantine_method: Some("local:virus-%m".into()),
            spam_quarantine_method: Some("local:spam-%m.gz".into()),
            banned_files_quarantine_method: Some("local:banned-%m".into()),
            bad_header_quarantine_method: Some("local:badh-%m".into()),
            virus_quarantine_to: Some("virus-quarantine".into()),
            spam_quarantine_to: Some("spam-quarantine".into()),
            banned_quarantine_to: Some("banned-quarantine".into()),
            bad_header_quarantine_to: Some("bad-header-quarantine".into()),
            policy_bank: BTreeMap::new(),
            interface_policy: BTreeMap::new(),
        }
    }
}

/// A configuration error that names the file, line, column and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The offending key (or `-` when the error is not about one key).
    pub key: String,
    pub message: String,
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            key: "-".into(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_yaml(&text, &path.display().to_string())
    }

    /// Parse YAML text; `file` is only used in error messages.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| yaml_error(e, text, file))?
        };
        cfg.finish();
        cfg.validate(text, file)?;
        Ok(cfg)
    }

    /// amavisd's `supply_after_defaults`: derived values.
    fn finish(&mut self) {
        if self.tempbase.as_os_str().is_empty() {
            self.tempbase = std::env::temp_dir();
        }
        if self.x_header_line.is_none() {
            self.x_header_line = Some(format!("amavisd-rs at {}", self.mydomain));
        }
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| {
            let (line, column) = find_key(text, key);
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key: key.to_string(),
                message,
            }
        };
        if self.max_servers == 0 {
            return Err(err("max_servers", "must be at least 1".into()));
        }
        if self.inet_socket_port.ports().is_empty() {
            return Err(err("inet_socket_port", "no port given".into()));
        }
        for (i, r) in self.banned_filename_re.iter().enumerate() {
            if let Err(e) = pcre2::bytes::RegexBuilder::new().build(r.regex()) {
                return Err(err(
                    "banned_filename_re",
                    format!("entry {}: bad regex `{}`: {e}", i + 1, r.regex()),
                ));
            }
        }
        for s in self.av_scanners.iter().chain(&self.av_scanners_backup) {
            if s.kind != "clamd" {
                return Err(err(
                    "av_scanners",
                    format!(
                        "scanner `{}`: kind `{}` is not supported (only clamd)",
                        s.name, s.kind
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `$notify_method`, defaulting to `$forward_method` as amavisd does.
    pub fn notify_method(&self) -> &Method {
        self.notify_method.as_ref().unwrap_or(&self.forward_method)
    }
}

/// Turn a serde-saphyr error into file:line:column plus the key it is about.
fn yaml_error(e: serde_saphyr::Error, text: &str, file: &str) -> ConfigError {
    let msg = e.to_string();
    let (mut line, mut column) = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((0, 0));
    // serde names an unknown key in its message; otherwise the key is the
    // top-level key at or above the error's line.
    let key = if let Some(rest) = msg.split("unknown field `").nth(1) {
        rest.split('`').next().unwrap_or("-").to_string()
    } else {
        top_level_key_at(text, line).unwrap_or_else(|| "-".into())
    };
    if line == 0 && key != "-" {
        (line, column) = find_key(text, &key);
    }
    let first = msg.lines().next().unwrap_or("");
    // serde-saphyr prefixes "error: line L column C: "; we print our own position.
    let first = match first.find("column ") {
        Some(i) if first.starts_with("error: line ") => {
            first[i..].split_once(": ").map(|(_, m)| m).unwrap_or(first)
        }
        _ => first,
    };
    ConfigError {
        file: file.to_string(),
        line,
        column,
        key,
        message: first.to_string(),
    }
}

/// The top-level key whose value contains 1-based `line`.
fn top_level_key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = line.min(lines.len());
    for l in lines[..start].iter().rev() {
        if l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && let Some((k, _)) = l.split_once(':')
        {
            return Some(k.trim().to_string());
        }
    }
    None
}

/// Line and column (1-based) of a top-level `key:` in the YAML text; (0,0) if absent.
fn find_key(text: &str, key: &str) -> (usize, usize) {
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with(':') {
            return (i + 1, l.len() - t.len() + 1);
        }
    }
    (0, 0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests;
