//! Proves the real-Postfix harness itself, without our filter: delivery through maildrop with
//! the how-to's rules, deferral while nothing listens on the filter port, and delivery exactly
//! once after a stand-in relay (the role our filter plays) appears and the queue is flushed.
//! Runs against a private Postfix, or an existing one (see tests/common/postfix.rs).

mod common;

use common::postfix::{PostfixHarness, free_port};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Generous: only reached when something is broken (Postfix retries every second here).
const WAIT: Duration = Duration::from_secs(60);
const SENDER: &str = "sender@example.org";

/// A Message-ID no earlier run used, so counts in a shared Maildir stay exact.
fn unique_id(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("<{tag}.{nanos}.{}@example.org>", std::process::id())
}

fn message(pf: &PostfixHarness, message_id: &str, extra_header: &str) -> Vec<u8> {
    format!(
        "From: <{SENDER}>\r\nTo: <{}>\r\nSubject: harness test\r\nMessage-ID: {message_id}\r\n\
         {extra_header}\r\n.a line starting with a dot\r\nbody\r\n",
        pf.recipient()
    )
    .into_bytes()
}

/// The snippet must agree with the filter's built-in defaults, or a site installing both gets
/// a filter Postfix cannot reach, or one it overloads.
#[test]
fn master_cf_snippet_agrees_with_the_filter_defaults() {
    let defaults = amavisd_rs::config::Config::default();
    let snippet = common::postfix::SNIPPET;
    let transport =
        common::postfix::snippet_service_fields(snippet, "smtp-amavis").expect("smtp-amavis entry");
    assert_eq!(transport[..2], ["smtp-amavis", "unix"]);
    assert_eq!(
        transport[6],
        defaults.max_servers.to_string(),
        "maxproc vs max_servers"
    );
    assert_eq!(transport[7], "smtp");
    let listen = format!(
        "smtp-amavis:[{}]:{}",
        defaults.inet_socket_bind,
        defaults.inet_socket_port.ports()[0]
    );
    assert_eq!(common::postfix::snippet_content_filter(snippet), listen);
    let reinject = common::postfix::snippet_service_fields(snippet, "127.0.0.1:10025")
        .expect("reinjection entry");
    assert_eq!(
        reinject[1..3],
        ["inet", "n"],
        "an inet listener, not private"
    );
    assert_eq!(reinject[7], "smtpd");
    assert_eq!(defaults.forward_method.spec, "smtp:[127.0.0.1]:10025");
}

#[test]
fn maildrop_files_spam_flagged_mail_in_junkmail_and_other_mail_in_inbox() {
    let pf = PostfixHarness::start(free_port());
    let (spam_id, ham_id) = (unique_id("spam"), unique_id("ham"));
    let spam = message(&pf, &spam_id, "X-Spam-Flag: YES\r\n");
    let ham = message(&pf, &ham_id, "X-Spam-Flag: NO\r\n");
    pf.send_to(pf.reinject_port(), SENDER, pf.recipient(), &spam);
    pf.send_to(pf.reinject_port(), SENDER, pf.recipient(), &ham);

    let junk = pf.wait_for_matching(&pf.junk_new(), spam_id.as_bytes(), 1, WAIT);
    let inbox = pf.wait_for_matching(&pf.maildir_new(), ham_id.as_bytes(), 1, WAIT);
    assert_eq!((junk.len(), inbox.len()), (1, 1));
    // Each went to its own folder only, with the body intact (dot-stuffing undone).
    assert!(
        pf.messages(&pf.maildir_new())
            .iter()
            .all(|m| !common::postfix::contains(m, spam_id.as_bytes()))
    );
    assert!(
        pf.messages(&pf.junk_new())
            .iter()
            .all(|m| !common::postfix::contains(m, ham_id.as_bytes()))
    );
    assert!(common::postfix::contains(
        &inbox[0],
        b"\n.a line starting with a dot\n"
    ));
}

