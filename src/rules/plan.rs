//! The order `check` runs rules in, as small records read one after another.
//!
//! Why it exists: on most messages most rules are settled before their
//! regex runs: their gate did not match, none of their literals occurs,
//! their header is absent, or a grouped search already answered for them.
//! Finding that out used to read each rule's `CRule` (several cache lines,
//! spread over ~1 MB), and in a stream of different messages those reads
//! missed the CPU caches: in callgrind's cache simulation (1 MB L2) they
//! were ~29% of all L2 read misses of a check. A [`Step`] holds just what
//! settling needs, 16 bytes a rule, read in order.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use super::Candidates;
use super::compile::{CRule, Compiled, Test};
use super::exactset::Answer;

const LIVE: u8 = 1;
const GATED: u8 = 2;
const PREFILTERED: u8 = 4;
/// Not `multiple`, not prefiltered: a grouped exact search may answer.
const EXACT: u8 = 8;
/// Header rules: `!~`.
const NEG: u8 = 16;
/// A `__` sub-rule: runs only when a meta reads it (see `lazymeta.rs`).
const SUB: u8 = 32;

/// What a rule tests, as far as settling it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Header,
    Body,
    Rawbody,
    Uri,
    Full,
    /// Evals, `exists:`, `mimeheader`: always run.
    Other,
}

/// One enabled non-meta rule, as `check` first looks at it.
#[derive(Debug)]
pub struct Step {
    pub rule: u32,
    /// Header rules: the `Compiled::header_keys` slot. Prefiltered rules:
    /// the prefilter slot.
    slot: u32,
    /// Header rules in a grouped search: `(group, member)`, else `u32::MAX`.
    group: u32,
    member: u8,
    what: What,
    flags: u8,
    /// Header rules: the regex's answer on an absent header, copied from
    /// `CRule::absent` once known (0 = not yet, 1 = no match, 2 = match).
    absent: AtomicU8,
}

const _: () = assert!(std::mem::size_of::<Step>() == 16);

/// The rules of a compiled set in evaluation order.
#[derive(Debug, Default)]
pub struct Plan {
    /// Enabled non-meta rules, in `Compiled::plain` order.
    pub steps: Vec<Step>,
    /// Enabled metas, dependencies first.
    pub metas: Vec<MetaStep>,
    /// Rule index -> its position in `steps` (plain rules) or its
    /// program number (metas); `u32::MAX`: neither.
    pub slot_of: Vec<u32>,
    /// Metas decided by their known operands (see `lazymeta.rs`).
    pub shortcuts: super::lazymeta::Shortcuts,
}

/// One enabled meta rule.
#[derive(Debug)]
pub struct MetaStep {
    /// Its number in `Compiled::meta_program`.
    pub prog: u32,
    pub rule: u32,
    pub live: bool,
    /// A `__` sub-meta: evaluated only when another meta reads it.
    pub sub: bool,
}

impl Plan {
    pub fn build(c: &Compiled) -> Plan {
        let steps: Vec<Step> = c
            .plain
            .iter()
            .filter(|&&i| c.rules[i].enabled)
            .map(|&i| Step::of(i as u32, &c.rules[i]))
            .collect();
        let metas: Vec<MetaStep> = c
            .metas
            .iter()
            .enumerate()
            .filter(|&(_, &i)| c.rules[i].enabled && matches!(c.rules[i].test, Test::Meta(_)))
            .map(|(k, &i)| MetaStep {
                prog: k as u32,
                rule: i as u32,
                live: c.rules[i].live,
                sub: c.rules[i].name.starts_with("__"),
            })
            .collect();
        let mut slot_of = vec![u32::MAX; c.rules.len()];
        for (k, s) in steps.iter().enumerate() {
            slot_of[s.rule as usize] = k as u32;
        }
        for m in &metas {
            slot_of[m.rule as usize] = m.prog;
        }
        let shortcuts = super::lazymeta::Shortcuts::build(c, &slot_of);
        Plan {
            steps,
            metas,
            slot_of,
            shortcuts,
        }
    }
}

