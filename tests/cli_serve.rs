//! `amavisd-rs serve` as a process: SIGHUP swaps in a changed configuration
//! (an invalid one is refused and the old one kept), SIGTERM stops it.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn config(port: u16, sink: u16, destiny: &str) -> String {
    format!(
        "inet_socket_port: {port}\nforward_method: 'smtp:[127.0.0.1]:{sink}'\nmyhostname: mx.example.com\nsa_tag2_level_deflt: 5\nsa_kill_level_deflt: 5\nfinal_spam_destiny: {destiny}\n"
    )
}

async fn send_gtube(addr: std::net::SocketAddr) -> String {
    let mut c = Client::hello(addr).await;
    let r = c
        .transaction(
            "a@example.org",
            &["b@example.com"],
            &message("gtube", &format!("{GTUBE}\r\n")),
        )
        .await;
    c.cmd("QUIT").await;
    r
}

/// SIGTERM, then up to 10 s for the exit; `None` (and SIGKILL) if it hangs.
async fn terminate(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    for _ in 0..100 {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().ok();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_stops() {
    let d = Downstream::start(Mode::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("amavis-compat.yaml");
    let port = free_port();
    std::fs::write(&path, config(port, d.port, "D_DISCARD")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
        .args(["serve", "-c"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_accepting(addr, 200).await, "filter did not start");
    let r = send_gtube(addr).await;
    assert!(r.starts_with("250 2.7.0 Ok, discarded"), "{r}");

    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    // A broken file is refused: the old configuration stays in force.
    std::fs::write(&path, "final_spam_destiny: D_NOPE\n").unwrap();
    hup(child.id());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = send_gtube(addr).await;
    assert!(r.starts_with("250 2.7.0 Ok, discarded"), "{r}");

    // A valid change takes effect for the next message.
    std::fs::write(&path, config(port, d.port, "D_REJECT")).unwrap();
    hup(child.id());
    let mut last = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        last = send_gtube(addr).await;
        if last.starts_with("554 ") {
            break;
        }
    }
    assert!(last.starts_with("554 5.7.0 Reject, id="), "{last}");

    assert!(
        terminate(&mut child).await.is_some(),
        "SIGTERM did not stop the filter"
    );
}

/// `pid_file`: our pid while serving, gone after SIGTERM; a pid file that
/// names another running process stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_file_written_then_removed_and_a_live_one_refused() {
    let d = Downstream::start(Mode::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_path = dir.path().join("amavisd.pid");
    let path = dir.path().join("amavis-compat.yaml");
    let port = free_port();
    let cfg = format!(
        "{}pid_file: {}\n",
        config(port, d.port, "D_DISCARD"),
        pid_path.display()
    );
    std::fs::write(&path, &cfg).unwrap();

    // A file naming a live process (this test) is refused, and kept.
    std::fs::write(&pid_path, format!("{}\n", std::process::id())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
        .args(["serve", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pid_file") && err.contains("running"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&pid_path).unwrap().trim(),
        std::process::id().to_string()
    );

    // A stale one (no such process) is replaced by ours.
    std::fs::write(&pid_path, "999999999\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
        .args(["serve", "-c"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_accepting(addr, 200).await, "filter did not start");
    assert_eq!(
        std::fs::read_to_string(&pid_path).unwrap(),
        format!("{}\n", child.id())
    );
    assert!(
        terminate(&mut child).await.is_some_and(|s| s.success()),
        "SIGTERM did not stop it cleanly"
    );
    assert!(!pid_path.exists(), "pid file left behind");
}
