//! From parsed configuration to the compiled rule table: ReplaceTags,
//! regex compilation, meta expressions in dependency order, set-0 scores.

use std::collections::HashMap;

use super::gate::Gates;
use super::meta::{self, Expr, Resolver};
use super::parallel::parallel_map;
use super::parse::{ParsedConfig, ReplaceTags, RuleKind, latin1_to_utf8};
use super::prefilter::{self, Literals, Prefilter};
use super::regex::{PerlRegex, split_delimited};
use super::replace_tags::replace_tags;

/// What a compiled rule tests.
#[derive(Debug)]
pub enum Test {
    Header {
        /// Index into `Compiled::header_keys` (per-message value slot).
        key: u32,
        hdr: String,
        re: PerlRegex,
        neg: bool,
        unset: Option<Vec<u8>>,
    },
    Exists(String),
    Body(PerlRegex),
    Rawbody(PerlRegex),
    Full(PerlRegex),
    Uri(PerlRegex),
    MimeHeader {
        hdr: String,
        raw: bool,
        re: PerlRegex,
        neg: bool,
    },
    Eval {
        func: String,
        args: Vec<String>,
    },
    Meta(Expr),
    /// A header, body, rawbody, uri or full rule whose pattern reads
    /// captured tags (`capture.rs`); built per message. Header rules keep
    /// their value slot, `!~` and `[if-unset: ...]` text here.
    Templated {
        header: Option<(u32, bool, Option<Vec<u8>>)>,
        tpl: Box<super::capture::Template>,
    },
    Empty,
}

/// One rule ready to run.
#[derive(Debug)]
pub struct CRule {
    pub name: String,
    pub kind: RuleKind,
    pub test: Test,
    pub scores: [f64; 4],
    pub tflags: String,
    pub describe: String,
    /// Run at all (score set 0, not net/learn)?
    pub enabled: bool,
    pub multiple: bool,
    pub maxhits: usize,
    pub nosubject: bool,
    /// Has prefilter literals (runs only where one occurs).
    pub prefiltered: bool,
    /// Has a gate instead (runs only if its gate matches the whole text).
    pub gated: bool,
    /// Can its result reach the score: an enabled scoring rule, or one an
    /// enabled live meta reads. Dead `__` sub-rules (hundreds in the
    /// installed set) are neither prefiltered, gated nor run by `check`.
    pub live: bool,
    /// Header rules: `(group, member)` in `Compiled::header_sets`.
    pub hgroup: Option<(u32, u8)>,
    /// Prefiltered rules: slot in their kind's `Prefilter`, and whether a
    /// match must start at one of the literals.
    pub pf_slot: u32,
    pub pf_prefix: bool,
    /// Header rules: the result when the header is absent (the regex on
    /// the `[if-unset: ...]` text or on nothing), the same for every
    /// message, so worked out once rather than run every time.
    pub absent: std::sync::OnceLock<bool>,
}

/// The compiled rules and their evaluation order.
#[derive(Debug, Default)]
pub struct Compiled {
    pub rules: Vec<CRule>,
    /// Non-meta rule indexes.
    pub plain: Vec<usize>,
    /// Meta rule indexes, dependencies first.
    pub metas: Vec<usize>,
    /// The expression of `metas[k]` as program number `k`.
    pub meta_program: meta::Program,
    pub compile_errors: Vec<(String, String)>,
    pub pf_body: Prefilter,
    pub pf_rawbody: Prefilter,
    pub pf_uri: Prefilter,
    pub pf_full: Prefilter,
    pub pf_header: Prefilter,
    /// Gates of body, rawbody and uri rules without literals.
    pub gates: [Gates; 3],
    /// Grouped exact searches of body and uri rules (`exactset.rs`).
    pub exact_sets: [super::exactset::ExactSets; 2],
    /// Distinct `Name:mods` requests of header rules.
    pub header_keys: Vec<String>,
    /// Header rules searched a group at a time (`headerset.rs`).
    pub header_sets: super::headerset::HeaderSets,
    /// What `check` reads first of each rule (`plan.rs`).
    pub plan: super::plan::Plan,
    /// Rules with named groups that set tags (`capture.rs`), by index.
    pub capturers: Vec<(u32, super::capture::Capturer)>,
}

struct MetaNames<'a> {
    index: &'a HashMap<String, usize>,
    missing: Vec<String>,
}

