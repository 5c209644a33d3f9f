//! The reinjection client: one SMTP/LMTP transaction to the next hop.
//!
//! Hand-written on tokio (see shared/reference/crates.md): lettre aborts on
//! the first rejected recipient and can neither pipeline nor pass XFORWARD
//! and DSN parameters; mail-send's high-level `send()` stops at the first
//! rejected RCPT too. We need every per-recipient reply, verbatim.

use super::dotstuff::DotStuffer;
use crate::config::{Method, Protocol, Target};
use crate::message::spool::Spool;
use crate::smtp::envelope::{Params, Xforward};
use crate::smtp::reply::{Reply, ReplyParser};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a transaction with the next hop failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Can't connect to {0}: {1}")]
    Connect(String, String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("connection lost: {0}")]
    Io(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The next hop answered a session-level command with an error
    /// (greeting, EHLO, MAIL FROM, DATA): its reply decides for everyone.
    #[error("{stage} rejected: {reply}")]
    Rejected { stage: &'static str, reply: Reply },
}

/// What the next hop offered in its EHLO/LHLO reply.
#[derive(Debug, Default, Clone)]
pub struct Caps {
    pub pipelining: bool,
    pub dsn: bool,
    pub smtputf8: bool,
    pub eightbit: bool,
    pub size: bool,
    pub xforward: Vec<String>,
}

impl Caps {
    fn from_reply(r: &Reply) -> Caps {
        let mut c = Caps::default();
        for l in r.lines.iter().skip(1) {
            let mut w = l.split_ascii_whitespace();
            match w.next().map(|s| s.to_ascii_uppercase()).as_deref() {
                Some("PIPELINING") => c.pipelining = true,
                Some("DSN") => c.dsn = true,
                Some("SMTPUTF8") => c.smtputf8 = true,
                Some("8BITMIME") => c.eightbit = true,
                Some("SIZE") => c.size = true,
                Some("XFORWARD") => c.xforward = w.map(|s| s.to_ascii_uppercase()).collect(),
                _ => {}
            }
        }
        c
    }
}

/// The envelope of one outgoing transaction.
#[derive(Debug, Clone)]
pub struct OutEnvelope {
    pub sender: String,
    pub mail_params: Params,
    pub recipients: Vec<(String, Params)>,
    pub xforward: Option<Xforward>,
}

/// The message to send: a header block in memory followed by the spool's
/// bytes from `body_offset` on (the body is never copied or rewritten).
pub struct OutMessage<'a> {
    pub head: Vec<u8>,
    pub spool: &'a Spool,
    pub body_offset: u64,
}

impl OutMessage<'_> {
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.spool.len().saturating_sub(self.body_offset)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn has_8bit(&self) -> std::io::Result<bool> {
        if !self.head.is_ascii() {
            return Ok(true);
        }
        if let Some(all) = self.spool.as_slice() {
            let body = all.get(self.body_offset as usize..).unwrap_or_default();
            return Ok(!body.is_ascii());
        }
        let mut r = self.spool.reader()?;
        std::io::copy(&mut r.by_ref().take(self.body_offset), &mut std::io::sink())?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(false);
            }
            if !buf[..n].is_ascii() {
                return Ok(true);
            }
        }
    }
}

/// Result of one transaction: a reply per recipient, in envelope order.
/// For SMTP these are the RCPT replies, replaced by the final DATA reply
/// for the accepted ones; for LMTP the per-recipient replies after DATA.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub per_recipient: Vec<Reply>,
    /// True when the body was not sent because some recipient was deferred
    /// and `whole_or_nothing` was asked for: nobody got the message.
    pub cancelled: bool,
}

/// An open connection to the next hop, after a successful EHLO/LHLO.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
    caps: Caps,
    lmtp: bool,
    timeout: Duration,
    /// Set when the transaction was cancelled by dropping the connection
    /// mid-DATA: nothing more may be written.
    dead: bool,
    /// Replies read in the current transaction (0 = the next hop has not
    /// answered anything, so nothing can have been accepted).
    replies_in_txn: usize,
}

