//! Reading SpamAssassin configuration files into raw rule definitions.
//!
//! Follows `Conf/Parser.pm`: comments, `ifplugin`/`if`/`else`/`endif`,
//! later definitions override earlier ones, `lang` lines skipped, unknown
//! directives counted (never fatal).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::meta::{self, Expr, Resolver};

/// SpamAssassin version we claim in `if (version >= ...)`.
pub const SA_VERSION: f64 = 4.000001;

/// Rule kinds as `Conf.pm` types them (`TYPE_*_TESTS`/`_EVALS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Header,
    HeaderEval,
    RblEval,
    Body,
    BodyEval,
    Rawbody,
    RawbodyEval,
    Full,
    FullEval,
    Uri,
    Meta,
    MimeHeader,
    Empty,
}

impl RuleKind {
    /// The name `dump_rules.pl` prints (mimeheader is a body eval there).
    pub fn sa_type(self) -> &'static str {
        match self {
            RuleKind::Header => "header",
            RuleKind::HeaderEval => "header_eval",
            RuleKind::RblEval => "rbl_eval",
            RuleKind::Body => "body",
            RuleKind::BodyEval | RuleKind::MimeHeader => "body_eval",
            RuleKind::Rawbody => "rawbody",
            RuleKind::RawbodyEval => "rawbody_eval",
            RuleKind::Full => "full",
            RuleKind::FullEval => "full_eval",
            RuleKind::Uri => "uri",
            RuleKind::Meta => "meta",
            RuleKind::Empty => "empty",
        }
    }
}

/// One rule definition as written (the text after the rule name).
#[derive(Debug, Clone)]
pub struct RawRule {
    pub kind: RuleKind,
    pub def: String,
}

/// `ReplaceTags` plugin settings.
#[derive(Debug, Clone, Default)]
pub struct ReplaceTags {
    pub tags: HashMap<String, String>,
    pub pre: HashMap<String, String>,
    pub inter: HashMap<String, String>,
    pub post: HashMap<String, String>,
    pub rules: HashSet<String>,
}

/// Everything read from the configuration files, before compilation.
#[derive(Debug, Default)]
pub struct ParsedConfig {
    pub rules: HashMap<String, RawRule>,
    pub scores: HashMap<String, [f64; 4]>,
    pub tflags: HashMap<String, String>,
    pub describe: HashMap<String, String>,
    pub replace: ReplaceTags,
    pub required_score: Option<f64>,
    /// List-type and scalar settings read by eval functions, by directive.
    pub settings: HashMap<String, Vec<String>>,
    /// Loaded plugin names, lower-cased.
    pub plugins: HashSet<String>,
    pub unknown: BTreeMap<String, usize>,
    pub files_read: usize,
}

/// Directives we read into `settings` for the eval functions.
const KEPT_SETTINGS: &[&str] = &[
    "freemail_domains",
    "freemail_whitelist",
    "freemail_welcomelist",
    "util_rb_tld",
    "util_rb_2tld",
    "util_rb_3tld",
    "welcomelist_from",
    "whitelist_from",
    "blocklist_from",
    "blacklist_from",
    "welcomelist_to",
    "whitelist_to",
    "blocklist_to",
    "blacklist_to",
    "more_spam_to",
    "all_spam_to",
    "def_welcomelist_from",
    "def_whitelist_from",
    "welcomelist_subject",
    "blocklist_subject",
    "enlist_uri_host",
    "enlist_addrlist",
    "delist_uri_host",
    "blocklist_uri_host",
    "blacklist_uri_host",
    "welcomelist_uri_host",
    "whitelist_uri_host",
    "welcomelist_bounce_relays",
    "whitelist_bounce_relays",
    "ok_locales",
    "trusted_networks",
    "internal_networks",
    "msa_networks",
    "clear_trusted_networks",
    "clear_internal_networks",
    "clear_msa_networks",
    "originating_ip_headers",
    "clear_originating_ip_headers",
    "envelope_sender_header",
    "redirector_pattern",
    "url_shortener",
    "clear_util_rb",
    "num_check_received",
    "body_part_scan_size",
    "rawbody_part_scan_size",
];

