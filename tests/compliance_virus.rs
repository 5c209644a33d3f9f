//! Rows of reference/amavisd-behaviour.md for viruses and banned files,
//! through the real server with a REAL clamd (test signature DB) and a
//! stand-in next hop; plus clamd failures (down, hanging) → 451 4.5.0.

mod common;
mod support;

use common::build::{Att, message as mime, pe_exe, zip};
use common::clamd::{ClamdProcess, EICAR, EICAR_NAME};
use support::*;

fn cfg(clamd: &str, extra: &str) -> String {
    format!(
        "local_domains_acl: ['.example.com']\nsa_tag_level_deflt: 2.0\nsa_tag2_level_deflt: 6.31\nsa_kill_level_deflt: 6.31\nx_header_line: 'Debian amavis at example.com'\nvirus_admin: 'postmaster@example.com'\nav_scanners: [{{name: ClamAV-clamd, socket: '{clamd}'}}]\nviruses_that_fake_sender_re: [{{re: '^Eicar-Test-Signature', ban: false}}, '.']\nbanned_filename_re: ['(?i).\\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$', '^\\.(exe-ms)$']\n{extra}"
    )
}

fn eicar_msg() -> Vec<u8> {
    let mut m = b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Document you asked for\r\nMessage-ID: <eicar.0004@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream; name=\"eicar.com.txt\"\r\nContent-Disposition: attachment; filename=\"eicar.com.txt\"\r\n\r\n".to_vec();
    m.extend_from_slice(EICAR);
    m.extend_from_slice(b"\r\n--b--\r\n");
    m
}

fn banned_msg() -> Vec<u8> {
    let exe = pe_exe();
    mime(&[Att {
        name: "invoice.exe",
        ctype: "application/octet-stream",
        data: &exe,
    }])
}

