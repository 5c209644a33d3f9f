//! Several lazy DFAs stepped over one text together (see
//! [`Matcher::which_many_into`]): the gate groups' transition tables run to
//! megabytes, so one automaton stepping alone mostly waits on cache
//! misses; automata in step overlap their loads.

use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Input, PatternSet};

use super::{Matcher, collect};

/// Automata stepped together by [`Matcher::which_many_into`]. With 4, a whole
/// check took 9–11% less CPU than with one automaton at a time; 8 gained
/// 0.5–4% more, within the noise (same-process A/B, BENCHMARKS.md
/// session 10).
pub(super) const LANES: usize = 4;

/// One automaton in [`lockstep`]: its cache, state, and whether it still
/// runs (not dead, not done, not given up).
struct Lane<'m> {
    m: &'m Matcher,
    cache: Box<Cache>,
    sid: LazyStateID,
    live: bool,
    /// The last match state collected, and the cache's clear count then
    /// (a clear reuses state IDs): passing it again adds no pattern.
    seen: Option<(LazyStateID, usize)>,
}

/// Up to [`LANES`] automata over `subject` in step (see
/// [`Matcher::which_many_into`]): the common step is an untagged transition;
/// anything else (unknown, match, dead or quit state) takes `next_state`
/// and is handled for that automaton alone, as [`Matcher::which_many_into`] describes.
pub(super) fn lockstep(ms: &[&Matcher], subject: &[u8], sets: &mut [Option<PatternSet>]) {
    let mut lanes: Vec<Lane> = Vec::with_capacity(ms.len());
    for (m, set) in ms.iter().zip(sets.iter_mut()) {
        let mut cache = m.checkout();
        let start = m.dfa.start_state_forward(&mut cache, &Input::new(subject));
        if start.is_err() {
            *set = None;
        }
        lanes.push(Lane {
            m,
            sid: start.unwrap_or_default(),
            live: set.is_some(),
            cache,
            seen: None,
        });
    }
    let mut at = 0;
    while at < subject.len() {
        let mut idx = [0; LANES];
        let mut n = 0;
        for (i, _) in lanes.iter().enumerate().filter(|(_, l)| l.live) {
            (idx[n], n) = (i, n + 1);
        }
        let live = &idx[..n];
        if live.is_empty() {
            break;
        }
        if live.iter().all(|&i| !lanes[i].sid.is_tagged()) {
            at = match live.len() {
                1 => untagged_run::<1>(&mut lanes, live, subject, at),
                2 => untagged_run::<2>(&mut lanes, live, subject, at),
                3 => untagged_run::<3>(&mut lanes, live, subject, at),
                _ => untagged_run::<4>(&mut lanes, live, subject, at),
            };
            if at == subject.len() {
                break;
            }
        }
        for &i in live {
            slow_step(&mut lanes[i], &mut sets[i], subject[at]);
        }
        at += 1;
    }
    for (mut l, set) in lanes.into_iter().zip(sets.iter_mut()) {
        if l.live {
            match l.m.dfa.next_eoi_state(&mut l.cache, l.sid) {
                Ok(s) if s.is_match() => {
                    if let Some(set) = set.as_mut() {
                        collect(&l.m.dfa, &l.cache, s, set);
                    }
                }
                Ok(_) => {}
                Err(_) => *set = None,
            }
        }
        l.m.give_back(l.cache);
    }
}

/// The common case of [`lockstep`]: the `N` lanes `live` (all in
/// untagged states) step over `hay[at..]` together as long as every next
/// state is known and untagged. Returns the offset of the byte where one
/// was not (its step is left to [`slow_step`]), or the end.
#[inline(always)]
fn untagged_run<const N: usize>(
    lanes: &mut [Lane],
    live: &[usize],
    hay: &[u8],
    at: usize,
) -> usize {
    let lane = |k: usize| &lanes[live[k]];
    let dfas: [&DFA; N] = std::array::from_fn(|k| &lane(k).m.dfa);
    let caches: [&Cache; N] = std::array::from_fn(|k| &*lane(k).cache);
    let mut sids: [LazyStateID; N] = std::array::from_fn(|k| lane(k).sid);
    let mut end = hay.len();
    for (k, &b) in hay[at..].iter().enumerate() {
        let next: [LazyStateID; N] =
            std::array::from_fn(|l| dfas[l].next_state_untagged(caches[l], sids[l], b));
        if next.iter().fold(false, |t, s| t | s.is_tagged()) {
            end = at + k;
            break;
        }
        sids = next;
    }
    for (k, sid) in sids.into_iter().enumerate() {
        lanes[live[k]].sid = sid;
    }
    end
}

/// One lane's step over `b` in full: a new state is computed, a match
/// collected, a dead, finished or given-up lane stops (`set` becomes
/// `None` when the automaton gave up).
fn slow_step(l: &mut Lane, set: &mut Option<PatternSet>, b: u8) {
    let dfa = &l.m.dfa;
    let next = match dfa.next_state(&mut l.cache, l.sid, b) {
        Ok(s) => s,
        Err(_) => {
            (*set, l.live) = (None, false);
            return;
        }
    };
    if next.is_tagged() {
        l.live = !match set.as_mut() {
            Some(set) if next.is_match() => {
                let now = Some((next, l.cache.clear_count()));
                if l.seen != now {
                    collect(dfa, &l.cache, next, set);
                    l.seen = now;
                }
                set.is_full()
            }
            _ if next.is_quit() => {
                *set = None;
                true
            }
            _ => next.is_dead(),
        };
    }
    l.sid = next;
}