#[test]
fn mail_is_deferred_while_the_filter_is_down_and_delivered_once_after_flush() {
    let pf = PostfixHarness::start(free_port());
    let id = unique_id("deferred");
    let reply = pf.send(SENDER, pf.recipient(), &message(&pf, &id, ""));
    let queue_id = queued_as(&reply);

    // Nothing listens on the filter port: Postfix keeps the message and retries.
    let deferred = format!("{queue_id}: to=<{}>", pf.recipient());
    assert!(
        common::postfix::wait_until(WAIT, || pf
            .log()
            .lines()
            .any(|l| l.contains(&deferred) && l.contains("status=deferred"))),
        "no status=deferred for {queue_id}\n{}",
        pf.diagnostics()
    );
    assert!(pf.queue_ids().contains(&queue_id), "{}", pf.diagnostics());
    assert!(
        pf.messages(&pf.maildir_new())
            .iter()
            .all(|m| !common::postfix::contains(m, id.as_bytes()))
    );

    // The filter comes back: a flush delivers the message, once.
    let listener = TcpListener::bind((pf.host(), pf.filter_port())).expect("bind filter port");
    let relayed = Arc::new(Mutex::new(Vec::new()));
    stand_in_filter(
        listener,
        pf.host().to_string(),
        pf.reinject_port(),
        relayed.clone(),
    );
    pf.flush();
    pf.wait_for_matching(&pf.maildir_new(), id.as_bytes(), 1, WAIT);
    assert!(
        common::postfix::wait_until(WAIT, || !pf.queue_ids().contains(&queue_id)),
        "{queue_id} still queued\n{}",
        pf.diagnostics()
    );
    let sent = format!("relay=127.0.0.1[127.0.0.1]:{}", pf.filter_port());
    assert!(pf.wait_for_log(&sent, WAIT), "{}", pf.diagnostics());
    let relayed = relayed.lock().unwrap().clone();
    assert_eq!(relayed.len(), 1, "relayed {relayed:?}");
    // Neither the message nor its reinjected copy is queued: no further delivery can follow.
    let copy_id = queued_as(&relayed[0]);
    assert!(
        common::postfix::wait_until(WAIT, || !pf.queue_ids().contains(&copy_id)),
        "{copy_id} still queued\n{}",
        pf.diagnostics()
    );
    let copies = pf.wait_for_matching(&pf.maildir_new(), id.as_bytes(), 1, WAIT);
    assert_eq!(copies.len(), 1, "delivered {} times", copies.len());
}

/// The queue ID in a Postfix `250 2.0.0 Ok: queued as ID` reply.
fn queued_as(reply: &str) -> String {
    reply
        .rsplit_once("queued as ")
        .map(|(_, q)| q.trim().to_string())
        .unwrap_or_else(|| panic!("no queue id in {reply:?}"))
}

/// Downstream replies to every message the stand-in passed on.
type Relayed = Arc<Mutex<Vec<String>>>;

/// Stand-in for our filter: takes each message and answers `250` only after re-sending it to
/// the reinjection listener was accepted (`451` otherwise). No extensions offered, so Postfix
/// sends plain MAIL/RCPT lines, which are passed on as they are.
fn stand_in_filter(listener: TcpListener, host: String, port: u16, relayed: Relayed) {
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (host, relayed) = (host.clone(), relayed.clone());
            thread::spawn(move || relay_session(conn, &host, port, &relayed));
        }
    });
}

fn relay_session(conn: TcpStream, host: &str, port: u16, relayed: &Relayed) -> io::Result<()> {
    let mut input = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut envelope: Vec<String> = Vec::new(); // the MAIL and RCPT lines
    out.write_all(b"220 stand-in.filter ESMTP\r\n")?;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => "250 stand-in.filter".to_string(),
            "MAIL" | "RCPT" => {
                envelope.push(line.trim_end().to_string());
                "250 2.0.0 Ok".to_string()
            }
            "DATA" => {
                out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = Vec::new(); // still dot-stuffed, ends before the final dot
                loop {
                    let start = data.len();
                    if input.read_until(b'\n', &mut data)? == 0 || data[start..] == *b".\r\n" {
                        data.truncate(start);
                        break;
                    }
                }
                let downstream = forward(host, port, &envelope, &data)
                    .unwrap_or_else(|e| format!("451 4.4.1 downstream: {e}"));
                envelope.clear();
                if downstream.starts_with('2') {
                    relayed.lock().unwrap().push(downstream.clone());
                    format!("250 2.0.0 relayed: {downstream}")
                } else {
                    format!("451 4.3.0 downstream said: {downstream}")
                }
            }
            "QUIT" => return out.write_all(b"221 2.0.0 Bye\r\n"),
            _ => "250 2.0.0 Ok".to_string(),
        };
        out.write_all(format!("{reply}\r\n").as_bytes())?;
    }
}

/// One SMTP transaction to the reinjection listener; returns its reply to the final dot.
fn forward(host: &str, port: u16, envelope: &[String], data: &[u8]) -> io::Result<String> {
    let conn = TcpStream::connect((host, port))?;
    let mut input = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut step = |send: &[u8], want: char| -> io::Result<String> {
        out.write_all(send)?;
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            input.read_line(&mut line)?;
            reply.push_str(line.trim_end());
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        match reply.starts_with(want) {
            true => Ok(reply),
            false => Err(io::Error::other(reply)),
        }
    };
    step(b"", '2')?;
    step(b"EHLO stand-in.filter\r\n", '2')?;
    for command in envelope {
        step(format!("{command}\r\n").as_bytes(), '2')?;
    }
    step(b"DATA\r\n", '3')?;
    let reply = step(&[data, b".\r\n"].concat(), '2')?;
    let _ = step(b"QUIT\r\n", '2');
    Ok(reply)
}
