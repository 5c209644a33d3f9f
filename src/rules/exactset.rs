//! The exact whole-text searches of `exact.rs` for many rules at once: a
//! few rules share one multi-pattern lazy DFA, so a message's text is read
//! once per group instead of once per rule. Groups stay small because a
//! multi-pattern DFA's states multiply with the patterns in flight.

use std::sync::OnceLock;

use regex_automata::MatchKind;

use super::exact::{ExactText, build, exact_hir};
use super::lazydfa::Matcher;
use super::reqbytes::{ByteSet, required};

/// Rules per group (fixtures: 8 → 288 M instructions, 16 → 278 M,
/// 32 → 3.3 G as the caches thrash).
const GROUP: usize = 16;

/// One group: its rules, and (built on first use) its automaton with each
/// member's required bytes.
#[derive(Debug)]
struct Group {
    /// `(rule index, pattern, flags)`.
    rules: Vec<(u32, String, String)>,
    /// The automaton; pattern `i` is the `i`-th rule that could be
    /// rewritten (`members[i]` is its place in `rules`).
    dfa: OnceLock<Option<Built>>,
}

#[derive(Debug)]
struct Built {
    m: Matcher,
    members: Vec<(u32, Option<ByteSet>)>,
}

/// The groups of one text kind.
#[derive(Debug, Default)]
pub struct ExactSets {
    groups: Vec<Group>,
}

/// A rule's exact result for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answer {
    /// Not worked out here (the rule searches on its own).
    #[default]
    Unknown,
    No,
    Yes,
}

/// Every grouped rule's answer for the body and uri texts (`None`: the
/// text does not fit, see `exact.rs`), by rule index.
pub fn answers(sets: &[ExactSets; 2], texts: &[Option<ExactText>; 2], rules: usize) -> Vec<Answer> {
    let mut v = vec![Answer::Unknown; rules];
    for (s, t) in sets.iter().zip(texts) {
        if let Some(t) = t {
            s.mark(t, &mut v);
        }
    }
    v
}

impl ExactSets {
    /// Groups for `(rule index, pattern, flags)` triples, in order.
    pub fn build(items: Vec<(u32, String, String)>) -> ExactSets {
        let groups = super::lazydfa::in_groups_by_alphabet(items, GROUP)
            .into_iter()
            .map(|rules| Group {
                rules,
                dfa: OnceLock::new(),
            })
            .collect();
        ExactSets { groups }
    }

    /// Build every group's automaton now (start-up warm-up; otherwise the
    /// first message pays for it).
    pub fn force(&self) {
        for g in &self.groups {
            g.dfa.get_or_init(|| g.compile());
        }
    }

    /// Set `out[rule]` for every grouped rule, from one search per group.
    pub fn mark(&self, text: &ExactText, out: &mut [Answer]) {
        let mut run = Vec::new();
        for g in &self.groups {
            let Some(b) = g.dfa.get_or_init(|| g.compile()) else {
                continue;
            };
            let mut open = false;
            for (rule, req) in &b.members {
                if req.is_some_and(|r| !r.meets(text.present())) {
                    out[*rule as usize] = Answer::No;
                } else {
                    open = true;
                }
            }
            if open {
                run.push(b);
            }
        }
        let ms: Vec<&Matcher> = run.iter().map(|b| &b.m).collect();
        let sets = text.which_many(&ms);
        for (b, set) in run.iter().zip(&sets) {
            let Some(set) = set else { continue };
            for (i, (rule, req)) in b.members.iter().enumerate() {
                if req.is_none_or(|r| r.meets(text.present())) {
                    out[*rule as usize] = if set.contains(regex_automata::PatternID::must(i)) {
                        Answer::Yes
                    } else {
                        Answer::No
                    };
                }
            }
        }
    }
}

impl Group {
    fn compile(&self) -> Option<Built> {
        let mut hirs = Vec::new();
        let mut members = Vec::new();
        for (rule, p, f) in &self.rules {
            if let Some(h) = exact_hir(p, f) {
                members.push((*rule, required(&h)));
                hirs.push(h);
            }
        }
        if hirs.is_empty() {
            return None;
        }
        Some(Built {
            m: build(&hirs, MatchKind::All)?,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::exact::exact_matcher;

    #[test]
    fn grouped_answers_equal_single_searches() {
        let pats = [
            (r"^foo", ""),
            (r"\bbar\b", "i"),
            (r"a\s$", "m"),
            (r"\s^", "m"),
            (r"\$\d", ""),
            (r"[^a-z ]{3}", ""),
            (r"\n", ""),
            (r"zz+", ""),
            (r"^\s", "m"),
            (r"o\sb", ""),
        ];
        let items: Vec<(u32, String, String)> = pats
            .iter()
            .enumerate()
            .map(|(i, (p, f))| (i as u32, p.to_string(), f.to_string()))
            .collect();
        let sets = ExactSets::build(items);
        let texts: [&[&[u8]]; 4] = [
            &[b"Subj\n", b"foo a\n", b"x BAR"],
            &[b"\n", b"a $5 zz\n", b" o"],
            &[b"o\n", b"bar"],
            &[b"abc", b"\n", b"ABC!!"],
        ];
        let mut yes = 0;
        for segs in texts {
            let segs: Vec<Vec<u8>> = segs.iter().map(|s| s.to_vec()).collect();
            let t = ExactText::build(&segs).unwrap();
            let mut out = vec![Answer::Unknown; pats.len()];
            sets.mark(&t, &mut out);
            for (i, (p, f)) in pats.iter().enumerate() {
                let single = t.is_match(&exact_matcher(p, f).unwrap(), false).unwrap();
                let want = if single { Answer::Yes } else { Answer::No };
                assert_eq!(out[i], want, "/{p}/{f} on {segs:?}");
                yes += usize::from(single);
            }
        }
        assert!(
            yes > 5 && yes < 35,
            "{yes} hits: the texts test both answers"
        );
    }
}
