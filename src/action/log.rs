//! The one summary line per message, in amavisd's `$log_templ` format, so
//! logwatch, pflogsumm-style reports and fail2ban filters keep working:
//! `(am_id) Passed CLEAN {RelayedInbound}, [ip] [client]:port <from> -> <to>, ...`

use crate::smtp::envelope::Envelope;
use std::time::Duration;

/// Build the summary line. `extra` is inserted before `Message-ID:` (e.g.
/// `quarantine: ...`), `queued` after `size:` (`, queued_as: X`).
#[allow(clippy::too_many_arguments)]
pub fn summary_line(
    am_id: &str,
    verb: &str,
    category: &str,
    actions: &str,
    env: &Envelope,
    message_id: Option<&str>,
    mail_id: &str,
    hits: Option<f64>,
    size: u64,
    queued: &str,
    elapsed: Duration,
) -> String {
    summary_line_ext(
        am_id, verb, category, actions, env, "", message_id, mail_id, hits, size, queued, elapsed,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn summary_line_ext(
    am_id: &str,
    verb: &str,
    category: &str,
    actions: &str,
    env: &Envelope,
    extra: &str,
    message_id: Option<&str>,
    mail_id: &str,
    hits: Option<f64>,
    size: u64,
    queued: &str,
    elapsed: Duration,
) -> String {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let mut s = format!(
        "({am_id}) {verb} {category} {{{actions}}}, [{}]",
        env.peer.ip()
    );
    if let Some(a) = &env.xforward.addr {
        s.push_str(&format!(" [{}]", clean(a)));
        if let Some(p) = &env.xforward.port {
            s.push_str(&format!(":{}", clean(p)));
        }
    }
    let rcpts: Vec<String> = env
        .recipients
        .iter()
        .map(|r| format!("<{}>", clean(&r.address)))
        .collect();
    s.push_str(&format!(" <{}> -> {}", clean(&env.sender), rcpts.join(",")));
    if !extra.is_empty() {
        s.push_str(&format!(", {extra}"));
    }
    if let Some(q) = &env.xforward.ident {
        s.push_str(&format!(", Queue-ID: {}", clean(q)));
    }
    if let Some(m) = message_id {
        s.push_str(&format!(", Message-ID: {}", clean(m)));
    }
    s.push_str(&format!(", mail_id: {mail_id}"));
    match hits {
        Some(h) => s.push_str(&format!(", Hits: {}", crate::policy::format_score(h))),
        None => s.push_str(", Hits: -"),
    }
    s.push_str(&format!(
        ", size: {size}{queued}, {} ms",
        elapsed.as_millis()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::envelope::{Params, Recipient, Xforward};

    #[test]
    fn line_matches_amavisd_template_order() {
        let mut env = Envelope {
            sender: "alice@example.org".into(),
            mail_params: Params::default(),
            recipients: vec![Recipient {
                address: "bob@example.com".into(),
                params: Params::default(),
            }],
            peer: "127.0.0.1:40000".parse().unwrap(),
            local: "127.0.0.1:10024".parse().unwrap(),
            helo: "mx".into(),
            lmtp: false,
            xforward: Xforward::default(),
        };
        let l = summary_line_ext(
            "22417-03",
            "Blocked",
            "INFECTED (Eicar-Test-Signature.UNOFFICIAL)",
            "DiscardedInbound,Quarantined",
            &env,
            "quarantine: 4/virus-4jupkh0DsX6V",
            Some("<eicar.0004@example.org>"),
            "4jupkh0DsX6V",
            None,
            831,
            "",
            Duration::from_millis(34),
        );
        assert_eq!(
            l,
            "(22417-03) Blocked INFECTED (Eicar-Test-Signature.UNOFFICIAL) {DiscardedInbound,Quarantined}, [127.0.0.1] <alice@example.org> -> <bob@example.com>, quarantine: 4/virus-4jupkh0DsX6V, Message-ID: <eicar.0004@example.org>, mail_id: 4jupkh0DsX6V, Hits: -, size: 831, 34 ms"
        );
        env.xforward.addr = Some("192.0.2.10".into());
        env.xforward.port = Some("54321".into());
        env.xforward.ident = Some("4XyZ1234abc".into());
        let l = summary_line(
            "21088-01",
            "Passed",
            "CLEAN",
            "RelayedInbound",
            &env,
            Some("<ham3k.0001@example.org>"),
            "BIGx5TmBpFBV",
            Some(1.3),
            2982,
            ", queued_as: 250 2.0.0 Ok",
            Duration::from_millis(146),
        );
        assert_eq!(
            l,
            "(21088-01) Passed CLEAN {RelayedInbound}, [127.0.0.1] [192.0.2.10]:54321 <alice@example.org> -> <bob@example.com>, Queue-ID: 4XyZ1234abc, Message-ID: <ham3k.0001@example.org>, mail_id: BIGx5TmBpFBV, Hits: 1.3, size: 2982, queued_as: 250 2.0.0 Ok, 146 ms"
        );
    }
}
