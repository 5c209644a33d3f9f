//! Bad-header checks with amavisd's minor categories and texts
//! (`check_header_validity` in Amavis/Unpackers/Validity.pm, default
//! `%allowed_header_tests`: everything except `utf8`), plus minor 1, the
//! MIME structure errors MIME::Parser reports (see [`mime_errors`]).
//!
//! Minor codes: 1 MIME error, 2 8-bit char, 3 NUL/CR, 4 whitespace-only
//! folded line, 5 line > 998, 6 syntax, 7 missing Date/From, 8 duplicate.
//! The message's CC_BADH minor is the highest of the entries' ([`minor`]).

/// One problem found in the header section, as amavisd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader {
    /// amavisd's CC_BADH minor category of this entry.
    pub minor: u8,
    /// amavisd's text, e.g. `Duplicate header field: "Subject"`.
    pub text: String,
}

/// The message's bad-header minor category: the highest entry's.
pub fn minor(bad: &[BadHeader]) -> u8 {
    bad.iter().map(|b| b.minor).max().unwrap_or(0)
}

/// Fields checked for "missing" (Date, From) and "duplicate" (all).
const COUNTED: &[&str] = &[
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Message-ID",
    "References",
    "In-Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Description",
    "Content-Disposition",
    "Auto-Submitted",
];

/// Check the header section (and the MIME structure) of `message`.
pub fn check_bad_headers(message: &[u8]) -> Vec<BadHeader> {
    let fields = header_fields(message);
    let mut out = Vec::new();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for f in &fields {
        let name = field_name(f);
        if let Some(n) = name {
            *counts
                .entry(String::from_utf8_lossy(n).to_ascii_lowercase())
                .or_default() += 1;
        }
        if let Some(b) = check_field(f, name) {
            out.push(b);
        }
        if out.len() >= 100 {
            break;
        }
    }
    for &h in COUNTED {
        let n = counts.get(&h.to_ascii_lowercase()).copied().unwrap_or(0);
        if n == 0 && (h == "Date" || h == "From") {
            out.push(bad(7, format!("Missing required header field: \"{h}\"")));
        } else if n == 2 {
            out.push(bad(8, format!("Duplicate header field: \"{h}\"")));
        } else if n > 2 {
            out.push(bad(
                8,
                format!("Header field occurs more than once: \"{h}\" occurs {n} times"),
            ));
        }
    }
    let errs = mime_errors(message);
    if !errs.is_empty() {
        out.push(BadHeader {
            minor: 1,
            text: format!("MIME error: {}", join_mime_errors(&errs)),
        });
    }
    out
}

fn bad(minor: u8, text: String) -> BadHeader {
    BadHeader { minor, text }
}

/// Header fields with continuation lines, each line ending in `\n` (CRLF
/// turned into LF as amavisd stores mail), up to the empty line.
fn header_fields(message: &[u8]) -> Vec<Vec<u8>> {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        let mut l = line.to_vec();
        if l.ends_with(b"\r\n") {
            l.truncate(l.len() - 2);
            l.push(b'\n');
        }
        if l == b"\n" {
            break;
        }
        match (l.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.extend_from_slice(&l),
            _ => fields.push(l),
        }
    }
    fields
}

/// `^([!-9;-\x7E\x80-\xFF]+)[ \t]*:` (obsolete whitespace before the colon).
fn field_name(f: &[u8]) -> Option<&[u8]> {
    let n = f
        .iter()
        .take_while(|&&b| matches!(b, b'!'..=b'9' | b';'..=b'~' | 0x80..=0xff))
        .count();
    let rest = &f[n..];
    let ws = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    (n > 0 && rest.get(ws) == Some(&b':')).then_some(&f[..n])
}

