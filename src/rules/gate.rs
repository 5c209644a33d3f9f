//! "Can this rule match anywhere?" gates for body-like rules without
//! prefilter literals: a lazy DFA (`regex-automata`) run once over the
//! whole text of a kind rules the rule out before its regex runs on every
//! line (PCRE2 backtracking). Gates share multi-pattern automata in small
//! groups (in big ones the states multiply and it costs more than it saves).
//!
//! A gate is a *superset* of its rule: the rule's pattern with look-around
//! dropped (as for the prefilter), `^`/`\A` widened to "start of a line" and
//! `$`/`\z` to "end of a line", searched in the segments joined with `\n`
//! after each (see `text::join_segments`). Any match of the rule inside a
//! segment is then a match of the gate in the joined text at the same
//! place: the assertions that remain (`\b`, `\B`, line anchors) see `\n`
//! where the segment saw its edge, and `\n` is a non-word line break.
//! So a gate that does not match proves the rule has no hit; a gate that
//! matches only lets the rule run as before (Perl semantics unchanged).

use std::sync::OnceLock;

use regex_automata::hybrid::dfa::DFA;
use regex_automata::nfa::thompson;
use regex_syntax::ast::Ast;
use regex_syntax::hir::{Capture, Hir, HirKind, Look, Repetition};

use regex_automata::PatternID;

use super::lazydfa::Matcher;
use super::prefilter::{relax, relax_perl};
use super::regex::{parse_ast, translate};
use super::reqbytes::{ByteSet, required};

/// Lazy-DFA cache of one gate (per concurrent search).
const CACHE: usize = 256 << 10;

/// The gate pattern of a rule regex (`pattern` already through
/// `escape_high_bytes`, `ast` its syntax tree), or `None` when none can be
/// derived (backreferences, `\Z`, `x` with look-around, ...).
pub fn gate_pattern(pattern: &str, flags: &str, ast: Option<&Ast>) -> Option<Hir> {
    let ci = flags.contains('i');
    let hir = match ast.and_then(|a| translate(pattern, a, flags, ci)) {
        Some(h) => h,
        None if !flags.contains('x') => {
            let parse = |r: &str| translate(r, &parse_ast(r, flags)?, flags, ci);
            match relax(pattern).and_then(|r| parse(&r)) {
                Some(h) => h,
                None => {
                    // Gated only since `perlsyn.rs` rewrites their syntax,
                    // some rules' automata explode (`__SUBJ_HAS_TO_2`,
                    // `__PDS_TO_EQ_FROM_NAME_2`: `[^\n]{0,100}` after a `*`;
                    // 2.6 ms a message before the lazy DFA gave up): those
                    // with long counts keep running ungated, as before.
                    let h = parse(&relax_perl(pattern)?)?;
                    if explosive(&h) {
                        return None;
                    }
                    h
                }
            }
        }
        None => return None,
    };
    Some(widen_anchors(hir))
}

/// A long counted repetition (`{0,100}`): once earlier parts can match
/// again at later places (the unanchored search, an enclosing `*`), a DFA
/// needs a state for each set of counts in flight.
fn explosive(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Repetition(r) => {
            r.min >= 32 || r.max.is_some_and(|m| m >= 32) || explosive(&r.sub)
        }
        HirKind::Capture(c) => explosive(&c.sub),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(explosive),
        _ => false,
    }
}

/// Text anchors become line anchors (a superset on a `\n`-joined text).
fn widen_anchors(h: Hir) -> Hir {
    match h.into_kind() {
        HirKind::Look(Look::Start) => Hir::look(Look::StartLF),
        HirKind::Look(Look::End) => Hir::look(Look::EndLF),
        HirKind::Look(l) => Hir::look(l),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(widen_anchors(*r.sub)),
            ..r
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(widen_anchors(*c.sub)),
            ..c
        }),
        HirKind::Concat(v) => Hir::concat(v.into_iter().map(widen_anchors).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.into_iter().map(widen_anchors).collect()),
    }
}

/// Gates per multi-pattern automaton (one pass over the text per group;
/// bigger groups multiply states: on the fixtures 8 → 262 M instructions,
/// 16 → 250 M, 32 → 407 M as caches thrash).
const GROUP: usize = 16;

