//! Shared pieces of the wire tests: the filter started in-process on a free
//! port, a raw SMTP test client, and a stand-in downstream for fault
//! injection (refusals, 451 after DATA, per-recipient 550, hangs).
#![allow(dead_code)]

use amavisd_rs::config::Config;
use amavisd_rs::pipeline::Runtime;
use amavisd_rs::smtp::server::{Server, ShutdownHandle};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A running filter; dropped = shut down.
pub struct Filter {
    pub addr: SocketAddr,
    pub handle: ShutdownHandle,
}

impl Drop for Filter {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Start the filter with `yaml` (port and forward_method are filled in).
pub async fn start_filter(yaml: &str, downstream: u16) -> Filter {
    let mut text = format!(
        "inet_socket_port: 0\nforward_method: 'smtp:[127.0.0.1]:{downstream}'\nmyhostname: mx.example.com\nmydomain: example.com\n"
    );
    text.push_str(yaml);
    let cfg = Config::from_yaml(&text, "test.yaml").expect("test config");
    let rt = Runtime::build(cfg).await.expect("runtime");
    let server = Server::bind(rt).await.expect("bind");
    let addr = server.local_addrs()[0];
    let handle = server.shutdown_handle();
    tokio::spawn(server.run());
    Filter { addr, handle }
}

/// A raw SMTP client that reads whole replies.
pub struct Client {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.expect("connect");
        let (r, w) = s.into_split();
        Client {
            r: BufReader::new(r),
            w,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.expect("write");
    }

    /// One complete (possibly multi-line) reply, lines joined with `\n`.
    pub async fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.r.read_line(&mut line))
                .await
                .expect("reply within 20 s")
                .expect("read");
            if n == 0 {
                out.push_str("<EOF>");
                return out;
            }
            let l = line.trim_end_matches(['\r', '\n']);
            out.push_str(l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return out;
            }
            out.push('\n');
        }
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// EHLO + greeting.
    pub async fn hello(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr).await;
        let g = c.reply().await;
        assert!(g.starts_with("220 "), "{g}");
        let e = c.cmd("EHLO mx.example.com").await;
        assert!(e.starts_with("250-"), "{e}");
        c
    }

    /// MAIL, RCPTs, DATA, body (dot-stuffed by the caller), returns the final reply.
    pub async fn transaction(&mut self, from: &str, rcpts: &[&str], stuffed_body: &[u8]) -> String {
        let r = self.cmd(&format!("MAIL FROM:<{from}>")).await;
        assert!(r.starts_with("250"), "{r}");
        for rc in rcpts {
            let r = self.cmd(&format!("RCPT TO:<{rc}>")).await;
            assert!(r.starts_with("250"), "{r}");
        }
        let r = self.cmd("DATA").await;
        assert!(r.starts_with("354"), "{r}");
        self.send(stuffed_body).await;
        self.send(b".\r\n").await;
        self.reply().await
    }

    pub async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.r.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// What a stand-in downstream does.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Accept everything: `250 2.0.0 Ok: queued as N`.
    Accept,
    /// Reply to end of DATA with this line.
    AfterData(&'static str),
    /// Reply to RCPT TO for addresses containing the key with this line.
    RcptReply(&'static str, &'static str),
    /// Accept the connection, then never answer anything.
    HangGreeting,
    /// Answer normally, but never answer the end of DATA.
    HangAfterData,
    /// Accept everything, but offer no PIPELINING, DSN or XFORWARD
    /// (a minimal next hop: the client must go command by command).
    Plain,
    /// Accept one transaction per connection, then close it without a word
    /// (as an smtpd hitting its idle timeout does to a cached connection).
    OneShot,
}

/// One transaction the stand-in accepted (or saw the body of).
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub ehlo: String,
    pub commands: Vec<String>,
    pub mail: String,
    pub rcpts: Vec<String>,
    /// Unstuffed message bytes.
    pub data: Vec<u8>,
    /// Length when the body is only counted (large messages).
    pub data_len: u64,
    pub completed: bool,
}

/// A stand-in downstream SMTP server for fault injection only.
pub struct Downstream {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Downstream {
    pub async fn start(mode: Mode) -> Downstream {
        Self::start_with(mode, usize::MAX).await
    }

    /// `keep` = how many body bytes to store (the rest is only counted).
    pub async fn start_with(mode: Mode, keep: usize) -> Downstream {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                n += 1;
                tokio::spawn(serve(s, mode.clone(), s2.clone(), keep, n));
            }
        });
        Downstream { port, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn completed(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.completed).collect()
    }
}

