//! One lazy-DFA pass that answers "does this regex match in some segment?"
//! exactly, for body and uri rules the `regex` crate runs: instead of one
//! search per segment (SA paragraphs, URIs), one over all of them.
//!
//! The segments of a kind normally hold no `\r` (whitespace is collapsed)
//! and a `\n` only as their last byte. Joined with `\r` between them, and
//! with `\r` taken out of every class and literal of the pattern, a match
//! can never span two segments. The assertions are rewritten to mean at a
//! `\r` what they meant at a segment edge, with `\r` as the automaton's
//! line terminator: `\A` and non-`/m` `^` become "start of text or after
//! `\r`" (`StartLF`), `/m` `^` becomes `StartCRLF` (also after the segment's
//! own final `\n`), `/m` `$` becomes `EndCRLF`; `\b` and friends see a
//! non-word byte at the `\r` just as at a segment edge. The one place this
//! breaks is a segment that is only `\n` (`StartCRLF` is false between
//! `\r` and `\n`): such segments are left out and tested on their own.
//! Texts that do not fit (a `\r`, an inner `\n`) fall back to per-segment
//! searches.

use regex_automata::MatchKind;
use regex_automata::PatternSet;
use regex_automata::hybrid::dfa::DFA;
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::look::LookMatcher;
use regex_syntax::hir::{Capture, Class, ClassBytes, ClassBytesRange, Hir, HirKind, Look};
use regex_syntax::hir::{Literal, Repetition};

use super::lazydfa::Matcher;
use super::regex::{parse_ast, translate};
use super::reqbytes::{ByteSet, required};

/// The byte between segments (never in a segment of a fitting text).
const SEP: u8 = b'\r';

/// The segments of one kind joined for exact whole-text searches.
#[derive(Debug, Default)]
pub struct ExactText {
    text: Vec<u8>,
    /// Where the segments after the first start (for `nosubject`), if
    /// any is in `text`.
    rest: Option<usize>,
    /// The first segment is in `text`.
    first: bool,
    /// The first segment is just `\n` (left out of `text`).
    nl_first: bool,
    /// A later segment is just `\n` (left out of `text`).
    nl_rest: bool,
    /// The bytes in the segments.
    present: ByteSet,
}

/// A rule's whole-text automaton and the bytes a match needs one of.
#[derive(Debug, Clone)]
pub struct ExactRe {
    m: Matcher,
    req: Option<ByteSet>,
}

impl ExactText {
    /// The joined text, or `None` when a segment holds a `\r` or a `\n`
    /// before its last byte.
    pub fn build(segs: &[Vec<u8>]) -> Option<ExactText> {
        let mut out = ExactText {
            text: Vec::with_capacity(segs.iter().map(|s| s.len() + 1).sum()),
            ..ExactText::default()
        };
        let mut emitted = false;
        for (i, s) in segs.iter().enumerate() {
            let body = s.strip_suffix(b"\n").unwrap_or(s);
            if memchr::memchr2(b'\n', SEP, body).is_some() {
                return None;
            }
            if s.as_slice() == b"\n" {
                if i == 0 {
                    out.nl_first = true;
                } else {
                    out.nl_rest = true;
                }
                continue;
            }
            if emitted {
                out.text.push(SEP);
            }
            emitted = true;
            if i == 0 {
                out.first = true;
            } else if out.rest.is_none() {
                out.rest = Some(out.text.len());
            }
            out.text.extend_from_slice(s);
        }
        out.present = ByteSet::of(&out.text);
        if out.nl_first || out.nl_rest {
            out.present = out.present.union(ByteSet::of(b"\n"));
        }
        Some(out)
    }

    /// For each multi-pattern automaton of `ms` (built by [`build`] with
    /// `MatchKind::All`), the patterns that match in some segment, or
    /// `None` if it gave up (see [`Matcher::which_many_into`]).
    pub fn which_many(&self, ms: &[&Matcher]) -> Vec<Option<PatternSet>> {
        let mut sets = Matcher::new_sets(ms);
        if self.first || self.rest.is_some() {
            Matcher::which_many_into(ms, &self.text, &mut sets);
        }
        if self.nl_first || self.nl_rest {
            Matcher::which_many_into(ms, b"\n", &mut sets);
        }
        sets
    }

    /// The bytes in the segments.
    pub fn present(&self) -> &ByteSet {
        &self.present
    }

    /// Does `m` (built by [`exact_matcher`]) match in some segment,
    /// leaving out the first if `skip_first`? `None` if the automaton gave up.
    pub fn is_match(&self, re: &ExactRe, skip_first: bool) -> Option<bool> {
        if re.req.is_some_and(|r| !r.meets(&self.present)) {
            return Some(false);
        }
        let m = &re.m;
        let text = match self.rest {
            Some(r) if skip_first => Some(&self.text[r..]),
            _ if skip_first => None,
            Some(_) => Some(&self.text[..]),
            None => self.first.then_some(&self.text[..]),
        };
        if let Some(text) = text
            && m.is_match(text)?
        {
            return Some(true);
        }
        if self.nl_rest || (self.nl_first && !skip_first) {
            return m.is_match(b"\n");
        }
        Some(false)
    }
}

/// The exact automaton of a `regex`-crate rule pattern with Perl flags,
/// `None` when it uses an assertion this cannot carry over.
pub fn exact_matcher(pattern: &str, flags: &str) -> Option<ExactRe> {
    let hir = exact_hir(pattern, flags)?;
    Some(ExactRe {
        m: build(std::slice::from_ref(&hir), MatchKind::LeftmostFirst)?,
        req: required(&hir),
    })
}

