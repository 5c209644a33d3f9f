//! A real Postfix for the end-to-end tests.
//!
//! [`PostfixHarness::start`] runs a **private Postfix instance** (Debian's `postfix` package)
//! for one test: its own `config_directory`, `queue_directory` and `data_directory` under a
//! temp dir, listeners on 127.0.0.1 only, ports chosen at run time, log in a file of its own
//! (`maillog_file`, no syslogd needed). It is wired like the classic Debian how-to:
//!
//! - an inbound `smtpd` ([`PostfixHarness::inbound_port`]) with
//!   `content_filter = smtp-amavis:[127.0.0.1]:<filter_port>`;
//! - the `smtp-amavis` transport and the reinjection `smtpd`
//!   ([`PostfixHarness::reinject_port`]) taken **from `master.cf.snippet`** at the repository
//!   root, with 10024 replaced by the filter port and 10025 by the reinjection port;
//! - local delivery through **maildrop** with the how-to's `maildroprc`
//!   (`tests/common/maildroprc`): messages with `X-Spam-Flag: YES` go to `Maildir/.Junkmail`,
//!   others to `Maildir` ([`PostfixHarness::junk_new`], [`PostfixHarness::maildir_new`]).
//!
//! Delivered files are what the how-to's users get: local(8) prepends a `From sender date`
//! line, `Return-Path:`, `X-Original-To:` and `Delivered-To:`, and maildrop stores lines with
//! LF endings (it strips the CRs). Compare bodies modulo CRLF, after the headers.
//!
//! The recipient is [`PostfixHarness::recipient`] (`e2e-user@e2e.test`, an alias of the system
//! user `nobody`, so no user is created). maildrop finds its home in the passwd file in
//! delivery mode, so the harness runs it in manual mode instead
//! (`mailbox_command = /usr/bin/maildrop <home>/.mailfilter`, working directory `<home>`),
//! with the how-to's rules behind `DEFAULT="<home>/Maildir"`.
//! For load tests ([`PostfixHarness::send_session`], [`PostfixHarness::delivered_ids`]) see
//! `postfix/load.rs`.
//! Needs root (Postfix's master runs as root) and `postfix`, `maildrop`, `swaks`; without them
//! `start` panics with what to install. Queue retry times are 1 s, so deferred mail is retried
//! quickly. Dropping the harness stops Postfix and removes the temp dir; after a test panic the
//! dir (log in `maillog`, config in `etc/`) is kept and its path printed. Instances left running
//! by a killed test process are stopped by the next `start`.
//!
//! # Using an existing Postfix
//!
//! When `AMAVISD_RS_E2E_INBOUND_PORT` is set, `start` starts nothing and uses a Postfix that is
//! already running (for example `examples/postfix-container/`), wired with `master.cf.snippet`:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `AMAVISD_RS_E2E_INBOUND_PORT` | port of its smtpd that has `content_filter` set | (selects this mode) |
//! | `AMAVISD_RS_E2E_REINJECT_PORT` | its reinjection listener (the filter's `forward_method`) | required |
//! | `AMAVISD_RS_E2E_FILTER_PORT` | port its `content_filter` points at: the test's filter must listen there | 10024 |
//! | `AMAVISD_RS_E2E_HOST` | address of both listeners | 127.0.0.1 |
//! | `AMAVISD_RS_E2E_MAILDIR` | the recipient's `Maildir` as seen from the tests (readable) | required |
//! | `AMAVISD_RS_E2E_RCPT` | recipient address delivered into that Maildir | `e2e-user@e2e.test` |
//! | `AMAVISD_RS_E2E_MAILLOG` | Postfix's log file (`log_contains`, `wait_for_log`) | none: those panic |
//! | `AMAVISD_RS_E2E_POSTFIX_CMD` | prefix to run `postqueue` (`flush`, `queue_ids`), e.g. `docker exec amavisd-rs-e2e-postfix` | run locally |
//!
//! In that mode the filter port passed to `start` is ignored: tests must take it from
//! [`PostfixHarness::filter_port`], and run one at a time (`-- --test-threads=1`) since they
//! share that port. Tests count only their own messages (unique Message-IDs) and only log lines
//! written after `start`, so older mail does not disturb them.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod conf;
mod load;
mod util;
use conf::{base_master_cf, main_cf};
#[allow(unused_imports)]
pub use conf::{master_cf_from_snippet, snippet_content_filter, snippet_service_fields};
#[allow(unused_imports)]
pub use load::numbered_message;
use util::{KEPT_MARK, OWNER_FILE, env_port, reap_orphans, run, smtp_data, stop_postfix, text};
pub use util::{contains, free_port, wait_until};

/// What to do when the tools are missing (the tests never silently pass without Postfix).
pub const INSTALL_HINT: &str =
    "install postfix maildrop (apt-get install -y postfix maildrop swaks)";
