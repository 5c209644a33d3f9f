//! Agreement with SpamAssassin 4.0.1 (`-L`, score set 0) on the fixture
//! messages: same rules hit with the same scores as sa-verdicts.jsonl.
//! Needs the Debian `spamassassin` package (the installed rules).

mod oracle;

use amavisd_rs::rules::{LoadOptions, RuleSet};

/// Messages where we currently reproduce SpamAssassin exactly (measured).
const MIN_EXACT: usize = 20;

#[test]
fn fixtures_agree_with_spamassassin() {
    // Needs the Debian `spamassassin` package (CI installs it).
    assert!(
        std::path::Path::new("/usr/share/spamassassin/50_scores.cf").exists(),
        "SpamAssassin rules not installed: apt-get install spamassassin"
    );
    let rs = RuleSet::load(&LoadOptions::default()).expect("load");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let verdicts = std::fs::read_to_string(dir.join("sa-verdicts.jsonl")).unwrap();
    let mut cold = Vec::new();
    let (mut exact, mut same_verdict, mut n) = (0, 0, 0);
    let (mut rules_sa, mut rules_common, mut rules_ours) = (0, 0, 0);
    let mut abs_err = 0.0;
    for line in verdicts.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap();
        let msg = std::fs::read(dir.join(file)).unwrap();
        let want = oracle::sa_tests(&v);
        let r = rs.check(&msg, None);
        let got = oracle::our_tests(&r);
        n += 1;
        let sa_score = v["score"].as_f64().unwrap();
        abs_err += (sa_score - r.score).abs();
        if (sa_score >= 5.0) == r.is_spam() {
            same_verdict += 1;
        }
        rules_sa += want.len();
        rules_ours += got.len();
        rules_common += want.keys().filter(|k| got.contains_key(*k)).count();
        if got == want {
            exact += 1;
            println!("OK    {file} {}", r.score);
        } else {
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            println!(
                "DIFF  {file} ours {} SA {sa_score}; missing {missing:?} extra {extra:?}",
                r.score
            );
        }
        cold.push((msg, r));
    }
    println!(
        "exact {exact}/{n}; same verdict {same_verdict}/{n}; SA hits {rules_sa}, ours {rules_ours}, common {rules_common}; mean |score error| {:.3}",
        abs_err / n as f64
    );
    assert!(exact >= MIN_EXACT, "exact agreement fell to {exact}");
    // After the server's background warm-up (prefilter DFAs instead of
    // NFAs, every lazy automaton built) the verdicts are the same.
    assert!(rs.warm_up().is_empty());
    for (msg, before) in &cold {
        let after = rs.check(msg, None);
        assert_eq!(oracle::our_tests(&after), oracle::our_tests(before));
        assert_eq!(after.score, before.score);
    }
}

/// Print every hit (sub-rules too) for one fixture (a diagnostic, not a test):
/// `RULES_DEBUG=file cargo test --test rules_sa_agreement -- --ignored --nocapture`.
#[test]
#[ignore = "diagnostic; needs RULES_DEBUG=<fixture file>"]
fn debug_one_fixture() {
    let file = std::env::var("RULES_DEBUG").expect("set RULES_DEBUG to a fixture file name");
    let rs = RuleSet::load(&LoadOptions::default()).expect("load");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let msg = std::fs::read(dir.join(&file)).unwrap();
    println!("{:?}", rs.debug_hits(&msg, None));
}

/// Slowest rules on one fixture (a diagnostic, not a test):
/// `RULES_PROFILE=file cargo test --test rules_sa_agreement -- --ignored --nocapture`.
#[test]
#[ignore = "diagnostic; needs RULES_PROFILE=<fixture file>"]
fn profile_one_fixture() {
    let file = std::env::var("RULES_PROFILE").expect("set RULES_PROFILE to a fixture file name");
    let rs = RuleSet::load(&LoadOptions::default()).expect("load");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let msg = std::fs::read(dir.join(&file)).unwrap();
    let prof = rs.profile_rules(&msg);
    let total: std::time::Duration = prof.iter().map(|p| p.1).sum();
    println!("total in rules: {total:?}");
    for (n, d) in prof.iter().take(25) {
        println!("{d:>12?} {n}");
    }
}

/// SpamAssassin 4.0 capture rules: `__GB_TO_ADDR` captures the `To:`
/// address and six uri rules look for it with `%{GB_TO_ADDR}`. Real
/// SpamAssassin (scripts/sa-oracle.pl, run now) and we must hit the same
/// rules: the address in a URI, another address, no `To:`, case folding,
/// and an address whose dot and plus must match only themselves.
#[test]
fn capture_templates_agree_with_live_spamassassin() {
    assert!(
        std::path::Path::new("/usr/share/spamassassin/50_scores.cf").exists(),
        "SpamAssassin rules not installed: apt-get install spamassassin"
    );
    let msg = |to: &str, uri_addr: &str| {
        format!(
            "From: Alice <alice@example.org>\n{to}Subject: hello\n\
             Date: Thu, 26 Nov 2026 10:00:00 +0000\nMessage-ID: <abc123@example.org>\n\
             MIME-Version: 1.0\nContent-Type: text/plain\n\n\
             See https://storage.cloud.google.com/bucket/file.html#{uri_addr} now\n\
             and http://www.example.net/x/y/z/page.html#{uri_addr} too\n"
        )
    };
    let cases = [
        (
            "same",
            msg("To: Bob <bob@example.com>\n", "bob@example.com"),
        ),
        (
            "other",
            msg("To: Carol <carol@example.com>\n", "bob@example.com"),
        ),
        ("no_to", msg("", "bob@example.com")),
        ("case", msg("To: Bob@Example.COM\n", "bob@example.com")),
        (
            "meta_no",
            msg("To: a.b+c@example.com\n", "aXb+c@example.com"),
        ),
        (
            "meta_yes",
            msg("To: a.b+c@example.com\n", "a.b+c@example.com"),
        ),
    ];
    // One SpamAssassin process per message, as `spamassassin -L -t` runs:
    // within one process SpamAssassin 4.0.1 keeps the first message's
    // template regex (its rules match with `/o`), so a batch would compare
    // against that bug rather than the documented behaviour.
    let base = std::env::temp_dir().join(format!("capture-oracle-{}", std::process::id()));
    let runs: Vec<_> = cases
        .iter()
        .map(|(name, text)| {
            let dir = base.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.eml")), text).unwrap();
            std::process::Command::new("perl")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sa-oracle.pl"))
                .arg(&dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run perl")
        })
        .collect();
    let outs: Vec<_> = runs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    std::fs::remove_dir_all(&base).ok();
    let mut stdout = String::new();
    for out in outs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    let rs = RuleSet::load(&LoadOptions::default()).expect("load");
    let gb = |m: std::collections::BTreeMap<String, f64>| -> Vec<String> {
        m.into_keys().filter(|k| k.contains("GB_")).collect()
    };
    let (mut hit_somewhere, mut compared) = (0, 0);
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap();
        let name = file.trim_end_matches(".eml");
        let text = &cases.iter().find(|c| c.0 == name).unwrap().1;
        let want = gb(oracle::sa_tests(&v));
        let got = gb(oracle::our_tests(&rs.check(text.as_bytes(), None)));
        assert_eq!(got, want, "{name}");
        hit_somewhere += usize::from(!want.is_empty());
        compared += 1;
    }
    assert_eq!(compared, cases.len(), "one oracle line per message");
    // The cases are built so that some hit and some do not.
    assert_eq!(hit_somewhere, 3, "same, case and meta_yes should hit");
}