/// The first failing test for one field, in amavisd's order.
fn check_field(f: &[u8], name: Option<&[u8]>) -> Option<BadHeader> {
    let Some(name) = name.filter(|n| !n.starts_with(b"--")) else {
        return Some(finish(6, "Invalid header field syntax", f, Ctx::Whole));
    };
    if let Some(i) = name.iter().position(|&b| b >= 0x80) {
        // amavisd matched on the name, so pos() of the field is undef:
        // pre = field minus its last byte, post = the whole field.
        let pre = &f[..f.len() - 1];
        return Some(finish(
            6,
            "Invalid header field name, contains non-ASCII char",
            f,
            Ctx::Parts(name, pre, &name[i..i + 1], f),
        ));
    }
    // A folded line made up entirely of whitespace.
    let mut start = 0;
    for line in f.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if !body.is_empty() && body.iter().all(|&b| b == b' ' || b == b'\t') {
            let s = start;
            return Some(finish(
                4,
                "Improper folded header field made up entirely of whitespace",
                f,
                Ctx::At(name, s, s + body.len()),
            ));
        }
        start += line.len();
    }
    for line in f.split(|&b| b == b'\n') {
        if line.len() >= 999 {
            let mut m = line[..50].to_vec();
            m.extend_from_slice(b"[...]");
            return Some(finish(
                5,
                "Header line longer than 998 characters",
                &m,
                Ctx::Whole,
            ));
        }
    }
    if let Some(i) = f.iter().position(|&b| b == 0 || b == b'\r') {
        return Some(finish(
            3,
            "Improper use of control character",
            f,
            Ctx::At(name, i, i + 1),
        ));
    }
    let i = f.iter().position(|&b| b >= 0x80)?;
    if std::str::from_utf8(f).is_err() {
        return Some(finish(
            2,
            "Non-encoded non-ASCII data (and not UTF-8)",
            f,
            Ctx::At(name, i, i + 1),
        ));
    }
    // UTF-8 C1 controls (U+0080..U+009F), prohibited by RFC 5198.
    let c1 = f
        .windows(2)
        .position(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    if let Some(i) = c1 {
        return Some(finish(
            2,
            "UTF-8 string contains C1 Controls",
            f,
            Ctx::At(name, i, i + 2),
        ));
    }
    // Valid UTF-8 is accepted: amavisd's `utf8` test is off by default.
    None
}

/// How the reported text is built: the whole field, or pre/mid/post
/// around the offending bytes `[from, to)`.
enum Ctx<'a> {
    Whole,
    At(&'a [u8], usize, usize),
    /// name, pre, mid, post given directly
    Parts(&'a [u8], &'a [u8], &'a [u8], &'a [u8]),
}

/// amavisd's message formatting and its final sanitising of non-ASCII.
fn finish(minor: u8, msg1: &str, f: &[u8], ctx: Ctx) -> BadHeader {
    let mut msg1 = msg1.to_string();
    let msg2 = match ctx {
        // (amavisd keeps the field's final newline; a text for headers and
        // logs is better without it)
        Ctx::Whole => f.strip_suffix(b"\n").unwrap_or(f).to_vec(),
        Ctx::At(name, from, to) => context(&mut msg1, name, &f[..from], &f[from..to], &f[to..]),
        Ctx::Parts(name, pre, mid, post) => context(&mut msg1, name, pre, mid, post),
    };
    let mut text = format!("{msg1}: ").into_bytes();
    text.extend_from_slice(&msg2);
    BadHeader {
        minor,
        text: sanitize(&text),
    }
}

/// amavisd's pre/mid/post shortening and the `(char XX hex)` note.
fn context(msg1: &mut String, name: &[u8], pre: &[u8], mid: &[u8], post: &[u8]) -> Vec<u8> {
    let mut pre = pre.to_vec();
    let mut mid = mid.to_vec();
    let mut post = post.to_vec();
    if post.ends_with(b"\n") {
        post.pop();
    }
    if !mid.is_empty() && mid.len() <= 4 {
        let hex: Vec<String> = mid.iter().map(|b| format!("{b:02X}")).collect();
        msg1.push_str(&format!(" (char {} hex)", hex.join(" ")));
    }
    if mid.len() > 20 {
        mid = truncate_utf8(&mid, 15);
        mid.extend_from_slice(b"[...]");
    }
    if post.len() > 20 {
        post = truncate_utf8(&post, 15);
        post.extend_from_slice(b"[...]");
    }
    if pre.len() as isize - name.len() as isize - 2 > 50 - post.len() as isize {
        let keep = 45usize.saturating_sub(post.len()).min(pre.len());
        let tail = pre[pre.len() - keep..].to_vec();
        pre = name.to_vec();
        pre.extend_from_slice(b": ...");
        pre.extend_from_slice(&tail);
    }
    [pre, mid, post].concat()
}

