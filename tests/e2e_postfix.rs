//! End to end with real parts: Postfix (private instance built from
//! master.cf.snippet) → amavisd-rs → Postfix → maildrop → Maildir, with a
//! real clamd. The how-to's settings: viruses discarded (admin notified),
//! banned files rejected, spam tagged and filed into .Junkmail by maildrop.
//! Stopping the filter defers mail; restarting and flushing delivers it once.

mod common;
mod support;

use amavisd_rs::config::Config;
use amavisd_rs::pipeline::Runtime;
use amavisd_rs::smtp::server::{Server, ShutdownHandle};
use common::build::{Att, message as mime, pe_exe, zip};
use common::clamd::{ClamdProcess, EICAR, EICAR_NAME};
use common::postfix::{PostfixHarness, contains, free_port};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The how-to's amavisd settings (fixtures/seed-howto/amavisd.conf, with the
/// local-domains trap fixed), pointed at the harness's Postfix and clamd.
fn howto_config(pf: &PostfixHarness, clamd: &ClamdProcess) -> String {
    let domain = pf.recipient().split('@').nth(1).unwrap().to_string();
    format!(
        "inet_socket_port: {port}\nforward_method: '{fwd}'\nmyhostname: filter.example.net\nmydomain: {domain}\n\
         local_domains_acl: ['.{domain}']\nsa_tag_level_deflt: -999\nsa_tag2_level_deflt: 5.0\nsa_kill_level_deflt: 999\n\
         final_virus_destiny: D_DISCARD\nfinal_banned_destiny: D_REJECT\nfinal_spam_destiny: D_PASS\n\
         virus_admin: '{admin}'\nspam_lovers: {{'{admin}': 1}}\nx_header_line: 'Debian amavis at {domain}'\n\
         av_scanners: [{{name: ClamAV-clamd, socket: '{sock}'}}]\n\
         banned_filename_re: ['(?i).\\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$', '^\\.(exe-ms)$']\n\
         max_servers: 4\n",
        port = pf.filter_port(),
        fwd = pf.forward_method(),
        admin = pf.recipient(),
        sock = clamd.socket_str(),
    )
}

async fn start(yaml: &str) -> ShutdownHandle {
    let cfg = Config::from_yaml(yaml, "e2e.yaml").expect("config");
    let server = Server::bind(Runtime::build(cfg).await.expect("runtime"))
        .await
        .expect("bind filter port");
    let h = server.shutdown_handle();
    tokio::spawn(server.run());
    h
}

