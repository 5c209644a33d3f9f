//! SpamAssassin's verdicts (one `sa-verdicts.jsonl` line each, written by
//! scripts/sa-oracle.pl) and ours, in one shape for comparison: rule name →
//! score, each `tflags multiple` rule summed over its hits, to 3 decimals.

use std::collections::BTreeMap;

use amavisd_rs::rules::SpamResult;

/// The oracle's `tests` object.
pub fn sa_tests(v: &serde_json::Value) -> BTreeMap<String, f64> {
    v["tests"]
        .as_object()
        .expect("a tests object")
        .iter()
        .map(|(k, s)| (k.clone(), s.as_f64().expect("a score")))
        .collect()
}

/// Our hits, summed per rule as SpamAssassin's report does.
pub fn our_tests(r: &SpamResult) -> BTreeMap<String, f64> {
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    for h in &r.hits {
        *got.entry(h.name.clone()).or_default() += h.score;
    }
    for s in got.values_mut() {
        *s = (*s * 1000.0).round() / 1000.0;
    }
    got
}
