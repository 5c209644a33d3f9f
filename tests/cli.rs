//! The CLI and the shipped configuration file.

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
