//! Remaining local eval functions of plugins Debian loads: URIEval
//! (`check_https_ip_mismatch`, `check_uri_truncated`), BodyEval
//! (`check_blank_line_ratio`), MIMEEval (`check_ma_non_text`), VBounce
//! (bounce relays) and WLBLEval (`check_to_in_*`, `check_uri_host_in_*`),
//! ported from SpamAssassin 4.0.1.

use std::sync::OnceLock;

use super::RuleSet;
use super::ctx::{Ctx, parse_addresses};
use super::evalfns::glob_match;
use super::evalfns_body::{anchor_re, strip_tags};

/// `Constants::MAX_URI_LENGTH`: longer URIs are cut and flagged.
const MAX_URI_LENGTH: usize = 8192;

/// The eval functions of this file; `None` for any other name.
pub fn call(rs: &RuleSet, ctx: &Ctx, func: &str, args: &[String]) -> Option<bool> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    Some(match func {
        "check_https_ip_mismatch" => https_ip_mismatch(ctx),
        "check_uri_truncated" => uri_truncated(ctx),
        "check_blank_line_ratio" => blank_line_ratio(ctx, arg(0), arg(1), arg(2)),
        "check_ma_non_text" => ctx.facts.ma_non_text,
        "have_any_bounce_relays" => !bounce_relays(rs).is_empty(),
        "check_welcomelist_bounce_relays" | "check_whitelist_bounce_relays" => {
            bounce_relay_found(rs, ctx)
        }
        "check_to_in_welcomelist" | "check_to_in_whitelist" => {
            to_in_list(rs, ctx, &["welcomelist_to", "whitelist_to"])
        }
        "check_to_in_blocklist" | "check_to_in_blacklist" => {
            to_in_list(rs, ctx, &["blocklist_to", "blacklist_to"])
        }
        "check_to_in_more_spam" => to_in_list(rs, ctx, &["more_spam_to"]),
        "check_to_in_all_spam" => to_in_list(rs, ctx, &["all_spam_to"]),
        _ => return None,
    })
}

/// `check_https_ip_mismatch`: a link to a numeric IPv4 host whose anchor
/// text shows an `https:` URL that is not itself an IP one.
fn https_ip_mismatch(ctx: &Ctx) -> bool {
    static RES: OnceLock<[::regex::Regex; 2]> = OnceLock::new();
    let [href_ip, text_ip] = RES.get_or_init(|| {
        [
            r"(?i)^https?:/*(?:[^@/]+@)?\d+\.\d+\.\d+\.\d+",
            r"(?i)^https:/*(?:[^@/]+@)?\d+\.\d+\.\d+\.\d+",
        ]
        .map(|p| ::regex::Regex::new(p).expect("static regex"))
    });
    ctx.parts
        .iter()
        .filter(|p| p.ctype == "text/html" && !p.decoded.is_empty())
        .any(|p| {
            let html = super::msg::lossy(&p.decoded);
            anchor_re().captures_iter(&html).any(|c| {
                let href = c
                    .get(1)
                    .or(c.get(2))
                    .or(c.get(3))
                    .map_or("", |m| m.as_str());
                let text = strip_tags(c.get(4).map_or("", |m| m.as_str()));
                href_ip.is_match(href.trim())
                    && !text_ip.is_match(&text)
                    && text.to_ascii_lowercase().contains("https:")
            })
        })
}

/// `$pms->{uri_truncated}`: an HTML URI (`canon_uri`), or the `http://`
/// / `ftp://` variant canonicalizing adds to a `www.` / `ftp.` one, longer
/// than `MAX_URI_LENGTH` characters. URIs found in plain text never get
/// that long in SpamAssassin (it parses them from body lines of at most
/// 2048 bytes), so only the HTML ones are looked at.
fn uri_truncated(ctx: &Ctx) -> bool {
    ctx.bodies.html.iter().flat_map(|h| &h.uris).any(|u| {
        let u = u.trim();
        let lower = u.get(..4).map(str::to_ascii_lowercase);
        let extra = match lower.as_deref() {
            Some("www.") => "http://".len(),
            Some("ftp.") => "ftp://".len(),
            _ => 0,
        };
        u.chars().count() + extra > MAX_URI_LENGTH
    })
}

/// `check_blank_line_ratio(min, max, minlines)`: the percentage of blank
/// lines in `get_decoded_body_text_array`, -1 below `minlines` lines.
fn blank_line_ratio(ctx: &Ctx, min: Option<&str>, max: Option<&str>, minl: Option<&str>) -> bool {
    let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<f64>().ok());
    let (min, max) = (num(min).unwrap_or(0.0), num(max).unwrap_or(0.0));
    let minlines = num(minl).filter(|m| *m >= 1.0).unwrap_or(1.0);
    let (mut blank, mut nlines) = (0usize, 0usize);
    for chunk in &ctx.bodies.rawbody {
        // split(/^/m, $chunk, -1): lines keep their "\n"
        for line in chunk.split_inclusive(|&b| b == b'\n') {
            nlines += 1;
            if line.iter().all(|&b| is_perl_space(b)) {
                blank += 1;
            }
        }
    }
    let ratio = if (nlines as f64) < minlines {
        -1.0
    } else {
        100.0 * blank as f64 / nlines as f64
    };
    ratio <= max && (min == 0.0 || ratio > min)
}

