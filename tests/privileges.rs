//! `daemon_user` / `daemon_group` with the real binary started as root (as
//! here and in CI): ports bound, then root dropped before accepting; spool
//! files and quarantine written as that user; clear start-up errors for an
//! unknown user or a tempbase it cannot write; ignored when not root.

mod support;

use nix::unistd::{User, geteuid};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn root() -> bool {
    if !geteuid().is_root() {
        eprintln!("skipped: privilege tests need root (CI runs them as root)");
        return false;
    }
    true
}

fn nobody() -> User {
    User::from_name("nobody").unwrap().expect("user nobody")
}

/// A directory owned by nobody, mode 0700.
fn nobody_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let u = nobody();
    std::os::unix::fs::chown(d.path(), Some(u.uid.as_raw()), Some(u.gid.as_raw())).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

fn write_config(dir: &Path, port: u16, downstream: u16, extra: &str) -> PathBuf {
    let p = dir.join("amavis-compat.yaml");
    std::fs::write(
        &p,
        format!(
            "inet_socket_port: {port}\nforward_method: 'smtp:[127.0.0.1]:{downstream}'\nmyhostname: mx.example.com\nlocal_domains_acl: ['.example.com']\nsa_tag_level_deflt: -999\nsa_tag2_level_deflt: 5.0\nsa_kill_level_deflt: 999\nfinal_spam_destiny: D_PASS\n{extra}"
        ),
    )
    .unwrap();
    p
}

/// Wait for the process to exit (at most 30 s); its status and stderr.
/// `serve -c cfg` expected to refuse to start: its success and stderr.
fn serve_until_exit(cfg: &std::path::Path) -> (bool, String) {
    finished(
        Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
            .args(["serve", "-c"])
            .arg(cfg)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn finished(mut child: Child) -> (bool, String) {
    for _ in 0..300 {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.success(), err);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    panic!("the binary kept running");
}

fn status_line(pid: u32, key: &str) -> Vec<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with(key)).unwrap();
    l[key.len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_start_drops_to_daemon_user_and_writes_as_it() {
    if !root() {
        return;
    }
    let u = nobody();
    let (uid, gid) = (u.uid.as_raw(), u.gid.as_raw());
    let d = Downstream::start(Mode::Accept).await;
    let conf = tempfile::tempdir().unwrap();
    let temp = nobody_dir();
    let quarantine = nobody_dir();
    let port = free_port();
    let cfg = write_config(
        conf.path(),
        port,
        d.port,
        &format!(
            "daemon_user: nobody\ndaemon_group: nogroup\ntempbase: '{}'\nspool_memory_threshold: 0\nquarantinedir: '{}'\npid_file: '{}/amavisd.pid'\n",
            temp.path().display(),
            quarantine.path().display(),
            temp.path().display()
        ),
    );
    let child = Killed(
        Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
            .args(["serve", "-c"])
            .arg(&cfg)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // The greeting comes from an accepted session: by then root is gone.
    assert!(wait_accepting(addr, 200).await, "filter did not start");
    let mut c = Client::hello(addr).await;
    assert_eq!(status_line(pid, "Uid:"), [uid; 4]);
    assert_eq!(status_line(pid, "Gid:"), [gid; 4]);
    assert_eq!(status_line(pid, "Groups:"), [gid]);
    // The pid file, written as root, now belongs to the daemon user.
    let pf = temp.path().join("amavisd.pid");
    assert_eq!(std::fs::read_to_string(&pf).unwrap(), format!("{pid}\n"));
    let m = std::fs::metadata(&pf).unwrap();
    assert_eq!((m.uid(), m.gid()), (uid, gid));

    // Mid-DATA the body is in a 0600 spool file owned by nobody.
    c.cmd("MAIL FROM:<alice@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(&message("Cheap meds, act now", &format!("{GTUBE}\r\n")))
        .await;
    // Spool files have no name (so a killed filter leaves none behind):
    // find the one the filter holds open under tempbase.
    let mut spool = None;
    for _ in 0..100 {
        spool = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(temp.path())))
            .find_map(|e| std::fs::metadata(e.path()).ok());
        if spool.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let meta = spool.expect("an open spool file under tempbase");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(d.completed().len(), 1);
    assert!(String::from_utf8_lossy(&d.completed()[0].data).starts_with("X-Quarantine-ID: <"));

    // The quarantine: subdirectory 0700 and file 0600, both nobody's.
    let sub = std::fs::read_dir(quarantine.path())
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("quarantine subdirectory");
    let m = sub.metadata().unwrap();
    assert_eq!(m.mode() & 0o777, 0o700);
    assert_eq!((m.uid(), m.gid()), (uid, gid));
    let file = std::fs::read_dir(sub.path())
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    let m = file.metadata().unwrap();
    assert_eq!(m.mode() & 0o777, 0o600);
    assert_eq!((m.uid(), m.gid()), (uid, gid));
}

#[test]
fn unknown_daemon_user_is_refused_at_start() {
    if !root() {
        return;
    }
    let conf = tempfile::tempdir().unwrap();
    let cfg = write_config(
        conf.path(),
        free_port(),
        free_port(),
        "daemon_user: no-such-user-amavisd-rs\n",
    );
    let (ok, err) = serve_until_exit(&cfg);
    assert!(!ok);
    assert!(
        err.contains(
            "daemon_user: no such user `no-such-user-amavisd-rs`; refusing to run as root"
        ),
        "{err}"
    );
}

#[test]
fn tempbase_not_writable_by_daemon_user_is_a_start_error() {
    if !root() {
        return;
    }
    let conf = tempfile::tempdir().unwrap();
    // Root's 0700 directory: nobody cannot write there.
    let temp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        conf.path(),
        free_port(),
        free_port(),
        &format!(
            "daemon_user: nobody\ntempbase: '{}'\n",
            temp.path().display()
        ),
    );
    let (ok, err) = serve_until_exit(&cfg);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "tempbase: {} is not writable by uid {}",
            temp.path().display(),
            nobody().uid
        )),
        "{err}"
    );
}

#[test]
fn non_root_start_ignores_daemon_user_with_a_log_line() {
    if !root() {
        return;
    }
    // Start as nobody (setpriv, util-linux); daemon_user names a user that
    // does not even exist: not root, so it is only logged.
    let conf = nobody_dir();
    let cfg = write_config(
        conf.path(),
        free_port(),
        free_port(),
        &format!(
            "daemon_user: no-such-user-amavisd-rs\ntempbase: '{}'\n",
            conf.path().display()
        ),
    );
    std::os::unix::fs::chown(&cfg, Some(nobody().uid.as_raw()), None).unwrap();
    let mut child = Killed(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_amavisd-rs"))
            .args(["serve", "-c"])
            .arg(&cfg)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = child.0.stderr.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                return;
            }
            s2.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let want = format!(
        "not started as root (uid {}): daemon_user/daemon_group ignored",
        nobody().uid
    );
    for _ in 0..200 {
        if seen.lock().unwrap().contains(&want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&want), "{seen}");
    assert!(child.0.try_wait().unwrap().is_none(), "{seen}");
}

#[test]
fn check_config_names_an_unknown_daemon_user() {
    let conf = tempfile::tempdir().unwrap();
    let cfg = write_config(
        conf.path(),
        free_port(),
        free_port(),
        "daemon_user: no-such-user-amavisd-rs\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("daemon_user: no such user `no-such-user-amavisd-rs`"),
        "{err}"
    );
}
