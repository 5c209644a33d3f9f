//! Local eval functions of the body-side plugins (MIMEEval, HTMLEval,
//! BodyEval, DKIM presence checks), following the Perl functions.

use std::collections::HashMap;

use super::RuleSet;
use super::ctx::Ctx;
use super::parse::RuleKind;

/// `MIMEEval::_check_attachments` results.
#[derive(Debug, Default, Clone)]
pub struct MimeStats {
    flags: HashMap<&'static str, f64>,
    multipart_ratio: f64,
    base64_max_line: usize,
}

fn mime_stats(ctx: &Ctx) -> MimeStats {
    let mut s = MimeStats {
        multipart_ratio: 1.0,
        ..MimeStats::default()
    };
    let mut f: HashMap<&'static str, f64> = HashMap::new();
    let (mut qp_bytes, mut qp_count) = (0usize, 0usize);
    let mut part_bytes: Vec<Option<usize>> = Vec::new();
    let any_alt = ctx.parts.iter().any(|p| p.in_alternative);
    for p in &ctx.parts {
        let cd = p
            .header("Content-Disposition")
            .map(|v| super::msg::lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        let charset = p.charset.clone().unwrap_or_default();
        if p.ctype == "text/html" {
            *f.entry("mime_body_html_count").or_default() += 1.0;
        } else if p.ctype.starts_with("text") {
            *f.entry("mime_body_text_count").or_default() += 1.0;
        }
        if p.cte.contains("base64") {
            *f.entry("mime_base64_count").or_default() += 1.0;
        } else if p.cte.contains("quoted-printable") {
            *f.entry("mime_qp_count").or_default() += 1.0;
        }
        if cd.contains("attachment") {
            *f.entry("mime_attachment").or_default() += 1.0;
        }
        let ascii_cs = charset.is_empty()
            || [
                "us-ascii",
                "ansi_x3.4-1968",
                "iso-ir-6",
                "ansi_x3.4-1986",
                "iso_646.irv:1991",
                "ascii",
                "iso646-us",
                "us",
                "ibm367",
                "cp367",
                "csascii",
            ]
            .iter()
            .any(|c| charset.contains(c));
        if p.ctype.starts_with("text")
            && p.cte.contains("base64")
            && ascii_cs
            && !(cd.starts_with("attachment") || cd.starts_with("inline"))
        {
            f.insert("mime_base64_encoded_text", 1.0);
        }
        if charset.starts_with("iso-")
            && charset.matches('-').count() >= 2
            && !(charset.starts_with("iso-8859-")
                || charset.starts_with("iso-2022-jp")
                || charset.starts_with("iso-2022-kr"))
        {
            f.insert("mime_bad_iso_charset", 1.0);
        }
        part_bytes.push((!cd.contains("attachment")).then_some(0));
        let idx = part_bytes.len() - 1;
        for line in p.raw_body.split_inclusive(|&b| b == b'\n') {
            if any_alt
                && !cd.contains("attachment")
                && (p.ctype == "text/plain" || p.ctype == "text/html")
                && let Some(b) = part_bytes[idx].as_mut()
            {
                *b += line.len();
            }
            if p.cte == "quoted-printable" && !line.starts_with(b"SPAM: ") {
                if line.len() > 79 {
                    f.insert("mime_qp_long_line", 1.0);
                }
                qp_bytes += line.len();
                qp_count += line
                    .windows(3)
                    .filter(|w| w[0] == b'=' && is_qp_special(w[1], w[2]))
                    .count();
            }
            if p.ctype == "text/plain"
                && (p.charset.is_none() || charset == "us-ascii")
                && line.iter().any(|&b| b == 0 || b == 0x0d || b >= 0x80)
            {
                *f.entry("mime_ascii_text_illegal").or_default() += 1.0;
            }
            if p.cte.contains("base64") {
                let l = line.strip_suffix(b"\n").unwrap_or(line).len();
                s.base64_max_line = s.base64_max_line.max(l);
            }
        }
    }
    if qp_bytes > 0 {
        f.insert("mime_qp_ratio", qp_count as f64 / qp_bytes as f64);
    }
    if any_alt {
        f.insert("mime_multipart_alternative", 1.0);
        let mut text = None;
        let mut html = None;
        for (i, p) in ctx.parts.iter().enumerate().rev() {
            let Some(b) = part_bytes[i] else { continue };
            if html.is_none() && p.ctype == "text/html" {
                html = Some(b);
            } else if text.is_none() && p.ctype == "text/plain" {
                text = Some(b);
            }
        }
        if let (Some(t), Some(h)) = (text, html)
            && h > 0
        {
            s.multipart_ratio = t as f64 / h as f64;
        }
    }
    s.flags = f;
    s
}

fn mime_stats_memo<'c>(ctx: &'c Ctx) -> &'c MimeStats {
    ctx.memo.mime.get_or_init(|| mime_stats(ctx))
}

