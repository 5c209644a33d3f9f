//! Small HTML helpers for the renderer: character references (as
//! HTML::Parser decodes them) and the font-face check of `HTML.pm`.

/// Decode character references to UTF-8.
pub fn decode_entities(s: &[u8]) -> Vec<u8> {
    if !s.contains(&b'&') {
        return s.to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'&' {
            let end = s[i + 1..]
                .iter()
                .take(12)
                .position(|&c| c == b';' || !(c.is_ascii_alphanumeric() || c == b'#'))
                .map(|p| p + i + 1);
            if let Some(e) = end {
                let ent = &s[i + 1..e];
                let ch = if let Some(num) = ent.strip_prefix(b"#") {
                    let t = super::msg::lossy(num);
                    if let Some(h) = t.strip_prefix(['x', 'X']) {
                        u32::from_str_radix(h, 16).ok()
                    } else {
                        t.parse::<u32>().ok()
                    }
                    .and_then(char::from_u32)
                } else {
                    named_entity(ent)
                };
                if let Some(c) = ch {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i = if s.get(e) == Some(&b';') { e + 1 } else { e };
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn named_entity(n: &[u8]) -> Option<char> {
    Some(match n {
        b"amp" | b"AMP" => '&',
        b"lt" | b"LT" => '<',
        b"gt" | b"GT" => '>',
        b"quot" | b"QUOT" => '"',
        b"apos" => '\'',
        b"nbsp" => '\u{a0}',
        b"copy" => '\u{a9}',
        b"reg" => '\u{ae}',
        b"trade" => '\u{2122}',
        b"middot" => '\u{b7}',
        b"bull" => '\u{2022}',
        b"hellip" => '\u{2026}',
        b"mdash" => '\u{2014}',
        b"ndash" => '\u{2013}',
        b"laquo" => '\u{ab}',
        b"raquo" => '\u{bb}',
        b"euro" => '\u{20ac}',
        b"pound" => '\u{a3}',
        b"eacute" => '\u{e9}',
        b"egrave" => '\u{e8}',
        b"agrave" => '\u{e0}',
        b"uuml" => '\u{fc}',
        b"ouml" => '\u{f6}',
        b"auml" => '\u{e4}',
        b"szlig" => '\u{df}',
        _ => return None,
    })
}

/// `font_face_bad` test of `HTML.pm::html_tests`.
pub fn font_face_ok(face: &str) -> bool {
    // /^\s*["'.]?[a-z ][a-z -]*[a-z]\d?["']?(?:,\s*["']?[a-z][a-z -]*[a-z]\d?["']?)*;?$/i
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r#"(?i)^\s*["'.]?[a-z ][a-z -]*[a-z]\d?["']?(?:,\s*["']?[a-z][a-z -]*[a-z]\d?["']?)*;?$"#,
        )
        .expect("static regex")
    })
    .is_match(face)
}
