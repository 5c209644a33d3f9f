//! More header/relay eval functions ported from SpamAssassin 4.0.1
//! (HeaderEval forged-relay checks, RelayEval `check_for_forged_received_trail`,
//! WLBLEval `check_mailfrom_matches_rcvd`, MIMEEval `check_for_uppercase`).

use std::sync::OnceLock;

use ::regex::Regex;

use super::RuleSet;
use super::ctx::Ctx;
use super::evalfns_body::trim_domain;

/// The eval functions of this file; `None` for any other name.
pub fn call(rs: &RuleSet, ctx: &Ctx, func: &str, args: &[String]) -> Option<bool> {
    let num = |i: usize| args.get(i).and_then(|v| v.trim().parse::<f64>().ok());
    Some(match func {
        "check_for_matching_env_and_hdr_from" => {
            // Two blank values match too, as in the Perl.
            scalar(ctx, "EnvelopeFrom:addr").to_lowercase()
                == scalar(ctx, "From:addr").to_lowercase()
        }
        "gated_through_received_hdr_remover" => gated(ctx),
        "check_for_forged_hotmail_received_headers" => hotmail(ctx) == Some(true),
        "check_for_no_hotmail_received_headers" => hotmail(ctx) == Some(false),
        "check_for_forged_eudoramail_received_headers" => eudoramail(ctx),
        "check_for_forged_juno_received_headers" => juno(ctx),
        "check_for_fake_aol_relay_in_rcvd" => fake_aol(ctx),
        "check_ratware_name_id" => ratware_name_id(ctx),
        "check_for_forged_received_trail" => forged_received_trail(ctx),
        "check_mailfrom_matches_rcvd" => mailfrom_matches_rcvd(rs, ctx),
        "check_for_uppercase" => {
            let (Some(min), Some(max)) = (num(0), num(1)) else {
                return Some(false);
            };
            let u = *ctx.memo.upper_pct.get_or_init(|| uppercase_pct(ctx));
            u > min && u <= max
        }
        _ => return None,
    })
}

/// `$pms->get(...)` in scalar context: without the trailing newline.
fn scalar(ctx: &Ctx, req: &str) -> String {
    let v = ctx.get_str(req);
    v.strip_suffix('\n').map(str::to_string).unwrap_or(v)
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("static regex"))
}

const IP4: &str = r"\b(?:\d{1,3}\.){3}\d{1,3}\b";

