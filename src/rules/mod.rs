//! SpamAssassin-compatible rule engine: runs SpamAssassin's installed rule
//! files (parse → compile → evaluate) with local tests only, score set 0.
//!
//! See shared/reference/sa/sa-rules.md for the behaviour reproduced here.

mod capture;
mod compile;
mod ctx;
mod diag;
mod evalfns;
mod evalfns_body;
mod evalfns_freemail;
mod evalfns_header;
mod evalfns_image;
mod evalfns_local;
mod evalfns_locales;
mod evalfns_mime;
mod evalfns_mimeflags;
mod evalfns_recips;
mod evalfns_tosubject;
mod exact;
mod exactset;
mod gate;
mod headerset;
mod html;
mod html_style;
mod html_text;
mod lazydfa;
mod lazymeta;
mod lists;
mod liveness;
mod meta;
mod msg;
mod netset;
mod nullprefix;
mod parallel;
mod parse;
mod perlsyn;
mod plan;
mod prefilter;
mod received;
mod regex;
mod replace_tags;
mod reqbytes;
mod result;
#[cfg(test)]
mod test_support;
mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use compile::{CRule, Test};
pub use diag::explain;
pub use parse::RuleKind;
use result::round3;
pub use result::{Hit, SpamResult};

use compile::Compiled;
use ctx::Ctx;
use parse::{ConfigReader, ParsedConfig};

/// Per-message prefilter results: rule index → candidate segments.
struct Candidates {
    header: Vec<bool>,
    /// Rule index → its gate matched (gated rules only).
    gate: Vec<bool>,
    /// Rule index → its grouped exact search's answer.
    exact: Vec<exactset::Answer>,
    hvals: Vec<Option<std::rc::Rc<[u8]>>>,
    /// Per-message state of the grouped header searches.
    hsets: headerset::State,
    body: prefilter::Cands,
    rawbody: prefilter::Cands,
    uri: prefilter::Cands,
    full: prefilter::Cands,
    /// Tags set by capture rules (`capture.rs`).
    tags: capture::Tags,
}

/// Where to read rules from; empty lists mean SpamAssassin's own search order.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub rules_dirs: Vec<PathBuf>,
    pub site_dirs: Vec<PathBuf>,
}

/// Errors loading a rule set.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("no SpamAssassin rules found in {0:?}")]
    NoRules(Vec<PathBuf>),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A compiled rule set, shared read-only between scanning tasks.
#[derive(Debug)]
pub struct RuleSet {
    compiled: Compiled,
    required: f64,
    settings: std::collections::HashMap<String, Vec<String>>,
    freemail: evalfns_freemail::FreemailLists,
    /// List settings as lookup tables.
    lists: lists::Lists,
    /// Regex arguments of eval rules, compiled once (by pattern text).
    eval_regexes: HashMap<String, regex::PerlRegex>,
    unknown: std::collections::BTreeMap<String, usize>,
    /// Relay trust networks, originating IP headers, `envelope_sender_header`.
    meta: ctx::MetaConfig,
}

/// The relay strings SpamAssassin would expose as `X-Spam-Relays-Trusted`
/// and `X-Spam-Relays-Untrusted`, and the unparseable `Received:` count.
pub fn relay_summary(message: &[u8]) -> (String, String, usize) {
    let ctx = Ctx::new(message, None);
    (
        ctx.relays.trusted_str(),
        ctx.relays.untrusted_str(),
        ctx.relays.unparseable,
    )
}

fn sa_default_rules_dir() -> PathBuf {
    // sa-update's directory for this version, if populated.
    let upd = Path::new("/var/lib/spamassassin/4.000001/updates_spamassassin_org");
    let upd_root = Path::new("/var/lib/spamassassin/4.000001");
    if !parse::dir_files(upd, "cf").is_empty() {
        return upd.to_path_buf();
    }
    if !parse::dir_files(upd_root, "cf").is_empty() {
        return upd_root.to_path_buf();
    }
    PathBuf::from("/usr/share/spamassassin")
}

