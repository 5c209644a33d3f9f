use super::*;

fn cfg(extra: &str) -> Config {
    cfg_kill(6.31, extra)
}

/// Debian's levels (tag 2, tag2 6.31) with the given kill level.
fn cfg_kill(kill: f64, extra: &str) -> Config {
    let base = format!(
        "local_domains_acl: ['.example.com']\nsa_tag_level_deflt: 2.0\nsa_tag2_level_deflt: 6.31\nsa_kill_level_deflt: {kill}\n"
    );
    Config::from_yaml(&format!("{base}{extra}"), "t").unwrap()
}

fn spam(score: f64) -> Findings {
    Findings {
        spam: Some(SpamVerdict {
            score,
            tests: vec![],
        }),
        ..Default::default()
    }
}

fn d(c: &Config, f: &Findings, rcpt: &str) -> Decision {
    decide(c, &PolicyMaps::new(c), f, "alice@example.org", rcpt)
}

#[test]
fn clean_ham_below_tag_has_no_spam_headers() {
    let c = cfg("");
    let r = d(&c, &spam(1.3), "bob@example.com");
    assert_eq!(r.category, Category::Clean);
    assert_eq!(r.blocked, None);
    assert!(!r.spam_headers);
    assert!(r.local);
}

#[test]
fn spam_levels_and_destinies() {
    let c = cfg("final_spam_destiny: D_DISCARD\n");
    let r = d(&c, &spam(4.0), "bob@example.com");
    assert_eq!(r.category, Category::Clean);
    assert!(r.spam_headers && !r.spammy);
    let r = d(&c, &spam(1001.3), "bob@example.com");
    assert_eq!(r.category, Category::Spam);
    assert_eq!(r.blocked, Some(Destiny::Discard));
    assert_eq!(r.reason, "spam");
    // Non-local recipients: destiny applies, headers do not.
    let r = d(&c, &spam(1001.3), "carol@elsewhere.net");
    assert_eq!(r.blocked, Some(Destiny::Discard));
    assert!(!r.spam_headers);
}

#[test]
fn spammy_between_tag2_and_kill() {
    let c = cfg_kill(999.0, "");
    let r = d(&c, &spam(7.0), "bob@example.com");
    assert_eq!(r.category, Category::Spammy);
    assert!(r.spammy);
    assert_eq!(r.blocked, None);
}

#[test]
fn lovers_and_bypass_pass_what_others_block() {
    let c = cfg("final_spam_destiny: D_REJECT\nspam_lovers: {'postmaster@example.com': 1}\n");
    assert_eq!(d(&c, &spam(50.0), "postmaster@example.com").blocked, None);
    assert_eq!(
        d(&c, &spam(50.0), "bob@example.com").blocked,
        Some(Destiny::Reject)
    );
    let c = cfg("bypass_virus_checks_acl: ['bob@example.com']\n");
    let f = Findings {
        viruses: vec!["Eicar-Test-Signature".into()],
        ..Default::default()
    };
    assert_eq!(d(&c, &f, "bob@example.com").blocked, None);
    let r = d(&c, &f, "carol@example.com");
    assert_eq!(r.blocked, Some(Destiny::Discard));
    assert_eq!(r.reason, "INFECTED: Eicar-Test-Signature");
}

#[test]
fn priority_virus_over_banned_over_spam() {
    let c = cfg("final_banned_destiny: D_REJECT\n");
    let f = Findings {
        viruses: vec!["V".into()],
        banned: vec!["application/octet-stream,.exe,.exe-ms,a.exe".into()],
        ..spam(100.0)
    };
    let r = d(&c, &f, "bob@example.com");
    assert_eq!(r.category, Category::Virus);
    assert_eq!(r.blocked, Some(Destiny::Discard));
    // A virus lover still gets blocked for the banned part.
    let c2 = cfg("final_banned_destiny: D_REJECT\nvirus_lovers_acl: ['.example.com']\n");
    let r = d(&c2, &f, "bob@example.com");
    assert_eq!(r.blocked, Some(Destiny::Reject));
    assert!(r.reason.starts_with("BANNED: application/octet-stream"));
}

#[test]
fn whitelist_and_blacklist_sender() {
    let c = cfg("final_spam_destiny: D_DISCARD\nwhitelist_sender_acl: ['alice@example.org']\n");
    assert_eq!(d(&c, &spam(50.0), "bob@example.com").blocked, None);
    let c = cfg("final_spam_destiny: D_DISCARD\nblacklist_sender_acl: ['.example.org']\n");
    assert_eq!(
        d(&c, &spam(0.0), "bob@example.com").blocked,
        Some(Destiny::Discard)
    );
}

#[test]
fn undefined_tag_level_always_adds_headers() {
    let c = Config::from_yaml("local_domains_acl: ['.example.com']\n", "t").unwrap();
    let r = d(&c, &spam(-5.0), "bob@example.com");
    assert!(r.spam_headers);
    assert_eq!(r.category, Category::Clean);
}
