//! The checks, one file per scanner behind one trait, run concurrently per
//! message with a timeout each. A scanner that fails returns an error, never
//! a clean verdict.

pub mod archive;
pub mod bad_header;
pub mod banned;
pub mod checks;
pub mod clamav;
pub mod cpu;
pub mod magic;
pub mod report;
pub mod spam;
pub mod virus;

use crate::message::spool::Spool;
use crate::policy::decide::{Findings, SpamVerdict};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Largest message the banned-file check decodes in memory. Larger messages
/// are still virus-scanned (streamed to clamd) and delivered, but their
/// banned check reports UNCHECKED.
pub const MAX_DECODE_SIZE: u64 = 64 << 20;

/// What every scanner reads: the spool (each scanner loads what it needs,
/// so memory stays proportional to the checks configured, not the message).
pub struct ScanInput {
    pub spool: Arc<Spool>,
    pub sender: String,
}

impl ScanInput {
    pub fn new(spool: Arc<Spool>, sender: &str) -> ScanInput {
        ScanInput {
            spool,
            sender: sender.to_string(),
        }
    }

    /// The whole message if it is at most `max` bytes.
    pub fn read_up_to(&self, max: u64) -> std::io::Result<Option<Vec<u8>>> {
        if self.spool.len() > max {
            return Ok(None);
        }
        self.spool.read_all().map(Some)
    }
}

/// One scanner's contribution to [`Findings`].
#[derive(Debug, Clone)]
pub enum Finding {
    Virus {
        names: Vec<String>,
    },
    Banned {
        banned: Vec<String>,
        reason: Option<String>,
        unchecked: Option<String>,
    },
    BadHeader(Vec<(u8, String)>),
    Spam(SpamVerdict),
    /// The scanner had nothing to look at (e.g. spam check over the size limit).
    Skipped,
}

/// A scanner failed: the message must not be treated as clean.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{scanner}: {message}")]
pub struct ScanError {
    pub scanner: String,
    pub message: String,
}

pub type ScanFuture = Pin<Box<dyn Future<Output = Result<Finding, ScanError>> + Send>>;

/// One check. `scan` gets owned handles so it can run on its own task.
pub trait Scanner: Send + Sync {
    fn name(&self) -> &str;
    fn scan(self: Arc<Self>, input: Arc<ScanInput>) -> ScanFuture;
}

/// Run `scanners` concurrently, each under `timeout`, and merge their findings.
pub async fn run_all(
    scanners: Vec<Arc<dyn Scanner>>,
    input: Arc<ScanInput>,
    timeout: Duration,
    findings: &mut Findings,
) -> Result<(), ScanError> {
    let futs: Vec<ScanFuture> = scanners
        .into_iter()
        .map(|s| {
            let name = s.name().to_string();
            let input = input.clone();
            Box::pin(async move {
                match tokio::time::timeout(timeout, s.scan(input)).await {
                    Ok(r) => r,
                    Err(_) => Err(ScanError {
                        scanner: name,
                        message: format!("timed out after {} s", timeout.as_secs()),
                    }),
                }
            }) as ScanFuture
        })
        .collect();
    let mut first_err = None;
    for r in join_all(futs).await {
        match r {
            Ok(f) => merge(findings, f),
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Poll the scanners concurrently inside the session's own task. Spawning a
/// task per scanner woke a second runtime thread for every message (a
/// futex wake and a cross-core hand-off, the dominant cost without
/// scanners); the scanners' real work already runs elsewhere (clamd, the
/// check pool) or is tiny. Hand-written because it is this one loop (the
/// `futures` crate is not otherwise in the tree). A panic while polling is
/// that scanner's error, as a crashed spawned task was.
async fn join_all(mut futs: Vec<ScanFuture>) -> Vec<Result<Finding, ScanError>> {
    use std::task::Poll;
    let mut out: Vec<Option<Result<Finding, ScanError>>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            let polled =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.as_mut().poll(cx)));
            match polled {
                Ok(Poll::Ready(r)) => *slot = Some(r),
                Ok(Poll::Pending) => pending = true,
                Err(_) => {
                    *slot = Some(Err(ScanError {
                        scanner: "scanner task".into(),
                        message: "crashed (panicked)".into(),
                    }))
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn merge(f: &mut Findings, one: Finding) {
    match one {
        Finding::Virus { names } => {
            f.virus_checked = true;
            f.viruses.extend(names);
        }
        Finding::Banned {
            banned,
            reason,
            unchecked,
        } => {
            f.banned.extend(banned);
            if f.banned_reason.is_none() {
                f.banned_reason = reason;
            }
            if f.unchecked.is_none() {
                f.unchecked = unchecked;
            }
        }
        Finding::BadHeader(b) => f.bad_headers.extend(b),
        Finding::Spam(s) => f.spam = Some(s),
        Finding::Skipped => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scanner that panics, one that answers after a delay, one that
    /// never answers: all polled in one task by `run_all`.
    enum Test {
        Panics,
        Slow,
        Hangs,
    }

    impl Scanner for Test {
        fn name(&self) -> &str {
            match self {
                Test::Panics => "panics",
                Test::Slow => "slow",
                Test::Hangs => "virus-hangs",
            }
        }
        fn scan(self: Arc<Self>, _input: Arc<ScanInput>) -> ScanFuture {
            Box::pin(async move {
                match *self {
                    Test::Panics => panic!("scanner bug"),
                    Test::Slow => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Finding::BadHeader(vec![(1, "slow".into())]))
                    }
                    Test::Hangs => std::future::pending().await,
                }
            })
        }
    }

    fn input() -> Arc<ScanInput> {
        Arc::new(ScanInput::new(
            Arc::new(Spool::from_bytes(b"Subject: x\r\n\r\nbody\r\n".to_vec())),
            "a@example.org",
        ))
    }

    #[tokio::test]
    async fn a_panicking_scanner_is_an_error_and_the_others_still_finish() {
        let mut f = Findings::default();
        let r = run_all(
            vec![Arc::new(Test::Panics), Arc::new(Test::Slow)],
            input(),
            Duration::from_secs(5),
            &mut f,
        )
        .await;
        let e = r.expect_err("a panic is never clean");
        assert!(e.message.contains("crashed"), "{}", e.message);
        assert_eq!(f.bad_headers, vec![(1, "slow".to_string())]);
    }

    #[tokio::test]
    async fn a_hanging_scanner_times_out() {
        let mut f = Findings::default();
        let e = run_all(
            vec![Arc::new(Test::Hangs), Arc::new(Test::Slow)],
            input(),
            Duration::from_secs(1),
            &mut f,
        )
        .await
        .expect_err("a timeout is never clean");
        assert_eq!(e.scanner, "virus-hangs");
        assert_eq!(e.message, "timed out after 1 s");
        assert_eq!(f.bad_headers.len(), 1);
    }
}
