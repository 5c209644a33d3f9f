//! Local eval functions of the header-side plugins (HeaderEval, RelayEval,
//! FreeMail, WLBLEval). Each follows the Perl function of the same name;
//! functions not implemented here (or network ones) never hit.

use super::RuleSet;
use super::ctx::{Ctx, parse_addresses};
use super::evalfns_freemail::{freemail_from, freemail_header, freemail_replyto};
use super::parse::RuleKind;
use super::{
    evalfns_body, evalfns_header, evalfns_image, evalfns_local, evalfns_locales, evalfns_mime,
    evalfns_recips,
};

/// Run eval function `func` with its rule-file arguments.
pub fn call(rs: &RuleSet, ctx: &Ctx, kind: RuleKind, func: &str, args: &[String]) -> bool {
    let arg = |i: usize| args.get(i).map(String::as_str);
    match func {
        "check_for_shifted_date" => shifted_date(ctx, arg(0), arg(1)),
        "check_outlook_message_id" => outlook_message_id(ctx),
        "subject_is_all_caps" => subject_all_caps(ctx),
        "check_for_missing_to_header" => {
            ctx.get("To").is_none_or(|v| v.is_empty())
                && ctx.get("Apparently-To").is_none_or(|v| v.is_empty())
        }
        "check_equal_from_domains" => equal_from_domains(ctx),
        "check_for_forged_yahoo_received_headers" => forged_yahoo(ctx),
        "check_for_forged_gmail_received_headers" => forged_gmail(ctx),
        "check_no_relays" => {
            ctx.relays.trusted.is_empty()
                && ctx.relays.untrusted.is_empty()
                && ctx.relays.unparseable == 0
        }
        "check_relays_unparseable" => ctx.relays.unparseable > 0,
        "check_all_trusted" => {
            !ctx.relays.trusted.is_empty()
                && ctx.relays.untrusted.is_empty()
                && ctx.relays.unparseable == 0
        }
        "check_for_no_rdns_dotcom_helo" => no_rdns_dotcom_helo(ctx),
        "check_header_count_range" => {
            let n = ctx
                .fields
                .iter()
                .filter(|f| arg(0).is_some_and(|h| f.name.eq_ignore_ascii_case(h)))
                .count() as f64;
            let lo: f64 = arg(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let hi: f64 = arg(2).and_then(|v| v.parse().ok()).unwrap_or(f64::INFINITY);
            n >= lo && n <= hi
        }
        "check_illegal_chars" => illegal_chars(ctx, arg(0), arg(1), arg(2)),
        "check_freemail_from" => freemail_from(rs, ctx, arg(0)),
        "check_freemail_header" => freemail_header(rs, ctx, arg(0).unwrap_or(""), arg(1)),
        "check_freemail_replyto" => freemail_replyto(rs, ctx, arg(0).unwrap_or("replyto")),
        "check_ratware_envelope_from" => ratware_envelope_from(ctx),
        "check_unresolved_template" => {
            let all = ctx.get_str("ALL");
            all.lines().any(|l| {
                let l = l.trim_end();
                (l.contains("%") && unresolved(l)) && !l.to_ascii_lowercase().starts_with("x-")
            })
        }
        "check_from_in_blocklist" | "check_from_in_blacklist" => {
            addr_in_list(ctx, rs, &["blocklist_from", "blacklist_from"])
        }
        "check_from_in_welcomelist" | "check_from_in_whitelist" => {
            addr_in_list(ctx, rs, &["welcomelist_from", "whitelist_from"])
        }
        "check_from_in_default_welcomelist" | "check_from_in_default_whitelist" => {
            addr_in_list(ctx, rs, &["def_welcomelist_from", "def_whitelist_from"])
        }
        _ => evalfns_recips::call(rs, ctx, func, args)
            .or_else(|| evalfns_header::call(rs, ctx, func, args))
            .or_else(|| evalfns_image::call(ctx, kind, func, args))
            .or_else(|| evalfns_body::call(rs, ctx, func, args))
            .or_else(|| evalfns_local::call(rs, ctx, func, args))
            .or_else(|| evalfns_locales::call(rs, ctx, func, args))
            .unwrap_or_else(|| evalfns_mime::call(rs, ctx, kind, func, args)),
    }
}

fn unresolved(l: &str) -> bool {
    // /%[A-Z][A-Z_-]/ in a header value
    let b = l.as_bytes();
    b.windows(3).any(|w| {
        w[0] == b'%'
            && w[1].is_ascii_uppercase()
            && (w[2].is_ascii_uppercase() || w[2] == b'_' || w[2] == b'-')
    })
}

/// All addresses of a header (`$pms->get("H:addr")` in list context), lower-cased.
pub fn all_addrs(ctx: &Ctx, hdr: &str) -> Vec<String> {
    if hdr.eq_ignore_ascii_case("EnvelopeFrom") {
        return ctx
            .get("EnvelopeFrom:addr")
            .map(|v| vec![super::msg::lossy(&v).to_ascii_lowercase()])
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    for v in ctx.values(hdr, true) {
        for (_, a) in parse_addresses(&v) {
            if let Some(a) = a {
                out.push(super::msg::lossy(&a).to_ascii_lowercase());
            }
        }
    }
    out
}

/// `Util::parse_rfc822_date`: a lenient date parser; seconds since epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let s = s.replace(',', " ");
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mi = toks
        .iter()
        .position(|t| t.len() >= 3 && MONTHS.contains(&t[..3].to_ascii_lowercase().as_str()))?;
    let mon = MONTHS
        .iter()
        .position(|m| *m == toks[mi][..3].to_ascii_lowercase())? as u32
        + 1;
    let (day, year_tok, rest) = if mi > 0 && toks[mi - 1].parse::<u32>().is_ok() {
        (
            toks[mi - 1].parse::<u32>().ok()?,
            *toks.get(mi + 1)?,
            mi + 2,
        )
    } else {
        // "Mon Jan 1 10:00:00 2002"
        let d = toks.get(mi + 1)?.parse::<u32>().ok()?;
        let y = toks
            .iter()
            .skip(mi + 2)
            .find(|t| t.len() == 4 && t.parse::<i32>().is_ok())?;
        (d, *y, mi + 2)
    };
    let mut year: i32 = year_tok.parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let time_tok = toks.iter().skip(rest).find(|t| t.contains(':'))?;
    let hms: Vec<u32> = time_tok.split(':').filter_map(|x| x.parse().ok()).collect();
    let (h, m, sec) = (
        *hms.first()?,
        *hms.get(1)?,
        hms.get(2).copied().unwrap_or(0),
    );
    let tpos = toks.iter().position(|t| t == time_tok)?;
    let tz = toks.get(tpos + 1).copied().unwrap_or("");
    let off = tz_offset(tz);
    let date = chrono::NaiveDate::from_ymd_opt(year, mon, day.clamp(1, 31))?;
    let t = date.and_hms_opt(h.min(23), m.min(59), sec.min(59))?;
    Some(t.and_utc().timestamp() - off)
}

fn tz_offset(tz: &str) -> i64 {
    let tz = tz.trim_matches(|c| c == '(' || c == ')');
    if (tz.starts_with('+') || tz.starts_with('-'))
        && tz.len() >= 5
        && let Ok(v) = tz[1..5].parse::<i64>()
    {
        let secs = (v / 100) * 3600 + (v % 100) * 60;
        return if tz.starts_with('-') { -secs } else { secs };
    }
    let h = match tz.to_ascii_uppercase().as_str() {
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        "BST" | "CET" | "MET" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "JST" => 9,
        _ => 0,
    };
    h * 3600
}

fn received_times(ctx: &Ctx) -> Vec<i64> {
    let rcvd = ctx.get_str("Received");
    let mut lines: Vec<&str> = rcvd.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return vec![];
    }
    let first_local = {
        let l = lines[0];
        l.contains("from localhost ")
            || l.split("from ").nth(1).is_some_and(|r| {
                r.split_whitespace()
                    .take(3)
                    .any(|t| t.contains("127.0.0.1"))
            })
            || (l.contains("qmail ") && l.contains(" invoked by uid "))
    };
    let mut local = 0;
    if first_local {
        local = 1;
    }
    if lines.len() > local
        && lines[local].contains("by localhost with ")
        && lines[local].contains("(fetchmail-")
    {
        local += 1;
    } else if local == 1 {
        local = 0;
    }
    lines.drain(..local);
    lines
        .iter()
        .filter_map(|l| {
            // last "; date" section
            let d = l.rsplit(';').next()?;
            parse_date(d)
        })
        .collect()
}

