//! Yes/no match tests with a forward lazy DFA and a pool of its caches:
//! for the rule regexes the `regex` crate runs, and for the gates
//! (`gate.rs`). For the rules, only this: `meta::Regex` also builds a reverse NFA, one-pass and
//! backtracking engines, and keeps caches for all of them per thread; a
//! yes/no test needs none of that. Measured on the server at 16 sessions
//! with the full rule set: idle RSS 73–87 → 56–68 MB, peak 120–131 →
//! 100–117 MB.

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::syntax;
use regex_automata::{Input, PatternSet};

mod lockstep;

/// A forward lazy DFA with its caches (one per concurrent search).
#[derive(Debug)]
pub struct Matcher {
    dfa: DFA,
    /// Boxed: a `Cache` is large, and moves in and out of the pool on
    /// every search (measured: 1% of all rule instructions).
    #[allow(clippy::vec_box)]
    caches: Mutex<Vec<Box<Cache>>>,
}

/// The syntax of a rule regex with Perl flags, on bytes, ASCII classes.
pub fn syntax_for(flags: &str) -> syntax::Config {
    syntax::Config::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .ignore_whitespace(flags.contains('x'))
}

/// The lazy-DFA settings of a rule regex: a large cache, and giving up
/// rather than thrashing it (the caller then falls back).
pub fn rule_dfa_config() -> regex_automata::hybrid::dfa::Config {
    DFA::config()
        .cache_capacity(8 << 20)
        .minimum_cache_clear_count(Some(8))
        .minimum_bytes_per_state(Some(10))
}

impl Clone for Matcher {
    fn clone(&self) -> Matcher {
        Matcher {
            dfa: self.dfa.clone(),
            caches: Mutex::new(Vec::new()),
        }
    }
}

impl Matcher {
    /// A matcher for an automaton built elsewhere (the gates' own config).
    pub fn from_dfa(dfa: DFA) -> Matcher {
        Matcher {
            dfa,
            caches: Mutex::new(Vec::new()),
        }
    }

    /// A rule regex with Perl flags. When every match starts with one of
    /// a few literals the automaton skips to them with a literal search
    /// (memchr, memmem, Teddy) instead of stepping every byte: the
    /// `Prefilter` the `regex` crate itself would use, and only when it
    /// deems it fast. It serves unanchored searches; anchored tries ignore it.
    pub fn new(pattern: &str, flags: &str) -> Option<Matcher> {
        let hir = syntax::parse_with(pattern, &syntax_for(flags)).ok()?;
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_from_hir(&hir)
            .ok()?;
        let pre = Prefilter::from_hir_prefix(regex_automata::MatchKind::LeftmostFirst, &hir)
            .filter(|p| p.is_fast());
        let dfa = DFA::builder()
            .configure(rule_dfa_config().prefilter(pre))
            .build_from_nfa(nfa)
            .ok()?;
        Some(Matcher::from_dfa(dfa))
    }

    /// Is there a match anywhere in `subject`? `None` when the automaton
    /// gave up (its cache kept filling up).
    pub fn is_match(&self, subject: &[u8]) -> Option<bool> {
        self.with_cache(|dfa, cache| {
            dfa.try_search_fwd(cache, &Input::new(subject).earliest(true))
                .ok()
                .map(|m| m.is_some())
        })
    }

    /// Is there a match starting exactly at `at`? (Look-behind assertions
    /// still see the bytes before it.) `None` when the automaton gave up.
    pub fn is_match_at(&self, subject: &[u8], at: usize) -> Option<bool> {
        self.anchored().is_match_at(subject, at)
    }

    /// The end of the (leftmost-first) match starting exactly at `at`, if
    /// any. `None` when the automaton gave up.
    pub fn match_end_at(&self, subject: &[u8], at: usize) -> Option<Option<usize>> {
        self.anchored().match_end_at(subject, at)
    }

