//! From the evaluated amavisd variables to `amavis-compat.yaml`.
//!
//! Only variables a config file set (or that amavisd derives from one) are
//! written, each with the `file:line` it came from; every other variable a
//! file set becomes a warning saying what it did and that it is not carried.

use super::eval::{ALIASES, FAMILIES, Origin, RETIRED, State, Warning, statement_text};
use super::notes::describe;
use super::value::{V, destiny_name};
use super::yaml::{flow, num, render_block, to_json};
use crate::config::Method;
use serde_json::{Map, Value as J, json};
use std::collections::{BTreeMap, HashSet};

/// Collects YAML text, the variables consumed and the warnings.
pub(super) struct Emitter<'a> {
    pub(super) st: &'a State,
    pub(super) yaml: String,
    pub(super) used: HashSet<String>,
    pub(super) warnings: Vec<Warning>,
}

/// Kinds of plain scalar settings.
#[derive(Clone, Copy)]
enum K {
    Str,
    OptStr,
    Int,
    OptInt,
    OptNum,
    Bool,
    Destiny,
}

const SCALARS: &[(&str, &str, K)] = &[
    ("myhostname", "myhostname", K::Str),
    ("mydomain", "mydomain", K::Str),
    ("localhost_name", "localhost_name", K::Str),
    ("X_HEADER_TAG", "x_header_tag", K::Str),
    ("X_HEADER_LINE", "x_header_line", K::OptStr),
    ("max_servers", "max_servers", K::Int),
    ("smtpd_timeout", "smtpd_timeout", K::Int),
    ("child_timeout", "child_timeout", K::Int),
    ("MYHOME", "myhome", K::Str),
    ("daemon_user", "daemon_user", K::OptStr),
    ("daemon_group", "daemon_group", K::OptStr),
    ("log_level", "log_level", K::Int),
    ("syslog_ident", "syslog_ident", K::Str),
    ("do_syslog", "do_syslog", K::Bool),
    ("syslog_facility", "syslog_facility", K::Str),
    ("sa_tag_level_deflt", "sa_tag_level_deflt", K::OptNum),
    ("sa_tag2_level_deflt", "sa_tag2_level_deflt", K::OptNum),
    ("sa_kill_level_deflt", "sa_kill_level_deflt", K::OptNum),
    ("sa_dsn_cutoff_level", "sa_dsn_cutoff_level", K::OptNum),
    (
        "sa_crediblefrom_dsn_cutoff_level",
        "sa_crediblefrom_dsn_cutoff_level",
        K::OptNum,
    ),
    (
        "sa_quarantine_cutoff_level",
        "sa_quarantine_cutoff_level",
        K::OptNum,
    ),
    ("sa_spam_subject_tag", "sa_spam_subject_tag", K::OptStr),
    ("sa_spam_level_char", "sa_spam_level_char", K::Str),
    (
        "sa_mail_body_size_limit",
        "sa_mail_body_size_limit",
        K::OptInt,
    ),
    ("sa_local_tests_only", "sa_local_tests_only", K::Bool),
    (
        "remove_existing_spam_headers",
        "remove_existing_spam_headers",
        K::Bool,
    ),
    ("final_virus_destiny", "final_virus_destiny", K::Destiny),
    ("final_banned_destiny", "final_banned_destiny", K::Destiny),
    (
        "final_unchecked_destiny",
        "final_unchecked_destiny",
        K::Destiny,
    ),
    ("final_spam_destiny", "final_spam_destiny", K::Destiny),
    (
        "final_bad_header_destiny",
        "final_bad_header_destiny",
        K::Destiny,
    ),
    (
        "undecipherable_subject_tag",
        "undecipherable_subject_tag",
        K::OptStr,
    ),
    (
        "virus_scanners_failure_is_fatal",
        "virus_scanners_failure_is_fatal",
        K::Bool,
    ),
    ("MAXLEVELS", "maxlevels", K::OptInt),
    ("MAXFILES", "maxfiles", K::OptInt),
    ("MIN_EXPANSION_QUOTA", "min_expansion_quota", K::OptInt),
    ("MAX_EXPANSION_QUOTA", "max_expansion_quota", K::OptInt),
    ("virus_admin", "virus_admin", K::OptStr),
    ("spam_admin", "spam_admin", K::OptStr),
    ("banned_admin", "banned_admin", K::OptStr),
    ("bad_header_admin", "bad_header_admin", K::OptStr),
    ("mailfrom_notify_admin", "mailfrom_notify_admin", K::OptStr),
    (
        "mailfrom_notify_spamadmin",
        "mailfrom_notify_spamadmin",
        K::OptStr,
    ),
    ("hdrfrom_notify_sender", "hdrfrom_notify_sender", K::OptStr),
    ("QUARANTINEDIR", "quarantinedir", K::OptStr),
    (
        "virus_quarantine_method",
        "virus_quarantine_method",
        K::OptStr,
    ),
    (
        "spam_quarantine_method",
        "spam_quarantine_method",
        K::OptStr,
    ),
    (
        "banned_files_quarantine_method",
        "banned_files_quarantine_method",
        K::OptStr,
    ),
    (
        "bad_header_quarantine_method",
        "bad_header_quarantine_method",
        K::OptStr,
    ),
    ("virus_quarantine_to", "virus_quarantine_to", K::OptStr),
    ("spam_quarantine_to", "spam_quarantine_to", K::OptStr),
    ("banned_quarantine_to", "banned_quarantine_to", K::OptStr),
    (
        "bad_header_quarantine_to",
        "bad_header_quarantine_to",
        K::OptStr,
    ),
];

