//! A 50 MB message through the real binary: spooled to a 0600 temp file and
//! streamed out, so the filter's peak memory stays flat.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    let mut c = None;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            c = Some(Client::hello(addr).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut c = c.expect("filter did not start");
    let pid = child.id();
    let base = status_kb(pid, "VmRSS:");
    c.cmd("MAIL FROM:<a@example.org>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(&message("big", "")).await;
    let block = format!("{}\r\n", "y".repeat(998)).repeat(1000); // 1 MB
    let mut saw_spool_file = false;
    for i in 0..50 {
        c.send(block.as_bytes()).await;
        if i == 25 {
            // Mid-message: the body is in a 0600 file under tempbase.
            for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with("amavisd-rs-") {
                    use std::os::unix::fs::PermissionsExt;
                    assert_eq!(e.metadata().unwrap().permissions().mode() & 0o777, 0o600);
                    saw_spool_file = true;
                }
            }
        }
    }
    c.send(b".\r\n").await;
    let r = c.reply().await;
    let peak = status_kb(pid, "VmHWM:");
    child.kill().ok();
    child.wait().ok();
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert!(saw_spool_file, "body was not spooled to tempbase");
    assert!(d.completed()[0].data_len > 50_000_000);
    let grown_mb = peak.saturating_sub(base) / 1024;
    assert!(
        grown_mb < 16,
        "filter peak RSS grew by {grown_mb} MB for a 50 MB message (base {base} kB)"
    );
    // The spool file is gone after the message.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("amavisd-rs-"))
        .collect();
    assert!(left.is_empty(), "spool files left behind");
}
