//! The texts each rule kind runs on, built as `Message.pm` builds them
//! (shared/reference/sa/sa-rules.md §5).

use super::html::{self, HtmlResults};
use super::msg::{self, Part};

const MAX_BODY_LINE_LENGTH: usize = 2048;
const BODY_PART_SCAN_SIZE: usize = 50_000;
const RAWBODY_PART_SCAN_SIZE: usize = 500_000;

/// Rendered body and derived facts, built once per message.
#[derive(Debug, Default)]
pub struct Bodies {
    /// `get_decoded_stripped_body_text_array`: Subject line, then paragraphs.
    pub body_lines: Vec<Vec<u8>>,
    /// Rendered text without the Subject (for `nosubject` and body evals).
    pub body_text: Vec<u8>,
    /// `get_decoded_body_text_array` chunks.
    pub rawbody: Vec<Vec<u8>>,
    /// HTML results per text/html part, in order.
    pub html: Vec<HtmlResults>,
    /// Rendered text per leaf part (None for non-text parts).
    pub rendered: Vec<Option<Vec<u8>>>,
    /// URI strings (with variants) for uri rules.
    pub uris: Vec<String>,
    /// The same URIs as bytes (what uri rules match).
    pub uri_bytes: Vec<Vec<u8>>,
    /// `body_lines`, `rawbody` and `uri_bytes` each joined into one text
    /// (a `\n` after each segment not ending with one): one search there
    /// rules a rule's gate, or a
    /// [`context_free`](super::regex::PerlRegex::context_free) regex out
    /// of every segment at once.
    pub joined: [Vec<u8>; 3],
    /// `body_lines` and `uri_bytes` joined for exact whole-text searches
    /// (`None` when they do not fit, see `exact.rs`).
    pub exact: [Option<super::exact::ExactText>; 2],
    /// The bytes in each of `joined`.
    pub present: [super::reqbytes::ByteSet; 3],
}

fn truncate_at(text: &mut Vec<u8>, size: usize, seps: &[u8]) {
    if text.len() <= size {
        return;
    }
    for &sep in seps {
        if let Some(idx) = text[size..].iter().position(|&b| b == sep)
            && idx <= 1024
        {
            text.truncate(size + idx + 1);
            return;
        }
    }
    text.truncate(size);
}

/// Is the part a text part for rendering (`Node::rendered` types)?
fn renderable(p: &Part) -> bool {
    p.ctype == "text/plain" || p.ctype == "text/html"
}

/// Build every body view of the message.
pub fn build(parts: &[Part], subject: &[u8]) -> Bodies {
    let mut b = Bodies::default();
    let mut text: Vec<u8> = Vec::new();
    let mut first = true;
    for p in parts {
        if !first {
            text.push(b'\n');
        }
        first = false;
        if !renderable(p) {
            b.rendered.push(None);
            continue;
        }
        let normalized = msg::normalize_charset(&p.decoded, p.charset.as_deref());
        let mut rnd = if p.ctype == "text/html" && !p.decoded.is_empty() {
            let r = html::render(&normalized);
            let t = r.text.clone();
            b.html.push(r);
            t
        } else {
            normalized
        };
        b.rendered.push(Some(rnd.clone()));
        truncate_at(&mut rnd, BODY_PART_SCAN_SIZE, b"\n ");
        text.extend_from_slice(&rnd);
    }
    let norm = normalize_paragraphs(&text);
    b.body_text = norm.clone();
    let mut full = Vec::with_capacity(subject.len() + norm.len() + 1);
    full.extend_from_slice(subject);
    full.push(b'\n');
    full.extend_from_slice(&norm);
    b.body_lines = split_short_lines(&full);

    for p in parts {
        let top = p.ctype.split('/').next().unwrap_or("");
        if !(top == "text" || top == "message") || p.ctype == "text/calendar" {
            continue;
        }
        let mut raw = p.decoded.clone();
        truncate_at(&mut raw, RAWBODY_PART_SCAN_SIZE, b"\n> ");
        b.rawbody.extend(split_short_paragraphs(raw));
    }
    b.uris = extract_uris(&b);
    b.uri_bytes = b.uris.iter().map(|u| u.as_bytes().to_vec()).collect();
    b.joined = [
        join_segments(&b.body_lines),
        join_segments(&b.rawbody),
        b.uri_bytes.join(&b'\n'),
    ];
    b.present = [
        super::reqbytes::ByteSet::of(&b.joined[0]),
        super::reqbytes::ByteSet::of(&b.joined[1]),
        super::reqbytes::ByteSet::of(&b.joined[2]),
    ];
    b.exact = [
        super::exact::ExactText::build(&b.body_lines),
        super::exact::ExactText::build(&b.uri_bytes),
    ];
    b
}

/// The segments in order, each followed by `\n` unless it ends with one:
/// every segment edge is then a line edge (what the rule gates need).
fn join_segments(segs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segs.iter().map(|s| s.len() + 1).sum());
    for s in segs {
        out.extend_from_slice(s);
        if s.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }
    out
}

