//! Failing neighbours with real parts: Postfix → amavisd-rs (the real binary) → Postfix →
//! maildrop → Maildir, with a real clamd. When the next hop or clamd fails, the filter must
//! answer 4xx so Postfix keeps the mail queued; once the neighbour is back, everything is
//! delivered without restarting the filter, nothing is lost and nothing passes unscanned.
//!
//! The next hop is Postfix's reinjection listener reached through a [`Gate`], which closes
//! the port and cuts open connections like a dead smtpd would (a `postfix reload` with the
//! listener removed also restarts qmgr, which strands in-flight messages in the active queue
//! until the next restart: Postfix's behaviour, not what is under test). A connection cut
//! after the next hop committed a message but before its reply arrived yields a duplicate.
//!
//! `AMAVISD_RS_CHAOS_OUTAGE_SECS` sets how long the next hop stays down (default 6;
//! `scripts/chaos-downstream.sh` runs 30), `AMAVISD_RS_CHAOS_MESSAGES` the load (default 60).

mod common;
mod support;

use common::clamd::{ClamdProcess, EICAR, EICAR_NAME};
use common::postfix::{PostfixHarness, contains, free_port, numbered_message, wait_until};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::{FilterProcess, Gate};

const WAIT: Duration = Duration::from_secs(60);
const SENDER: &str = "sender@example.org";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?}")))
        .unwrap_or(default)
}

/// Postfix, the filter binary (with `extra` yaml), the gate in front of Postfix's
/// reinjection listener (the filter's next hop) and a scratch dir, kept alive together.
struct Rig {
    pf: Arc<PostfixHarness>,
    filter: FilterProcess,
    next_hop: Gate,
    _work: tempfile::TempDir,
}

fn rig(extra: &str) -> Rig {
    let port = free_port();
    let pf = Arc::new(PostfixHarness::start(port));
    let next_hop = Gate::start(
        format!("{}:{}", pf.host(), pf.reinject_port())
            .parse()
            .expect("reinjection address"),
    );
    let work = tempfile::tempdir().expect("temp dir");
    let yaml = format!(
        "inet_socket_port: {port}\nforward_method: 'smtp:[127.0.0.1]:{hop}'\n\
         myhostname: filter.e2e.test\nmydomain: e2e.test\nlocal_domains_acl: ['.e2e.test']\n\
         max_servers: 2\ntempbase: '{tb}'\n{extra}",
        hop = next_hop.port,
        tb = work.path().display(),
    );
    let config = work.path().join("amavis-compat.yaml");
    fs::write(&config, yaml).expect("write config");
    let filter = FilterProcess::start(&config, port, &work.path().join("filter.log"));
    Rig {
        pf,
        filter,
        next_hop,
        _work: work,
    }
}

/// The how-to's virus settings: viruses discarded, the admin (the test mailbox) notified.
fn clamd_yaml(clamd: &ClamdProcess, timeout_secs: u64) -> String {
    format!(
        "av_scanners: [{{name: ClamAV-clamd, socket: '{}'}}]\nav_scanner_timeout: {timeout_secs}\n\
         final_virus_destiny: D_DISCARD\nvirus_admin: 'e2e-user@e2e.test'\n",
        clamd.socket_str()
    )
}

