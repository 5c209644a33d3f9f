//! The message as SpamAssassin's rules see it: header fields split the way
//! `Message.pm` splits them, MIME leaf parts found with mail-parser and
//! decoded to bytes (no charset conversion, `normalize_charset` off).

use mail_parser::decoders::base64::base64_decode;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use mail_parser::decoders::charsets::DecoderFnc;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;

/// One header field: name as written, raw value (after the colon, folds and
/// trailing newline kept) and the unfolded, RFC 2047-decoded value.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub raw: Vec<u8>,
    pub decoded: Vec<u8>,
}

/// Parse a header block as `Message.pm::new` does. Returns fields and the
/// offset where the body starts, and whether a blank separator line was seen.
pub fn parse_header_block(data: &[u8]) -> (Vec<Field>, usize, bool) {
    let mut fields = Vec::new();
    // The field being read: its lines (continuations included) are one
    // range of `data`, so nothing is copied until `push_field`.
    let mut cur: Option<usize> = None;
    let mut pos = 0;
    let mut separator = false;
    while pos < data.len() {
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i + 1);
        let line = &data[pos..end];
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            cur.get_or_insert(pos);
            pos = end;
            continue;
        }
        if let Some(st) = cur.take() {
            push_field(&mut fields, &data[st..pos]);
        }
        if line == b"\n" || line == b"\r\n" {
            pos = end;
            separator = true;
            break;
        }
        if line.starts_with(b"--") {
            break;
        }
        cur = Some(pos);
        pos = end;
    }
    if let Some(st) = cur.take() {
        push_field(&mut fields, &data[st..pos]);
    }
    (fields, pos, separator)
}

fn push_field(fields: &mut Vec<Field>, h: &[u8]) {
    let Some(colon) = memchr::memchr(b':', h) else {
        return;
    };
    let name = lossy(&h[..colon]).trim_end_matches([' ', '\t']).to_string();
    let value = &h[colon + 1..];
    let raw = if memchr::memchr(b'\r', value).is_none() {
        value.to_vec()
    } else {
        value.iter().copied().filter(|&b| b != b'\r').collect()
    };
    let decoded = decode_value(&raw, &name);
    fields.push(Field { name, raw, decoded });
}

/// `Node::header` + `_decode_header`: unfold, trim, decode encoded-words
/// (not in Received/Message-ID/Date/References/... as SpamAssassin skips those).
pub fn decode_value(raw: &[u8], name: &str) -> Vec<u8> {
    // Unfolding only turns whitespace runs into other whitespace runs, so
    // it commutes with the trim: a value on one line (the usual case) is
    // its trimmed bytes, without the byte-by-byte passes below.
    let t = trim_ws(raw);
    let s = if memchr::memchr2(b'\n', b'\r', t).is_none() {
        t.to_vec()
    } else {
        let mut v = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\n' && i + 1 < raw.len() && (raw[i + 1] == b' ' || raw[i + 1] == b'\t') {
                v.push(b' ');
                i += 1;
                while i < raw.len() && (raw[i] == b' ' || raw[i] == b'\t') {
                    i += 1;
                }
                continue;
            }
            v.push(raw[i]);
            i += 1;
        }
        let t = trim_ws(&v);
        let mut s = Vec::with_capacity(t.len());
        s.extend(t.iter().copied().filter(|&b| b != b'\n' && b != b'\r'));
        s
    };
    if find(&s, b"=?").is_none() {
        return s;
    }
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    let skip = [
        "received",
        "message-id",
        "resent-message-id",
        "date",
        "resent-date",
        "mime-version",
        "references",
        "in-reply-to",
    ]
    .into_iter()
    .any(is)
        || name
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("list-"));
    if skip {
        return s;
    }
    decode_2047(&s)
}