impl Resolver for MetaNames<'_> {
    fn name(&mut self, name: &str) -> Expr {
        match self.index.get(name) {
            Some(i) => Expr::Var(*i),
            None => {
                self.missing.push(name.to_string());
                Expr::Num(0.0)
            }
        }
    }
    fn call(&mut self, _f: &str, _a: &str) -> Expr {
        Expr::Num(0.0)
    }
}

fn parse_header_def(def: &str) -> Option<(String, bool, String, Option<String>)> {
    // ^([\w.-]+(?:\:|(?:\:[a-z]+){1,2})?)\s*([=!]~)\s*(.+)$
    let op = def.find("=~").or_else(|| def.find("!~"))?;
    let hdr = def[..op].trim().trim_end_matches(':').to_string();
    if hdr.is_empty() || hdr.contains(char::is_whitespace) {
        return None;
    }
    let neg = &def[op..op + 2] == "!~";
    let mut pat = def[op + 2..].trim().to_string();
    let mut unset = None;
    if let Some(p) = pat.rfind("[if-unset:")
        && pat.ends_with(']')
    {
        unset = Some(pat[p + 10..pat.len() - 1].trim().to_string());
        pat = pat[..p].trim_end().to_string();
    }
    Some((hdr, neg, pat, unset))
}

fn compile_re(name: &str, text: &str, tags: &ReplaceTags) -> Result<PerlRegex, String> {
    let (body, flags) = pattern_of(name, text, tags)?;
    compile_re_lits(&body, &flags, false).map(|(re, _)| re)
}

/// The pattern after `replace_tags`, and its flags.
fn pattern_of(name: &str, text: &str, tags: &ReplaceTags) -> Result<(String, String), String> {
    let (body, flags) = split_delimited(text.trim())?;
    let body = if tags.rules.contains(name) {
        replace_tags(body, tags)
    } else {
        body.to_string()
    };
    Ok((body, flags.to_string()))
}

/// What a header, body, rawbody, uri or full rule's pattern compiles to.
// Made once per rule at load and taken apart at once: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum RulePattern {
    /// It reads captured tags (`%{NAME}`), checked to compile with a
    /// stand-in value. It gets no literals, gate or grouped search: its
    /// pattern is only known per message.
    Template(Box<super::capture::Template>),
    Regex(PerlRegex, Filter),
}

/// Split, tag-expand and compile a rule's pattern once, noting its named
/// groups if it is a capture rule (`Filter::capture`).
fn regex_rule(name: &str, text: &str, tags: &ReplaceTags) -> Result<RulePattern, String> {
    let (body, flags) = pattern_of(name, text, tags)?;
    if let Some(t) = super::capture::Template::parse(&body, &flags) {
        PerlRegex::new(&t.probe(), &flags)?;
        return Ok(RulePattern::Template(Box::new(t)));
    }
    let (re, mut filter) = compile_re_lits(&body, &flags, true)?;
    filter.capture = super::capture::Capturer::new(&body, &flags);
    Ok(RulePattern::Regex(re, filter))
}

/// What filters a rule before it runs: literals and/or a gate pattern.
#[derive(Default)]
struct Filter {
    lits: Option<Literals>,
    /// Pattern and flags to derive a gate from (on first use).
    gate: Option<(String, String)>,
    /// The pattern (through `escape_high_bytes`) and flags (header rules'
    /// shared searches, `headerset.rs`).
    source: Option<(String, String)>,
    /// Capture rules: their named groups (`capture.rs`).
    capture: Option<super::capture::Capturer>,
}

/// Compile, optionally also extracting prefilter literals (or, failing
/// those, a gate pattern).
fn compile_re_lits(
    body: &str,
    flags: &str,
    want_lits: bool,
) -> Result<(PerlRegex, Filter), String> {
    // One parse serves both the engine choice and the prefilter.
    let pattern = super::regex::escape_high_bytes(body);
    let ast = super::regex::parse_ast(&pattern, flags);
    let hir = ast
        .as_ref()
        .and_then(|a| super::regex::translate(&pattern, a, flags, false));
    let mut filter = Filter::default();
    if want_lits {
        filter.lits = prefilter::required_prefixes_translated(&pattern, flags, hir.as_ref());
    }
    let re = PerlRegex::from_translated(pattern.clone(), flags, ast.as_ref(), hir.as_ref())?;
    // A gate costs a share of one grouped automaton pass over the whole
    // text: worth it for rules that otherwise run on every segment, or
    // (context-free regexes) make a whole-text pass of their own. Literals
    // already narrow the segments, and gating those too measured no better.
    let want_gate = want_lits && filter.lits.is_none();
    if want_gate {
        filter.gate = Some((pattern.clone(), flags.to_string()));
    }
    if want_lits {
        filter.source = Some((pattern, flags.to_string()));
    }
    Ok((re, filter))
}

