//! Reinjection of passed mail through `forward_method`, and the mapping of
//! the next hop's replies to ours (amavisd's `from MTA(...)` texts).

use crate::config::Config;
use crate::smtp::client::{Client, ClientError, Delivery, OutEnvelope, OutMessage};
use crate::smtp::envelope::Envelope;
use crate::smtp::pool::Pool;
use crate::smtp::reply::Reply;
use std::time::Duration;

/// Send one delivery. With `whole_or_nothing` (SMTP input: one reply for
/// all recipients), a temporary failure of any recipient cancels before the
/// body so nobody gets the message twice when the MTA retries.
pub async fn reinject(
    cfg: &Config,
    pool: &Pool,
    env: &Envelope,
    out: &OutEnvelope,
    msg: &OutMessage<'_>,
    whole_or_nothing: bool,
) -> Result<Delivery, ClientError> {
    let wait = Duration::from_secs(cfg.smtp_client_timeout);
    let m = &cfg.forward_method;
    let local = Some(env.local);
    let (mut client, cached) = pool.get(m, local, "localhost", wait).await?;
    let mut r = client.send(out, msg, whole_or_nothing).await;
    if cached && matches!(r, Err(ClientError::Io(_))) && client.nothing_answered() {
        // The cached connection had been closed by the next hop before it
        // answered anything, so nothing was accepted: retry on a fresh one.
        client = Client::connect(m, local, "localhost", wait).await?;
        r = client.send(out, msg, whole_or_nothing).await;
    }
    if r.is_ok() {
        pool.put(m, local, client);
    }
    r
}

fn from_mta(cfg: &Config, r: &Reply) -> String {
    format!("from MTA({}): {}", cfg.forward_method.spec, r.one_line())
}

/// Per-recipient upstream replies for one delivery attempt. `Err` = one
/// reply for every recipient of the delivery.
pub fn map_delivery(
    cfg: &Config,
    am_id: &str,
    result: Result<Delivery, ClientError>,
) -> Result<Vec<Reply>, Reply> {
    match result {
        Ok(d) if d.cancelled => {
            let t = d.per_recipient.iter().find(|r| r.is_transient()).cloned();
            let t = t.unwrap_or_else(|| Reply::new(451, "4.5.0 deferred"));
            Err(relay(cfg, &t, am_id, "RCPT TO"))
        }
        Ok(d) => Ok(d
            .per_recipient
            .iter()
            .map(|r| {
                if r.is_positive() {
                    Reply::new(250, format!("2.0.0 {}", from_mta(cfg, r)))
                } else {
                    relay(cfg, r, am_id, "RCPT TO")
                }
            })
            .collect()),
        Err(ClientError::Rejected { reply, stage }) => Err(relay(cfg, &reply, am_id, stage)),
        Err(e) => {
            let esc = match &e {
                ClientError::Connect(..) => "4.4.1",
                _ => "4.4.2",
            };
            Err(Reply::new(
                451,
                format!("{esc} Error in processing, id={am_id}, forwarding err: {e}"),
            ))
        }
    }
}

/// Downstream refusal: 5xx relayed with its code, 4xx as 451, both quoting
/// the next hop's reply verbatim.
pub fn relay(cfg: &Config, r: &Reply, am_id: &str, stage: &str) -> Reply {
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