/// `String::from_utf8_lossy`, checking valid UTF-8 (nearly every header
/// value) with `str::from_utf8`'s word-at-a-time ASCII path first: the
/// lossy decoder's byte loop was ~2% of a check's instructions.
pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Trim ASCII whitespace at both ends.
pub fn trim_ws(s: &[u8]) -> &[u8] {
    let st = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let en = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(st, |i| i + 1);
    &s[st..en]
}

/// Position of `n` in `h`.
pub fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w == n)
}

/// Decode RFC 2047 encoded words to UTF-8 bytes; whitespace between
/// adjacent encoded words is dropped.
pub fn decode_2047(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let mut pending_ws: Option<(usize, usize)> = None;
    let mut last_was_word = false;
    while i < s.len() {
        if s[i..].starts_with(b"=?")
            && let Some((word, len)) = encoded_word(&s[i..])
        {
            if !last_was_word && let Some((a, b)) = pending_ws {
                out.extend_from_slice(&s[a..b]);
            }
            pending_ws = None;
            out.extend_from_slice(&word);
            i += len;
            last_was_word = true;
            continue;
        }
        if s[i] == b' ' || s[i] == b'\t' {
            let st = i;
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            if last_was_word && s[i..].starts_with(b"=?") && encoded_word(&s[i..]).is_some() {
                pending_ws = Some((st, i));
                continue;
            }
            out.extend_from_slice(&s[st..i]);
            last_was_word = false;
            continue;
        }
        out.push(s[i]);
        last_was_word = false;
        i += 1;
    }
    out
}

fn encoded_word(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    // =?charset?E?text?=
    let rest = &s[2..];
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let charset = &rest[..q1];
    if charset.is_empty()
        || !charset
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"*_-".contains(&b))
    {
        return None;
    }
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let tlen = rest[text_start..].iter().position(|&b| b == b'?')?;
    if rest.get(text_start + tlen + 1) != Some(&b'=') {
        return None;
    }
    let text = &rest[text_start..text_start + tlen];
    let bytes = match enc.to_ascii_lowercase() {
        b'b' => base64_decode(text).unwrap_or_default(),
        b'q' => {
            let t: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'_' { b' ' } else { b })
                .collect();
            quoted_printable_decode(&t).unwrap_or(t)
        }
        _ => return None,
    };
    let cs = lossy(charset).to_ascii_lowercase();
    let cs = cs.split('*').next().unwrap_or("").to_string();
    Some((to_utf8(&bytes, &cs), 2 + text_start + tlen + 2))
}

/// Convert bytes in `charset` to UTF-8 (unknown charsets: bytes kept).
pub fn to_utf8(bytes: &[u8], charset: &str) -> Vec<u8> {
    if matches!(charset, "utf-8" | "utf8" | "us-ascii" | "ascii")
        || (bytes.is_ascii() && ascii_superset(charset))
    {
        return bytes.to_vec();
    }
    match charset_decoder(charset.as_bytes()) {
        Some(dec) => decode(dec, bytes),
        None => bytes.to_vec(),
    }
}

/// UTF-8 of the bytes 0x80..=0xFF in one single-byte charset.
type HighHalf = [([u8; 4], u8); 128];

/// `dec(bytes)`, by table when `dec` is a single-byte, ASCII-compatible
/// charset (ISO-8859-*, windows-125x, KOI8, ...): mail-parser's decoders
/// push one `char` per byte (~23 instructions a byte, 4% of the largest
/// fixture's check); ASCII runs are copied instead. Whether a decoder is
/// one is found once per decoder by decoding all 256 bytes, together and
/// one by one, and the escapes of the stateful 7-bit charsets: those and
/// multi-byte charsets (ISO-2022-JP, Shift_JIS, UTF-7) keep their decoder.
fn decode(dec: DecoderFnc, bytes: &[u8]) -> Vec<u8> {
    // Keyed by decoder, not by name: a message's charset names (any case
    // or spelling) cannot grow the map past mail-parser's few decoders.
    static TABLES: LazyLock<Mutex<HashMap<usize, Option<Arc<HighHalf>>>>> =
        LazyLock::new(Mutex::default);
    let table = TABLES.lock().ok().and_then(|mut t| {
        t.entry(dec as usize)
            .or_insert_with(|| high_half(dec).map(Arc::new))
            .clone()
    });
    let Some(table) = table else {
        return dec(bytes).into_bytes();
    };
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 4);
    let mut rest = bytes;
    while !rest.is_empty() {
        let ascii = rest
            .iter()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        out.extend_from_slice(&rest[..ascii]);
        if let Some(&b) = rest.get(ascii) {
            let (utf8, len) = &table[usize::from(b - 0x80)];
            out.extend_from_slice(&utf8[..usize::from(*len)]);
            rest = &rest[ascii + 1..];
        } else {
            rest = &[];
        }
    }
    out
}

