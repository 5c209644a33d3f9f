//! The hand-written feature fixture (also compared with Perl in
//! migrate_oracle.rs): exactly these things are reported as not carried.

use amavisd_rs::config::Config;
use amavisd_rs::migrate::migrate;
use std::path::PathBuf;

const F: &str = "tests/fixtures/migrate/features.conf";

#[test]
fn features_fixture_warnings_are_exactly_these() {
    let out = migrate(&[PathBuf::from(F)]).unwrap();
    let expected: Vec<String> = [
        "35: $warnbannedsender = 1; — $warnbannedsender (notification setting) is not supported by amavisd-rs; not carried",
        "65: ['ClamAV-clamd', — ClamAV-clamd: 1 further socket(s) listed; only /var/run/clamav/clamd.sock is carried",
        "74: ['ClamAV-clamscan', 'clamscan', — @av_scanners_backup entry `ClamAV-clamscan`: command-line scanners are not supported (only clamd); not carried",
        "94: $policy_bank{'ORIGINATING'} = { — policy bank `ORIGINATING` is carried as data, but amavisd-rs does not apply policy banks yet",
        "106: $policy_bank{'MYNETS'}{log_level} = 3; — policy bank `MYNETS` is carried as data, but amavisd-rs does not apply policy banks yet",
        "109: $ENV{TMPDIR} = $TEMPBASE; — %ENV (environment of helper programs) is not supported by amavisd-rs; not carried",
        "110: $defang_by_ccat{CC_BADH.\",3\"} = 1; — %defang_by_ccat (defanging (wrapping the original as an attachment)) is not supported by amavisd-rs; not carried",
        "111: @addr_extension_virus_maps = ('virus'); — @addr_extension_virus_maps (address extensions (user+spam@)) is not supported by amavisd-rs; not carried",
        "112: $mailfrom_to_quarantine = ''; — $mailfrom_to_quarantine (envelope sender of quarantined mail) is not supported by amavisd-rs; not carried",
        "113: $penpals_threshold_high = $sa_kill_level_deflt; — $penpals_threshold_high (pen pals score bonus) is not supported by amavisd-rs; not carried",
        "114: @score_sender_maps = ({ — @score_sender_maps (per-sender spam score adjustments) is not supported by amavisd-rs; not carried",
        "120: @decoders = ( — @decoders (list of decoders) is not supported by amavisd-rs; not carried",
    ]
    .iter()
    .map(|w| format!("{F}:{w}"))
    .collect();
    assert_eq!(out.warnings, expected);
}

#[test]
fn features_fixture_every_key_has_its_source_line() {
    let out = migrate(&[PathBuf::from(F)]).unwrap();
    Config::from_yaml(&out.yaml, "f.yaml").unwrap();
    for line in out.yaml.lines() {
        let top_level_key = line.starts_with(|c: char| c.is_ascii_lowercase());
        if top_level_key {
            assert!(
                line.contains(&format!("# from {F}:")) || line.contains(&format!("at {F}:")),
                "no source comment: {line}"
            );
        }
    }
}

/// `$DO_SYSLOG` is a glob alias of `$do_syslog` in Amavis/Conf.pm, so the
/// classic spelling must be carried, not reported as unsupported.
#[test]
fn old_uppercase_do_syslog_is_carried_as_do_syslog() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("amavisd.conf");
    std::fs::write(
        &f,
        "use strict;\n$DO_SYSLOG = 1;\n$syslog_facility = 'local3';\n1;\n",
    )
    .unwrap();
    let out = migrate(&[f]).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let cfg = Config::from_yaml(&out.yaml, "f.yaml").unwrap();
    assert!(cfg.do_syslog);
    assert_eq!(cfg.syslog_facility, "local3");
}
