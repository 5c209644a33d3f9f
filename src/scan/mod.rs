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
    let mut set = tokio::task::JoinSet::new();
    for s in scanners {
        let name = s.name().to_string();
        let input = input.clone();
        set.spawn(async move {
            match tokio::time::timeout(timeout, s.scan(input)).await {
                Ok(r) => r,
                Err(_) => Err(ScanError {
                    scanner: name,
                    message: format!("timed out after {} s", timeout.as_secs()),
                }),
            }
        });
    }
    let mut first_err = None;
    while let Some(res) = set.join_next().await {
        let r = res.unwrap_or_else(|e| {
            Err(ScanError {
                scanner: "scanner task".into(),
                message: format!("crashed: {e}"),
            })
        });
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