/// The table of a single-byte, ASCII-compatible decoder, else `None`.
fn high_half(dec: DecoderFnc) -> Option<HighHalf> {
    let all: Vec<u8> = (0..=255).collect();
    let chars: Vec<char> = dec(&all).chars().collect();
    if chars.len() != 256 || (0..128u8).any(|b| chars[usize::from(b)] != char::from(b)) {
        return None;
    }
    // Escape sequences of the stateful 7-bit charsets (UTF-7, ISO-2022-*,
    // HZ) must decode byte by byte too.
    for probe in [
        &b"+AGE-"[..],
        b"\x1b$B!!\x1b(B",
        b"\x1b$)C\x0e!!\x0f",
        b"~{!!~}",
    ] {
        if dec(probe).as_bytes() != probe {
            return None;
        }
    }
    let mut t = [([0u8; 4], 0u8); 128];
    for b in 0x80..=0xffu8 {
        let c = chars[usize::from(b)];
        if dec(&[b]).chars().collect::<Vec<_>>() != [c] {
            return None;
        }
        let e = &mut t[usize::from(b - 0x80)];
        e.1 = c.encode_utf8(&mut e.0).len() as u8;
    }
    Some(t)
}

/// `Node::_normalize` with `normalize_charset 1` (SpamAssassin 4's default):
/// text parts become UTF-8 — kept if already valid UTF-8, UTF-16 decoded
/// with endianness detection, other charsets converted when known.
pub fn normalize_charset(bytes: &[u8], charset: Option<&str>) -> Vec<u8> {
    let cs = charset.unwrap_or("us-ascii").to_ascii_lowercase();
    if cs.starts_with("utf-16") || cs.starts_with("utf16") || cs.starts_with("utf 16") {
        return decode_utf16(bytes, &cs);
    }
    // All-ASCII data stays as it is only in an ASCII-compatible charset:
    // ISO-2022-JP, UTF-7 and the like are 7-bit yet must be decoded.
    if (bytes.is_ascii() && ascii_superset(&cs))
        || (!bytes.is_ascii() && std::str::from_utf8(bytes).is_ok())
    {
        return bytes.to_vec();
    }
    match charset_decoder(cs.as_bytes()) {
        Some(dec) => decode(dec, bytes),
        // Unknown charset: Latin-1 keeps every byte as one character.
        None => bytes
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .into_bytes(),
    }
}

/// `Node::_normalize`'s charsets in which 7-bit data is plain US-ASCII.
fn ascii_superset(cs: &str) -> bool {
    let cs = cs.to_ascii_lowercase();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(
        cs.as_str(),
        "us-ascii" | "ascii" | "iso646-us" | "big5" | "gbk"
    ) || cs.starts_with("ansi_x3.4-")
        || cs.starts_with("ansi x3.4-")
        || cs.starts_with("ansix3.4-")
        || cs.starts_with("iso-8859")
        || cs.starts_with("iso8859")
        || cs.starts_with("iso 8859")
        || cs.strip_prefix("windows-").is_some_and(digits)
        || matches!(cs.as_str(), "utf-8" | "utf8")
        || cs.starts_with("koi8-")
        || cs.starts_with("euc-")
        || cs.starts_with("gb18030")
        || cs.starts_with("gb-18030")
        || cs.starts_with("gb 18030")
}