/// The Postfix entries we ship; the private instance is built from them.
pub const SNIPPET: &str = include_str!("../../master.cf.snippet");
/// The how-to's maildrop rules (`/etc/maildroprc` in the how-to).
pub const HOWTO_MAILDROPRC: &str = include_str!("maildroprc");

/// Name prefix of private instances' temp dirs.
const DIR_PREFIX: &str = "amavisd-rs-postfix.";
/// Mail domain of the private instance and its one mailbox.
pub const DOMAIN: &str = "e2e.test";
const LOCAL_PART: &str = "e2e-user";
/// Existing non-root account that maildrop runs as (local(8) never delivers as root).
const DELIVERY_USER: &str = "nobody";

/// A Postfix to test against: a private instance (stopped and removed on drop) or an existing
/// one named by `AMAVISD_RS_E2E_*` variables.
pub struct PostfixHarness {
    host: String,
    inbound_port: u16,
    reinject_port: u16,
    filter_port: u16,
    recipient: String,
    maildir: PathBuf,
    log_file: Option<PathBuf>,
    /// Log length at start: searches only see what happened during this test.
    log_start: u64,
    /// Command prefix that runs Postfix tools, and the `-c DIR` they need.
    tool_prefix: Vec<String>,
    config_args: Vec<String>,
    private: Option<Instance>,
}

/// The private instance's files; the temp dir is kept when the test panics, for post-mortems.
struct Instance {
    root: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl PostfixHarness {
    /// Starts a private Postfix whose `content_filter` points at `127.0.0.1:filter_port`, or
    /// attaches to an existing one when `AMAVISD_RS_E2E_INBOUND_PORT` is set.
    pub fn start(filter_port: u16) -> PostfixHarness {
        match env_port("AMAVISD_RS_E2E_INBOUND_PORT") {
            Some(inbound) => Self::existing(inbound),
            None => Self::start_private(filter_port),
        }
    }

    /// Port of the smtpd that hands every message to the filter (where tests send mail).
    pub fn inbound_port(&self) -> u16 {
        self.inbound_port
    }
    /// Where the filter must reinject: `forward_method: smtp:[127.0.0.1]:<this>`.
    pub fn reinject_port(&self) -> u16 {
        self.reinject_port
    }
    /// The filter's `forward_method` for this Postfix: `smtp:[<host>]:<reinject_port>`.
    pub fn forward_method(&self) -> String {
        format!("smtp:[{}]:{}", self.host, self.reinject_port)
    }
    /// Port Postfix's `content_filter` sends to: the filter under test listens here.
    pub fn filter_port(&self) -> u16 {
        self.filter_port
    }
    /// Address of the listeners (127.0.0.1 unless `AMAVISD_RS_E2E_HOST` says otherwise).
    pub fn host(&self) -> &str {
        &self.host
    }
    /// Envelope recipient whose mail lands in [`Self::maildir_new`].
    pub fn recipient(&self) -> &str {
        &self.recipient
    }
    pub fn maildir_new(&self) -> PathBuf {
        self.maildir.join("new")
    }
    pub fn junk_new(&self) -> PathBuf {
        self.maildir.join(".Junkmail/new")
    }

    /// Sends `message` to the inbound smtpd and returns its final reply (asserted `250`).
    pub fn send(&self, from: &str, to: &str, message: &[u8]) -> String {
        self.send_to(self.inbound_port, from, to, message)
    }

    /// Sends `message` with swaks to `port` on [`Self::host`]; the bytes go out as given
    /// (swaks `--no-data-fixup`: no token or header rewriting), dot-stuffed here. Panics with
    /// swaks's transcript unless the end-of-data reply is `250`; returns that reply.
    pub fn send_to(&self, port: u16, from: &str, to: &str, message: &[u8]) -> String {
        let mut child = Command::new("swaks")
            .args(["--server", &self.host, "--port", &port.to_string()])
            .args(["--from", from, "--to", to, "--helo", "client.e2e.test"])
            .args(["--data", "-", "--no-data-fixup", "--suppress-data"])
            .args(["--timeout", "60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run swaks ({e}): {INSTALL_HINT}"));
        let mut stdin = child.stdin.take().expect("swaks stdin");
        let data = smtp_data(message);
        let writer = thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().expect("wait for swaks");
        let _ = writer.join();
        let transcript = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The end-of-data reply is the last server line before QUIT.
        let reply = transcript
            .lines()
            .take_while(|l| !l.starts_with(" -> QUIT"))
            .filter(|l| l.starts_with("<-") || l.starts_with("<**"))
            .last()
            .unwrap_or("")
            .trim_start_matches(['<', '-', '*', ' '])
            .to_string();
        assert!(
            out.status.success() && reply.starts_with("250"),
            "sending to {}:{port} was not accepted (swaks {}):\n{transcript}",
            self.host,
            out.status
        );
        reply
    }

    /// Every message now in a Maildir folder (`new` directory), oldest first.
    pub fn messages(&self, dir: &Path) -> Vec<Vec<u8>> {
        let mut names: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(e) => panic!("cannot read {}: {e}", dir.display()),
        };
        names.sort();
        names
            .iter()
            .map(|p| fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
            .collect()
    }

    /// Waits until `dir` holds at least `n` messages and returns all of them; panics with the
    /// Postfix log after `timeout`.
    pub fn wait_for_messages(&self, dir: &Path, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.wait_for_matching(dir, b"", n, timeout)
    }

    /// Like [`Self::wait_for_messages`], counting only messages that contain `needle` (a unique
    /// Message-ID, say), so a shared Maildir of an existing Postfix does not confuse the count.
    pub fn wait_for_matching(
        &self,
        dir: &Path,
        needle: &[u8],
        n: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<Vec<u8>> = self
                .messages(dir)
                .into_iter()
                .filter(|m| contains(m, needle))
                .collect();
            if found.len() >= n {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} message(s) containing {:?} in {} after {timeout:?}, expected {n}\n{}",
                    found.len(),
                    String::from_utf8_lossy(needle),
                    dir.display(),
                    self.diagnostics()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks Postfix to retry every queued message now (`postqueue -f`).
    pub fn flush(&self) {
        let out = self.postfix_tool("postqueue", &["-f"]);
        assert!(out.status.success(), "postqueue -f failed: {}", text(&out));
    }

    /// Queue IDs of every message in the queue (`postqueue -j`, as `mailq` lists them).
    pub fn queue_ids(&self) -> Vec<String> {
        let out = self.postfix_tool("postqueue", &["-j"]);
        assert!(out.status.success(), "postqueue -j failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("postqueue -j line {l:?}: {e}"));
                v["queue_id"].as_str().expect("queue_id").to_string()
            })
            .collect()
    }

    /// Waits until the queue is empty; false after `timeout`.
    pub fn wait_for_empty_queue(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.queue_ids().is_empty())
    }

