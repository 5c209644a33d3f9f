//! Banned names and types (`$banned_filename_re`) over every MIME part and
//! every archive member, as amavisd's `check_for_banned_names`
//! (Amavis/Unpackers/Validity.pm) does it:
//!
//! * the message is decomposed into a tree: MIME containers and leaves,
//!   then archive members, tier by tier (breadth-first), with amavisd's
//!   limits (`$MAXLEVELS`, `$MAXFILES`, expansion quota);
//! * each part has attributes: declared MIME type, `.`+short type(s) from
//!   magic bytes, declared name(s), `UNDECIPHERABLE`;
//! * for each leaf, the keys are the attributes of every ancestor then the
//!   leaf (top-down); the first *rule* in list order that matches *any* key
//!   decides (`Amavis::Lookup::RE`), a `ban: false` rule allowing;
//! * the reason text is the leaf's own attributes joined by `,`, e.g.
//!   `application/octet-stream,.exe,.exe-ms,invoice.exe`.

use super::archive::{self, Budget, Kind, Stop};
use super::magic;
use crate::config::{BannedRule, Config};
use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};
use pcre2::bytes::{Regex, RegexBuilder};
use std::collections::VecDeque;

/// Nesting cap when `$MAXLEVELS` is unset (config docs).
pub const DEFAULT_MAXLEVELS: u32 = 32;
/// File cap when `$MAXFILES` is unset (amavisd.conf sample value), so that
/// time and memory stay bounded.
pub const DEFAULT_MAXFILES: u32 = 3000;
/// MIME nesting cap (multipart in multipart ...).
const MAX_MIME_DEPTH: usize = 100;

/// `$banned_filename_re` compiled once: ordered rules.
#[derive(Debug)]
pub struct BannedRules {
    rules: Vec<Rule>,
}

/// One compiled entry with its `(?#...)` comments (amavisd shows them in
/// the banning reason).
#[derive(Debug)]
struct Rule {
    re: Regex,
    bans: bool,
    comment: Option<String>,
}

/// amavisd: `/ \( \? \# \s* (.*?) \s* \) /xgs` over the regex, joined by ' '.
fn comments(re: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut rest = re;
    while let Some(i) = rest.find("(?#") {
        let body = &rest[i + 3..];
        let Some(end) = body.find(')') else { break };
        out.push(body[..end].trim().to_string());
        rest = &body[end + 1..];
    }
    (!out.is_empty()).then(|| out.join(" "))
}

impl BannedRules {
    /// Compile with PCRE2 (Perl syntax: lookahead, `(?i)`, `\z`).
    pub fn new(rules: &[BannedRule]) -> Result<BannedRules, String> {
        let mut out = Vec::with_capacity(rules.len());
        for r in rules {
            let re = RegexBuilder::new()
                .jit_if_available(true)
                .build(r.regex())
                .map_err(|e| format!("banned_filename_re {:?}: {e}", r.regex()))?;
            out.push(Rule {
                re,
                bans: r.bans(),
                comment: comments(r.regex()),
            });
        }
        Ok(BannedRules { rules: out })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// amavisd's `lookup_re` over a key list: the first rule matching any
    /// key gives its value (true = banned, false = allowed).
    pub fn lookup(&self, keys: &[String]) -> Option<bool> {
        self.matching(keys).map(|r| r.bans)
    }

    fn matching(&self, keys: &[String]) -> Option<&Rule> {
        // A regex runtime error (match limit) counts as no match.
        self.rules.iter().find(|r| {
            keys.iter()
                .any(|k| r.re.is_match(k.as_bytes()).unwrap_or(false))
        })
    }
}

/// Decoding limits (`$MAXLEVELS`, `$MAXFILES`, `$MIN/MAX_EXPANSION_QUOTA`).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub maxlevels: Option<u32>,
    pub maxfiles: Option<u32>,
    pub min_expansion_quota: Option<u64>,
    pub max_expansion_quota: Option<u64>,
}

impl Limits {
    pub fn from_config(c: &Config) -> Limits {
        Limits {
            maxlevels: c.maxlevels,
            maxfiles: c.maxfiles,
            min_expansion_quota: c.min_expansion_quota,
            max_expansion_quota: c.max_expansion_quota,
        }
    }

