//! A small clamd client: `zPING`, `zVERSION` and `zINSTREAM` over a unix
//! socket or TCP, each whole operation under one timeout.
//!
//! Our own rather than clamav-client (shared/reference/crates.md): that crate
//! has no timeouts, 4 KiB chunks, no virus-name parsing, and loses clamd's
//! `INSTREAM size limit exceeded` reply when clamd closes the socket under a
//! long write. Here the reply is read concurrently with the upload, so the
//! size-limit answer is seen even when our write then fails with EPIPE/RST.

use crate::message::spool::Spool;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Bytes per INSTREAM chunk.
const CHUNK: usize = 64 * 1024;
/// Cap on a clamd reply; real ones are a few hundred bytes.
const MAX_REPLY: usize = 64 * 1024;

/// One clamd endpoint (`av_scanners` entry) with the per-operation timeout.
#[derive(Debug, Clone)]
pub struct Clamd {
    addr: Addr,
    timeout: Duration,
}

/// Where clamd listens.
#[derive(Debug, Clone)]
enum Addr {
    Unix(PathBuf),
    Tcp(String),
}

/// What clamd said about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdVerdict {
    Clean,
    /// Virus names as clamd reported them, in order.
    Infected(Vec<String>),
}

/// Why a clamd operation gave no verdict; a failed scan is never "clean".
/// The Display texts are short enough for a `451 4.5.0` reply.
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    #[error("clamd {0}: connect failed: {1}")]
    Connect(String, io::Error),
    #[error("clamd timed out")]
    Timeout,
    #[error("clamd: INSTREAM size limit exceeded (StreamMaxLength)")]
    SizeLimit,
    #[error("clamd protocol error: {0}")]
    Protocol(String),
    #[error("clamd: {0}")]
    Scanner(String),
    #[error("clamd I/O error: {0}")]
    Io(io::Error),
    #[error("reading the spool: {0}")]
    Spool(io::Error),
}

/// Either kind of connected stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Clamd {
    /// `socket` is a unix socket path (`/var/run/clamav/clamd.ctl`) or
    /// `host:port`; an amavisd-style `clamd:` prefix is accepted.
    pub fn new(socket: &str, timeout: Duration) -> Clamd {
        let s = socket.strip_prefix("clamd:").unwrap_or(socket);
        let addr = if s.starts_with('/') || !s.contains(':') {
            Addr::Unix(PathBuf::from(s))
        } else {
            Addr::Tcp(s.to_string())
        };
        Clamd { addr, timeout }
    }

    /// The socket as configured, for logs.
    pub fn name(&self) -> String {
        match &self.addr {
            Addr::Unix(p) => p.display().to_string(),
            Addr::Tcp(a) => a.clone(),
        }
    }

    /// `zPING` → `PONG`.
    pub async fn ping(&self) -> Result<(), ClamdError> {
        let reply = self.simple(b"zPING\0").await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(ClamdError::Protocol(format!("PING answered {reply:?}")))
        }
    }

    /// `zVERSION`, e.g. `ClamAV 1.4.6/27500/Wed Nov 25 09:00:00 2026`.
    pub async fn version(&self) -> Result<String, ClamdError> {
        let reply = self.simple(b"zVERSION\0").await?;
        if reply.starts_with("ClamAV") {
            Ok(reply)
        } else {
            Err(ClamdError::Protocol(format!("VERSION answered {reply:?}")))
        }
    }

    /// Stream the whole message with `zINSTREAM`.
    pub async fn scan_spool(&self, spool: &Spool) -> Result<ClamdVerdict, ClamdError> {
        let op = async {
            let stream = self.connect().await?;
            instream(stream, spool).await
        };
        let reply = tokio::time::timeout(self.timeout, op)
            .await
            .map_err(|_| ClamdError::Timeout)??;
        parse_scan_reply(&reply)
    }

    async fn simple(&self, cmd: &[u8]) -> Result<String, ClamdError> {
        let op = async {
            let mut s = self.connect().await?;
            s.write_all(cmd).await.map_err(ClamdError::Io)?;
            let (reply, err) = read_reply(&mut s).await;
            match err {
                Some(e) if reply.is_empty() => Err(ClamdError::Io(e)),
                _ => Ok(reply),
            }
        };
        let reply = tokio::time::timeout(self.timeout, op)
            .await
            .map_err(|_| ClamdError::Timeout)??;
        Ok(clean_text(&reply))
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, ClamdError> {
        match &self.addr {
            Addr::Unix(p) => UnixStream::connect(p)
                .await
                .map(|s| Box::new(s) as Box<dyn Stream>)
                .map_err(|e| ClamdError::Connect(self.name(), e)),
            Addr::Tcp(a) => TcpStream::connect(a.as_str())
                .await
                .map(|s| Box::new(s) as Box<dyn Stream>)
                .map_err(|e| ClamdError::Connect(self.name(), e)),
        }
    }
}