/// Directives SpamAssassin knows that do not change local scoring.
const IGNORED: &[&str] = &[
    "lang",
    "reuse",
    "test",
    "require_version",
    "report",
    "unsafe_report",
    "add_header",
    "remove_header",
    "clear_headers",
    "clear_report_template",
    "clear_unsafe_report_template",
    "report_safe",
    "report_contact",
    "ok_languages",
    "bayes_ignore_header",
    "bayes_auto_learn",
    "bayes_auto_learn_threshold_spam",
    "bayes_auto_learn_threshold_nonspam",
    "def_whitelist_auth",
    "def_welcomelist_auth",
    "def_whitelist_from_dkim",
    "def_welcomelist_from_dkim",
    "def_whitelist_from_spf",
    "def_welcomelist_from_spf",
    "adsp_override",
    "uridnsbl_skip_domain",
    "dns_local_ports_avoid",
    "dns_block_rule",
    "url_shortener_get",
    "fns_ignore_headers",
    "fns_ignore_dkim",
    "fns_check",
    "enable_compat",
    "asn_lookup",
    "enlist_addrlist",
    "use_bayes",
    "use_auto_whitelist",
    "use_auto_welcomelist",
    "allow_user_rules",
    "skip_rbl_checks",
    "dns_available",
    "use_razor2",
    "use_pyzor",
    "use_dcc",
    "report_hostname",
    "rewrite_header",
    "normalize_charset",
    "pyzor_options",
    "razor_config",
    "bayes_path",
    "bayes_file_mode",
    "lock_method",
    "internal_networks_clear",
    "trusted_networks_clear",
];

/// A config reader; feed it files in SpamAssassin's order.
pub struct ConfigReader {
    pub cfg: ParsedConfig,
}

/// Does a rule name look like SpamAssassin's `IS_RULENAME`?
pub fn is_rulename(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Read a file as Latin-1 so every byte maps to one char (regexes need bytes).
fn read_latin1(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    // Most rule files are ASCII, which is its own Latin-1 decoding.
    if bytes.is_ascii() {
        return Ok(String::from_utf8(bytes).unwrap_or_default());
    }
    // Copy ASCII runs whole; only the high bytes become two-byte chars.
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    let mut rest = &bytes[..];
    while let Some(i) = rest.iter().position(|b| !b.is_ascii()) {
        out.push_str(std::str::from_utf8(&rest[..i]).unwrap_or_default());
        out.push(char::from(rest[i]));
        rest = &rest[i + 1..];
    }
    out.push_str(std::str::from_utf8(rest).unwrap_or_default());
    Ok(out)
}

/// Convert a Latin-1-decoded string back to text for display.
pub fn latin1_to_utf8(s: &str) -> String {
    let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct CondResolver<'a> {
    plugins: &'a HashSet<String>,
}

impl Resolver for CondResolver<'_> {
    fn name(&mut self, name: &str) -> Expr {
        Expr::Num(if name == "version" { SA_VERSION } else { 0.0 })
    }
    fn call(&mut self, func: &str, arg: &str) -> Expr {
        let arg = arg.trim();
        let yes = match func {
            "plugin" => self.plugins.contains(&arg.to_ascii_lowercase()),
            // can(Conf::feature_*) all exist in 4.0.1; a plugin method only
            // when its plugin is loaded.
            "can" | "has" => match arg.rsplit_once("::") {
                Some(("Mail::SpamAssassin::Conf", _)) => true,
                Some((module, _)) => self.plugins.contains(&module.to_ascii_lowercase()),
                None => false,
            },
            _ => false,
        };
        Expr::Num(if yes { 1.0 } else { 0.0 })
    }
}

impl Default for ConfigReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigReader {
    pub fn new() -> ConfigReader {
        ConfigReader {
            cfg: ParsedConfig::default(),
        }
    }

    /// Read one file (and its `include`s).
    pub fn read_file(&mut self, path: &Path) -> std::io::Result<()> {
        let text = read_latin1(path)?;
        self.cfg.files_read += 1;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.read_text(&text, &dir);
        Ok(())
    }

    /// Parse configuration text; `dir` resolves relative `include`s.
    pub fn read_text(&mut self, text: &str, dir: &Path) {
        // Conditional stack: each entry says whether lines are live.
        let mut stack: Vec<(bool, bool)> = Vec::new(); // (live, parent_live)
        for raw in text.lines() {
            let line = strip_comment(raw);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((k, v)) => (k.to_ascii_lowercase(), v.trim()),
                None => (line.to_ascii_lowercase(), ""),
            };
            let live = stack.last().is_none_or(|s| s.0);
            match key.as_str() {
                "ifplugin" => {
                    let on = live
                        && (self.cfg.plugins.contains(&value.to_ascii_lowercase())
                            || value == "Mail::SpamAssassin::Plugin::RaciallyCharged");
                    stack.push((on, live));
                    continue;
                }
                "if" => {
                    let on = live && self.eval_if(value);
                    stack.push((on, live));
                    continue;
                }
                "else" => {
                    if let Some(top) = stack.last_mut() {
                        top.0 = top.1 && !top.0;
                    }
                    continue;
                }
                "endif" => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            if !live {
                continue;
            }
            self.directive(&key, value, dir);
        }
    }

