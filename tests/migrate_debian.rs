//! Debian's own layered configuration (package `amavisd-new`): both states of
//! `15-content_filter_mode`, run-parts naming rules, `amavisd.conf-default`.
//! These tests need the package installed and fail, not skip, without it.

use amavisd_rs::config::{BannedRule, Config, Destiny, LookupTable, LookupValue};
use amavisd_rs::migrate::{MigrateOutput, default_inputs, migrate, run_parts};
use std::path::{Path, PathBuf};

const SHARE: &str = "/usr/share/amavis/conf.d";
const ETC: &str = "/etc/amavis/conf.d";
const CONF_DEFAULT: &str = "/usr/share/doc/amavisd-new/examples/amavisd.conf-default";

fn need_package() {
    assert!(
        Path::new(SHARE).is_dir() && Path::new(ETC).is_dir() && Path::new(CONF_DEFAULT).is_file(),
        "Debian package amavisd-new is not installed (need {SHARE}, {ETC}, {CONF_DEFAULT}): \
         run `apt-get install -y amavisd-new`"
    );
}

/// A copy of /etc/amavis/conf.d to edit, as an admin would.
fn etc_copy() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(ETC).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
        }
    }
    d
}

/// Un-comment the two assignments of 15-content_filter_mode (the admin's switch).
fn enable_checks(dir: &Path) {
    let p = dir.join("15-content_filter_mode");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut out = String::new();
    for l in text.lines() {
        let un = l
            .strip_prefix('#')
            .filter(|r| r.starts_with("@bypass") || r.starts_with("   \\"));
        out.push_str(un.unwrap_or(l));
        out.push('\n');
    }
    assert_ne!(
        out, text,
        "15-content_filter_mode has no assignments to un-comment"
    );
    std::fs::write(p, out).unwrap();
}

fn run(etc: &Path) -> (MigrateOutput, Config) {
    let out = migrate(&[PathBuf::from(SHARE), etc.to_path_buf()]).expect("migrates");
    let cfg =
        Config::from_yaml(&out.yaml, "debian.yaml").unwrap_or_else(|e| panic!("{e}\n{}", out.yaml));
    (out, cfg)
}

#[test]
fn package_state_bypasses_virus_and_spam_checks() {
    need_package();
    let etc = etc_copy();
    let (out, c) = run(etc.path());
    let one = Some(vec![LookupTable::Const(LookupValue::Num(1.0))]);
    assert_eq!(c.bypass_virus_checks_maps, one);
    assert_eq!(c.bypass_spam_checks_maps, one);
    assert!(
        out.yaml
            .contains("bypass_virus_checks_maps:  # from /usr/share/amavis/conf.d/20-package:"),
        "{}",
        out.yaml
    );
}

#[test]
fn enabled_state_restores_the_default_maps() {
    need_package();
    let etc = etc_copy();
    enable_checks(etc.path());
    let (out, c) = run(etc.path());
    assert_eq!(c.bypass_virus_checks_maps, None);
    assert_eq!(c.bypass_spam_checks_maps, None);
    let f = etc
        .path()
        .join("15-content_filter_mode")
        .display()
        .to_string();
    assert!(
        out.yaml.contains(&format!("# bypass_virus_checks_maps: amavisd's default (\\%bypass_virus_checks, \\@bypass_virus_checks_acl, \\$bypass_virus_checks_re) set again at {f}:13")),
        "{}",
        out.yaml
    );
}

