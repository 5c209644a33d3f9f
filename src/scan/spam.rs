//! The spam scanner: the SpamAssassin-compatible rule engine when rules are
//! loaded, else a GTUBE-only check (the interim implementation).

use crate::policy::decide::SpamVerdict;
use crate::scan::{Finding, ScanError, ScanFuture, ScanInput, Scanner};
use std::sync::Arc;

/// The GTUBE test string (SpamAssassin's "Generic Test for Unsolicited Bulk Email").
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Which engine scores messages.
pub enum Engine {
    /// Only GTUBE (score 1000): the scanner's self-contained fallback.
    Gtube,
    /// The SpamAssassin-compatible rule engine (installed rules, or its
    /// built-in set when none are installed).
    Rules(Arc<crate::rules::RuleSet>),
}

impl Engine {
    /// SpamAssassin's installed rules when present, else the engine's
    /// built-in set (GTUBE and a few more), saying so in the log.
    pub fn load(c: &crate::config::Config) -> Result<Engine, crate::rules::RulesError> {
        let opts = crate::rules::LoadOptions {
            rules_dirs: c.sa_rules_dirs.clone(),
            site_dirs: c.sa_site_rules_dirs.clone(),
        };
        let key = fingerprint(&opts);
        if let Some(rs) = CACHE
            .lock()
            .expect("rules cache")
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, rs)| rs.clone())
        {
            return Ok(Engine::Rules(rs));
        }
        let rs = match crate::rules::RuleSet::load(&opts) {
            Ok(rs) if rs.rule_count() > 0 => rs,
            Ok(_) | Err(crate::rules::RulesError::NoRules(_)) => {
                tracing::warn!(
                    "no SpamAssassin rules installed (apt-get install spamassassin); using the small built-in rule set"
                );
                crate::rules::RuleSet::builtin()
            }
            Err(e) => return Err(e),
        };
        tracing::info!("spam rules: {} rules loaded", rs.rule_count());
        let rs = Arc::new(rs);
        *CACHE.lock().expect("rules cache") = Some((key, rs.clone()));
        Ok(Engine::Rules(rs))
    }
}

/// The last compiled rule set and the fingerprint of the files it came
/// from: a reload (SIGHUP) or a second listener reuses it unless a rule
/// file changed (sa-update), saving the compile.
static CACHE: std::sync::Mutex<Option<(u64, Arc<crate::rules::RuleSet>)>> =
    std::sync::Mutex::new(None);

/// Hash of the rule directories' file names, sizes and mtimes (two levels:
/// sa-update's `/var/lib/spamassassin/<version>/<channel>/`).
fn fingerprint(opts: &crate::rules::LoadOptions) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut dirs: Vec<std::path::PathBuf> = opts.rules_dirs.clone();
    dirs.extend(opts.site_dirs.iter().cloned());
    if opts.rules_dirs.is_empty() {
        dirs.push("/var/lib/spamassassin".into());
        dirs.push("/usr/share/spamassassin".into());
    }
    if opts.site_dirs.is_empty() {
        dirs.push("/etc/spamassassin".into());
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    fn walk(d: &std::path::Path, depth: u32, h: &mut std::collections::hash_map::DefaultHasher) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let Ok(md) = e.metadata() else { continue };
            e.path().hash(h);
            md.len().hash(h);
            md.modified().ok().hash(h);
            if md.is_dir() && depth < 3 {
                walk(&e.path(), depth + 1, h);
            }
        }
    }
    for d in &dirs {
        d.hash(&mut h);
        walk(d, 0, &mut h);
    }
    h.finish()
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
    fn check(&self, bytes: &[u8], sender: &str) -> SpamVerdict {
        match &self.engine {
            Engine::Rules(rs) => {
                let from = (!sender.is_empty()).then_some(sender);
                let r = rs.check(bytes, from);
                SpamVerdict {
                    score: r.score,
                    tests: r.hits.into_iter().map(|h| (h.name, h.score)).collect(),
                }
            }
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
            super::cpu::run(move || {
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