    fn eval_if(&self, expr: &str) -> bool {
        let mut r = CondResolver {
            plugins: &self.cfg.plugins,
        };
        match meta::parse(expr, &mut r) {
            Ok(e) => meta::eval(&e, &|_| 0.0) != 0.0,
            Err(err) => {
                tracing::debug!(expr, err, "unparseable `if` condition; treated as false");
                false
            }
        }
    }

    fn add_rule(&mut self, name: &str, kind: RuleKind, def: &str) {
        if !is_rulename(name) {
            self.count_unknown("invalid-rule-name");
            return;
        }
        self.cfg.rules.insert(
            name.to_string(),
            RawRule {
                kind,
                def: def.to_string(),
            },
        );
    }

    fn count_unknown(&mut self, key: &str) {
        *self.cfg.unknown.entry(key.to_string()).or_default() += 1;
    }

    fn directive(&mut self, key: &str, value: &str, dir: &Path) {
        let (name, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((n, r)) => (n, r.trim()),
            None => (value, ""),
        };
        match key {
            "loadplugin" | "tryplugin" => {
                self.cfg.plugins.insert(name.to_ascii_lowercase());
            }
            "header" => {
                if let Some(f) = eval_call(rest) {
                    let kind = if f.starts_with("check_rbl") || f.starts_with("check_dns") {
                        RuleKind::RblEval
                    } else {
                        RuleKind::HeaderEval
                    };
                    self.add_rule(name, kind, f);
                } else {
                    self.add_rule(name, RuleKind::Header, rest);
                }
            }
            "body" | "rawbody" | "full" => {
                let (plain, ev) = match key {
                    "body" => (RuleKind::Body, RuleKind::BodyEval),
                    "rawbody" => (RuleKind::Rawbody, RuleKind::RawbodyEval),
                    _ => (RuleKind::Full, RuleKind::FullEval),
                };
                match eval_call(rest) {
                    Some(f) => self.add_rule(name, ev, f),
                    None => self.add_rule(name, plain, rest),
                }
            }
            "uri" => self.add_rule(name, RuleKind::Uri, rest),
            "meta" => self.add_rule(name, RuleKind::Meta, rest),
            "mimeheader" => self.add_rule(name, RuleKind::MimeHeader, rest),
            "urirhssub" | "uridnssub" | "urirhsbl" | "uridnsbl" | "urifullnsrhssub"
            | "urinsrhssub" | "urinsrhsbl" | "urifullnsrhsbl" | "uriarhssub" | "uriarhsbl" => {
                self.add_rule(
                    name,
                    RuleKind::BodyEval,
                    &format!("check_uridnsbl('{name}')"),
                );
            }
            "askdns" => {
                self.add_rule(name, RuleKind::Empty, "");
                let t = self.cfg.tflags.entry(name.to_string()).or_default();
                if !t.split_whitespace().any(|f| f == "net") {
                    *t = format!("{t} net").trim().to_string();
                }
            }
            "reuse" => {
                if !self.cfg.rules.contains_key(name) {
                    self.add_rule(name, RuleKind::Empty, "");
                }
            }
            "score" => {
                let vals: Vec<f64> = rest
                    .split_whitespace()
                    .filter_map(|v| v.trim_matches(|c| c == '(' || c == ')').parse().ok())
                    .collect();
                let s = match vals.as_slice() {
                    [a] => [*a; 4],
                    [a, b, c, d, ..] => [*a, *b, *c, *d],
                    [a, b] => [*a, *b, *b, *b],
                    [a, b, c] => [*a, *b, *c, *c],
                    [] => return self.count_unknown("score-invalid"),
                };
                self.cfg.scores.insert(name.to_string(), s);
            }
            "describe" => {
                self.cfg.describe.insert(name.to_string(), rest.to_string());
            }
            "tflags" => {
                self.cfg.tflags.insert(name.to_string(), rest.to_string());
            }
            "priority" => {}
            "required_score" | "required_hits" => {
                self.cfg.required_score = value.parse().ok().or(self.cfg.required_score);
            }
            "replace_tag" => {
                self.cfg
                    .replace
                    .tags
                    .insert(name.to_string(), rest.to_string());
            }
            "replace_pre" => {
                self.cfg.replace.pre.insert(name.to_string(), rest.into());
            }
            "replace_inter" => {
                self.cfg.replace.inter.insert(name.to_string(), rest.into());
            }
            "replace_post" => {
                self.cfg.replace.post.insert(name.to_string(), rest.into());
            }
            "replace_rules" => {
                for r in value.split_whitespace() {
                    self.cfg.replace.rules.insert(r.to_string());
                }
            }
            "include" => {
                let p = dir.join(value);
                if self.read_file(&p).is_err() {
                    tracing::warn!(path = %p.display(), "cannot read included config file");
                }
            }
            k if KEPT_SETTINGS.contains(&k) => {
                if k == "clear_util_rb" {
                    for l in ["util_rb_tld", "util_rb_2tld", "util_rb_3tld"] {
                        self.cfg.settings.remove(l);
                    }
                    return;
                }
                if let Some(list) = k.strip_prefix("clear_") {
                    self.cfg.settings.remove(list);
                    return;
                }
                // Shorthands for `enlist_uri_host (BLOCK|WELCOME) ...`, kept
                // in order with the long form.
                let (k, tag) = match k {
                    "blocklist_uri_host" | "blacklist_uri_host" => ("enlist_uri_host", "(BLOCK)"),
                    "welcomelist_uri_host" | "whitelist_uri_host" => {
                        ("enlist_uri_host", "(WELCOME)")
                    }
                    _ => (k, ""),
                };
                let e = self.cfg.settings.entry(k.to_string()).or_default();
                if matches!(k, "ok_locales" | "envelope_sender_header") {
                    e.clear(); // string settings: the last line wins
                }
                if !tag.is_empty() {
                    e.push(tag.to_string());
                }
                // An unnamed delist affects every list: mark it, or the flat
                // token list would give it the previous line's name.
                if k == "delist_uri_host" && !value.trim_start().starts_with('(') {
                    e.push("(*)".to_string());
                }
                e.extend(value.split_whitespace().map(str::to_string));
            }
            k if IGNORED.contains(&k) || k.starts_with("bayes_") => {}
            _ => self.count_unknown(key),
        }
    }
}

