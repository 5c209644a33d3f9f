//! The "faraway charset" checks (MIMEEval `check_for_faraway_charset`,
//! `check_for_mime('mime_faraway_charset')`, HeaderEval
//! `check_for_faraway_charset_in_headers`, HTMLEval `html_charset_faraway`)
//! with `Mail::SpamAssassin::Locales` and `Util::get_my_locales`.

use std::sync::OnceLock;

use super::RuleSet;
use super::ctx::Ctx;

/// The eval functions of this file; `None` for any other name.
pub fn call(rs: &RuleSet, ctx: &Ctx, func: &str, args: &[String]) -> Option<bool> {
    Some(match func {
        "check_for_faraway_charset" => faraway_body(rs, ctx),
        "check_for_faraway_charset_in_headers" => faraway_headers(rs, ctx),
        "html_charset_faraway" => faraway_html(),
        "check_for_mime" if args.first().is_some_and(|a| a == "mime_faraway_charset") => {
            faraway_mime(rs, ctx)
        }
        _ => return None,
    })
}

/// `get_my_locales`: the `ok_locales` words plus the process locale
/// (LC_ALL, LANGUAGE, LC_MESSAGES, LANG: the first one set). `None` when
/// `all` is among them, which turns every check off.
fn my_locales(rs: &RuleSet) -> Option<Vec<String>> {
    let mut l: Vec<String> = match rs.setting("ok_locales") {
        [] => vec!["all".to_string()], // 10_default_prefs.cf's default
        v => v.to_vec(),
    };
    if let Some(lang) = ["LC_ALL", "LANGUAGE", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    {
        l.push(lang);
    }
    (!l.iter().any(|x| x == "all")).then_some(l)
}

/// `Locales::is_charset_ok_for_locales`.
pub fn charset_ok(cs: &str, locales: &[String]) -> bool {
    // uc; s/[^A-Z0-9]//g; s/^3D//; (the ':' trim is then a no-op)
    let cs: String = cs
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect();
    let cs = cs.strip_prefix("3D").unwrap_or(&cs);
    let roman = ["ISO8859", "ISO10646", "UTF", "UCS", "CP125", "WINDOWS"];
    if ["USASCII", "ASCII", "IBM852", "XUNKNOWN", "ISO"].contains(&cs)
        || roman.iter().any(|p| cs.starts_with(p))
        || cs.starts_with("UNICODE11UTF7")
        || cs.starts_with("UNICODE11UTF8")
    {
        return true;
    }
    locales.iter().any(|loc| {
        let loc = if loc == "C" { "en" } else { loc.as_str() };
        // s/^([a-z][a-z]).*$/$1/: zh_TW => zh
        let b = loc.as_bytes();
        let loc = if b.len() >= 2 && b[0].is_ascii_lowercase() && b[1].is_ascii_lowercase() {
            &loc[..2]
        } else {
            loc
        };
        charsets_for(loc).is_some_and(|list| list.split(' ').any(|c| c == cs))
    })
}

/// `%Locales::charsets_for_locale`.
fn charsets_for(locale: &str) -> Option<&'static str> {
    const CYRILLIC: &str = "KOI8R KOI8U KOI8T ISOIR111 CP1251 GEORGIANPS CP1251 PT154 CP866";
    Some(match locale {
        "ja" => {
            "EUCJP JISX020119760 JISX020819830 JISX020819900 JISX020819970 JISX021219900 JISX021320001 JISX021320002 SHIFT_JIS SHIFTJIS ISO2022JP SJIS JIS7 JISX0201 JISX0208 JISX0212"
        }
        "ko" => "EUCKR KSC56011987",
        "ru" | "ka" | "tg" | "be" | "uk" | "bg" => CYRILLIC,
        "th" => "TIS620",
        "zh" => "GB1988 GB2312 GB231219800 GB18030 GBK BIG5HKSCS BIG5 EUCTW ISO2022CN",
        "zh.big5" => "BIG5HKSCS BIG5 EUCTW",
        "zh.gb2312" => "GB1988 GB2312 GB231219800 GB18030 GBK ISO2022CN",
        _ => return None,
    })
}

/// `get_charset_from_ct_line`.
fn charset_from_ct(ct: &str) -> Option<String> {
    static RES: OnceLock<[::regex::Regex; 3]> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            r#"(?i)charset="([^"]+)""#,
            r"(?i)charset='([^']+)'",
            r"(?i)charset=(\S+)",
        ]
        .map(|p| ::regex::Regex::new(p).expect("static regex"))
    });
    res.iter()
        .find_map(|r| r.captures(ct).map(|c| c[1].to_string()))
}

/// `check_for_faraway_charset`: the message's Content-Type charset is not
/// one of the locales' and the body text is mostly 8-bit.
fn faraway_body(rs: &RuleSet, ctx: &Ctx) -> bool {
    let Some(locales) = my_locales(rs) else {
        return false;
    };
    let Some(ct) = ctx.get("Content-Type") else {
        return false;
    };
    let Some(cs) = charset_from_ct(&super::msg::lossy(&ct)) else {
        return false;
    };
    if charset_ok(&cs, &locales) {
        return false;
    }
    // are_more_high_bits_set over join("\n", @$body)
    let lines = &ctx.bodies.body_lines;
    let his: usize = lines
        .iter()
        .map(|l| l.iter().filter(|&&b| b >= 0x80).count())
        .sum();
    let len: usize = lines.iter().map(Vec::len).sum::<usize>() + lines.len().saturating_sub(1);
    let los = len - his;
    los <= his && his > 3
}

/// `check_for_faraway_charset_in_headers`: an encoded word in From or
/// Subject in a charset outside the locales.
fn faraway_headers(rs: &RuleSet, ctx: &Ctx) -> bool {
    let Some(locales) = my_locales(rs) else {
        return false;
    };
    static RE: OnceLock<::regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| ::regex::Regex::new(r"=\?(.+?)\?.\?.*?\?=").expect("static regex"));
    ["From", "Subject"].iter().any(|h| {
        ctx.values(h, true).iter().any(|v| {
            let v = super::msg::lossy(v);
            re.captures_iter(&v).any(|c| !charset_ok(&c[1], &locales))
        })
    })
}

/// `html_charset_faraway` reads `$html->{charsets}` from the HTML results,
/// but HTML.pm never puts the `<meta>` charsets there, so in SpamAssassin
/// 4.0.1 it never hits (checked with ok_locales en and a big5 `<meta>`).
fn faraway_html() -> bool {
    false
}

/// `mime_faraway_charset` of `_check_mime_header`: a part charset (with a
/// letter in it) outside the locales.
fn faraway_mime(rs: &RuleSet, ctx: &Ctx) -> bool {
    let Some(locales) = my_locales(rs) else {
        return false;
    };
    ctx.parts.iter().any(|p| {
        p.charset.as_deref().is_some_and(|cs| {
            cs.chars().any(|c| c.is_ascii_alphabetic()) && !charset_ok(cs, &locales)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales() {
        let ja = vec!["ja".to_string()];
        let en = vec!["en".to_string()];
        assert!(charset_ok("iso-8859-1", &en));
        assert!(charset_ok("UTF-8", &en));
        assert!(!charset_ok("Shift_JIS", &en));
        assert!(charset_ok("shift-jis", &ja));
        assert!(charset_ok("koi8-r", &["ru_RU.UTF-8".to_string()]));
        assert!(!charset_ok("big5", &en));
    }
}
