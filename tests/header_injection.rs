//! Header injection: outside data with CR, LF or other control bytes (virus
//! names from clamd, rule names, bad-header texts, addresses, HELO, subject
//! tags, template substitutions, DSN fields, next-hop replies) never makes
//! an extra header line, MIME part, SMTP reply line or log line.

mod support;

use amavisd_rs::action::dsn::{FailedRcpt, build_dsn};
use amavisd_rs::action::log::summary_line;
use amavisd_rs::action::notify::{Facts, admin_notification, bounce};
use amavisd_rs::config::Config;
use amavisd_rs::message::edit::HeaderEdits;
use amavisd_rs::message::head::Head;
use amavisd_rs::message::received::received_header;
use amavisd_rs::policy::decide::{Category, Findings, PolicyMaps, SpamVerdict, decide};
use amavisd_rs::policy::headers::edits_for;
use amavisd_rs::smtp::envelope::{Envelope, Params, Recipient, Xforward};
use amavisd_rs::smtp::reply::Reply;
use std::time::Duration;

const EVIL: &str = "Evil\r\nBcc: victim@example.net\r\n\r\n--b\nX-Injected: 1\r";

fn config() -> Config {
    Config::from_yaml(
        "myhostname: mx.example.com\nlocal_domains_acl: ['.example.com']\nfinal_virus_destiny: D_PASS\nfinal_banned_destiny: D_PASS\nfinal_bad_header_destiny: D_PASS\nsa_tag_level_deflt: -999\nsa_tag2_level_deflt: 5\nvirus_admin: 'admin@example.com'\n",
        "t",
    )
    .unwrap()
}

fn envelope(sender: &str, rcpt: &str) -> Envelope {
    Envelope {
        sender: sender.into(),
        mail_params: Params::default(),
        recipients: vec![Recipient {
            address: rcpt.into(),
            params: Params::default(),
        }],
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:10024".parse().unwrap(),
        helo: "mx".into(),
        lmtp: false,
        xforward: Xforward::default(),
    }
}

