//! FreeMail plugin eval functions (`Plugin/FreeMail.pm`): is an address at
//! a free mail provider listed by `freemail_domains`, and the From /
//! Reply-To / body combinations the FREEMAIL_* rules look at.

use super::RuleSet;
use super::ctx::Ctx;
use super::evalfns::{all_addrs, glob_match};

fn is_freemail(rs: &RuleSet, email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let fm = rs.freemail();
    if fm.welcome.contains(email) || fm.welcome.contains(domain) {
        return false;
    }
    fm.exact.contains(domain) || fm.globs.iter().any(|g| glob_match(g, domain))
}

/// `freemail_domains` prepared once per rule set: exact names in a set,
/// wildcard entries as globs; welcomelist entries lower-cased.
#[derive(Debug, Default)]
pub struct FreemailLists {
    exact: fnv::FnvHashSet<String>,
    globs: Vec<String>,
    welcome: fnv::FnvHashSet<String>,
}

impl FreemailLists {
    pub fn new(domains: &[String], welcome: &[String]) -> FreemailLists {
        let mut f = FreemailLists::default();
        for d in domains {
            let d = d.to_ascii_lowercase();
            if d.contains('*') || d.contains('?') {
                f.globs.push(d);
            } else {
                f.exact.insert(d);
            }
        }
        f.welcome = welcome.iter().map(|w| w.to_ascii_lowercase()).collect();
        f
    }
}

pub fn freemail_from(rs: &RuleSet, ctx: &Ctx, re: Option<&str>) -> bool {
    let mut addrs = all_addrs(ctx, "From");
    for h in ["Envelope-Sender", "Resent-Sender", "X-Envelope-From"] {
        addrs.extend(all_addrs(ctx, h));
    }
    addrs.extend(all_addrs(ctx, "EnvelopeFrom"));
    let re = re.and_then(|r| rs.eval_regex(r));
    addrs
        .iter()
        .any(|a| is_freemail(rs, a) && re.as_ref().is_none_or(|r| r.is_match(a.as_bytes())))
}

pub fn freemail_header(rs: &RuleSet, ctx: &Ctx, hdr: &str, re: Option<&str>) -> bool {
    let re = re.and_then(|r| rs.eval_regex(r));
    all_addrs(ctx, hdr)
        .iter()
        .any(|a| is_freemail(rs, a) && re.as_ref().is_none_or(|r| r.is_match(a.as_bytes())))
}

pub fn freemail_replyto(rs: &RuleSet, ctx: &Ctx, what: &str) -> bool {
    let from = all_addrs(ctx, "From");
    let reply = all_addrs(ctx, "Reply-To");
    let from_fm = from.iter().any(|a| is_freemail(rs, a));
    let reply_fm = reply.iter().any(|a| is_freemail(rs, a));
    let from_not_in_reply = !from.iter().any(|f| reply.contains(f));
    if from_fm && reply_fm && from_not_in_reply {
        return true;
    }
    match what {
        "replyto" if !reply_fm => return false,
        "reply" if (!reply.is_empty() && !reply_fm) || !from_fm => return false,
        _ => {}
    }
    let body = body_freemails(rs, ctx);
    if body.is_empty() {
        return false;
    }
    let addrs = if what == "replyto" || reply_fm {
        &reply
    } else {
        &from
    };
    body.iter().any(|b| addrs.iter().any(|a| a != b))
}

/// `FreeMail::_parse_body`: freemail addresses in the rendered body; none
/// counted when there are more than `freemail_max_body_emails` (5).
fn body_freemails(rs: &RuleSet, ctx: &Ctx) -> Vec<String> {
    let t = &ctx.bodies.body_text;
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'@' && i > 0 {
            let (s, e) = super::text::address_span(t, i);
            if s < i && e > i + 1 {
                let a = super::msg::lossy(&t[s..e]).to_ascii_lowercase();
                if !found.contains(&a) {
                    found.push(a);
                }
            }
            i = e;
            continue;
        }
        i += 1;
    }
    if found.len() > 5 {
        return vec![];
    }
    found.into_iter().filter(|a| is_freemail(rs, a)).collect()
}

#[cfg(test)]
mod freemail_tests {
    use super::super::RuleSet;

    #[test]
    fn freemail_from_hits() {
        let rs = RuleSet::from_config_text(
            "freemail_domains yahoo.com *.example\nheader FREEMAIL_FROM eval:check_freemail_from()\nheader FM_ENV eval:check_freemail_header('EnvelopeFrom', '\\d@')\n",
        );
        let r = rs.check(
            b"From: Joe <joe@Yahoo.com>\nReturn-Path: <joe1@x.example>\n\nhi\n",
            None,
        );
        let names: Vec<&str> = r.hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["FM_ENV", "FREEMAIL_FROM"]);
    }
}
