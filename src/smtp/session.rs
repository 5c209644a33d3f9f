//! One inbound SMTP/LMTP session: reads commands, answers pipelined batches
//! in order, receives DATA into the spool, and replies to end-of-data only
//! after the message was processed (scanned and reinjected).
//!
//! Hand-written loop on smtp-proto's parser: no server crate lets the reply
//! to DATA wait for downstream acceptance or gives per-recipient LMTP replies.

use crate::config::BareNewline;
use crate::message::spool::SpoolWriter;
use crate::pipeline::{self, Outcome, Runtime};
use crate::smtp::data::DataReader;
use crate::smtp::envelope::{Envelope, Params, Recipient, Xforward};
use crate::smtp::path::{params_after_path, requote};
use crate::smtp::reply::Reply;
use arc_swap::ArcSwap;
use smtp_proto::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// Longest command line accepted (RFC 5321 asks for 512; Postfix allows 2048+).
const MAX_COMMAND_LINE: usize = 4096;
/// Recipients per transaction (Postfix sends at most 50 by default).
const MAX_RECIPIENTS: usize = 10_000;
/// Bad commands before we hang up, as Postfix's smtpd_hard_error_limit.
const MAX_ERRORS: usize = 20;
const READ_CHUNK: usize = 64 * 1024;
/// Bytes per second a DATA sender must average (Postfix's `smtpd_min_data_rate`).
const MIN_DATA_RATE: u64 = 500;

/// State of one connection.
pub struct Session {
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    runtime: Arc<ArcSwap<Runtime>>,
    shutdown: watch::Receiver<bool>,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    helo: Option<String>,
    lmtp: bool,
    xforward: Xforward,
    mail: Option<(String, Params)>,
    rcpts: Vec<Recipient>,
    errors: usize,
    /// Our own name in replies, as amavisd: `[127.0.0.1]`.
    me: String,
}

enum Step {
    Continue,
    Data,
    Quit,
}