/// `eval:fn(args)` → `fn(args)`.
fn eval_call(def: &str) -> Option<&str> {
    def.strip_prefix("eval:")
        .or_else(|| def.strip_prefix("rbleval:"))
        .map(str::trim)
}

/// Drop an unescaped `#` comment and unescape `\#` (`Conf/Parser.pm`).
fn strip_comment(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('#') {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut prev_backslash = false;
    for c in line.chars() {
        if c == '#' {
            if prev_backslash {
                out.pop();
            } else {
                break;
            }
        }
        prev_backslash = c == '\\';
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

/// Files of a directory with the given extension, sorted by name.
pub fn dir_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext) && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditionals_and_overrides() {
        let mut r = ConfigReader::new();
        r.read_text(
            "loadplugin Mail::SpamAssassin::Plugin::Foo\n\
             ifplugin Mail::SpamAssassin::Plugin::Foo\n body A /a/ # comment\nendif\n\
             ifplugin Mail::SpamAssassin::Plugin::Bar\n body B /b/\nendif\n\
             if (version >= 3.004000)\n body C /c\\#/\nelse\n body D /d/\nendif\n\
             if can(Mail::SpamAssassin::Plugin::Bar::has_x)\n body E /e/\nendif\n\
             header F From =~ /x/\nheader F Subject =~ /y/\nscore F 1 2 3 4\nfrobnicate x\n",
            Path::new("."),
        );
        let c = &r.cfg;
        assert!(c.rules.contains_key("A"));
        assert!(!c.rules.contains_key("B"));
        assert_eq!(c.rules["C"].def, "/c#/");
        assert!(!c.rules.contains_key("D"));
        assert!(!c.rules.contains_key("E"));
        assert_eq!(c.rules["F"].def, "Subject =~ /y/");
        assert_eq!(c.scores["F"], [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(c.unknown.get("frobnicate"), Some(&1));
    }

    #[test]
    fn files_read_as_latin1_byte_for_char() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.cf");
        for bytes in [&b"plain ascii\n"[..], b"a\xe9# \xc3\xa9\nz\xff", b"\x80"] {
            std::fs::write(&p, bytes).unwrap();
            let s = read_latin1(&p).unwrap();
            let back: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
            assert_eq!(back, bytes);
            assert_eq!(s.chars().count(), bytes.len());
        }
    }
}