/// Values the typed config can hold for a whole-number key.
fn int_range(key: &str) -> (f64, f64) {
    match key {
        "log_level" => (0.0, 255.0),
        "max_servers" => (1.0, 1e6),
        "maxlevels" | "maxfiles" => (0.0, u32::MAX as f64),
        _ => (0.0, 9e15),
    }
}

/// amavisd's `supply_after_defaults`, for what we carry.
fn finish(st: &mut State) {
    let banned = st.get_scalar("final_banned_destiny");
    if banned.to_num() == 0.0
        && st.get_scalar("warnbannedsender").truthy()
        && let Some(s) = st.scalars.get_mut("final_banned_destiny")
    {
        s.v = V::Num(-2.0);
    }
    let badh = st.get_scalar("final_bad_header_destiny");
    if badh.to_num() == 0.0
        && st.get_scalar("warnbadhsender").truthy()
        && let Some(s) = st.scalars.get_mut("final_bad_header_destiny")
    {
        s.v = V::Num(-2.0);
    }
}

pub fn emit(st: &mut State) -> (String, Vec<Warning>) {
    finish(st);
    let mut e = Emitter {
        st,
        yaml: String::from("# amavis-compat.yaml written by `amavisd-rs migrate`\n"),
        used: HashSet::new(),
        warnings: vec![],
    };
    e.listener();
    e.methods();
    for (var, key, kind) in SCALARS {
        e.simple(var, key, *kind);
    }
    e.derived();
    e.list_of_strings("inet_acl", "inet_acl");
    e.list_of_strings("mynetworks", "mynetworks");
    for f in FAMILIES {
        e.family(f);
    }
    e.av_scanners("av_scanners");
    e.av_scanners("av_scanners_backup");
    e.banned();
    e.fake_sender();
    e.templates();
    e.banks();
    e.leftovers();
    let mut warnings = e.st.warnings.clone();
    warnings.extend(e.warnings);
    // In reading order: file by file, line by line.
    let order = |f: &str| st_file_index(e.st, f);
    warnings.sort_by_key(|w| (order(&w.file), w.line));
    (e.yaml, warnings)
}

fn st_file_index(st: &State, f: &str) -> usize {
    st.files.iter().position(|x| x == f).unwrap_or(0)
}

