//! Header rules that read the same header value, answered a group at a
//! time: one multi-pattern lazy-DFA pass over the value tells which of up
//! to 16 rules match, instead of one search per rule. Header values are
//! short, so a search is mostly set-up (cache, start state); hundreds of
//! rules read the same few values (`ALL`, `From`, `Subject`, ...).
//!
//! A rule the `regex` crate runs gets its exact answer from the group. A
//! PCRE2 rule gets a superset gate (its pattern with look-around dropped
//! and anchors widened, as `gate.rs` derives for body rules): no gate
//! match proves no match; a gate match lets PCRE2 run as before, so Perl
//! semantics are unchanged. The automaton is built on first use and gives
//! up rather than thrash its cache; the rules then run on their own.

use std::cell::Cell;
use std::sync::OnceLock;

use regex_automata::PatternID;
use regex_syntax::hir::Hir;

use super::exactset::Answer;
use super::lazydfa::Matcher;
use super::regex::{parse_ast, translate};

/// Rules per automaton (as in `exactset.rs` and `gate.rs`: bigger groups
/// multiply the states).
const GROUP: usize = 16;

/// A header rule offered for grouping.
#[derive(Debug)]
pub struct Item {
    pub rule: u32,
    /// Index into `Compiled::header_keys`.
    pub key: u32,
    /// Pattern through `escape_high_bytes`, and its Perl flags.
    pub pattern: String,
    pub flags: String,
    /// The `regex` crate runs it (exact answer); otherwise PCRE2 (gate).
    pub exact: bool,
}

/// One group: its items, and its automaton built on first use.
#[derive(Debug)]
struct Group {
    items: Vec<Item>,
    dfa: OnceLock<Option<Built>>,
    /// The groups of the same header key (`first..end`), searched together.
    span: (u32, u32),
}

#[derive(Debug)]
struct Built {
    m: Matcher,
    /// Item index -> pattern index in `m` (`None`: no pattern derived).
    pattern_of: Vec<Option<usize>>,
}

/// All header groups of a rule set.
#[derive(Debug, Default)]
pub struct HeaderSets {
    groups: Vec<Group>,
}

/// Per-message state of each group: not searched yet, or the searched
/// bit set (bit `i`: pattern `i` matched), or gave up.
pub type State = Vec<Cell<u32>>;

const DONE: u32 = 1 << 31;
const GAVE_UP: u32 = 1 << 30;

impl HeaderSets {
    /// Group `items` by header key (in order); keys with one rule are left
    /// alone (nothing to share). Returns the sets and each grouped rule's
    /// `(rule, group, member)`.
    pub fn build(mut items: Vec<Item>) -> (HeaderSets, Vec<(u32, u32, u8)>) {
        items.sort_by_key(|i| (i.key, i.rule));
        let mut groups = Vec::new();
        let mut members = Vec::new();
        let mut it = items.into_iter().peekable();
        while let Some(first) = it.next() {
            let key = first.key;
            let mut same = vec![first];
            while let Some(next) = it.next_if(|i| i.key == key) {
                same.push(next);
            }
            if same.len() < 2 {
                continue;
            }
            let first = groups.len() as u32;
            let end = first + same.len().div_ceil(GROUP) as u32;
            for chunk in super::lazydfa::in_groups(same, GROUP) {
                let g = groups.len() as u32;
                for (i, item) in chunk.iter().enumerate() {
                    members.push((item.rule, g, i as u8));
                }
                groups.push(Group {
                    items: chunk,
                    dfa: OnceLock::new(),
                    span: (first, end),
                });
            }
        }
        (HeaderSets { groups }, members)
    }

    /// A fresh per-message state.
    pub fn state(&self) -> State {
        vec![Cell::new(0); self.groups.len()]
    }

    /// Build every group's automaton now (start-up warm-up).
    pub fn force(&self) {
        for g in &self.groups {
            g.dfa.get_or_init(|| g.compile());
        }
    }

    /// Member `member` of group `group` on header value `value`: `Yes`/`No`
    /// when the group knows, `Unknown` when the rule must run itself.
    pub fn answer(&self, group: u32, member: u8, value: &[u8], state: &State) -> Answer {
        let g = &self.groups[group as usize];
        let cell = &state[group as usize];
        let mut s = cell.get();
        if s & DONE == 0 {
            self.search(g.span, value, state);
            s = cell.get();
        }
        let Some(b) = g.dfa.get().and_then(Option::as_ref) else {
            return Answer::Unknown;
        };
        let Some(p) = b.pattern_of[member as usize] else {
            return Answer::Unknown;
        };
        if s & GAVE_UP != 0 {
            return Answer::Unknown;
        }
        let hit = s & (1 << p) != 0;
        match (hit, g.items[member as usize].exact) {
            (false, _) => Answer::No,
            (true, true) => Answer::Yes,
            (true, false) => Answer::Unknown,
        }
    }
}