impl RuleSet {
    /// Load and compile rules: site `*.pre`, rules `*.cf`, site `*.cf`.
    pub fn load(opts: &LoadOptions) -> Result<RuleSet, RulesError> {
        let rules_dirs = if opts.rules_dirs.is_empty() {
            vec![sa_default_rules_dir()]
        } else {
            opts.rules_dirs.clone()
        };
        let site_dirs = if opts.site_dirs.is_empty() {
            vec![PathBuf::from("/etc/spamassassin")]
        } else {
            opts.site_dirs.clone()
        };
        let mut r = ConfigReader::new();
        let mut files = Vec::new();
        for d in site_dirs.iter().chain(rules_dirs.iter()) {
            files.extend(parse::dir_files(d, "pre"));
        }
        let n_pre = files.len();
        for d in &rules_dirs {
            files.extend(parse::dir_files(d, "cf"));
        }
        if files.len() == n_pre {
            return Err(RulesError::NoRules(rules_dirs));
        }
        for d in &site_dirs {
            files.extend(parse::dir_files(d, "cf"));
        }
        for f in &files {
            r.read_file(f).map_err(|source| RulesError::Io {
                path: f.clone(),
                source,
            })?;
        }
        let rs = RuleSet::from_parsed(r.cfg);
        if !rs.unknown.is_empty() {
            let summary: Vec<String> = rs.unknown.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            tracing::warn!(directives = %summary.join(" "), "unknown SpamAssassin config directives ignored");
        }
        if !rs.compiled.compile_errors.is_empty() {
            let names: Vec<&str> = rs
                .compiled
                .compile_errors
                .iter()
                .map(|(n, _)| n.as_str())
                .collect();
            tracing::warn!(count = names.len(), rules = %names.join(" "), "SpamAssassin rules that failed to compile (never hit)");
        }
        Ok(rs)
    }

    /// Parse and compile configuration text (for tests and custom rules).
    pub fn from_config_text(text: &str) -> RuleSet {
        let mut r = ConfigReader::new();
        for p in [
            "Mail::SpamAssassin::Plugin::HeaderEval",
            "Mail::SpamAssassin::Plugin::MIMEEval",
            "Mail::SpamAssassin::Plugin::HTMLEval",
            "Mail::SpamAssassin::Plugin::BodyEval",
            "Mail::SpamAssassin::Plugin::RelayEval",
            "Mail::SpamAssassin::Plugin::MIMEHeader",
            "Mail::SpamAssassin::Plugin::ReplaceTags",
            "Mail::SpamAssassin::Plugin::FreeMail",
        ] {
            r.cfg.plugins.insert(p.to_ascii_lowercase());
        }
        r.read_text(text, Path::new("."));
        RuleSet::from_parsed(r.cfg)
    }

    fn from_parsed(cfg: ParsedConfig) -> RuleSet {
        let compiled = compile::compile(&cfg);
        let mut eval_regexes = HashMap::new();
        for r in &compiled.rules {
            if let Test::Eval { func, args } = &r.test {
                let pat = match func.as_str() {
                    "check_freemail_from" => args.first(),
                    "check_freemail_header" | "html_text_match" => args.get(1),
                    _ => None,
                };
                if let Some(p) = pat
                    && let Ok(re) = regex::PerlRegex::new(p, "")
                {
                    eval_regexes.insert(p.clone(), re);
                }
            }
        }
        RuleSet {
            eval_regexes,
            required: cfg.required_score.unwrap_or(5.0),
            settings: cfg.settings.clone(),
            freemail: {
                let get = |k: &str| cfg.settings.get(k).cloned().unwrap_or_default();
                let mut wl = get("freemail_welcomelist");
                wl.extend(get("freemail_whitelist"));
                evalfns_freemail::FreemailLists::new(&get("freemail_domains"), &wl)
            },
            unknown: cfg.unknown.clone(),
            lists: lists::Lists::new(&cfg.settings),
            meta: ctx::MetaConfig::new(&cfg.settings),
            compiled,
        }
    }