impl Emitter<'_> {
    pub(super) fn warn(&mut self, at: &Origin, line: u32, reason: impl Into<String>) {
        let text = match self.st.sources.get(&at.file) {
            Some(lines) if line > 0 => statement_text(lines, line),
            _ => at.text.clone(),
        };
        self.warnings.push(Warning {
            file: at.file.clone(),
            line: if line > 0 { line } else { at.line },
            text,
            reason: reason.into(),
        });
    }

    /// Write `key: value  # from file:line` (block style for lists and maps).
    pub(super) fn put(&mut self, key: &str, v: &J, at: &Origin, note: &str) {
        let note = if note.is_empty() { "from " } else { note };
        let comment = format!("# {note}{}:{}", at.file, at.line);
        match v {
            J::Array(a) if !a.is_empty() => {
                self.yaml.push_str(&format!("{key}:  {comment}\n"));
                render_block(&mut self.yaml, v, 1);
            }
            J::Object(o) if !o.is_empty() => {
                self.yaml.push_str(&format!("{key}:  {comment}\n"));
                render_block(&mut self.yaml, v, 1);
            }
            _ => self
                .yaml
                .push_str(&format!("{key}: {}  {comment}\n", flow(v))),
        }
    }

    pub(super) fn scalar(&mut self, name: &str) -> Option<(V, Origin)> {
        let slot = self.st.scalars.get(name)?;
        let at = slot.at.clone()?;
        self.used.insert(format!("${name}"));
        Some((slot.v.clone(), at))
    }
    pub(super) fn array(&mut self, name: &str) -> Option<(Vec<V>, Origin)> {
        let slot = self.st.arrays.get(name)?;
        let at = slot.at.clone()?;
        self.used.insert(format!("@{name}"));
        Some((slot.v.clone(), at))
    }
    pub(super) fn hash(&mut self, name: &str) -> Option<(BTreeMap<String, V>, Origin)> {
        let slot = self.st.hashes.get(name)?;
        let at = slot.at.clone()?;
        self.used.insert(format!("%{name}"));
        Some((slot.v.clone(), at))
    }

    fn simple(&mut self, var: &str, key: &str, kind: K) {
        let Some((v, at)) = self.scalar(var) else {
            return;
        };
        let bad =
            |what: &str| format!("${var}: {what}; not carried (amavisd-rs keeps its default)");
        let j = match (kind, &v) {
            (K::OptStr | K::OptInt | K::OptNum, V::Undef) => J::Null,
            (_, V::Undef) => return self.warn(&at, 0, bad("set to undef")),
            (K::Str | K::OptStr, V::Str(_) | V::Num(_)) => J::String(v.to_str()),
            (K::Int | K::OptInt, V::Str(_) | V::Num(_)) => {
                let n = v.to_num();
                let (lo, hi) = int_range(key);
                if !(lo..=hi).contains(&n) || n.fract() != 0.0 {
                    return self.warn(
                        &at,
                        0,
                        bad(&format!("`{}` is not a whole number >= 0", v.to_str())),
                    );
                }
                json!(n as u64)
            }
            (K::OptNum, V::Str(_) | V::Num(_)) if v.to_num().is_finite() => num(v.to_num()),
            (K::OptNum, V::Str(_) | V::Num(_)) => {
                return self.warn(&at, 0, bad("not a finite number"));
            }
            (K::Bool, _) => J::Bool(v.truthy()),
            (K::Destiny, V::Str(_) | V::Num(_)) => match destiny_name(v.to_num()) {
                Some(d) => J::String(d.into()),
                None => {
                    return self.warn(&at, 0, bad(&format!("`{}` is not a destiny", v.to_str())));
                }
            },
            _ => return self.warn(&at, 0, bad("a value of a kind amavisd-rs cannot read")),
        };
        self.put(key, &j, &at, "");
    }

    fn listener(&mut self) {
        match self.scalar("inet_socket_port") {
            Some((v, at)) => {
                let ports: Vec<V> = match v {
                    V::Array(a, _) => a,
                    V::Undef => vec![],
                    v => vec![v],
                };
                let nums: Vec<u64> = ports
                    .iter()
                    .map(V::to_num)
                    .filter(|n| *n >= 1.0 && *n <= 65535.0)
                    .map(|n| n as u64)
                    .collect();
                if nums.is_empty() || nums.len() != ports.len() {
                    self.warn(&at, 0, "$inet_socket_port: no valid TCP port; amavisd-rs listens on its default 10024");
                }
                match nums.as_slice() {
                    [] => {}
                    [one] => self.put("inet_socket_port", &json!(one), &at, ""),
                    many => self.put("inet_socket_port", &json!(many), &at, ""),
                }
            }
            None => {
                self.yaml.push_str(
                    "# inet_socket_port: not set by the config (amavisd would open no TCP listener); \
                     amavisd-rs listens on 10024\n",
                );
            }
        }
        if let Some((v, at)) = self.scalar("inet_socket_bind") {
            let addrs: Vec<String> = match &v {
                V::Array(a, _) => a.iter().map(V::to_str).collect(),
                V::Undef => vec![],
                v => vec![v.to_str()],
            };
            match addrs.first() {
                None => {
                    self.warn(&at, 0, "$inet_socket_bind undef means all addresses; migrated as 0.0.0.0 (IPv4 only)");
                    self.put("inet_socket_bind", &json!("0.0.0.0"), &at, "");
                }
                Some(first) => {
                    let first = first
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string();
                    if addrs.len() > 1 {
                        self.warn(
                            &at,
                            0,
                            format!(
                                "$inet_socket_bind lists {} addresses; only {first} is carried",
                                addrs.len()
                            ),
                        );
                    }
                    self.put("inet_socket_bind", &json!(first), &at, "");
                }
            }
        }
        if let Some((v, at)) = self.scalar("smtpd_message_size_limit") {
            let n = if v == V::Undef {
                0
            } else {
                v.to_num().max(0.0) as u64
            };
            self.put("smtpd_message_size_limit", &json!(n), &at, "");
        }
    }

    fn methods(&mut self) {
        let fwd = self.scalar("forward_method");
        if let Some((v, at)) = &fwd {
            self.method("forward_method", v, at);
        }
        match self.scalar("notify_method") {
            Some((v, at)) => self.method("notify_method", &v, &at),
            None => {
                // amavisd copies $forward_method into $notify_method before the
                // config runs, so a later $forward_method does not move it.
                if let Some((_, at)) = fwd {
                    let d = self.st.get_scalar("notify_method").to_str();
                    self.put(
                        "notify_method",
                        &json!(d),
                        &at,
                        "amavisd default, not following $forward_method set at ",
                    );
                }
            }
        }
    }

    fn method(&mut self, key: &str, v: &V, at: &Origin) {
        let s = v.to_str();
        match Method::parse(&s) {
            Ok(_) => self.put(key, &json!(s), at, ""),
            Err(e) => self.warn(at, 0, format!("${key}: {e}; not carried")),
        }
    }

    /// `$TEMPBASE` and `$pid_file` default to places under `$MYHOME`.
    fn derived(&mut self) {
        let home = self
            .st
            .scalars
            .get("MYHOME")
            .and_then(|s| s.at.clone().map(|a| (s.v.to_str(), a)));
        match self.scalar("TEMPBASE") {
            Some((V::Undef, _)) | None => {
                if let Some((h, at)) = &home {
                    self.put("tempbase", &json!(h), at, "derived from $MYHOME at ");
                }
            }
            Some((v, at)) => self.put("tempbase", &json!(v.to_str()), &at, ""),
        }
        match self.scalar("pid_file") {
            Some((V::Undef, _)) | None => {
                if let Some((h, at)) = &home {
                    self.put(
                        "pid_file",
                        &json!(format!("{h}/amavisd.pid")),
                        at,
                        "derived from $MYHOME at ",
                    );
                }
            }
            Some((v, at)) => self.put("pid_file", &json!(v.to_str()), &at, ""),
        }
    }

    fn list_of_strings(&mut self, var: &str, key: &str) {
        if let Some((v, at)) = self.array(var) {
            let items: Vec<String> = v.iter().map(V::to_str).collect();
            self.put(key, &json!(items), &at, "");
        }
    }

    fn templates(&mut self) {
        if let Some((dir, at)) = self.st.l10n.clone() {
            self.put(
                "notify_templates_dir",
                &json!(dir),
                &at,
                "read_l10n_templates at ",
            );
        }
    }

    fn banks(&mut self) {
        if let Some((banks, _)) = self.hash("policy_bank") {
            let key_at = self
                .st
                .key_at
                .get("policy_bank")
                .cloned()
                .unwrap_or_default();
            let mut o = Map::new();
            let mut first: Option<Origin> = None;
            for (name, b) in banks {
                if name.is_empty() {
                    continue;
                }
                let Some(at) = key_at
                    .get(&name)
                    .cloned()
                    .or_else(|| self.st.hashes["policy_bank"].at.clone())
                else {
                    continue;
                };
                let bank = to_json(self.st, &b, 0);
                if !bank.is_object() {
                    self.warn(
                        &at,
                        0,
                        format!("policy bank `{name}` is not a hash of settings; not carried"),
                    );
                    continue;
                }
                self.warn(&at, 0, format!("policy bank `{name}` is carried as data, but amavisd-rs does not apply policy banks yet"));
                first.get_or_insert(at);
                o.insert(name, bank);
            }
            if let Some(at) = first {
                self.put("policy_bank", &J::Object(o), &at, "");
            }
        }
        if let Some((h, at)) = self.hash("interface_policy") {
            let o: Map<String, J> = h
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_str())))
                .collect();
            self.put("interface_policy", &J::Object(o), &at, "");
        }
    }

    /// Every other variable a file set: say what it did and that it is lost.
    fn leftovers(&mut self) {
        let mut rest: Vec<(String, Origin)> = vec![];
        for (n, s) in &self.st.scalars {
            if let Some(at) = &s.at {
                rest.push((format!("${n}"), at.clone()));
            }
        }
        for (n, s) in &self.st.arrays {
            if let Some(at) = &s.at {
                rest.push((format!("@{n}"), at.clone()));
            }
        }
        for (n, s) in &self.st.hashes {
            if let Some(at) = &s.at {
                rest.push((format!("%{n}"), at.clone()));
            }
        }
        rest.sort_by(|a, b| (&a.1.file, a.1.line, &a.0).cmp(&(&b.1.file, b.1.line, &b.0)));
        for (name, at) in rest {
            let known = super::known::KNOWN_VARS.contains(&name.as_str())
                || ALIASES.contains(&name.as_str())
                || name == "%ENV";
            if self.used.contains(&name) || RETIRED.contains(&name.as_str()) || !known {
                continue;
            }
            self.warn(
                &at,
                0,
                format!(
                    "{name} ({}) is not supported by amavisd-rs; not carried",
                    describe(&name)
                ),
            );
        }
    }
}
