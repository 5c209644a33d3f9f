//! The MIME-based checks as scanners: banned files and bad headers. Both
//! are CPU-bound: small messages are checked on the session's thread, big
//! ones on the blocking pool.

use crate::scan::{Finding, ScanError, ScanFuture, ScanInput, Scanner};
use std::sync::Arc;

/// Messages held in memory up to this size are checked on the session's own
/// thread: the check takes microseconds there, while a hand-off to the
/// blocking pool and back costs two thread wake-ups (on this 2-core VM the
/// wake-ups, not the checks, bounded the no-scanner throughput).
const INLINE_MAX: u64 = 64 << 10;

/// Run `f` inline for a small in-memory message, else on the blocking pool.
/// A panic is an error either way, never a crashed session.
async fn cpu_bound<T, F>(input: &ScanInput, f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if input.spool.as_slice().is_some() && input.spool.len() <= INLINE_MAX {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .map_err(|_| "check panicked".to_string())
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Banned-file checks as a scanner (CPU-bound: runs on the blocking pool).
pub struct BannedScanner {
    pub rules: crate::scan::banned::BannedRules,
    pub limits: crate::scan::banned::Limits,
}

impl Scanner for BannedScanner {
    fn name(&self) -> &str {
        "banned"
    }

    fn scan(self: Arc<Self>, input: Arc<ScanInput>) -> ScanFuture {
        Box::pin(async move {
            let inp = input.clone();
            cpu_bound(&inp, move || {
                let Some(bytes) = input
                    .read_up_to(crate::scan::MAX_DECODE_SIZE)
                    .map_err(|e| e.to_string())?
                else {
                    return Ok(Finding::Banned {
                        banned: vec![],
                        reason: None,
                        unchecked: Some("message too large to decode".into()),
                    });
                };
                let r = crate::scan::banned::check_banned(&bytes, &self.rules, &self.limits);
                Ok(Finding::Banned {
                    banned: r.banned,
                    reason: r.reason,
                    unchecked: r.unchecked,
                })
            })
            .await
            .and_then(|r| r)
            .map_err(|message| ScanError {
                scanner: "banned".into(),
                message,
            })
        })
    }
}

/// Bad-header checks as a scanner. Messages over [`BAD_HEADER_WINDOW`] get
/// only their top-level header section checked, so memory stays flat.
pub struct BadHeaderScanner;

/// How much of a message the bad-header check reads.
pub const BAD_HEADER_WINDOW: usize = 1 << 20;

impl Scanner for BadHeaderScanner {
    fn name(&self) -> &str {
        "bad-header"
    }

    fn scan(self: Arc<Self>, input: Arc<ScanInput>) -> ScanFuture {
        Box::pin(async move {
            let inp = input.clone();
            cpu_bound(&inp, move || {
                let mut bytes = input.spool.prefix(BAD_HEADER_WINDOW)?;
                if (input.spool.len() as usize) > bytes.len() {
                    // A cut-off body would look like broken MIME: check
                    // only the top-level header section of huge messages.
                    let head = crate::message::head::Head::parse(&bytes);
                    bytes.truncate(head.body_offset);
                    bytes.extend_from_slice(b"\r\n");
                }
                let found = crate::scan::bad_header::check_bad_headers(&bytes);
                Ok::<_, std::io::Error>(Finding::BadHeader(
                    found.into_iter().map(|b| (b.minor, b.text)).collect(),
                ))
            })
            .await
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|message| ScanError {
                scanner: "bad-header".into(),
                message,
            })
        })
    }
}
