//! Sub-rules run only when a scored meta reads them.
//!
//! Why it exists: a `__` sub-rule is never reported, it only feeds metas,
//! and most metas are settled by their first operands (`__A && __B` with
//! `__A` false never needs `__B`). SpamAssassin runs every rule; the score
//! and the `tests=` list depend only on the scored rules, so `check` runs
//! the scored ones, then evaluates each scored meta in Perl's order, running
//! a sub-rule (or evaluating a sub-meta) when the evaluation first reads it.
//! Values are the same as in the eager evaluation: every operand read is
//! the real count, and an operand not read cannot change the result.
//!
//! Perl's order alone would run `__FROM_NAME_IN_MSG` (a `full` regex with
//! a backreference) for `__FROM_NAME_IN_MSG && __XPRIO && ...` although
//! the header test `__XPRIO` is already known false on most messages:
//! [`Shortcuts`] first looks at the known operands of a top-level `&&` or
//! `||` chain.

use super::RuleSet;
use super::compile::{Compiled, Test};
use super::ctx::Ctx;
use super::meta::{Expr, Op, Operands};

/// What is known of a rule's hit count in this message.
pub const KNOWN: u8 = 0;
/// A plain sub-rule not run yet.
pub const RULE: u8 = 1;
/// A sub-meta not evaluated yet.
pub const META: u8 = 2;

impl RuleSet {
    /// Hit counts of the enabled rules. Sub-rules run only when a scored
    /// meta reads them (see the module doc), so an unread one counts 0; `all`
    /// runs every rule, dead sub-rules too (see `CRule::live`), and so
    /// gives every sub-rule's true count (diagnostics).
    ///
    /// Counts are `f32` (small integers, exact): 4 bytes a rule keep the
    /// vector in jemalloc's small size classes (as `f64` it was a 23 KB
    /// "large" allocation, ~12 K instructions to get and zero per check).
    pub(super) fn hit_counts(&self, ctx: &Ctx, all: bool) -> Vec<f32> {
        let rules = &self.compiled.rules;
        let c = &self.compiled;
        let cands = self.candidates(ctx, true);
        let mut hits = vec![0.0f32; rules.len()];
        let mut state = vec![KNOWN; rules.len()];
        let run = |s: &super::plan::Step| {
            let n = self.run_rule(s.rule, &rules[s.rule as usize], ctx, &cands);
            s.learn(&rules[s.rule as usize]);
            n as f32
        };
        for s in &c.plan.steps {
            if !(s.live() || all) {
                continue;
            }
            let i = s.rule as usize;
            match s.settled(c, &cands) {
                Some(n) => hits[i] = n as f32,
                None if all || !s.sub() => hits[i] = run(s),
                None => state[i] = RULE,
            }
        }
        let mut stack = Vec::new();
        if all {
            for m in &c.plan.metas {
                let v = c
                    .meta_program
                    .run(m.prog as usize, |j| f64::from(hits[j]), &mut stack);
                hits[m.rule as usize] = if v != 0.0 { 1.0 } else { 0.0 };
            }
            return hits;
        }
        for m in c.plan.metas.iter().filter(|m| m.live && m.sub) {
            state[m.rule as usize] = META;
        }
        let mut lazy = Lazy {
            c,
            hits: &mut hits,
            state: &mut state,
            run: |k: usize| run(&c.plan.steps[c.plan.slot_of[k] as usize]),
        };
        for m in c.plan.metas.iter().filter(|m| m.live && !m.sub) {
            lazy.hits[m.rule as usize] = lazy.meta(m.prog as usize, &mut stack) as f32;
        }
        hits
    }
}

/// One message's hit counts, filled in as metas read them.
pub struct Lazy<'a, F> {
    pub c: &'a Compiled,
    pub hits: &'a mut [f32],
    /// [`KNOWN`], [`RULE`] or [`META`] for each rule.
    pub state: &'a mut [u8],
    /// Runs plain rule `i`, giving its hit count.
    pub run: F,
}

impl<F: FnMut(usize) -> f32> Lazy<'_, F> {
    /// The truth (1 or 0) of meta program `prog`, from its known operands
    /// when they decide it, else by evaluating it.
    pub fn meta(&mut self, prog: usize, stack: &mut Vec<f64>) -> f64 {
        let c = self.c;
        let v = match c.plan.shortcuts.decided(prog, self.hits, self.state) {
            Some(v) => v,
            None => c.meta_program.run_with(prog, self, stack),
        };
        if v != 0.0 { 1.0 } else { 0.0 }
    }
}