    /// A tiny set of our own, used when no SpamAssassin rules are installed.
    pub fn builtin() -> RuleSet {
        RuleSet::from_config_text(include_str!("builtin.cf"))
    }

    pub fn rule_count(&self) -> usize {
        self.compiled.rules.len()
    }

    /// Rules `check` runs (the others cannot change a score).
    pub fn live_rule_count(&self) -> usize {
        self.compiled.rules.iter().filter(|r| r.live).count()
    }

    pub fn required_score(&self) -> f64 {
        self.required
    }

    /// All compiled rules (for tests and diagnostics).
    pub fn rules(&self) -> &[CRule] {
        &self.compiled.rules
    }

    /// Rules whose definition failed to compile, with the error.
    pub fn compile_errors(&self) -> &[(String, String)] {
        &self.compiled.compile_errors
    }

    /// Build every lazily compiled regex now (e.g. in the background after a
    /// reload); returns the rules whose regex could not be built.
    pub fn warm_up(&self) -> Vec<String> {
        self.compiled
            .exact_sets
            .iter()
            .for_each(exactset::ExactSets::force);
        self.compiled.gates.iter().for_each(gate::Gates::force);
        self.compiled.header_sets.force();
        let mut bad = Vec::new();
        for r in self.compiled.rules.iter().filter(|r| r.live) {
            let ok = match &r.test {
                Test::Body(re) | Test::Rawbody(re) | Test::Uri(re) if r.prefiltered => {
                    // The helper the prefiltered path uses (see `run_rule`).
                    re.force_helper(r.pf_prefix);
                    re.force()
                }
                Test::Header { re, .. }
                | Test::Body(re)
                | Test::Rawbody(re)
                | Test::Full(re)
                | Test::Uri(re)
                | Test::MimeHeader { re, .. } => re.force(),
                _ => true,
            };
            if !ok {
                bad.push(r.name.clone());
            }
        }
        bad
    }

    /// Unknown directives seen while loading, with counts.
    pub fn unknown_directives(&self) -> &std::collections::BTreeMap<String, usize> {
        &self.unknown
    }

    pub(crate) fn eval_regex(&self, pattern: &str) -> Option<&regex::PerlRegex> {
        self.eval_regexes.get(pattern)
    }

    pub(crate) fn freemail(&self) -> &evalfns_freemail::FreemailLists {
        &self.freemail
    }

    pub(crate) fn lists(&self) -> &lists::Lists {
        &self.lists
    }

    pub(crate) fn setting(&self, key: &str) -> &[String] {
        self.settings.get(key).map_or(&[], Vec::as_slice)
    }