/// Received headers joined, runs of whitespace made one space.
fn rcvd_flat(ctx: &Ctx) -> String {
    ctx.get_str("Received")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn gated(ctx: &Ctx) -> bool {
    static EZMLM: OnceLock<Regex> = OnceLock::new();
    static DLTO: OnceLock<Regex> = OnceLock::new();
    static QMAIL: OnceLock<Regex> = OnceLock::new();
    static MSN: OnceLock<Regex> = OnceLock::new();
    if let Some(txt) = ctx.get("Mailing-List")
        && re(&EZMLM, r"(?m)^contact \S+@\S+; run by ezmlm$").is_match(&super::msg::lossy(&txt))
        && re(&DLTO, r"(?m)^mailing list \S+@\S+").is_match(&ctx.get_str("Delivered-To"))
        && re(
            &QMAIL,
            r"qmail \d+ invoked (?:from network|by .{3,20})\); \d+ ... \d+",
        )
        .is_match(&ctx.get_str("Received"))
    {
        return true;
    }
    let Some(rcvd) = ctx.get("Received") else {
        // No Received headers at all: the relay tests cannot run.
        return true;
    };
    re(&MSN, r"from groups\.msn\.com \(\S+\.msn\.com ").is_match(&super::msg::lossy(&rcvd))
}

/// `_check_for_forged_hotmail_received_headers`: `Some(true)` = forged
/// hotmail Received, `Some(false)` = hotmail From without a hotmail
/// Received, `None` = neither.
fn hotmail(ctx: &Ctx) -> Option<bool> {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    let r = RES.get_or_init(|| {
        [
            r"from mail pickup service by hotmail\.com with Microsoft SMTPSVC;".to_string(),
            r"from (?:\S*\.)?hotmail.com \(\S+\.hotmail(?:\.msn)?\.com[ )]".to_string(),
            r"from \S*\.outbound\.protection\.outlook\.com \(\S+\.outbound\.protection\.outlook\.com[ )]".to_string(),
            format!(r"from \S*\.(?:eur|nam)prd\d+\.prod\.outlook\.com \({IP4}\)"),
            format!(r"from \S*\.hotmail.com \(\[{IP4}\][ ):]"),
            r"from \S+ by \S+\.hotmail(?:\.msn)?\.com with HTTP;".to_string(),
            r"from \[66\.218.\S+\] by \S+\.yahoo\.com".to_string(),
            r"(?:from |HELO |helo=)\S*hotmail\.com\b".to_string(),
            r"(?i)\bhotmail\.com$".to_string(),
            IP4.to_string(),
            r"hotmail\.com|msonline-outlook".to_string(),
        ]
        .iter()
        .map(|p| Regex::new(p).expect("static regex"))
        .collect()
    });
    let rcvd = rcvd_flat(ctx);
    if r[0].is_match(&rcvd) || msn_groups(ctx) {
        return None;
    }
    let ip = ctx
        .get("X-Originating-Ip")
        .is_some_and(|v| r[9].is_match(&super::msg::lossy(&v)));
    let orig = ctx
        .get("X-OriginatorOrg")
        .is_some_and(|v| r[10].is_match(&super::msg::lossy(&v)));
    if gated(ctx)
        || (ip
            && (r[1].is_match(&rcvd)
                || r[4].is_match(&rcvd)
                || r[5].is_match(&rcvd)
                || r[6].is_match(&rcvd)))
        || (orig && (r[2].is_match(&rcvd) || r[3].is_match(&rcvd)))
    {
        return None;
    }
    if r[7].is_match(&rcvd) {
        return Some(true);
    }
    r[8].is_match(&scalar(ctx, "From:addr")).then_some(false)
}

fn msn_groups(ctx: &Ctx) -> bool {
    static TO: OnceLock<Regex> = OnceLock::new();
    static PICKUP: OnceLock<Regex> = OnceLock::new();
    let to = ctx.get_str("To");
    let Some(list) = re(&TO, r"(?i)<(\S+)@groups\.msn\.com>")
        .captures(&to)
        .map(|c| c[1].to_string())
    else {
        return false;
    };
    let rcvd = ctx.get_str("Received");
    let Some(server) = re(
        &PICKUP,
        r"from mail pickup service by ((?:p\d\d\.)groups\.msn\.com)\b",
    )
    .captures(&rcvd)
    .map(|c| c[1].to_string()) else {
        return false;
    };
    let mid = ctx.get_str("Message-Id");
    let esc = ::regex::escape;
    if list == "notifications" {
        return Regex::new(&format!(r"^<\S+@{}>", esc(&server))).is_ok_and(|r| r.is_match(&mid));
    }
    Regex::new(&format!(r"^<{}-\S+@groups\.msn\.com>", esc(&list))).is_ok_and(|r| r.is_match(&mid))
        && ctx
            .get_str("EnvelopeFrom:addr")
            .contains(&format!("{list}-bounce@groups.msn.com"))
}

fn eudoramail(ctx: &Ctx) -> bool {
    static FROM: OnceLock<Regex> = OnceLock::new();
    static IP: OnceLock<Regex> = OnceLock::new();
    static BY: OnceLock<Regex> = OnceLock::new();
    if !re(&FROM, r"(?i)\beudoramail\.com$").is_match(&scalar(ctx, "From:addr")) {
        return false;
    }
    let ip = ctx
        .get("X-Sender-Ip")
        .is_some_and(|v| re(&IP, IP4).is_match(&super::msg::lossy(&v)));
    !(gated(ctx) || (ip && re(&BY, r"by \S*whowhere.com;").is_match(&rcvd_flat(ctx))))
}

fn juno(ctx: &Ctx) -> bool {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    let r = RES.get_or_init(|| {
        [
            r"(?i)\bjuno\.com$".to_string(),
            format!(r"from.*\b(?:juno|untd)\.com.*[\[(]{IP4}[\])].*by"),
            r" cookie\.(?:juno|untd)\.com ".to_string(),
            format!(r"from.*\bmail\.com.*\[{IP4}\].*by"),
            r"\bmail\.com".to_string(),
            format!(r"from (webmail\S+\.untd\.com) \((webmail\S+\.untd\.com) \[{IP4}\]\) by"),
            r"^Webmail Version \d".to_string(),
            IP4.to_string(),
        ]
        .iter()
        .map(|p| Regex::new(p).expect("static regex"))
        .collect()
    });
    if !r[0].is_match(&scalar(ctx, "From:addr")) || gated(ctx) {
        return false;
    }
    let xorig = ctx.get_str("X-Originating-IP");
    let xmailer = ctx.get_str("X-Mailer");
    let rcvd = ctx.get_str("Received");
    if !xorig.is_empty() {
        if !r[1].is_match(&rcvd) && !r[2].is_match(&rcvd) {
            return true;
        }
        return !xmailer.contains("Juno ");
    }
    if r[3].is_match(&rcvd) {
        if !r[4].is_match(&xmailer) {
            return true;
        }
    } else if let Some(c) = r[5].captures(&rcvd).filter(|c| c[1] == c[2]) {
        let _ = c;
        if !r[6].is_match(&xmailer) {
            return true;
        }
    } else {
        return true;
    }
    !r[7].is_match(&xorig)
}

fn fake_aol(ctx: &Ctx) -> bool {
    static RES: OnceLock<[Regex; 3]> = OnceLock::new();
    let r = RES.get_or_init(|| {
        [
            r"(?i) rly-[a-z][a-z]\d\d\.",
            r"/AOL-\d+\.\d+\.\d+\)",
            r"ESMTP id (?:RELAY|MAILRELAY|MAILIN)",
        ]
        .map(|p| Regex::new(p).expect("static regex"))
    });
    let rcvd = rcvd_flat(ctx);
    r[0].is_match(&rcvd) && !r[1].is_match(&rcvd) && !r[2].is_match(&rcvd)
}

fn ratware_name_id(ctx: &Ctx) -> bool {
    static MID: OnceLock<Regex> = OnceLock::new();
    let mid = ctx.get_str("MESSAGEID");
    let Some(c) = re(&MID, r"<[A-Z]{28}\.([^>]+?)>").captures(&mid) else {
        return false;
    };
    let pat = format!(r#""[^"]+"\s*<{}>"#, ::regex::escape(&c[1]));
    Regex::new(&pat).is_ok_and(|r| r.is_match(&ctx.get_str("From")))
}

/// RelayEval `hostname_to_domain`.
fn hostname_to_domain(h: &str) -> String {
    if !h.chars().any(|c| c.is_ascii_alphabetic()) {
        return h.to_string();
    }
    let parts: Vec<&str> = h.split('.').collect();
    let last = parts[parts.len() - 1];
    // /(?:\S{3,}|ie|fr|de)/ is unanchored: any 3 non-space chars, or those
    let long = last.chars().filter(|c| !c.is_whitespace()).count() >= 3
        || ["ie", "fr", "de"].iter().any(|t| last.contains(t));
    if parts.len() > 1 && long {
        parts[parts.len() - 2..].join(".")
    } else if parts.len() > 2 {
        parts[parts.len() - 3..].join(".")
    } else {
        h.to_string()
    }
}

/// `_check_for_forged_received`'s `mismatch_from > 1`: the rDNS of one
/// untrusted hop differs from the `by` of the next one, twice or more.
fn forged_received_trail(ctx: &Ctx) -> bool {
    static DOM: OnceLock<Regex> = OnceLock::new();
    let dom = re(&DOM, r"^\w+(?:[\w.-]+\.)+\w+$");
    let relays = &ctx.relays.untrusted;
    let from: Vec<Option<String>> = relays
        .iter()
        .map(|r| {
            let d = hostname_to_domain(&r.rdns.to_lowercase());
            let local = d == "localhost" || d == "localhost.localdomain";
            (!(local && r.ip == "127.0.0.1")).then_some(d)
        })
        .collect();
    let mut mismatch = 0;
    for (i, r) in relays.iter().enumerate() {
        let by = hostname_to_domain(&r.by.to_lowercase());
        if !dom.is_match(&by) || i == 0 {
            continue;
        }
        if let Some(prev) = &from[i - 1]
            && dom.is_match(prev)
            && by != *prev
            && !(by == "msn.com" && prev == "hotmail.com")
        {
            mismatch += 1;
        }
    }
    mismatch > 1
}

/// WLBLEval `_check_addr_matches_rcvd` for the envelope sender: its
/// registrable domain equals that of the first untrusted relay's rDNS (or,
/// with no untrusted relay, of any trusted one).
fn mailfrom_matches_rcvd(rs: &RuleSet, ctx: &Ctx) -> bool {
    let sender = scalar(ctx, "EnvelopeFrom:addr");
    let Some((_, dom)) = sender.rsplit_once('@') else {
        return false;
    };
    // / \@ ( [^\@]+ \. [^\@]+ ) \z/x: a dot with something on both sides
    if !dom
        .char_indices()
        .any(|(i, c)| c == '.' && i > 0 && i + 1 < dom.len())
    {
        return false;
    }
    let adrd = trim_domain(rs, &dom.to_lowercase());
    let relays: Vec<_> = match ctx.relays.untrusted.first() {
        Some(r) => vec![r],
        None => ctx.relays.trusted.iter().collect(),
    };
    relays
        .iter()
        .filter(|r| !r.rdns.is_empty())
        .any(|r| trim_domain(rs, &r.rdns.to_lowercase()) == adrd)
}

/// `check_for_uppercase`'s percentage of upper-case letters in the body
/// (0 when the text is short or in a charset that fakes capitals).
fn uppercase_pct(ctx: &Ctx) -> f64 {
    static LINE: OnceLock<Regex> = OnceLock::new();
    static FP: OnceLock<Regex> = OnceLock::new();
    let fp = re(
        &FP,
        r"(?i)^[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*$",
    );
    let ct = ctx.get_str("Content-Type");
    let ct_charset = charset_of_ct(&ct);
    if ct_charset
        .iter()
        .chain(ctx.parts.iter().filter_map(|p| p.charset.as_ref()))
        .any(|c| fp.is_match(c))
    {
        return 0.0;
    }
    let (mut len, mut lower, mut upper) = (0usize, 0usize, 0usize);
    for line in &ctx.bodies.body_lines {
        // `\S\s+\S`: on ASCII, Unicode `\s` is `[\t\n\v\f\r ]`; other
        // lines go through the regex (NBSP, ideographic space, ...).
        let spaced = if line.is_ascii() {
            ascii_spaced(line)
        } else {
            re(&LINE, r"\S\s+\S").is_match(&super::msg::lossy(line))
        };
        if !spaced || b64_pair(line) {
            continue;
        }
        let l = strip_jis(line);
        len += l.len();
        for &b in l.iter() {
            lower += usize::from(b.is_ascii_lowercase() || b.is_ascii_digit());
            upper += usize::from(b.is_ascii_uppercase());
        }
    }
    if len < 200 || upper + lower == 0 {
        return 0.0;
    }
    upper as f64 / (upper + lower) as f64 * 100.0
}

/// `/\S\s+\S/` on an ASCII line: a whitespace run with text on both sides.
fn ascii_spaced(line: &[u8]) -> bool {
    let ws = |b: &u8| matches!(b, b'\t'..=b'\r' | b' ');
    let Some(first) = line.iter().position(|b| !ws(b)) else {
        return false;
    };
    let rest = &line[first..];
    rest.iter()
        .position(ws)
        .is_some_and(|gap| rest[gap..].iter().any(|b| !ws(b)))
}

/// `/^(?:[A-Za-z0-9+\/=]{60,76} ){2}/`: two runs of 60 to 76 base64
/// characters, each followed by a space, from the start. A run ends where
/// the class does, so only the whole run can be followed by the space.
fn b64_pair(line: &[u8]) -> bool {
    let class = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let mut at = 0;
    for _ in 0..2 {
        let run = line[at..].iter().take_while(|b| class(b)).count();
        if !(60..=76).contains(&run) || line.get(at + run) != Some(&b' ') {
            return false;
        }
        at += run + 1;
    }
    true
}

/// `s/\x1b\$B.*\x1b\(B//gs`: drop from the first JIS shift-in to the last
/// shift-out (greedy).
fn strip_jis(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(0x1b, line).is_none() {
        return std::borrow::Cow::Borrowed(line);
    }
    let start = line.windows(3).position(|w| w == b"\x1b$B");
    let end = line.windows(3).rposition(|w| w == b"\x1b(B");
    match (start, end) {
        (Some(s), Some(e)) if e >= s + 3 => [&line[..s], &line[e + 3..]].concat().into(),
        _ => line.into(),
    }
}

/// MIMEEval `get_charset_from_ct_line`.
fn charset_of_ct(ct: &str) -> Option<String> {
    let lower = ct.to_ascii_lowercase();
    let i = lower.find("charset=")?;
    let rest = &ct[i + 8..];
    let v = if let Some(r) = rest.strip_prefix('"') {
        r.split('"').next()?
    } else if let Some(r) = rest.strip_prefix('\'') {
        r.split('\'').next()?
    } else {
        rest.split_whitespace().next()?
    };
    (!v.is_empty()).then(|| v.to_string())
}

/// `PerMsgStatus::get_envelope_from`: the `envelope_sender_header` when set, else
/// the envelope-from the last untrusted (else first trusted) relay
/// recorded, else X-Envelope-From / Envelope-Sender / Return-Path — each
/// only when no Received header precedes it (a header below a Received
/// line was added before the message reached us and proves nothing).
pub fn sa_envelope_from(ctx: &Ctx) -> Option<Vec<u8>> {
    if let Some(h) = &ctx.envelope_sender_header {
        // Configured: that header only (its topmost copy), or nothing.
        let v = ctx.values(h, true).into_iter().next()?;
        let a = super::ctx::parse_addresses(&v)
            .into_iter()
            .find_map(|(_, a)| a)?;
        return (a.is_empty() || a.iter().position(|&b| b == b'@').is_some_and(|i| i > 0))
            .then_some(a);
    }
    let lasthop = ctx.relays.untrusted.first().or(ctx.relays.trusted.last());
    if let Some(r) = lasthop
        && r.envfrom.find('@').is_some_and(|i| i > 0)
    {
        return Some(r.envfrom.clone().into_bytes());
    }
    let first_addr = |h: &str| -> Option<String> {
        let v = ctx.values(h, true).into_iter().next()?;
        super::ctx::parse_addresses(&v)
            .into_iter()
            .find_map(|(_, a)| a)
            .map(|a| super::msg::lossy(&a).into_owned())
    };
    if first_addr("X-Sender").is_some_and(|a| a.contains('@'))
        && ctx
            .values("Received", true)
            .iter()
            .any(|v| super::msg::lossy(v).contains("(fetchmail"))
    {
        return None;
    }
    let after_received = |h: &str| {
        let first_rcvd = ctx
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case("Received"));
        let hdr = ctx
            .fields
            .iter()
            .rposition(|f| f.name.eq_ignore_ascii_case(h));
        matches!((first_rcvd, hdr), (Some(r), Some(x)) if r < x)
    };
    if let Some(a) = first_addr("X-Envelope-From") {
        return (!after_received("X-Envelope-From")).then(|| a.into_bytes());
    }
    for h in ["Envelope-Sender", "Return-Path"] {
        if let Some(a) = first_addr(h)
            && !after_received(h)
        {
            return Some(a.into_bytes());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte checks give the answers of the regexes they stand for.
    #[test]
    fn uppercase_line_checks_agree_with_their_regexes() {
        let spaced = Regex::new(r"\S\s+\S").unwrap();
        let b64 = Regex::new(r"^(?:[A-Za-z0-9+/=]{60,76} ){2}").unwrap();
        let run = |n: usize, c: char| c.to_string().repeat(n);
        let lines = [
            String::new(),
            "word".into(),
            "  lead".into(),
            "trail \t".into(),
            "two words".into(),
            "a\x0bb".into(),
            "\x0b\x0c\r".into(),
            " x  y ".into(),
            format!("{} {} ", run(60, 'A'), run(76, '/')),
            format!("{} {} ", run(59, 'A'), run(60, 'A')),
            format!("{} {} ", run(77, 'A'), run(60, 'A')),
            format!("{} {}", run(64, 'Q'), run(64, 'Q')),
            format!("{} {}-", run(64, '='), run(64, '+')),
            format!("{}  {} ", run(64, 'Q'), run(64, 'Q')),
        ];
        for l in &lines {
            assert_eq!(ascii_spaced(l.as_bytes()), spaced.is_match(l), "{l:?}");
            assert_eq!(b64_pair(l.as_bytes()), b64.is_match(l), "{l:?}");
        }
    }
}
