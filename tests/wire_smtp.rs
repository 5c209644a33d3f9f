//! Wire-level tests of the inbound server: pipelining, LMTP, dot-stuffing,
//! byte-exact bodies, size limits, ACL, max_servers, timeouts.

mod support;

use support::*;

#[tokio::test]
async fn ehlo_offers_what_amavisd_offers() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::connect(f.addr).await;
    assert_eq!(
        c.reply().await,
        "220 [127.0.0.1] ESMTP amavis service ready"
    );
    let e = c.cmd("EHLO mx.example.com").await;
    assert_eq!(
        e,
        "250-[127.0.0.1]\n250-VRFY\n250-PIPELINING\n250-SIZE\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-SMTPUTF8\n250-DSN\n250 XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"
    );
    assert_eq!(
        c.cmd("XFORWARD NAME=client.example.org ADDR=192.0.2.10 PORT=54321")
            .await,
        "250 2.5.0 Ok XFORWARD"
    );
    assert_eq!(
        c.cmd("QUIT").await,
        "221 2.0.0 [127.0.0.1] amavis closing transmission channel"
    );
}

#[tokio::test]
async fn pipelined_batch_gets_replies_in_order_and_250_after_downstream() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    c.send(b"MAIL FROM:<alice@example.org> BODY=8BITMIME\r\nRCPT TO:<bob@example.com> NOTIFY=FAILURE ORCPT=rfc822;bob@example.com\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n").await;
    assert_eq!(c.reply().await, "250 2.1.0 Sender <alice@example.org> OK");
    assert_eq!(c.reply().await, "250 2.1.5 Recipient <bob@example.com> OK");
    assert_eq!(
        c.reply().await,
        "250 2.1.5 Recipient <carol@example.com> OK"
    );
    assert!(c.reply().await.starts_with("354 "));
    c.send(&message("pipelined", "hello\r\n")).await;
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert_eq!(
        r,
        "250 2.0.0 from MTA(smtp:[127.0.0.1]:".to_string()
            + &d.port.to_string()
            + "): 250 2.0.0 Ok: queued as Q1"
    );
    let seen = d.completed();
    assert_eq!(seen.len(), 1);
    // Parameters are carried through; SIZE recomputed; EHLO as amavisd: localhost.
    assert_eq!(seen[0].ehlo, "EHLO localhost");
    assert!(
        seen[0]
            .mail
            .starts_with("MAIL FROM:<alice@example.org> BODY=8BITMIME SIZE="),
        "{}",
        seen[0].mail
    );
    assert_eq!(
        seen[0].rcpts[0],
        "RCPT TO:<bob@example.com> NOTIFY=FAILURE ORCPT=rfc822;bob@example.com"
    );
    assert_eq!(seen[0].rcpts[1], "RCPT TO:<carol@example.com>");
    // Two recipients: no "for <rcpt>" in Received.
    let text = String::from_utf8_lossy(&seen[0].data);
    assert!(text.starts_with("Received: from mx.example.com ([127.0.0.1])\r\n by localhost (mx.example.com [127.0.0.1]) (amavis, port "), "{text}");
    assert!(!text.contains(" for <"), "{text}");
}

#[tokio::test]
async fn xforward_is_passed_to_the_next_hop() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    c.cmd("XFORWARD NAME=client.example.org ADDR=192.0.2.10 PORT=54321 PROTO=ESMTP HELO=client.example.org").await;
    c.cmd("XFORWARD IDENT=4XyZ1234abc SOURCE=REMOTE").await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("xf", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let seen = d.completed();
    let xf: Vec<&String> = seen[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("XFORWARD"))
        .collect();
    let all = xf.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    for attr in [
        "NAME=client.example.org",
        "ADDR=192.0.2.10",
        "PORT=54321",
        "PROTO=ESMTP",
        "HELO=client.example.org",
        "IDENT=4XyZ1234abc",
        "SOURCE=REMOTE",
    ] {
        assert!(all.contains(attr), "{attr} missing in {all}");
    }
}

#[tokio::test]
async fn dot_stuffing_and_8bit_round_trip_byte_exact() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    // Original message (unstuffed), with dots, 8-bit, NUL-free binary-ish bytes,
    // a long line and a bare CR inside a line.
    let mut original = message("dots", "");
    original.extend_from_slice(b".leading dot\r\n..two dots\r\n.\r\nnot the end\r\n");
    original.extend_from_slice("caf\u{e9} \u{fc}ber \x7f\r\n".as_bytes());
    original.extend_from_slice(&[0xff, 0xfe, 0x80, b'\r', b'x', b'\r', b'\n']);
    original.extend_from_slice(&vec![b'a'; 5000]);
    original.extend_from_slice(b"\r\n");
    let mut stuffed = Vec::new();
    for line in original.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &stuffed)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let seen = d.completed();
    assert_eq!(strip_our_headers(&seen[0].data), &original[..]);
    assert!(seen[0].mail.contains("BODY=8BITMIME"), "{}", seen[0].mail);
}