fn is_qp_special(a: u8, b: u8) -> bool {
    // =(?:09|3[0-9ABCEF]|[2456][0-9A-F]|7[0-9A-E])
    let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
    match a {
        b'0' => b == b'9',
        b'3' => hex(b) && b != b'D',
        b'2' | b'4' | b'5' | b'6' => hex(b),
        b'7' => hex(b) && b != b'F',
        _ => false,
    }
}

/// `BodyEval::_multipart_alternative_difference`: (max diff %, html word
/// count, text word count of the last group compared).
fn ma_difference(ctx: &Ctx) -> (f64, usize, usize) {
    let mut groups: Vec<usize> = ctx.parts.iter().filter_map(|p| p.alt_group).collect();
    groups.dedup();
    let mut madiff: f64 = 0.0;
    let (mut html_n, mut text_n) = (0, 0);
    let mut html_idx = 0;
    let mut html_of_part: Vec<Option<usize>> = Vec::new();
    for p in &ctx.parts {
        if p.ctype == "text/html" && !p.decoded.is_empty() {
            html_of_part.push(Some(html_idx));
            html_idx += 1;
        } else {
            html_of_part.push(None);
        }
    }
    for g in groups {
        let mut html: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut text: HashMap<Vec<u8>, i64> = HashMap::new();
        for (i, p) in ctx.parts.iter().enumerate() {
            if p.alt_group != Some(g) || !p.ctype.starts_with("text") {
                continue;
            }
            let Some(Some(rnd)) = ctx.bodies.rendered.get(i) else {
                continue;
            };
            let words = rnd
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| w.iter().any(|c| c.is_ascii_alphanumeric() || *c == b'_'));
            if p.ctype == "text/html" {
                for w in words {
                    *html.entry(w.to_vec()).or_default() += 1;
                }
                let has_img = html_of_part[i]
                    .and_then(|h| ctx.bodies.html.get(h))
                    .is_some_and(|h| h.inside.contains_key("img"));
                if html.is_empty() && has_img {
                    html.insert(b"\n".to_vec(), 1);
                }
            } else {
                for w in words {
                    *text.entry(w.to_vec()).or_default() += 1;
                }
            }
        }
        let orig = html.len();
        if orig == 0 {
            continue;
        }
        html_n = orig;
        text_n = text.len();
        for (k, v) in &text {
            if html.get(k).is_some_and(|h| h - v < 1) {
                html.remove(k);
            }
        }
        let diff = html.len() as f64 / orig as f64 * 100.0;
        madiff = madiff.max(diff);
    }
    (madiff, html_n, text_n)
}

fn num(a: Option<&String>) -> Option<f64> {
    let a = a?;
    if a == "inf" {
        return Some(f64::INFINITY);
    }
    a.parse().ok()
}