async fn settle(d: &Downstream, n: usize) -> Vec<Seen> {
    for _ in 0..100 {
        let s = d.completed();
        if s.len() >= n {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            return d.completed();
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    d.completed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_discarded_admin_notified_and_quarantined() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let q = tempfile::tempdir().unwrap();
    let f = start_filter(
        &cfg(
            &clamd.socket_str(),
            &format!("quarantinedir: '{}'\n", q.path().display()),
        ),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &eicar_msg())
        .await;
    assert!(r.starts_with("250 2.7.0 Ok, discarded, id="), "{r}");
    assert!(r.ends_with(&format!(" - INFECTED: {EICAR_NAME}")), "{r}");
    let s = settle(&d, 1).await;
    assert_eq!(s.len(), 1, "only the admin notification: {s:?}");
    let adm = &s[0];
    assert!(
        adm.mail
            .starts_with("MAIL FROM:<postmaster@mx.example.com>"),
        "{}",
        adm.mail
    );
    assert!(adm.mail.contains("ENVID=AM."), "{}", adm.mail);
    assert_eq!(adm.rcpts, vec!["RCPT TO:<postmaster@example.com>"]);
    let t = String::from_utf8_lossy(&adm.data);
    assert!(
        t.contains(&format!(
            "Subject: VIRUS ({EICAR_NAME}) in mail FROM [127.0.0.1] <alice@example.org>\r\n"
        )),
        "{t}"
    );
    assert!(
        t.contains("From: \"Content-filter at mx.example.com\" <postmaster@mx.example.com>"),
        "{t}"
    );
    assert!(t.contains("Content-Type: text/rfc822-headers"), "{t}");
    // Quarantined uncompressed as virus-<mail_id> in a one-char subdir.
    let sub: Vec<_> = std::fs::read_dir(q.path()).unwrap().flatten().collect();
    assert_eq!(sub.len(), 1);
    let files: Vec<String> = std::fs::read_dir(sub[0].path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(
        files[0].starts_with("virus-") && files[0].len() == 18,
        "{files:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_passed_gets_alert_quarantine_id_and_subject_tag() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let q = tempfile::tempdir().unwrap();
    let extra = format!(
        "quarantinedir: '{}'\nfinal_virus_destiny: D_PASS\n",
        q.path().display()
    );
    let f = start_filter(&cfg(&clamd.socket_str(), &extra), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &eicar_msg())
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = settle(&d, 2).await;
    assert_eq!(s.len(), 2, "admin notification + message");
    let m = s
        .iter()
        .find(|t| t.rcpts == ["RCPT TO:<bob@example.com>"])
        .unwrap();
    let t = String::from_utf8_lossy(&m.data);
    assert!(t.starts_with("X-Quarantine-ID: <"), "{t}");
    assert!(t.contains("\r\nX-Virus-Scanned: Debian amavis at example.com\r\nX-Amavis-Alert: INFECTED, message contains virus:\r\n Eicar-Test-Signature.UNOFFICIAL\r\n"), "{t}");
    assert!(
        t.contains("\r\nSubject: ***INFECTED*** Document you asked for\r\n"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_reject_and_bounce() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &cfg(&clamd.socket_str(), "final_virus_destiny: D_REJECT\n"),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &eicar_msg())
        .await;
    assert!(
        r.starts_with("554 5.7.0 Reject, id=")
            && r.ends_with(&format!(" - INFECTED: {EICAR_NAME}")),
        "{r}"
    );
    drop(f);
    let d2 = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &cfg(&clamd.socket_str(), "final_virus_destiny: D_BOUNCE\n"),
        d2.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &eicar_msg())
        .await;
    assert!(
        r.starts_with("250 2.5.0 Ok, id=") && r.ends_with(", BOUNCE"),
        "{r}"
    );
    let s = settle(&d2, 2).await;
    let dsn = s
        .iter()
        .find(|t| t.mail.starts_with("MAIL FROM:<>"))
        .expect("DSN");
    let t = String::from_utf8_lossy(&dsn.data);
    assert!(
        t.contains(&format!(
            "Subject: VIRUS in message apparently from you ({EICAR_NAME})"
        )),
        "{t}"
    );
    assert!(
        t.contains("Diagnostic-Code: smtp; 554 5.7.0 Bounce, id="),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_exe_discard_and_reject_and_zip() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(&cfg(&clamd.socket_str(), ""), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &banned_msg())
        .await;
    assert!(r.starts_with("250 2.7.0 Ok, discarded, id="), "{r}");
    assert!(
        r.ends_with(" - BANNED: application/octet-stream,.exe,.exe-ms,invoice.exe"),
        "{r}"
    );
    let s = settle(&d, 1).await;
    let t = String::from_utf8_lossy(&s[0].data);
    assert!(t.contains("Subject: BANNED contents (application/octet-stream,.exe,.exe-ms,invoice.exe) in mail FROM [127.0.0.1] <alice@example.org>"), "{t}");
    drop(f);
    // The how-to: D_REJECT; an .exe inside a zip.
    let f = start_filter(
        &cfg(&clamd.socket_str(), "final_banned_destiny: D_REJECT\n"),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let z = zip(&[("readme.txt", b"hello"), ("setup.exe", &pe_exe())]);
    let m = mime(&[Att {
        name: "files.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &m)
        .await;
    assert!(
        r.starts_with("554 5.7.0 Reject, id=")
            && r.contains(" - BANNED: ")
            && r.contains("setup.exe"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_message_is_scanned_and_passed() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(&cfg(&clamd.socket_str(), ""), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("ham", "hello\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = settle(&d, 1).await;
    let t = String::from_utf8_lossy(&s[0].data);
    // Score 0 < tag 2: X-Virus-Scanned only, no X-Spam-*.
    assert!(
        t.starts_with("X-Virus-Scanned: Debian amavis at example.com\r\nReceived: from "),
        "{t}"
    );
    assert!(!t.contains("X-Spam-"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clamd_down_or_hanging_gives_451_and_nothing_delivered() {
    let d = Downstream::start(Mode::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-clamd.sock");
    let f = start_filter(&cfg(&missing.display().to_string(), ""), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("451 4.5.0 Error in processing, id="), "{r}");
    assert!(r.contains("virus_scan FAILED"), "{r}");
    drop(f);
    // A clamd that accepts and never answers: timeout → 451.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut keep = Vec::new();
        loop {
            if let Ok((s, _)) = hang.accept().await {
                keep.push(s);
            }
        }
    });
    let f = start_filter(&cfg(&addr.to_string(), "av_scanner_timeout: 1\n"), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("451 4.5.0 Error in processing, id="), "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(d.completed().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanner_failure_not_fatal_passes_as_unchecked() {
    let d = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &cfg(
            "/nonexistent/clamd.sock",
            "virus_scanners_failure_is_fatal: false\n",
        ),
        d.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com"],
            &message("m", "x\r\n"),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = settle(&d, 1).await;
    let t = String::from_utf8_lossy(&s[0].data);
    assert!(t.contains("Subject: ***UNCHECKED*** m"), "{t}");
    assert!(!t.contains("X-Virus-Scanned"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_pass_and_bounce() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let q = tempfile::tempdir().unwrap();
    let extra = format!(
        "quarantinedir: '{}'\nfinal_banned_destiny: D_PASS\nsa_spam_subject_tag: '***SPAM*** '\n",
        q.path().display()
    );
    let f = start_filter(&cfg(&clamd.socket_str(), &extra), d.port).await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &banned_msg())
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = settle(&d, 2).await;
    let m = s
        .iter()
        .find(|t| t.rcpts == ["RCPT TO:<bob@example.com>"])
        .expect("message");
    let t = String::from_utf8_lossy(&m.data);
    assert!(t.starts_with("X-Quarantine-ID: <"), "{t}");
    assert!(t.contains("X-Amavis-Alert: BANNED, message contains\r\n application/octet-stream,.exe,.exe-ms,invoice.exe\r\n"), "{t}");
    assert!(
        t.contains("\r\nSubject: test\r\n"),
        "banned subject must not be tagged: {t}"
    );
    assert!(
        s.iter()
            .any(|t| t.rcpts == ["RCPT TO:<postmaster@example.com>"]),
        "admin notified"
    );
    drop(f);
    let d2 = Downstream::start(Mode::Accept).await;
    let f = start_filter(
        &cfg(&clamd.socket_str(), "final_banned_destiny: D_BOUNCE\n"),
        d2.port,
    )
    .await;
    let mut c = Client::hello(f.addr).await;
    let r = c
        .transaction("alice@example.org", &["bob@example.com"], &banned_msg())
        .await;
    assert!(
        r.starts_with("250 2.5.0 Ok, id=") && r.ends_with(", BOUNCE"),
        "{r}"
    );
    let s = settle(&d2, 2).await;
    let dsn = s
        .iter()
        .find(|t| t.mail.starts_with("MAIL FROM:<>"))
        .expect("DSN");
    let t = String::from_utf8_lossy(&dsn.data);
    assert!(
        t.contains(
            "Subject: BANNED contents from you (application/octet-stream,.exe,.exe-ms,invoice.exe)"
        ),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eicar_pass_to_local_and_nonlocal() {
    let clamd = ClamdProcess::start("10M");
    let d = Downstream::start(Mode::Accept).await;
    let q = tempfile::tempdir().unwrap();
    let extra = format!(
        "quarantinedir: '{}'\nfinal_virus_destiny: D_PASS\nsa_tag_level_deflt: -999\n",
        q.path().display()
    )
    .replace("sa_tag_level_deflt: 2.0\n", "");
    let conf = cfg(&clamd.socket_str(), &extra).replace("sa_tag_level_deflt: 2.0\n", "");
    let f = start_filter(&conf, d.port).await;
    let mut c = Client::hello(f.addr).await;
    // XFORWARD as Postfix sends it: changes the log's client, not the headers.
    c.cmd("XFORWARD NAME=client.example.org ADDR=192.0.2.10 PORT=54321 IDENT=4XyZ1234abc")
        .await;
    let r = c
        .transaction(
            "alice@example.org",
            &["bob@example.com", "carol@elsewhere.net"],
            &eicar_msg(),
        )
        .await;
    assert!(r.starts_with("250 2.0.0 from MTA("), "{r}");
    let s = settle(&d, 3).await;
    assert_eq!(s.len(), 3, "ADM + bob copy + carol copy: {s:?}");
    let adm = s
        .iter()
        .find(|t| t.rcpts == ["RCPT TO:<postmaster@example.com>"])
        .unwrap();
    assert!(
        String::from_utf8_lossy(&adm.data)
            .contains("in mail FROM [192.0.2.10] <alice@example.org>")
    );
    let bob = String::from_utf8_lossy(
        &s.iter()
            .find(|t| t.rcpts == ["RCPT TO:<bob@example.com>"])
            .unwrap()
            .data,
    )
    .to_string();
    let carol = String::from_utf8_lossy(
        &s.iter()
            .find(|t| t.rcpts == ["RCPT TO:<carol@elsewhere.net>"])
            .unwrap()
            .data,
    )
    .to_string();
    assert!(
        bob.starts_with("X-Quarantine-ID: <")
            && bob.contains("X-Spam-Status: ")
            && bob.contains("Subject: ***INFECTED*** "),
        "{bob}"
    );
    assert!(
        carol.starts_with(
            "X-Virus-Scanned: Debian amavis at example.com\r\nX-Amavis-Alert: INFECTED"
        ),
        "{carol}"
    );
    assert!(
        !carol.contains("X-Quarantine-ID")
            && !carol.contains("X-Spam-")
            && carol.contains("\r\nSubject: Document you asked for\r\n"),
        "{carol}"
    );
    // Received still names the connecting MTA, not the XFORWARD client.
    assert!(
        bob.contains("Received: from mx.example.com ([127.0.0.1])"),
        "{bob}"
    );
}