/// The pattern rewritten for the joined text (see the module docs).
pub fn exact_hir(pattern: &str, flags: &str) -> Option<Hir> {
    let ast = parse_ast(pattern, flags)?;
    rewrite(translate(pattern, &ast, flags, flags.contains('i'))?)
}

/// A lazy DFA for rewritten patterns, `\r` its line terminator.
pub fn build(hirs: &[Hir], kind: MatchKind) -> Option<Matcher> {
    let mut lm = LookMatcher::new();
    lm.set_line_terminator(SEP);
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .utf8(false)
                .which_captures(WhichCaptures::None)
                .nfa_size_limit(Some(64 << 20))
                .look_matcher(lm),
        )
        .build_many_from_hir(hirs)
        .ok()?;
    let dfa = DFA::builder()
        .configure(super::lazydfa::rule_dfa_config().match_kind(kind))
        .build_from_nfa(nfa)
        .ok()?;
    Some(Matcher::from_dfa(dfa))
}

/// `h` with `\r` removed from what it can consume and its assertions
/// moved to the joined text's meaning (see the module docs).
fn rewrite(h: Hir) -> Option<Hir> {
    let sep = ClassBytes::new([ClassBytesRange::new(SEP, SEP)]);
    Some(match h.into_kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(Literal(b)) if b.contains(&SEP) => Hir::fail(),
        HirKind::Literal(Literal(b)) => Hir::literal(b),
        HirKind::Class(c) => {
            let mut c = match c {
                Class::Bytes(c) => c,
                Class::Unicode(u) => u.to_byte_class()?,
            };
            c.difference(&sep);
            Hir::class(Class::Bytes(c))
        }
        HirKind::Look(l) => Hir::look(match l {
            Look::Start => Look::StartLF,
            Look::StartLF => Look::StartCRLF,
            Look::EndLF => Look::EndCRLF,
            Look::WordAscii
            | Look::WordAsciiNegate
            | Look::WordStartAscii
            | Look::WordEndAscii
            | Look::WordStartHalfAscii
            | Look::WordEndHalfAscii => l,
            // `End` (Perl's `$` differs) never reaches here; the rest
            // would need more than a rename.
            _ => return None,
        }),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(rewrite(*r.sub)?),
            ..r
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(rewrite(*c.sub)?),
            ..c
        }),
        HirKind::Concat(v) => Hir::concat(v.into_iter().map(rewrite).collect::<Option<_>>()?),
        HirKind::Alternation(v) => {
            Hir::alternation(v.into_iter().map(rewrite).collect::<Option<_>>()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Body patterns from the installed SpamAssassin rules (and a few made
    /// up to hit every assertion at segment edges).
    const PATTERNS: &[(&str, &str)] = &[
        (r"^foo", ""),
        (r"\Afoo\b", "i"),
        (r"^ba+r$", "m"),
        (r"a$", "m"),
        (r"^", "m"),
        (r"^\s", "m"),
        (r"\s^", "m"),
        (r"\s$", "m"),
        (r"\s+b", ""),
        (r"a\s", ""),
        (r"\n", ""),
        (r"a\nb", ""),
        (r".{3}\b", "s"),
        (r"\Bb\B", ""),
        (r"[^a]{4}", ""),
        (r"\b(?:foo|bar)\b", "i"),
        (r"(?m)^\W*$", ""),
        (r"\b\w{2}\s\w{2}\b", ""),
        (r"\ba(?:\s+b){2,}", ""),
        (r"^\s*$", ""),
        (r"\b[a-z]+ [0-9]+\b", ""),
        (
            r"\b(?:receive|get|earn)\s(?:up\sto\s)?\$?\d{2,5}(?:\.\d\d)?\b",
            "i",
        ),
        (r"^[A-Z][a-z]+ \d+, [A-Z]", ""),
        (r"\bF(?:ree|REE)\b.{0,20}\b\d+\b", ""),
        (r"(?:^|\.\s+)Click\b", ""),
        (r"\S{3}\s*\z", "m"),
    ];

    fn segs() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let seg = prop_oneof![
            Just(b"\n".to_vec()),
            proptest::collection::vec(
                prop_oneof![
                    Just(b'a'),
                    Just(b'b'),
                    Just(b'A'),
                    Just(b' '),
                    Just(b'1'),
                    Just(b'.'),
                    Just(b'$'),
                    Just(b'F'),
                    Just(b'\xe9'),
                ],
                0..8
            )
            .prop_flat_map(|body| prop_oneof![
                Just(body.clone()),
                Just([body, b"\n".to_vec()].concat())
            ]),
        ];
        proptest::collection::vec(seg, 0..6)
    }

    proptest! {
        #[test]
        fn joined_search_equals_per_segment_searches(segs in segs(), skip in any::<bool>()) {
            let text = ExactText::build(&segs).expect("segments fit");
            let mut tested = 0;
            for (p, f) in PATTERNS {
                let re = super::super::regex::PerlRegex::new(p, f).unwrap();
                if !re.is_lazy_rust() {
                    continue;
                }
                tested += 1;
                let want = segs.iter().skip(usize::from(skip)).any(|s| re.is_match(s));
                let m = exact_matcher(&super::super::regex::escape_high_bytes(p), f).unwrap();
                prop_assert_eq!(text.is_match(&m, skip), Some(want), "/{}/{} on {:?}", p, f, segs);
            }
            prop_assert!(tested >= 20, "only {} patterns run by the regex crate", tested);
        }
    }

    #[test]
    fn texts_that_do_not_fit() {
        assert!(ExactText::build(&[b"a\nb".to_vec()]).is_none());
        assert!(ExactText::build(&[b"a\r".to_vec()]).is_none());
        assert!(ExactText::build(&[b"a\n".to_vec(), b"\n".to_vec(), b"b".to_vec()]).is_some());
    }
}
