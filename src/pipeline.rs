//! The stage between receiving and replying: checks, policy, header edits,
//! reinjection, and the reply. `process` is the seam the session calls with
//! the finished envelope and spool; everything after DATA starts here.

use crate::config::Config;
use crate::message::edit::HeaderEdits;
use crate::message::head::Head;
use crate::message::spool::Spool;
use crate::smtp::client::{Client, ClientError, Delivery, OutEnvelope, OutMessage};
use crate::smtp::envelope::Envelope;
use crate::smtp::reply::Reply;
use std::time::{Duration, Instant};

/// The compiled configuration a message is processed with. Swapped as a
/// whole on SIGHUP; a message keeps the one it started with.
pub struct Runtime {
    pub config: Config,
}

impl Runtime {
    pub async fn build(config: Config) -> anyhow::Result<Runtime> {
        Ok(Runtime { config })
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
    let prefix = match spool.prefix(MAX_HEAD) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::All(Reply::new(
                451,
                format!("4.5.0 Error in processing, id={am_id}, reading spool: {e}"),
            ));
        }
    };
    let mut head = Head::parse(&prefix);
    if !head.complete && (spool.len() as usize) > prefix.len() {
        // No end of header within MAX_HEAD: treat it all as body.
        head = Head {
            fields: vec![],
            body_offset: 0,
            complete: false,
        };
    }
    let message_id = head.first_value(&prefix, "Message-ID");

    let mut edits = HeaderEdits::default();
    edits
        .prepend
        .extend_from_slice(received_header(cfg, env, &mail_id).as_bytes());
    let new_head = edits.apply(&prefix[..head.body_offset], &head);
    let out_env = OutEnvelope {
        sender: env.sender.clone(),
        mail_params: env.mail_params.clone(),
        recipients: env
            .recipients
            .iter()
            .map(|r| (r.address.clone(), r.params.clone()))
            .collect(),
        xforward: Some(forwarded_client(env)),
    };
    let msg = OutMessage {
        head: new_head,
        spool: &spool,
        body_offset: head.body_offset as u64,
    };
    let result = reinject(cfg, env, &out_env, &msg, !env.lmtp).await;
    let outcome = outcome_for(
        cfg,
        env,
        &am_id,
        &mail_id,
        &prefix[..head.body_offset],
        result,
    )
    .await;
    let elapsed = start.elapsed();
    log_summary(&LogLine {
        am_id: &am_id,
        env,
        message_id: message_id.as_deref(),
        mail_id: &mail_id,
        size: spool.len(),
        outcome: &outcome,
        elapsed,
    });
    outcome
}

/// The original client as XFORWARD attributes for the next hop: what the
/// MTA told us, so the reinjecting Postfix logs the real client.
fn forwarded_client(env: &Envelope) -> crate::smtp::envelope::Xforward {
    env.xforward.clone()
}

/// amavisd's `Received:` line (see reference/amavisd-behaviour.md).
pub fn received_header(cfg: &Config, env: &Envelope, mail_id: &str) -> String {
    let helo = crate::message::edit::sanitize(&env.helo);
    let helo: String = helo
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(255)
        .collect();
    let proto = if env.lmtp { "LMTP" } else { "ESMTP" };
    let mut s = format!(
        "Received: from {} ([{}])\r\n by {} ({} [{}]) (amavis, port {}) with {proto}\r\n id {mail_id}",
        if helo.is_empty() { "unknown" } else { &helo },
        env.peer.ip(),
        cfg.localhost_name,
        cfg.myhostname,
        env.local.ip(),
        env.local.port(),
    );
    if env.recipients.len() == 1 {
        let r = crate::message::edit::sanitize(&env.recipients[0].address);
        s.push_str(&format!(" for <{r}>"));
    }
    let date = chrono::Utc::now().format("%a, %e %b %Y %H:%M:%S +0000 (UTC)");
    // amavisd wraps at 78 columns: the date joins the id line when it fits.
    let last_line = s.rsplit("\r\n").next().unwrap_or("").len();
    let date = date.to_string();
    if last_line + 2 + date.len() <= 78 {
        s.push_str(&format!("; {date}\r\n"));
    } else {
        s.push_str(&format!(";\r\n {date}\r\n"));
    }
    s
}

/// Send one delivery. With `whole_or_nothing` (SMTP input: one reply for
/// all recipients), a temporary failure of any recipient aborts before the
/// body so nobody gets the message twice when the MTA retries.
pub async fn reinject(
    cfg: &Config,
    env: &Envelope,
    out: &OutEnvelope,
    msg: &OutMessage<'_>,
    whole_or_nothing: bool,
) -> Result<Delivery, ClientError> {
    let wait = Duration::from_secs(cfg.smtp_client_timeout);
    let mut client =
        Client::connect(&cfg.forward_method, Some(env.local), "localhost", wait).await?;
    let r = client.send(out, msg, whole_or_nothing).await;
    if r.is_ok() {
        client.quit().await;
    }
    r
}

