//! Load helpers for the chaos tests: many messages over one SMTP session, and the copies
//! delivered counted per Message-ID.

use super::PostfixHarness;
use super::util::smtp_data;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

impl PostfixHarness {
    /// Sends `messages` to the inbound smtpd over one SMTP session and returns how many were
    /// accepted. Postfix queues whatever state the filter is in, so anything but `250` is a
    /// failure of the harness and panics.
    pub fn send_session(
        &self,
        from: &str,
        to: &str,
        messages: impl IntoIterator<Item = Vec<u8>>,
    ) -> usize {
        let stream = TcpStream::connect((self.host(), self.inbound_port()))
            .unwrap_or_else(|e| panic!("connect to Postfix's smtpd: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let mut w = stream.try_clone().expect("clone stream");
        let mut r = BufReader::new(stream);
        let mut step = |line: Option<&str>, want: &str| {
            if let Some(line) = line {
                w.write_all(line.as_bytes()).expect("write to smtpd");
            }
            let reply = read_reply(&mut r);
            assert!(
                reply.starts_with(want),
                "{line:?} got {reply:?}, want {want}"
            );
        };
        step(None, "220");
        step(Some("EHLO load.e2e.test\r\n"), "250");
        let mut sent = 0;
        for m in messages {
            step(Some(&format!("MAIL FROM:<{from}>\r\n")), "250");
            step(Some(&format!("RCPT TO:<{to}>\r\n")), "250");
            step(Some("DATA\r\n"), "354");
            let mut data = smtp_data(&m);
            data.extend_from_slice(b"\r\n");
            step(Some(&String::from_utf8_lossy(&data)), "250");
            sent += 1;
        }
        step(Some("QUIT\r\n"), "221");
        sent
    }

    /// How many copies of each Message-ID starting with `prefix` are in `Maildir/new` and
    /// `Maildir/.Junkmail/new` (only the header field counts, not a mention in a body).
    pub fn delivered_ids(&self, prefix: &str) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for dir in [self.maildir_new(), self.junk_new()] {
            for m in self.messages(&dir) {
                if let Some(id) = message_id(&m).filter(|id| id.starts_with(prefix)) {
                    *ids.entry(id).or_insert(0) += 1;
                }
            }
        }
        ids
    }

    /// Number of files in `Maildir/new` and `Maildir/.Junkmail/new`: a cheap progress check.
    pub fn delivered_files(&self) -> usize {
        [self.maildir_new(), self.junk_new()]
            .iter()
            .map(|d| fs::read_dir(d).map_or(0, |rd| rd.count()))
            .sum()
    }
}

/// One SMTP reply, continuation lines joined with `\n`.
fn read_reply(r: &mut impl BufRead) -> String {
    let mut out = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("read from smtpd");
        assert!(n > 0, "smtpd closed the connection after {out:?}");
        let l = line.trim_end();
        out.push_str(l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return out;
        }
        out.push('\n');
    }
}

/// The Message-ID field's value without angle brackets, from the header section.
fn message_id(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\n\n").next().unwrap_or("");
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))?;
    let value = line["message-id:".len()..].trim();
    Some(value.trim_matches(['<', '>']).to_string())
}

/// Test message number `seq` with Message-ID `<{prefix}{seq}@load.e2e.test>` (what
/// [`PostfixHarness::delivered_ids`] counts) and a plain ~2 KB body.
pub fn numbered_message(prefix: &str, seq: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Load Sender <sender@example.org>\r\nTo: e2e-user@e2e.test\r\n\
         Subject: load test message {seq}\r\nMessage-ID: <{prefix}{seq}@load.e2e.test>\r\n\
         Date: Thu, 26 Nov 2026 03:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    for line in 0..30 {
        m.push_str(&format!(
            "Line {line} of message {seq}: the quarterly figures are attached as agreed.\r\n"
        ));
    }
    m.into_bytes()
}
