//! A real `Session` over a loopback TCP pair: the fuzz input is what the
//! client sends (then it half-closes). The next hop is a closed port, so a
//! finished DATA ends in a quick 451. Every reply line must be
//! `ddd[ -]text\r\n` and the session must end.
#![no_main]

use amavisd_rs::config::Config;
use amavisd_rs::pipeline::Runtime;
use amavisd_rs::smtp::session::Session;
use arc_swap::ArcSwap;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod upstream;

/// Built once per process: the tokio runtime, the filter's compiled
/// configuration, a listener the sessions are accepted on.
struct Harness {
    rt: tokio::runtime::Runtime,
    filter: Arc<ArcSwap<Runtime>>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
    _shutdown_tx: watch::Sender<bool>,
    _tmp: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let tmp = tempfile::tempdir().expect("tempdir");
        // Port 1 on loopback: nothing listens there, the connect is refused.
        let yaml = format!(
            "inet_socket_port: 0\n\
             forward_method: 'smtp:[127.0.0.1]:1'\n\
             myhostname: mx.example.com\n\
             mydomain: example.com\n\
             tempbase: '{}'\n\
             spool_memory_threshold: 65536\n\
             smtpd_timeout: 5\n\
             smtp_client_timeout: 2\n\
             sa_rules_dirs: ['/nonexistent-fuzz-rules']\n\
             sa_site_rules_dirs: ['/nonexistent-fuzz-rules']\n\
             banned_filename_re: ['(?i).\\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$']\n",
            tmp.path().display()
        );
        let cfg = Config::from_yaml(&yaml, "fuzz.yaml").expect("fuzz config");
        let (filter, listener) = rt.block_on(async {
            let filter = Runtime::build(cfg).await.expect("runtime");
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            (filter, listener)
        });
        let (tx, rx) = watch::channel(false);
        Harness {
            rt,
            filter: Arc::new(ArcSwap::from_pointee(filter)),
            listener,
            shutdown: rx,
            _shutdown_tx: tx,
            _tmp: tmp,
        }
    })
}

/// Is every line of `out` a reply line, and does `out` end with a final one?
fn check_replies(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("reply without CRLF: {:?}", String::from_utf8_lossy(rest)));
        let line = &rest[..end];
        assert!(
            line.len() >= 4
                && line[..3].iter().all(u8::is_ascii_digit)
                && (b'2'..=b'5').contains(&line[0])
                && (line[3] == b' ' || line[3] == b'-')
                && !line.contains(&b'\r')
                && !line.contains(&b'\n'),
            "malformed reply line: {:?}",
            String::from_utf8_lossy(line)
        );
        rest = &rest[end + 2..];
    }
}

fuzz_target!(|data: &[u8]| {
    upstream::tolerate_known_debug_asserts();
    let h = harness();
    let out = h.rt.block_on(async {
        let mut client = TcpStream::connect(h.listener.local_addr().unwrap())
            .await
            .expect("connect");
        let (server, peer) = h.listener.accept().await.expect("accept");
        let local = server.local_addr().unwrap();
        let session = Session::new(server, peer, local, h.filter.clone(), h.shutdown.clone());
        let task = tokio::spawn(session.run());
        let (mut r, mut w) = client.split();
        let send = async {
            // The session may hang up early (QUIT, too many errors): a
            // failed write is expected then.
            let _ = w.write_all(data).await;
            let _ = w.shutdown().await;
        };
        let mut out = Vec::new();
        let recv = async {
            let _ = r.read_to_end(&mut out).await;
        };
        tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(send, recv);
            task.await.expect("session task panicked")
        })
        .await
        .expect("session did not end within 30 s")
        .ok();
        // Close with RST: no TIME_WAIT pile-up over millions of runs.
        let _ = client.set_zero_linger();
        out
    });
    assert!(
        out.starts_with(b"220 "),
        "no greeting: {:?}",
        String::from_utf8_lossy(&out)
    );
    check_replies(&out);
    assert!(
        !out.ends_with(b"-") && {
            let last = out[..out.len() - 2]
                .rsplit(|&b| b == b'\n')
                .next()
                .unwrap_or_default();
            last.get(3) == Some(&b' ')
        },
        "output ends inside a multi-line reply"
    );
});