    /// Postfix's log since this harness started.
    pub fn log(&self) -> String {
        let Some(path) = &self.log_file else {
            panic!("no Postfix log: set AMAVISD_RS_E2E_MAILLOG to Postfix's log file");
        };
        let bytes = fs::read(path).unwrap_or_default();
        let start = (self.log_start as usize).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log().contains(needle)
    }

    /// Waits until the log contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log_contains(needle))
    }

    /// Log and queue, for failure messages.
    pub fn diagnostics(&self) -> String {
        let log = match &self.log_file {
            Some(_) => self.log(),
            None => "(no log file: AMAVISD_RS_E2E_MAILLOG unset)".into(),
        };
        let queue = text(&self.postfix_tool("postqueue", &["-p"]));
        format!("--- Postfix log:\n{log}--- queue:\n{queue}")
    }

    /// Runs a Postfix command-line tool against this Postfix.
    fn postfix_tool(&self, tool: &str, args: &[&str]) -> Output {
        let mut cmd = match self.tool_prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(tool);
                c
            }
            None if self.private.is_some() => Command::new(Path::new("/usr/sbin").join(tool)),
            None => Command::new(tool),
        };
        cmd.args(&self.config_args)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): {INSTALL_HINT}"))
    }

    fn existing(inbound_port: u16) -> PostfixHarness {
        let need = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("AMAVISD_RS_E2E_INBOUND_PORT is set, so {name} must be set too")
            })
        };
        let reinject_port = env_port("AMAVISD_RS_E2E_REINJECT_PORT").unwrap_or_else(|| {
            panic!("AMAVISD_RS_E2E_INBOUND_PORT is set, so AMAVISD_RS_E2E_REINJECT_PORT must be set too")
        });
        let log_file = std::env::var_os("AMAVISD_RS_E2E_MAILLOG").map(PathBuf::from);
        let log_start = log_file
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        let tool_prefix = std::env::var("AMAVISD_RS_E2E_POSTFIX_CMD")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        PostfixHarness {
            host: std::env::var("AMAVISD_RS_E2E_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
            inbound_port,
            reinject_port,
            filter_port: env_port("AMAVISD_RS_E2E_FILTER_PORT").unwrap_or(10024),
            recipient: std::env::var("AMAVISD_RS_E2E_RCPT")
                .unwrap_or_else(|_| format!("{LOCAL_PART}@{DOMAIN}")),
            maildir: PathBuf::from(need("AMAVISD_RS_E2E_MAILDIR")),
            log_file,
            log_start,
            tool_prefix,
            config_args: vec![],
            private: None,
        }
    }

    fn start_private(filter_port: u16) -> PostfixHarness {
        for tool in [
            "/usr/sbin/postfix",
            "/usr/bin/maildrop",
            "/usr/bin/maildirmake",
        ] {
            assert!(Path::new(tool).exists(), "{tool} not found: {INSTALL_HINT}");
        }
        assert!(
            Command::new("swaks").arg("--version").output().is_ok(),
            "swaks not found: {INSTALL_HINT}"
        );
        let uid = fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        assert!(
            uid == 0,
            "a private Postfix needs root (its master runs as root); run the tests as root, or \
             point them at a running Postfix with AMAVISD_RS_E2E_INBOUND_PORT and friends \
             (see tests/common/postfix.rs)"
        );
        reap_orphans();
        // Postfix's daemons and maildrop (as `nobody`) must be able to reach the instance dir.
        let base = std::env::temp_dir();
        for dir in base.ancestors() {
            let mode = fs::metadata(dir).map(|m| m.mode()).unwrap_or(0);
            assert!(
                mode & 0o001 != 0,
                "{} is not searchable by other users, so Postfix cannot use a temp dir under \
                 it: set TMPDIR=/tmp",
                dir.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        fs::write(root.join(OWNER_FILE), std::process::id().to_string()).expect("owner file");
        // Postfix daemons and maildrop run as other users and must reach their files.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        let (config_dir, queue_dir) = (root.join("etc"), root.join("queue"));
        let (data_dir, home) = (root.join("data"), root.join("home"));
        for d in [&config_dir, &queue_dir, &data_dir, &home] {
            fs::create_dir(d).expect("mkdir");
        }
        run(Command::new("chown").arg("postfix:").arg(&data_dir));

        // The mailbox, made the way the how-to says.
        let maildir = home.join("Maildir");
        run(Command::new("maildirmake").arg(&maildir));
        run(Command::new("maildirmake")
            .args(["-f", "Junkmail"])
            .arg(&maildir));
        let rules = HOWTO_MAILDROPRC.replace(
            "/var/log/maildrop",
            &home.join("maildrop.log").to_string_lossy(),
        );
        let mailfilter = home.join(".mailfilter");
        fs::write(
            &mailfilter,
            format!("DEFAULT=\"{}\"\n{rules}", maildir.display()),
        )
        .expect("write .mailfilter");
        // maildrop refuses a filter file with group or other permissions.
        fs::set_permissions(&mailfilter, fs::Permissions::from_mode(0o600)).expect("chmod");
        run(Command::new("chown")
            .args(["-R", &format!("{DELIVERY_USER}:")])
            .arg(&home));

        let inbound_port = free_port();
        let reinject_port = free_port();
        let log_file = root.join("maillog");
        let main_cf = main_cf(&root, &queue_dir, &data_dir, &home, &log_file, filter_port);
        fs::write(config_dir.join("main.cf"), main_cf).expect("write main.cf");
        let master_cf = format!(
            "{}\n# ---- from master.cf.snippet ----\n{}",
            base_master_cf(inbound_port),
            master_cf_from_snippet(SNIPPET, reinject_port)
        );
        fs::write(config_dir.join("master.cf"), master_cf).expect("write master.cf");

        let harness = PostfixHarness {
            host: "127.0.0.1".into(),
            inbound_port,
            reinject_port,
            filter_port,
            recipient: format!("{LOCAL_PART}@{DOMAIN}"),
            maildir,
            log_file: Some(log_file),
            log_start: 0,
            tool_prefix: vec![],
            config_args: vec!["-c".into(), config_dir.to_string_lossy().into_owned()],
            private: Some(Instance {
                root,
                dir: Some(dir),
            }),
        };
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(&config_dir)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run postfix ({e}): {INSTALL_HINT}"));
        assert!(
            out.status.success(),
            "postfix start failed: {}\n{}",
            text(&out),
            harness.diagnostics()
        );
        for port in [inbound_port, reinject_port] {
            assert!(
                wait_until(Duration::from_secs(20), || {
                    TcpStream::connect(("127.0.0.1", port)).is_ok()
                }),
                "Postfix did not listen on 127.0.0.1:{port}\n{}",
                harness.diagnostics()
            );
        }
        harness
    }
}

impl Drop for PostfixHarness {
    fn drop(&mut self) {
        let Some(instance) = self.private.as_mut() else {
            return;
        };
        stop_postfix(&instance.root);
        if thread::panicking()
            && let Some(dir) = instance.dir.take()
        {
            let kept = dir.keep();
            let _ = fs::write(kept.join(KEPT_MARK), "");
            eprintln!("private Postfix kept for inspection: {}", kept.display());
        }
    }
}