/// `s/\n+\s*\n+/\x00/g; s/\s+/ /g; tr/\x00/\n/`.
fn normalize_paragraphs(text: &[u8]) -> Vec<u8> {
    // Perl's `\s`: ASCII whitespace and vertical tab.
    let space = |b: u8| b.is_ascii_whitespace() || b == 0x0b;
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if space(text[i]) {
            let st = i;
            while i < text.len() && space(text[i]) {
                i += 1;
            }
            // A paragraph break is \n+ \s* \n+ inside this whitespace run.
            let run = &text[st..i];
            let nl = run.iter().filter(|&&b| b == b'\n').count();
            if nl >= 2 {
                // Leading whitespace before the first \n collapses to a space.
                let first_nl = run.iter().position(|&b| b == b'\n').unwrap_or(0);
                let last_nl = run.iter().rposition(|&b| b == b'\n').unwrap_or(0);
                if first_nl > 0 {
                    out.push(b' ');
                }
                out.push(b'\n');
                if last_nl + 1 < run.len() {
                    out.push(b' ');
                }
            } else {
                out.push(b' ');
            }
            continue;
        }
        // Copy the run of other bytes in one go.
        let st = i;
        while i < text.len() && !space(text[i]) {
            i += 1;
        }
        out.extend_from_slice(&text[st..i]);
    }
    out
}

/// `split_into_array_of_short_lines`: lines keep their `\n`.
pub fn split_short_lines(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let mut line = line;
        while line.len() > MAX_BODY_LINE_LENGTH {
            let len = line[..MAX_BODY_LINE_LENGTH + 1]
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(MAX_BODY_LINE_LENGTH, |p| p + 1);
            out.push(line[..len].to_vec());
            line = &line[len..];
        }
        out.push(line.to_vec());
    }
    out
}

/// `split_into_array_of_short_paragraphs`.
fn split_short_paragraphs(text: Vec<u8>) -> Vec<Vec<u8>> {
    let n = text.len();
    if n <= MAX_BODY_LINE_LENGTH {
        return vec![text];
    }
    let mut out = Vec::new();
    let mut ofs = 0;
    let idx = |c: u8, from: usize| memchr::memchr(c, &text[from.min(n)..]).map(|p| p + from);
    while n - ofs > 2 * MAX_BODY_LINE_LENGTH {
        let ok = |j: Option<usize>| j.filter(|&j| j - ofs < 2 * MAX_BODY_LINE_LENGTH);
        let j = ok(idx(b'\n', ofs + MAX_BODY_LINE_LENGTH))
            .or_else(|| ok(idx(b'>', ofs + MAX_BODY_LINE_LENGTH)))
            .or_else(|| ok(idx(b' ', ofs + MAX_BODY_LINE_LENGTH)))
            .unwrap_or(ofs + MAX_BODY_LINE_LENGTH);
        out.push(text[ofs..=j].to_vec());
        ofs = j + 1;
    }
    if ofs < n {
        out.push(text[ofs..].to_vec());
    }
    out
}

fn uri_char(c: u8) -> bool {
    c.is_ascii_graphic() && !b"<>\"'`{}|\\^[]()".contains(&c)
}