/// A few rules' gates in one automaton, derived and built on first use
/// (deriving ~500 gates at load cost 0.2 s).
#[derive(Debug)]
struct Group {
    /// `(rule index, pattern through escape_high_bytes, Perl flags)`.
    rules: Vec<(u32, String, String)>,
    dfa: OnceLock<Built>,
}

/// A group's automaton: pattern `i` is the gate of `members[i]` (with the
/// bytes a match needs one of); `always` are rules without a gate.
#[derive(Debug)]
struct Built {
    m: Option<Matcher>,
    members: Vec<(u32, Option<ByteSet>)>,
    always: Vec<u32>,
}

/// The gates of all rules of one text kind.
#[derive(Debug, Default)]
pub struct Gates {
    groups: Vec<Group>,
    /// Rule index -> its own one-pattern gate, to skip the segments it
    /// cannot match in once the group said it matches somewhere.
    single: std::collections::HashMap<u32, Single>,
}

/// One rule's gate on its own, built on first use.
#[derive(Debug)]
struct Single {
    pattern: String,
    flags: String,
    dfa: OnceLock<Option<Matcher>>,
}

/// A lazy DFA reporting which gates match, that gives up (instead of
/// thrashing its cache) when states are built too often: the rules then
/// simply run.
fn build_dfa(hirs: &[Hir]) -> Option<DFA> {
    build_many(
        hirs,
        DFA::config()
            .match_kind(regex_automata::MatchKind::All)
            .cache_capacity(CACHE * hirs.len())
            .minimum_cache_clear_count(Some(1))
            .minimum_bytes_per_state(Some(10)),
    )
}

/// One multi-pattern lazy DFA over `hirs` (bytes, no captures) with the
/// automaton settings `config`: the gates here and the header groups of
/// `headerset.rs`.
pub fn build_many(hirs: &[Hir], config: regex_automata::hybrid::dfa::Config) -> Option<DFA> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(16 << 20)),
        )
        .build_many_from_hir(hirs)
        .map_err(|e| tracing::warn!(error = %e, "rule gate failed to build"))
        .ok()?;
    DFA::builder()
        .configure(config)
        .build_from_nfa(nfa)
        .map_err(|e| tracing::warn!(error = %e, "rule gate failed to build"))
        .ok()
}

/// One rule's gate as an automaton of its own: a superset of the rule on
/// any one text (`None` when no gate can be derived or built), and whether
/// every match of it (so of the rule) starts at the start of a line.
pub fn superset_matcher(pattern: &str, flags: &str) -> Option<(Matcher, bool)> {
    let h = gate_pattern(pattern, flags, parse_ast(pattern, flags).as_ref())?;
    let line_start = h.properties().look_set_prefix().contains(Look::StartLF);
    let m = build_dfa(std::slice::from_ref(&h)).map(Matcher::from_dfa)?;
    Some((m, line_start))
}

impl Group {
    fn compile(&self) -> Built {
        let mut hirs = Vec::new();
        let mut members = Vec::new();
        let mut always = Vec::new();
        for (rule, p, f) in &self.rules {
            match gate_pattern(p, f, parse_ast(p, f).as_ref()) {
                Some(h) => {
                    members.push((*rule, required(&h)));
                    hirs.push(h);
                }
                None => always.push(*rule),
            }
        }
        let m = (!hirs.is_empty())
            .then(|| build_dfa(&hirs))
            .flatten()
            .map(Matcher::from_dfa);
        if m.is_none() {
            always.extend(members.drain(..).map(|x| x.0));
        }
        Built { m, members, always }
    }
}

impl Gates {
    /// The gates of `(rule index, pattern, flags)` triples (a rule whose
    /// gate cannot be derived always runs).
    pub fn build(items: Vec<(u32, String, String)>) -> Gates {
        let single = items
            .iter()
            .map(|(rule, pattern, flags)| {
                let s = Single {
                    pattern: pattern.clone(),
                    flags: flags.clone(),
                    dfa: OnceLock::new(),
                };
                (*rule, s)
            })
            .collect();
        let groups = super::lazydfa::in_groups_by_alphabet(items, GROUP)
            .into_iter()
            .map(|rules| Group {
                rules,
                dfa: OnceLock::new(),
            })
            .collect();
        Gates { groups, single }
    }