impl<F: FnMut(usize) -> f32> Operands for Lazy<'_, F> {
    fn get(&mut self, i: usize, stack: &mut Vec<f64>) -> f64 {
        match self.state[i] {
            RULE => self.hits[i] = (self.run)(i),
            META => {
                // Known from here on: a cycle (never compiled) would read 0.
                self.state[i] = KNOWN;
                self.hits[i] = self.meta(self.c.plan.slot_of[i] as usize, stack) as f32;
            }
            _ => {}
        }
        self.state[i] = KNOWN;
        f64::from(self.hits[i])
    }
}

/// For each meta program whose top level is an `&&` (or `||`) chain, the
/// chain's operands that are a rule or a negated rule: one known false
/// (true) operand decides the meta's truth whatever the others are. A
/// sub-meta operand not evaluated yet is looked at the same way, a few
/// levels down (`TO_IN_SUBJ`'s `__TO_IN_SUBJ` is an `||` of three rules).
#[derive(Debug, Default)]
pub struct Shortcuts {
    spans: Vec<Span>,
    lits: Vec<Lit>,
}

/// One program's chain: its operands are `lits[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    /// An `&&` chain (else `||`).
    and: bool,
    /// Every operand is in `lits`: when all are known, they decide it.
    whole: bool,
}

/// A chain operand: `rule` or `!rule`.
#[derive(Debug, Clone, Copy)]
struct Lit {
    rule: u32,
    neg: bool,
    /// The rule's program number when it is an enabled meta, else
    /// `u32::MAX`.
    prog: u32,
}

/// How many sub-meta levels [`Shortcuts::decided`] looks through.
const DEPTH: u32 = 3;

impl Shortcuts {
    /// From the metas in program order (`metas[k]` is program `k`);
    /// `slot_of` is `Plan::slot_of` (a meta's program number).
    pub fn build(c: &Compiled, slot_of: &[u32]) -> Shortcuts {
        let mut s = Shortcuts::default();
        let mut ops = Vec::new();
        for &i in &c.metas {
            let start = s.lits.len() as u32;
            let (mut and, mut whole) = (true, false);
            ops.clear();
            if let Test::Meta(e) = &c.rules[i].test {
                and = !matches!(e, Expr::Bin(Op::Or, ..));
                whole = chain(e, if and { Op::And } else { Op::Or }, &mut ops);
                s.lits.extend(ops.iter().map(|&(r, neg)| Lit {
                    rule: r,
                    neg,
                    prog: match c.rules[r as usize].test {
                        Test::Meta(_) => slot_of[r as usize],
                        _ => u32::MAX,
                    },
                }));
            }
            s.spans.push(Span {
                start,
                end: s.lits.len() as u32,
                and,
                whole,
            });
        }
        s
    }

    /// The truth (1 or 0) of program `prog` if its known chain operands
    /// decide it.
    pub fn decided(&self, prog: usize, hits: &[f32], state: &[u8]) -> Option<f64> {
        self.truth(prog, hits, state, DEPTH)
            .map(|t| if t { 1.0 } else { 0.0 })
    }

    fn truth(&self, prog: usize, hits: &[f32], state: &[u8], depth: u32) -> Option<bool> {
        let sp = *self.spans.get(prog)?;
        // An operand's truth, `None` while unknown.
        let operand = |l: &Lit| {
            let t = match state[l.rule as usize] {
                KNOWN => hits[l.rule as usize] != 0.0,
                META if depth > 0 && l.prog != u32::MAX => {
                    self.truth(l.prog as usize, hits, state, depth - 1)?
                }
                _ => return None,
            };
            Some(t != l.neg)
        };
        let mut open = false;
        for l in &self.lits[sp.start as usize..sp.end as usize] {
            match operand(l) {
                // A false operand decides an `&&` chain, a true one an `||`.
                Some(t) if t != sp.and => return Some(t),
                Some(_) => {}
                None => open = true,
            }
        }
        // Every operand known and none decided: the chain is their common value.
        (sp.whole && !open).then_some(sp.and)
    }
}