impl Session {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        runtime: Arc<ArcSwap<Runtime>>,
        shutdown: watch::Receiver<bool>,
    ) -> Session {
        Session {
            stream,
            peer,
            local,
            runtime,
            shutdown,
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            out: Vec::with_capacity(1024),
            helo: None,
            lmtp: false,
            xforward: Xforward::default(),
            mail: None,
            rcpts: Vec::new(),
            errors: 0,
            me: format!("[{}]", local.ip()),
        }
    }

    /// Queue one reply line. Replies echo client input (addresses), so
    /// control characters are dropped here, the one place replies are built.
    fn reply(&mut self, text: &str) {
        let text: String = text.chars().filter(|c| !c.is_control()).collect();
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Read more input. `Ok(false)` on EOF. Times out at `deadline`: a
    /// whole record must arrive by then, so trickling bytes (slowloris)
    /// does not keep a session alive (Postfix's `smtpd_per_record_deadline`).
    async fn fill(&mut self, deadline: Instant, watch_shutdown: bool) -> std::io::Result<bool> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        // read_buf appends into spare capacity: no zeroing of 64 KiB per read.
        self.buf.reserve(READ_CHUNK);
        let read =
            async { tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await };
        let res = if watch_shutdown {
            let mut sd = self.shutdown.clone();
            tokio::select! {
                r = read => r,
                _ = sd.wait_for(|v| *v) => {
                    self.buf.truncate(old);
                    self.out.extend_from_slice(format!("421 4.3.2 {} amavis service shutting down\r\n", self.me).as_bytes());
                    return Ok(false);
                }
            }
        } else {
            read.await
        };
        match res {
            Err(_) => {
                self.buf.truncate(old);
                self.out.extend_from_slice(
                    format!("421 4.4.2 {} Error: timeout exceeded\r\n", self.me).as_bytes(),
                );
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "idle timeout",
                ))
            }
            Ok(Err(e)) => {
                self.buf.truncate(old);
                Err(e)
            }
            Ok(Ok(n)) => Ok(n > 0),
        }
    }

    pub async fn run(mut self) -> std::io::Result<()> {
        let idle = Duration::from_secs(self.runtime.load().config.smtpd_timeout);
        self.reply(&format!("220 {} ESMTP amavis service ready", self.me));
        self.flush().await?;
        let result = self.command_loop(idle).await;
        // Timeout and shutdown notices are queued in `out`; send them.
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
        result
    }

    async fn command_loop(&mut self, idle: Duration) -> std::io::Result<()> {
        let mut discarding = false;
        // A command line must be complete within `smtpd_timeout`.
        let mut deadline = Instant::now() + idle;
        loop {
            // Answer every complete line in the buffer, then flush once
            // (RFC 2920: replies in order, flushed when input runs dry).
            while let Some(nl) = self.buf[self.pos..].iter().position(|b| *b == b'\n') {
                let end = self.pos + nl + 1;
                let line = self.buf[self.pos..end].to_vec();
                self.pos = end;
                deadline = Instant::now() + idle;
                if discarding {
                    // End of an over-long line: it counted as an error too.
                    discarding = false;
                    if self.errors >= MAX_ERRORS {
                        self.reply(&format!("421 4.7.0 {} Error: too many errors", self.me));
                        return Ok(());
                    }
                    continue;
                }
                match self.command(&line) {
                    Step::Continue => {}
                    Step::Quit => {
                        self.flush().await?;
                        return Ok(());
                    }
                    Step::Data => {
                        self.flush().await?;
                        self.data(idle).await?;
                        deadline = Instant::now() + idle;
                    }
                }
                if self.errors >= MAX_ERRORS {
                    self.reply(&format!("421 4.7.0 {} Error: too many errors", self.me));
                    return Ok(());
                }
            }
            if self.buf.len() - self.pos > MAX_COMMAND_LINE {
                // Over-long command: answer once, skip to its end.
                self.pos = self.buf.len();
                if !discarding {
                    self.reply("500 5.5.2 Error: line too long");
                    self.errors += 1;
                }
                discarding = true;
            }
            self.flush().await?;
            let between_transactions = self.mail.is_none();
            if !self.fill(deadline, between_transactions).await? {
                return Ok(());
            }
        }
    }

    fn command(&mut self, raw: &[u8]) -> Step {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let bare_lf = raw.ends_with(b"\n") && !line.ends_with(b"\r");
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if bare_lf && self.runtime.load().config.smtpd_forbid_bare_newline == BareNewline::Reject {
            self.errors += 1;
            self.reply("550 5.5.2 Error: bare <LF> received");
            return Step::Continue;
        }
        if line.len() > MAX_COMMAND_LINE {
            self.errors += 1;
            self.reply("500 5.5.2 Error: line too long");
            return Step::Continue;
        }
        if line.contains(&0) {
            self.errors += 1;
            self.reply("500 5.5.2 Error: NUL character in command");
            return Step::Continue;
        }
        // smtp-proto would silently drop a CR inside an address and turn bad
        // UTF-8 into U+FFFD: refuse instead of forwarding an altered address.
        if std::str::from_utf8(line).is_err() {
            self.errors += 1;
            self.reply("500 5.5.2 Error: bad UTF-8 syntax");
            return Step::Continue;
        }
        if line
            .iter()
            .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
        {
            self.errors += 1;
            self.reply("500 5.5.2 Error: control character in command");
            return Step::Continue;
        }
        let upper: Vec<u8> = line.iter().take(9).map(u8::to_ascii_uppercase).collect();
        if upper.starts_with(b"XFORWARD") && (line.len() == 8 || line[8] == b' ') {
            let args = String::from_utf8_lossy(&line[8..]).to_string();
            match self.xforward.apply(&args) {
                Ok(()) => self.reply("250 2.5.0 Ok XFORWARD"),
                Err(e) => {
                    self.errors += 1;
                    self.reply(&format!("501 5.5.4 Syntax error in XFORWARD: {e}"));
                }
            }
            return Step::Continue;
        }
        // smtp-proto parses one line including its LF.
        let mut with_lf = line.to_vec();
        with_lf.extend_from_slice(b"\r\n");
        let parsed = Request::parse(&mut with_lf.iter()).map(|r| r.into_owned());
        match parsed {
            Ok(Request::Ehlo { host }) => self.hello(host, false, true),
            Ok(Request::Lhlo { host }) => self.hello(host, true, true),
            Ok(Request::Helo { host }) => self.hello(host, false, false),
            Ok(Request::Mail { from }) => self.mail_from(line, requote(&from.address), from.size),
            Ok(Request::Rcpt { to }) => self.rcpt_to(line, requote(&to.address)),
            Ok(Request::Data) => {
                if self.mail.is_none() {
                    self.errors += 1;
                    self.reply("503 5.5.1 Error: need MAIL command");
                } else if self.rcpts.is_empty() {
                    self.errors += 1;
                    self.reply("503 5.5.1 Error: need RCPT command");
                } else {
                    self.reply("354 End data with <CR><LF>.<CR><LF>");
                    return Step::Data;
                }
            }
            Ok(Request::Rset) => {
                self.reset();
                self.reply("250 2.0.0 Ok");
            }
            Ok(Request::Noop { .. }) => self.reply("250 2.0.0 Ok"),
            Ok(Request::Quit) => {
                let me = self.me.clone();
                self.reply(&format!(
                    "221 2.0.0 {me} amavis closing transmission channel"
                ));
                return Step::Quit;
            }
            Ok(Request::Vrfy { .. }) => self.reply("252 2.0.0 Argument not checked"),
            Ok(Request::Help { .. }) => self.reply("214 2.0.0 See amavisd-rs documentation"),
            Ok(Request::Bdat { .. }) | Ok(Request::StartTls) | Ok(Request::Auth { .. }) => {
                self.errors += 1;
                self.reply("502 5.5.1 Error: command not implemented");
            }
            Ok(_) => {
                self.errors += 1;
                self.reply("502 5.5.1 Error: command not implemented");
            }
            Err(smtp_proto::Error::UnknownCommand) => {
                self.errors += 1;
                self.reply("500 5.5.2 Error: command not recognized");
            }
            Err(smtp_proto::Error::InvalidSenderAddress)
            | Err(smtp_proto::Error::InvalidRecipientAddress) => {
                self.errors += 1;
                self.reply("501 5.1.3 Bad address syntax");
            }
            Err(smtp_proto::Error::SyntaxError { syntax }) => {
                self.errors += 1;
                self.reply(&format!("501 5.5.4 Syntax: {syntax}"));
            }
            Err(smtp_proto::Error::UnsupportedParameter { param }) => {
                self.errors += 1;
                let p: String = param.chars().filter(|c| !c.is_control()).take(64).collect();
                self.reply(&format!("555 5.5.4 Unsupported option: {p}"));
            }
            Err(e) => {
                self.errors += 1;
                self.reply(&format!("501 5.5.4 Syntax error ({e:?})"));
            }
        }
        Step::Continue
    }

    fn hello(&mut self, host: String, lmtp: bool, extended: bool) {
        self.reset();
        self.helo = Some(host);
        self.lmtp = lmtp;
        let me = self.me.clone();
        if !extended {
            self.reply(&format!("250 {me}"));
            return;
        }
        let limit = self.runtime.load().config.smtpd_message_size_limit;
        let size = if limit > 0 {
            format!("SIZE {limit}")
        } else {
            "SIZE".into()
        };
        let lines = [
            me.as_str(),
            "VRFY",
            "PIPELINING",
            size.as_str(),
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "SMTPUTF8",
            "DSN",
            "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE",
        ];
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.out
                .extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
        }
    }

    fn mail_from(&mut self, line: &[u8], address: String, size: usize) {
        if self.helo.is_none() {
            self.errors += 1;
            self.reply("503 5.5.1 Error: send HELO/EHLO first");
            return;
        }
        if self.mail.is_some() {
            self.errors += 1;
            self.reply("503 5.5.1 Error: nested MAIL command");
            return;
        }
        let limit = self.runtime.load().config.smtpd_message_size_limit;
        if limit > 0 && size != usize::MAX && size as u64 > limit {
            self.reply(&format!(
                "552 5.3.4 Declared message size ({size}) exceeds size limit ({limit})"
            ));
            return;
        }
        let params = params_after_path(line);
        self.reply(&format!("250 2.1.0 Sender <{address}> OK"));
        self.mail = Some((address, params));
    }

    fn rcpt_to(&mut self, line: &[u8], address: String) {
        if self.mail.is_none() {
            self.errors += 1;
            self.reply("503 5.5.1 Error: need MAIL command");
            return;
        }
        if self.rcpts.len() >= MAX_RECIPIENTS {
            self.reply("452 4.5.3 Error: too many recipients");
            return;
        }
        let params = params_after_path(line);
        self.reply(&format!("250 2.1.5 Recipient <{address}> OK"));
        self.rcpts.push(Recipient { address, params });
    }

    fn reset(&mut self) {
        self.mail = None;
        self.rcpts.clear();
    }

    /// Receive the message, process it, and queue the end-of-data reply(ies).
    async fn data(&mut self, idle: Duration) -> std::io::Result<()> {
        let rt = self.runtime.load_full();
        let cfg = &rt.config;
        let limit = cfg.smtpd_message_size_limit;
        let mut spool = SpoolWriter::new(&cfg.tempbase, cfg.spool_memory_threshold);
        let mut rx = DataReader::default();
        let mut chunk = Vec::with_capacity(READ_CHUNK + READ_CHUNK / 2);
        let mut too_big = false;
        let mut spool_error: Option<std::io::Error> = None;
        // Postfix's smtpd_min_data_rate: each byte received buys 1/500 s
        // more, so a client trickling whole lines is cut off too.
        let mut deadline = Instant::now() + idle;
        loop {
            let (used, done) = rx.ingest(&self.buf[self.pos..], &mut chunk);
            self.pos += used;
            if !too_big && limit > 0 && spool.len() + chunk.len() as u64 > limit {
                too_big = true;
            }
            if !too_big
                && spool_error.is_none()
                && !chunk.is_empty()
                && let Err(e) = spool.write(&chunk)
            {
                spool_error = Some(e);
            }
            chunk.clear();
            if done {
                break;
            }
            let before = self.buf.len() - self.pos;
            if !self.fill(deadline, false).await? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed during DATA",
                ));
            }
            let got = (self.buf.len() - self.pos).saturating_sub(before);
            deadline += Duration::from_micros(got as u64 * 1_000_000 / MIN_DATA_RATE);
        }
        let (sender, mail_params) = self.mail.take().unwrap_or_default();
        let rcpts = std::mem::take(&mut self.rcpts);
        let n = rcpts.len();
        let fail = |s: &mut Session, text: String| {
            let count = if s.lmtp { n } else { 1 };
            for _ in 0..count {
                s.reply(&text);
            }
        };
        if too_big {
            fail(self, "552 5.3.4 Message size exceeds fixed limit".into());
            return Ok(());
        }
        if rx.bare_lf {
            tracing::info!("bare <LF> received from [{}]", self.peer.ip());
            if cfg.smtpd_forbid_bare_newline == BareNewline::Reject {
                fail(self, "550 5.5.2 Error: bare <LF> received".into());
                return Ok(());
            }
        }
        if let Some(e) = spool_error {
            tracing::error!("spooling to {} failed: {e}", cfg.tempbase.display());
            fail(
                self,
                format!("451 4.3.0 Error in processing: cannot spool message: {e}"),
            );
            return Ok(());
        }
        let spool = match spool.finish() {
            Ok(s) => s,
            Err(e) => {
                fail(
                    self,
                    format!("451 4.3.0 Error in processing: cannot spool message: {e}"),
                );
                return Ok(());
            }
        };
        let env = Envelope {
            sender,
            mail_params,
            recipients: rcpts,
            peer: self.peer,
            local: self.local,
            helo: self.helo.clone().unwrap_or_default(),
            lmtp: self.lmtp,
            xforward: std::mem::take(&mut self.xforward),
        };
        let limit = Duration::from_secs(cfg.child_timeout);
        let outcome = match tokio::time::timeout(limit, pipeline::process(&rt, &env, spool)).await {
            Ok(o) => o,
            Err(_) => {
                tracing::error!("processing exceeded child_timeout ({}s)", cfg.child_timeout);
                Outcome::All(Reply::new(
                    451,
                    "4.5.0 Error in processing: timed out (child_timeout)",
                ))
            }
        };
        match outcome {
            Outcome::All(r) => {
                let count = if self.lmtp { n } else { 1 };
                for _ in 0..count {
                    self.out.extend_from_slice(&r.to_wire());
                }
            }
            Outcome::PerRecipient(rs) => {
                if self.lmtp {
                    for r in rs {
                        self.out.extend_from_slice(&r.to_wire());
                    }
                } else {
                    // SMTP has one reply; the processor must not get here.
                    let r = rs
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| Reply::new(451, "4.5.0 Error in processing: no reply"));
                    self.out.extend_from_slice(&r.to_wire());
                }
            }
        }
        Ok(())
    }
}
