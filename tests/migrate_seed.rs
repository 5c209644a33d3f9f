//! The classic how-to's amavisd.conf migrates to the hand-written YAML, with
//! exactly the warnings a careful reader of the file would write.

use amavisd_rs::config::{Config, Destiny};
use amavisd_rs::migrate::migrate;
use std::path::PathBuf;

const SEED: &str = "tests/fixtures/migrate/seed-howto.conf";

#[test]
fn seed_howto_gives_expected_yaml() {
    let out = migrate(&[PathBuf::from(SEED)]).expect("migrates");
    let expected =
        std::fs::read_to_string("tests/fixtures/migrate/seed-howto.expected.yaml").unwrap();
    assert_eq!(out.yaml, expected, "--- got:\n{}", out.yaml);
}

#[test]
fn seed_howto_gives_exactly_the_expected_warnings() {
    let out = migrate(&[PathBuf::from(SEED)]).expect("migrates");
    let expected = [
        format!(
            "{SEED}:15: @local_domains_acl = qw( \".$mydomain\" ); — qw() does not interpolate: \
             the entry is literally `\".$mydomain\"`; migrated as Perl reads it (write ( \"...\" ) to interpolate)"
        ),
        format!(
            "{SEED}:34: $SYSLOG_LEVEL = 'mail.info'; — $SYSLOG_LEVEL was retired in amavisd-new 2.13; \
             setting it has no effect"
        ),
        format!(
            "{SEED}:44: ['ClamAV-clamscan', 'clamscan', — @av_scanners_backup entry `ClamAV-clamscan`: \
             command-line scanners are not supported (only clamd); not carried"
        ),
    ];
    assert_eq!(out.warnings, expected);
}

#[test]
fn seed_howto_yaml_loads_with_the_meaning_of_the_perl() {
    let out = migrate(&[PathBuf::from(SEED)]).unwrap();
    let c = Config::from_yaml(&out.yaml, "seed.yaml").expect("loads");
    assert_eq!(c.mydomain, "tobias.local");
    assert_eq!(c.forward_method.spec, "smtp:127.0.0.1:10025");
    assert_eq!(c.notify_method().spec, "smtp:127.0.0.1:10025");
    // The trap, reproduced: the single ACL entry is the literal text.
    assert_eq!(c.local_domains_acl, vec!["\".$mydomain\"".to_string()]);
    assert_eq!(c.sa_tag_level_deflt, Some(-999.0));
    assert_eq!(c.sa_tag2_level_deflt, Some(5.0));
    assert_eq!(c.sa_kill_level_deflt, Some(999.0));
    assert_eq!(c.final_banned_destiny, Destiny::Reject);
    assert_eq!(c.final_virus_destiny, Destiny::Discard);
    assert_eq!(c.spam_admin.as_deref(), Some("postmaster@tobias.local"));
    assert!(c.spam_lovers.contains_key("postmaster@tobias.local"));
    assert_eq!(c.quarantinedir, None);
    assert_eq!(c.virus_quarantine_to, None);
    assert!(!c.remove_existing_spam_headers);
    assert_eq!(c.log_level, 2);
    assert_eq!(c.av_scanners.len(), 1);
    assert_eq!(c.av_scanners[0].socket, "/var/run/clamav/clamd.ctl");
    assert!(c.av_scanners_backup.is_empty());
}