/// The rule and negated-rule operands of the `op` chain at the top of `e`;
/// `false` when the chain has other operands too.
fn chain(e: &Expr, op: Op, out: &mut Vec<(u32, bool)>) -> bool {
    match e {
        Expr::Bin(o, a, b) if *o == op => chain(a, op, out) & chain(b, op, out),
        Expr::Var(i) => {
            out.push((*i as u32, false));
            true
        }
        Expr::Not(a) => match **a {
            Expr::Var(i) => {
                out.push((i as u32, true));
                true
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known chain operands decide a meta; unknown ones, or operands deeper
    /// than a chain, do not; a sub-meta operand is looked into.
    #[test]
    fn shortcuts_decide_chains_from_known_operands() {
        let rs = crate::rules::RuleSet::from_config_text(
            "header __A Subject =~ /a/\nheader __B Subject =~ /b/\n\
             header __X Subject =~ /x/\nheader __Y Subject =~ /y/\n\
             meta __S __X || __Y\nmeta M1 __A && !__B && __S\nmeta M2 __A || (__B && __X)\n\
             score M1 1\nscore M2 1\n",
        );
        let c = &rs.compiled;
        let idx = |n: &str| c.rules.iter().position(|r| r.name == n).unwrap();
        let prog = |n: &str| c.plan.slot_of[idx(n)] as usize;
        let (a, b, x, y, sub) = (idx("__A"), idx("__B"), idx("__X"), idx("__Y"), idx("__S"));
        let mut hits = vec![0.0; c.rules.len()];
        let mut state = vec![RULE; c.rules.len()];
        state[sub] = META;
        let sc = &c.plan.shortcuts;
        assert_eq!(sc.decided(prog("M1"), &hits, &state), None, "nothing known");
        state[a] = KNOWN;
        assert_eq!(
            sc.decided(prog("M1"), &hits, &state),
            Some(0.0),
            "__A false"
        );
        hits[a] = 1.0;
        state[b] = KNOWN;
        hits[b] = 1.0;
        assert_eq!(
            sc.decided(prog("M1"), &hits, &state),
            Some(0.0),
            "!__B false"
        );
        hits[b] = 0.0;
        assert_eq!(sc.decided(prog("M1"), &hits, &state), None, "__S open");
        state[x] = KNOWN;
        state[y] = KNOWN;
        assert_eq!(
            sc.decided(prog("M1"), &hits, &state),
            Some(0.0),
            "__S false"
        );
        hits[y] = 2.0;
        assert_eq!(sc.decided(prog("M1"), &hits, &state), Some(1.0), "all true");
        state[x] = RULE;
        hits[y] = 0.0;
        assert_eq!(sc.decided(prog("M1"), &hits, &state), None, "__X open");
        state[x] = KNOWN;
        hits[y] = 2.0;
        // `||` chain: a true operand decides; `(__B && __X)` is not looked into.
        assert_eq!(sc.decided(prog("M2"), &hits, &state), Some(1.0), "__A true");
        hits[a] = 0.0;
        hits[b] = 1.0;
        hits[x] = 1.0;
        assert_eq!(sc.decided(prog("M2"), &hits, &state), None);
    }

    /// On every fixture, each scored rule (metas included) gets the same
    /// count from the lazy evaluation as from running every rule, and
    /// some sub-rules are indeed left unrun.
    #[test]
    fn lazy_counts_equal_eager_counts_on_the_fixtures() {
        use crate::rules::Ctx;
        let (rs, files) = crate::rules::test_support::installed_rules_and_fixtures();
        let (mut scored_hits, mut skipped) = (0, 0);
        for f in &files {
            let msg = std::fs::read(f).unwrap();
            let ctx = Ctx::with_config(&msg, None, &rs.meta);
            let lazy = rs.hit_counts(&ctx, false);
            let eager = rs.hit_counts(&ctx, true);
            for (i, r) in rs.compiled.rules.iter().enumerate() {
                if !r.enabled {
                    continue;
                }
                if r.name.starts_with("__") {
                    skipped += usize::from(r.live && lazy[i] != eager[i]);
                    continue;
                }
                assert_eq!(lazy[i], eager[i], "{} on {}", r.name, f.display());
                scored_hits += usize::from(eager[i] > 0.0);
            }
        }
        assert!(scored_hits > 100, "{scored_hits} scored hits");
        assert!(skipped > 0, "no sub-rule hit was left unrun");
    }
}
