//! What the rule engine's unit tests over real rules share.

use std::path::PathBuf;

use super::{LoadOptions, RuleSet};

/// SpamAssassin's installed rules, loaded, and the fixture messages
/// (`tests/fixtures/messages/*.eml`, sorted); panics with the reason when
/// either is missing.
pub fn installed_rules_and_fixtures() -> (RuleSet, Vec<PathBuf>) {
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
    (rs, files)
}