    /// The rule's gate alone, for one segment at a time: a segment it does
    /// not match in cannot hold a match of the rule (the gate is a superset
    /// there too: its widened anchors hold at the segment's edges). PCRE2
    /// then runs only where the gate matched. `None`: no gate, or it
    /// cannot be built (the rule runs on every segment).
    pub fn segment_filter(&self, rule: u32) -> Option<&Matcher> {
        let s = self.single.get(&rule)?;
        s.dfa
            .get_or_init(|| superset_matcher(&s.pattern, &s.flags).map(|(m, _)| m))
            .as_ref()
    }

    /// Build every group's automaton now (start-up warm-up).
    pub fn force(&self) {
        for g in &self.groups {
            g.dfa.get_or_init(|| g.compile());
        }
    }

    /// Set `out[rule]` for every gated rule that may match in `text`
    /// (whose bytes are `present`).
    pub fn mark(&self, text: &[u8], present: &ByteSet, out: &mut [bool]) {
        let open = |req: &Option<ByteSet>| req.is_none_or(|r| r.meets(present));
        let mut run = Vec::new();
        for g in &self.groups {
            let b = g.dfa.get_or_init(|| g.compile());
            for &r in &b.always {
                out[r as usize] = true;
            }
            if let Some(m) = &b.m
                && b.members.iter().any(|(_, req)| open(req))
            {
                run.push((b, m));
            }
        }
        let ms: Vec<&Matcher> = run.iter().map(|x| x.1).collect();
        let sets = Matcher::which_many(&ms, text);
        for ((b, _), set) in run.iter().zip(&sets) {
            for (i, (rule, req)) in b.members.iter().enumerate() {
                if open(req) && set.as_ref().is_none_or(|s| s.contains(PatternID::must(i))) {
                    out[*rule as usize] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(p: &str, f: &str) -> Option<String> {
        gate_pattern(p, f, parse_ast(p, f).as_ref()).map(|h| h.to_string())
    }

    #[test]
    fn anchors_widen_and_lookaround_drops() {
        let g = gate(r"^foo$", "").unwrap();
        let set = regex::bytes::RegexBuilder::new(&g)
            .unicode(false)
            .build()
            .unwrap();
        assert!(set.is_match(b"x\nfoo\ny"), "{g}");
        let g = gate(r"\Abar(?!x)", "i").unwrap();
        let set = regex::bytes::RegexBuilder::new(&g)
            .unicode(false)
            .build()
            .unwrap();
        assert!(set.is_match(b"a\nBARx\n"), "{g}");
        assert!(!set.is_match(b"a\nBAZ\n"), "{g}");
        // A backreference's gate repeats the group's pattern.
        let g = gate(r"(a+)-\1", "").unwrap();
        let set = regex::bytes::RegexBuilder::new(&g)
            .unicode(false)
            .build()
            .unwrap();
        assert!(set.is_match(b"aa-aa") && !set.is_match(b"aa-b"), "{g}");
        assert!(
            gate(r"(?i)(a)\1", "").is_none(),
            "backreference under inline flags"
        );
        assert!(gate(r"(a)(?:[^\n]{1,100}\n)*\1", "").is_none(), "explosive");
        assert!(gate(r"(a)[^\n]{1,20}\n*\1", "").is_some(), "short count");
    }

    #[test]
    fn marks_only_matching_gates() {
        let items: Vec<(u32, String, String)> = (0..30u32)
            .map(|i| (i, format!(r"^w{i}x\b"), "m".to_string()))
            .collect();
        let g = Gates::build(items);
        let mut out = vec![false; 30];
        let text = b"w3x a\nw27x b\nw5xx";
        g.mark(text, &ByteSet::of(text), &mut out);
        let hit: Vec<usize> = (0..30).filter(|&i| out[i]).collect();
        assert_eq!(hit, vec![3, 27]);
    }

    #[test]
    fn segment_filter_is_the_rules_gate_alone() {
        // Look-around dropped, `^` widened: a superset on each segment.
        let g = Gates::build(vec![(4, r"^foo(?!bar)\d".to_string(), String::new())]);
        let f = g.segment_filter(4).expect("a gate");
        assert_eq!(f.is_match(b"foo1 x"), Some(true));
        assert_eq!(f.is_match(b"foobar1"), Some(false));
        assert_eq!(f.is_match(b"x foo1"), Some(false));
        assert!(g.segment_filter(5).is_none(), "not a gated rule");
    }
}
