//! The stage between receiving and replying: checks, per-recipient policy,
//! quarantine and notifications, header edits, reinjection, the reply and
//! the log line. `process` is the seam the session calls with the finished
//! envelope and spool; everything after end-of-DATA starts here.

use crate::action::log::{category_word, queued_as};
use crate::action::notify::{self, Facts};
use crate::action::reinject::{map_delivery, reinject};
use crate::action::{dsn, log as alog, quarantine};
use crate::config::{Config, Destiny};
use crate::message::edit::HeaderEdits;
use crate::message::head::Head;
use crate::message::received::received_header;
use crate::message::spool::Spool;
use crate::policy::decide::{Category, Decision, Findings, PolicyMaps, decide};
use crate::policy::headers::edits_for;
use crate::scan::{self, ScanInput, Scanner};
use crate::smtp::client::{OutEnvelope, OutMessage};
use crate::smtp::envelope::Envelope;
use crate::smtp::reply::Reply;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The compiled configuration a message is processed with. Swapped as a
/// whole on SIGHUP; a message keeps the one it started with.
pub struct Runtime {
    pub config: Config,
    pub maps: PolicyMaps,
    /// Virus scanning (clamd), if `av_scanners` is configured.
    pub virus: Option<Arc<dyn Scanner>>,
    /// Banned-file checks, if `banned_filename_re` is configured.
    pub banned: Option<Arc<dyn Scanner>>,
    /// Bad-header checks.
    pub bad_header: Option<Arc<dyn Scanner>>,
    pub spam: Option<Arc<dyn Scanner>>,
    /// The compiled SpamAssassin rules (also inside `spam`), for `scan --explain`.
    pub rules: Option<Arc<crate::rules::RuleSet>>,
    /// Cached connections to the next hop.
    pub pool: Arc<crate::smtp::pool::Pool>,
    /// Per-message log lines (stderr, and syslog when `do_syslog`).
    pub log: alog::Syslog,
}

impl Runtime {
    /// Compile a configuration. Fails on anything that would make every
    /// message fail later (bad regexes, unreadable rules).
    pub async fn build(config: Config) -> anyhow::Result<Runtime> {
        let maps = PolicyMaps::new(&config);
        // Rules take ~60 MB and a fraction of a second to compile: not
        // loaded at all when every recipient bypasses spam checks.
        let (spam, rules) = if maps.bypass_spam.is_true_for_all() {
            tracing::info!(
                "spam checks bypassed for every recipient (bypass_spam_checks_maps): rules not loaded"
            );
            (None, None)
        } else {
            let c2 = config.clone();
            let engine = tokio::task::spawn_blocking(move || scan::spam::Engine::load(&c2))
                .await
                .map_err(|e| anyhow::anyhow!("loading spam rules crashed: {e}"))??;
            let rules = match &engine {
                scan::spam::Engine::Rules(rs) => Some(rs.clone()),
                scan::spam::Engine::Gtube => None,
            };
            let spam: Arc<dyn Scanner> = Arc::new(scan::spam::SpamScanner {
                engine,
                size_limit: config.sa_mail_body_size_limit,
            });
            (Some(spam), rules)
        };
        let virus = scan::virus::VirusScanner::from_config(&config)
            .map(|v| Arc::new(v) as Arc<dyn Scanner>);
        let banned = if config.banned_filename_re.is_empty() {
            None
        } else {
            let rules = scan::banned::BannedRules::new(&config.banned_filename_re)
                .map_err(|e| anyhow::anyhow!("banned_filename_re: {e}"))?;
            Some(Arc::new(scan::checks::BannedScanner {
                rules,
                limits: scan::banned::Limits::from_config(&config),
            }) as Arc<dyn Scanner>)
        };
        Ok(Runtime {
            maps,
            virus,
            banned,
            bad_header: Some(Arc::new(scan::checks::BadHeaderScanner)),
            spam,
            rules,
            pool: Arc::new(crate::smtp::pool::Pool::default()),
            log: alog::Syslog::new(&config),
            config,
        })
    }
}