fn from_mta(cfg: &Config, r: &Reply) -> String {
    format!("from MTA({}): {}", cfg.forward_method.spec, r.one_line())
}

/// Map the reinjection result to upstream replies, amavisd style.
async fn outcome_for(
    cfg: &Config,
    env: &Envelope,
    am_id: &str,
    mail_id: &str,
    orig_head: &[u8],
    result: Result<Delivery, ClientError>,
) -> Outcome {
    let per = match result {
        Ok(d) if d.cancelled => {
            // Some recipient deferred (SMTP input): nobody got it; retry all.
            let t = d.per_recipient.iter().find(|r| r.is_transient()).cloned();
            let t = t.unwrap_or_else(|| Reply::new(451, "4.5.0 deferred"));
            return Outcome::All(relay(cfg, &t, am_id, "RCPT TO"));
        }
        Ok(d) => d.per_recipient,
        Err(ClientError::Rejected { reply, stage }) => {
            let r = relay(cfg, &reply, am_id, stage);
            return Outcome::All(r);
        }
        Err(e) => {
            let esc = match &e {
                ClientError::Connect(..) => "4.4.1",
                ClientError::Timeout(_) => "4.4.2",
                _ => "4.4.2",
            };
            return Outcome::All(Reply::new(
                451,
                format!("{esc} Error in processing, id={am_id}, forwarding err: {e}"),
            ));
        }
    };
    let mapped: Vec<Reply> = per
        .iter()
        .map(|r| {
            if r.is_positive() {
                Reply::new(250, format!("2.0.0 {}", from_mta(cfg, r)))
            } else {
                relay(cfg, r, am_id, "RCPT TO")
            }
        })
        .collect();
    if env.lmtp {
        return Outcome::PerRecipient(mapped);
    }
    // SMTP: one reply for all. Any transient failure: everything is
    // retried (the client aborted before the body, so nothing was delivered).
    if let Some(t) = mapped.iter().find(|r| r.is_transient()) {
        return Outcome::All(t.clone());
    }
    if let Some(ok) = mapped.iter().find(|r| r.is_positive()) {
        // Permanently rejected recipients among accepted ones: accepted
        // ones got the mail; amavisd then bounces the rest itself (DSN).
        let rejected: Vec<(&str, &Reply)> = env
            .recipients
            .iter()
            .zip(&per)
            .filter(|(_, r)| r.is_permanent())
            .map(|(rc, r)| (rc.address.as_str(), r))
            .collect();
        if !rejected.is_empty() {
            crate::action::dsn::bounce_rejected(cfg, env, am_id, mail_id, &rejected, orig_head)
                .await;
        }
        return Outcome::All(ok.clone());
    }
    Outcome::All(mapped.into_iter().next().unwrap_or_else(|| {
        Reply::new(
            451,
            format!("4.5.0 Error in processing, id={am_id}, no recipients"),
        )
    }))
}

/// Downstream refusal: 5xx relayed with its code, 4xx as 451, both quoting
/// the next hop's reply verbatim.
fn relay(cfg: &Config, r: &Reply, am_id: &str, stage: &str) -> Reply {
    if r.is_permanent() {
        let esc = r.enhanced().unwrap_or("5.0.0").to_string();
        Reply::new(r.code, format!("{esc} {}", from_mta(cfg, r)))
    } else {
        let esc = r
            .enhanced()
            .filter(|e| e.starts_with('4'))
            .unwrap_or("4.5.0")
            .to_string();
        Reply::new(
            451,
            format!("{esc} {}, id={am_id}, at {stage}", from_mta(cfg, r)),
        )
    }
}

/// Fields of the one summary line per message.
pub struct LogLine<'a> {
    pub am_id: &'a str,
    pub env: &'a Envelope,
    pub message_id: Option<&'a str>,
    pub mail_id: &'a str,
    pub size: u64,
    pub outcome: &'a Outcome,
    pub elapsed: Duration,
}

fn log_summary(l: &LogLine<'_>) {
    let first = match l.outcome {
        Outcome::All(r) => r.clone(),
        Outcome::PerRecipient(v) => v.first().cloned().unwrap_or_else(|| Reply::new(451, "")),
    };
    let (verb, action) = if first.is_positive() {
        ("Passed", "RelayedInbound")
    } else if first.is_transient() {
        ("Blocked", "TempFailedInbound")
    } else {
        ("Blocked", "RejectedInbound")
    };
    let queued = if first.is_positive() {
        let text = first.one_line();
        let q = text
            .rsplit_once("queued as ")
            .map(|(_, q)| q.trim().to_string())
            .unwrap_or_else(|| {
                text.split_once("): ")
                    .map(|(_, r)| r.to_string())
                    .unwrap_or(text.clone())
            });
        format!(", queued_as: {q}")
    } else {
        String::new()
    };
    tracing::info!(
        target: "amavis",
        "{}",
        crate::action::log::summary_line(
            l.am_id,
            verb,
            "CLEAN",
            action,
            l.env,
            l.message_id,
            l.mail_id,
            None,
            l.size,
            &queued,
            l.elapsed,
        )
    );
}
