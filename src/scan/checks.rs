//! The MIME-based checks as scanners: banned files and bad headers. Both
//! are CPU-bound: small messages are checked on the session's thread, the
//! rest on the blocking pool.

use crate::scan::{Finding, ScanError, ScanFuture, ScanInput, Scanner};
use std::sync::Arc;

/// Messages held in memory up to this size are checked on the session's own
/// thread: the check takes microseconds there, while a hand-off to the
/// blocking pool and back costs two thread wake-ups (on this 2-core VM the
/// wake-ups, not the checks, bounded the no-scanner throughput).
const INLINE_MAX: u64 = 64 << 10;

/// The most archive content a banned check may unpack on the session's
/// thread (amavisd's expansion quota grows with the message: 500 times its
/// size). All sessions share that thread, so a hostile archive must not
/// hold it for long: about 2 MiB of inflating is a few milliseconds.
const INLINE_QUOTA: u64 = 2 << 20;

/// Run `f` inline for a small in-memory message (when `inline_ok`), else on
/// the blocking pool. A panic is an error either way, never a crashed session.
async fn cpu_bound<T, F>(input: &ScanInput, inline_ok: bool, f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if inline_ok && input.spool.as_slice().is_some() && input.spool.len() <= INLINE_MAX {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .map_err(|_| "check panicked".to_string())
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Banned-file checks as a scanner (CPU-bound; inline only while the
/// expansion quota is small, see [`INLINE_QUOTA`]).
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
            let inline = self.limits.quota(input.spool.len()) <= INLINE_QUOTA;
            cpu_bound(&inp, inline, move || {
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
            cpu_bound(&inp, true, move || {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::spool::Spool;

    fn input(len: usize) -> ScanInput {
        ScanInput::new(
            Arc::new(Spool::from_bytes(vec![b'x'; len])),
            "a@example.org",
        )
    }

    /// Inline means on the calling thread; otherwise the blocking pool.
    #[tokio::test(flavor = "current_thread")]
    async fn small_messages_inline_others_on_the_blocking_pool() {
        let here = std::thread::current().id();
        let on = |inp: ScanInput, ok: bool| async move {
            cpu_bound(&inp, ok, || std::thread::current().id())
                .await
                .unwrap()
        };
        assert_eq!(on(input(3000), true).await, here);
        assert_ne!(on(input(3000), false).await, here, "not allowed inline");
        assert_ne!(on(input(100 << 10), true).await, here, "too big");
        let r = cpu_bound(&input(10), true, || -> u8 { panic!("check bug") }).await;
        assert_eq!(r.unwrap_err(), "check panicked");
    }

    #[test]
    fn banned_inline_only_while_the_expansion_quota_is_small() {
        let l = crate::scan::banned::Limits::from_config(&crate::config::Config::default());
        assert!(l.quota(3000) <= INLINE_QUOTA, "a typical small message");
        assert!(l.quota(60 << 10) > INLINE_QUOTA, "60 KiB may unpack 30 MB");
    }
}
