//! clamd client against a real clamd (tests/common/clamd.rs starts it).

mod common;

use amavisd_rs::message::spool::{Spool, SpoolWriter};
use amavisd_rs::scan::clamav::{Clamd, ClamdError, ClamdVerdict};
use base64::Engine;
use common::clamd::{ClamdProcess, EICAR, EICAR_NAME};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn message_with_attachment(name: &str, content: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(content);
    let mut body = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).unwrap());
        body.push_str("\r\n");
    }
    format!(
        "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Document you asked for\r\n\
         Date: Wed, 25 Nov 2026 21:16:27 +0000\r\nMessage-ID: <t1@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{body}--b1--\r\n"
    )
    .into_bytes()
}

fn clean_message() -> Vec<u8> {
    b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nJust text.\r\n"
        .to_vec()
}

#[tokio::test]
async fn ping_and_version_over_unix_and_tcp() {
    let c = ClamdProcess::start("1M");
    for addr in [c.socket_str(), c.tcp.clone()] {
        let clamd = Clamd::new(&addr, T);
        clamd.ping().await.unwrap_or_else(|e| panic!("{addr}: {e}"));
        let v = clamd.version().await.unwrap();
        assert!(v.starts_with("ClamAV 1."), "{v}");
    }
}

#[tokio::test]
async fn eicar_attachment_found_with_its_name() {
    let c = ClamdProcess::start("1M");
    let spool = Spool::from_bytes(message_with_attachment("eicar.com", EICAR));
    for addr in [c.socket_str(), c.tcp.clone()] {
        let v = Clamd::new(&addr, T).scan_spool(&spool).await.unwrap();
        assert_eq!(
            v,
            ClamdVerdict::Infected(vec![EICAR_NAME.to_string()]),
            "{addr}"
        );
    }
}

#[tokio::test]
async fn eicar_in_file_spool_found() {
    let c = ClamdProcess::start("10M");
    let dir = tempfile::tempdir().unwrap();
    // Padding so the message spans several 64 KiB chunks and lives on disk.
    let mut msg = message_with_attachment("eicar.com", EICAR);
    msg.extend(std::iter::repeat_n(b"padding line of text\r\n".as_slice(), 20_000).flatten());
    let mut w = SpoolWriter::new(dir.path(), 1024);
    w.write(&msg).unwrap();
    let spool = w.finish().unwrap();
    assert!(spool.is_file());
    let v = Clamd::new(&c.socket_str(), T)
        .scan_spool(&spool)
        .await
        .unwrap();
    assert_eq!(v, ClamdVerdict::Infected(vec![EICAR_NAME.to_string()]));
}

/// A message of exactly two 64 KiB INSTREAM chunks: the end marker then goes
/// out alone (without it clamd would wait for more and the scan time out).
#[tokio::test]
async fn message_of_whole_chunks_is_scanned() {
    let c = ClamdProcess::start("1M");
    let msg = message_with_attachment("eicar.com", EICAR);
    let at = msg
        .windows(17)
        .position(|w| w == b"See attachment.\r\n")
        .unwrap()
        + 17;
    let mut pad = vec![b'x'; 2 * 65536 - msg.len()];
    for i in (78..pad.len() - 2).step_by(80) {
        pad[i..i + 2].copy_from_slice(b"\r\n");
    }
    let n = pad.len();
    pad[n - 2..].copy_from_slice(b"\r\n");
    let mut whole = msg[..at].to_vec();
    whole.extend_from_slice(&pad);
    whole.extend_from_slice(&msg[at..]);
    assert_eq!(whole.len(), 2 * 65536);
    let v = Clamd::new(&c.socket_str(), T)
        .scan_spool(&Spool::from_bytes(whole))
        .await
        .unwrap();
    assert_eq!(v, ClamdVerdict::Infected(vec![EICAR_NAME.to_string()]));
}

#[tokio::test]
async fn clean_message_is_clean() {
    let c = ClamdProcess::start("1M");
    let spool = Spool::from_bytes(clean_message());
    for addr in [c.socket_str(), c.tcp.clone()] {
        let v = Clamd::new(&addr, T).scan_spool(&spool).await.unwrap();
        assert_eq!(v, ClamdVerdict::Clean, "{addr}");
    }
}

#[tokio::test]
async fn over_stream_max_length_is_size_limit() {
    let c = ClamdProcess::start("1M");
    // 4 MiB against a 1 MiB StreamMaxLength.
    let mut msg = clean_message();
    msg.extend(std::iter::repeat_n(b"x".as_slice(), 4 << 20).flatten());
    let spool = Spool::from_bytes(msg);
    for addr in [c.socket_str(), c.tcp.clone()] {
        let r = Clamd::new(&addr, T).scan_spool(&spool).await;
        assert!(matches!(r, Err(ClamdError::SizeLimit)), "{addr}: {r:?}");
    }
}

#[tokio::test]
async fn silent_server_is_timeout() {
    // A stand-in that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let clamd = Clamd::new(&addr, Duration::from_millis(500));
    let spool = Spool::from_bytes(clean_message());
    assert!(matches!(
        clamd.scan_spool(&spool).await,
        Err(ClamdError::Timeout)
    ));
    assert!(matches!(clamd.ping().await, Err(ClamdError::Timeout)));
    hold.abort();
}

#[tokio::test]
async fn nothing_listening_is_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock").display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spool = Spool::from_bytes(clean_message());
    for addr in [sock, format!("127.0.0.1:{port}")] {
        let r = Clamd::new(&addr, T).scan_spool(&spool).await;
        assert!(matches!(r, Err(ClamdError::Connect(..))), "{addr}: {r:?}");
        let text = r.unwrap_err().to_string();
        assert!(text.contains(&addr), "{text}");
    }
}