/// amavisd's `truncate_utf_8`: cut to `max` bytes without a partial char.
fn truncate_utf8(s: &[u8], max: usize) -> Vec<u8> {
    let mut v = s[..s.len().min(max)].to_vec();
    // Drop a trailing lead byte with fewer continuation bytes than it needs.
    let tail = v
        .iter()
        .rev()
        .take_while(|&&b| (0x80..0xc0).contains(&b))
        .count();
    if let Some(&lead) = v.len().checked_sub(tail + 1).and_then(|i| v.get(i)) {
        let need = match lead {
            0xc0..=0xdf => 1,
            0xe0..=0xef => 2,
            0xf0..=0xf7 => 3,
            _ => 0,
        };
        if need > tail {
            v.truncate(v.len() - tail - 1);
        }
    }
    v
}

/// When the text holds non-ASCII, amavisd escapes every byte outside
/// 0x20..0x7E (and `\` before `x{`) as `\x{HH}`; otherwise it is kept.
fn sanitize(t: &[u8]) -> String {
    if t.is_ascii() {
        return String::from_utf8_lossy(t).into_owned();
    }
    let mut out = String::new();
    for (i, &b) in t.iter().enumerate() {
        if !(0x20..=0x7e).contains(&b) || (b == b'\\' && t[i + 1..].starts_with(b"x{")) {
            out.push_str(&format!("\\x{{{b:02X}}}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// amavisd: join with "; ", then `s/\s+\z//; s/[ \t\r]*\n+/; /g; s/\s+/ /g`,
/// cut at 250 characters.
fn join_mime_errors(errs: &[String]) -> String {
    let joined = errs
        .iter()
        .map(|e| format!("error: {e}\n"))
        .collect::<Vec<_>>()
        .join("; ");
    let trimmed = joined.trim_end();
    let mut s = String::new();
    let mut chars = trimmed.chars().peekable();
    let mut pending_ws = String::new();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' => pending_ws.push(c),
            '\n' => {
                while chars.peek() == Some(&'\n') {
                    chars.next();
                }
                pending_ws.clear();
                s.push_str("; ");
            }
            _ => {
                s.push_str(&pending_ws);
                pending_ws.clear();
                s.push(c);
            }
        }
    }
    let mut out = String::new();
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    if out.len() > 250 {
        let mut cut = 250;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("[...]");
    }
    out
}

pub use mime_structure::mime_errors;

/// The MIME structure errors MIME::Parser 5.5 reports (amavisd puts them
/// under minor 1 as "MIME error: ..."), from a walk that mirrors its
/// reader: boundary lines are `--b` / `--b--` after stripping trailing
/// whitespace, for the innermost or any enclosing boundary; nested
/// message/rfc822 is not descended into (amavisd sets
/// `extract_nested_messages(0)`).
mod mime_structure {
    /// How a read ended.
    #[derive(Clone, PartialEq)]
    enum Eos {
        Eof,
        Done,
        Delim(usize),
        Close(usize),
    }

    /// A cursor over the message with MIME::Parser's reader state.
    struct Parser<'a> {
        data: &'a [u8],
        /// Offset of the next unread line.
        pos: usize,
        bounds: Vec<Vec<u8>>,
        eos: Eos,
        errors: Vec<String>,
    }

    /// Error texts in order, without MIME::Parser's "error: " prefix.
    pub fn mime_errors(message: &[u8]) -> Vec<String> {
        let mut p = Parser {
            data: message,
            pos: 0,
            bounds: vec![],
            eos: Eos::Eof,
            errors: vec![],
        };
        p.part(0);
        p.errors
    }

    impl<'a> Parser<'a> {
        /// "DELIM"/"CLOSE" only for the innermost boundary, else "EXT".
        fn eos_type(&self) -> &'static str {
            let inner = self.bounds.len().wrapping_sub(1);
            match self.eos {
                Eos::Eof => "EOF",
                Eos::Done => "DONE",
                Eos::Delim(i) if i == inner => "DELIM",
                Eos::Close(i) if i == inner => "CLOSE",
                _ => "EXT",
            }
        }

        /// Read lines until a boundary (or, for a header, an empty line).
        fn read(&mut self, header: bool) -> Vec<&'a [u8]> {
            let mut out = Vec::new();
            while self.pos < self.data.len() {
                let rest = &self.data[self.pos..];
                let len = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                let l = &rest[..len];
                self.pos += len;
                if l.starts_with(b"--") {
                    let t = l.trim_ascii_end();
                    for (i, b) in self.bounds.iter().enumerate().rev() {
                        let body = &t[2..];
                        if body == b.as_slice() {
                            self.eos = Eos::Delim(i);
                            return out;
                        }
                        if body.len() == b.len() + 2 && body.starts_with(b) && body.ends_with(b"--")
                        {
                            self.eos = Eos::Close(i);
                            return out;
                        }
                    }
                }
                if header && (l == b"\n" || l == b"\r\n") {
                    self.eos = Eos::Done;
                    return out;
                }
                // Only header lines are kept; bodies are just skipped.
                if header {
                    out.push(l);
                }
            }
            self.eos = Eos::Eof;
            out
        }

        /// One entity; false when parsing had to stop (a bogus part).
        fn part(&mut self, depth: usize) -> bool {
            if depth > 100 {
                return false;
            }
            let head = self.read(true);
            match self.eos_type() {
                // "bogus part" (a warning): an empty text/plain part, and the
                // multipart goes on from that boundary.
                "DELIM" => return true,
                "DONE" => {}
                _ => self.errors.push("unexpected end of header".into()),
            }
            let (ctype, boundary) = content_type(&head);
            if ctype.starts_with("multipart/") {
                match boundary {
                    Some(b) if !b.contains(&b'\r') && !b.contains(&b'\n') => {
                        return self.multipart(b, depth);
                    }
                    _ => self
                        .errors
                        .push("multipart boundary is missing, or contains CR or LF".into()),
                }
            }
            if !self.bounds.is_empty() {
                self.read(false);
                if !matches!(self.eos_type(), "DELIM" | "CLOSE") {
                    self.errors
                        .push("part did not end with expected boundary".into());
                }
            } else {
                self.pos = self.data.len();
                self.eos = Eos::Eof;
            }
            true
        }

        fn multipart(&mut self, b: Vec<u8>, depth: usize) -> bool {
            self.bounds.push(b);
            self.read(false);
            let mut more = match self.eos_type() {
                "DELIM" => true,
                "CLOSE" => false,
                _ => {
                    self.errors.push("unexpected end of preamble".into());
                    self.bounds.pop();
                    return true;
                }
            };
            while more {
                if !self.part(depth + 1) {
                    self.bounds.pop();
                    return false;
                }
                more = match self.eos_type() {
                    "DELIM" => true,
                    "CLOSE" => false,
                    _ => {
                        self.errors
                            .push("unexpected end of parts before epilogue".into());
                        self.bounds.pop();
                        return true;
                    }
                };
            }
            self.bounds.pop();
            // The epilogue runs to the parent's boundary or EOF.
            if self.bounds.is_empty() {
                self.pos = self.data.len();
                self.eos = Eos::Eof;
            } else {
                self.read(false);
            }
            true
        }
    }

    /// Lower-cased `type/subtype` and the `boundary` parameter (the last one
    /// when repeated, as MIME::Head keeps it).
    fn content_type(head: &[&[u8]]) -> (String, Option<Vec<u8>>) {
        let mut value: Option<Vec<u8>> = None;
        for l in head {
            let is_cont = l.first().is_some_and(|&b| b == b' ' || b == b'\t');
            match (&mut value, is_cont) {
                (Some(v), true) => v.extend_from_slice(l.trim_ascii_end()),
                (Some(_), false) => break,
                (None, false) => {
                    if let Some(colon) = l.iter().position(|&b| b == b':')
                        && l[..colon]
                            .trim_ascii()
                            .eq_ignore_ascii_case(b"content-type")
                    {
                        value = Some(l[colon + 1..].trim_ascii_end().to_vec());
                    }
                }
                (None, true) => {}
            }
        }
        let Some(v) = value else {
            return ("text/plain".into(), None);
        };
        params(v.trim_ascii_end())
    }

    fn skip_spcz(v: &[u8], mut i: usize) -> usize {
        loop {
            match v.get(i) {
                Some(b) if b.is_ascii_whitespace() => i += 1,
                Some(b'(') => match v[i..].iter().position(|&b| b == b')') {
                    Some(e) => i += e + 1,
                    None => return i,
                },
                _ => return i,
            }
        }
    }

    fn is_token(b: u8) -> bool {
        (0x21..0x80).contains(&b) && !br#"()<>@,;:\/[]?=""#.contains(&b)
    }

    /// MIME::Field::ParamVal's parse: the first value up to whitespace or
    /// `;`, then `; name = value` pairs (quoted string, encoded word, token,
    /// or a cut-down bad token); a repeated parameter keeps the last value.
    fn params(v: &[u8]) -> (String, Option<Vec<u8>>) {
        let mut i = skip_spcz(v, 0);
        let first = v[i..]
            .iter()
            .take_while(|&&b| (0x21..0x80).contains(&b) && b != b';')
            .count();
        let ctype = String::from_utf8_lossy(&v[i..i + first]).to_ascii_lowercase();
        i += first;
        let mut boundary = None;
        while let Some(semi) = v[i..].iter().position(|&b| b == b';') {
            i += semi;
            while v.get(i) == Some(&b';') {
                i = skip_spcz(v, i + 1);
            }
            let n = v[i..]
                .iter()
                .take_while(|&&b| (0x21..0x80).contains(&b) && b != b':' && b != b'=')
                .count();
            if n == 0 {
                break;
            }
            let name = v[i..i + n].to_ascii_lowercase();
            i += n;
            while v.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            if v.get(i) != Some(&b'=') {
                break;
            }
            i += 1;
            while v.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            let rest = &v[i..];
            let (val, used) = if rest.first() == Some(&b'"') {
                let mut out = Vec::new();
                let mut j = 1;
                let mut closed = false;
                while j < rest.len() {
                    match rest[j] {
                        b'\\' if j + 1 < rest.len() => {
                            out.push(rest[j + 1]);
                            j += 2;
                        }
                        b'"' => {
                            closed = true;
                            j += 1;
                            break;
                        }
                        c => {
                            out.push(c);
                            j += 1;
                        }
                    }
                }
                if !closed {
                    // Not a quoted string: the bad-token fallback.
                    bad_token(rest)
                } else {
                    (out, j)
                }
            } else {
                let t = rest.iter().take_while(|&&b| is_token(b)).count();
                if t > 0 {
                    (rest[..t].to_vec(), t)
                } else {
                    bad_token(rest)
                }
            };
            if used == 0 {
                break;
            }
            i += used;
            if name == b"boundary" {
                boundary = Some(val);
            }
        }
        (ctype, boundary)
    }

    /// `[^;]+`, trimmed, cut to its leading token characters.
    fn bad_token(rest: &[u8]) -> (Vec<u8>, usize) {
        let used = rest.iter().take_while(|&&b| b != b';').count();
        let t = rest[..used].trim_ascii();
        let keep = t.iter().take_while(|&&b| is_token(b)).count();
        (t[..keep].to_vec(), used)
    }
}