    /// One cache checked out for a run of anchored tries: a rule is tried
    /// at each of its literal hits (13,968 tries on one 63 KB fixture), and
    /// each single try takes the pool's lock twice.
    pub fn anchored(&self) -> AnchoredTries<'_> {
        AnchoredTries {
            m: self,
            cache: Some(self.checkout()),
        }
    }

    /// How many non-overlapping (leftmost-first) matches `subject` holds,
    /// up to `max`, as `find_iter(..).count()` gives but with forward
    /// searches only: a count needs match ends, not starts, so the reverse
    /// search that finds each start is skipped. An empty match at the end
    /// of the previous one is skipped as `find_iter` does. `None` when the
    /// automaton gave up.
    pub fn count(&self, subject: &[u8], max: usize) -> Option<usize> {
        self.with_cache(|dfa, cache| {
            let (mut n, mut at, mut last) = (0, 0, None);
            while n < max && at <= subject.len() {
                let input = Input::new(subject).range(at..);
                let Some(end) = dfa.try_search_fwd(cache, &input).ok()?.map(|m| m.offset()) else {
                    break;
                };
                if last == Some(end) {
                    at += 1;
                    continue;
                }
                n += 1;
                (at, last) = (end, Some(end));
            }
            Some(n)
        })
    }

    /// For each automaton of `ms` (built with `MatchKind::All`), the
    /// patterns matching somewhere in `subject`, or `None` when it gave up.
    /// See [`Matcher::which_many_into`].
    pub fn which_many(ms: &[&Matcher], subject: &[u8]) -> Vec<Option<PatternSet>> {
        let mut sets = Matcher::new_sets(ms);
        Matcher::which_many_into(ms, subject, &mut sets);
        sets
    }

    /// An empty pattern set for each automaton of `ms`.
    pub fn new_sets(ms: &[&Matcher]) -> Vec<Option<PatternSet>> {
        ms.iter()
            .map(|m| Some(PatternSet::new(m.pattern_len())))
            .collect()
    }

    /// Add to `sets[i]` (sized for `ms[i]`) the patterns of automaton `i`
    /// matching somewhere in `subject`; it becomes `None` if the automaton
    /// gave up, and a `None` set is left alone.
    ///
    /// A loop of our own (`lockstep.rs`) rather than the library's
    /// `try_which_overlapping_matches`: that one returns to its caller at
    /// every match position and re-enters, and checks more per byte than a
    /// yes/no-per-pattern answer needs (fixtures: 31.7 → 24.4 M
    /// instructions in these searches). Ours only steps the automata,
    /// collects the patterns of the match states they pass (matches show
    /// one byte late, and at the end-of-input step), and stops one once
    /// every pattern has matched. The automata step together, four at a
    /// time, byte by byte: each step loads from a transition table, the
    /// gate groups' tables run to megabytes, so one automaton mostly waits
    /// on cache misses, and several in step overlap their loads.
    pub fn which_many_into(ms: &[&Matcher], subject: &[u8], sets: &mut [Option<PatternSet>]) {
        for (m, s) in ms
            .chunks(lockstep::LANES)
            .zip(sets.chunks_mut(lockstep::LANES))
        {
            lockstep::lockstep(m, subject, s);
        }
    }

    fn with_cache<T>(&self, f: impl FnOnce(&DFA, &mut Cache) -> T) -> T {
        let mut cache = self.checkout();
        let r = f(&self.dfa, &mut cache);
        self.give_back(cache);
        r
    }

    fn checkout(&self) -> Box<Cache> {
        self.caches
            .lock()
            .ok()
            .and_then(|mut c| c.pop())
            .unwrap_or_else(|| Box::new(self.dfa.create_cache()))
    }

    fn give_back(&self, cache: Box<Cache>) {
        if let Ok(mut c) = self.caches.lock() {
            c.push(cache);
        }
    }

    /// How many patterns the automaton has.
    pub fn pattern_len(&self) -> usize {
        self.dfa.pattern_len()
    }
}

/// Anchored searches of one [`Matcher`] under one cache, returned to the
/// pool on drop (see [`Matcher::anchored`]).
pub struct AnchoredTries<'m> {
    m: &'m Matcher,
    cache: Option<Box<Cache>>,
}