fn date_diff(ctx: &Ctx) -> i64 {
    let mut dt = None;
    for h in ["Resent-Date", "Date"] {
        for v in ctx.values(h, false) {
            let s = super::msg::lossy(&v);
            if !s.trim().is_empty() {
                dt = parse_date(s.trim());
                if dt.is_some() {
                    break;
                }
            }
        }
        if dt.is_some() {
            break;
        }
    }
    let Some(dt) = dt else { return 0 };
    let times = received_times(ctx);
    if times.is_empty() {
        return 0;
    }
    let mut diffs: Vec<i64> = times.iter().map(|t| dt - t).collect();
    if diffs.len() > 1 && diffs.last() == Some(&0) {
        diffs.pop();
    }
    diffs.sort_by_key(|d| d.abs());
    diffs[0]
}

fn shifted_date(ctx: &Ctx, min: Option<&str>, max: Option<&str>) -> bool {
    let d = *ctx.memo.date_diff.get_or_init(|| date_diff(ctx)) as f64;
    let bound = |v: Option<&str>| {
        v.filter(|v| *v != "undef")
            .and_then(|v| v.parse::<f64>().ok())
    };
    bound(min).is_none_or(|m| d >= 3600.0 * m) && bound(max).is_none_or(|m| d < 3600.0 * m)
}

