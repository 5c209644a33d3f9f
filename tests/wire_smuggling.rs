//! SMTP smuggling through the filter: only `<CR><LF>.<CR><LF>` ends DATA;
//! bare `<LF>` is normalized to `<CR><LF>` (Postfix >= 3.9's default
//! `smtpd_forbid_bare_newline = normalize`), so a downstream Postfix of any
//! age never sees a second transaction, and dots are stuffed on the way out.

mod common;
mod support;

use support::*;

/// A message whose body hides a second transaction behind one of the
/// non-standard end-of-data sequences, then ends properly.
fn smuggling_body(fake_end: &str) -> Vec<u8> {
    let mut m = message("smuggle", "first part\r\n");
    m.extend_from_slice(fake_end.as_bytes());
    m.extend_from_slice(
        b"MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nFrom: admin@example.com\r\nSubject: smuggled\r\n\r\nspoofed\r\n",
    );
    m
}

async fn one_transaction(fake_end: &str) -> (String, Vec<Seen>) {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "a@example.org",
            &["b@example.com"],
            &smuggling_body(fake_end),
        )
        .await;
    // Exactly one reply to the whole thing; the next command is answered as such.
    let q = c.cmd("QUIT").await;
    assert!(q.starts_with("221 "), "{q}");
    (r, d.seen())
}

fn body_of(seen: &Seen) -> String {
    String::from_utf8_lossy(strip_our_headers(&seen.data)).into_owned()
}

#[tokio::test]
async fn lf_dot_lf_does_not_end_the_message() {
    let (r, seen) = one_transaction("\n.\n").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].rcpts.len(), 1);
    assert!(seen[0].rcpts[0].contains("b@example.com"));
    let body = body_of(&seen[0]);
    // Bare LFs became CRLF; the lone dot line stayed content (its leading
    // dot removed as stuffing, as for any line that starts with a dot).
    assert!(
        body.ends_with("first part\r\n\r\n\r\nMAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nFrom: admin@example.com\r\nSubject: smuggled\r\n\r\nspoofed\r\n"),
        "{body:?}"
    );
}

#[tokio::test]
async fn cr_dot_cr_does_not_end_the_message() {
    let (r, seen) = one_transaction("\r.\r").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(seen.len(), 1, "{seen:?}");
    // Bare CRs are not line ends (Postfix neither): passed through byte-exact.
    assert!(
        body_of(&seen[0]).contains("first part\r\n\r.\rMAIL FROM:<admin@example.com>\r\n"),
        "{:?}",
        body_of(&seen[0])
    );
}

#[tokio::test]
async fn lf_dot_crlf_does_not_end_the_message() {
    let (r, seen) = one_transaction("\n.\r\n").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(seen.len(), 1, "{seen:?}");
    let body = body_of(&seen[0]);
    assert!(
        body.contains("first part\r\n\r\n\r\nMAIL FROM:<admin@example.com>\r\n"),
        "{body:?}"
    );
}

#[tokio::test]
async fn crlf_dot_lf_does_not_end_the_message() {
    let (r, seen) = one_transaction(".\n").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(seen.len(), 1, "{seen:?}");
    let body = body_of(&seen[0]);
    assert!(
        body.contains("first part\r\n\r\nMAIL FROM:<admin@example.com>\r\n"),
        "{body:?}"
    );
}

#[tokio::test]
async fn bare_lf_lines_are_normalized_and_dots_stuffed_for_the_next_hop() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    // Lines after bare LFs that start with dots: `..x` is a stuffed `.x`.
    let mut m = message("dots", "a\n..x\n...\r\n..\r\nend\n");
    m.extend_from_slice(b"\r\n");
    let r = c.transaction("a@example.org", &["b@example.com"], &m).await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let seen = d.completed();
    assert_eq!(seen.len(), 1);
    // The stand-in unstuffs what it reads line by line; had we sent a bare
    // `.` line or an unstuffed dot, this would differ (or end early).
    let body = body_of(&seen[0]);
    assert!(
        body.ends_with("\r\n\r\na\r\n.x\r\n..\r\n.\r\nend\r\n\r\n"),
        "{body:?}"
    );
}