/// Line structure of a header block: every LF ends a CRLF, every CR starts
/// one; returns the field names (lines not starting with white space).
fn field_names(block: &[u8]) -> Vec<String> {
    for (i, b) in block.iter().enumerate() {
        match b {
            b'\n' => assert!(i > 0 && block[i - 1] == b'\r', "bare LF at {i}: {block:?}"),
            b'\r' => assert_eq!(block.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(block);
    text.split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with([' ', '\t']))
        .map(|l| l.split(':').next().unwrap_or("").to_string())
        .collect()
}

/// Our header edits for the local recipient bob@example.com.
fn edits(c: &Config, f: &Findings) -> HeaderEdits {
    let d = decide(
        c,
        &PolicyMaps::new(c),
        f,
        "a@example.org",
        "bob@example.com",
    );
    edits_for(c, f, &d, None, "")
}

#[test]
fn virus_name_from_clamd_stays_in_its_alert_field() {
    let c = config();
    let f = Findings {
        virus_checked: true,
        viruses: vec![EVIL.into()],
        ..Default::default()
    };
    let e = edits(&c, &f);
    assert_eq!(
        field_names(&e.prepend),
        ["X-Virus-Scanned", "X-Amavis-Alert"]
    );
}

#[test]
fn rule_names_in_x_spam_status_stay_in_the_field() {
    let c = config();
    let f = Findings {
        spam: Some(SpamVerdict {
            score: 7.0,
            tests: vec![(EVIL.into(), 7.0)],
        }),
        ..Default::default()
    };
    let e = edits(&c, &f);
    assert_eq!(
        field_names(&e.prepend),
        [
            "X-Spam-Flag",
            "X-Spam-Score",
            "X-Spam-Level",
            "X-Spam-Status"
        ]
    );
}

#[test]
fn bad_header_text_and_banned_description_stay_in_the_alert() {
    let c = config();
    let f = Findings {
        bad_headers: vec![(1, EVIL.into())],
        ..Default::default()
    };
    let d = decide(
        &c,
        &PolicyMaps::new(&c),
        &f,
        "a@example.org",
        "bob@example.com",
    );
    assert_eq!(d.category, Category::BadHeader);
    let e = edits_for(&c, &f, &d, None, "");
    assert_eq!(field_names(&e.prepend), ["X-Amavis-Alert"]);
    let f = Findings {
        banned: vec![EVIL.into()],
        ..Default::default()
    };
    let e = edits(&c, &f);
    assert_eq!(field_names(&e.prepend), ["X-Amavis-Alert"]);
}

#[test]
fn subject_tag_cannot_add_a_field() {
    let m = b"From: a\r\nSubject: hi\r\n\r\nbody";
    let h = Head::parse(m);
    let e = HeaderEdits {
        subject_tag: Some(format!("[{EVIL}] ")),
        ..Default::default()
    };
    let out = e.apply(&m[..h.body_offset], &h);
    assert_eq!(field_names(&out), ["From", "Subject"]);
}

#[test]
fn recipient_and_helo_in_received_stay_in_it() {
    let c = config();
    let mut env = envelope("a@example.org", &format!("\"{EVIL}\"@example.com"));
    env.helo = EVIL.into();
    let r = received_header(&c, &env, "abcdefghijkl");
    assert_eq!(field_names(r.as_bytes()), ["Received"]);
}

#[test]
fn dsn_fields_never_gain_lines() {
    let c = config();
    let env = envelope(&format!("\"{EVIL}\"@example.org"), "bob@example.com");
    let failed = [FailedRcpt {
        address: format!("{EVIL}@example.com"),
        status: "5.7.0".into(),
        diagnostic: format!("554 5.7.0 Bounce - {EVIL}"),
    }];
    let n = build_dsn(
        &c,
        &env,
        "1-01",
        "abcdefghijkl",
        EVIL,
        "explanation\n",
        &failed,
        b"Subject: orig\r\n",
    );
    let text = String::from_utf8(n.message).unwrap();
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        field_names(head.as_bytes()),
        [
            "From",
            "Date",
            "Subject",
            "To",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding"
        ]
    );
    // The delivery-status part: one recipient block, its six fields.
    let status = text
        .split("Content-Description: Delivery error report\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n--")
        .next()
        .unwrap();
    assert_eq!(
        field_names(status.as_bytes()),
        [
            "Reporting-MTA",
            "Arrival-Date",
            "Final-Recipient",
            "Action",
            "Status",
            "Diagnostic-Code",
            "Last-Attempt-Date",
            "Final-Log-ID"
        ]
    );
    assert!(!text.contains("\r\nBcc:") && !text.contains("\nX-Injected"));
}

fn facts_text(f: &Findings, env: &Envelope, kind: Category, dir: &std::path::Path) -> String {
    let mut c = config();
    c.notify_templates_dir = Some(dir.to_path_buf());
    let facts = Facts {
        cfg: &c,
        env,
        findings: f,
        am_id: "1-01",
        mail_id: "abcdefghijkl",
        orig_head: b"Subject: orig\r\n",
    };
    let n = match kind {
        Category::Virus => admin_notification(&facts, Category::Virus, "admin@example.com"),
        _ => bounce(
            &facts,
            Category::Virus,
            &format!("INFECTED: {EVIL}"),
            &["b@example.com".into()],
        ),
    };
    String::from_utf8(n.message).unwrap()
}

#[test]
fn template_substitutions_cannot_forge_lines_or_mime_parts() {
    let dir = tempfile::tempdir().unwrap();
    // A site template using every substitution, one per line.
    let tpl = "V=%V\nS=%s\nR=%r\nA=%a\nW=%W\nend\n";
    std::fs::write(dir.path().join("virus_admin.txt"), tpl).unwrap();
    std::fs::write(dir.path().join("dsn_virus.txt"), tpl).unwrap();
    let mut env = envelope(
        &format!("\"{EVIL}\"@example.org"),
        &format!("\"{EVIL}\"@example.com"),
    );
    env.xforward.addr = Some(EVIL.into());
    let f = Findings {
        viruses: vec![EVIL.into()],
        ..Default::default()
    };
    for kind in [Category::Virus, Category::Spam] {
        let text = facts_text(&f, &env, kind, dir.path());
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            !field_names(head.as_bytes()).iter().any(|n| n == "Bcc"),
            "{head}"
        );
        // The text part holds exactly the template's six lines.
        let part = body.split("\r\n\r\n").nth(2).unwrap();
        let lines: Vec<&str> = part.split("\r\n").take_while(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert_eq!(lines[5], "end");
        assert!(!text.contains("\r\n--b\r\n") && !text.contains("\nX-Injected"));
        assert_eq!(text.matches('\r').count(), text.matches("\r\n").count());
        assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    }
}

#[test]
fn smtp_reply_text_is_one_line() {
    let r = Reply::new(554, format!("5.7.0 Reject, id=1-01 - INFECTED: {EVIL}"));
    let wire = r.to_wire();
    assert_eq!(wire.iter().filter(|b| **b == b'\n').count(), 1);
    assert!(wire.ends_with(b"\r\n"));
    assert!(!r.one_line().contains(['\r', '\n']));
}

#[test]
fn log_line_is_one_line() {
    let env = envelope(
        &format!("\"{EVIL}\"@example.org"),
        &format!("\"{EVIL}\"@example.com"),
    );
    let l = summary_line(
        "1-01",
        "Passed",
        &format!("INFECTED ({EVIL})"),
        "",
        &env,
        Some(EVIL),
        "abcdefghijkl",
        None,
        10,
        "",
        Duration::from_millis(5),
    );
    assert!(!l.contains(['\r', '\n']), "{l:?}");
    assert!(l.contains("Passed INFECTED (Evil"), "{l}");
}

#[tokio::test]
async fn dsn_orcpt_of_a_quoted_sender_is_xtext_not_extra_parameters() {
    use support::*;
    let d = Downstream::start(Mode::RcptReply(
        "nobody",
        "550 5.1.1 <nobody@example.com>: Recipient address rejected",
    ))
    .await;
    let f = start_filter("", d.port).await;
    let mut c = Client::hello(f.addr).await;
    // A quoted local part with a space and something that looks like a parameter.
    let sender = "\"odd NOTIFY=NEVER name\"@example.org";
    let r = c
        .transaction(
            sender,
            &["bob@example.com", "nobody@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = d.completed();
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    // The message itself goes on with the sender exactly as given.
    assert!(
        seen[0].mail.starts_with(&format!("MAIL FROM:<{sender}>")),
        "{}",
        seen[0].mail
    );
    assert_eq!(
        seen[1].rcpts,
        vec![format!(
            "RCPT TO:<{sender}> ORCPT=rfc822;\"odd+20NOTIFY+3DNEVER+20name\"@example.org"
        )]
    );
}