impl Client {
    /// Connect to `method`; `local` is the address the upstream MTA reached
    /// us on, for amavisd's `*` forms (`smtp:*:*` = same host, port + 1).
    pub async fn connect(
        method: &Method,
        local: Option<SocketAddr>,
        helo_name: &str,
        wait: Duration,
    ) -> Result<Client, ClientError> {
        let spec = method.spec.clone();
        let io: Box<dyn Io> = match &method.target {
            Target::Unix(path) => Box::new(
                timeout(wait, UnixStream::connect(path))
                    .await
                    .map_err(|_| ClientError::Timeout("connect"))?
                    .map_err(|e| ClientError::Connect(spec.clone(), e.to_string()))?,
            ),
            Target::Inet { host, port } => {
                let host = match (host, local) {
                    (Some(h), _) => h.clone(),
                    (None, Some(l)) => l.ip().to_string(),
                    (None, None) => "127.0.0.1".into(),
                };
                let port = match (port, local) {
                    (Some(p), _) => *p,
                    (None, Some(l)) => l.port().wrapping_add(1),
                    (None, None) => 10025,
                };
                let addr = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let s = timeout(wait, TcpStream::connect(addr))
                    .await
                    .map_err(|_| ClientError::Timeout("connect"))?
                    .map_err(|e| ClientError::Connect(spec.clone(), e.to_string()))?;
                s.set_nodelay(true).ok();
                Box::new(s)
            }
        };
        let mut c = Client {
            io: BufReader::with_capacity(16 * 1024, io),
            caps: Caps::default(),
            lmtp: method.protocol == Protocol::Lmtp,
            timeout: wait,
            dead: false,
            replies_in_txn: 0,
        };
        let greeting = c.read_reply("greeting").await?;
        if greeting.code != 220 {
            return Err(ClientError::Rejected {
                stage: "greeting",
                reply: greeting,
            });
        }
        let verb = if c.lmtp { "LHLO" } else { "EHLO" };
        c.write(format!("{verb} {helo_name}\r\n").as_bytes())
            .await?;
        c.flush().await?;
        let r = c.read_reply("EHLO").await?;
        if r.code != 250 {
            return Err(ClientError::Rejected {
                stage: "EHLO",
                reply: r,
            });
        }
        c.caps = Caps::from_reply(&r);
        Ok(c)
    }

    pub fn caps(&self) -> &Caps {
        &self.caps
    }

    async fn write(&mut self, b: &[u8]) -> Result<(), ClientError> {
        let w = self.io.get_mut();
        timeout(self.timeout, w.write_all(b))
            .await
            .map_err(|_| ClientError::Timeout("write"))?
            .map_err(|e| ClientError::Io(e.to_string()))
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        timeout(self.timeout, self.io.get_mut().flush())
            .await
            .map_err(|_| ClientError::Timeout("flush"))?
            .map_err(|e| ClientError::Io(e.to_string()))
    }