#[tokio::test]
async fn empty_message_and_leading_dot_on_the_first_line() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    // The first line of DATA follows the CRLF of the DATA command: its dot
    // is stuffing too, and a lone `.` there ends an empty message.
    c.cmd("MAIL FROM:<a@example.org>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    let r = c.cmd("..X-First: dot\r\nSubject: s\r\n\r\nbody\r\n.").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let seen = d.completed();
    assert!(
        body_of(&seen[0]).starts_with(".X-First: dot\r\n"),
        "{:?}",
        body_of(&seen[0])
    );
    c.cmd("MAIL FROM:<a@example.org>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    let r = c.cmd(".").await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(d.completed().len(), 2);
}

#[tokio::test]
async fn reject_mode_refuses_bare_lf_in_data_and_commands() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("smtpd_forbid_bare_newline: reject\n", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "a@example.org",
            &["b@example.com"],
            &smuggling_body("\n.\n"),
        )
        .await;
    assert!(r.starts_with("550 5.5.2 Error: bare <LF> received"), "{r}");
    assert!(d.seen().is_empty());
    // A command ending in bare LF is refused, not executed.
    c.send(b"MAIL FROM:<a@example.org>\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("550 5.5.2 Error: bare <LF> received"), "{r}");
    assert!(c.cmd("RCPT TO:<b@example.com>").await.starts_with("503"));
    // Proper CRLF mail still passes.
    let r = c
        .transaction("a@example.org", &["b@example.com"], &message("ok", "x\r\n"))
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(d.completed().len(), 1);
}

/// The real thing downstream: Postfix 3.7 (Debian 12), whose reinjection
/// smtpd has `smtpd_forbid_bare_newline = no` and would read `<LF>.<LF>`
/// as the end of data. A hostile client talking to the filter directly
/// sends each fake end in turn; Postfix delivers exactly one message per
/// transaction, each with the would-be second message inside its body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_postfix_next_hop_never_sees_the_smuggled_message() {
    use common::postfix::{PostfixHarness, free_port};
    let pf = tokio::task::spawn_blocking(move || PostfixHarness::start(free_port()))
        .await
        .unwrap();
    let yaml = format!(
        "inet_socket_port: 0\nforward_method: '{}'\nmyhostname: filter.example.net\nsa_rules_dirs: []\n",
        pf.forward_method()
    );
    let cfg = amavisd_rs::config::Config::from_yaml(&yaml, "t").unwrap();
    let rt = amavisd_rs::pipeline::Runtime::build(cfg).await.unwrap();
    let server = amavisd_rs::smtp::server::Server::bind(rt).await.unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.shutdown_handle();
    tokio::spawn(server.run());
    let rcpt = pf.recipient().to_string();
    let ends = ["\n.\n", "\n.\r\n", ".\n", "\r.\r", "\r\n.\r"];
    let mut c = Client::hello(addr).await;
    for (i, end) in ends.iter().enumerate() {
        let mut m = format!(
            "From: alice@example.org\r\nTo: {rcpt}\r\nSubject: carrier {i}\r\nMessage-ID: <carrier{i}@example.org>\r\n\r\nfirst part\r\n"
        )
        .into_bytes();
        m.extend_from_slice(end.as_bytes());
        m.extend_from_slice(
            format!("MAIL FROM:<admin@example.com>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\nFrom: admin@example.com\r\nSubject: smuggled {i}\r\n\r\nspoofed\r\n").as_bytes(),
        );
        let r = c
            .transaction("alice@example.org", &[rcpt.as_str()], &m)
            .await;
        assert!(r.starts_with("250 2.0.0"), "{r}");
    }
    let dir = pf.maildir_new();
    let pf = tokio::task::spawn_blocking(move || {
        assert!(pf.wait_for_empty_queue(std::time::Duration::from_secs(60)));
        pf
    })
    .await
    .unwrap();
    let got = pf.wait_for_messages(&dir, ends.len(), std::time::Duration::from_secs(60));
    assert_eq!(got.len(), ends.len(), "{}", pf.diagnostics());
    for m in &got {
        let t = String::from_utf8_lossy(m).replace("\r\n", "\n");
        // Each delivered message is a carrier, with the fake one in its body.
        let (head, body) = t.split_once("\n\n").unwrap();
        assert!(head.contains("\nSubject: carrier "), "{t}");
        assert!(
            !head.contains("smuggled") && !head.contains("admin@"),
            "{t}"
        );
        assert!(
            body.contains("Subject: smuggled") && body.contains("spoofed"),
            "{t}"
        );
    }
    handle.shutdown();
}
