//! Diagnostics over a rule set: every hit including sub-rules, time per
//! rule (for rule authors and for profiling; `check` does neither), and the
//! `spamassassin -t`-style report of a result.

use super::ctx::Ctx;
use super::{RuleSet, SpamResult};

impl RuleSet {
    /// Names of every rule that hit, `__` sub-rules included (diagnostics).
    pub fn debug_hits(&self, message: &[u8], envelope_from: Option<&str>) -> Vec<String> {
        let ctx = Ctx::with_config(message, envelope_from, &self.meta);
        let hits = self.hit_counts(&ctx, true);
        let mut v: Vec<String> = self
            .compiled
            .rules
            .iter()
            .zip(hits)
            .filter(|(_, h)| *h > 0.0)
            .map(|(r, _)| r.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Time spent in each non-meta rule on one message, slowest first
    /// (diagnostics for rule authors and for profiling).
    pub fn profile_rules(&self, message: &[u8]) -> Vec<(String, std::time::Duration)> {
        let ctx = Ctx::with_config(message, None, &self.meta);
        let c = &self.compiled;
        let rules = &c.rules;
        // Profiling times every header rule: no header prefilter.
        let cands = self.candidates(&ctx, false);
        let mut out: Vec<(String, std::time::Duration)> = c
            .plain
            .iter()
            .filter(|&&i| rules[i].enabled && rules[i].live)
            .map(|&i| {
                let t = std::time::Instant::now();
                self.run_rule(i as u32, &rules[i], &ctx, &cands);
                (rules[i].name.clone(), t.elapsed())
            })
            .collect();
        out.sort_by_key(|x| std::cmp::Reverse(x.1));
        out
    }
}

/// A report like `spamassassin -t`: the score, then one line per hit.
pub fn explain(result: &SpamResult) -> String {
    // Formats from the `report` template and PerMsgStatus.pm: totals "%2.1f",
    // per-rule "%4.1f" (or "%4.0f" for |score| >= 10).
    let mut out = format!(
        "Content analysis details:   ({:.1} points, {:.1} required)\n\n pts rule name              description\n---- ---------------------- --------------------------------------------------\n",
        result.score, result.required
    );
    for h in &result.hits {
        let pts = if h.score.abs() >= 10.0 {
            format!("{:4.0}", h.score)
        } else {
            format!("{:4.1}", h.score)
        };
        out.push_str(&format!("{pts} {:<22} {}\n", h.name, h.description));
    }
    out
}