    async fn read_reply(&mut self, stage: &'static str) -> Result<Reply, ClientError> {
        let mut p = ReplyParser::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = timeout(self.timeout, read_line_limited(&mut self.io, &mut line))
                .await
                .map_err(|_| ClientError::Timeout(stage))?
                .map_err(|e| ClientError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ClientError::Io(format!("connection closed during {stage}")));
            }
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if let Some(r) = p.line(l).map_err(ClientError::Protocol)? {
                self.replies_in_txn += 1;
                return Ok(r);
            }
        }
    }

    /// Run one transaction. Pipelines XFORWARD/MAIL/RCPT/DATA when the next hop
    /// offers PIPELINING. Never sends the body unless at least one RCPT was
    /// accepted; a rejected MAIL or DATA is returned as `Rejected`.
    pub async fn send(
        &mut self,
        env: &OutEnvelope,
        msg: &OutMessage<'_>,
        whole_or_nothing: bool,
    ) -> Result<Delivery, ClientError> {
        self.replies_in_txn = 0;
        let r = self.transaction(env, msg, whole_or_nothing).await;
        if matches!(
            r,
            Err(ClientError::Io(_) | ClientError::Timeout(_) | ClientError::Protocol(_))
        ) {
            // The connection is in an unknown state: never reuse it.
            self.dead = true;
        }
        r
    }

    async fn transaction(
        &mut self,
        env: &OutEnvelope,
        msg: &OutMessage<'_>,
        whole_or_nothing: bool,
    ) -> Result<Delivery, ClientError> {
        let mut cmds: Vec<(&'static str, Vec<u8>)> = Vec::new();
        if let Some(x) = &env.xforward
            && !self.caps.xforward.is_empty()
        {
            // Postfix limits one XFORWARD line; send attributes in small groups.
            let pairs: Vec<String> = x
                .pairs()
                .into_iter()
                .filter(|p| {
                    let k = p.split('=').next().unwrap_or("");
                    self.caps.xforward.iter().any(|c| c == k)
                })
                .collect();
            for chunk in pairs.chunks(4) {
                cmds.push((
                    "XFORWARD",
                    format!("XFORWARD {}\r\n", chunk.join(" ")).into_bytes(),
                ));
            }
        }
        cmds.push(("MAIL FROM", self.mail_from(env, msg)?));
        for (rcpt, params) in &env.recipients {
            let mut line = format!("RCPT TO:<{rcpt}>");
            for p in &params.0 {
                let k = p.split('=').next().unwrap_or("").to_ascii_uppercase();
                if (k == "NOTIFY" || k == "ORCPT") && !self.caps.dsn {
                    continue;
                }
                line.push(' ');
                line.push_str(p);
            }
            line.push_str("\r\n");
            cmds.push(("RCPT TO", line.into_bytes()));
        }
        cmds.push(("DATA", b"DATA\r\n".to_vec()));

        let mut replies = Vec::with_capacity(cmds.len());
        if self.caps.pipelining {
            // One write for the whole group: each write on a TCP_NODELAY
            // socket is its own segment and wakes the next hop once more.
            let group: Vec<u8> = cmds.iter().flat_map(|(_, c)| c.iter().copied()).collect();
            self.write(&group).await?;
            self.flush().await?;
            for (stage, _) in &cmds {
                replies.push(self.read_reply(stage).await?);
            }
        } else {
            for (stage, c) in &cmds {
                self.write(c).await?;
                self.flush().await?;
                let r = self.read_reply(stage).await?;
                let stop = (*stage == "MAIL FROM" || *stage == "XFORWARD") && !r.is_positive();
                replies.push(r);
                if stop {
                    break;
                }
            }
        }
        let nx = cmds.iter().filter(|(s, _)| *s == "XFORWARD").count();
        for r in replies.iter().take(nx) {
            if !r.is_positive() {
                self.abort().await;
                return Err(ClientError::Rejected {
                    stage: "XFORWARD",
                    reply: r.clone(),
                });
            }
        }
        let mail = replies[nx].clone();
        if !mail.is_positive() {
            self.abort().await;
            return Err(ClientError::Rejected {
                stage: "MAIL FROM",
                reply: mail,
            });
        }
        let nr = env.recipients.len();
        let mut per_rcpt: Vec<Reply> = replies[nx + 1..nx + 1 + nr].to_vec();
        let accepted: Vec<usize> = (0..nr).filter(|i| per_rcpt[*i].is_positive()).collect();
        let data = replies[nx + 1 + nr].clone();
        if accepted.is_empty() {
            // Nothing to deliver. A next hop that still said 354 would take
            // an empty message at the final dot: cancel by hanging up.
            if data.code == 354 {
                self.hang_up().await;
            } else {
                self.abort().await;
            }
            return Ok(Delivery {
                per_recipient: per_rcpt,
                cancelled: false,
            });
        }
        if whole_or_nothing && per_rcpt.iter().any(Reply::is_transient) {
            // One reply must cover every recipient and some must be retried:
            // deliver to nobody. After a 354 the only way to cancel is to
            // drop the connection before the final dot (the next hop
            // discards a partial message), so the MTA retries all at once.
            if data.code == 354 {
                self.hang_up().await;
            } else {
                self.abort().await;
            }
            return Ok(Delivery {
                per_recipient: per_rcpt,
                cancelled: true,
            });
        }
        if data.code != 354 {
            self.abort().await;
            return Err(ClientError::Rejected {
                stage: "DATA",
                reply: data,
            });
        }
        self.write_body(msg).await?;
        if self.lmtp {
            for i in &accepted {
                per_rcpt[*i] = self.read_reply("end of data").await?;
            }
        } else {
            let fin = self.read_reply("end of data").await?;
            for i in &accepted {
                per_rcpt[*i] = fin.clone();
            }
        }
        Ok(Delivery {
            per_recipient: per_rcpt,
            cancelled: false,
        })
    }

    fn mail_from(&self, env: &OutEnvelope, msg: &OutMessage<'_>) -> Result<Vec<u8>, ClientError> {
        let mut line = format!("MAIL FROM:<{}>", env.sender);
        let mut has_body = false;
        for p in &env.mail_params.0 {
            let k = p.split('=').next().unwrap_or("").to_ascii_uppercase();
            match k.as_str() {
                "SIZE" => continue, // recomputed below: we add headers
                "RET" | "ENVID" if !self.caps.dsn => continue,
                "SMTPUTF8" if !self.caps.smtputf8 => continue,
                "BODY" => has_body = true,
                _ => {}
            }
            line.push(' ');
            line.push_str(p);
        }
        if !has_body && self.caps.eightbit {
            // amavisd declares the body type it is sending (BODY=7BIT / 8BITMIME).
            let eight = msg.has_8bit().map_err(|e| ClientError::Io(e.to_string()))?;
            line.push_str(if eight {
                " BODY=8BITMIME"
            } else {
                " BODY=7BIT"
            });
        }
        if self.caps.size {
            line.push_str(&format!(" SIZE={}", msg.len()));
        }
        line.push_str("\r\n");
        Ok(line.into_bytes())
    }

    /// Stream the message with dot-stuffing redone, then `.`.
    async fn write_body(&mut self, msg: &OutMessage<'_>) -> Result<(), ClientError> {
        let mut stuffer = DotStuffer::default();
        let mut out = Vec::with_capacity(msg.head.len() + 1024);
        stuffer.push(&msg.head, &mut out);
        if let Some(all) = msg.spool.as_slice() {
            // In-memory spool: one pass, no read buffer.
            let body = all.get(msg.body_offset as usize..).unwrap_or_default();
            stuffer.push(body, &mut out);
            stuffer.finish(&mut out);
            self.write(&out).await?;
            return self.flush().await;
        }
        self.write(&out).await?;
        let mut r = msg
            .spool
            .reader()
            .map_err(|e| ClientError::Io(format!("spool: {e}")))?;
        std::io::copy(&mut r.by_ref().take(msg.body_offset), &mut std::io::sink())
            .map_err(|e| ClientError::Io(format!("spool: {e}")))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r
                .read(&mut buf)
                .map_err(|e| ClientError::Io(format!("spool: {e}")))?;
            if n == 0 {
                break;
            }
            out.clear();
            stuffer.push(&buf[..n], &mut out);
            self.write(&out).await?;
        }
        out.clear();
        stuffer.finish(&mut out);
        self.write(&out).await?;
        self.flush().await
    }

    /// RSET (best effort) so the connection ends cleanly after a failure.
    async fn abort(&mut self) {
        if self.write(b"RSET\r\n").await.is_ok() && self.flush().await.is_ok() {
            let _ = self.read_reply("RSET").await;
        }
    }

    /// True when the last transaction failed before the next hop answered
    /// anything: it accepted nothing, so retrying elsewhere cannot duplicate.
    pub fn nothing_answered(&self) -> bool {
        self.replies_in_txn == 0
    }

    /// True when the connection is in a clean state between transactions.
    pub fn reusable(&self) -> bool {
        !self.dead
    }

    /// Cancel a transaction after 354: close without the final dot.
    async fn hang_up(&mut self) {
        self.dead = true;
        let _ = self.io.get_mut().shutdown().await;
    }

    /// End the session politely.
    pub async fn quit(mut self) {
        if self.dead {
            return;
        }
        if self.write(b"QUIT\r\n").await.is_ok() && self.flush().await.is_ok() {
            let _ = self.read_reply("QUIT").await;
        }
    }
}

/// Read one line, at most 64 KiB (a hostile next hop cannot exhaust memory).
async fn read_line_limited<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if out.len() + take <= 64 * 1024 {
            out.extend_from_slice(&buf[..take]);
        }
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_from_ehlo() {
        let r = Reply {
            code: 250,
            lines: vec![
                "host".into(),
                "PIPELINING".into(),
                "SIZE 10240000".into(),
                "DSN".into(),
                "XFORWARD NAME ADDR PROTO HELO".into(),
            ],
        };
        let c = Caps::from_reply(&r);
        assert!(c.pipelining && c.dsn && c.size && !c.smtputf8);
        assert_eq!(c.xforward, vec!["NAME", "ADDR", "PROTO", "HELO"]);
    }
}
