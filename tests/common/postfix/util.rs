//! Process, port and polling helpers of the Postfix harness.

use super::{DIR_PREFIX, INSTALL_HINT};
use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Stops the private Postfix under `root` (by its master's pid file) and waits for the master
/// to exit.
pub(super) fn stop_postfix(root: &Path) {
    let master_pid = fs::read_to_string(root.join("queue/pid/master.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let postfix = |action: &str| {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(root.join("etc"))
            .arg(action)
            .output();
    };
    let Some(pid) = master_pid.filter(|pid| alive(*pid)) else {
        return;
    };
    postfix("stop");
    if !wait_until(Duration::from_secs(10), || !alive(pid)) {
        postfix("abort");
        wait_until(Duration::from_secs(5), || !alive(pid));
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// File in an instance's dir naming the test process that owns it.
pub(super) const OWNER_FILE: &str = "owner.pid";
/// File marking an instance's dir as kept after a failure.
pub(super) const KEPT_MARK: &str = "KEPT-after-failure";

/// Stops private instances whose test process died without cleaning up (killed by a timeout,
/// say), once per process, and removes their dirs unless kept after a failure.
pub(super) fn reap_orphans() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for dir in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let owner = fs::read_to_string(dir.join(OWNER_FILE));
            let owner = owner.ok().and_then(|s| s.trim().parse::<u32>().ok());
            if !name.starts_with(DIR_PREFIX) || owner.is_none_or(alive) {
                continue;
            }
            stop_postfix(&dir);
            if !dir.join(KEPT_MARK).exists() {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    });
}

/// DATA for swaks `--no-data-fixup`: dot-stuffed, ending in CRLF and the final dot (swaks
/// adds the last CRLF itself).
pub(super) fn smtp_data(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.push(b'.');
    out
}

/// A loopback port nothing listens on now; never the same one twice in this process.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if handed.insert(port) {
            return port;
        }
    }
}

/// Polls `cond` every 100 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `haystack` contains `needle` (the empty needle is in everything).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn env_port(name: &str) -> Option<u16> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a port number")),
    )
}

pub(super) fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}): {INSTALL_HINT}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", text(&out));
}

pub(super) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
