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
