//! Body eval functions ported from SpamAssassin 4.0.1 that the older
//! modules lacked: MIMEEval `check_abundant_unicode_ratio`, HTMLEval
//! `html_title_subject_ratio` and `check_iframe_src`, HTTPSMismatch
//! `check_https_http_mismatch`, BodyEval `check_stock_info`.

use std::sync::OnceLock;

use super::RuleSet;
use super::ctx::Ctx;
use super::text::split_short_lines;

/// The eval functions of this file; `None` for any other name.
pub fn call(rs: &RuleSet, ctx: &Ctx, func: &str, args: &[String]) -> Option<bool> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    Some(match func {
        "check_abundant_unicode_ratio" => abundant_unicode(ctx, arg(0).unwrap_or("")),
        "html_title_subject_ratio" => {
            let ratio: f64 = arg(0).and_then(|r| r.parse().ok()).unwrap_or(0.0);
            title_subject_ratio(ctx, ratio)
        }
        "check_iframe_src" => ctx.parts.iter().any(|p| {
            p.ctype == "text/html" && iframe_src_re().is_match(&super::msg::lossy(&p.decoded))
        }),
        "check_https_http_mismatch" => {
            let min = arg(0)
                .and_then(|v| v.parse().ok())
                .filter(|v| *v != 0)
                .unwrap_or(1);
            let max = arg(1).and_then(|v| v.parse().ok());
            https_http_mismatch(rs, ctx, min, max)
        }
        "check_uri_host_listed" => uri_host_listed(rs, ctx, arg(0).unwrap_or("")),
        "check_uri_host_in_blocklist" | "check_uri_host_in_blacklist" => {
            uri_host_listed(rs, ctx, "BLOCK")
        }
        "check_uri_host_in_welcomelist" | "check_uri_host_in_whitelist" => {
            uri_host_listed(rs, ctx, "WELCOME")
        }
        "check_stock_info" => {
            let min: usize = arg(0).and_then(|v| v.parse().ok()).unwrap_or(0);
            min == 0 || stock_info(ctx) >= min
        }
        _ => return None,
    })
}

/// `_check_attachments`' `mime_text_unicode_ratio`: `&#xHHHH;` entities per
/// other byte in the raw lines of unencoded text/plain parts.
fn abundant_unicode(ctx: &Ctx, ratio: &str) -> bool {
    // The Perl validates the argument: /^\d{0,3}\.\d{1,3}$/
    let valid = ratio.split_once('.').is_some_and(|(a, b)| {
        a.len() <= 3
            && a.bytes().all(|c| c.is_ascii_digit())
            && (1..=3).contains(&b.len())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    let Ok(ratio) = ratio.parse::<f64>() else {
        return false;
    };
    if !valid {
        return false;
    }
    *ctx.memo.unicode_ratio.get_or_init(|| unicode_ratio(ctx)) >= ratio
}

/// Unicode escapes per other byte in the 7/8-bit text/plain parts.
fn unicode_ratio(ctx: &Ctx) -> f64 {
    let (mut normal, mut unicode) = (0usize, 0usize);
    for p in &ctx.parts {
        if p.ctype != "text/plain" || !matches!(p.cte.as_str(), "" | "7bit" | "8bit") {
            continue;
        }
        // Per line in the Perl; an entity never spans a line end, so the
        // sums over the whole body are the same.
        let subs = count_entities(&p.raw_body);
        unicode += subs;
        normal += p.raw_body.len() - subs * 8;
    }
    if normal > 0 {
        unicode as f64 / normal as f64
    } else {
        0.0
    }
}

/// Non-overlapping `&#x[0-9A-F]{4};` (upper-case hex only, as the Perl).
/// `&#x` cannot occur inside a counted entity, so every occurrence of it
/// is a candidate (memchr finds them instead of a test at each byte).
fn count_entities(text: &[u8]) -> usize {
    memchr::memmem::find_iter(text, b"&#x")
        .filter(|&i| {
            text.get(i + 3..i + 8).is_some_and(|w| {
                w[..4]
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
                    && w[4] == b';'
            })
        })
        .count()
}

/// Longest HTML `<title>` over the Subject's length (both in bytes, the
/// Subject with its line end as `$pms->get` returns it), per HTML part.
fn title_subject_ratio(ctx: &Ctx, ratio: f64) -> bool {
    let subject = ctx.get("Subject").unwrap_or_default();
    if subject.is_empty() {
        return false;
    }
    ctx.bodies.html.iter().any(|h| {
        let max = h
            .title
            .iter()
            .filter(|t| !t.is_empty() && t.as_slice() != b"0")
            .map(|t| t.len() as f64 / subject.len() as f64)
            .fold(0.0, f64::max);
        max > ratio
    })
}

fn iframe_src_re() -> &'static ::regex::Regex {
    static RE: OnceLock<::regex::Regex> = OnceLock::new();
    RE.get_or_init(|| ::regex::Regex::new(r"(?is)<iframe\b[^>]*?\bsrc\s*=").expect("static regex"))
}

pub(crate) fn anchor_re() -> &'static ::regex::Regex {
    static RE: OnceLock<::regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        ::regex::Regex::new(
            r#"(?is)<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*))[^>]*>(.*?)</a\s*>"#,
        )
        .expect("static regex")
    })
}