    /// amavisd's quota: max(MIN_QUOTA, size*5, min(MAX_QUOTA, size*500)).
    pub fn quota(&self, mail_size: u64) -> u64 {
        let hi = mail_size
            .saturating_mul(500)
            .min(self.max_expansion_quota.unwrap_or(u64::MAX));
        self.min_expansion_quota
            .unwrap_or(0)
            .max(mail_size.saturating_mul(5))
            .max(hi)
    }

    fn maxlevels(&self) -> u32 {
        self.maxlevels
            .filter(|&l| l > 0)
            .unwrap_or(DEFAULT_MAXLEVELS)
    }

    fn maxfiles(&self) -> u64 {
        self.maxfiles.filter(|&f| f > 0).unwrap_or(DEFAULT_MAXFILES) as u64
    }
}

/// Result of the banned check on one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BannedReport {
    /// amavisd descr of each banned part, in amavisd's (breadth-first) order.
    pub banned: Vec<String>,
    /// amavisd's `banning_reason_short`, the text after `BANNED: ` in
    /// replies and in `X-Amavis-Alert`: the first banned part, prefixed
    /// with the matching rule's `(?#...)` comments and `:` if it has any.
    pub reason: Option<String>,
    /// Why the contents are UNCHECKED: a limit, encryption, an undecodable
    /// member, a MIME ambiguity. None when everything was examined.
    pub unchecked: Option<String>,
    /// amavisd's CC_UNCHECKED minor: 1 encrypted, 2 over limits, 3
    /// ambiguous MIME boundary, 0 other undecipherable.
    pub unchecked_minor: u8,
    /// Parts examined (MIME parts, containers and archive members).
    pub parts: usize,
    /// Damaged archives left unopened (amavisd: logged, not UNCHECKED).
    pub decode_errors: Vec<String>,
}

/// One node of amavisd's parts tree.
#[derive(Default)]
struct Node {
    /// Declared MIME type (MIME parts only).
    mime: Option<String>,
    /// Short types from magic bytes; shown once the node is "typed".
    types: Vec<&'static str>,
    /// amavisd runs file(1) at the start of the next tier: parts created in
    /// a tier that a limit ends keep names only.
    typed: bool,
    names: Vec<String>,
    undecipherable: bool,
    children: Vec<usize>,
}

impl Node {
    /// Attributes in amavisd's order: M, .T, N, UNDECIPHERABLE.
    fn attrs(&self) -> Vec<String> {
        let mut a: Vec<String> = self.mime.iter().cloned().collect();
        if self.typed {
            a.extend(self.types.iter().map(|t| format!(".{t}")));
        }
        a.extend(self.names.iter().cloned());
        if self.undecipherable {
            a.push("UNDECIPHERABLE".into());
        }
        a
    }
}

/// A part waiting for the next tier: node index and its decoded bytes.
type Pending = Vec<(usize, Vec<u8>)>;

/// State of one message's decomposition (amavisd's parts tree + limits).
struct Walk {
    nodes: Vec<Node>,
    budget: Budget,
    stop: Option<String>,
    encrypted: bool,
    undecipherable: bool,
    ambiguous: bool,
    errors: Vec<String>,
}

/// Check one message. Never panics (archive and MIME code run under
/// `catch_unwind`); time and memory are bounded by the limits.
pub fn check_banned(message: &[u8], rules: &BannedRules, limits: &Limits) -> BannedReport {
    match std::panic::catch_unwind(|| check(message, rules, limits)) {
        Ok(r) => r,
        Err(_) => BannedReport {
            unchecked: Some("internal error while decoding the message".into()),
            ..BannedReport::default()
        },
    }
}

