//! The MIME tree as SpamAssassin's `Message.pm` builds it (`new`,
//! `parse_body`, `_parse_multipart`, `_parse_normal`), line by line: the
//! leaf parts in tree order and the parse flags `check_msg_parse_flags`
//! reads (missing MIME header/body separator, missing MIME headers,
//! epilogue). A general MIME parser (mail-parser) splits broken multiparts
//! differently — no boundary found, two Content-Type headers, boundaries
//! that prefix each other — and every rule downstream saw other text.

use super::msg::{Field, MimeFacts, Part, decode_cte, parse_ctype, parse_header_block};

/// The three flags, as set on the top `Message` object.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct MimeFlags {
    pub missing_mime_head_body_separator: bool,
    pub missing_mime_headers: bool,
    pub mime_epilogue_exists: bool,
}

/// `/^[\041-\071\073-\176]+[ \t]*:/` (with `ws` false: no blank before ':').
fn is_header_line(l: &[u8], ws: bool) -> bool {
    let name = l
        .iter()
        .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
        .count();
    if name == 0 {
        return false;
    }
    let mut i = name;
    if ws {
        while i < l.len() && (l[i] == b' ' || l[i] == b'\t') {
            i += 1;
        }
    }
    l.get(i) == Some(&b':')
}

/// `Util::parse_content_type`: (type, boundary).
fn content_type(ct: Option<&str>) -> (String, Option<String>) {
    let ct = ct
        .filter(|c| !c.is_empty())
        .unwrap_or("text/plain; charset=us-ascii");
    let lower = ct.to_ascii_lowercase();
    // \bboundary\s*=\s*("[^"]+|[^\s";]+(?=[\s;]|$))
    let mut boundary = None;
    let mut from = 0;
    while let Some(p) = lower[from..].find("boundary") {
        let at = from + p;
        from = at + 8;
        if at > 0
            && (lower.as_bytes()[at - 1].is_ascii_alphanumeric()
                || lower.as_bytes()[at - 1] == b'_')
        {
            continue;
        }
        let rest = ct[at + 8..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let b = if let Some(q) = rest.strip_prefix('"') {
            let v: String = q.chars().take_while(|c| *c != '"').collect();
            (!v.is_empty()).then_some(v)
        } else {
            let v: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ';')
                .collect();
            let next = rest[v.len()..].chars().next();
            (!v.is_empty() && next.is_none_or(|c| c.is_whitespace() || c == ';')).then_some(v)
        };
        if b.is_some() {
            boundary = b;
            break;
        }
    }
    let t = ct.trim_start().split(';').next().unwrap_or("");
    // s@^([^/]+(?:/[^/\s]*)?).*$@$1@s
    let t = match t.find('/') {
        Some(p) => {
            let sub: String = t[p + 1..]
                .chars()
                .take_while(|c| *c != '/' && !c.is_whitespace())
                .collect();
            format!("{}/{}", &t[..p], sub)
        }
        None => t.to_string(),
    };
    let mut t = t.to_ascii_lowercase();
    if t.is_empty()
        || (t.starts_with("text")
            && t.as_bytes()
                .get(4)
                .is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_')
            && !matches!(t.as_str(), "text/x-vcard" | "text/calendar" | "text/html"))
    {
        t = "text/plain".into();
    }
    let t: String = t
        .chars()
        .filter(|&c| {
            !(c <= ' ' || ('\u{7f}'..='\u{ff}').contains(&c) || "\"(),:;<=>?@[\\]".contains(c))
        })
        .collect();
    (t, boundary)
}

/// A header block split off the top of `lines` the way `Message::new` does
/// (blank line, a `--` line or a fourth invalid line ends it). Returns the
/// last Content-Type and Content-Transfer-Encoding and the body lines.
fn split_message<'a>(lines: &[&'a [u8]]) -> (Vec<Vec<u8>>, Vec<&'a [u8]>) {
    let mut headers: Vec<Vec<u8>> = Vec::new();
    let mut errors = 0;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            match headers.last_mut() {
                Some(h) => h.extend_from_slice(l),
                None => headers.push(l.to_vec()),
            }
            i += 1;
            continue;
        }
        if *l == b"\n" {
            i += 1;
            break;
        }
        if l.starts_with(b"--") {
            break;
        }
        if !is_header_line(l, true) {
            errors += 1;
            if errors > 3 {
                break;
            }
        }
        headers.push(l.to_vec());
        i += 1;
    }
    (headers, lines[i..].to_vec())
}