fn outlook_message_id(ctx: &Ctx) -> bool {
    let id = ctx.get_str("MESSAGEID");
    let b = id.as_bytes();
    // ^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}\@
    let hex = |s: &[u8]| {
        s.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    if b.len() < 33
        || b[0] != b'<'
        || !hex(&b[1..13])
        || b[13] != b'$'
        || !hex(&b[14..22])
        || b[22] != b'$'
        || !hex(&b[23..31])
        || b[31] != b'@'
    {
        return false;
    }
    let token = i64::from_str_radix(&id[5..13], 16).unwrap_or(0) as f64;
    let (x, y, fudge) = (0.0023283064365387, 27111902.8329849, 250.0);
    let date = parse_date(&ctx.get_str("Date")).unwrap_or(0) as f64;
    if (token - (date * x + y).trunc()).abs() < fudge {
        return false;
    }
    let rcvd = ctx.get_str("Received");
    let rt = rcvd
        .lines()
        .next()
        .and_then(|l| parse_date(l.rsplit(';').next()?))
        .unwrap_or(0) as f64;
    (token - (rt * x + y).trunc()).abs() >= fudge
}

fn subject_all_caps(ctx: &Ctx) -> bool {
    let s = ctx.get_str("Subject");
    let mut s = s.trim();
    loop {
        let l = s.to_ascii_lowercase();
        let pre = [
            "re:", "fwd:", "fw:", "aw:", "antwort:", "wg:", "sv:", "vb:", "vs:", "vl:",
        ]
        .iter()
        .find(|p| l.starts_with(**p));
        match pre {
            Some(p) => s = s[p.len()..].trim_start(),
            None => break,
        }
    }
    if !s.contains(char::is_whitespace) || s.len() < 10 {
        return false;
    }
    let letters: String = s.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let raw = ctx.get_str("Subject:raw").to_ascii_lowercase();
    let fp = [
        "=?iso-2022-jp?",
        "=?euc-kr?",
        "=?gb2312?",
        "=?gbk?",
        "=?big5?",
        "=?koi8-r?",
        "=?utf-8?",
        "=?windows-1251?",
    ];
    if fp.iter().any(|p| raw.contains(p)) {
        return false;
    }
    !letters.is_empty() && letters == letters.to_ascii_uppercase()
}

fn domain_of(addr: &str) -> String {
    let d = addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if addr.contains('@') {
        let parts: Vec<&str> = d.split('.').collect();
        if parts.len() > 2 {
            return parts[parts.len() - 2..].join(".");
        }
        return d.to_string();
    }
    String::new()
}

fn equal_from_domains(ctx: &Ctx) -> bool {
    let from = ctx.get_str("From:addr");
    let env = ctx.get_str("EnvelopeFrom:addr");
    let (f, e) = (domain_of(&from), domain_of(&env));
    !f.is_empty() && !e.is_empty() && !f.eq_ignore_ascii_case(&e)
}

fn forged_yahoo(ctx: &Ctx) -> bool {
    let from = ctx.get_str("From:addr").to_ascii_lowercase();
    if !from.ends_with("yahoo.com") {
        return false;
    }
    let rcvd = ctx
        .get_str("Received")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let ts = ctx.relays.trusted_str();
    let us = ctx.relays.untrusted_str();
    let first_untrusted = us.split(']').next().unwrap_or("");
    let rdns_yahoo = |s: &str| {
        s.split_whitespace().any(|t| {
            t.strip_prefix("rdns=")
                .is_some_and(|r| r.to_ascii_lowercase().ends_with(".yahoo.com"))
        })
    };
    if rdns_yahoo(&ts) || rdns_yahoo(first_untrusted) {
        return false;
    }
    static RES: std::sync::OnceLock<[::regex::Regex; 6]> = std::sync::OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            r"by web\S+\.mail\S*\.yahoo\.com via HTTP",
            r"by sonic\S+\.consmr\.mail\S*\.yahoo\.com with HTTP",
            r"by smtp\S+\.yahoo\.com with SMTP",
            r"from \[[\d.]+\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP",
            r"\bmailer\d+\.bulk\.scd\.yahoo\.com\b",
            r"by \w+\.\w+\.yahoo\.com \(\d+\.\d+\.\d+/\d+\.\d+\.\d+\)(?: with ESMTP)? id \w+",
        ]
        .map(|p| ::regex::Regex::new(p).expect("static regex"))
    });
    let re = |i: usize| res[i].is_match(&rcvd);
    !(re(0) || re(1) || re(2) || re(3) || (re(4) && from.ends_with("@reply.yahoo.com")) || re(5))
}

