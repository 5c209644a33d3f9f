//! The one summary line per message, in amavisd's `$log_templ` format, so
//! logwatch, pflogsumm-style reports and fail2ban filters keep working:
//! `(am_id) Passed CLEAN {RelayedInbound}, [ip] [client]:port <from> -> <to>, ...`

use crate::config::Config;
use crate::policy::decide::{Category, Findings};
use crate::smtp::envelope::Envelope;
use crate::smtp::reply::Reply;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where the per-message lines go besides stderr: syslog's `/dev/log`
/// socket when `do_syslog` is on, as `<PRI>ident[pid]: line` (RFC 3164
/// without timestamp and host, which the local syslog daemon adds).
/// Hand-written: a datagram per line is all amavisd's log parsers need.
pub struct Syslog {
    sock: Option<UnixDatagram>,
    prefix: String,
}

impl Syslog {
    pub fn new(c: &Config) -> Syslog {
        let sock = if c.do_syslog {
            let s = UnixDatagram::unbound().and_then(|s| s.connect("/dev/log").map(|_| s));
            match s {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("do_syslog: cannot use /dev/log ({e}); logging to stderr only");
                    None
                }
            }
        } else {
            None
        };
        // Priority = facility * 8 + severity (info = 6).
        let pri = facility_code(&c.syslog_facility) * 8 + 6;
        let ident = crate::message::edit::sanitize(&c.syslog_ident);
        Syslog {
            sock,
            prefix: format!("<{pri}>{ident}[{}]: ", std::process::id()),
        }
    }

    /// Log one line: always through tracing (target `amavis`), and to
    /// syslog when enabled, split like amavisd into 980-byte pieces.
    pub fn emit(&self, line: &str) {
        // The one way out for log lines: nothing from a message (virus
        // names, addresses, header values) may start a forged log line.
        let line = crate::message::edit::sanitize(line);
        tracing::info!(target: "amavis", "{line}");
        let Some(sock) = &self.sock else { return };
        for piece in split_line(&line, 980) {
            let _ = sock.send(format!("{}{piece}", self.prefix).as_bytes());
        }
    }
}

fn facility_code(name: &str) -> u32 {
    match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "news" => 7,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => 2,
    }
}

/// amavisd's splitting of long lines: pieces end in `...`, the next piece
/// starts with `(am_id) ...`, so logwatch can rejoin them.
pub fn split_line(line: &str, max: usize) -> Vec<String> {
    if line.len() <= max {
        return vec![line.to_string()];
    }
    let id = line
        .split_once(") ")
        .filter(|(a, _)| a.starts_with('('))
        .map(|(a, _)| format!("{a}) "))
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = line;
    let mut first = true;
    while !rest.is_empty() {
        let lead = if first {
            String::new()
        } else {
            format!("{id}...")
        };
        let room = max.saturating_sub(lead.len() + 3).max(1);
        let mut cut = rest.len().min(room);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        let more = if tail.is_empty() { "" } else { "..." };
        out.push(format!("{lead}{piece}{more}"));
        rest = tail;
        first = false;
    }
    out
}