impl AnchoredTries<'_> {
    /// As [`Matcher::is_match_at`].
    pub fn is_match_at(&mut self, subject: &[u8], at: usize) -> Option<bool> {
        self.end_at(subject, at, true).map(|e| e.is_some())
    }

    /// As [`Matcher::match_end_at`].
    pub fn match_end_at(&mut self, subject: &[u8], at: usize) -> Option<Option<usize>> {
        self.end_at(subject, at, false)
    }

    /// The end of a match starting at `at` (with `earliest`, the first
    /// end seen: enough for yes/no); `None` when the automaton gave up.
    fn end_at(&mut self, subject: &[u8], at: usize, earliest: bool) -> Option<Option<usize>> {
        let input = Input::new(subject)
            .range(at..)
            .anchored(regex_automata::Anchored::Yes)
            .earliest(earliest);
        let cache = self.cache.as_mut()?;
        self.m
            .dfa
            .try_search_fwd(cache, &input)
            .ok()
            .map(|m| m.map(|h| h.offset()))
    }
}

impl Drop for AnchoredTries<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.cache.take() {
            self.m.give_back(c);
        }
    }
}

/// Add the patterns of match state `sid` to `set`.
fn collect(
    dfa: &DFA,
    cache: &Cache,
    sid: regex_automata::hybrid::LazyStateID,
    set: &mut PatternSet,
) {
    for i in 0..dfa.match_len(cache, sid) {
        let _ = set.try_insert(dfa.match_pattern(cache, sid, i));
    }
}

/// Rules `(index, pattern, flags)` in groups of up to `n` for the gates'
/// and exact sets' multi-pattern automata, the patterns that name bytes
/// above 0x7f kept apart from those that do not (each side in rule order).
///
/// A lazy DFA's state has a row of transitions with one entry per byte
/// class, the classes being every distinct way its patterns split the
/// byte values. The look-alike classes of the obfuscation rules
/// (`[e3\xE8-\xEB]`, UTF-8 sequences) give a group of them 220 and more
/// classes, a kilobyte a state; ASCII rules grouped with them paid for
/// that too. Kept apart, the ASCII groups have 60–90 classes, and the
/// body and rawbody groups' tables after the fixtures shrank from 17.0 to
/// 11.1 MB. The stepping waits on those tables (it is memory-bound):
/// 3–12% less CPU a message, mean ~8% (two rule sets loaded side by side,
/// passes alternating between them; BENCHMARKS.md session 11).
/// Sorting by the number of such bytes instead gained about half of that;
/// putting the long counted repetitions together or alone lost.
pub fn in_groups_by_alphabet(
    items: Vec<(u32, String, String)>,
    n: usize,
) -> Vec<Vec<(u32, String, String)>> {
    let (high, ascii): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|(_, p, _)| names_high_bytes(p));
    in_groups(ascii, n).chain(in_groups(high, n)).collect()
}

/// Does a pattern name some byte above 0x7f: a raw one, or an `\xHH` /
/// `\x{HH}` escape of one? (A heuristic for grouping only: `\\xE9`, a
/// backslash and "xE9", counts too.)
fn names_high_bytes(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    let hex_high = |c: Option<&u8>| c.is_some_and(|c| b"89abcdefABCDEF".contains(c));
    (0..b.len()).any(|i| {
        b[i] >= 0x80
            || (b[i] == b'\\'
                && b.get(i + 1) == Some(&b'x')
                && (hex_high(b.get(i + 2))
                    || (b.get(i + 2) == Some(&b'{')
                        && hex_high(b.get(i + 3))
                        && b.get(i + 5) == Some(&b'}'))))
    })
}

