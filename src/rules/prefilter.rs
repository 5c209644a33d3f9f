//! Literal prefilter, as `sa-compile` and rspamd do: for each body-like
//! rule, a set of literals one of which must start any match (from
//! `regex-syntax`'s prefix extractor). One Aho-Corasick pass per text finds
//! which rules can match on which lines; the others are never run.
//! Patterns regex-syntax cannot parse (look-around, backreferences, ...)
//! get no prefilter and always run.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

use super::regex::{parse_ast, translate};

/// Shortest literal worth filtering on; shorter sets mean "always run".
const MIN_LITERAL: usize = 3;

/// Literals are cut to their first bytes for the automaton: a match still
/// contains the cut literal, so the filter stays a superset, and the trie
/// is far smaller (body: 7,651 literals of 116 KB -> 3,446 of 25 KB; load
/// 264 M -> 155 M instructions; checking +1% for the extra candidates).
const MAX_LITERAL: usize = 8;

/// Literals one of which starts (or else ends) every match of `pattern`
/// (Perl flags `flags`), lower-cased; `None` when no useful set exists.
#[cfg(test)]
pub fn required_prefixes(pattern: &str, flags: &str) -> Option<Vec<Vec<u8>>> {
    required_prefixes_parsed(pattern, flags, parse_ast(pattern, flags).as_ref()).map(|l| l.lits)
}

/// [`required_prefixes`] given the pattern's syntax tree from [`parse_ast`].
#[cfg(test)]
fn required_prefixes_parsed(
    pattern: &str,
    flags: &str,
    ast: Option<&regex_syntax::ast::Ast>,
) -> Option<Literals> {
    let hir = ast.and_then(|a| translate(pattern, a, flags, false));
    required_prefixes_translated(pattern, flags, hir.as_ref())
}

/// A rule's prefilter literals.
#[derive(Debug, Clone)]
pub struct Literals {
    pub lits: Vec<Vec<u8>>,
    /// Every match *starts* with one of them (not only contains one): the
    /// rule can then be tried anchored at each occurrence instead of over
    /// the whole segment (see `Cands`).
    pub prefix: bool,
}

/// A rule's prefilter literals, given its syntax tree (from [`parse_ast`])
/// translated without case folding (`None`: it does not translate). Case
/// is ignored here: the search below is ASCII case-insensitive, and PCRE2
/// without UTF folds ASCII only, so case-sensitive literals suffice.
pub fn required_prefixes_translated(
    pattern: &str,
    flags: &str,
    hir: Option<&Hir>,
) -> Option<Literals> {
    let parse = |p: &str| translate(p, &parse_ast(p, flags)?, flags, false);
    // Look-around only narrows where a pattern matches, so the pattern
    // without it matches a superset; its literals still bound every match.
    let relaxed;
    let hir = match hir {
        Some(h) => h,
        None if !flags.contains('x') => {
            relaxed = relax(pattern)
                .and_then(|r| parse(&r))
                .or_else(|| parse(&relax_perl(pattern)?))?;
            &relaxed
        }
        None => return None,
    };
    // Prefix literals first; if they are too weak, every match must also
    // end with one of the suffix literals, which works just as well here.
    if let Some(lits) = literals_of(hir, ExtractKind::Prefix) {
        return Some(Literals { lits, prefix: true });
    }
    literals_of(hir, ExtractKind::Suffix)
        .or_else(|| inner_literals(hir))
        .map(|lits| Literals {
            lits,
            prefix: false,
        })
}

/// Failing both, any piece of a top-level concatenation with a literal set
/// of its own: every match contains a match of that piece, so one of its
/// literals. The piece whose shortest literal is longest wins.
fn inner_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut h = hir;
    while let HirKind::Capture(c) = h.kind() {
        h = &c.sub;
    }
    let HirKind::Concat(subs) = h.kind() else {
        return None;
    };
    subs.iter()
        .filter_map(|s| literals_of(s, ExtractKind::Prefix))
        .max_by_key(|l| {
            let shortest = l.iter().map(Vec::len).min().unwrap_or(0);
            (shortest, std::cmp::Reverse(l.len()))
        })
}

/// [`relax`] after rewriting Perl-only syntax (`perlsyn.rs`): for the
/// patterns `relax` alone leaves unparsable.
pub fn relax_perl(pattern: &str) -> Option<String> {
    relax(&super::perlsyn::superset_syntax(pattern)?)
}