/// Perl's `\s` on a byte.
fn is_perl_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `welcomelist_bounce_relays` (and its old name), lower-cased.
fn bounce_relays(rs: &RuleSet) -> Vec<String> {
    ["welcomelist_bounce_relays", "whitelist_bounce_relays"]
        .iter()
        .flat_map(|k| rs.setting(k))
        .map(|p| p.to_lowercase())
        .collect()
}

/// VBounce `check_welcomelist_bounce_relays`: a listed relay host in a
/// `Received:` line quoted in the body text or in the raw body.
fn bounce_relay_found(rs: &RuleSet, ctx: &Ctx) -> bool {
    let list = bounce_relays(rs);
    if list.is_empty() {
        return false;
    }
    static RES: OnceLock<[::regex::bytes::Regex; 3]> = OnceLock::new();
    let [rcvd, spaced, ws] = RES.get_or_init(|| {
        [
            r"(?i-u)^[> ]*Received:",
            r"(?-u) (\S+\.\S+) ",
            r"(?-u)\s(\S+\.\S+)\s",
        ]
        .map(|p| ::regex::bytes::Regex::new(p).expect("static regex"))
    });
    let listed = |relay: &[u8]| {
        let relay = super::msg::lossy(relay).to_lowercase();
        list.iter().any(|p| glob_match(p, &relay))
    };
    // the plain-text body first (Subject line included, as in the Perl)
    for line in &ctx.bodies.body_lines {
        if rcvd.is_match(line) && spaced.captures_iter(line).any(|c| listed(&c[1])) {
            return true;
        }
    }
    // then the raw body, where headers of attached messages still are
    let body = &ctx.data[ctx.header_len.min(ctx.data.len())..];
    if !body
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"received:"))
    {
        return false;
    }
    let mut found_received = false;
    let mut fullhdr: Vec<u8> = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        if !found_received {
            if !rcvd.is_match(line) {
                continue;
            }
            found_received = true;
        }
        // continuation lines are glued on without a separator (bug 5912)
        if line.first().is_some_and(|&b| is_perl_space(b)) {
            fullhdr.extend_from_slice(line);
        } else {
            fullhdr = line.to_vec();
        }
        if rcvd.is_match(&fullhdr) && ws.captures_iter(&fullhdr).any(|c| listed(&c[1])) {
            return true;
        }
    }
    false
}

/// Addresses of the first header `name` (`get('Name:first:addr')`).
fn first_header_addrs(ctx: &Ctx, name: &str) -> Vec<String> {
    ctx.values(name, true)
        .first()
        .map(|v| addrs_of(v))
        .unwrap_or_default()
}

fn addrs_of(v: &[u8]) -> Vec<String> {
    parse_addresses(v)
        .into_iter()
        .filter_map(|(_, a)| a.map(|a| super::msg::lossy(&a).into_owned()))
        .collect()
}

/// `PerMsgStatus::all_to_addrs`: Resent-To/Cc if present, else the
/// recipients of the last three `Received:` lines and the usual headers.
pub fn all_to_addrs(ctx: &Ctx) -> Vec<String> {
    let mut resent = first_header_addrs(ctx, "Resent-To");
    resent.extend(first_header_addrs(ctx, "Resent-Cc"));
    if !resent.is_empty() {
        return resent;
    }
    static FOR: OnceLock<::regex::Regex> = OnceLock::new();
    let for_re =
        FOR.get_or_init(|| ::regex::Regex::new(r" for <?(\S+@(\S+?))>?;").expect("static regex"));
    let mut out = Vec::new();
    for v in ctx.values("Received", false).iter().take(3) {
        let v = super::msg::lossy(v);
        if let Some(c) = for_re.captures(&v)
            && fqdn_valid(&c[2])
        {
            out.push(c[1].to_string());
        }
    }
    for h in [
        "To",
        "Apparently-To",
        "Delivered-To",
        "Envelope-Recipients",
        "Apparently-Resent-To",
        "X-Envelope-To",
        "Envelope-To",
        "X-Delivered-To",
        "X-Original-To",
        "X-Rcpt-To",
        "X-Real-To",
        "Cc",
    ] {
        for v in ctx.values(h, true) {
            out.extend(addrs_of(&v));
        }
    }
    out
}

/// `Util::is_fqdn_valid($host, 1)`: at least two labels of letters,
/// digits, `-` inside and `_` only below the second level.
fn fqdn_valid(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n < 2 {
        return false;
    }
    labels.iter().enumerate().all(|(i, l)| {
        let b = l.as_bytes();
        let ok_end = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_';
        let level = n - i;
        !b.is_empty()
            && b.len() <= 63
            && ok_end(&b[0])
            && ok_end(&b[b.len() - 1])
            && b.iter().all(|c| ok_end(c) || *c == b'-')
            && (level > 2 || !l.contains('_'))
    })
}

/// WLBLEval `_check_welcomelist` over `all_to_addrs` for the given lists.
fn to_in_list(rs: &RuleSet, ctx: &Ctx, keys: &[&str]) -> bool {
    let pats: Vec<String> = keys
        .iter()
        .flat_map(|k| rs.setting(k))
        .map(|p| p.to_lowercase())
        .collect();
    if pats.is_empty() {
        return false;
    }
    all_to_addrs(ctx).iter().any(|a| {
        let a = a.to_lowercase();
        pats.iter().any(|p| glob_match(p, &a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn() {
        assert!(fqdn_valid("example.org"));
        assert!(fqdn_valid("a_b.example.org"));
        assert!(!fqdn_valid("a_b.org"));
        assert!(!fqdn_valid("localhost"));
        assert!(!fqdn_valid("-x.example.org"));
    }
}
