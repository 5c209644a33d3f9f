//! `amavisd-rs scan`: the same checks on files, no network hop, one report
//! per file (text or one JSON object per line). Decisions are made for a
//! local recipient, so the report shows every header a mailbox would get.

use crate::message::spool::Spool;
use crate::pipeline::{Runtime, run_checks};
use crate::policy::decide::{Category, decide};
use crate::policy::format_score;
use crate::policy::headers::edits_for;
use std::path::Path;
use std::sync::Arc;

/// The result for one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub file: String,
    /// CLEAN|SPAMMY|SPAM|INFECTED|BANNED|UNCHECKED|BAD-HEADER|ERROR
    pub category: String,
    pub score: Option<f64>,
    pub required: Option<f64>,
    pub tests: serde_json::Map<String, serde_json::Value>,
    pub virus: Vec<String>,
    pub banned: Vec<String>,
    pub bad_header: Vec<String>,
    /// Header lines that would be prepended for a local recipient.
    pub headers: Vec<String>,
    pub subject_tag: Option<String>,
    pub error: Option<String>,
}

fn word(c: Category) -> &'static str {
    match c {
        Category::Virus => "INFECTED",
        Category::Banned => "BANNED",
        Category::Unchecked => "UNCHECKED",
        Category::Spam => "SPAM",
        Category::Spammy => "SPAMMY",
        Category::BadHeader => "BAD-HEADER",
        Category::Oversized => "OVERSIZED",
        Category::Clean => "CLEAN",
    }
}

/// Check one file.
pub async fn scan_file(rt: &Runtime, path: &Path) -> FileReport {
    let cfg = &rt.config;
    let mut rep = FileReport {
        file: path.display().to_string(),
        category: "ERROR".into(),
        score: None,
        required: cfg.sa_tag2_level_deflt,
        tests: Default::default(),
        virus: vec![],
        banned: vec![],
        bad_header: vec![],
        headers: vec![],
        subject_tag: None,
        error: None,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            rep.error = Some(format!("cannot read: {e}"));
            return rep;
        }
    };
    let rcpt = format!("postmaster@{}", cfg.mydomain);
    let spool = Arc::new(Spool::from_bytes(bytes));
    let f = match run_checks(rt, "", &[rcpt.as_str()], spool, "scan").await {
        Ok(f) => f,
        Err(e) => {
            rep.error = Some(e);
            return rep;
        }
    };
    let mut d = decide(cfg, &rt.maps, &f, "", &rcpt);
    d.local = true;
    d.spam_headers = f
        .spam
        .as_ref()
        .map(|s| cfg.sa_tag_level_deflt.map(|t| s.score >= t).unwrap_or(true))
        .unwrap_or(false);
    let edits = edits_for(cfg, &f, &d, None, "");
    rep.category = word(d.category).into();
    if let Some(s) = &f.spam {
        rep.score = Some(s.score);
        for (name, score) in &s.tests {
            rep.tests.insert(name.clone(), serde_json::json!(score));
        }
    }
    rep.virus = f.viruses.clone();
    rep.banned = f.banned.clone();
    rep.bad_header = f
        .bad_headers
        .iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect();
    let text = String::from_utf8_lossy(&edits.prepend).to_string();
    let mut cur = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with(' ') {
            cur.push('\n');
            cur.push_str(line);
        } else {
            if !cur.is_empty() {
                rep.headers.push(std::mem::take(&mut cur));
            }
            cur = line.to_string();
        }
    }
    if !cur.is_empty() {
        rep.headers.push(cur);
    }
    rep.subject_tag = edits.subject_tag;
    rep
}

/// Human-readable form of a report.
pub fn to_text(r: &FileReport) -> String {
    let mut s = format!("{}: {}", r.file, r.category);
    if let Some(e) = &r.error {
        s.push_str(&format!(" ({e})"));
        return s + "\n";
    }
    if let Some(score) = r.score {
        s.push_str(&format!(
            ", score={} required={}",
            format_score(score),
            r.required
                .map(format_score)
                .unwrap_or_else(|| "undef".into())
        ));
    }
    if !r.virus.is_empty() {
        s.push_str(&format!(", virus: {}", r.virus.join(", ")));
    }
    if !r.banned.is_empty() {
        s.push_str(&format!(", banned: {}", r.banned.join(", ")));
    }
    s.push('\n');
    if !r.tests.is_empty() {
        let t: Vec<String> = r
            .tests
            .iter()
            .map(|(k, v)| format!("{k}={}", format_score(v.as_f64().unwrap_or(0.0))))
            .collect();
        s.push_str(&format!("  tests: {}\n", t.join(", ")));
    }
    for b in &r.bad_header {
        s.push_str(&format!("  bad header: {b}\n"));
    }
    for h in &r.headers {
        s.push_str(&format!("  {}\n", h.replace('\n', "\n  ")));
    }
    if let Some(t) = &r.subject_tag {
        s.push_str(&format!("  subject tag: {t:?}\n"));
    }
    s
}

/// `--explain`: the rules hit with scores and descriptions, like `spamassassin -t`.
pub fn explain(rt: &Runtime, path: &Path) -> String {
    let Some(rs) = &rt.rules else {
        return if rt.spam.is_none() {
            "  (no rule engine loaded: spam checks are bypassed for every recipient)\n".into()
        } else {
            "  (GTUBE-only spam check: no rule engine loaded)\n".into()
        };
    };
    match std::fs::read(path) {
        Ok(bytes) => crate::rules::explain(&rs.check(&bytes, None)),
        Err(e) => format!("  cannot read: {e}\n"),
    }
}
