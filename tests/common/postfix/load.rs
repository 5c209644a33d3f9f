//! Load and outage helpers for the chaos tests: many messages over one SMTP session, copies
//! delivered counted per Message-ID, and the reinjection listener taken down and brought back.

use super::PostfixHarness;
use super::util::{smtp_data, text, wait_until};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Prefix that comments out the reinjection entry's lines in master.cf while it is down.
const OFF_MARK: &str = "#chaos-off#";

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

    /// Takes the reinjection smtpd (the filter's next hop, 10025 in the how-to) down, or
    /// brings it back: its master.cf entry is commented out or restored and Postfix reloaded,
    /// as an admin would. Waits until its port refuses or accepts connections.
    pub fn set_reinject_listener(&self, up: bool) {
        let root = &self
            .private
            .as_ref()
            .expect("taking the reinjection listener down needs the private Postfix")
            .root;
        let path = root.join("etc/master.cf");
        let old = fs::read_to_string(&path).expect("read master.cf");
        let head = format!("{}:{} ", self.host(), self.reinject_port());
        fs::write(&path, toggle_entry(&old, &head, up)).expect("write master.cf");
        reload(root);
        let port = self.reinject_port();
        let reached = wait_until(Duration::from_secs(30), || {
            TcpStream::connect((self.host(), port)).is_ok() == up
        });
        assert!(
            reached,
            "reinjection port {port} did not {} after postfix reload\n{}",
            if up { "open" } else { "close" },
            self.diagnostics()
        );
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

/// master.cf with the entry whose first line starts with `head` commented out (`up` false)
/// or restored (`up` true).
fn toggle_entry(master_cf: &str, head: &str, up: bool) -> String {
    let mut out = String::with_capacity(master_cf.len() + 256);
    let mut in_entry = false;
    for line in master_cf.lines() {
        let bare = line.strip_prefix(OFF_MARK).unwrap_or(line);
        if !bare.starts_with(char::is_whitespace) {
            in_entry = bare.starts_with(head);
        }
        match (in_entry, up) {
            (true, false) => out.push_str(&format!("{OFF_MARK}{bare}")),
            (true, true) => out.push_str(bare),
            (false, _) => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn reload(root: &Path) {
    let out = Command::new("/usr/sbin/postfix")
        .arg("-c")
        .arg(root.join("etc"))
        .arg("reload")
        .output()
        .expect("run postfix reload");
    assert!(out.status.success(), "postfix reload: {}", text(&out));
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