async fn serve(s: TcpStream, mode: Mode, seen: Arc<Mutex<Vec<Seen>>>, keep: usize, id: u32) {
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    if matches!(mode, Mode::HangGreeting) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
    let mut cur = Seen::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            _ => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = text.to_ascii_uppercase();
        cur.commands.push(text.clone());
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("LHLO") {
            cur.ehlo = text.clone();
            if matches!(mode, Mode::Plain) {
                "250-sink\r\n250 8BITMIME".to_string()
            } else {
                "250-sink\r\n250-PIPELINING\r\n250-SIZE 1000000000\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT".into()
            }
        } else if upper.starts_with("XFORWARD") {
            "250 2.0.0 Ok".into()
        } else if upper.starts_with("MAIL") {
            cur.mail = text.clone();
            "250 2.1.0 Ok".into()
        } else if upper.starts_with("RCPT") {
            cur.rcpts.push(text.clone());
            match &mode {
                Mode::RcptReply(k, rep) if text.contains(k) => rep.to_string(),
                _ => "250 2.1.5 Ok".into(),
            }
        } else if upper == "DATA" {
            let _ = w
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await;
            // Read the body, unstuffing.
            let mut data = Vec::new();
            let mut len = 0u64;
            let mut l = Vec::new();
            loop {
                l.clear();
                match r.read_until(b'\n', &mut l).await {
                    Ok(0) | Err(_) => {
                        cur.data = data;
                        cur.data_len = len;
                        seen.lock().unwrap().push(cur);
                        return;
                    }
                    _ => {}
                }
                if l == b".\r\n" {
                    break;
                }
                let body = if l.starts_with(b".") { &l[1..] } else { &l[..] };
                len += body.len() as u64;
                if data.len() < keep {
                    data.extend_from_slice(body);
                }
            }
            cur.data = data;
            cur.data_len = len;
            cur.completed = true;
            match &mode {
                Mode::AfterData(rep) => {
                    cur.completed = false;
                    seen.lock().unwrap().push(std::mem::take(&mut cur));
                    rep.to_string()
                }
                Mode::HangAfterData => {
                    cur.completed = false;
                    seen.lock().unwrap().push(std::mem::take(&mut cur));
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                Mode::OneShot => {
                    seen.lock().unwrap().push(std::mem::take(&mut cur));
                    let _ = w
                        .write_all(format!("250 2.0.0 Ok: queued as Q{id}\r\n").as_bytes())
                        .await;
                    return;
                }
                _ => {
                    seen.lock().unwrap().push(std::mem::take(&mut cur));
                    format!("250 2.0.0 Ok: queued as Q{id}")
                }
            }
        } else if upper == "RSET" {
            cur = Seen::default();
            "250 2.0.0 Ok".into()
        } else if upper == "QUIT" {
            let _ = w.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else {
            "250 2.0.0 Ok".into()
        };
        let _ = w.write_all(format!("{reply}\r\n").as_bytes()).await;
    }
}

/// A small test message with CRLF line endings.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 21:16:27 +0000\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}"
    )
    .into_bytes()
}

/// What the downstream received minus the headers we prepend: everything
/// after the end of our `Received: ... (amavis, port N)` field.
pub fn strip_our_headers(data: &[u8]) -> &[u8] {
    let marker = b"(amavis, port ";
    let Some(at) = data.windows(marker.len()).position(|w| w == marker) else {
        panic!(
            "no amavis Received header in {:?}",
            String::from_utf8_lossy(&data[..data.len().min(300)])
        );
    };
    let mut pos = at;
    loop {
        let nl = data[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("line end")
            + pos
            + 1;
        if data.get(nl) != Some(&b' ') {
            return &data[nl..];
        }
        pos = nl;
    }
}

impl Client {
    /// The reader and writer halves, for tests that write and read at
    /// their own pace (slowloris).
    pub fn into_parts(
        self,
    ) -> (
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    ) {
        (self.r, self.w)
    }
}

/// Processes and network faults for the chaos tests (the filter binary, a gate that takes a
/// port down).
mod chaos;
#[allow(unused_imports)]
pub use chaos::{FilterProcess, Gate};

/// A free loopback TCP port (bound, then released for the filter to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `/proc/<pid>/status` field in kB (`VmRSS:`, `VmHWM:`, ...), 0 if absent.
pub fn proc_status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Waits, up to `tries` × 50 ms, until `addr` accepts a connection (a
/// filter binary started in another process); false if it never does.
pub async fn wait_accepting(addr: SocketAddr, tries: u32) -> bool {
    for _ in 0..tries {
        if TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
