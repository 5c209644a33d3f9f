//! Rule pattern text to syntax: the Perl delimiters and flags, the bytes
//! above 0x7f spelled as escapes, and the `regex-syntax` parse and
//! translation every engine choice and prefilter starts from.

use pcre2::bytes::RegexBuilder;
use regex_syntax::ast::Ast;
use regex_syntax::hir::Hir;

use super::JIT_STACK;

/// The `regex-syntax` tree of a pattern (what `regex-syntax`'s own
/// `ParserBuilder::parse` builds before translating), `None` if it fails.
pub fn parse_ast(pattern: &str, flags: &str) -> Option<Ast> {
    regex_syntax::ast::parse::ParserBuilder::new()
        .ignore_whitespace(flags.contains('x'))
        .build()
        .parse(pattern)
        .ok()
}

/// Translate a parsed pattern with byte semantics and the Perl flags,
/// case folding only if asked (the prefilter folds case itself).
pub fn translate(pattern: &str, ast: &Ast, flags: &str, case_insensitive: bool) -> Option<Hir> {
    regex_syntax::hir::translate::TranslatorBuilder::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(case_insensitive)
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .build()
        .translate(pattern, ast)
        .ok()
}

/// A PCRE2 builder for Perl flag letters, in byte mode with JIT.
pub fn pcre_builder(flags: &str) -> RegexBuilder {
    let mut b = RegexBuilder::new();
    b.utf(false).ucp(false).jit_if_available(true);
    b.max_jit_stack_size(Some(JIT_STACK));
    for f in flags.chars() {
        match f {
            'i' => {
                b.caseless(true);
            }
            'm' => {
                b.multi_line(true);
            }
            's' => {
                b.dotall(true);
            }
            'x' => {
                b.extended(true);
            }
            // `o`, `g`, `a`, `u`, `l`, `d`, `n`, `p`: no effect on a match test
            _ => {}
        }
    }
    b
}

/// Split `/body/flags` or `m<delim>body<delim>flags` as
/// `Util::regexp_remove_delimiter` does.
pub fn split_delimited(text: &str) -> Result<(&str, &str), String> {
    let rest = text.strip_prefix('m').unwrap_or(text);
    let mut chars = rest.chars();
    let open = chars.next().ok_or("empty regex")?;
    if text.starts_with('m') {
        if open.is_alphanumeric() || open.is_whitespace() {
            return Err(format!("bad regex delimiter in {text}"));
        }
    } else if open != '/' {
        return Err(format!("regex must start with / or m: {text}"));
    }
    let close = match open {
        '{' => '}',
        '(' => ')',
        '[' => ']',
        '<' => '>',
        c => c,
    };
    let inner = &rest[open.len_utf8()..];
    let end = inner
        .rfind(close)
        .ok_or_else(|| format!("unterminated regex {text}"))?;
    let flags = &inner[end + close.len_utf8()..];
    if !flags.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!("bad regex flags in {text}"));
    }
    Ok((&inner[..end], flags))
}

/// Rule files are read as Latin-1 (one char per byte); bytes ≥ 0x80 become
/// `\xNN` so the non-UTF PCRE2 pattern matches those exact bytes. Classes
/// of one escaped byte become the bare escape (see [`unwrap_byte_classes`]).
pub fn escape_high_bytes(body: &str) -> String {
    unwrap_byte_classes(escape_bytes(body))
}

/// `[\xNN]`, a class of one hex-escaped byte, as the bare `\xNN`: the same
/// byte, and regex-syntax parses a class several times slower than an
/// escape. SpamAssassin's letter tags (`25_replace.cf`) hold dozens each,
/// and the rules using them expand to 100-200 KB patterns whose parsing was
/// most of load time. Left alone: other classes (skipped whole, so nothing
/// inside one changes) and patterns with `\Q` (quoted text) or `\c` (a
/// control escape that takes the next character, `[` included).
fn unwrap_byte_classes(p: String) -> String {
    if !p.contains("[\\x") || p.contains("\\Q") || p.contains("\\c") {
        return p;
    }
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' => {
                let one = b.get(i + 1..i + 6).is_some_and(|c| {
                    c.starts_with(b"\\x")
                        && c[2].is_ascii_hexdigit()
                        && c[3].is_ascii_hexdigit()
                        && c[4] == b']'
                });
                if one {
                    out.push_str(&p[copied..i]);
                    out.push_str(&p[i + 1..i + 5]);
                    i += 6;
                    copied = i;
                } else {
                    i = super::super::prefilter::class_end(b, i).unwrap_or(b.len());
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&p[copied..]);
    out
}

pub(super) fn escape_bytes(body: &str) -> String {
    if body.is_ascii() {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len() + 16);
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
        {
            if (n as u32) >= 0x80 {
                chars.next();
                out.push_str(&format!("\\x{:02x}", n as u32 & 0xff));
                continue;
            }
            out.push(c);
            out.push(n);
            chars.next();
            continue;
        }
        if (c as u32) >= 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32 & 0xff));
        } else {
            out.push(c);
        }
    }
    out
}