/// URIs from the rendered text parts and from HTML attributes, with the
/// variants `uri_list_canonicalize` adds (scheme added, `%xx` unescaped).
fn extract_uris(b: &Bodies) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    for h in &b.html {
        raw.extend(h.uris.iter().cloned());
    }
    for t in b.rendered.iter().flatten() {
        find_text_uris(t, &mut raw);
    }
    let mut out: Vec<String> = Vec::new();
    for u in raw {
        let u = u.trim().to_string();
        if u.is_empty() {
            continue;
        }
        let lower = u.to_ascii_lowercase();
        let mut variants = vec![u.clone()];
        if lower.starts_with("www.") {
            variants.push(format!("http://{u}"));
        } else if lower.starts_with("ftp.") {
            variants.push(format!("ftp://{u}"));
        }
        if u.contains('%') {
            let un = unescape(&u);
            if un != u {
                variants.push(un);
            }
        }
        for v in variants {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Plain-text URIs (`http://`, `https://`, `ftp://`, `mailto:`, `www.` at
/// a word start, any case) and bare e-mail addresses (as `mailto:`).
/// Aho-Corasick jumps between the places one can start, where a
/// byte-by-byte scan of a lowercased copy of every rendered text was ~4% of
/// the 63 KB fixture's instructions (all fixtures: 114.1 -> 113.4 M).
fn find_text_uris(t: &[u8], out: &mut Vec<String>) {
    use aho_corasick::{AhoCorasick, Input, MatchKind};
    static STARTS: std::sync::LazyLock<AhoCorasick> = std::sync::LazyLock::new(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(["http://", "https://", "ftp://", "mailto:", "www.", "@"])
            .expect("fixed patterns")
    });
    let mut i = 0;
    while let Some(m) = STARTS.find(Input::new(t).span(i..t.len())) {
        let p = m.start();
        if t[p] == b'@' {
            if p > 0 {
                push_mailto(t, p, out);
            }
            i = p + 1;
            continue;
        }
        // A scheme inside a word (`xhttp://`) starts nothing.
        if p > 0 && t[p - 1].is_ascii_alphanumeric() {
            i = p + 1;
            continue;
        }
        let (end, j) = uri_span(t, p);
        out.push(super::msg::lossy(&t[p..end]).into_owned());
        i = j.max(p + 1);
    }
}

/// The URI starting at `p`: where it ends without trailing punctuation,
/// and where its run of URI characters ends.
fn uri_span(t: &[u8], p: usize) -> (usize, usize) {
    let mut j = p;
    while j < t.len() && uri_char(t[j]) {
        j += 1;
    }
    let mut end = j;
    while end > p && b".,;:!?".contains(&t[end - 1]) {
        end -= 1;
    }
    (end, j)
}

/// The bare e-mail address around the `@` at `at`, if any, as `mailto:`.
fn push_mailto(t: &[u8], at: usize, out: &mut Vec<String>) {
    let (s, e) = address_span(t, at);
    if s < at && e > at + 1 && t[at + 1..e].contains(&b'.') {
        let m = format!("mailto:{}", super::msg::lossy(&t[s..e]));
        if !out.contains(&m) {
            out.push(m);
        }
    }
}

/// The bytes around the `@` at `at` that form a bare e-mail address
/// (local part `[A-Za-z0-9._+-]`, domain `[A-Za-z0-9.-]` without trailing
/// dots), as `(start, end)`; empty sides mean no address.
pub(crate) fn address_span(t: &[u8], at: usize) -> (usize, usize) {
    let mut s = at;
    while s > 0 && (t[s - 1].is_ascii_alphanumeric() || b"._+-".contains(&t[s - 1])) {
        s -= 1;
    }
    let mut e = at + 1;
    while e < t.len() && (t[e].is_ascii_alphanumeric() || b".-".contains(&t[e])) {
        e += 1;
    }
    while e > at + 1 && t[e - 1] == b'.' {
        e -= 1;
    }
    (s, e)
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    super::msg::lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_become_lines() {
        let n = normalize_paragraphs(b"a\nb  c\n\n\nd\te\n");
        assert_eq!(n, b"a b c\nd e ");
        let lines = split_short_lines(b"S\na b\nc");
        assert_eq!(
            lines,
            vec![b"S\n".to_vec(), b"a b\n".to_vec(), b"c".to_vec()]
        );
    }

    /// The byte-by-byte scan `find_text_uris` replaced (its search for
    /// where URIs start; the spans are shared), as the oracle.
    fn uris_by_scan(t: &[u8], out: &mut Vec<String>) {
        let lower = t.to_ascii_lowercase();
        let mut i = 0;
        while i < t.len() {
            let starts = matches!(lower[i], b'h' | b'f' | b'm' | b'w')
                && (i == 0 || !t[i - 1].is_ascii_alphanumeric());
            let rest = &lower[i..];
            if starts
                && (["http://", "https://", "ftp://", "mailto:", "www."]
                    .iter()
                    .any(|s| rest.starts_with(s.as_bytes())))
            {
                let (end, j) = uri_span(t, i);
                out.push(super::msg::lossy(&t[i..end]).into_owned());
                i = j.max(i + 1);
                continue;
            }
            if t[i] == b'@' && i > 0 {
                push_mailto(t, i, out);
            }
            i += 1;
        }
    }

    /// Same URIs as the scan on texts built from the tricky pieces: schemes
    /// inside words, any case, `@` inside URIs and at the start, trailing
    /// punctuation, e-mail addresses twice.
    #[test]
    fn uris_as_the_byte_scan_finds_them() {
        let pieces: [&[u8]; 14] = [
            b"http://a.example/x?y=1",
            b"HTTPS://B.example",
            b"xhttp://no.example",
            b"www.c.example.",
            b"Www.d.example,",
            b"ftp://e.example/f@g.example",
            b"mailto:h@i.example",
            b"j@k.example",
            b"@",
            b" ",
            b"\n",
            b"(",
            b"wwwx.l.example",
            b"m.@n",
        ];
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut t = Vec::new();
            for _ in 0..8 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                t.extend_from_slice(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let (mut ours, mut want) = (Vec::new(), Vec::new());
            find_text_uris(&t, &mut ours);
            uris_by_scan(&t, &mut want);
            assert_eq!(ours, want, "{:?}", super::msg::lossy(&t));
        }
    }

    #[test]
    fn uris_from_text() {
        let mut v = Vec::new();
        find_text_uris(
            b"see http://a.example/x, or www.b.example and me@c.example.",
            &mut v,
        );
        assert_eq!(
            v,
            vec!["http://a.example/x", "www.b.example", "mailto:me@c.example"]
        );
    }
}
