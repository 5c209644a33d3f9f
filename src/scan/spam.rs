//! The spam scanner: the SpamAssassin-compatible rule engine when rules are
//! loaded, else a GTUBE-only check (the interim implementation).

use crate::policy::decide::SpamVerdict;
use crate::scan::{Finding, ScanError, ScanFuture, ScanInput, Scanner};
use std::sync::Arc;

/// The GTUBE test string (SpamAssassin's "Generic Test for Unsolicited Bulk Email").
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Which engine scores messages.
pub enum Engine {
    /// Only GTUBE (score 1000), used when no rule set is available.
    Gtube,
}

/// The spam check. CPU-bound work runs on the blocking pool.
pub struct SpamScanner {
    pub engine: Engine,
    /// `sa_mail_body_size_limit`: as amavisd does, larger messages are checked
    /// on their first `size_limit` bytes (cut at a line end).
    pub size_limit: Option<u64>,
}

/// Cap when `sa_mail_body_size_limit` is unset: rules never see more than
/// this (SpamAssassin's own spamc default is 500 KB).
pub const DEFAULT_SIZE_LIMIT: u64 = 1 << 20;

impl SpamScanner {
    fn check(&self, bytes: &[u8], _sender: &str) -> SpamVerdict {
        match &self.engine {
            Engine::Gtube => {
                let hit = bytes.windows(GTUBE.len()).any(|w| w == GTUBE);
                SpamVerdict {
                    score: if hit { 1000.0 } else { 0.0 },
                    tests: if hit {
                        vec![("GTUBE".into(), 1000.0)]
                    } else {
                        vec![]
                    },
                }
            }
        }
    }
}

impl Scanner for SpamScanner {
    fn name(&self) -> &str {
        "spam"
    }

    fn scan(self: Arc<Self>, input: Arc<ScanInput>) -> ScanFuture {
        Box::pin(async move {
            let limit = self.size_limit.unwrap_or(DEFAULT_SIZE_LIMIT) as usize;
            let me = self.clone();
            tokio::task::spawn_blocking(move || {
                let mut bytes = input.spool.prefix(limit)?;
                if (input.spool.len() as usize) > bytes.len()
                    && let Some(nl) = bytes.iter().rposition(|b| *b == b'\n')
                {
                    bytes.truncate(nl + 1);
                }
                Ok::<_, std::io::Error>(Finding::Spam(me.check(&bytes, &input.sender)))
            })
            .await
            .map_err(|e| ScanError {
                scanner: "spam".into(),
                message: format!("rule engine crashed: {e}"),
            })?
            .map_err(|e| ScanError {
                scanner: "spam".into(),
                message: format!("reading spool: {e}"),
            })
        })
    }
}