fn check(message: &[u8], rules: &BannedRules, limits: &Limits) -> BannedReport {
    let mut w = Walk {
        nodes: vec![Node::default()],
        budget: Budget::new(limits.quota(message.len() as u64), limits.maxfiles()),
        stop: None,
        encrypted: false,
        undecipherable: false,
        ambiguous: false,
        errors: vec![],
    };
    // Tier 1: the mail itself (level 1) decoded into MIME parts (level 2).
    let mut pending = Pending::new();
    match MessageParser::default().parse(message) {
        Some(m) => w.mime(&m, &mut pending),
        None => {
            let node = Node {
                mime: Some("text/plain".into()),
                types: magic::short_types(message),
                ..Node::default()
            };
            if w.issue() {
                let i = w.add(0, node);
                pending.push((i, message.to_vec()));
            }
        }
    }
    w.tiers(pending, limits.maxlevels());
    w.report(rules)
}

/// amavisd compacts runs of 6+ blanks in the reason to ` ... `.
fn compact(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars() {
        if c == ' ' || c == '\t' {
            run.push(c);
            continue;
        }
        out.push_str(if run.chars().count() >= 6 {
            " ... "
        } else {
            &run
        });
        run.clear();
        out.push(c);
    }
    out.push_str(if run.chars().count() >= 6 {
        " ... "
    } else {
        &run
    });
    out
}

/// amavisd replaces tabs and newlines in attribute values by spaces.
fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

fn mime_type(part: &mail_parser::MessagePart) -> String {
    match part.content_type() {
        Some(ct) => clean(&match &ct.c_subtype {
            Some(s) => format!("{}/{}", ct.c_type, s),
            None => ct.c_type.to_string(),
        })
        .to_ascii_lowercase(),
        None => "text/plain".into(),
    }
}

