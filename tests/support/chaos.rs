//! Pieces of the chaos tests that stand between real parts: the filter binary as a process
//! that can be killed and restarted, and a gate that takes a real server's port down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The real `amavisd-rs serve` binary as a child process: crash tests need a filter they can
/// `kill -9` and start again on the same port and configuration, as init would.
pub struct FilterProcess {
    child: std::process::Child,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
    port: u16,
    /// How many times the binary was started (1 + restarts).
    pub starts: usize,
}

impl FilterProcess {
    /// Starts `amavisd-rs serve -c config` (which listens on 127.0.0.1:`port`), its stderr
    /// appended to `log`, and waits until it accepts connections.
    pub fn start(config: &std::path::Path, port: u16, log: &std::path::Path) -> FilterProcess {
        let child = Self::spawn(config, log);
        let mut me = FilterProcess {
            child,
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            port,
            starts: 1,
        };
        me.wait_listening();
        me
    }

    fn spawn(config: &std::path::Path, log: &std::path::Path) -> std::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("filter log file");
        std::process::Command::new(env!("CARGO_BIN_EXE_amavisd-rs"))
            .args(["serve", "-c"])
            .arg(config)
            // `wait_listening` reads the info-level `listening on` line.
            .env("AMAVISD_RS_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn amavisd-rs serve")
    }

    /// Waits for this start's `listening on` log line rather than probing the port: a probe
    /// would hold one of the `max_servers` slots that Postfix is retrying against.
    fn wait_listening(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let line = format!("listening on 127.0.0.1:{}", self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "amavisd-rs exited at start ({status}):\n{}",
                    self.log_text()
                );
            }
            if self.log_text().matches(&line).count() >= self.starts {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "amavisd-rs did not listen on port {} within 60 s:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (not exited since it was started).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL (`kill -9`): no shutdown code runs, sessions die mid-transaction.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the binary again with the same configuration and waits until it listens.
    pub fn restart(&mut self) {
        self.kill9();
        self.child = Self::spawn(&self.config, &self.log);
        self.starts += 1;
        self.wait_listening();
    }

    /// Everything the filter wrote to stderr/stdout, over all its starts.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FilterProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A TCP forwarder in front of a real server, so a test can take that server's port down
/// and back: `down()` closes the port (connections refused) and cuts every open connection,
/// as when the server's processes die; `up()` listens on the same port again. Used for
/// Postfix's reinjection listener, which `postfix reload` cannot stop without also
/// restarting Postfix's queue manager.
pub struct Gate {
    pub port: u16,
    state: Arc<GateState>,
}

struct GateState {
    target: SocketAddr,
    open: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
    conns: Mutex<Vec<std::net::TcpStream>>,
}

impl Gate {
    /// Forwards a free loopback port to `target`; open at once.
    pub fn start(target: SocketAddr) -> Gate {
        let port = super::free_port();
        let state = Arc::new(GateState {
            target,
            open: true.into(),
            stop: false.into(),
            conns: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        std::thread::spawn(move || gate_loop(port, &s));
        let gate = Gate { port, state };
        gate.wait_reachable(true);
        gate
    }

    /// Closes the port and cuts all connections through it; returns once connects fail.
    pub fn down(&self) {
        self.state
            .open
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.wait_reachable(false);
    }

    /// Listens again; returns once connects succeed.
    pub fn up(&self) {
        self.state
            .open
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wait_reachable(true);
    }

    fn wait_reachable(&self, want: bool) {
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("gate port {} did not become reachable={want}", self.port);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn gate_loop(port: u16, s: &GateState) {
    use std::sync::atomic::Ordering::SeqCst;
    let mut listener: Option<std::net::TcpListener> = None;
    while !s.stop.load(SeqCst) {
        let open = s.open.load(SeqCst);
        if open && listener.is_none() {
            let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind gate port");
            l.set_nonblocking(true).expect("nonblocking");
            listener = Some(l);
        }
        if !open && listener.take().is_some() {
            for c in s.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
        match listener.as_ref().map(|l| l.accept()) {
            Some(Ok((client, _))) => {
                let _ = client.set_nonblocking(false);
                if let Ok(server) = std::net::TcpStream::connect(s.target) {
                    let mut conns = s.conns.lock().unwrap();
                    conns.push(client.try_clone().expect("clone"));
                    conns.push(server.try_clone().expect("clone"));
                    pipe(
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    );
                    pipe(server, client);
                }
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for c in s.conns.lock().unwrap().drain(..) {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
}

/// Copies `from` → `to` on a thread; at the end (either side closed) both are shut down.
fn pipe(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = from.shutdown(std::net::Shutdown::Both);
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}