/// Replies for the upstream: one for SMTP, or one per recipient for LMTP.
#[derive(Debug, Clone)]
pub enum Outcome {
    All(Reply),
    PerRecipient(Vec<Reply>),
}

/// Largest header section we edit in place; beyond it (hostile input) we
/// only prepend our headers.
const MAX_HEAD: usize = 1 << 20;

/// Process one received message: the whole path after end-of-DATA.
pub async fn process(rt: &Runtime, env: &Envelope, spool: Spool) -> Outcome {
    let start = Instant::now();
    let cfg = &rt.config;
    let am_id = crate::ids::next_am_id();
    let mail_id = crate::ids::new_mail_id();
    let fail = |why: String| {
        Outcome::All(Reply::new(
            451,
            format!("4.5.0 Error in processing, id={am_id}, {why}"),
        ))
    };
    let prefix = match spool.prefix(MAX_HEAD) {
        Ok(p) => p,
        Err(e) => return fail(format!("reading spool: {e}")),
    };
    let mut head = Head::parse(&prefix);
    if !head.complete && (spool.len() as usize) > prefix.len() {
        head = Head {
            fields: vec![],
            body_offset: 0,
            complete: false,
        };
    }
    let orig_head = &prefix[..head.body_offset];
    let message_id = head.first_value(&prefix, "Message-ID");
    let spool = Arc::new(spool);

    // Every early 4xx still gets its one log line.
    let tempfail = |out: Outcome| {
        log_tempfail(
            rt,
            env,
            &am_id,
            &mail_id,
            message_id.as_deref(),
            spool.len(),
            &out,
            start.elapsed(),
        );
        out
    };

    // ---- checks ----
    let rcpts: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    let findings = match run_checks(rt, &env.sender, &rcpts, spool.clone(), &am_id).await {
        Ok(f) => f,
        Err(why) => {
            let out = fail(why);
            return tempfail(out);
        }
    };
    let decide_all = |f: &Findings| -> Vec<Decision> {
        env.recipients
            .iter()
            .map(|r| decide(cfg, &rt.maps, f, &env.sender, &r.address))
            .collect()
    };
    let decisions = decide_all(&findings);
    let main_cat = decisions
        .iter()
        .map(|d| d.category)
        .min()
        .unwrap_or(Category::Clean);

    // ---- quarantine (before anything is delivered or discarded) ----
    let q_cat = match main_cat {
        Category::Virus | Category::Banned | Category::Spam => Some(main_cat),
        Category::BadHeader if decisions.iter().any(|d| d.blocked.is_some()) => Some(main_cat),
        _ => None,
    };
    let spam_score = findings.spam.as_ref().map(|s| s.score);
    let quarantined = match q_cat {
        Some(cat) => {
            let (c2, e2, m2, s2) = (cfg.clone(), env.clone(), mail_id.clone(), spool.clone());
            let r = tokio::task::spawn_blocking(move || {
                quarantine::quarantine(&c2, cat, spam_score, &e2, &m2, &s2)
            })
            .await;
            match r {
                Ok(Ok(q)) => q,
                Ok(Err(e)) => {
                    tracing::error!("({am_id}) quarantine failed: {e}");
                    let out = fail(format!(
                        "quar+notif FAILED: temporarily unable to quarantine: {e}"
                    ));
                    return tempfail(out);
                }
                Err(e) => return tempfail(fail(format!("quar+notif FAILED: {e}"))),
            }
        }
        None => None,
    };

    let facts = Facts {
        cfg,
        env,
        findings: &findings,
        am_id: &am_id,
        mail_id: &mail_id,
        orig_head,
    };
    // ---- admin notification ----
    // Viruses and banned files under every destiny (amavisd-behaviour.md);
    // spam and bad headers only when they were blocked for someone.
    let blocked_main = decisions
        .iter()
        .any(|d| d.blocked.is_some() && d.category == main_cat);
    let notify_admin = matches!(main_cat, Category::Virus | Category::Banned) || blocked_main;
    if notify_admin && let Some(admin) = notify::admin_for(cfg, main_cat) {
        let n = notify::admin_notification(&facts, main_cat, &admin);
        if let Err(e) = dsn::submit(cfg, env, &n).await {
            tracing::error!("({am_id}) admin notification to <{admin}> failed: {e}");
        }
    }

    // ---- passed recipients: group by identical edits, reinject ----
    let received = received_header(cfg, env, &mail_id);
    let mut replies: Vec<Option<Reply>> = vec![None; env.recipients.len()];
    let mut groups: Vec<(HeaderEdits, Vec<usize>)> = Vec::new();
    for (i, d) in decisions.iter().enumerate() {
        if d.blocked.is_some() {
            continue;
        }
        let q = quarantined.as_ref().map(|_| mail_id.as_str());
        let e = edits_for(cfg, &findings, d, q, &received);
        match groups.iter_mut().find(|(ge, _)| *ge == e) {
            Some((_, v)) => v.push(i),
            None => groups.push((e, vec![i])),
        }
    }
    let whole = !env.lmtp && groups.len() == 1;
    let mut partial_rejects: Vec<(usize, Reply)> = Vec::new();
    for (edits, idx) in &groups {
        let out_env = OutEnvelope {
            sender: env.sender.clone(),
            mail_params: env.mail_params.clone(),
            recipients: idx
                .iter()
                .map(|i| {
                    let r = &env.recipients[*i];
                    (r.address.clone(), r.params.clone())
                })
                .collect(),
            xforward: Some(env.xforward.clone()),
        };
        let msg = OutMessage {
            head: edits.apply(orig_head, &head),
            spool: &spool,
            body_offset: head.body_offset as u64,
        };
        let res = reinject(cfg, &rt.pool, env, &out_env, &msg, whole).await;
        let raw_rejects: Vec<Option<Reply>> = match &res {
            Ok(d) if !d.cancelled => d
                .per_recipient
                .iter()
                .map(|r| r.is_permanent().then(|| r.clone()))
                .collect(),
            _ => vec![None; idx.len()],
        };
        match map_delivery(cfg, &am_id, res) {
            Ok(per) => {
                for ((i, r), raw) in idx.iter().zip(per).zip(raw_rejects) {
                    if let Some(raw) = raw {
                        partial_rejects.push((*i, raw));
                    }
                    replies[*i] = Some(r);
                }
            }
            Err(r) => {
                for i in idx {
                    replies[*i] = Some(r.clone());
                }
            }
        }
    }

    // ---- blocked recipients: destinies ----
    let any_passed = decisions.iter().any(|d| d.blocked.is_none());
    let mixed = decisions.iter().any(|d| d.blocked != Some(Destiny::Reject));
    let mut bounce_rcpts: Vec<usize> = Vec::new();
    for (i, d) in decisions.iter().enumerate() {
        let Some(mut destiny) = d.blocked else {
            continue;
        };
        // SMTP has one reply: a reject among accepted recipients becomes a bounce.
        if !env.lmtp && destiny == Destiny::Reject && mixed {
            destiny = Destiny::Bounce;
        }
        replies[i] = Some(match destiny {
            Destiny::Discard => Reply::new(
                250,
                format!("2.7.0 Ok, discarded, id={am_id} - {}", d.reason),
            ),
            Destiny::Reject => Reply::new(554, format!("5.7.0 Reject, id={am_id} - {}", d.reason)),
            Destiny::Tempfail => Reply::new(
                451,
                format!("4.7.1 Temporary failure, id={am_id} - {}", d.reason),
            ),
            Destiny::Bounce | Destiny::Pass => {
                bounce_rcpts.push(i);
                continue;
            }
        });
    }
    let mut bounce_word = "";
    if !bounce_rcpts.is_empty() {
        let d0 = &decisions[bounce_rcpts[0]];
        let bulk = is_bulk(&head, &prefix);
        let reply = match notify::bounce_suppressed(&facts, d0.category, bulk) {
            Some(why) => {
                tracing::info!("({am_id}) bounce suppressed: {why}");
                bounce_word = "NoBounceInbound";
                Reply::new(
                    250,
                    format!("2.5.0 Ok, id={am_id}, DISCARD(bounce.suppressed)"),
                )
            }
            None => {
                let rc: Vec<String> = bounce_rcpts
                    .iter()
                    .map(|i| env.recipients[*i].address.clone())
                    .collect();
                let n = notify::bounce(&facts, d0.category, &d0.reason, &rc);
                match dsn::submit(cfg, env, &n).await {
                    Ok(()) => {
                        bounce_word = "BouncedInbound";
                        Reply::new(250, format!("2.5.0 Ok, id={am_id}, BOUNCE"))
                    }
                    Err(e) => {
                        tracing::error!("({am_id}) sending DSN failed: {e}");
                        Reply::new(
                            451,
                            format!("4.5.0 Error in processing, id={am_id}, DSN FAILED: {e}"),
                        )
                    }
                }
            }
        };
        for i in &bounce_rcpts {
            replies[*i] = Some(reply.clone());
        }
    }
    if !env.lmtp && !partial_rejects.is_empty() && !env.sender.is_empty() {
        let list: Vec<(&str, &Reply)> = partial_rejects
            .iter()
            .map(|(i, r)| (env.recipients[*i].address.as_str(), r))
            .collect();
        if list.len() < env.recipients.len() {
            dsn::bounce_rejected(cfg, env, &am_id, &mail_id, &list, orig_head).await;
        }
    }
    let replies: Vec<Reply> = replies
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Reply::new(
                    451,
                    format!("4.5.0 Error in processing, id={am_id}, no decision"),
                )
            })
        })
        .collect();
    let outcome = if env.lmtp {
        Outcome::PerRecipient(replies.clone())
    } else {
        Outcome::All(smtp_reply(&decisions, &replies, &partial_rejects))
    };

    // ---- the one log line ----
    let verb = if any_passed { "Passed" } else { "Blocked" };
    let mut actions: Vec<&str> = Vec::new();
    let first_reply = match &outcome {
        Outcome::All(r) => r.clone(),
        Outcome::PerRecipient(v) => v[0].clone(),
    };
    if first_reply.is_transient() {
        actions.push("TempFailedInbound");
    } else if any_passed {
        let tagged = decisions
            .iter()
            .any(|d| d.blocked.is_none() && d.spammy && d.local);
        actions.push(if tagged {
            "RelayedTaggedInbound"
        } else {
            "RelayedInbound"
        });
    } else if !bounce_word.is_empty() {
        actions.push(bounce_word);
    } else if decisions.iter().any(|d| d.blocked == Some(Destiny::Reject)) {
        actions.push("RejectedInbound");
    } else {
        actions.push("DiscardedInbound");
    }
    if quarantined.is_some() {
        actions.push("Quarantined");
    }
    let extra = quarantined
        .as_ref()
        .map(|q| format!("quarantine: {q}"))
        .unwrap_or_default();
    let queued = if any_passed && first_reply.is_positive() {
        queued_as(&first_reply)
    } else {
        String::new()
    };
    rt.log.emit(&alog::summary_line_ext(
        &am_id,
        verb,
        &category_word(main_cat, &findings),
        &actions.join(","),
        env,
        &extra,
        message_id.as_deref(),
        &mail_id,
        findings.spam.as_ref().map(|s| s.score),
        spool.len(),
        &queued,
        start.elapsed(),
    ));
    outcome
}