/// Dispatch for the body-side functions.
pub fn call(rs: &RuleSet, ctx: &Ctx, _kind: RuleKind, func: &str, args: &[String]) -> bool {
    let html = &ctx.bodies.html;
    match func {
        "html_test" => html.iter().any(|h| {
            args.first()
                .is_some_and(|t| h.nums.get(t.as_str()).is_some_and(|v| *v != 0.0))
        }),
        "html_range" => {
            let (Some(test), Some(min)) = (args.first(), num(args.get(1))) else {
                return false;
            };
            let max = num(args.get(2)).unwrap_or(f64::INFINITY);
            html.iter().any(|h| {
                h.nums.get(test.as_str()).is_some_and(|&v| {
                    if max.is_infinite() {
                        v > min
                    } else {
                        v > min && v <= max
                    }
                })
            })
        }
        "html_image_only" => {
            let (Some(min), Some(max)) = (num(args.first()), num(args.get(1))) else {
                return false;
            };
            html.iter().any(|h| {
                h.inside.contains_key("img") && (h.length as f64) > min && (h.length as f64) <= max
            })
        }
        "html_image_ratio" => {
            let (Some(min), Some(max)) = (num(args.first()), num(args.get(1))) else {
                return false;
            };
            html.iter().any(|h| {
                if h.image_area <= 0.0 {
                    return false;
                }
                let non_space = h
                    .text
                    .iter()
                    .filter(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b))
                    .count();
                let r = non_space as f64 / h.image_area;
                r > min && r <= max
            })
        }
        "html_tag_balance" => {
            let (Some(tag), Some(expr)) = (args.first(), args.get(1)) else {
                return false;
            };
            let expr = expr.trim();
            let (op, val) = expr.split_at(
                expr.find(|c: char| c.is_ascii_digit() || c == '-')
                    .unwrap_or(expr.len()),
            );
            let Ok(val) = val.trim().parse::<i64>() else {
                return false;
            };
            html.iter().any(|h| {
                h.inside
                    .get(tag.as_str())
                    .is_some_and(|&v| match op.trim() {
                        "!=" => v != val,
                        "==" => v == val,
                        "<" => v < val,
                        ">" => v > val,
                        "<=" => v <= val,
                        ">=" => v >= val,
                        _ => false,
                    })
            })
        }
        "html_text_match" => {
            let (Some(what), Some(re)) = (args.first(), args.get(1)) else {
                return false;
            };
            let Some(re) = rs.eval_regex(re) else {
                return false;
            };
            html.iter().any(|h| {
                let list = match what.as_str() {
                    "comment" => &h.comment,
                    "title" => &h.title,
                    "anchor" => &h.anchor,
                    "script" => &h.script,
                    _ => return false,
                };
                list.iter().any(|t| re.is_match(t))
            })
        }
        "html_eval" => {
            let (Some(test), Some(expr)) = (args.first(), args.get(1)) else {
                return false;
            };
            let expr = expr.trim();
            let (op, val) = expr.split_at(
                expr.find(|c: char| c.is_ascii_digit())
                    .unwrap_or(expr.len()),
            );
            let Ok(val) = val.trim().parse::<f64>() else {
                return false;
            };
            html.iter().any(|h| {
                h.nums.get(test.as_str()).is_some_and(|&v| match op.trim() {
                    "<" => v < val,
                    ">" => v > val,
                    "<=" => v <= val,
                    ">=" => v >= val,
                    "==" => v == val,
                    _ => false,
                })
            })
        }
        "check_for_mime" => {
            let s = mime_stats_memo(ctx);
            args.first()
                .is_some_and(|k| s.flags.get(k.as_str()).is_some_and(|v| *v > 0.0))
        }
        "check_for_mime_html" => mime_stats_memo(ctx)
            .flags
            .contains_key("mime_body_html_count"),
        "check_for_mime_html_only" => {
            let s = mime_stats_memo(ctx);
            s.flags.contains_key("mime_body_html_count")
                && !s.flags.contains_key("mime_body_text_count")
        }
        "check_mime_multipart_ratio" => {
            let s = mime_stats_memo(ctx);
            let (Some(min), Some(max)) = (num(args.first()), num(args.get(1))) else {
                return false;
            };
            s.multipart_ratio >= min && s.multipart_ratio < max
        }
        "check_for_ascii_text_illegal" => mime_stats_memo(ctx)
            .flags
            .contains_key("mime_ascii_text_illegal"),
        "check_base64_length" => {
            let s = mime_stats_memo(ctx);
            let min = num(args.first()).unwrap_or(0.0);
            let max = num(args.get(1)).unwrap_or(f64::INFINITY);
            let l = s.base64_max_line as f64;
            l >= min && l <= max && s.base64_max_line > 0
        }
        "check_msg_parse_flags" => {
            // Set by the Message.pm-style walk (evalfns_mimeflags).
            let f = &ctx.facts;
            args.iter().any(|a| match a.as_str() {
                "missing_mime_head_body_separator" => f.missing_part_separator,
                "mime_epilogue_exists" => f.has_epilogue,
                "missing_mime_headers" => f.missing_part_headers,
                // Top-level flags, kept by the shared parse.
                "missing_head_body_separator" => !ctx.has_separator,
                "mimepart_limit_exceeded" => ctx.facts.part_count >= 1000,
                _ => false,
            })
        }
        "multipart_alternative_difference" => {
            let (d, _, _) = *ctx.memo.madiff.get_or_init(|| ma_difference(ctx));
            let Some(min) = num(args.first()) else {
                return false;
            };
            let max = args
                .get(1)
                .filter(|m| *m != "undef")
                .and_then(|m| num(Some(m)));
            (min == 0.0 || d > min) && max.is_none_or(|m| d <= m)
        }
        "multipart_alternative_difference_count" => {
            let (_, html_n, text_n) = *ctx.memo.madiff.get_or_init(|| ma_difference(ctx));
            let (Some(ratio), Some(minhtml)) = (num(args.first()), num(args.get(1))) else {
                return false;
            };
            html_n as f64 > minhtml && (text_n as f64 / html_n as f64) > ratio
        }
        "html_tag_exists" => args
            .first()
            .is_some_and(|t| html.iter().any(|h| h.inside.contains_key(t.as_str()))),
        "tvd_vertical_words" => {
            let (Some(min), Some(mut max)) = (num(args.first()), num(args.get(1))) else {
                return false;
            };
            if max >= 100.0 {
                max = 101.0;
            }
            let mut v: i64 = -1;
            for l in &ctx.bodies.body_lines {
                if l.len() <= 5 {
                    continue;
                }
                let spaces = l.iter().filter(|&&b| b == b' ').count();
                let non = l.len() - spaces;
                let pct = if spaces > non || non == 0 {
                    100
                } else {
                    (100 * spaces / non) as i64
                };
                v = v.max(pct);
            }
            (v as f64) >= min && (v as f64) < max
        }
        "check_dkim_signed" => ctx.exists("DKIM-Signature") || ctx.exists("DomainKey-Signature"),
        "check_arc_signed" => ctx.exists("ARC-Seal") && ctx.exists("ARC-Message-Signature"),
        "check_body_length" => {
            let Some(max) = num(args.first()) else {
                return false;
            };
            // `pristine_body_length <= min`: the body bytes as received.
            (pristine_body_len(ctx) as f64) <= max
        }
        _ => false,
    }
}

/// Length of the body as given (CRLF kept), `Message::pristine_body_length`:
/// `ctx.header_len` counts LF-only bytes, so map it back onto the original.
fn pristine_body_len(ctx: &Ctx) -> usize {
    let p = ctx.pristine;
    // Without a CR in the header every byte counts: no walk needed.
    if memchr::memchr(b'\r', &p[..ctx.header_len.min(p.len())]).is_none() {
        return p.len().saturating_sub(ctx.header_len);
    }
    let (mut seen, mut i) = (0, 0);
    while i < p.len() && seen < ctx.header_len {
        if !(p[i] == b'\r' && p.get(i + 1) == Some(&b'\n')) {
            seen += 1;
        }
        i += 1;
    }
    p.len() - i
}