fn forged_gmail(ctx: &Ctx) -> bool {
    static RES: std::sync::OnceLock<[::regex::Regex; 4]> = std::sync::OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            r"(?i)\bgmail\.com\n?\z",
            r"by 10\.\S+ with SMTP id \S+",
            r"by 2002:a\d\d:\w+:\S+ with SMTP id \S+",
            r"by smtp\.googlemail\.com with ESMTPSA id \S+",
        ]
        .map(|p| ::regex::Regex::new(p).expect("static regex"))
    });
    if !res[0].is_match(&ctx.get_str("From:addr")) {
        return false;
    }
    let xreceived = ctx.get_str("X-Received");
    if res[1].is_match(&xreceived)
        || res[2].is_match(&xreceived)
        || res[3].is_match(&ctx.get_str("Received"))
    {
        return false;
    }
    // Both Google headers present and at least 60 long (as `get` returns them).
    let long = |h: &str| ctx.get_str(h).len() >= 60;
    !(long("X-Gm-Message-State") && long("X-Google-Smtp-Source"))
}

/// RelayEval `_check_received_helos`: the flag is reset at every public
/// untrusted relay, so the last one decides (as in the Perl).
fn no_rdns_dotcom_helo(ctx: &Ctx) -> bool {
    const DOTCOMS: [&str; 11] = [
        "lycos.com",
        "lycos.co.uk",
        "hotmail.com",
        "localhost.com",
        "excite.com",
        "caramail.com",
        "cs.com",
        "aol.com",
        "msn.com",
        "yahoo.com",
        "drizzle.com",
    ];
    let mut flag = false;
    for r in ctx.relays.untrusted.iter().filter(|r| !r.ip_private()) {
        flag = false;
        let helo = r.helo.to_ascii_lowercase();
        let dotcom = DOTCOMS.iter().any(|d| {
            helo.strip_suffix(d)
                .is_some_and(|p| p.is_empty() || p.ends_with('.'))
        });
        if dotcom && r.rdns.is_empty() {
            flag = true;
        }
    }
    flag
}

