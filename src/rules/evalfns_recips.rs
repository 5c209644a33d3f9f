//! Header eval functions about recipients, the Subject and the HELO name
//! (HeaderEval `sorted_recipients`, `similar_recipients`,
//! `check_for_to_in_subject`; RelayEval `helo_ip_mismatch`;
//! WelcomeListSubject), ported from SpamAssassin 4.0.1.

use std::net::Ipv4Addr;

use super::RuleSet;
use super::ctx::{Ctx, parse_addresses};
use super::evalfns::glob_match;
use super::evalfns_tosubject::{address_in_subject, user_in_subject};

/// The eval functions of this file; `None` for any other name.
pub fn call(rs: &RuleSet, ctx: &Ctx, func: &str, args: &[String]) -> Option<bool> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    Some(match func {
        "sorted_recipients" => recipients(ctx).0,
        "similar_recipients" => {
            let sim = recipients(ctx).1;
            let bound = |v: Option<&str>| v.filter(|v| *v != "undef").and_then(|v| v.parse().ok());
            bound(arg(0)).is_none_or(|m: f64| sim >= m)
                && bound(arg(1)).is_none_or(|m: f64| sim < m)
        }
        "check_for_to_in_subject" => to_in_subject(ctx, arg(0).unwrap_or("")),
        "helo_ip_mismatch" => helo_ip_mismatch(ctx),
        "check_subject_in_welcomelist" | "check_subject_in_whitelist" => {
            subject_in_list(ctx, rs, "welcomelist_subject")
        }
        "check_subject_in_blocklist" | "check_subject_in_blacklist" => {
            subject_in_list(ctx, rs, "blocklist_subject")
        }
        "check_from_in_list" => {
            let globs = addrlist(rs, arg(0).unwrap_or(""));
            all_from_addrs(ctx).iter().any(|a| in_addrlist(globs, a))
        }
        "check_replyto_in_list" => {
            let globs = addrlist(rs, arg(0).unwrap_or(""));
            let first = ctx
                .values("Reply-To", true)
                .iter()
                .flat_map(|v| parse_addresses(v))
                .filter_map(|(_, a)| a.map(|a| super::msg::lossy(&a).into_owned()))
                .find(|a| looks_like_address(a));
            first.is_some_and(|a| in_addrlist(globs, &a))
        }
        _ => return None,
    })
}

/// `_check_recipients`: (sorted, similarity) over the ToCc (then Bcc) addresses.
fn recipients(ctx: &Ctx) -> (bool, f64) {
    const SORTED_COUNT: usize = 7;
    const SIMILAR_COUNT: usize = 5;
    let addrs_of = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .flat_map(|n| ctx.values(n, true))
            .flat_map(|v| parse_addresses(&v))
            .filter_map(|(_, a)| a.map(|a| super::msg::lossy(&a).into_owned()))
            .filter(|a| looks_like_address(a))
            .collect()
    };
    let mut inputs = addrs_of(&["To", "Cc"]);
    if inputs.len() < SIMILAR_COUNT {
        inputs.extend(addrs_of(&["Bcc"]));
    }
    // Drop duplicates only when adjacent; Perl's `while (shift)` also stops at
    // an empty or "0" address.
    let mut address: Vec<String> = Vec::new();
    let mut previous = String::new();
    for cur in inputs {
        if cur.is_empty() || cur == "0" {
            break;
        }
        if cur.to_lowercase() != previous.to_lowercase() {
            previous = cur.clone();
            address.push(cur);
        }
        if address.len() == 256 {
            break;
        }
    }
    let sorted = address.len() >= SORTED_COUNT && {
        let mut s = address.clone();
        s.sort();
        s == address
    };
    let mut similar = 0.0;
    if address.len() >= SIMILAR_COUNT {
        let prefix = |s: &str| s.chars().take(2).collect::<String>();
        let user: Vec<String> = address.iter().map(|a| prefix(a)).collect();
        // `map { m/\@(.*)/ }` yields nothing for an address without '@', so
        // the host list shifts against the user list exactly as in Perl.
        let fqhn: Vec<String> = address
            .iter()
            .filter_map(|a| a.split_once('@').map(|(_, h)| h.to_string()))
            .collect();
        let host: Vec<String> = fqhn.iter().map(|h| prefix(h)).collect();
        let (mut hits, mut combos) = (0usize, 0usize);
        for i in 0..address.len() {
            for j in i + 1..address.len() {
                if user[i] == user[j] {
                    hits += 1;
                }
                let h = |k: usize| host.get(k).map(String::as_str).unwrap_or("");
                let f = |k: usize| fqhn.get(k).map(String::as_str).unwrap_or("");
                if h(i) == h(j) && f(i) != f(j) {
                    hits += 1;
                }
                combos += 1;
            }
        }
        similar = hits as f64 / combos as f64;
    }
    (sorted, similar)
}

