//! Delivery status notifications (RFC 3464) and admin notifications,
//! submitted through `notify_method` like amavisd does.

use crate::config::Config;
use crate::message::spool::Spool;
use crate::smtp::client::{Client, ClientError, OutEnvelope, OutMessage};
use crate::smtp::envelope::{Envelope, Params};
use crate::smtp::reply::Reply;
use std::time::Duration;

/// One failed recipient in a DSN.
#[derive(Debug, Clone)]
pub struct FailedRcpt {
    pub address: String,
    /// `5.7.0`
    pub status: String,
    /// Full diagnostic, e.g. `554-5.7.0 Bounce, id=... - INFECTED: name`.
    pub diagnostic: String,
}

/// A notification ready to submit.
#[derive(Debug, Clone)]
pub struct Notification {
    pub sender: String,
    pub recipients: Vec<String>,
    pub envid: String,
    pub message: Vec<u8>,
    /// DSNs carry `ORCPT=rfc822;<rcpt>` as amavisd sends them.
    pub orcpt: bool,
}

fn boundary(mail_id: &str) -> String {
    format!("----------=_{}-{}", chrono::Utc::now().timestamp(), mail_id)
}

/// `AM.<id>.<YYYYMMDDThhmmssZ>@host`, amavisd's ENVID.
pub fn envid(cfg: &Config, mail_id: &str) -> String {
    // ENVID is xtext (RFC 3461): mail_ids may contain `+`.
    crate::smtp::envelope::xtext_encode(&format!(
        "AM.{mail_id}.{}@{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        cfg.myhostname
    ))
}

fn clean(s: &str) -> String {
    crate::message::edit::sanitize(s)
}

/// Build an RFC 3464 multipart/report DSN to the envelope sender.
#[allow(clippy::too_many_arguments)]
pub fn build_dsn(
    cfg: &Config,
    env: &Envelope,
    am_id: &str,
    mail_id: &str,
    subject: &str,
    explanation: &str,
    failed: &[FailedRcpt],
    orig_head: &[u8],
) -> Notification {
    let b = boundary(mail_id);
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000");
    let from = format!(
        "\"Content-filter at {}\" <MAILER-DAEMON@{}>",
        cfg.myhostname, cfg.myhostname
    );
    let mut m = String::new();
    m.push_str(&format!("From: {from}\r\n"));
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!("Subject: {}\r\n", clean(subject)));
    m.push_str(&format!("To: <{}>\r\n", clean(&env.sender)));
    m.push_str(&format!(
        "Message-ID: <DSN{mail_id}@{}>\r\n",
        cfg.myhostname
    ));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"{b}\"\r\n"
    ));
    m.push_str("Content-Transfer-Encoding: 7bit\r\n\r\n");
    m.push_str("This is a multi-part message in MIME format...\r\n\r\n");
    m.push_str(&format!("--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"));
    m.push_str(&explanation.replace("\r\n", "\n").replace('\n', "\r\n"));
    if !m.ends_with("\r\n") {
        m.push_str("\r\n");
    }
    m.push_str(&format!(
        "\r\n--{b}\r\nContent-Type: message/delivery-status\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 7bit\r\nContent-Description: Delivery error report\r\n\r\n"
    ));
    m.push_str(&format!("Reporting-MTA: dns; {}\r\n", cfg.myhostname));
    if let Some(q) = &env.xforward.ident {
        m.push_str(&format!("Received-From-MTA: smtp; {}\r\n", clean(q)));
    }
    m.push_str(&format!("Arrival-Date: {date}\r\n"));
    for f in failed {
        m.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\nLast-Attempt-Date: {date}\r\nFinal-Log-ID: {am_id}/{mail_id}\r\n",
            clean(&f.address),
            f.status,
            clean(&f.diagnostic)
        ));
    }
    m.push_str(&format!(
        "\r\n--{b}\r\nContent-Type: text/rfc822-headers\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 8bit\r\nContent-Description: Undelivered-message headers\r\n\r\n"
    ));
    let mut bytes = m.into_bytes();
    bytes.extend_from_slice(orig_head);
    if !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    Notification {
        sender: String::new(),
        recipients: vec![env.sender.clone()],
        envid: envid(cfg, mail_id),
        message: bytes,
        orcpt: true,
    }
}

/// Submit a notification through `notify_method`.
pub async fn submit(cfg: &Config, env: &Envelope, n: &Notification) -> Result<(), ClientError> {
    let wait = Duration::from_secs(cfg.smtp_client_timeout);
    let mut client =
        Client::connect(cfg.notify_method(), Some(env.local), "localhost", wait).await?;
    let mut params = Params(vec![format!("ENVID={}", n.envid)]);
    params.0.insert(0, "BODY=7BIT".into());
    let out = OutEnvelope {
        sender: n.sender.clone(),
        mail_params: params,
        recipients: n
            .recipients
            .iter()
            .map(|r| {
                // ORCPT's address is xtext (RFC 3461): a quoted local part
                // with spaces must not split into extra parameters.
                let p = if n.orcpt {
                    Params(vec![format!(
                        "ORCPT=rfc822;{}",
                        crate::smtp::envelope::xtext_encode(r)
                    )])
                } else {
                    Params::default()
                };
                (r.clone(), p)
            })
            .collect(),
        xforward: None,
    };
    let spool = Spool::from_bytes(n.message.clone());
    let msg = OutMessage {
        head: Vec::new(),
        spool: &spool,
        body_offset: 0,
    };
    let d = client.send(&out, &msg, false).await?;
    client.quit().await;
    match d.per_recipient.iter().find(|r| !r.is_positive()) {
        Some(r) => Err(ClientError::Rejected {
            stage: "RCPT TO",
            reply: r.clone(),
        }),
        None => Ok(()),
    }
}

/// After a partial delivery (SMTP input), tell the sender about the
/// recipients the next hop refused permanently, as amavisd does.
pub async fn bounce_rejected(
    cfg: &Config,
    env: &Envelope,
    am_id: &str,
    mail_id: &str,
    rejected: &[(&str, &Reply)],
    orig_head: &[u8],
) {
    if env.sender.is_empty() {
        tracing::info!("({am_id}) no DSN for partial rejection: null sender");
        return;
    }
    let failed: Vec<FailedRcpt> = rejected
        .iter()
        .map(|(a, r)| FailedRcpt {
            address: a.to_string(),
            status: r.enhanced().unwrap_or("5.0.0").to_string(),
            diagnostic: r.one_line(),
        })
        .collect();
    let n = build_dsn(
        cfg,
        env,
        am_id,
        mail_id,
        "Undeliverable mail",
        "This message was created automatically by mail delivery software.\n\nThe message could not be delivered to some recipients:\nthe next hop refused them.\n",
        &failed,
        orig_head,
    );
    match submit(cfg, env, &n).await {
        Ok(()) => tracing::info!(
            "({am_id}) DSN sent to <{}> for {} refused recipient(s)",
            clean(&env.sender),
            failed.len()
        ),
        Err(e) => tracing::error!(
            "({am_id}) sending DSN to <{}> failed: {e}",
            clean(&env.sender)
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn envid_is_valid_xtext() {
        let c = crate::config::Config::from_yaml("myhostname: mx.example.com\n", "t").unwrap();
        let e = super::envid(&c, "ab+c=d-EF123");
        assert!(e.starts_with("AM.ab+2Bc+3Dd-EF123."), "{e}");
        assert!(e.bytes().all(|b| (33..=126).contains(&b)));
    }
}