/// Run the checks a message needs for these recipients: virus, banned and
/// bad-header concurrently, then spam unless every recipient is already
/// blocked (amavisd does not run SpamAssassin then). `Err` is the text of a
/// 451: a failed check never counts as clean.
pub async fn run_checks(
    rt: &Runtime,
    sender: &str,
    rcpts: &[&str],
    spool: Arc<Spool>,
    am_id: &str,
) -> Result<Findings, String> {
    let cfg = &rt.config;
    let all = |m: &crate::policy::lookup::Maps| rcpts.iter().all(|r| m.is_true(r));
    let input = Arc::new(ScanInput::new(spool, sender));
    let mut findings = Findings::default();
    let mut first: Vec<Arc<dyn Scanner>> = Vec::new();
    for (scanner, bypass) in [
        (&rt.virus, &rt.maps.bypass_virus),
        (&rt.banned, &rt.maps.bypass_banned),
        (&rt.bad_header, &rt.maps.bypass_header),
    ] {
        if let Some(s) = scanner
            && !all(bypass)
        {
            first.push(s.clone());
        }
    }
    let timeout = Duration::from_secs(cfg.av_scanner_timeout);
    if let Err(e) = scan::run_all(first, input.clone(), timeout, &mut findings).await {
        let is_virus = e.scanner.starts_with("virus");
        if !is_virus || cfg.virus_scanners_failure_is_fatal {
            tracing::error!("({am_id}) {e}");
            return Err(format!("{}: {}", scan_label(&e.scanner), e.message));
        }
        tracing::warn!(
            "({am_id}) {e}; passing as UNCHECKED (virus_scanners_failure_is_fatal: false)"
        );
        findings.unchecked = Some(format!("virus scanners failed: {}", e.message));
    }
    let someone_passes = rcpts.iter().any(|r| {
        decide(cfg, &rt.maps, &findings, sender, r)
            .blocked
            .is_none()
    });
    if let Some(s) = &rt.spam
        && someone_passes
        && !all(&rt.maps.bypass_spam)
        && let Err(e) = scan::run_all(vec![s.clone()], input, timeout, &mut findings).await
    {
        tracing::error!("({am_id}) {e}");
        return Err(format!("spam scan FAILED: {}", e.message));
    }
    Ok(findings)
}