/// The last value of header `name` among raw header lines (`Node::header`
/// in scalar context), unfolded and trimmed.
fn last_header(headers: &[Vec<u8>], name: &str) -> Option<String> {
    // The name is matched on bytes: only the field asked for is converted.
    headers.iter().rev().find_map(|h| {
        let colon = memchr::memchr(b':', h)?;
        let k = super::msg::lossy(&h[..colon]);
        k.trim_end().eq_ignore_ascii_case(name).then(|| {
            let s = super::msg::lossy(&h[colon + 1..]);
            unfold(&s)
        })
    })
}

/// A message (top or message/rfc822) as a job: header split, type, bug 6845.
fn message_job(data: &[u8], depth: u32) -> Job<'_> {
    let (headers, mut body) = split_message(&split_lines(data));
    let ct = last_header(&headers, "content-type");
    let (ctype, boundary) = content_type(ct.as_deref());
    insert_blank(&ctype, boundary.as_deref(), &mut body);
    Job {
        ctype,
        cte: last_header(&headers, "content-transfer-encoding").unwrap_or_default(),
        boundary,
        ct_missing: ct.is_none_or(|c| c.is_empty()),
        headers,
        body,
        depth,
        in_alt: false,
        alt_group: None,
    }
}

/// `Node::header`'s stored value: unfolded and trimmed.
fn unfold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The lines of `data`, each with its `\n`: slices, not copies (a big
/// message has thousands of lines, and the parts are sliced again).
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\n').collect()
}

/// One entry of `parse_queue`: a node with its header lines and body.
struct Job<'a> {
    ctype: String,
    cte: String,
    boundary: Option<String>,
    /// The Content-Type header was absent (`parse_content_type`'s `$missing`).
    ct_missing: bool,
    headers: Vec<Vec<u8>>,
    body: Vec<&'a [u8]>,
    depth: u32,
    in_alt: bool,
    alt_group: Option<usize>,
}

/// What one walk of the tree collects.
#[derive(Default)]
struct Walk {
    flags: MimeFlags,
    parts: Vec<Part>,
    /// Header fields of the non-leaf nodes (mimeheader rules see them too).
    containers: Vec<Vec<Field>>,
    nodes: usize,
    alt_counter: usize,
    /// See [`MimeFacts::ma_non_text`].
    ma_non_text: bool,
}

/// Raw header lines of a node as parsed fields.
fn fields(lines: &[Vec<u8>]) -> Vec<Field> {
    let mut block: Vec<u8> = lines.concat();
    block.push(b'\n');
    parse_header_block(&block).0
}

/// The leaf parts of `data` in tree order as `find_parts(qr/./, 1)`
/// returns them, with the structural facts; the Message.pm counterpart of
/// `msg::leaf_parts`.
pub fn leaf_parts(data: &[u8]) -> (Vec<Part>, MimeFacts) {
    let mut w = Walk::default();
    walk(&mut w, message_job(data, 20), None);
    let facts = MimeFacts {
        part_count: w.nodes,
        has_epilogue: w.flags.mime_epilogue_exists,
        missing_part_headers: w.flags.missing_mime_headers,
        missing_part_separator: w.flags.missing_mime_head_body_separator,
        containers: w.containers,
        ma_non_text: w.ma_non_text,
    };
    (w.parts, facts)
}