#[tokio::test]
async fn lmtp_gives_one_reply_per_recipient() {
    let d = Downstream::start(Mode::RcptReply(
        "nobody",
        "550 5.1.1 <nobody@example.com>: Recipient address rejected",
    ))
    .await;
    let f = start_filter("", d.port).await;
    let mut c = Client::connect(f.addr).await;
    c.reply().await;
    assert!(c.cmd("LHLO mx.example.com").await.starts_with("250-"));
    c.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n").await;
    for _ in 0..4 {
        assert!(c.reply().await.starts_with("250"));
    }
    assert!(c.reply().await.starts_with("354"));
    c.send(&message("lmtp", "body\r\n")).await;
    c.send(b".\r\n").await;
    let r1 = c.reply().await;
    let r2 = c.reply().await;
    let r3 = c.reply().await;
    assert!(r1.starts_with("250 2.0.0 from MTA("), "{r1}");
    assert!(r2.starts_with("550 5.1.1 from MTA("), "{r2}");
    assert!(r2.contains("Recipient address rejected"), "{r2}");
    assert!(r3.starts_with("250 2.0.0 from MTA("), "{r3}");
    assert_eq!(d.completed().len(), 1);
    assert!(String::from_utf8_lossy(&d.completed()[0].data).contains("with LMTP"));
}

#[tokio::test]
async fn size_limit_declared_and_actual() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("smtpd_message_size_limit: 1000\n", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c.cmd("MAIL FROM:<a@example.org> SIZE=5000").await;
    assert!(r.starts_with("552 5.3.4 "), "{r}");
    let big = message("big", &format!("{}\r\n", "x".repeat(2000)));
    let r = c
        .transaction("a@example.org", &["b@example.com"], &big)
        .await;
    assert!(r.starts_with("552 5.3.4 "), "{r}");
    assert!(d.completed().is_empty());
    // The session goes on after a refused message.
    let r = c
        .transaction(
            "a@example.org",
            &["b@example.com"],
            &message("small", "ok\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
}

#[tokio::test]
async fn inet_acl_refuses_other_clients() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("inet_acl: ['10.9.9.9']\n", d.port).await;
    let mut c = Client::connect(f.addr).await;
    let r = c.reply().await;
    assert!(r.starts_with("421 4.7.1 "), "{r}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn max_servers_overflow_waits_then_gets_421() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("max_servers: 1\nmax_servers_wait: 1\n", d.port).await;
    let mut first = Client::hello(f.addr).await;
    let mut second = Client::connect(f.addr).await;
    let t0 = std::time::Instant::now();
    let r = second.reply().await;
    assert!(r.starts_with("421 4.3.2 "), "{r}");
    // Not refused at once: it waited max_servers_wait for a free slot.
    assert!(t0.elapsed() >= std::time::Duration::from_millis(900));
    // The first session is unaffected.
    let r = first
        .transaction("a@example.org", &["b@example.com"], &message("m", "x\r\n"))
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    first.cmd("QUIT").await;
    drop(first);
    // Once it is gone, a new session is served.
    let mut third = None;
    for _ in 0..50 {
        let mut c = Client::connect(f.addr).await;
        if c.reply().await.starts_with("220") {
            third = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(third.is_some(), "slot was not released");
}

#[tokio::test]
async fn idle_client_is_timed_out() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("smtpd_timeout: 1\n", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c.reply().await;
    assert!(r.starts_with("421 4.4.2 "), "{r}");
    // A client stalling in DATA is timed out too, and nothing is delivered.
    let mut c = Client::hello(f.addr).await;
    c.cmd("MAIL FROM:<a@example.org>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    c.cmd("DATA").await;
    c.send(b"Subject: partial\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("421 4.4.2 "), "{r}");
    assert!(d.completed().is_empty());
}

#[tokio::test]
async fn protocol_errors_are_answered() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::connect(f.addr).await;
    c.reply().await;
    assert!(c.cmd("MAIL FROM:<a@b>").await.starts_with("503 5.5.1"));
    c.cmd("EHLO x").await;
    assert!(c.cmd("RCPT TO:<a@b>").await.starts_with("503 5.5.1"));
    assert!(c.cmd("DATA").await.starts_with("503 5.5.1"));
    assert!(c.cmd("BOGUS").await.starts_with("500 5.5.2"));
    let long = format!("NOOP {}", "x".repeat(10_000));
    assert!(c.cmd(&long).await.starts_with("500 5.5.2"));
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(c.cmd("RSET").await.starts_with("250"));
}

/// As in amavisd's listen queue, a connection beyond max_servers is served
/// as soon as a session ends, not refused (Postfix parks idle connections to
/// the filter in its connection cache; a 421 would defer mail for minutes).
#[tokio::test]
async fn max_servers_overflow_is_served_when_a_slot_frees() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("max_servers: 1\nmax_servers_wait: 30\n", d.port).await;
    let mut first = Client::hello(f.addr).await;
    let mut second = Client::connect(f.addr).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = first.cmd("QUIT").await;
    assert!(r.starts_with("221"), "{r}");
    let r = second.reply().await;
    assert!(r.starts_with("220 "), "{r}");
    let r = second.cmd("EHLO client.example.org").await;
    assert!(r.starts_with("250"), "{r}");
    let r = second
        .transaction("a@example.org", &["b@example.com"], &message("w", "x\r\n"))
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(d.completed().len(), 1);
}
