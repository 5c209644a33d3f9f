//! Reinjection over LMTP to a unix socket (`forward_method: lmtp:unix:/path`):
//! one reply per recipient after DATA, each relayed to the SMTP client's
//! single reply the way amavisd does.

mod support;

use std::sync::{Arc, Mutex};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// A minimal LMTP server on a unix socket: rejects recipients containing
/// `nobody` after DATA (LMTP's per-recipient delivery status), accepts others.
async fn lmtp_server(path: std::path::PathBuf, log: Arc<Mutex<Vec<String>>>) {
    let l = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let log = log.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 lmtp ready\r\n").await.unwrap();
                let mut rcpts = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_string();
                    log.lock().unwrap().push(cmd.clone());
                    let up = cmd.to_ascii_uppercase();
                    let reply = if up.starts_with("LHLO") {
                        "250-lmtp\r\n250-PIPELINING\r\n250 8BITMIME".to_string()
                    } else if up.starts_with("RCPT") {
                        rcpts.push(cmd.clone());
                        "250 2.1.5 Ok".into()
                    } else if up == "DATA" {
                        w.write_all(b"354 go\r\n").await.unwrap();
                        loop {
                            line.clear();
                            r.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                        }
                        let per: Vec<String> = rcpts
                            .drain(..)
                            .map(|rc| {
                                if rc.contains("nobody") {
                                    "550 5.1.1 <nobody@example.com>: no such user".to_string()
                                } else {
                                    "250 2.0.0 delivered".to_string()
                                }
                            })
                            .collect();
                        per.join("\r\n")
                    } else if up == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        "250 2.0.0 Ok".into()
                    };
                    w.write_all(format!("{reply}\r\n").as_bytes())
                        .await
                        .unwrap();
                }
            });
        }
    });
}

#[tokio::test]
async fn lmtp_unix_next_hop_per_recipient_results() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("lmtp.sock");
    let log = Arc::new(Mutex::new(Vec::new()));
    lmtp_server(sock.clone(), log.clone()).await;
    // start_filter forwards over TCP; this one needs its own config.
    let text = format!(
        "inet_socket_port: 0\nforward_method: 'lmtp:unix:{}'\nmyhostname: mx.example.com\n",
        sock.display()
    );
    let c = amavisd_rs::config::Config::from_yaml(&text, "t").unwrap();
    let server = amavisd_rs::smtp::server::Server::bind(
        amavisd_rs::pipeline::Runtime::build(c).await.unwrap(),
    )
    .await
    .unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.shutdown_handle();
    tokio::spawn(server.run());

    // Everyone accepted: 250 quoting the LMTP server's reply.
    let mut cl = Client::hello(addr).await;
    let r = cl
        .transaction(
            "a@example.org",
            &["bob@example.com"],
            &message("ok", "x\r\n"),
        )
        .await;
    assert_eq!(
        r,
        format!(
            "250 2.0.0 from MTA(lmtp:unix:{}): 250 2.0.0 delivered",
            sock.display()
        )
    );
    assert!(log.lock().unwrap().iter().any(|l| l == "LHLO localhost"));

    // LMTP in and out: per-recipient results pass straight through.
    let mut cl = Client::connect(addr).await;
    cl.reply().await;
    cl.cmd("LHLO mx.example.com").await;
    cl.cmd("MAIL FROM:<a@example.org>").await;
    cl.cmd("RCPT TO:<bob@example.com>").await;
    cl.cmd("RCPT TO:<nobody@example.com>").await;
    cl.cmd("DATA").await;
    cl.send(&message("mixed", "x\r\n")).await;
    cl.send(b".\r\n").await;
    let r1 = cl.reply().await;
    let r2 = cl.reply().await;
    assert!(r1.starts_with("250 2.0.0 from MTA(lmtp:unix:"), "{r1}");
    assert!(
        r2.starts_with("550 5.1.1 from MTA(lmtp:unix:") && r2.contains("no such user"),
        "{r2}"
    );
    handle.shutdown();
}