/// Build the summary line. `extra` is inserted before `Message-ID:` (e.g.
/// `quarantine: ...`), `queued` after `size:` (`, queued_as: X`).
#[allow(clippy::too_many_arguments)]
pub fn summary_line(
    am_id: &str,
    verb: &str,
    category: &str,
    actions: &str,
    env: &Envelope,
    message_id: Option<&str>,
    mail_id: &str,
    hits: Option<f64>,
    size: u64,
    queued: &str,
    elapsed: Duration,
) -> String {
    summary_line_ext(
        am_id, verb, category, actions, env, "", message_id, mail_id, hits, size, queued, elapsed,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn summary_line_ext(
    am_id: &str,
    verb: &str,
    category: &str,
    actions: &str,
    env: &Envelope,
    extra: &str,
    message_id: Option<&str>,
    mail_id: &str,
    hits: Option<f64>,
    size: u64,
    queued: &str,
    elapsed: Duration,
) -> String {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let mut s = format!(
        "({am_id}) {verb} {} {{{}}}, [{}]",
        clean(category),
        clean(actions),
        env.peer.ip()
    );
    if let Some(a) = &env.xforward.addr {
        s.push_str(&format!(" [{}]", clean(a)));
        if let Some(p) = &env.xforward.port {
            s.push_str(&format!(":{}", clean(p)));
        }
    }
    let rcpts: Vec<String> = env
        .recipients
        .iter()
        .map(|r| format!("<{}>", clean(&r.address)))
        .collect();
    s.push_str(&format!(" <{}> -> {}", clean(&env.sender), rcpts.join(",")));
    if !extra.is_empty() {
        s.push_str(&format!(", {}", clean(extra)));
    }
    if let Some(q) = &env.xforward.ident {
        s.push_str(&format!(", Queue-ID: {}", clean(q)));
    }
    if let Some(m) = message_id {
        s.push_str(&format!(", Message-ID: {}", clean(m)));
    }
    s.push_str(&format!(", mail_id: {mail_id}"));
    match hits {
        Some(h) => s.push_str(&format!(", Hits: {}", crate::policy::format_score(h))),
        None => s.push_str(", Hits: -"),
    }
    s.push_str(&format!(
        ", size: {size}{queued}, {} ms",
        elapsed.as_millis()
    ));
    s
}

/// The log's category word: `INFECTED (name)`, `BANNED (descr)`, `BAD-HEADER-n`, ...
pub fn category_word(cat: Category, f: &Findings) -> String {
    match cat {
        Category::Virus => format!("INFECTED ({})", f.viruses.join(",")),
        Category::Banned => format!("BANNED ({})", f.banned_text()),
        Category::Unchecked => "UNCHECKED".into(),
        Category::Spam => "SPAM".into(),
        Category::Spammy => "SPAMMY".into(),
        Category::BadHeader => format!(
            "BAD-HEADER-{}",
            f.bad_headers.iter().map(|b| b.0).max().unwrap_or(0)
        ),
        Category::Oversized => "OVERSIZED".into(),
        Category::Clean => "CLEAN".into(),
    }
}

pub fn queued_as(r: &Reply) -> String {
    let text = r.one_line();
    let q = text
        .rsplit_once("queued as ")
        .map(|(_, q)| q.trim().to_string())
        .unwrap_or_else(|| {
            text.split_once("): ")
                .map(|(_, r)| r.to_string())
                .unwrap_or(text.clone())
        });
    format!(", queued_as: {q}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_split_like_amavisd() {
        let line = format!(
            "(123-01) Passed CLEAN {{RelayedInbound}}, {}",
            "x".repeat(2500)
        );
        let parts = split_line(&line, 980);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= 980));
        assert!(parts[0].ends_with("...") && parts[1].starts_with("(123-01) ..."));
        let joined: String = parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let p = p.strip_suffix("...").unwrap_or(p);
                if i == 0 {
                    p.to_string()
                } else {
                    p["(123-01) ...".len()..].to_string()
                }
            })
            .collect();
        assert_eq!(joined, line);
    }

    #[test]
    fn syslog_datagram_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.connect(&path).unwrap();
        let c = Config::from_yaml("syslog_facility: local3\n", "t").unwrap();
        let mut s = Syslog::new(&c);
        s.sock = Some(client);
        s.emit("(1-01) Passed CLEAN {RelayedInbound}, x");
        let mut buf = [0u8; 2048];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(
            got,
            format!(
                "<158>amavis[{}]: (1-01) Passed CLEAN {{RelayedInbound}}, x",
                std::process::id()
            )
        );
    }

    #[test]
    fn line_matches_amavisd_template_order() {
        let mut env = crate::smtp::envelope::test_envelope();
        let l = summary_line_ext(
            "22417-03",
            "Blocked",
            "INFECTED (Eicar-Test-Signature.UNOFFICIAL)",
            "DiscardedInbound,Quarantined",
            &env,
            "quarantine: 4/virus-4jupkh0DsX6V",
            Some("<eicar.0004@example.org>"),
            "4jupkh0DsX6V",
            None,
            831,
            "",
            Duration::from_millis(34),
        );
        assert_eq!(
            l,
            "(22417-03) Blocked INFECTED (Eicar-Test-Signature.UNOFFICIAL) {DiscardedInbound,Quarantined}, [127.0.0.1] <alice@example.org> -> <bob@example.com>, quarantine: 4/virus-4jupkh0DsX6V, Message-ID: <eicar.0004@example.org>, mail_id: 4jupkh0DsX6V, Hits: -, size: 831, 34 ms"
        );
        env.xforward.addr = Some("192.0.2.10".into());
        env.xforward.port = Some("54321".into());
        env.xforward.ident = Some("4XyZ1234abc".into());
        let l = summary_line(
            "21088-01",
            "Passed",
            "CLEAN",
            "RelayedInbound",
            &env,
            Some("<ham3k.0001@example.org>"),
            "BIGx5TmBpFBV",
            Some(1.3),
            2982,
            ", queued_as: 250 2.0.0 Ok",
            Duration::from_millis(146),
        );
        assert_eq!(
            l,
            "(21088-01) Passed CLEAN {RelayedInbound}, [127.0.0.1] [192.0.2.10]:54321 <alice@example.org> -> <bob@example.com>, Queue-ID: 4XyZ1234abc, Message-ID: <ham3k.0001@example.org>, mail_id: BIGx5TmBpFBV, Hits: 1.3, size: 2982, queued_as: 250 2.0.0 Ok, 146 ms"
        );
    }
}