fn illegal_chars(ctx: &Ctx, hdr: Option<&str>, ratio: Option<&str>, count: Option<&str>) -> bool {
    let Some(hdr) = hdr else { return false };
    let v = if hdr == "ALL" {
        ctx.get("ALL:raw").unwrap_or_default()
    } else {
        ctx.get(&format!("{hdr}:raw")).unwrap_or_default()
    };
    if v.is_empty() {
        return false;
    }
    let illegal = v
        .iter()
        .filter(|&&b| b >= 0x80 || (b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'))
        .count();
    let ratio: f64 = ratio.and_then(|r| r.parse().ok()).unwrap_or(0.0);
    let count: usize = count.and_then(|c| c.parse().ok()).unwrap_or(0);
    illegal as f64 / v.len() as f64 > ratio && illegal >= count.max(1)
}

fn ratware_envelope_from(ctx: &Ctx) -> bool {
    let to = ctx.get_str("To:addr").to_ascii_lowercase();
    let env = ctx.get_str("EnvelopeFrom:addr").to_ascii_lowercase();
    if to.is_empty() || env.is_empty() || !env.contains('=') {
        return false;
    }
    let Some((user, dom)) = to.split_once('@') else {
        return false;
    };
    if env.starts_with("srs") {
        return false;
    }
    // /\b\Q$dom\E.\Q$user\E@/i with $dom the registrable domain
    let labels: Vec<&str> = dom.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let dom = labels[labels.len() - 2..].join(".");
    let needle_end = format!("{user}@");
    env.match_indices(&dom).any(|(p, _)| {
        let word_start = p == 0 || !env.as_bytes()[p - 1].is_ascii_alphanumeric();
        let rest = &env[p + dom.len()..];
        word_start && rest.len() > 1 && rest[1..].starts_with(&needle_end)
    })
}

fn addr_in_list(ctx: &Ctx, rs: &RuleSet, keys: &[&str]) -> bool {
    let mut addrs = all_addrs(ctx, "From");
    addrs.extend(all_addrs(ctx, "EnvelopeFrom"));
    let pats: Vec<&String> = keys.iter().flat_map(|k| rs.setting(k)).collect();
    addrs
        .iter()
        .any(|a| pats.iter().any(|p| glob_match(&p.to_ascii_lowercase(), a)))
}

/// SpamAssassin list globs: `*` any run, `?` one char.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let (p, t) = (pat.as_bytes(), s.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let a = parse_date("Thu, 29 Aug 2002 17:06:18 +0100").unwrap();
        let b = parse_date("Thu, 29 Aug 2002 16:06:18 +0000").unwrap();
        assert_eq!(a, b);
        assert!(parse_date("garbage").is_none());
        assert!(glob_match("*@example.com", "joe@example.com"));
        assert!(!glob_match("*@example.com", "joe@example.org"));
    }
}