fn msg(id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: alice@example.org\r\nTo: e2e-user@e2e.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.org>\r\nDate: Wed, 25 Nov 2026 21:16:27 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_spam_virus_and_banned_through_real_postfix() {
    let pf = std::sync::Arc::new(
        blocking(|| PostfixHarness::start(free_port()))
            .await
            .unwrap(),
    );
    let clamd = ClamdProcess::start("10M");
    let _filter = start(&howto_config(&pf, &clamd)).await;
    let rcpt = pf.recipient().to_string();

    // Clean: Maildir/new, with our headers.
    let p = pf.clone();
    let r = rcpt.clone();
    let got = blocking(move || {
        p.send(
            "alice@example.org",
            &r,
            &msg("clean-1", "hello", "plain text"),
        );
        p.wait_for_matching(&p.maildir_new(), b"<clean-1@example.org>", 1, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 1, "{}", pf.diagnostics());
    let m = &got[0];
    for h in [
        &b"X-Virus-Scanned: Debian amavis at e2e.test"[..],
        b"X-Spam-Flag: NO",
        b"X-Spam-Status: No, score=",
        b" tagged_above=-999 required=5",
        b"(amavis, port ",
    ] {
        assert!(
            contains(m, h),
            "{} missing in {}",
            String::from_utf8_lossy(h),
            String::from_utf8_lossy(m)
        );
    }

    // GTUBE: tagged, filed into .Junkmail by the how-to's maildroprc.
    let p = pf.clone();
    let r = rcpt.clone();
    let got = blocking(move || {
        p.send(
            "alice@example.org",
            &r,
            &msg(
                "gtube-1",
                "Cheap meds, act now",
                "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
            ),
        );
        p.wait_for_matching(&p.junk_new(), b"<gtube-1@example.org>", 1, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 1, "{}", pf.diagnostics());
    assert!(contains(&got[0], b"X-Spam-Flag: YES"));
    // The how-to sets no sa_spam_subject_tag (amavisd's default: undef).
    assert!(contains(&got[0], b"Subject: Cheap meds, act now"));
    assert!(
        pf.messages(&pf.maildir_new())
            .iter()
            .all(|m| !contains(m, b"<gtube-1@example.org>"))
    );

    // EICAR: discarded; the admin (here the test mailbox) is notified.
    let mut eicar = msg("eicar-1", "Document you asked for", "");
    eicar.truncate(eicar.len() - 2);
    let eicar = [eicar, EICAR.to_vec(), b"\r\n".to_vec()].concat();
    let p = pf.clone();
    let r = rcpt.clone();
    let note = blocking(move || {
        p.send("alice@example.org", &r, &eicar);
        p.wait_for_matching(
            &p.maildir_new(),
            format!("VIRUS ({EICAR_NAME})").as_bytes(),
            1,
            WAIT,
        )
    })
    .await
    .unwrap();
    assert_eq!(note.len(), 1, "{}", pf.diagnostics());
    assert!(contains(
        &note[0],
        b"in mail FROM [127.0.0.1] <alice@example.org>"
    ));

    // Banned .exe inside a zip: rejected (D_REJECT), so Postfix bounces it.
    let z = zip(&[("setup.exe", &pe_exe())]);
    let banned = mime(&[Att {
        name: "files.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let p = pf.clone();
    let r = rcpt.clone();
    let logged = blocking(move || {
        p.send("alice@example.org", &r, &banned);
        p.wait_for_log("554 5.7.0 Reject, id=", WAIT)
    })
    .await
    .unwrap();
    assert!(logged, "{}", pf.diagnostics());
    assert!(pf.log_contains("BANNED: "), "{}", pf.diagnostics());
    // Nothing infected or banned reached the mailbox.
    for m in pf.messages(&pf.maildir_new()) {
        assert!(!contains(&m, EICAR), "virus delivered");
        assert!(
            !contains(&m, b"setup.exe") || contains(&m, b"BANNED"),
            "banned file delivered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_down_defers_then_delivers_exactly_once() {
    let pf = std::sync::Arc::new(
        blocking(|| PostfixHarness::start(free_port()))
            .await
            .unwrap(),
    );
    let clamd = ClamdProcess::start("10M");
    let yaml = howto_config(&pf, &clamd);

    // Filter not running: Postfix keeps the mail queued.
    let p = pf.clone();
    let r = pf.recipient().to_string();
    let deferred = blocking(move || {
        p.send(
            "alice@example.org",
            &r,
            &msg("down-1", "while down", "queued"),
        );
        p.wait_for_log("status=deferred", WAIT)
    })
    .await
    .unwrap();
    assert!(deferred, "{}", pf.diagnostics());
    assert!(!pf.queue_ids().is_empty());

    // Filter up, flush: delivered once, queue empty.
    let filter = start(&yaml).await;
    let p = pf.clone();
    let got = blocking(move || {
        p.flush();
        p.wait_for_matching(&p.maildir_new(), b"<down-1@example.org>", 1, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 1, "{}", pf.diagnostics());
    let p = pf.clone();
    assert!(
        blocking(move || p.wait_for_empty_queue(WAIT))
            .await
            .unwrap(),
        "{}",
        pf.diagnostics()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = pf
        .messages(&pf.maildir_new())
        .iter()
        .filter(|m| contains(m, b"<down-1@example.org>"))
        .count();
    assert_eq!(copies, 1, "delivered more than once");
    filter.shutdown();
}
