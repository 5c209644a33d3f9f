//! amavisd's own `Received:` header, prepended to every message it passes.

use crate::config::Config;
use crate::smtp::envelope::Envelope;

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
    let date = chrono::Utc::now()
        .format("%a, %e %b %Y %H:%M:%S +0000 (UTC)")
        .to_string();
    // amavisd wraps at 78 columns: the date joins the id line when it fits.
    let last_line = s.rsplit("\r\n").next().unwrap_or("").len();
    if last_line + 2 + date.len() <= 78 {
        s.push_str(&format!("; {date}\r\n"));
    } else {
        s.push_str(&format!(";\r\n {date}\r\n"));
    }
    s
}
