//! The virus scanner: `av_scanners` (clamd) tried in order, then
//! `av_scanners_backup` if every primary failed. A scanner that fails is
//! never a clean verdict: if all fail, the message gets a 451.

use crate::config::{AvScanner, Config};
use crate::scan::clamav::{Clamd, ClamdVerdict};
use crate::scan::{Finding, ScanError, ScanFuture, ScanInput, Scanner};
use std::sync::Arc;
use std::time::Duration;

/// clamd clients for the configured scanners.
pub struct VirusScanner {
    primary: Vec<(String, Clamd)>,
    backup: Vec<(String, Clamd)>,
}

impl VirusScanner {
    /// None when no scanner is configured (then no X-Virus-Scanned either).
    pub fn from_config(c: &Config) -> Option<VirusScanner> {
        let t = Duration::from_secs(c.av_scanner_timeout);
        let mk = |v: &[AvScanner]| -> Vec<(String, Clamd)> {
            v.iter()
                .map(|s| (s.name.clone(), Clamd::new(&s.socket, t)))
                .collect()
        };
        let s = VirusScanner {
            primary: mk(&c.av_scanners),
            backup: mk(&c.av_scanners_backup),
        };
        (!s.primary.is_empty() || !s.backup.is_empty()).then_some(s)
    }

    /// `zPING` every scanner: start-up and `check-config` health check.
    pub async fn health(&self) -> Vec<(String, Result<String, String>)> {
        let mut out = Vec::new();
        for (name, c) in self.primary.iter().chain(&self.backup) {
            let r = match c.ping().await {
                Ok(()) => c.version().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            out.push((name.clone(), r));
        }
        out
    }
}

impl Scanner for VirusScanner {
    fn name(&self) -> &str {
        "virus"
    }

    fn scan(self: Arc<Self>, input: Arc<ScanInput>) -> ScanFuture {
        Box::pin(async move {
            let mut errors = Vec::new();
            for list in [&self.primary, &self.backup] {
                for (name, clamd) in list.iter() {
                    match clamd.scan_spool(&input.spool).await {
                        Ok(ClamdVerdict::Clean) => return Ok(Finding::Virus { names: vec![] }),
                        Ok(ClamdVerdict::Infected(names)) => return Ok(Finding::Virus { names }),
                        Err(e) => {
                            tracing::warn!("virus scanner {name} failed: {e}");
                            errors.push(format!("{name}: {e}"));
                        }
                    }
                }
            }
            Err(ScanError {
                scanner: "virus".into(),
                message: format!("all virus scanners failed: {}", errors.join("; ")),
            })
        })
    }
}