/// `check_for_to_in_subject`: the first To address (or its local part) in
/// the Subject. SpamAssassin trims a copy of the Subject but matches the
/// untrimmed one; so do we.
fn to_in_subject(ctx: &Ctx, test: &str) -> bool {
    // `$pms->get('To:addr')`: the first address SpamAssassin accepts.
    let Some(full_to) = ctx
        .values("To", true)
        .iter()
        .flat_map(|v| parse_addresses(v))
        .filter_map(|(_, a)| a.map(|a| super::msg::lossy(&a).into_owned()))
        .find(|a| looks_like_address(a))
    else {
        return false;
    };
    let subject = ctx.get_str("Subject");
    match test {
        "address" => address_in_subject(&subject, &full_to),
        "user" => user_in_subject(&subject, full_to.split('@').next().unwrap_or("")),
        _ => false,
    }
}

/// SpamAssassin's `IS_IPV4_ADDRESS` and not `IP_PRIVATE` (which also holds
/// 100.64/10 and 169.254/16).
fn public_v4(s: &str) -> bool {
    let Ok(a) = s.parse::<Ipv4Addr>() else {
        return false;
    };
    let o = a.octets();
    !(o[0] == 10
        || o[0] == 127
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1])))
}

/// `helo_ip_mismatch`: an untrusted relay said HELO with a public IPv4
/// literal outside the /24 of the IP it connected from.
fn helo_ip_mismatch(ctx: &Ctx) -> bool {
    ctx.relays.untrusted.iter().any(|r| {
        if !public_v4(&r.helo) || !public_v4(&r.ip) || r.helo == r.ip {
            return false;
        }
        let net24 = &r.helo[..=r.helo.rfind('.').unwrap_or(0)];
        !r.ip.starts_with(net24)
    })
}

/// WelcomeListSubject `_check_subject`: each entry is a glob matched
/// anywhere in the lower-cased Subject (the Perl regex is unanchored).
fn subject_in_list(ctx: &Ctx, rs: &RuleSet, key: &str) -> bool {
    let subject = ctx.get_str("Subject");
    let subject = subject.strip_suffix('\n').unwrap_or(&subject);
    if subject.is_empty() {
        return false;
    }
    let subject = subject.to_lowercase();
    rs.setting(key).iter().any(|p| {
        let p = p.to_lowercase();
        p == subject || glob_match(&format!("*{p}*"), &subject)
    })
}

/// `Util::$header_address_mailre`: what SpamAssassin 4 accepts as an
/// address (`:addr` drops anything else, e.g. a bare `To: XX`).
pub fn looks_like_address(a: &str) -> bool {
    let Some((user, dom)) = a.rsplit_once('@') else {
        return false;
    };
    let bad_user = |c: char| c.is_whitespace() || "@<>()[],:;".contains(c);
    let bad_dom = |c: char| c.is_whitespace() || "\"<>()[],:;".contains(c);
    let user_ok = (user.len() >= 2 && user.starts_with('"') && user.ends_with('"'))
        || (!user.is_empty() && !user.contains(bad_user));
    let dom_ok = (!dom.is_empty() && !dom.contains(bad_dom))
        || (dom.len() > 2
            && dom.starts_with('[')
            && dom.ends_with(']')
            && dom[1..dom.len() - 1]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '.'));
    user_ok && dom_ok && !a.starts_with("\"\"@") && a.matches('"').count() != 1
}

/// The globs of one `enlist_addrlist (NAME) ...` list (lower-cased); the
/// kept setting is the flat token list of every such line.
fn addrlist<'a>(rs: &'a RuleSet, name: &str) -> Option<&'a super::lists::AddrList> {
    rs.lists().addrlists.get(name)
}

/// `_check_welcomelist`: exact entry or anchored glob, case-insensitive.
fn in_addrlist(list: Option<&super::lists::AddrList>, addr: &str) -> bool {
    list.is_some_and(|l| l.matches(addr))
}

/// `PerMsgStatus::all_from_addrs`: Resent-From's first address, else the
/// From, Envelope-Sender, Resent-Sender, X-Envelope-From and envelope
/// sender addresses (runs of dots squeezed).
fn all_from_addrs(ctx: &Ctx) -> Vec<String> {
    let addrs = |h: &str| -> Vec<String> {
        ctx.values(h, true)
            .iter()
            .flat_map(|v| parse_addresses(v))
            .filter_map(|(_, a)| a.map(|a| super::msg::lossy(&a).into_owned()))
            .filter(|a| looks_like_address(a))
            .collect()
    };
    let resent = addrs("Resent-From");
    let mut out: Vec<String> = if let Some(first) = resent.into_iter().next() {
        vec![first]
    } else {
        let mut v = Vec::new();
        for h in [
            "From",
            "Envelope-Sender",
            "Resent-Sender",
            "X-Envelope-From",
        ] {
            v.extend(addrs(h));
        }
        v.extend(
            ctx.get("EnvelopeFrom:addr")
                .map(|e| super::msg::lossy(&e).trim().to_string())
                .filter(|e| !e.is_empty()),
        );
        v
    };
    for a in &mut out {
        while a.contains("..") {
            *a = a.replace("..", ".");
        }
    }
    out.sort();
    out.dedup();
    out
}