/// `items` in consecutive groups of `n` (the last may be smaller): the
/// header groups of `headerset.rs`, and each side of
/// [`in_groups_by_alphabet`].
pub fn in_groups<T>(items: Vec<T>, n: usize) -> impl Iterator<Item = Vec<T>> {
    let mut it = items.into_iter().peekable();
    std::iter::from_fn(move || it.peek().is_some().then(|| it.by_ref().take(n).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our matcher for a rule regex, and the library's full engine for it.
    fn with_library(p: &str, f: &str) -> (Matcher, regex_automata::meta::Regex) {
        let re = regex_automata::meta::Regex::builder()
            .syntax(syntax_for(f))
            .build(p)
            .unwrap();
        (Matcher::new(p, f).unwrap(), re)
    }

    /// A grouped automaton over `pats` (as the gates build theirs), as our
    /// matcher and as the bare DFA for the library's own search.
    fn grouped(pats: &[&str]) -> (Matcher, DFA) {
        let dfa = DFA::builder()
            .configure(rule_dfa_config().match_kind(regex_automata::MatchKind::All))
            .syntax(syntax_for(""))
            .thompson(thompson::Config::new().utf8(false))
            .build_many(pats)
            .unwrap();
        (Matcher::from_dfa(dfa.clone()), dfa)
    }

    /// [`Matcher::which_many`] for `m` alone on `hay`, asserted equal to
    /// the library's `try_which_overlapping_matches`.
    fn which_as_library(m: &Matcher, dfa: &DFA, hay: &[u8]) -> PatternSet {
        let ours = Matcher::which_many(&[m], hay).remove(0).unwrap();
        let mut lib = PatternSet::new(dfa.pattern_len());
        dfa.try_which_overlapping_matches(&mut dfa.create_cache(), &Input::new(hay), &mut lib)
            .unwrap();
        assert_eq!(ours, lib, "{:?}", String::from_utf8_lossy(hay));
        ours
    }

    #[test]
    fn groups_keep_high_byte_patterns_apart() {
        let pats = [
            r"\bfoo",
            r"caf\xE9",
            r"[\x80-\xff]{4}",
            "na\u{ef}ve",
            r"\d+\s",
            r"\x41b",
            r"x\x{e9}",
            r"plain",
        ];
        let items: Vec<(u32, String, String)> = pats
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, p.to_string(), String::new()))
            .collect();
        let groups: Vec<Vec<u32>> = in_groups_by_alphabet(items, 2)
            .into_iter()
            .map(|g| g.into_iter().map(|x| x.0).collect())
            .collect();
        assert_eq!(groups, vec![vec![0, 4], vec![5, 7], vec![1, 2], vec![3, 6]]);
    }

    #[test]
    fn agrees_with_the_regex_crate() {
        for (p, f, hay) in [
            (r"\bfoo\b", "i", &b"a FOO b"[..]),
            (r"\bfoo\b", "", b"afoob"),
            (r"^bar$", "m", b"x\nbar\ny"),
            (r"^bar$", "", b"x\nbar\ny"),
            (r"a.c", "s", b"a\nc"),
            (r"a.c", "", b"a\nc"),
            (r"\xff+z", "", b"\xff\xffz"),
            (r"x # comment", "x", b"x"),
        ] {
            let (m, re) = with_library(p, f);
            assert_eq!(
                m.is_match(hay),
                Some(re.is_match(hay)),
                "{p} /{f} on {hay:?}"
            );
        }
    }

    #[test]
    fn count_agrees_with_find_iter() {
        for (p, f, hay) in [
            (r"\bfoo\b", "i", &b"a FOO b foo foobar foo"[..]),
            (r"a+", "", b"aa a aaa b a"),
            (r"\b", "", b"ab cd"),
            (r"x*", "", b"axxb"),
            (r"^l", "m", b"l1\nl2\nx\nl3"),
            (r"\d{2}", "", b"12345"),
            (r"zz", "", b"none here"),
        ] {
            let (m, re) = with_library(p, f);
            for max in [1, 2, 1000] {
                let want = re.find_iter(hay).take(max).count();
                assert_eq!(
                    m.count(hay, max),
                    Some(want),
                    "{p} /{f} on {hay:?} max {max}"
                );
            }
        }
    }

    /// A run of anchored tries under one cache answers as single tries
    /// do (match ends included), and gives its cache back to the pool.
    #[test]
    fn anchored_tries_share_one_cache() {
        let (m, re) = with_library(r"(?i)\bfree\s+\w+", "");
        let hay = b"Free money, not free, free  gift.";
        let mut tries = m.anchored();
        let mut hits = 0;
        for at in 0..=hay.len() {
            let want = re
                .search(
                    &Input::new(hay)
                        .range(at..)
                        .anchored(regex_automata::Anchored::Yes),
                )
                .map(|h| h.end());
            assert_eq!(tries.is_match_at(hay, at), Some(want.is_some()), "at {at}");
            assert_eq!(tries.match_end_at(hay, at), Some(want), "at {at}");
            hits += usize::from(want.is_some());
        }
        assert_eq!(hits, 2);
        drop(tries);
        assert_eq!(m.caches.lock().unwrap().len(), 1);
        assert_eq!(m.is_match_at(hay, 22), Some(true));
        assert_eq!(m.caches.lock().unwrap().len(), 1);
    }

    #[test]
    fn which_finds_every_matching_pattern_like_the_library_search() {
        let (m, dfa) = grouped(&[r"foo$", r"\bba[rz]\b", r"\d{3}", r"^x", r"zz", r"o\z"]);
        let hays: [&[u8]; 6] = [b"x bar 12 foo", b"baz123 zz", b"", b"foo\n", b"xoo", b"zzz"];
        let mut seen = 0;
        for hay in hays {
            seen += which_as_library(&m, &dfa, hay).len();
        }
        // Matches at the end of input (foo$, o\z) and mid-text both occur.
        assert!(seen >= 8, "{seen} matches over the haystacks");
    }

    /// Automata stepped together (more than one round of lanes, some
    /// done early, some matching at the end of input) answer as each
    /// does alone in the library's search.
    #[test]
    fn which_many_agrees_with_the_library_for_each() {
        let groups: [&[&str]; 6] = [
            &[r"bar", r"\d{3}"],
            &[r"q$", r"zz+y"],
            &[r"^x", r"o\z", r"\bba[rz]\b"],
            &[r"a"],
            &[r"never\x00"],
            &[r"(?i)FOO", r"\s\s"],
        ];
        let built: Vec<(Matcher, DFA)> = groups.iter().map(|g| grouped(g)).collect();
        let refs: Vec<&Matcher> = built.iter().map(|(m, _)| m).collect();
        let mut matched = 0;
        for hay in [
            &b"x bar 123 foo"[..],
            b"zzzy q",
            b"",
            b"foo  o",
            b"xo",
            b"aaaa bazq",
        ] {
            let sets = Matcher::which_many(&refs, hay);
            for ((m, dfa), got) in built.iter().zip(&sets) {
                let want = which_as_library(m, dfa, hay);
                assert_eq!(
                    got.as_ref(),
                    Some(&want),
                    "{:?}",
                    String::from_utf8_lossy(hay)
                );
                matched += want.len();
            }
        }
        assert!(matched >= 10, "{matched} matches");
    }

    #[test]
    fn which_agrees_at_every_offset_of_the_fast_path() {
        // The fast path leaves at the first byte whose next state is
        // tagged: a match (or a new, not yet computed state) may fall on
        // any offset.
        let pats = [r"bar", r"\d{3}", r"q$", r"zz+y"];
        let (m, dfa) = grouped(&pats);
        let mut kinds = std::collections::BTreeSet::new();
        // Each haystack twice: the second time every state is known and
        // the whole text goes through the four-byte rounds.
        for pad in 0..9 {
            for tail in ["bar", "123", "zzzy", "q", "ba", "zzq"] {
                for post in 0..5 {
                    let hay = format!("{}{tail}{}", "-".repeat(pad), "-".repeat(post));
                    for _ in 0..2 {
                        let ours = which_as_library(&m, &dfa, hay.as_bytes());
                        kinds.extend(ours.iter().map(|p| p.as_usize()));
                    }
                }
            }
        }
        assert_eq!(kinds.len(), pats.len(), "every pattern matched somewhere");
    }
}
