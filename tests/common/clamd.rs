//! Starts a real clamd (Debian `clamav-daemon`) for a test: its own temp
//! dir, unix socket, loopback TCP port and a signature database holding
//! only EICAR, so no virus database download is needed.
//!
//! Use from a test crate with `mod common;` where `tests/common/mod.rs`
//! declares `pub mod clamd;`, then `let c = common::clamd::ClamdProcess::start("1M");`.
//! The process is killed (by its own pid) when the value drops. Failure tests kill it
//! ([`ClamdProcess::kill`]), start it again on the same socket ([`ClamdProcess::restart`]) or
//! freeze it ([`ClamdProcess::pause`], [`ClamdProcess::resume`]).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLAMD: &str = "/usr/sbin/clamd";

/// The 68-byte EICAR test string.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The name clamd reports for our signature (amavisd-behaviour.md).
pub const EICAR_NAME: &str = "Eicar-Test-Signature.UNOFFICIAL";

/// A running clamd owned by the test.
pub struct ClamdProcess {
    child: Child,
    pub dir: tempfile::TempDir,
    /// Unix socket path.
    pub socket: PathBuf,
    /// `127.0.0.1:PORT`.
    pub tcp: String,
    conf: PathBuf,
}

impl ClamdProcess {
    /// Start clamd with `StreamMaxLength` = `stream_max` (clamd syntax,
    /// e.g. "1M") and wait until it answers PING. Panics, naming the Debian
    /// package, when clamd is not installed: these tests never pass silently.
    pub fn start(stream_max: &str) -> ClamdProcess {
        assert!(
            Path::new(CLAMD).exists(),
            "{CLAMD} not found: the clamd tests need a real clamd, run `apt-get install clamav-daemon`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        // Body signature (any file type, anywhere) ...
        let hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            db.join("eicar.ndb"),
            format!("Eicar-Test-Signature:0:*:{hex}\n"),
        )
        .unwrap();
        // ... and whole-file hash of the bare 68 bytes.
        std::fs::write(
            db.join("eicar.hdb"),
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
        )
        .unwrap();
        let socket = dir.path().join("clamd.sock");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.path().join("clamd.conf");
        let mut f = std::fs::File::create(&conf).unwrap();
        writeln!(
            f,
            "Foreground yes\nLocalSocket {}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n\
             DatabaseDirectory {}\nStreamMaxLength {stream_max}\nLogFile {}\n\
             LogVerbose yes\nScanMail yes\nScanArchive yes\nMaxThreads 4\n\
             SelfCheck 0\nBytecode no\n",
            socket.display(),
            db.display(),
            dir.path().join("clamd.log").display(),
        )
        .unwrap();
        let child = spawn(&conf);
        let mut me = ClamdProcess {
            child,
            dir,
            socket,
            tcp: format!("127.0.0.1:{port}"),
            conf,
        };
        me.wait_ready();
        me
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("clamd exited early ({status}); log:\n{}", self.log());
            }
            if ping(&self.socket) && std::net::TcpStream::connect(&self.tcp).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "clamd did not answer PING within 60 s; log:\n{}",
            self.log()
        );
    }

    /// clamd's log file, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    pub fn socket_str(&self) -> String {
        self.socket.display().to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: clamd dies at once, its socket file stays behind (as after a crash or an OOM
    /// kill).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts clamd again with the same configuration (socket, port, database) and waits
    /// until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.conf);
        self.wait_ready();
    }

    /// SIGSTOP: the kernel still accepts connections on clamd's sockets but nothing answers,
    /// which is what a hung or overloaded clamd looks like to a client.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {} failed", self.child.id());
    }
}

fn spawn(conf: &Path) -> Child {
    Command::new(CLAMD)
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn clamd")
}

fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"PONG")
}

impl Drop for ClamdProcess {
    fn drop(&mut self) {
        // A paused clamd must be woken to die promptly and release its sockets.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
