//! A 50 MB message through the real binary: spooled to a 0600 temp file and
//! streamed out, so the filter's peak memory stays flat.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabyte_message_with_flat_memory() {
    let d = Downstream::start_with(Mode::Accept, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("amavis-compat.yaml");
    std::fs::write(
        &cfg,
        format!(
            // Built-in rules (empty rules dir): SpamAssassin's full set would
            // build its lazily compiled regexes during this first message and
            // blur what is measured here: the spool and the transport.
            "inet_socket_port: {port}\nforward_method: 'smtp:[127.0.0.1]:{}'\ntempbase: '{}'\nmyhostname: mx.example.com\nsa_rules_dirs: ['{}']\n",
            d.port,
            dir.path().display(),
            rules.path().display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
        .args(["serve", "-c"])
        .arg(&cfg)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_accepting(addr, 100).await, "filter did not start");
    let mut c = Client::hello(addr).await;
    let pid = child.id();
    let base = proc_status_kb(pid, "VmRSS:");
    c.cmd("MAIL FROM:<a@example.org>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(&message("big", "")).await;
    let block = format!("{}\r\n", "y".repeat(998)).repeat(1000); // 1 MB
    let (mut named_mid, mut spool_modes) = (0, vec![]);
    for i in 0..50 {
        c.send(block.as_bytes()).await;
        if i == 25 {
            // Mid-message: the body is in a 0600 file under tempbase, open in the filter
            // but without a name (so a crash cannot leave it behind).
            named_mid = named_spool_files(dir.path());
            spool_modes = spool_fds(pid, dir.path());
        }
    }
    c.send(b".\r\n").await;
    let r = c.reply().await;
    let peak = proc_status_kb(pid, "VmHWM:");
    // The session may drop the spool just after it replied: give it a moment.
    let mut open_after = spool_fds(pid, dir.path()).len();
    for _ in 0..100 {
        if open_after == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        open_after = spool_fds(pid, dir.path()).len();
    }
    child.kill().ok();
    child.wait().ok();
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(
        spool_modes,
        vec![0o600],
        "body not spooled to one 0600 file in tempbase"
    );
    assert_eq!(named_mid, 0, "spool file has a name in tempbase");
    // The spool file is closed (and so gone) after the message.
    assert_eq!(open_after, 0, "spool file still open after the message");
    assert!(d.completed()[0].data_len > 50_000_000);
    let grown_mb = peak.saturating_sub(base) / 1024;
    assert!(
        grown_mb < 16,
        "filter peak RSS grew by {grown_mb} MB for a 50 MB message (base {base} kB)"
    );
}

/// Files in tempbase other than the test's configuration.
fn named_spool_files(tempbase: &std::path::Path) -> usize {
    std::fs::read_dir(tempbase)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "amavis-compat.yaml")
        .count()
}

/// Permission bits of each file under `tempbase` that process `pid` has open.
fn spool_fds(pid: u32, tempbase: &std::path::Path) -> Vec<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(tempbase)))
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .map(|m| m.permissions().mode() & 0o777)
        .collect()
}
