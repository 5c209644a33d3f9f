//! Which rules can change a score at all: the rest (`__` sub-rules that no
//! scoring meta reads) are skipped by `check`.

use super::compile::{Compiled, Test};
use super::meta;

/// Set `live` on every rule whose hit can change the score (see
/// [`CRule::live`]): enabled non-`__` rules, then what live metas read,
/// dependents before dependencies (the reverse of `metas`' order).
pub fn mark_live(out: &mut Compiled) {
    for r in out.rules.iter_mut() {
        r.live = r.enabled && !r.name.starts_with("__");
    }
    for k in (0..out.metas.len()).rev() {
        let i = out.metas[k];
        if !(out.rules[i].live && out.rules[i].enabled) {
            continue;
        }
        let mut deps = Vec::new();
        if let Test::Meta(e) = &out.rules[i].test {
            meta::vars_of(e, &mut deps);
        }
        for d in deps {
            out.rules[d].live = true;
        }
    }
    // Capture rules feed template rules through tags, not through names.
    if out
        .rules
        .iter()
        .any(|r| r.live && matches!(r.test, Test::Templated { .. }))
    {
        for &(i, _) in &out.capturers {
            let r = &mut out.rules[i as usize];
            r.live = r.enabled;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_rules_that_can_reach_a_score_are_live() {
        let rs = crate::rules::RuleSet::from_config_text(
            "body __USED /alpha/\nbody __DEAD /beta/\nmeta __MID __USED\n\
             meta TOP __MID && !__NEG\nbody __NEG /gamma/\nbody PLAIN /delta/\n\
             meta __DEAD_META __DEAD\nbody OFF /eps/\nscore OFF 0\nmeta ZERO __ZDEP\n\
             score ZERO 0\nbody __ZDEP /zeta/\n",
        );
        let live: Vec<(&str, bool)> = rs
            .rules()
            .iter()
            .map(|r| (r.name.as_str(), r.live))
            .collect();
        for (name, want) in [
            ("__USED", true),
            ("__MID", true),
            ("__NEG", true),
            ("TOP", true),
            ("PLAIN", true),
            ("__DEAD", false),
            ("__DEAD_META", false),
            ("OFF", false),
            ("__ZDEP", false),
        ] {
            assert!(live.contains(&(name, want)), "{name}: {live:?}");
        }
        // Dead rules still run for diagnostics.
        let msg = b"Subject: x\n\nalpha beta delta\n";
        assert!(rs.debug_hits(msg, None).contains(&"__DEAD".to_string()));
        let hits: Vec<String> = rs
            .check(msg, None)
            .hits
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(hits, vec!["PLAIN", "TOP"]);
    }
}
