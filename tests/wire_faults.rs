//! Fault injection with a stand-in downstream: every failure maps to the
//! right upstream reply, and nothing is `250` that the next hop did not accept.

mod support;

use support::*;

#[tokio::test]
async fn downstream_refusing_connections_gives_451() {
    // A port nobody listens on.
    let port = free_port();
    let f = start_filter("", port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("a@example.org", &["b@example.com"], &message("m", "x\r\n"))
        .await;
    assert!(r.starts_with("451 4.4.1 "), "{r}");
    assert!(r.contains("Can't connect to smtp:[127.0.0.1]:"), "{r}");
}

#[tokio::test]
async fn downstream_451_after_data_gives_451() {
    let d = Downstream::start(Mode::AfterData("451 4.3.0 Error: queue file write error")).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("a@example.org", &["b@example.com"], &message("m", "x\r\n"))
        .await;
    assert!(r.starts_with("451 4.3.0 from MTA("), "{r}");
    assert!(r.contains("451 4.3.0 Error: queue file write error"), "{r}");
    assert!(d.completed().is_empty());
}

#[tokio::test]
async fn downstream_554_after_data_is_relayed() {
    let d = Downstream::start(Mode::AfterData("554 5.7.1 Message content rejected")).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("a@example.org", &["b@example.com"], &message("m", "x\r\n"))
        .await;
    assert!(r.starts_with("554 5.7.1 from MTA("), "{r}");
}

#[tokio::test]
async fn one_recipient_550_others_delivered_and_sender_gets_a_dsn() {
    let d = Downstream::start(Mode::RcptReply(
        "nobody",
        "550 5.1.1 <nobody@example.com>: Recipient address rejected",
    ))
    .await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com", "nobody@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    // The message for bob, then a DSN from <> to alice about nobody.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = d.completed();
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].mail.starts_with("MAIL FROM:<alice@example.org>"));
    let dsn = &seen[1];
    assert!(
        dsn.mail.starts_with("MAIL FROM:<> BODY=7BIT ENVID=AM."),
        "{}",
        dsn.mail
    );
    assert_eq!(
        dsn.rcpts,
        vec!["RCPT TO:<alice@example.org> ORCPT=rfc822;alice@example.org"]
    );
    let text = String::from_utf8_lossy(&dsn.data);
    assert!(text.contains("report-type=delivery-status"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; nobody@example.com"),
        "{text}"
    );
    assert!(text.contains("Status: 5.1.1"), "{text}");
}

#[tokio::test]
async fn one_recipient_451_defers_everyone_and_delivers_nothing() {
    let d = Downstream::start(Mode::RcptReply("slow", "451 4.3.0 try later")).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com", "slow@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("451 4.3.0 from MTA("), "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        d.completed().is_empty(),
        "nothing may be delivered when the MTA will retry all"
    );
}

#[tokio::test]
async fn all_recipients_rejected_relays_the_5xx() {
    let d = Downstream::start(Mode::RcptReply("example.com", "550 5.1.1 unknown user")).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("550 5.1.1 from MTA("), "{r}");
    assert!(d.completed().is_empty());
}

#[tokio::test]
async fn downstream_hanging_after_data_times_out_with_451() {
    let d = Downstream::start(Mode::HangAfterData).await;
    let f = start_filter("smtp_client_timeout: 1\n", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("a@example.org", &["b@example.com"], &message("m", "x\r\n"))
        .await;
    assert!(r.starts_with("451 4.4.2 "), "{r}");
    assert!(r.contains("timed out"), "{r}");
}

#[tokio::test]
async fn downstream_silent_greeting_times_out_with_451() {
    let d = Downstream::start(Mode::HangGreeting).await;
    let f = start_filter("smtp_client_timeout: 1\n", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("a@example.org", &["b@example.com"], &message("m", "x\r\n"))
        .await;
    assert!(r.starts_with("451 4.4.2 "), "{r}");
}

#[tokio::test]
async fn next_hop_connection_is_reused_and_a_closed_one_is_retried() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r1 = c
        .transaction("a@example.org", &["b@example.com"], &message("m1", "x\r\n"))
        .await;
    let r2 = c
        .transaction("a@example.org", &["b@example.com"], &message("m2", "x\r\n"))
        .await;
    assert!(
        r1.ends_with("queued as Q1") && r2.ends_with("queued as Q1"),
        "{r1} / {r2}"
    );

    // A next hop that drops the cached connection: the message still goes
    // through on a new one, exactly once.
    let d = Downstream::start(Mode::OneShot).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r1 = c
        .transaction("a@example.org", &["b@example.com"], &message("m1", "x\r\n"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r2 = c
        .transaction("a@example.org", &["b@example.com"], &message("m2", "x\r\n"))
        .await;
    assert!(r1.ends_with("queued as Q1"), "{r1}");
    assert!(r2.ends_with("queued as Q2"), "{r2}");
    assert_eq!(d.completed().len(), 2);
}

#[tokio::test]
async fn next_hop_without_pipelining_dsn_or_xforward() {
    let d = Downstream::start(Mode::Plain).await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    c.cmd("XFORWARD ADDR=192.0.2.10").await;
    c.send(b"MAIL FROM:<a@example.org> RET=HDRS ENVID=x1\r\nRCPT TO:<b@example.com> NOTIFY=FAILURE ORCPT=rfc822;b@example.com\r\nDATA\r\n").await;
    for _ in 0..3 {
        c.reply().await;
    }
    c.send(&message("plain", "x\r\n")).await;
    c.send(b".\r\n").await;
    let r = c.reply().await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = d.completed();
    // Parameters the next hop did not offer are not sent; no XFORWARD.
    assert!(
        s[0].commands.iter().all(|c| !c.starts_with("XFORWARD")),
        "{:?}",
        s[0].commands
    );
    assert_eq!(s[0].rcpts, vec!["RCPT TO:<b@example.com>"]);
    assert!(
        !s[0].mail.contains("RET=") && !s[0].mail.contains("ENVID="),
        "{}",
        s[0].mail
    );
}