impl Group {
    fn compile(&self) -> Option<Built> {
        let mut hirs = Vec::new();
        let mut pattern_of = Vec::new();
        for item in &self.items {
            let hir = item_hir(item);
            pattern_of.push(hir.as_ref().map(|_| hirs.len()));
            hirs.extend(hir);
        }
        if hirs.is_empty() {
            return None;
        }
        let dfa = super::gate::build_many(
            &hirs,
            super::lazydfa::rule_dfa_config()
                .match_kind(regex_automata::MatchKind::All)
                .cache_capacity((256 << 10) * hirs.len()),
        )?;
        Some(Built {
            m: Matcher::from_dfa(dfa),
            pattern_of,
        })
    }
}

impl HeaderSets {
    /// Search `value` once with the groups `span` of one header key, in
    /// step (`Matcher::which_many`): each group's state word for
    /// [`HeaderSets::answer`].
    fn search(&self, span: (u32, u32), value: &[u8], state: &State) {
        let mut run = Vec::new();
        for i in span.0..span.1 {
            let g = &self.groups[i as usize];
            match g.dfa.get_or_init(|| g.compile()) {
                Some(b) => run.push((i, b)),
                None => state[i as usize].set(DONE | GAVE_UP),
            }
        }
        let ms: Vec<&Matcher> = run.iter().map(|(_, b)| &b.m).collect();
        let sets = Matcher::which_many(&ms, value);
        for ((i, b), set) in run.iter().zip(&sets) {
            let Some(set) = set else {
                state[*i as usize].set(DONE | GAVE_UP);
                continue;
            };
            let mut s = DONE;
            for p in 0..b.m.pattern_len() {
                if set.contains(PatternID::must(p)) {
                    s |= 1 << p;
                }
            }
            state[*i as usize].set(s);
        }
    }
}

/// The automaton pattern of one item: the rule's own pattern (exact), or
/// its superset gate (PCRE2 rules).
fn item_hir(item: &Item) -> Option<Hir> {
    let ast = parse_ast(&item.pattern, &item.flags);
    if item.exact {
        translate(
            &item.pattern,
            ast.as_ref()?,
            &item.flags,
            item.flags.contains('i'),
        )
    } else {
        super::gate::gate_pattern(&item.pattern, &item.flags, ast.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::regex::{PerlRegex, escape_high_bytes};

    fn item(rule: u32, key: u32, re: &str, flags: &str) -> (Item, PerlRegex) {
        let pattern = escape_high_bytes(re);
        let compiled = PerlRegex::new(re, flags).unwrap();
        (
            Item {
                rule,
                key,
                pattern,
                flags: flags.into(),
                exact: compiled.is_lazy_rust(),
            },
            compiled,
        )
    }

    /// Every answer the groups give agrees with running each rule alone:
    /// `Yes`/`No` exactly, and `No` never for a rule that matches.
    #[test]
    fn answers_agree_with_each_rule() {
        let defs = [
            (r"^Re:", ""),
            (r"\bviagra\b", "i"),
            (r"(?<!foo)bar", ""),
            (r"^\s*$", ""),
            (r"money$", ""),
            (r"(?=.*cash)win", "i"),
            (r"^b.r", "m"),
            (r"a.b", "s"),
            (r"\xe9t\xe9", "i"),
        ];
        let mut items = Vec::new();
        let mut res = Vec::new();
        // Three copies: 27 rules of one key make two groups, searched
        // together.
        for k in 0..3 {
            for (i, (re, f)) in defs.iter().enumerate() {
                let (it, r) = item((k * defs.len() + i) as u32, 0, re, f);
                items.push(it);
                res.push(r);
            }
        }
        // A key with one rule is left alone.
        items.push(item(99, 1, "x", "").0);
        let (sets, members) = HeaderSets::build(items);
        assert_eq!(members.len(), 3 * defs.len());
        assert_eq!(sets.groups.len(), 2);
        assert!(sets.groups.iter().all(|g| g.span == (0, 2)));
        let mut decided = 0;
        for value in [
            &b"Re: Buy VIAGRA now"[..],
            b"foobar",
            b"xbar",
            b"",
            b"  \n",
            b"more money\n",
            b"WIN big cash",
            b"win\nbig",
            b"x\nbar",
            b"a\nb",
            b"\xc9T\xc9",
        ] {
            let state = sets.state();
            for &(rule, g, m) in &members {
                let truth = res[rule as usize].is_match(value);
                match sets.answer(g, m, value, &state) {
                    Answer::Yes => assert!(truth, "rule {rule} on {value:?}"),
                    Answer::No => assert!(!truth, "rule {rule} on {value:?}"),
                    Answer::Unknown => {
                        assert!(
                            !res[rule as usize].is_lazy_rust(),
                            "exact rule {rule} undecided"
                        );
                        continue;
                    }
                }
                decided += 1;
            }
        }
        assert!(decided > 150, "groups decided only {decided} answers");
    }
}