/// Sends messages `range` with Message-IDs `<prefix N@...>` on a thread.
fn send_numbered(
    pf: &Arc<PostfixHarness>,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> thread::JoinHandle<usize> {
    let (p, pre) = (pf.clone(), prefix.to_string());
    thread::spawn(move || {
        let to = p.recipient().to_string();
        p.send_session(SENDER, &to, range.map(|i| numbered_message(&pre, i)))
    })
}

/// Waits until all `n` ids with `prefix` are delivered and the queue is empty; asserts none
/// lost; returns the number of duplicates.
fn all_delivered(r: &mut Rig, prefix: &str, n: usize) -> usize {
    let pf = &r.pf;
    wait_until(WAIT, || pf.delivered_ids(prefix).len() >= n);
    let queue_empty = pf.wait_for_empty_queue(WAIT);
    let ids = pf.delivered_ids(prefix);
    assert_eq!(
        ids.len(),
        n,
        "lost {} of {n}\n{}\n{}",
        n - ids.len(),
        r.filter.log_text(),
        pf.diagnostics()
    );
    assert!(queue_empty, "queue not empty\n{}", pf.diagnostics());
    ids.values().map(|c| c - 1).sum()
}

/// Postfix log lines that record a deferral whose reason contains `needle`.
fn deferrals(pf: &PostfixHarness, needle: &str) -> usize {
    pf.log()
        .lines()
        .filter(|l| l.contains("status=deferred") && l.contains(needle))
        .count()
}

/// Message-IDs (without brackets) of the queued messages that Postfix deferred with a reason
/// containing `needle`, from its log: cleanup's `QID: message-id=<...>` lines map queue IDs.
fn deferred_ids(pf: &PostfixHarness, needle: &str) -> BTreeSet<String> {
    let log = pf.log();
    let qid = |l: &str| -> Option<String> {
        let rest = &l[l.find("]: ")? + 3..];
        Some(rest[..rest.find(':')?].to_string())
    };
    let mut ids = BTreeMap::new();
    for l in log.lines() {
        if let (Some(q), Some(i)) = (qid(l), l.find("message-id=<")) {
            let id = &l[i + "message-id=<".len()..];
            ids.insert(q, id.trim_end_matches('>').to_string());
        }
    }
    log.lines()
        .filter(|l| l.contains("status=deferred") && l.contains(needle))
        .filter_map(|l| ids.get(&qid(l)?).cloned())
        .collect()
}

fn numbered_ids(prefix: &str, range: std::ops::Range<usize>) -> BTreeSet<String> {
    range
        .map(|i| format!("{prefix}{i}@load.e2e.test"))
        .collect()
}

#[test]
fn next_hop_down_defers_with_451_then_all_delivered() {
    let outage = Duration::from_secs(env_num("AMAVISD_RS_CHAOS_OUTAGE_SECS", 6) as u64);
    let n = env_num("AMAVISD_RS_CHAOS_MESSAGES", 60);
    let began = Instant::now();
    let mut r = rig("");
    let prefix = format!("hop-{}-", std::process::id());
    let pid = r.filter.pid();

    // Load runs across the outage: the first half is flowing when the next hop goes down,
    // the second half arrives while it is down.
    let first = send_numbered(&r.pf, &prefix, 0..n / 2);
    let pf = r.pf.clone();
    assert!(
        wait_until(WAIT, || pf.delivered_files() >= n / 5),
        "{}",
        pf.diagnostics()
    );
    r.next_hop.down();
    let down_at = Instant::now();
    let second = send_numbered(&r.pf, &prefix, n / 2..n);
    assert!(
        wait_until(WAIT, || deferrals(&pf, "451 4.4.1") > 0),
        "no 451 4.4.1 deferral while the next hop was down\n{}\n{}",
        r.filter.log_text(),
        pf.diagnostics()
    );
    thread::sleep(outage.saturating_sub(down_at.elapsed()));
    let during = pf.delivered_ids(&prefix).len();
    r.next_hop.up();
    assert_eq!(
        first.join().expect("sender") + second.join().expect("sender"),
        n
    );

    let duplicated = all_delivered(&mut r, &prefix, n);
    println!(
        "chaos-downstream: sent={n} delivered={n} duplicated={duplicated} lost=0 outage={:.1}s \
         deferrals_451_4.4.1={} delivered_before_restore={during} wall={:.1}s",
        outage.as_secs_f64(),
        deferrals(&pf, "451 4.4.1"),
        began.elapsed().as_secs_f64()
    );
    assert!(r.filter.running() && r.filter.pid() == pid && r.filter.starts == 1);
}

#[test]
fn clamd_killed_defers_then_scans_after_restart() {
    let mut clamd = ClamdProcess::start("10M");
    let mut r = rig(&clamd_yaml(&clamd, 30));
    let pf = r.pf.clone();
    let prefix = format!("clamd-{}-", std::process::id());
    let pid = r.filter.pid();

    // clamd dies while the first batch flows (scans in progress fail with it).
    let first = send_numbered(&pf, &prefix, 0..20);
    assert!(
        wait_until(WAIT, || pf.delivered_files() >= 5),
        "{}",
        pf.diagnostics()
    );
    clamd.kill();
    // Sent while clamd is down: a virus and ten clean messages.
    let eicar_id = format!("eicar-{}@load.e2e.test", std::process::id());
    let eicar = format!(
        "From: sender@example.org\r\nTo: e2e-user@e2e.test\r\nSubject: invoice\r\n\
         Message-ID: <{eicar_id}>\r\n\r\n{}\r\n",
        String::from_utf8_lossy(EICAR)
    );
    let to = pf.recipient().to_string();
    assert_eq!(pf.send_session(SENDER, &to, [eicar.into_bytes()]), 1);
    assert_eq!(send_numbered(&pf, &prefix, 20..30).join().unwrap(), 10);
    assert_eq!(first.join().unwrap(), 20);
    // Each of the eleven was tried and deferred with 451 ... virus_scan FAILED.
    let mut want = numbered_ids(&prefix, 20..30);
    want.insert(eicar_id.clone());
    assert!(
        wait_until(WAIT, || deferred_ids(&pf, "virus_scan FAILED")
            .is_superset(&want)),
        "not all deferred with virus_scan FAILED: {:?}\n{}\n{}",
        want.difference(&deferred_ids(&pf, "virus_scan FAILED"))
            .collect::<Vec<_>>(),
        r.filter.log_text(),
        pf.diagnostics()
    );
    assert!(pf.log_contains("451 4.5.0 Error in processing"));
    let early: Vec<String> = pf
        .delivered_ids(&prefix)
        .into_keys()
        .filter(|id| want.contains(id))
        .collect();
    assert!(
        early.is_empty(),
        "delivered while clamd was down: {early:?}"
    );

    clamd.restart();
    // A clamd failure comes before forwarding, so it cannot make copies.
    assert_eq!(all_delivered(&mut r, &prefix, 30), 0);
    // The EICAR message was scanned after all: discarded, the admin notified.
    let note = format!("VIRUS ({EICAR_NAME})");
    let notes = pf.wait_for_matching(&pf.maildir_new(), note.as_bytes(), 1, WAIT);
    assert_eq!(notes.len(), 1);
    assert!(pf.delivered_ids("eicar-").is_empty(), "virus delivered");
    for m in pf.messages(&pf.maildir_new()) {
        assert!(!contains(&m, EICAR), "virus delivered");
    }
    assert!(r.filter.running() && r.filter.pid() == pid && r.filter.starts == 1);
}

#[test]
fn clamd_hung_times_out_with_451_then_delivers() {
    let clamd = ClamdProcess::start("10M");
    let mut r = rig(&clamd_yaml(&clamd, 2));
    let pf = r.pf.clone();
    let prefix = format!("hung-{}-", std::process::id());

    // SIGSTOP: connections are accepted by the kernel, clamd never answers.
    clamd.pause();
    assert_eq!(send_numbered(&pf, &prefix, 0..4).join().unwrap(), 4);
    let want = numbered_ids(&prefix, 0..4);
    assert!(
        wait_until(WAIT, || deferred_ids(&pf, "clamd timed out")
            .is_superset(&want)),
        "{}\n{}",
        r.filter.log_text(),
        pf.diagnostics()
    );
    assert!(pf.log_contains("451 4.5.0 Error in processing"));
    assert!(pf.delivered_ids(&prefix).is_empty(), "passed unscanned");

    clamd.resume();
    assert_eq!(all_delivered(&mut r, &prefix, 4), 0);
    assert!(r.filter.running() && r.filter.starts == 1);
}
