//! The effective rule set we parse from the installed SpamAssassin rules,
//! compared with SpamAssassin's own dump (tests/fixtures/sa-rules-effective.jsonl,
//! from shared/reference/sa/dump_rules.pl). Needs the Debian `spamassassin` package.

use std::collections::HashMap;

use amavisd_rs::rules::{LoadOptions, RuleSet};

fn installed() -> Option<RuleSet> {
    // These tests need the Debian `spamassassin` package (CI installs it).
    assert!(
        std::path::Path::new("/usr/share/spamassassin/50_scores.cf").exists(),
        "SpamAssassin rules not installed: apt-get install spamassassin"
    );
    Some(RuleSet::load(&LoadOptions::default()).expect("load installed rules"))
}

#[test]
fn effective_rule_set_matches_spamassassin() {
    let Some(rs) = installed() else { return };
    let text = include_str!("fixtures/sa-rules-effective.jsonl");
    let mut want: HashMap<String, serde_json::Value> = HashMap::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        want.insert(v["name"].as_str().unwrap().to_string(), v);
    }
    let ours: HashMap<&str, &amavisd_rs::rules::CRule> =
        rs.rules().iter().map(|r| (r.name.as_str(), r)).collect();
    let (mut same_kind, mut same_scores, mut same_tflags) = (0, 0, 0);
    // SpamAssassin's `fix_tflags` walks metas once in Perl hash order, so
    // whether `net` reaches a meta through another meta varies per run.
    let mut net_only = 0;
    let (mut n_header, mut same_header) = (0, 0);
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    let mut diffs = Vec::new();
    for (name, w) in &want {
        let Some(r) = ours.get(name.as_str()) else {
            missing.push(name.clone());
            continue;
        };
        let kind = r.kind.sa_type();
        if kind == w["type"].as_str().unwrap() {
            same_kind += 1;
        } else {
            diffs.push(format!("{name}: kind {kind} vs {}", w["type"]));
        }
        // Header rules: same header (with modifiers), negation, exists.
        if w["type"] == "header" {
            use amavisd_rs::rules::Test;
            let ok = match &r.test {
                Test::Header { hdr, neg, .. } => {
                    w["exists"] == 0
                        && w["hdr"].as_str() == Some(hdr.as_str())
                        && (w["neg"] == 1) == *neg
                }
                Test::Exists(h) => w["exists"] == 1 && w["hdr"].as_str() == Some(h.as_str()),
                _ => false,
            };
            if ok {
                same_header += 1;
            } else {
                diffs.push(format!("{name}: header test differs"));
            }
            n_header += 1;
        }
        let ws: Vec<f64> = w["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap_or(0.0))
            .collect();
        if ws
            .iter()
            .zip(r.scores.iter())
            .all(|(a, b)| (a - b).abs() < 1e-9)
        {
            same_scores += 1;
        } else {
            diffs.push(format!("{name}: scores {:?} vs {ws:?}", r.scores));
        }
        let wt = w["tflags"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let ot = r.tflags.split_whitespace().collect::<Vec<_>>().join(" ");
        let strip_net = |t: &str| {
            t.split_whitespace()
                .filter(|f| *f != "net")
                .collect::<Vec<_>>()
                .join(" ")
        };
        if wt == ot {
            same_tflags += 1;
        } else if w["type"] == "meta" && strip_net(&wt) == strip_net(&ot) {
            net_only += 1;
            diffs.push(format!(
                "{name}: tflags {ot:?} vs {wt:?} (inherited net only)"
            ));
        } else {
            diffs.push(format!("{name}: tflags {ot:?} vs {wt:?}"));
        }
    }
    for r in rs.rules() {
        if !want.contains_key(&r.name) {
            extra.push(r.name.clone());
        }
    }
    missing.sort();
    extra.sort();
    diffs.sort();
    let n = want.len();
    println!(
        "SA rules {n}, ours {}; names matched {}; kind {same_kind}, scores {same_scores}, tflags {same_tflags} (+{net_only} differing only by inherited net)",
        rs.rule_count(),
        n - missing.len()
    );
    println!("header tests: {same_header}/{n_header} same header, modifiers, negation");
    println!(
        "missing ({}): {:?}",
        missing.len(),
        &missing[..missing.len().min(40)]
    );
    println!(
        "extra ({}): {:?}",
        extra.len(),
        &extra[..extra.len().min(40)]
    );
    for d in diffs.iter().take(60) {
        println!("  {d}");
    }
    println!("compile errors: {:?}", rs.compile_errors());
    println!("unknown directives: {:?}", rs.unknown_directives());
    assert!(missing.is_empty() && extra.is_empty(), "rule names differ");
    assert_eq!(same_kind, n, "rule kinds differ");
    assert_eq!(same_header, n_header, "header tests differ");
    assert_eq!(same_scores, n, "scores differ");
    assert_eq!(same_tflags + net_only, n, "tflags differ");
    assert!(
        net_only <= 5,
        "too many inherited-net differences: {net_only}"
    );
}

#[test]
fn every_installed_regex_builds() {
    let Some(rs) = installed() else { return };
    assert!(rs.compile_errors().is_empty(), "{:?}", rs.compile_errors());
    assert_eq!(rs.warm_up(), Vec::<String>::new());
}

#[test]
fn installed_gtube() {
    let Some(rs) = installed() else { return };
    let msg = include_bytes!("fixtures/messages/satdata__sample-spam.txt.eml");
    let r = rs.check(msg, None);
    assert!(r.hits.iter().any(|h| h.name == "GTUBE"), "{r:?}");
    assert!(r.score >= 999.0);
}

#[test]
fn prefilter_coverage() {
    let Some(rs) = installed() else { return };
    use amavisd_rs::rules::RuleKind;
    let mut stats: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for r in rs.rules() {
        let k = match r.kind {
            RuleKind::Body => "body",
            RuleKind::Rawbody => "rawbody",
            RuleKind::Uri => "uri",
            RuleKind::Full => "full",
            _ => continue,
        };
        if !r.enabled {
            continue;
        }
        let e = stats.entry(k).or_default();
        e.0 += 1;
        e.1 += usize::from(r.prefiltered);
    }
    println!("enabled rules with a literal prefilter, by kind: {stats:?}");
}