/// `pattern` with look-around groups removed and atomic groups made
/// plain, for literal extraction only; `None` if the scan gets confused.
pub fn relax(pattern: &str) -> Option<String> {
    let b = pattern.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                out.extend_from_slice(b.get(i..i + 2)?);
                i += 2;
            }
            b'[' => {
                let end = class_end(b, i)?;
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            b'(' if b[i..].starts_with(b"(?>") => {
                out.extend_from_slice(b"(?:");
                i += 3;
            }
            b'(' if [&b"(?="[..], b"(?!", b"(?<=", b"(?<!"]
                .iter()
                .any(|p| b[i..].starts_with(p)) =>
            {
                i = group_end(b, i)?;
                // A quantified look-around cannot simply vanish.
                if matches!(b.get(i), Some(b'*' | b'+' | b'?' | b'{')) {
                    return None;
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Index just past the `]` closing the class that opens at `start`.
pub(super) fn class_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if b.get(i) == Some(&b'^') {
        i += 1;
    }
    if b.get(i) == Some(&b']') {
        i += 1;
    }
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' if b.get(i + 1) == Some(&b':') => {
                let close = b[i + 2..].windows(2).position(|w| w == b":]")?;
                i += close + 4;
            }
            b']' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Index just past the `)` closing the group that opens at `start`.
fn group_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' => i = class_end(b, i)?,
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn literals_of(hir: &Hir, kind: ExtractKind) -> Option<Vec<Vec<u8>>> {
    let mut ex = Extractor::new();
    ex.kind(kind)
        .limit_class(8)
        .limit_repeat(4)
        .limit_literal_len(32)
        .limit_total(128);
    let seq = ex.extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        return None;
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for l in lits {
        let b = l.as_bytes();
        if b.len() < MIN_LITERAL {
            return None;
        }
        let lower = b.to_ascii_lowercase();
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Some(out)
}

/// One automaton over the literals of all rules of one text kind.
///
/// The library picks its kind: for the body's thousands of literals a
/// contiguous NFA, not a DFA. The DFA takes ~3% fewer instructions a check
/// but holds ~6 MB more, and in a stream of different messages its rows
/// are out of the CPU caches: timed, the two are even within this host's
/// noise (BENCHMARKS.md session 13). The NFA keeps the memory, and the
/// warm-up skips the DFA's build (~100 M instructions).
#[derive(Debug, Default)]
pub struct Prefilter {
    ac: Option<AhoCorasick>,
    /// Pattern id → `(rule index, slot)` of the rules that own the literal;
    /// a rule's slot is its place in the list given to [`Prefilter::build`].
    owners: Vec<Vec<(u32, u32)>>,
    slots: usize,
}

/// The literal automaton: ASCII case-insensitive, every match reported
/// (overlapping search).
fn automaton(pats: &[&[u8]]) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(pats)
        .ok()
}

/// Per message: where each prefiltered rule's literals occur, as
/// `(segment, offset of the literal)` in text order, by slot. Dense
/// arrays (a counting sort), not a hash map: tens of thousands of
/// occurrences in a big message.
#[derive(Debug, Default)]
pub struct Cands {
    start: Vec<u32>,
    hits: Vec<(u32, u32)>,
}

impl Cands {
    /// The occurrences of slot `slot`'s literals.
    pub fn of(&self, slot: u32) -> &[(u32, u32)] {
        let s = slot as usize;
        match (self.start.get(s), self.start.get(s + 1)) {
            (Some(&a), Some(&b)) => &self.hits[a as usize..b as usize],
            _ => &[],
        }
    }
}

impl Prefilter {
    /// Build from `(rule index, literals)` pairs.
    pub fn build(rules: &[(u32, Vec<Vec<u8>>)]) -> Prefilter {
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        let mut pats: Vec<&[u8]> = Vec::new();
        let mut owners: Vec<Vec<(u32, u32)>> = Vec::new();
        for (slot, (rule, lits)) in rules.iter().enumerate() {
            for l in lits {
                let l = &l[..l.len().min(MAX_LITERAL)];
                let id = *index.entry(l).or_insert_with(|| {
                    pats.push(l);
                    owners.push(Vec::new());
                    pats.len() - 1
                });
                if owners[id].last().map(|o| o.0) != Some(*rule) {
                    owners[id].push((*rule, slot as u32));
                }
            }
        }
        if pats.is_empty() {
            return Prefilter::default();
        }
        Prefilter {
            ac: automaton(&pats),
            owners,
            slots: rules.len(),
        }
    }

    /// For each rule with literals, where they occur in `segments` (lines,
    /// chunks, URIs).
    pub fn candidates(&self, segments: &[Vec<u8>]) -> Cands {
        let Some(ac) = &self.ac else {
            return Cands::default();
        };
        let mut found: Vec<(u32, u32, u32)> = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            for m in ac.find_overlapping_iter(seg.as_slice()) {
                for &(_, slot) in &self.owners[m.pattern().as_usize()] {
                    found.push((slot, i as u32, m.start() as u32));
                }
            }
        }
        let mut start = vec![0u32; self.slots + 1];
        for f in &found {
            start[f.0 as usize + 1] += 1;
        }
        for k in 1..start.len() {
            start[k] += start[k - 1];
        }
        let mut next = start.clone();
        let mut hits = vec![(0, 0); found.len()];
        for (slot, seg, pos) in found {
            let n = &mut next[slot as usize];
            hits[*n as usize] = (seg, pos);
            *n += 1;
        }
        Cands { start, hits }
    }
}

impl Prefilter {
    /// Mark in `out` the rules owning a literal found in `text`, if `keep`
    /// accepts the rule (header rules: only those reading this header).
    pub fn mark(&self, text: &[u8], out: &mut [bool], keep: impl Fn(u32) -> bool) {
        let Some(ac) = &self.ac else { return };
        for m in ac.find_overlapping_iter(text) {
            for &(r, _) in &self.owners[m.pattern().as_usize()] {
                if keep(r) {
                    out[r as usize] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_every_literal_occurrence_by_slot() {
        let lits = |v: &[&str]| v.iter().map(|l| l.as_bytes().to_vec()).collect::<Vec<_>>();
        let pf = Prefilter::build(&[
            (0, lits(&["you", "your money"])),
            (1, lits(&["money", "cash"])),
            (2, lits(&["click here", "HERE"])),
            (3, lits(&["zzzz"])),
        ]);
        let segs: Vec<Vec<u8>> = [
            "Your MONEY or your cash: click HERE",
            "nothing",
            "you you you",
            "",
            "herehere money",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let c = pf.candidates(&segs);
        // every slot but the last found something; case is ignored
        assert!((0..3).all(|s| !c.of(s).is_empty()) && c.of(3).is_empty());
        assert!(c.of(2).contains(&(4, 4)), "{:?}", c.of(2));
        // overlapping: "you" and "your money" both start at 0 of segment 0,
        // and slot 0 sees "you" three times in segment 2, in text order
        assert_eq!(c.of(0).iter().filter(|h| **h == (0, 0)).count(), 2);
        let seg2: Vec<u32> = c.of(0).iter().filter(|h| h.0 == 2).map(|h| h.1).collect();
        assert_eq!(seg2, [0, 4, 8]);
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            required_prefixes(r"\bfree (money|cash)", "i").unwrap(),
            vec![b"free money".to_vec(), b"free cash".to_vec()]
        );
        // no usable prefix, but every match ends with " dollars"
        assert_eq!(
            required_prefixes(r"\d+ dollars", "").unwrap(),
            vec![b" dollars".to_vec()]
        );
        assert!(required_prefixes(r"\d+ \w+", "").is_none());
        assert_eq!(
            required_prefixes(r"(?:^|\W)\d+ ?(?:wire|bank) transfer\d+", "").unwrap(),
            vec![b" transfer".to_vec()],
            "the longest literal piece inside the pattern"
        );
        assert_eq!(
            required_prefixes(r"(?<![a-z])foo(?=bar)", "").unwrap(),
            vec![b"foo".to_vec()],
            "look-around ignored for literals"
        );
        assert_eq!(
            required_prefixes(r"(?!x[)])cash(?>\d+)\1", ""),
            None,
            "backreference still unparsed"
        );
        assert_eq!(
            relax(r"(?!cialis(?:t|[)(]))C(?>a|b)[(?=]\(?="),
            Some(r"C(?:a|b)[(?=]\(?=".to_string())
        );
        assert!(relax(r"a(?=b)*").is_none(), "quantified look-around");
        assert!(required_prefixes(r"ab", "").is_none(), "too short");
        // Slot = place in the list; hits are (segment, literal offset).
        let pf = Prefilter::build(&[
            (7, vec![b"cash".to_vec()]),
            (9, vec![b"now".to_vec(), b"cash n".to_vec()]),
        ]);
        let c = pf.candidates(&[b"no".to_vec(), b"CASH now, cash".to_vec()]);
        assert_eq!(c.of(0), &[(1, 0), (1, 10)]);
        assert_eq!(c.of(1), &[(1, 0), (1, 5)]);
        assert_eq!(c.of(2), &[] as &[(u32, u32)]);
        assert!(
            required_prefixes_parsed(
                "free (cash|money)",
                "",
                parse_ast("free (cash|money)", "").as_ref()
            )
            .unwrap()
            .prefix
        );
        assert!(
            !required_prefixes_parsed(r"\d+ dollars", "", parse_ast(r"\d+ dollars", "").as_ref())
                .unwrap()
                .prefix,
            "suffix literals do not start a match"
        );
    }
}