    /// Score one message. Never panics (a panic inside is caught and logged).
    pub fn check(&self, message: &[u8], envelope_from: Option<&str>) -> SpamResult {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.check_inner(message, envelope_from)
        })) {
            Ok(r) => r,
            Err(_) => {
                tracing::error!("rule engine panicked on a message; scoring it 0");
                SpamResult {
                    score: 0.0,
                    required: self.required,
                    hits: vec![],
                }
            }
        }
    }

    /// The per-message prefilter results for every rule kind. Without
    /// `header_prefilter` every header rule is a candidate (profiling).
    fn candidates(&self, ctx: &Ctx, header_prefilter: bool) -> Candidates {
        let c = &self.compiled;
        let rules = &c.rules;
        // Header values once per distinct request, then the header prefilter.
        let hvals: Vec<Option<std::rc::Rc<[u8]>>> =
            c.header_keys.iter().map(|k| ctx.get_ref(k)).collect();
        let mut header = vec![!header_prefilter; rules.len()];
        for (k, v) in hvals.iter().enumerate() {
            if let Some(v) = v.as_ref().filter(|_| header_prefilter) {
                c.pf_header.mark(v, &mut header, |r| {
                    matches!(&rules[r as usize].test, Test::Header { key, .. } if *key as usize == k)
                });
            }
        }
        let tags = capture::tags_of(c, ctx, &hvals);
        Candidates {
            tags,
            header,
            gate: self.gate_hits(ctx),
            exact: exactset::answers(&c.exact_sets, &ctx.bodies.exact, c.rules.len()),
            hvals,
            hsets: c.header_sets.state(),
            body: c.pf_body.candidates(&ctx.bodies.body_lines),
            rawbody: c.pf_rawbody.candidates(&ctx.bodies.rawbody),
            uri: c.pf_uri.candidates(&ctx.bodies.uri_bytes),
            full: c
                .pf_full
                .candidates(std::slice::from_ref(&ctx.pristine_vec)),
        }
    }

    /// Which gated rules may match (their gate matched the joined text).
    fn gate_hits(&self, ctx: &Ctx) -> Vec<bool> {
        let mut out = vec![false; self.compiled.rules.len()];
        for ((g, text), present) in self
            .compiled
            .gates
            .iter()
            .zip(&ctx.bodies.joined)
            .zip(&ctx.bodies.present)
        {
            g.mark(text, present, &mut out);
        }
        out
    }

    fn check_inner(&self, message: &[u8], envelope_from: Option<&str>) -> SpamResult {
        let ctx = Ctx::with_config(message, envelope_from, &self.meta);
        let rules = &self.compiled.rules;
        let hits = self.hit_counts(&ctx, false);
        let mut out = Vec::new();
        let mut total = 0.0;
        for (i, r) in rules.iter().enumerate() {
            if hits[i] > 0.0 && r.enabled && !r.name.starts_with("__") {
                // `tflags multiple`: each hit (up to maxhits) scores and is
                // listed again, as got_hit/_handle_hit do (tests=[R=1.5,R=1.5]).
                let times = if r.multiple {
                    hits[i].max(1.0) as usize
                } else {
                    1
                };
                for _ in 0..times {
                    total += r.scores[0];
                    out.push(Hit {
                        name: r.name.clone(),
                        score: r.scores[0],
                        description: r.describe.clone(),
                    });
                }
            }
        }
        SpamResult {
            score: round3(total),
            required: self.required,
            hits: out,
        }
    }

    /// Hit count of one non-meta rule.
    fn run_rule(&self, idx: u32, r: &CRule, ctx: &Ctx, cands: &Candidates) -> usize {
        if r.gated && !cands.gate[idx as usize] {
            return 0;
        }
        let max = r.maxhits.max(1);
        let lines = |re: &regex::PerlRegex,
                     list: &[Vec<u8>],
                     joined: &[u8],
                     exact: Option<&exact::ExactText>,
                     cand: &prefilter::Cands,
                     gates: &gate::Gates,
                     skip_first: bool|
         -> usize {
            if !r.multiple && !r.prefiltered {
                match cands.exact[idx as usize] {
                    exactset::Answer::Yes => return 1,
                    exactset::Answer::No => return 0,
                    exactset::Answer::Unknown => {}
                }
                if let Some(m) = exact.and_then(|t| re.is_match_exact(t, skip_first)) {
                    return usize::from(m);
                }
            }
            let count = |l: &[u8], n: usize| {
                if r.multiple {
                    re.count_at_line_starts(l, max - n)
                        .unwrap_or_else(|| re.count_matches(l, max - n))
                } else {
                    usize::from(re.is_match(l))
                }
            };
            let mut n = 0;
            if r.prefiltered {
                let hits = cand.of(r.pf_slot);
                // No literal, no match. Returning here also leaves the
                // rule's automaton and cache pool untouched: in a stream of
                // different messages they are mostly out of the CPU caches.
                if hits.is_empty() {
                    return 0;
                }
                // A match starts at one of the literals: try just there.
                if r.pf_prefix
                    && let Some(n) = re.count_at_literals(list, hits, skip_first, r.multiple, max)
                {
                    return n;
                }
                let mut last = None;
                for &(j, _) in hits {
                    if (skip_first && j == 0) || last == Some(j) {
                        continue;
                    }
                    last = Some(j);
                    if re.ruled_out(&list[j as usize]) {
                        continue;
                    }
                    n += count(&list[j as usize], n);
                    if n >= max {
                        break;
                    }
                }
            } else {
                // No match in the whole text means none in any segment.
                if !r.gated && re.context_free() && !re.is_match(joined) {
                    return 0;
                }
                // A gated rule runs only where its own gate matches (a
                // context-free rule's gate is the rule itself: no use).
                let filter = if r.gated && !re.context_free() {
                    gates.segment_filter(idx)
                } else {
                    None
                };
                for l in list.iter().skip(usize::from(skip_first)) {
                    if filter.is_some_and(|f| f.is_match(l) == Some(false)) {
                        continue;
                    }
                    n += count(l, n);
                    if n >= max {
                        break;
                    }
                }
            }
            n
        };
        match &r.test {
            Test::Header {
                key,
                re,
                neg,
                unset,
                ..
            } => {
                let m = match &cands.hvals[*key as usize] {
                    Some(_) if r.prefiltered && !cands.header[idx as usize] => false,
                    Some(v) => match r
                        .hgroup
                        .map(|(g, m)| self.compiled.header_sets.answer(g, m, v, &cands.hsets))
                    {
                        Some(exactset::Answer::Yes) => true,
                        Some(exactset::Answer::No) => false,
                        _ => re.is_match(v),
                    },
                    None => *r
                        .absent
                        .get_or_init(|| re.is_match(unset.as_deref().unwrap_or(b""))),
                };
                usize::from(m != *neg)
            }
            Test::Exists(h) => usize::from(ctx.get(h).is_some()),
            Test::Body(re) => lines(
                re,
                &ctx.bodies.body_lines,
                &ctx.bodies.joined[0],
                ctx.bodies.exact[0].as_ref(),
                &cands.body,
                &self.compiled.gates[0],
                r.nosubject,
            ),
            Test::Rawbody(re) => lines(
                re,
                &ctx.bodies.rawbody,
                &ctx.bodies.joined[1],
                None,
                &cands.rawbody,
                &self.compiled.gates[1],
                false,
            ),
            Test::Full(re) if !r.prefiltered => usize::from(re.is_match(ctx.pristine)),
            Test::Full(re) => {
                let hits = cands.full.of(r.pf_slot);
                let whole = std::slice::from_ref(&ctx.pristine_vec);
                if hits.is_empty() {
                    0
                } else if let Some(n) = r
                    .pf_prefix
                    .then(|| re.count_at_literals(whole, hits, false, false, 1))
                    .flatten()
                {
                    // Every match starts at a literal: try just there.
                    n
                } else {
                    usize::from(re.is_match(ctx.pristine))
                }
            }
            Test::Uri(re) => lines(
                re,
                &ctx.bodies.uri_bytes,
                &ctx.bodies.joined[2],
                ctx.bodies.exact[1].as_ref(),
                &cands.uri,
                &self.compiled.gates[2],
                false,
            ),
            Test::MimeHeader { hdr, raw, re, neg } => {
                let mut hit = false;
                for p in ctx
                    .parts
                    .iter()
                    .map(|p| &p.headers)
                    .chain(&ctx.facts.containers)
                {
                    for f in p.iter().filter(|f| f.name.eq_ignore_ascii_case(hdr)) {
                        let v = if *raw {
                            msg::trim_ws(&f.raw).to_vec()
                        } else {
                            f.decoded.clone()
                        };
                        if re.is_match(&v) != *neg {
                            hit = true;
                        }
                    }
                }
                usize::from(hit)
            }
            Test::Eval { func, args } => usize::from(evalfns::call(self, ctx, r.kind, func, args)),
            Test::Templated { header, tpl } => match header {
                Some((key, neg, unset)) => {
                    let v = cands.hvals[*key as usize].as_deref().or(unset.as_deref());
                    tpl.hits(&cands.tags, &[v.unwrap_or(b"")], Some(*neg), r)
                }
                None => tpl.hits(
                    &cands.tags,
                    &capture::texts_of(r.kind, ctx, r.nosubject),
                    None,
                    r,
                ),
            },
            Test::Meta(_) | Test::Empty => 0,
        }
    }
}