fn parse_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q: Option<char> = None;
    for c in s.chars() {
        match q {
            Some(qc) if c == qc => q = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => q = Some(c),
            None if c == ',' => {
                out.push(cur.trim().to_string());
                cur.clear();
            }
            None => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Compile one rule's test (regexes, prefilter literals, meta expression).
fn build_test(
    name: &str,
    raw: &super::parse::RawRule,
    cfg: &ParsedConfig,
    index: &HashMap<String, usize>,
    key_ids: &HashMap<String, u32>,
) -> (Result<Test, String>, Filter) {
    let mut lits = Filter::default();
    let test: Result<Test, String> = match raw.kind {
        RuleKind::Header => {
            if let Some(h) = raw.def.strip_prefix("exists:") {
                Ok(Test::Exists(h.trim().trim_end_matches(':').to_string()))
            } else {
                match parse_header_def(&raw.def) {
                    Some((hdr, neg, pat, unset)) => {
                        let key = key_ids[&hdr];
                        let unset = unset.map(|u| latin1_to_utf8(&u).into_bytes());
                        regex_rule(name, &pat, &cfg.replace).map(|p| match p {
                            RulePattern::Template(tpl) => Test::Templated {
                                header: Some((key, neg, unset)),
                                tpl,
                            },
                            RulePattern::Regex(re, l) => {
                                // Header rules: literals, and grouped searches
                                // instead of gates (`headerset.rs`).
                                lits.lits = l.lits;
                                lits.source = l.source;
                                lits.capture = l.capture;
                                Test::Header {
                                    key,
                                    hdr,
                                    re,
                                    neg,
                                    unset,
                                }
                            }
                        })
                    }
                    None => Err(format!("invalid header test: {}", raw.def)),
                }
            }
        }
        RuleKind::Body | RuleKind::Rawbody | RuleKind::Full | RuleKind::Uri => {
            regex_rule(name, &raw.def, &cfg.replace).map(|p| match p {
                RulePattern::Template(tpl) => Test::Templated { header: None, tpl },
                RulePattern::Regex(re, l) => {
                    lits = l;
                    match raw.kind {
                        RuleKind::Body => Test::Body(re),
                        RuleKind::Rawbody => Test::Rawbody(re),
                        RuleKind::Full => Test::Full(re),
                        _ => Test::Uri(re),
                    }
                }
            })
        }
        RuleKind::MimeHeader => match parse_header_def(&raw.def) {
            Some((hdr, neg, pat, _)) => {
                let (h, rawflag) = match hdr.strip_suffix(":raw") {
                    Some(h) => (h.to_string(), true),
                    None => (hdr.clone(), false),
                };
                compile_re(name, &pat, &cfg.replace).map(|re| Test::MimeHeader {
                    hdr: h,
                    raw: rawflag,
                    re,
                    neg,
                })
            }
            None => Err(format!("invalid mimeheader: {}", raw.def)),
        },
        RuleKind::HeaderEval
        | RuleKind::RblEval
        | RuleKind::BodyEval
        | RuleKind::RawbodyEval
        | RuleKind::FullEval => {
            let d = raw.def.trim();
            match (d.find('('), d.rfind(')')) {
                (Some(a), Some(b)) if a < b => Ok(Test::Eval {
                    func: d[..a].trim().to_string(),
                    args: parse_args(&d[a + 1..b]),
                }),
                _ => Err(format!("invalid eval call: {d}")),
            }
        }
        RuleKind::Meta => {
            let mut r = MetaNames {
                index,
                missing: vec![],
            };
            meta::parse(&raw.def, &mut r).map(Test::Meta)
        }
        RuleKind::Empty => Ok(Test::Empty),
    };
    (test, lits)
}

/// Compile every rule of `cfg`.
pub fn compile(cfg: &ParsedConfig) -> Compiled {
    let mut names: Vec<&String> = cfg.rules.keys().collect();
    names.sort();
    let index: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| ((*n).clone(), i))
        .collect();
    let mut out = Compiled::default();
    let mut filters: Vec<(u32, RuleKind, Filter)> = Vec::new();
    let mut key_ids: HashMap<String, u32> = HashMap::new();
    for name in &names {
        let raw = &cfg.rules[*name];
        if raw.kind == RuleKind::Header
            && !raw.def.starts_with("exists:")
            && let Some((hdr, ..)) = parse_header_def(&raw.def)
            && !key_ids.contains_key(&hdr)
        {
            key_ids.insert(hdr.clone(), out.header_keys.len() as u32);
            out.header_keys.push(hdr);
        }
    }
    // Tag-expanded patterns are tens of times their written length.
    let cost = |name: &&String| {
        let len = cfg.rules[*name].def.len();
        if cfg.replace.rules.contains(*name) {
            len * 64
        } else {
            len
        }
    };
    let built_v = parallel_map(&names, cost, |name| {
        build_test(name, &cfg.rules[*name], cfg, &index, &key_ids)
    });
    let mut built = built_v.into_iter();
    for name in &names {
        let raw = &cfg.rules[*name];
        let tflags = cfg.tflags.get(*name).cloned().unwrap_or_default();
        let flag = |f: &str| tflags.split_whitespace().any(|t| t == f);
        let scores = cfg.scores.get(*name).copied().unwrap_or({
            let s = if name.starts_with("T_") { 0.01 } else { 1.0 };
            [if flag("nice") { -s } else { s }; 4]
        });
        let maxhits = tflags
            .split_whitespace()
            .find_map(|t| t.strip_prefix("maxhits=")?.parse().ok());
        let (test, lits) = built.next().expect("one result per rule");
        let test = match test {
            Ok(t) => t,
            Err(e) => {
                out.compile_errors.push(((*name).clone(), e));
                Test::Empty
            }
        };
        // Under -L SpamAssassin skips net/learn rules, but not metas that
        // merely carry (or inherited) the net flag: KHOP_HELO_FCRDNS is
        // `tflags net` in its dump and still hits in local mode.
        let is_meta = raw.kind == RuleKind::Meta;
        let enabled = scores[0] != 0.0 && (is_meta || (!flag("net") && !flag("learn")));
        out.rules.push(CRule {
            name: (*name).clone(),
            kind: raw.kind,
            test,
            scores,
            describe: cfg
                .describe
                .get(*name)
                .map(|d| latin1_to_utf8(d))
                .unwrap_or_default(),
            enabled,
            multiple: flag("multiple"),
            maxhits: maxhits.unwrap_or(if flag("multiple") { 1000 } else { 1 }),
            nosubject: flag("nosubject"),
            prefiltered: false,
            gated: false,
            live: false,
            hgroup: None,
            pf_slot: 0,
            pf_prefix: false,
            absent: std::sync::OnceLock::new(),
            tflags,
        });
        let idx = (out.rules.len() - 1) as u32;
        filters.push((idx, raw.kind, lits));
    }
    // Order: plain rules, then metas topologically.
    let n = out.rules.len();
    let mut state = vec![0u8; n]; // 0 new, 1 visiting, 2 done
    fn visit(i: usize, rules: &[CRule], state: &mut [u8], order: &mut Vec<usize>) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        if let Test::Meta(e) = &rules[i].test {
            let mut deps = Vec::new();
            meta::vars_of(e, &mut deps);
            for d in deps {
                if matches!(rules[d].test, Test::Meta(_)) {
                    visit(d, rules, state, order);
                }
            }
            order.push(i);
        }
        state[i] = 2;
    }
    for i in 0..n {
        if matches!(out.rules[i].test, Test::Meta(_)) {
            let mut order = Vec::new();
            visit(i, &out.rules, &mut state, &mut order);
            out.metas.extend(order);
        } else {
            out.plain.push(i);
        }
    }
    for (idx, _, f) in filters.iter_mut() {
        if let Some(c) = f.capture.take() {
            out.capturers.push((*idx, c));
        }
    }
    super::liveness::mark_live(&mut out);
    let mut pf_lits: [Vec<(u32, Vec<Vec<u8>>)>; 5] = Default::default();
    let mut gate_pats: [Vec<(u32, String, String)>; 3] = Default::default();
    let mut header_items = Vec::new();
    for (idx, kind, lits) in filters {
        let r = &mut out.rules[idx as usize];
        if !r.live {
            continue;
        }
        if let (Test::Header { key, re, .. }, Some((pattern, flags))) = (&r.test, &lits.source)
            && r.enabled
            && (re.is_lazy_rust() || re.is_pcre())
        {
            header_items.push(super::headerset::Item {
                rule: idx,
                key: *key,
                pattern: pattern.clone(),
                flags: flags.clone(),
                exact: re.is_lazy_rust(),
            });
        }
        if let Some(l) = lits.lits {
            r.prefiltered = true;
            r.pf_prefix = l.prefix;
            let k = match kind {
                RuleKind::Body => 0,
                RuleKind::Rawbody => 1,
                RuleKind::Uri => 2,
                RuleKind::Header => 4,
                _ => 3,
            };
            r.pf_slot = pf_lits[k].len() as u32;
            pf_lits[k].push((idx, l.lits));
        }
        if let Some((p, f)) = lits.gate {
            let k = match kind {
                RuleKind::Body => Some(0),
                RuleKind::Rawbody => Some(1),
                RuleKind::Uri => Some(2),
                _ => None,
            };
            // Body and uri rules the `regex` crate runs get their answer
            // from one whole-text search instead (`exact.rs`).
            let exact = matches!(&r.test, Test::Body(re) | Test::Uri(re) if re.is_lazy_rust())
                && !r.multiple;
            if let Some(k) = k
                && r.enabled
                && !exact
            {
                r.gated = true;
                gate_pats[k].push((idx, p, f));
            }
        }
    }
    out.pf_body = Prefilter::build(&pf_lits[0]);
    out.pf_rawbody = Prefilter::build(&pf_lits[1]);
    out.pf_uri = Prefilter::build(&pf_lits[2]);
    out.pf_full = Prefilter::build(&pf_lits[3]);
    out.gates = gate_pats.map(Gates::build);
    let (sets, members) = super::headerset::HeaderSets::build(header_items);
    out.header_sets = sets;
    for (rule, g, m) in members {
        // A group searches the whole value once anyway: its members need
        // no literal pass over it.
        let r = &mut out.rules[rule as usize];
        r.hgroup = Some((g, m));
        r.prefiltered = false;
    }
    pf_lits[4].retain(|(i, _)| out.rules[*i as usize].hgroup.is_none());
    out.pf_header = Prefilter::build(&pf_lits[4]);
    let mut exact_items: [Vec<(u32, String, String)>; 2] = Default::default();
    for &i in &out.plain {
        let r = &out.rules[i];
        if !r.live || !r.enabled || r.multiple || r.prefiltered || r.nosubject {
            continue;
        }
        let (k, re) = match &r.test {
            Test::Body(re) => (0, re),
            Test::Uri(re) => (1, re),
            _ => continue,
        };
        if let Some((p, f)) = re.lazy_source() {
            exact_items[k].push((i as u32, p.to_string(), f.to_string()));
        }
    }
    out.exact_sets = exact_items.map(super::exactset::ExactSets::build);
    // `fix_tflags`: a meta depending directly on a rule flagged `net` in
    // the config is net too. SpamAssassin makes one pass in hash order, so
    // inheritance through a meta that itself inherited is not guaranteed;
    // only config flags are used here (matches its dump of the installed set).
    let net0: Vec<bool> = out
        .rules
        .iter()
        .map(|r| r.tflags.split_whitespace().any(|t| t == "net"))
        .collect();
    for k in 0..out.metas.len() {
        let i = out.metas[k];
        let mut deps = Vec::new();
        match &out.rules[i].test {
            Test::Meta(e) => {
                meta::vars_of(e, &mut deps);
                out.meta_program.push(e);
            }
            // Keeps the numbering: never run (`hit_counts` runs metas only).
            _ => out.meta_program.push(&meta::Expr::Num(0.0)),
        }
        if !net0[i] && deps.iter().any(|&d| net0[d]) {
            let r = &mut out.rules[i];
            r.tflags = format!("{} net", r.tflags).trim().to_string();
        }
    }
    out.plan = super::plan::Plan::build(&out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_def() {
        let (h, neg, pat, unset) = parse_header_def("From:addr !~ /x/i [if-unset: a@b]").unwrap();
        assert_eq!((h.as_str(), neg, pat.as_str()), ("From:addr", true, "/x/i"));
        assert_eq!(unset.as_deref(), Some("a@b"));
        assert_eq!(parse_args("'a', 'b c',3"), vec!["a", "b c", "3"]);
    }
}
