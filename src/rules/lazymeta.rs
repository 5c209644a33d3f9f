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

use super::compile::Compiled;
use super::meta::Operands;

/// What is known of a rule's hit count in this message.
pub const KNOWN: u8 = 0;
/// A plain sub-rule not run yet.
pub const RULE: u8 = 1;
/// A sub-meta not evaluated yet.
pub const META: u8 = 2;

/// One message's hit counts, filled in as metas read them.
pub struct Lazy<'a, F> {
    pub c: &'a Compiled,
    pub hits: &'a mut [f64],
    /// [`KNOWN`], [`RULE`] or [`META`] for each rule.
    pub state: &'a mut [u8],
    /// Runs plain rule `i`, giving its hit count.
    pub run: F,
}

impl<F: FnMut(usize) -> f64> Operands for Lazy<'_, F> {
    fn get(&mut self, i: usize, stack: &mut Vec<f64>) -> f64 {
        match self.state[i] {
            RULE => self.hits[i] = (self.run)(i),
            META => {
                // Known from here on: a cycle (never compiled) would read 0.
                self.state[i] = KNOWN;
                let c = self.c;
                let v = c
                    .meta_program
                    .run_with(c.plan.slot_of[i] as usize, self, stack);
                self.hits[i] = if v != 0.0 { 1.0 } else { 0.0 };
            }
            _ => {}
        }
        self.state[i] = KNOWN;
        self.hits[i]
    }
}

#[cfg(test)]
mod tests {
    /// On every fixture, each scored rule (metas included) gets the same
    /// count from the lazy evaluation as from running every rule, and
    /// some sub-rules are indeed left unrun.
    #[test]
    fn lazy_counts_equal_eager_counts_on_the_fixtures() {
        use crate::rules::{Ctx, LoadOptions, RuleSet};
        assert!(
            std::path::Path::new("/usr/share/spamassassin/50_scores.cf").exists(),
            "SpamAssassin rules not installed: apt-get install spamassassin"
        );
        let rs = RuleSet::load(&LoadOptions::default()).expect("installed rules");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "fixtures missing in {}", dir.display());
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
