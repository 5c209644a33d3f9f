//! The CLI and the shipped configuration file.

mod common;

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
}

#[test]
fn shipped_config_is_valid() {
    let out = bin()
        .args(["check-config", "amavis-compat.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shipped_config_documents_every_key() {
    let text = std::fs::read_to_string("amavis-compat.yaml").unwrap();
    let defaults = serde_saphyr::to_string(&amavisd_rs::config::Config::default()).unwrap();
    let mut missing = Vec::new();
    for line in defaults.lines() {
        if line.starts_with(' ') || line.starts_with('-') || !line.contains(':') {
            continue;
        }
        let key = line.split(':').next().unwrap();
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.starts_with(&format!("{key}:"))
        });
        if !documented {
            missing.push(key.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "keys not in amavis-compat.yaml: {missing:?}"
    );
    // And every documented line carries a comment.
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
    {
        assert!(l.contains('#'), "uncommented key line: {l}");
    }
}

#[test]
fn check_config_names_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "max_servers: 2\n\ninet_socket_prot: 10024\n").unwrap();
    let out = bin().arg("check-config").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:3:1: inet_socket_prot: ", p.display())),
        "{err}"
    );
}

#[test]
fn check_config_pings_clamd() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(
        &p,
        "av_scanners: [{name: ClamAV-clamd, socket: /nonexistent/clamd.ctl}]\n",
    )
    .unwrap();
    let out = bin().arg("check-config").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("virus scanner ClamAV-clamd: NOT RESPONDING")
    );
    let clamd = common::clamd::ClamdProcess::start("10M");
    std::fs::write(
        &p,
        format!(
            "av_scanners: [{{name: ClamAV-clamd, socket: '{}'}}]\n",
            clamd.socket_str()
        ),
    )
    .unwrap();
    let out = bin().arg("check-config").arg(&p).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("virus scanner ClamAV-clamd: OK (ClamAV "),
        "{stdout}"
    );
}

#[test]
fn scan_reports_json_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "sa_tag2_level_deflt: 5\nsa_kill_level_deflt: 10\n").unwrap();
    let spam = dir.path().join("gtube.eml");
    std::fs::write(
        &spam,
        "Subject: x\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n",
    )
    .unwrap();
    let ham = dir.path().join("ham.eml");
    std::fs::write(
        &ham,
        "From: a@example.org\r\nDate: Wed, 25 Nov 2026 21:16:27 +0000\r\nSubject: hello\r\n\r\nhi\r\n",
    )
    .unwrap();
    let out = bin()
        .args(["scan", "--format", "json", "-c"])
        .arg(&cfg)
        .arg(&spam)
        .arg(&ham)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["category"], "SPAM");
    assert!(lines[0]["score"].as_f64().unwrap() >= 1000.0);
    assert!(lines[0]["tests"]["GTUBE"].as_f64().is_some());
    assert_eq!(lines[0]["required"], 5.0);
    assert_eq!(lines[1]["category"], "CLEAN");
    for k in ["file", "virus", "banned"] {
        assert!(lines[1].get(k).is_some(), "{k}");
    }
}

#[test]
fn migrate_writes_yaml_that_check_config_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.yaml");
    let r = bin()
        .args(["migrate", "tests/fixtures/migrate/seed-howto.conf", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let warnings = String::from_utf8_lossy(&r.stderr);
    assert!(warnings.contains("$SYSLOG_LEVEL was retired"), "{warnings}");
    let cfg = amavisd_rs::config::Config::load(&out).unwrap();
    assert_eq!(
        cfg.final_banned_destiny,
        amavisd_rs::config::Destiny::Reject
    );
    // A template that is not Perl: exit 2 naming the line.
    let t = dir.path().join("amavisd.conf");
    std::fs::write(
        &t,
        "use strict;\n$mydomain = '{{ domain }}';\n{% if x %}\n1;\n",
    )
    .unwrap();
    let r = bin().arg("migrate").arg(&t).output().unwrap();
    assert_eq!(
        r.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}