/// One SMTP reply for all recipients: the delivery's if anyone passed
/// (a failed delivery fails the message), else the first blocked one's.
fn smtp_reply(decisions: &[Decision], replies: &[Reply], partial: &[(usize, Reply)]) -> Reply {
    if let Some(t) = replies.iter().find(|r| r.is_transient()) {
        return t.clone();
    }
    let passed: Vec<&Reply> = decisions
        .iter()
        .zip(replies)
        .filter(|(d, _)| d.blocked.is_none())
        .map(|(_, r)| r)
        .collect();
    if let Some(ok) = passed.iter().find(|r| r.is_positive()) {
        return (*ok).clone();
    }
    if !passed.is_empty() && partial.len() == passed.len() {
        // Every passed recipient was refused by the next hop.
        return passed[0].clone();
    }
    replies
        .iter()
        .find(|r| r.is_positive())
        .or(replies.first())
        .cloned()
        .unwrap_or_else(|| Reply::new(451, "4.5.0 no reply"))
}

fn scan_label(scanner: &str) -> &'static str {
    if scanner.starts_with("virus") {
        "virus_scan FAILED"
    } else if scanner.starts_with("banned") {
        "banned check FAILED"
    } else {
        "check FAILED"
    }
}

/// `Precedence: bulk|list|junk` or list headers: no bounces for spam.
fn is_bulk(head: &Head, bytes: &[u8]) -> bool {
    head.fields.iter().any(|f| {
        (f.is("Precedence") && {
            let v = f.value(bytes).to_ascii_lowercase();
            v == "bulk" || v == "list" || v == "junk"
        }) || f.is("List-Id")
            || f.is("List-Unsubscribe")
    })
}

#[allow(clippy::too_many_arguments)]
fn log_tempfail(
    rt: &Runtime,
    env: &Envelope,
    am_id: &str,
    mail_id: &str,
    message_id: Option<&str>,
    size: u64,
    out: &Outcome,
    elapsed: Duration,
) {
    let why = match out {
        Outcome::All(r) => r.one_line(),
        Outcome::PerRecipient(v) => v.first().map(Reply::one_line).unwrap_or_default(),
    };
    rt.log.emit(&alog::summary_line_ext(
        am_id,
        "Blocked",
        "TEMPFAIL",
        "TempFailedInbound",
        env,
        &why,
        message_id,
        mail_id,
        None,
        size,
        "",
        elapsed,
    ));
}