/// UTF-16 by BOM, declared endianness, or `detect_utf16`'s heuristics.
fn decode_utf16(bytes: &[u8], cs: &str) -> Vec<u8> {
    let (le, body) = if let Some(b) = bytes.strip_prefix(&[0xff, 0xfe]) {
        (true, b)
    } else if let Some(b) = bytes.strip_prefix(&[0xfe, 0xff]) {
        (false, b)
    } else if cs.ends_with("le") {
        (true, bytes)
    } else if cs.ends_with("be") {
        (false, bytes)
    } else {
        let (mut le_clues, mut be_clues) = (0, 0);
        let (mut even, mut odd) = (0u64, 0u64);
        for pair in bytes.chunks(2) {
            let (a, b) = (pair[0], pair.get(1).copied().unwrap_or(0));
            even += u64::from(a >> 4) + u64::from(a & 15);
            odd += u64::from(b >> 4) + u64::from(b & 15);
            if a == 0x20 && b == 0 {
                le_clues += 1;
            }
            if a == 0 && b == 0x20 {
                be_clues += 1;
            }
        }
        if even > odd * 4 {
            le_clues += 1;
        }
        if odd * 4 > even {
            be_clues += 1;
        }
        (le_clues > be_clues, bytes)
    };
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        })
        .collect();
    String::from_utf16_lossy(&units).into_bytes()
}

/// A MIME leaf part with what the rules and evals need.
#[derive(Debug, Clone, Default)]
pub struct Part {
    /// Lower-case `type/subtype` (`text/plain` when absent).
    pub ctype: String,
    pub charset: Option<String>,
    pub cte: String,
    pub headers: Vec<Field>,
    /// Body bytes as in the message (still transfer-encoded).
    pub raw_body: Vec<u8>,
    /// Transfer-decoded body bytes.
    pub decoded: Vec<u8>,
    /// Inside a multipart/alternative.
    pub in_alternative: bool,
    /// Id of the alternative group (for multipart_alternative_difference).
    pub alt_group: Option<usize>,
}

impl Part {
    /// First value of a part header, decoded.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.decoded.as_slice())
    }
}

/// Split a Content-Type value into lower-case type and its parameters.
pub fn parse_ctype(v: &[u8]) -> (String, Vec<(String, String)>) {
    let s = lossy(v);
    let mut it = s.split(';');
    let t = it
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase();
    let params = it
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (t, params)
}

/// Structural facts for the MIME evals (`check_msg_parse_flags`, ...).
#[derive(Debug, Clone, Default)]
pub struct MimeFacts {
    pub part_count: usize,
    pub has_epilogue: bool,
    pub missing_part_headers: bool,
    pub missing_part_separator: bool,
    pub containers: Vec<Vec<Field>>,
    /// A multipart/alternative has a non-text leaf child (`check_ma_non_text`).
    pub ma_non_text: bool,
}

/// Undo the transfer encoding (`Node::decode`).
pub fn decode_cte(raw: &[u8], cte: &str) -> Vec<u8> {
    if cte.contains("quoted-printable") {
        qp_decode(raw)
    } else if cte.contains("base64") {
        let clean: Vec<u8> = raw
            .iter()
            .copied()
            .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/' || *b == b'=')
            .collect();
        // Drop anything after padding, as Perl's decoder ignores it.
        let cut = clean
            .iter()
            .position(|&b| b == b'=')
            .map_or(clean.len(), |p| {
                let mut e = p;
                while e < clean.len() && clean[e] == b'=' {
                    e += 1;
                }
                e
            });
        let mut c = clean[..cut].to_vec();
        while !c.len().is_multiple_of(4) {
            c.push(b'=');
        }
        base64_decode(&c).unwrap_or_default()
    } else {
        raw.to_vec()
    }
}