/// `parse_body` for one node: multipart, sub-message or leaf.
fn walk(w: &mut Walk, mut job: Job<'_>, parent_type: Option<&str>) {
    w.nodes += 1;
    if w.nodes > 5000 {
        return;
    }
    if job.ctype.starts_with("multipart/") && job.boundary.is_some() && job.depth > 0 {
        if job.ctype == "multipart/alternative" {
            w.alt_counter += 1;
            job.alt_group = Some(w.alt_counter);
            job.in_alt = true;
        }
        w.containers.push(fields(&job.headers));
        multipart(w, &job);
        return;
    }
    // `_parse_normal`: a multipart without boundary is text/plain; a
    // missing type keeps what the parent gave (message/rfc822 in a digest).
    if !job.ct_missing {
        if job.ctype.starts_with("multipart/") && job.boundary.is_none() {
            job.ctype = "text/plain".into();
        }
    } else if parent_type == Some("multipart/digest") {
        job.ctype = "message/rfc822".into();
    }
    let raw: Vec<u8> = job.body.concat();
    let cte = job.cte.trim().to_ascii_lowercase();
    let decoded = decode_cte(&raw, &cte);
    if (job.ctype == "message/rfc822" || job.ctype == "message/global")
        && job.depth > 0
        && !decoded.is_empty()
    {
        w.containers.push(fields(&job.headers));
        let mut sub = message_job(&decoded, job.depth - 1);
        sub.in_alt = job.in_alt;
        sub.alt_group = job.alt_group;
        walk(w, sub, Some(&job.ctype));
        return;
    }
    // check_ma_non_text: leaf children of a multipart/alternative
    if parent_type == Some("multipart/alternative")
        && !(job.ctype.starts_with("text/")
            || job.ctype == "multipart/related"
            || job.ctype == "application/rtf")
    {
        w.ma_non_text = true;
    }
    let headers = fields(&job.headers);
    let charset = last_header(&job.headers, "content-type")
        .map(|ct| parse_ctype(ct.as_bytes()).1)
        .and_then(|ps| ps.into_iter().find(|(k, _)| k == "charset"))
        .map(|(_, v)| v.to_ascii_lowercase());
    w.parts.push(Part {
        ctype: job.ctype,
        charset,
        cte,
        headers,
        raw_body: raw,
        decoded,
        in_alternative: job.in_alt,
        alt_group: job.alt_group,
    });
}

/// Bug 6845: a multipart body that starts with neither a blank line nor
/// its boundary gets a blank line in front.
fn insert_blank(ctype: &str, boundary: Option<&str>, body: &mut Vec<&[u8]>) {
    if ctype.starts_with("multipart/")
        && body.len() > 1
        && body[0].iter().any(|b| !b.is_ascii_whitespace())
        && boundary.is_none_or(|b| !body[0].starts_with(format!("--{b}").as_bytes()))
    {
        body.insert(0, b"\n");
    }
}

/// `/^--\Q$b\E(--)?\s*$/`: Some(is the closing one).
fn boundary_line(l: &[u8], b: &str) -> Option<bool> {
    let rest = l.strip_prefix(b"--")?.strip_prefix(b.as_bytes())?;
    let all_ws = |s: &[u8]| s.iter().all(u8::is_ascii_whitespace);
    if all_ws(rest) {
        return Some(false);
    }
    rest.strip_prefix(b"--").filter(|r| all_ws(r)).map(|_| true)
}