/// Declared names as amavisd collects them: Content-Disposition filename,
/// then Content-Type name, each decoded and then as written (RFC 2047
/// encoded words), without repeats.
fn declared_names(msg: &Message, part: &mail_parser::MessagePart) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let found = [
        (
            HeaderName::ContentDisposition,
            "filename",
            part.content_disposition()
                .and_then(|c| c.attribute("filename")),
        ),
        (
            HeaderName::ContentType,
            "name",
            part.content_type().and_then(|c| c.attribute("name")),
        ),
    ];
    for (header, param, decoded) in found {
        let raw = raw_param(msg, part, &header, param);
        for n in [decoded.map(clean), raw].into_iter().flatten() {
            if !n.is_empty() && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// A parameter's value as written in the raw header, when it holds RFC
/// 2047 encoded words (otherwise it equals the decoded value anyway).
fn raw_param(
    msg: &Message,
    part: &mail_parser::MessagePart,
    header: &HeaderName,
    param: &str,
) -> Option<String> {
    let h = part.headers.iter().find(|h| &h.name == header)?;
    let raw = msg
        .raw_message
        .get(h.offset_start as usize..h.offset_end as usize)?;
    let raw = String::from_utf8_lossy(raw);
    let mut rest = raw.as_ref();
    // Walk `; name=value` pairs, honouring quotes.
    while let Some(i) = rest.find(';') {
        rest = &rest[i + 1..];
        let t = rest.trim_start();
        let Some(eq) = t.find('=') else { break };
        let (k, v) = (t[..eq].trim(), t[eq + 1..].trim_start());
        let value = if let Some(q) = v.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            rest = &q[end..];
            &q[..end]
        } else {
            let end = v.find(';').unwrap_or(v.len());
            rest = &v[end..];
            v[..end].trim_end()
        };
        if k.eq_ignore_ascii_case(param) && value.contains("=?") {
            return Some(clean(value.trim()));
        }
    }
    None
}

impl Walk {
    fn add(&mut self, parent: usize, node: Node) -> usize {
        let i = self.nodes.len();
        self.nodes.push(node);
        self.nodes[parent].children.push(i);
        i
    }

    /// Count a new part; false (and the reason kept) once over `$MAXFILES`.
    fn issue(&mut self) -> bool {
        match self.budget.issue() {
            Ok(()) => true,
            Err(Stop(s)) => {
                self.stop.get_or_insert(s);
                false
            }
        }
    }

    /// The MIME tree (nested message/rfc822 parts included); containers
    /// are nodes too but do not count as files.
    fn mime(&mut self, msg: &Message, pending: &mut Pending) {
        // Explicit stack: (message, part id, parent node, depth).
        let mut stack = vec![(msg, 0u32, 0usize, 0usize)];
        while let Some((m, id, parent, depth)) = stack.pop() {
            let Some(part) = m.parts.get(id as usize) else {
                continue;
            };
            if depth > MAX_MIME_DEPTH {
                self.stop
                    .get_or_insert_with(|| format!("MIME nesting deeper than {MAX_MIME_DEPTH}"));
                continue;
            }
            let mime = Some(mime_type(part));
            match &part.body {
                PartType::Multipart(ids) => {
                    let boundaries =
                        part.content_type()
                            .and_then(|c| c.attributes())
                            .map_or(0, |a| {
                                a.iter()
                                    .filter(|a| a.name.eq_ignore_ascii_case("boundary"))
                                    .count()
                            });
                    self.ambiguous |= boundaries > 1;
                    let i = self.add(
                        parent,
                        Node {
                            mime,
                            ..Node::default()
                        },
                    );
                    // Reverse so the stack pops them in document order.
                    stack.extend(ids.iter().rev().map(|&c| (m, c, i, depth + 1)));
                }
                PartType::Message(inner) => {
                    let names = declared_names(m, part);
                    let i = self.add(
                        parent,
                        Node {
                            mime,
                            names,
                            ..Node::default()
                        },
                    );
                    stack.push((inner, 0, i, depth + 1));
                }
                _ => {
                    if !self.issue() {
                        return;
                    }
                    let data = part.contents();
                    let _ = self.budget.charge(data.len() as u64, "mime_decode", true);
                    let node = Node {
                        mime,
                        types: magic::short_types(data),
                        names: declared_names(m, part),
                        ..Node::default()
                    };
                    let i = self.add(parent, node);
                    let keep = Kind::from_short_types(&self.nodes[i].types).is_some();
                    pending.push((i, if keep { data.to_vec() } else { vec![] }));
                }
            }
        }
    }

    /// amavisd's decompose_mail loop: each tier first types the parts the
    /// previous tier created (file(1)), then unpacks the archives among
    /// them; a limit ends the loop and leaves new parts untyped.
    fn tiers(&mut self, mut pending: Pending, maxlevels: u32) {
        let mut level = 2u32;
        while !pending.is_empty() && self.stop.is_none() {
            if level > maxlevels {
                self.stop = Some(format!("Maximum decoding depth ({maxlevels}) exceeded"));
                return;
            }
            for (i, _) in &pending {
                self.nodes[*i].typed = true;
            }
            let mut next = Pending::new();
            for (i, data) in pending {
                if self.stop.is_some() {
                    break;
                }
                if let Some(kind) = Kind::from_short_types(&self.nodes[i].types) {
                    self.unpack(i, kind, &data, &mut next);
                }
            }
            pending = next;
            level += 1;
        }
    }

    fn unpack(&mut self, i: usize, kind: Kind, data: &[u8], next: &mut Pending) {
        let names = self.nodes[i].names.clone();
        let listing = archive::list(kind, data, &names, &mut self.budget);
        if let Some(e) = listing.error {
            let name = names.first().map_or("", |s| s.as_str());
            self.errors.push(format!("{name}: {e}"));
        }
        for m in listing.members {
            self.encrypted |= m.encrypted;
            self.undecipherable |= m.undecipherable;
            let node = Node {
                types: m
                    .data
                    .as_deref()
                    .map(magic::short_types)
                    .unwrap_or_default(),
                names: m.names.iter().map(|n| clean(n)).collect(),
                undecipherable: m.undecipherable,
                ..Node::default()
            };
            let c = self.add(i, node);
            if let Some(d) = m.data
                && !m.is_dir
            {
                let keep = Kind::from_short_types(&self.nodes[c].types).is_some();
                next.push((c, if keep { d } else { vec![] }));
            }
        }
        if let Some(Stop(s)) = listing.stop {
            self.stop.get_or_insert(s);
        }
    }

    fn report(self, rules: &BannedRules) -> BannedReport {
        let attrs: Vec<Vec<String>> = self.nodes.iter().map(Node::attrs).collect();
        let mut banned = Vec::new();
        let mut reason = None;
        // Breadth-first over the tree, leaves only, keys = path attributes.
        let mut todo: VecDeque<(usize, Vec<usize>)> = VecDeque::from([(0, vec![])]);
        while let Some((i, path)) = todo.pop_front() {
            let node = &self.nodes[i];
            if i != 0 && node.children.is_empty() {
                let keys: Vec<String> = path
                    .iter()
                    .chain(std::iter::once(&i))
                    .flat_map(|&p| attrs[p].iter().cloned())
                    .collect();
                if let Some(rule) = rules.matching(&keys).filter(|r| r.bans) {
                    let descr = attrs[i].join(",");
                    if reason.is_none() {
                        let short = compact(&descr);
                        reason = Some(match &rule.comment {
                            Some(c) => format!("{c}:{short}"),
                            None => short,
                        });
                    }
                    banned.push(descr);
                }
            }
            for &c in &node.children {
                let mut p = path.clone();
                if i != 0 {
                    p.push(i);
                }
                todo.push_back((c, p));
            }
        }
        let (unchecked, minor) = if let Some(s) = self.stop {
            (Some(s), 2)
        } else if self.encrypted {
            (Some("encrypted archive member".to_string()), 1)
        } else if self.ambiguous {
            (Some("ambiguous MIME boundary".to_string()), 3)
        } else if self.undecipherable {
            (Some("undecipherable archive member".to_string()), 0)
        } else {
            (None, 0)
        };
        BannedReport {
            banned,
            reason,
            unchecked,
            unchecked_minor: minor,
            parts: self.nodes.len() - 1,
            decode_errors: self.errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    /// Results checked against amavisd-new 2.13's own `lookup2` +
    /// `Amavis::Lookup::RE` with the same rules and keys.
    #[test]
    fn limits_from_config_and_defaults() {
        let mut c = Config::default();
        let l = Limits::from_config(&c);
        assert_eq!(
            (l.maxlevels(), l.maxfiles()),
            (DEFAULT_MAXLEVELS, DEFAULT_MAXFILES as u64)
        );
        c.maxlevels = Some(14);
        c.maxfiles = Some(1500);
        c.min_expansion_quota = Some(100 * 1024);
        c.max_expansion_quota = Some(300 << 20);
        let l = Limits::from_config(&c);
        assert_eq!((l.maxlevels(), l.maxfiles()), (14, 1500));
        assert_eq!(l.quota(1 << 20), 300 << 20);
    }

    #[test]
    fn lookup_order_is_rule_major_like_lookup_re() {
        let r = BannedRules::new(&[
            BannedRule::Ban(r"(?i)\.[^./]*\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\.?$".into()),
            BannedRule::Entry {
                re: r"^\.(Z|gz|bz2)$".into(),
                ban: false,
            },
            BannedRule::Entry {
                re: r"^\.(zip|rar|arc|arj|zoo)$".into(),
                ban: false,
            },
            BannedRule::Ban(r"(?i).\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$".into()),
            BannedRule::Ban(r"^\.(exe-ms)$".into()),
        ])
        .unwrap();
        let zip = ["multipart/mixed", "application/zip", ".zip", "invoice.zip"];
        let mut k = keys(&zip);
        k.extend(keys(&[".exe", ".exe-ms", "invoice.exe"]));
        assert_eq!(r.lookup(&k), Some(false));
        let mut k = keys(&zip);
        k.extend(keys(&[".exe", ".exe-ms", "invoice.pdf.exe"]));
        assert_eq!(r.lookup(&k), Some(true));
        let k = keys(&[
            "multipart/mixed",
            "application/gzip",
            ".gz",
            "docs.tar.gz",
            ".exe",
            "setup.exe",
        ]);
        assert_eq!(r.lookup(&k), Some(false));
        // Perl's `$` also matches before a final newline.
        assert_eq!(
            r.lookup(&keys(&["text/plain", ".asc", "INVOICE.EXE\n"])),
            Some(true)
        );
        assert_eq!(r.lookup(&keys(&["text/plain", ".asc", "notes.txt"])), None);
    }
}
