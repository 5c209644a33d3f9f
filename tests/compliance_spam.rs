//! Rows of reference/amavisd-behaviour.md for spam, through the real server
//! with a stand-in next hop: reply texts (up to the id), headers, splitting,
//! DSN envelope.

mod support;

use support::*;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn howto(destiny: &str, extra: &str) -> String {
    format!(
        "local_domains_acl: ['.example.com']\nsa_tag_level_deflt: -999\nsa_tag2_level_deflt: 5.0\nsa_kill_level_deflt: 999\nsa_dsn_cutoff_level: 10\nsa_spam_subject_tag: '***SPAM*** '\nfinal_spam_destiny: {destiny}\n{extra}"
    )
}

fn gtube() -> Vec<u8> {
    message("Cheap meds, act now", &format!("{GTUBE}\r\n"))
}

async fn wait_for(d: &Downstream, n: usize) -> Vec<Seen> {
    for _ in 0..100 {
        let s = d.completed();
        if s.len() >= n {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    d.completed()
}

#[tokio::test]
async fn gtube_pass_is_tagged_for_local_recipient() {
    let d = Downstream::start(Mode::Accept).await;
    let q = tempfile::tempdir().unwrap();
    let f = start_filter(
        &howto(
            "D_PASS",
            &format!("quarantinedir: '{}'\n", q.path().display()),
        ),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &gtube())
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA(smtp:[127.0.0.1]:"), "{r}");
    let s = wait_for(&d, 1).await;
    let text = String::from_utf8_lossy(&s[0].data).to_string();
    assert!(text.starts_with("X-Quarantine-ID: <"), "{text}");
    // The score is the rule engine's (SpamAssassin's installed rules).
    let rs = amavisd_rs::rules::RuleSet::load(&Default::default())
        .expect("installed SpamAssassin rules");
    let want = rs.check(&gtube(), Some("alice@example.org"));
    assert!(want.hits.iter().any(|h| h.name == "GTUBE"));
    let score = amavisd_rs::policy::format_score(want.score);
    assert!(
        text.contains(&format!(
            "\r\nX-Spam-Flag: YES\r\nX-Spam-Score: {score}\r\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("X-Spam-Level: {}\r\n", "*".repeat(64))),
        "{text}"
    );
    let status = amavisd_rs::policy::headers::spam_status(
        &amavisd_rs::config::Config::from_yaml(&howto("D_PASS", ""), "t").unwrap(),
        true,
        want.score,
        &want
            .hits
            .iter()
            .map(|h| (h.name.clone(), h.score))
            .collect::<Vec<_>>(),
    );
    assert!(
        status.starts_with(&format!(
            "X-Spam-Status: Yes, score={score} tagged_above=-999 required=5"
        )),
        "{status}"
    );
    assert!(
        text.contains(&format!("{status}Received: from mx.example.com")),
        "{text}\n---\n{status}"
    );
    assert!(
        text.contains("\r\nSubject: ***SPAM*** Cheap meds, act now\r\n"),
        "{text}"
    );
    // Quarantined as spam-<mail_id>.gz even though passed.
    let qid = text
        .split("X-Quarantine-ID: <")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let path = q.path().join(&qid[..1]).join(format!("spam-{qid}.gz"));
    assert!(path.exists(), "{path:?}");
}

#[tokio::test]
async fn gtube_discard_reject_and_bounce_replies() {
    let d = Downstream::start(Mode::Accept).await;
    for (destiny, want) in [
        ("D_DISCARD", "250 2.7.0 Ok, discarded, id="),
        ("D_REJECT", "554 5.7.0 Reject, id="),
        ("D_BOUNCE", "250 2.5.0 Ok, id="),
    ] {
        let f = start_filter(&howto(destiny, ""), d.port).await;
        let mut c = Client::hello(f.addr).await;
        let r = c
            .transaction("alice@example.org", &["bob@example.com"], &gtube())
            .await;
        assert!(r.starts_with(want), "{destiny}: {r}");
        match destiny {
            "D_BOUNCE" => assert!(r.ends_with(", DISCARD(bounce.suppressed)"), "{r}"),
            _ => assert!(r.ends_with(" - spam"), "{r}"),
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        d.completed().is_empty(),
        "blocked spam reached the next hop"
    );
}

#[tokio::test]
async fn gtube_bounce_below_dsn_cutoff_sends_dsn_to_sender() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &howto("D_BOUNCE", "").replace("sa_dsn_cutoff_level: 10", "sa_dsn_cutoff_level: 9999"),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &gtube())
        .await;
    assert!(
        r.starts_with("250 2.5.0 Ok, id=") && r.ends_with(", BOUNCE"),
        "{r}"
    );
    let s = wait_for(&d, 1).await;
    assert_eq!(s.len(), 1);
    assert!(
        s[0].mail.starts_with("MAIL FROM:<> BODY=7BIT ENVID=AM."),
        "{}",
        s[0].mail
    );
    assert!(s[0].mail.contains("@mx.example.com"), "{}", s[0].mail);
    assert_eq!(
        s[0].rcpts,
        vec!["RCPT TO:<alice@example.org> ORCPT=rfc822;alice@example.org"]
    );
    let text = String::from_utf8_lossy(&s[0].data);
    assert!(
        text.contains("Subject: Considered UNSOLICITED BULK EMAIL, apparently from you\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Reporting-MTA: dns; mx.example.com"),
        "{text}"
    );
    assert!(
        text.contains(
            "Action: failed\r\nStatus: 5.7.0\r\nDiagnostic-Code: smtp; 554 5.7.0 Bounce, id="
        ),
        "{text}"
    );
    assert!(text.contains("Content-Type: text/rfc822-headers"), "{text}");
}

#[tokio::test]
async fn gtube_to_local_and_nonlocal_is_split_in_two_transactions() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(&howto("D_PASS", ""), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com", "carol@elsewhere.net"],
            &gtube(),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = wait_for(&d, 2).await;
    assert_eq!(s.len(), 2, "{s:?}");
    let bob = s
        .iter()
        .find(|t| t.rcpts.iter().any(|r| r.contains("bob@")))
        .unwrap();
    let carol = s
        .iter()
        .find(|t| t.rcpts.iter().any(|r| r.contains("carol@")))
        .unwrap();
    assert_eq!(bob.rcpts.len(), 1);
    assert_eq!(carol.rcpts.len(), 1);
    let bt = String::from_utf8_lossy(&bob.data);
    let ct = String::from_utf8_lossy(&carol.data);
    assert!(
        bt.contains("X-Spam-Flag: YES") && bt.contains("Subject: ***SPAM*** "),
        "{bt}"
    );
    assert!(
        !ct.contains("X-Spam-") && ct.contains("\r\nSubject: Cheap meds, act now\r\n"),
        "{ct}"
    );
}

#[tokio::test]
async fn nonlocal_gtube_is_rejected_at_kill_level() {
    let d = Downstream::start(Mode::Accept).await;
    let cfg = "local_domains_acl: ['.example.com']\nsa_tag_level_deflt: 2.0\nsa_tag2_level_deflt: 6.31\nsa_kill_level_deflt: 6.31\nfinal_spam_destiny: D_REJECT\n";
    let f = start_filter(cfg, d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["carol@elsewhere.net"], &gtube())
        .await;
    assert!(
        r.starts_with("554 5.7.0 Reject, id=") && r.ends_with(" - spam"),
        "{r}"
    );
    // Ham below tag level: no X-Spam-* at all (kill631 levels).
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("ham", "hello\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let s = wait_for(&d, 1).await;
    assert!(!String::from_utf8_lossy(&s[0].data).contains("X-Spam-"));
}

#[tokio::test]
async fn incoming_spam_headers_are_removed() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(&howto("D_PASS", ""), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let mut m = b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, forged\r\n".to_vec();
    m.extend_from_slice(&message("ham", "hello\r\n"));
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &m)
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let s = wait_for(&d, 1).await;
    let t = String::from_utf8_lossy(&s[0].data);
    assert_eq!(t.matches("X-Spam-Flag:").count(), 1, "{t}");
    assert!(t.contains("X-Spam-Flag: NO"), "{t}");
    assert!(!t.contains("forged"), "{t}");
}

#[tokio::test]
async fn lmtp_mixed_destinies_get_their_own_replies() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &howto("D_REJECT", "spam_lovers_acl: ['lover@example.com']\n"),
        d.port,
    )
    .await;
    let mut c = Client::connect(f.addr).await;
    c.reply().await;
    c.cmd("LHLO mx.example.com").await;
    c.cmd("MAIL FROM:<alice@example.org>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    c.cmd("RCPT TO:<lover@example.com>").await;
    c.cmd("DATA").await;
    c.send(&gtube()).await;
    c.send(b".\r\n").await;
    let r1 = c.reply().await;
    let r2 = c.reply().await;
    assert!(r1.starts_with("554 5.7.0 Reject, id="), "{r1}");
    assert!(r2.starts_with("250 2.0.0 from MTA("), "{r2}");
    let s = wait_for(&d, 1).await;
    assert_eq!(s[0].rcpts, vec!["RCPT TO:<lover@example.com>"]);
}

#[tokio::test]
async fn smtp_mixed_reject_becomes_bounce() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &howto("D_REJECT", "spam_lovers_acl: ['lover@example.com']\n")
            .replace("sa_dsn_cutoff_level: 10", "sa_dsn_cutoff_level: 9999"),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com", "lover@example.com"],
            &gtube(),
        )
        .await;
    // One reply for both: the lover's delivery; bob's reject turned into a DSN.
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = wait_for(&d, 2).await;
    assert_eq!(s.len(), 2);
    assert!(s.iter().any(|t| t.mail.starts_with("MAIL FROM:<>")
        && String::from_utf8_lossy(&t.data).contains("Final-Recipient: rfc822; bob@example.com")));
}

#[tokio::test]
async fn spam_admin_is_notified_only_of_blocked_spam() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &howto("D_PASS", "spam_admin: 'postmaster@example.com'\n"),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    c.transaction("alice@example.org", &["bob@example.com"], &gtube())
        .await;
    let s = wait_for(&d, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        d.completed().len(),
        1,
        "passed spam: no admin notification: {s:?}"
    );
    drop(f);
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &howto("D_DISCARD", "spam_admin: 'postmaster@example.com'\n"),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &gtube())
        .await;
    assert!(r.starts_with("250 2.7.0 Ok, discarded"), "{r}");
    let s = wait_for(&d, 1).await;
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].rcpts, vec!["RCPT TO:<postmaster@example.com>"]);
    assert!(
        String::from_utf8_lossy(&s[0].data)
            .contains("Subject: SPAM FROM [127.0.0.1] <alice@example.org>")
    );
}