/// Registry boundaries (`RegistryBoundaries::trim_domain`): keep one label
/// under a listed 3- or 2-level suffix, else the last two labels.
pub(crate) fn trim_domain(rs: &RuleSet, host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let tail = |n: usize| labels[labels.len().saturating_sub(n)..].join(".");
    let l = rs.lists();
    let keep = if labels.len() >= 4 && l.tld3.contains(&tail(3)) {
        4
    } else if labels.len() >= 3 && l.tld2.contains(&tail(2)) {
        3
    } else {
        2
    };
    tail(keep)
}

/// `is_domain_valid`: at least two labels and a known top-level domain.
fn domain_valid(rs: &RuleSet, dom: &str) -> bool {
    let Some((_, tld)) = dom.rsplit_once('.') else {
        return false;
    };
    rs.lists().tld.contains(&tld.to_ascii_lowercase())
}

fn is_ip(h: &str) -> bool {
    h.trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// `check_https_http_mismatch`: an anchor whose visible text shows an
/// https:// domain other than the domain it links to. Anchors are read
/// straight from each HTML part (the shared HTML renderer keeps no
/// href-to-text pairs); link targets are grouped like `uri_detail`.
fn https_http_mismatch(rs: &RuleSet, ctx: &Ctx, min: usize, max: Option<usize>) -> bool {
    for p in ctx.parts.iter().filter(|p| p.ctype == "text/html") {
        let html = super::msg::lossy(&p.decoded);
        let mut texts: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for c in anchor_re().captures_iter(&html) {
            let href = c
                .get(1)
                .or(c.get(2))
                .or(c.get(3))
                .map_or("", |m| m.as_str())
                .trim();
            let text = strip_tags(c.get(4).map_or("", |m| m.as_str()));
            if !text.trim().is_empty() {
                texts.entry(href.to_string()).or_default().push(text);
            }
        }
        let (mut hit, mut anchors) = (false, 0usize);
        for (href, list) in &texts {
            let lower = href.to_ascii_lowercase();
            let Some(rest) = lower
                .strip_prefix("http://")
                .or(lower.strip_prefix("https://"))
            else {
                continue;
            };
            let host: String = rest.chars().take_while(|c| !"/:?#".contains(*c)).collect();
            if host.is_empty() || is_ip(&host) {
                continue;
            }
            let uri = trim_domain(rs, &host);
            if !domain_valid(rs, &uri) {
                continue;
            }
            anchors += 1;
            for t in list {
                let lt = t.to_ascii_lowercase();
                let Some(i) = lt.find("https://") else {
                    continue;
                };
                let h: String = lt[i + 8..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !"/:?#".contains(*c))
                    .collect();
                if h.is_empty() {
                    continue;
                }
                let https = if is_ip(&h) {
                    h
                } else {
                    let d = trim_domain(rs, &h);
                    if !domain_valid(rs, &d) {
                        continue;
                    }
                    d
                };
                if https != uri {
                    hit = true;
                    break;
                }
            }
        }
        if hit && anchors >= min && max.is_none_or(|m| anchors < m) {
            return true;
        }
    }
    false
}

pub(crate) fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// `_check_stock_info`: distinct stock-tip field names ("Symbol:",
/// "Target:", ...) in the first text/plain part's rendered text.
fn stock_info(ctx: &Ctx) -> usize {
    static FIELD: OnceLock<::regex::Regex> = OnceLock::new();
    static NAME: OnceLock<::regex::Regex> = OnceLock::new();
    let field = FIELD.get_or_init(|| {
        ::regex::Regex::new(r"(?m)^\s*([^:\s][^:\n]{2,29})\s*:\s*\S").expect("static regex")
    });
    // Only the first alternative is anchored at the start, as in the Perl.
    let name = NAME.get_or_init(|| {
        ::regex::Regex::new(
            r"(?:^trad(?:e|ing)date|company(?:name)?|s\w?(?:t\w?o\w?c\w?k|y\w?m(?:\w?b\w?o\w?l)?)|t(?:arget|icker)|(?:opening|current)p(?:rice)?|p(?:rojected|osition)|expectations|weeks?high|marketperformance|(?:year|week|month|day|price)(?:target|estimates?)|sector|r(?:ecommendation|ating))$",
        )
        .expect("static regex")
    });
    let Some(i) = ctx.parts.iter().position(|p| p.ctype == "text/plain") else {
        return 0;
    };
    let Some(Some(text)) = ctx.bodies.rendered.get(i) else {
        return 0;
    };
    let mut hits = std::collections::BTreeSet::new();
    for chunk in split_short_lines(text) {
        let chunk = super::msg::lossy(&chunk);
        for c in field.captures_iter(&chunk) {
            let s: String = c[1]
                .to_lowercase()
                .chars()
                .filter(|c| c.is_ascii_lowercase())
                .collect();
            if let Some(m) = name.find(&s) {
                hits.insert(m.as_str().to_string());
            }
        }
    }
    hits.len()
}

/// WLBLEval `check_uri_host_listed`: a URI host (or a parent domain of it)
/// in the `enlist_uri_host (NAME)` list; `!host` entries and
/// `delist_uri_host` take hosts out again.
fn uri_host_listed(rs: &RuleSet, ctx: &Ctx, name: &str) -> bool {
    let Some(list) = rs.lists().uri_hosts.get(name).filter(|l| !l.is_empty()) else {
        return false;
    };
    ctx.bodies.uris.iter().any(|u| {
        let lower = u.to_ascii_lowercase();
        if lower.starts_with("mailto:") {
            return false;
        }
        let rest = lower.split_once("://").map_or(lower.as_str(), |(_, r)| r);
        let host: &str = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('@')
            .next()
            .unwrap_or("");
        let host = host.split(':').next().unwrap_or("");
        if host.is_empty() {
            return false;
        }
        // sub.example.com, example.com, com: the first one listed decides
        let mut h = host;
        loop {
            if let Some(&v) = list.get(h) {
                return v;
            }
            match h.split_once('.') {
                Some((_, rest)) => h = rest,
                None => return false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::count_entities;

    /// The Perl's `s/&#x[0-9A-F]{4};//g` count, a byte at a time.
    fn naive(t: &[u8]) -> usize {
        let (mut n, mut i) = (0, 0);
        while i + 8 <= t.len() {
            let w = &t[i..i + 8];
            if w.starts_with(b"&#x")
                && w[3..7]
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
                && w[7] == b';'
            {
                n += 1;
                i += 8;
            } else {
                i += 1;
            }
        }
        n
    }

    #[test]
    fn entity_count_matches_the_perl_substitution() {
        for t in [
            &b"&#x0410;&#x0411;x&#x0412;"[..],
            b"&#x04ab; lower-case hex does not count",
            b"&#x&#x0041; a bare prefix, then one",
            b"&#x0041",
            b"ends with &#x0041;",
            b"&#x00410; five digits",
            b"&&#x0041;;",
            b"",
        ] {
            assert_eq!(
                count_entities(t),
                naive(t),
                "{:?}",
                String::from_utf8_lossy(t)
            );
        }
        assert_eq!(count_entities(b"&#x0410;&#x0411;x&#x0412;"), 3);
    }
}