fn multipart(w: &mut Walk, job: &Job<'_>) {
    let boundary = job.boundary.as_deref().expect("checked by caller");
    let mut body: &[&[u8]] = &job.body;
    // The opening boundary; the preamble before it is dropped.
    if let Some(i) = body
        .iter()
        .position(|l| boundary_line(l, boundary) == Some(false))
    {
        if body.get(i + 1).is_some_and(|n| !is_header_line(n, false)) {
            w.flags.missing_mime_headers = true;
        }
        body = &body[i + 1..];
    }
    let mut headers: Vec<Vec<u8>> = Vec::new();
    let mut header: Option<Vec<u8>> = None;
    let mut part: Option<Vec<&[u8]>> = None;
    let mut in_body = false;
    let mut nested = false;
    let mut remaining = body.len();
    let mut parts = 0;
    let ct_of = |hs: &[Vec<u8>]| {
        hs.iter().rev().find_map(|h| {
            let s = super::msg::lossy(h);
            let (k, v) = s.split_once(':')?;
            k.eq_ignore_ascii_case("content-type").then(|| unfold(v))
        })
    };
    for l in body {
        let mut end = boundary_line(l, boundary);
        let last = end == Some(true);
        if end.is_some() && nested {
            end = None;
            if last {
                nested = false;
            }
        }
        remaining -= 1;
        if remaining == 0 || end.is_some() {
            let mut lines = part.take().unwrap_or_default();
            if end.is_none() {
                lines.push(l);
            } else if let Some(lastl) = lines.last_mut() {
                if let Some(l) = lastl.strip_suffix(b"\n") {
                    *lastl = l;
                }
                if lastl.is_empty() {
                    lines.pop();
                }
            }
            // A header still being collected is dropped, as in the Perl.
            let ct = ct_of(&headers);
            let (ctype, pb) = content_type(ct.as_deref());
            let cte = headers
                .iter()
                .rev()
                .find_map(|h| {
                    let s = super::msg::lossy(h);
                    let (k, v) = s.split_once(':')?;
                    k.eq_ignore_ascii_case("content-transfer-encoding")
                        .then(|| unfold(v))
                })
                .unwrap_or_default();
            let child = Job {
                ctype,
                cte,
                boundary: pb.or_else(|| Some(boundary.to_string())),
                ct_missing: ct.is_none_or(|c| c.is_empty()),
                headers: std::mem::take(&mut headers),
                body: lines,
                depth: job.depth - 1,
                in_alt: job.in_alt,
                alt_group: job.alt_group,
            };
            walk(w, child, Some(&job.ctype));
            parts += 1;
            if end == Some(true) || parts == 1000 {
                break;
            }
            if remaining > 0 && !is_header_line(body[body.len() - remaining], false) {
                w.flags.missing_mime_headers = true;
            }
            in_body = false;
            headers.clear();
            header = None;
            continue;
        }
        if !in_body {
            if is_header_line(l, true) {
                // Only the header that ends the block is checked for a
                // reused boundary (as in the Perl).
                if let Some(h) = header.take() {
                    headers.push(h);
                }
                header = Some(l.to_vec());
                continue;
            }
            if l.first().is_some_and(|&b| b == b' ' || b == b'\t')
                && let Some(h) = header.as_mut()
            {
                h.extend_from_slice(l);
                continue;
            }
            if let Some(h) = header.take() {
                nested |= add_header(&mut headers, h, boundary);
            }
            in_body = true;
            if *l == b"\n" || *l == b"\r\n" {
                continue;
            }
            w.flags.missing_mime_head_body_separator = true;
        }
        part.get_or_insert_with(Vec::new).push(l);
    }
    // Lines after the closing boundary: an epilogue unless only dots/blanks.
    if remaining > 0
        && body[body.len() - remaining..]
            .iter()
            .any(|l| l.iter().any(|&b| !b.is_ascii_whitespace() && b != b'.'))
    {
        w.flags.mime_epilogue_exists = true;
    }
}

/// Store a part header; true when it is a Content-Type whose boundary is
/// the enclosing one (bug 7358: one level of a reused boundary).
fn add_header(headers: &mut Vec<Vec<u8>>, h: Vec<u8>, boundary: &str) -> bool {
    let s = super::msg::lossy(&h).into_owned();
    headers.push(h);
    let Some((k, _)) = s.split_once(':') else {
        return false;
    };
    // Part header names are split at the first ':' and not trimmed.
    if !k.eq_ignore_ascii_case("content-type") {
        return false;
    }
    let ct = headers.iter().rev().find_map(|h| {
        let s = super::msg::lossy(h);
        let (k, v) = s.split_once(':')?;
        k.eq_ignore_ascii_case("content-type").then(|| unfold(v))
    });
    content_type(ct.as_deref()).1.as_deref() == Some(boundary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parsing() {
        let (t, b) = content_type(Some("Multipart/Mixed; boundary=\"a b\""));
        assert_eq!((t.as_str(), b.as_deref()), ("multipart/mixed", Some("a b")));
        let (t, b) = content_type(Some("text/enriched; charset=x"));
        assert_eq!((t.as_str(), b), ("text/plain", None));
        assert_eq!(content_type(None).0, "text/plain");
    }

    fn mime_flags(data: &[u8]) -> MimeFlags {
        let mut w = Walk::default();
        walk(&mut w, message_job(data, 20), None);
        w.flags
    }

    #[test]
    fn flags() {
        let ok = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n";
        assert_eq!(mime_flags(ok), MimeFlags::default());
        let no_sep = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\nx\n--b--\n";
        assert!(mime_flags(no_sep).missing_mime_head_body_separator);
        let no_hdr = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\nx\n--b--\n";
        assert!(mime_flags(no_hdr).missing_mime_headers);
        let epi = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nx\n--b--\nbye\n";
        assert!(mime_flags(epi).mime_epilogue_exists);
        let dots = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n.\n";
        assert!(!mime_flags(dots).mime_epilogue_exists);
    }
}