impl Step {
    fn of(rule: u32, r: &CRule) -> Step {
        let (what, slot, neg) = match &r.test {
            Test::Header { key, neg, .. } => (What::Header, *key, *neg),
            Test::Body(_) => (What::Body, r.pf_slot, false),
            Test::Rawbody(_) => (What::Rawbody, r.pf_slot, false),
            Test::Uri(_) => (What::Uri, r.pf_slot, false),
            Test::Full(_) => (What::Full, r.pf_slot, false),
            _ => (What::Other, 0, false),
        };
        let flag = |b: bool, f: u8| if b { f } else { 0 };
        let (group, member) = r.hgroup.unwrap_or((u32::MAX, 0));
        Step {
            rule,
            slot,
            group,
            member,
            what,
            flags: flag(r.live, LIVE)
                | flag(r.gated, GATED)
                | flag(r.prefiltered, PREFILTERED)
                | flag(!r.multiple && !r.prefiltered, EXACT)
                | flag(neg, NEG)
                | flag(r.name.starts_with("__"), SUB),
            absent: AtomicU8::new(0),
        }
    }

    pub fn live(&self) -> bool {
        self.flags & LIVE != 0
    }

    /// A `__` sub-rule (never scored itself).
    pub fn sub(&self) -> bool {
        self.flags & SUB != 0
    }

    /// The rule's hit count when this message's per-message answers
    /// already settle it, as `RuleSet::run_rule` would find; `None` when
    /// its test must run.
    pub fn settled(&self, c: &Compiled, cands: &Candidates) -> Option<usize> {
        let i = self.rule as usize;
        if self.flags & GATED != 0 && !cands.gate[i] {
            return Some(0);
        }
        let none = |of: &super::prefilter::Cands| {
            (self.flags & PREFILTERED != 0 && of.of(self.slot).is_empty()).then_some(0)
        };
        let exact = || match cands.exact[i] {
            _ if self.flags & EXACT == 0 => None,
            Answer::Yes => Some(1),
            Answer::No => Some(0),
            Answer::Unknown => None,
        };
        match self.what {
            What::Body => exact().or_else(|| none(&cands.body)),
            What::Rawbody => exact().or_else(|| none(&cands.rawbody)),
            What::Uri => exact().or_else(|| none(&cands.uri)),
            What::Full => none(&cands.full),
            What::Header => {
                let m = match &cands.hvals[self.slot as usize] {
                    Some(_) if self.flags & PREFILTERED != 0 && !cands.header[i] => false,
                    Some(_) if self.group == u32::MAX => return None,
                    Some(v) => match c
                        .header_sets
                        .answer(self.group, self.member, v, &cands.hsets)
                    {
                        Answer::Yes => true,
                        Answer::No => false,
                        Answer::Unknown => return None,
                    },
                    None => match self.absent.load(Relaxed) {
                        0 => return None,
                        a => a == 2,
                    },
                };
                Some(usize::from(m != (self.flags & NEG != 0)))
            }
            What::Other => None,
        }
    }

    /// After the rule ran: keep what it worked out once for all messages
    /// (its absent-header answer), so later messages settle it here.
    pub fn learn(&self, r: &CRule) {
        if self.what == What::Header
            && self.absent.load(Relaxed) == 0
            && let Some(&m) = r.absent.get()
        {
            self.absent.store(1 + u8::from(m), Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Ctx;

    /// Whenever a step settles a rule without running it, the answer is
    /// what running the rule gives: on every fixture, for every enabled
    /// rule (dead sub-rules too), before and after the absent-header
    /// answers are learned.
    #[test]
    fn settled_agrees_with_running_the_rule() {
        let (rs, files) = super::super::test_support::installed_rules_and_fixtures();
        let c = &rs.compiled;
        let (mut settled, mut ran) = ([0usize; 2], 0usize);
        for count in settled.iter_mut() {
            for f in &files {
                let msg = std::fs::read(f).unwrap();
                let ctx = Ctx::with_config(&msg, None, &rs.meta);
                let cands = rs.candidates(&ctx, true);
                for s in &c.plan.steps {
                    let r = &c.rules[s.rule as usize];
                    let quick = s.settled(c, &cands);
                    let n = rs.run_rule(s.rule, r, &ctx, &cands);
                    s.learn(r);
                    ran += 1;
                    if let Some(q) = quick {
                        assert_eq!(q, n, "{} on {}", r.name, f.display());
                        *count += 1;
                    }
                }
            }
        }
        // Most rules are settled here (that is the point), and learning the
        // absent-header answers settles more on the second pass.
        println!("settled {settled:?} of {ran} rule runs");
        assert!(settled[0] * 2 > ran / 2, "settled {settled:?} of {ran}");
        assert!(settled[1] > settled[0], "settled {settled:?}");
    }
}