/// Lenient quoted-printable decoding like `Util::qp_decode`.
fn qp_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'=' {
            if raw.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if raw.get(i + 1) == Some(&b'\r') && raw.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if let (Some(h), Some(l)) = (raw.get(i + 1), raw.get(i + 2))
                && let (Some(h), Some(l)) = (hexval(*h), hexval(*l))
            {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        // Trailing whitespace before a line break is dropped.
        if b == b' ' || b == b'\t' {
            let mut j = i;
            while j < raw.len() && (raw[j] == b' ' || raw[j] == b'\t') {
                j += 1;
            }
            if j >= raw.len() || raw[j] == b'\n' {
                i = j;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

fn hexval(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_and_2047() {
        let m = b"Subject: =?utf-8?Q?caf=C3=A9?= =?utf-8?B?IQ==?=\nX-A: one\n two\n\nbody";
        let (f, body, sep) = parse_header_block(m);
        assert!(sep);
        assert_eq!(&f[0].decoded, "caf\u{e9}!".as_bytes());
        assert_eq!(f[1].raw, b" one\n two\n");
        assert_eq!(f[1].decoded, b"one two");
        assert_eq!(&m[body..], b"body");
    }

    /// The one-line fast path and the unfolding path give what the
    /// unfold-trim-strip sequence gives (folds, CRs, blank continuations,
    /// a leading continuation line, no encoded-word decoding in `Received`).
    #[test]
    fn header_values_fast_and_folded() {
        let m = b" lead\nA:  one  \r\nB: x\r\n  y \n \nC:\t=?utf-8?Q?caf=C3=A9?=\n\
                  Received: =?utf-8?Q?caf=C3=A9?=\n\n";
        let (f, _, sep) = parse_header_block(m);
        assert!(sep);
        let got: Vec<(&str, &[u8], &[u8])> = f
            .iter()
            .map(|f| (f.name.as_str(), &f.raw[..], &f.decoded[..]))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", &b"  one  \n"[..], &b"one"[..]),
                ("B", b" x\n  y \n \n", b"x y"),
                ("C", b"\t=?utf-8?Q?caf=C3=A9?=\n", "caf\u{e9}".as_bytes()),
                (
                    "Received",
                    b" =?utf-8?Q?caf=C3=A9?=\n",
                    b"=?utf-8?Q?caf=C3=A9?="
                ),
            ],
            "the leading continuation line has no colon and is dropped"
        );
    }

    #[test]
    fn qp_and_base64() {
        assert_eq!(decode_cte(b"a=3Db=\nc  \n", "quoted-printable"), b"a=bc\n");
        assert_eq!(decode_cte(b"aGVs\nbG8=\n", "base64"), b"hello");
    }

    /// The table decode gives the decoder's own output, and only
    /// single-byte charsets get a table.
    #[test]
    fn table_decode_equals_the_decoder() {
        let all: Vec<u8> = (0..=255).collect();
        let mixed = b"caf\xe9 \x80 na\xefve \x1b$B\x30\x21\x1b(B +AGE- \x82\xa0 end".to_vec();
        let charsets = [
            "windows-1252",
            "iso-8859-2",
            "koi8-r",
            "iso-2022-jp",
            "shift_jis",
            "utf-7",
        ];
        for cs in charsets {
            let dec = charset_decoder(cs.as_bytes()).expect(cs);
            for text in [&all, &mixed] {
                assert_eq!(decode(dec, text), dec(text).into_bytes(), "{cs}");
            }
        }
        let table = |cs: &str| high_half(charset_decoder(cs.as_bytes()).unwrap()).is_some();
        assert!(table("windows-1252") && table("iso-8859-2") && table("koi8-r"));
        assert!(!table("iso-2022-jp") && !table("shift_jis") && !table("utf-7"));
    }
}