/// Upload the spool while reading clamd's reply at the same time; clamd
/// answers early (and closes) when StreamMaxLength is exceeded.
async fn instream(stream: Box<dyn Stream>, spool: &Spool) -> Result<Vec<u8>, ClamdError> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let upload = async {
        // The command, the chunks and the end marker share writes: a small
        // message is one write (each write wakes a clamd thread once more).
        const CMD: &[u8] = b"zINSTREAM\0";
        let mut reader = spool.reader().map_err(ClamdError::Spool)?;
        let mut buf = Vec::with_capacity(CMD.len() + CHUNK + 8);
        buf.extend_from_slice(CMD);
        loop {
            let at = buf.len();
            buf.resize(at + 4 + CHUNK, 0);
            let n = fill(&mut reader, &mut buf[at + 4..]).map_err(ClamdError::Spool)?;
            buf.truncate(at + 4 + n);
            buf[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
            // A short chunk is the last one (`fill` stops only at EOF); a
            // zero-length chunk is the end marker itself.
            if n < CHUNK {
                if n > 0 {
                    buf.extend_from_slice(&[0, 0, 0, 0]);
                }
                wr.write_all(&buf).await.map_err(ClamdError::Io)?;
                break;
            }
            wr.write_all(&buf).await.map_err(ClamdError::Io)?;
            buf.clear();
        }
        wr.flush().await.map_err(ClamdError::Io)
    };
    let reply = read_reply(&mut rd);
    tokio::pin!(reply);
    tokio::select! {
        // clamd answered (and closed) before the upload finished.
        (r, e) = &mut reply => finish(r, e),
        up = upload => {
            let (r, e) = reply.await;
            match up {
                Ok(()) => finish(r, e),
                // Keep clamd's answer (e.g. size limit) over our EPIPE.
                Err(up_err) if r.is_empty() => Err(up_err),
                Err(_) => Ok(r),
            }
        }
    }
}

fn finish(reply: Vec<u8>, err: Option<io::Error>) -> Result<Vec<u8>, ClamdError> {
    match err {
        Some(e) if reply.is_empty() => Err(ClamdError::Io(e)),
        _ => Ok(reply),
    }
}

/// Read until EOF (clamd closes after a non-session command) or the cap;
/// an error after some bytes keeps the bytes (TCP RST after the reply).
async fn read_reply<R: AsyncRead + Unpin>(rd: &mut R) -> (Vec<u8>, Option<io::Error>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) => return (out, None),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() >= MAX_REPLY {
                    return (out, None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Fill `buf` as far as the reader allows; 0 only at end of input.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn clean_text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}

/// Parse `stream: OK`, `stream: NAME FOUND` (one line per name with
/// AllMatchScan) or `... ERROR`.
pub fn parse_scan_reply(reply: &[u8]) -> Result<ClamdVerdict, ClamdError> {
    let text = String::from_utf8_lossy(reply);
    let mut names = Vec::new();
    let mut ok = false;
    let mut error = None;
    for line in text.split(['\0', '\n']) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // Strip `stream:` (and an IDSESSION `N: ` prefix if ever used).
        let body = match line.find("stream: ") {
            Some(i) => &line[i + "stream: ".len()..],
            None => line,
        };
        if let Some(name) = body.strip_suffix(" FOUND") {
            names.push(name.trim().to_string());
        } else if body == "OK" {
            ok = true;
        } else if body.ends_with("ERROR") {
            error.get_or_insert_with(|| line.to_string());
        } else {
            return Err(ClamdError::Protocol(format!("unexpected reply {line:?}")));
        }
    }
    if !names.is_empty() {
        return Ok(ClamdVerdict::Infected(names));
    }
    if let Some(e) = error {
        if e.contains("size limit exceeded") {
            return Err(ClamdError::SizeLimit);
        }
        return Err(ClamdError::Scanner(e));
    }
    if ok {
        Ok(ClamdVerdict::Clean)
    } else {
        Err(ClamdError::Protocol("empty reply".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies() {
        assert_eq!(
            parse_scan_reply(b"stream: OK\0").unwrap(),
            ClamdVerdict::Clean
        );
        assert_eq!(
            parse_scan_reply(b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0").unwrap(),
            ClamdVerdict::Infected(vec!["Eicar-Test-Signature.UNOFFICIAL".into()])
        );
        assert_eq!(
            parse_scan_reply(b"stream: A FOUND\0stream: B FOUND\0stream: OK\0").unwrap(),
            ClamdVerdict::Infected(vec!["A".into(), "B".into()])
        );
        assert!(matches!(
            parse_scan_reply(b"INSTREAM size limit exceeded. ERROR\0"),
            Err(ClamdError::SizeLimit)
        ));
        assert!(matches!(
            parse_scan_reply(b"stream: Can't allocate memory ERROR\0"),
            Err(ClamdError::Scanner(s)) if s.contains("allocate")
        ));
        assert!(matches!(
            parse_scan_reply(b""),
            Err(ClamdError::Protocol(_))
        ));
        assert!(matches!(
            parse_scan_reply(b"hello"),
            Err(ClamdError::Protocol(_))
        ));
    }

    #[test]
    fn address_kinds() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            Clamd::new("/var/run/clamav/clamd.ctl", t).addr,
            Addr::Unix(_)
        ));
        assert!(matches!(
            Clamd::new("clamd:/run/c.sock", t).addr,
            Addr::Unix(p) if p == std::path::Path::new("/run/c.sock")
        ));
        assert!(matches!(
            Clamd::new("127.0.0.1:3310", t).addr,
            Addr::Tcp(a) if a == "127.0.0.1:3310"
        ));
    }
}