#[test]
fn debian_settings_are_carried() {
    need_package();
    let etc = etc_copy();
    let (out, c) = run(etc.path());
    assert_eq!(c.myhome, PathBuf::from("/var/lib/amavis"));
    assert_eq!(c.tempbase, PathBuf::from("/var/lib/amavis/tmp"));
    assert_eq!(
        c.quarantinedir,
        Some(PathBuf::from("/var/lib/amavis/virusmails"))
    );
    assert_eq!(c.daemon_user.as_deref(), Some("amavis"));
    assert_eq!(c.inet_socket_port.ports(), vec![10024]);
    assert_eq!(c.sa_tag_level_deflt, Some(2.0));
    assert_eq!(c.sa_tag2_level_deflt, Some(6.31));
    assert_eq!(c.sa_kill_level_deflt, Some(6.31));
    assert_eq!(c.sa_dsn_cutoff_level, Some(10.0));
    assert_eq!(c.sa_mail_body_size_limit, Some(200 * 1024));
    assert_eq!(c.sa_spam_subject_tag.as_deref(), Some("***SPAM*** "));
    assert_eq!(c.maxlevels, Some(14));
    assert_eq!(c.max_expansion_quota, Some(300 * 1024 * 1024));
    assert_eq!(c.final_banned_destiny, Destiny::Discard);
    assert_eq!(c.av_scanners.len(), 1);
    assert_eq!(c.av_scanners[0].socket, "/var/run/clamav/clamd.ctl");
    assert_eq!(c.banned_filename_re.len(), 7);
    assert_eq!(
        c.banned_filename_re[6],
        BannedRule::Ban(r"^\.(exe-ms)$".into())
    );
    assert_eq!(
        c.viruses_that_fake_sender_re,
        vec![
            BannedRule::Entry {
                re: r"(?i)\bEICAR\b".into(),
                ban: false
            },
            BannedRule::Ban(".*".into())
        ]
    );
    assert!(c.policy_bank.contains_key("AM.PDP-SOCK"));
    assert_eq!(
        c.interface_policy.get("SOCK").map(String::as_str),
        Some("AM.PDP-SOCK")
    );
    let f = |name: &str| etc.path().join(name).display().to_string();
    let has = |prefix: String| out.warnings.iter().any(|w| w.starts_with(&prefix));
    assert!(
        has(format!(
            "{}:28: $syslog_priority = 'debug'; — $syslog_priority was retired",
            f("20-debian_defaults")
        )),
        "{:#?}",
        out.warnings
    );
    assert!(
        has(format!(
            "{}:18: $policy_bank{{'AM.PDP-SOCK'}} = {{ — policy bank `AM.PDP-SOCK` is carried as data",
            f("25-amavis_helpers")
        )),
        "{:#?}",
        out.warnings
    );
    assert!(
        has(format!("{}:15: $unix_socketname", f("25-amavis_helpers"))),
        "{:#?}",
        out.warnings
    );
    // Every non-clamd scanner of 15-av_scanners is named once.
    let scanners = out
        .warnings
        .iter()
        .filter(|w| w.contains("command-line scanners are not supported"))
        .count();
    assert_eq!(scanners, 30, "{:#?}", out.warnings);
}

#[test]
fn run_parts_names_decide_what_is_read() {
    need_package();
    let etc = etc_copy();
    std::fs::write(
        etc.path().join("60-dkim.conf"),
        "$enable_dkim_signing = 1;\n$max_servers = 9;\n1;\n",
    )
    .unwrap();
    std::fs::write(
        etc.path().join("50-user.dpkg-old"),
        "$max_servers = 8;\n1;\n",
    )
    .unwrap();
    std::fs::write(etc.path().join("55-local"), "$max_servers = 5;\n1;\n").unwrap();
    let (out, c) = run(etc.path());
    assert_eq!(c.max_servers, 5, "only 55-local is read");
    for skipped in ["60-dkim.conf", "50-user.dpkg-old"] {
        let p = etc.path().join(skipped).display().to_string();
        assert!(
            out.warnings.contains(&format!("{p}:1: (whole file) — run-parts skips this file name (only A-Z a-z 0-9 _ - allowed); amavisd never reads it, so it is not migrated")),
            "{:#?}",
            out.warnings
        );
    }
    // Same list as the real run-parts (debianutils), when present.
    if let Ok(o) = std::process::Command::new("run-parts")
        .arg("--list")
        .arg(etc.path())
        .output()
    {
        let real: Vec<PathBuf> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(PathBuf::from)
            .collect();
        assert_eq!(run_parts(etc.path()).unwrap().0, real);
    }
}

#[test]
fn no_argument_reads_the_debian_layering() {
    need_package();
    assert_eq!(
        default_inputs(Path::new("/")),
        vec![PathBuf::from(SHARE), PathBuf::from(ETC)]
    );
    let a = migrate(&[]).unwrap();
    let b = migrate(&[PathBuf::from(SHARE), PathBuf::from(ETC)]).unwrap();
    assert_eq!(a.yaml, b.yaml);
}

#[test]
fn default_inputs_without_debian_layering() {
    let root = tempfile::tempdir().unwrap();
    assert!(default_inputs(root.path()).is_empty());
    std::fs::create_dir_all(root.path().join("usr/local/etc")).unwrap();
    std::fs::write(root.path().join("usr/local/etc/amavisd.conf"), "1;\n").unwrap();
    assert_eq!(
        default_inputs(root.path()),
        vec![root.path().join("usr/local/etc/amavisd.conf")]
    );
    std::fs::create_dir_all(root.path().join("etc/amavis")).unwrap();
    std::fs::write(root.path().join("etc/amavis/amavisd.conf"), "1;\n").unwrap();
    assert_eq!(
        default_inputs(root.path()),
        vec![root.path().join("etc/amavis/amavisd.conf")]
    );
}

#[test]
fn amavisd_conf_default_changes_nothing() {
    need_package();
    let out = migrate(&[PathBuf::from(CONF_DEFAULT)]).unwrap();
    assert!(out.warnings.is_empty(), "{:#?}", out.warnings);
    let c = Config::from_yaml(&out.yaml, "d").unwrap();
    let d = Config::from_yaml("", "d").unwrap();
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        serde_json::to_value(&d).unwrap()
    );
}
