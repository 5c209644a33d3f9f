//! Perl regex syntax that `regex-syntax` rejects, rewritten into a pattern
//! that matches a *superset* of the original: for the literal prefilter and
//! the gates only (see `prefilter::relax_perl`), never for the rule's own
//! match, and only for patterns that fail to parse without it.
//! Without these a rule like `WEIRD_QUOTING` (octal escapes) or
//! `SCC_SPECIAL_GUID` (a backreference) got neither, and PCRE2 ran it over
//! every line of every message.
//!
//! - `\e` and octal escapes (`\0`, `\0NN`, `\NNN`) become `\xNN`: exact.
//! - Inside a class, `[` (literal in Perl, a nested class to regex-syntax)
//!   and the set operators `&&` and `~~` are escaped: exact.
//! - A possessive quantifier (`a++`) becomes greedy (`a+`): greedy matches
//!   everything possessive does, and more.
//! - A backreference `\N` becomes a copy of group N's pattern: the text
//!   the group captured matches that pattern, so does its repeat.

/// The rewritten pattern, or `None` where a rewrite cannot promise a
/// superset (inline flags or branch resets with a backreference, `\g`/`\k`
/// references, a reference to an open or missing group, a group holding a
/// reference itself: its copy's groups would shift later numbers).
pub fn superset_syntax(pattern: &str) -> Option<String> {
    if !pattern.is_ascii() {
        return None;
    }
    if !has_backref(pattern.as_bytes()) {
        return escapes(pattern.as_bytes());
    }
    let p = inline_backrefs(pattern)?;
    if has_backref(p.as_bytes()) {
        return None;
    }
    escapes(p.as_bytes())
}

/// Is there a `\1`..`\9` (one digit) outside classes, or a `\g`, `\k`?
fn has_backref(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let digit_after = b.get(i + 2).is_some_and(u8::is_ascii_digit);
                match b.get(i + 1) {
                    Some(b'g' | b'k') => return true,
                    Some(b'1'..=b'9') if !digit_after => return true,
                    _ => {}
                }
                i += 2;
            }
            b'[' => match super::prefilter::class_end(b, i) {
                Some(e) => i = e,
                None => return false,
            },
            _ => i += 1,
        }
    }
    false
}

/// Each backreference replaced by `(?:` its group's pattern `)`.
fn inline_backrefs(p: &str) -> Option<String> {
    let b = p.as_bytes();
    // A copy sits under the flags of its new place, not the group's.
    if has_inline_flags(b) {
        return None;
    }
    // (content start, content end) of each capturing group, in number order.
    let mut groups: Vec<(usize, Option<usize>)> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut out = String::with_capacity(p.len() * 2);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let n = b.get(i + 1).copied()?;
                match n {
                    b'g' | b'k' => return None,
                    b'1'..=b'9' if !b.get(i + 2).is_some_and(u8::is_ascii_digit) => {
                        let (s, e) = *groups.get(usize::from(n - b'1'))?;
                        out.push_str("(?:");
                        out.push_str(&p[s..e?]);
                        out.push(')');
                    }
                    _ => out.push_str(p.get(i..i + 2)?),
                }
                i += 2;
                continue;
            }
            b'[' => {
                let e = super::prefilter::class_end(b, i)?;
                out.push_str(&p[i..e]);
                i = e;
                continue;
            }
            b'(' => {
                let content = capture_content(&b[i..]).map(|skip| i + skip);
                if let Some(s) = content {
                    open.push(Some(groups.len()));
                    groups.push((s, None));
                } else {
                    open.push(None);
                }
            }
            b')' => {
                if let Some(g) = open.pop()? {
                    groups[g].1 = Some(i);
                }
            }
            _ => {}
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    Some(out)
}

/// For a `(` that opens a capturing group (plain or named), the offset of
/// its content; `None` for other groups.
fn capture_content(g: &[u8]) -> Option<usize> {
    if g.get(1) != Some(&b'?') {
        return Some(1);
    }
    let named = |at: usize, close: u8| {
        let name_start = g
            .get(at)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
        let end = g[at..].iter().position(|&c| c == close)?;
        name_start.then_some(at + end + 1)
    };
    match (g.get(2), g.get(3)) {
        (Some(b'<'), _) => named(3, b'>'),
        (Some(b'P'), Some(b'<')) => named(4, b'>'),
        (Some(b'\''), _) => named(3, b'\''),
        _ => None,
    }
}

/// `(?i)`, `(?-m:`, `(?n)`, ...: flags switched inside the pattern; or a
/// branch reset `(?|`, which numbers groups differently.
fn has_inline_flags(b: &[u8]) -> bool {
    b.windows(3).any(|w| {
        w[0] == b'(' && w[1] == b'?' && (w[2].is_ascii_lowercase() || b"-^|".contains(&w[2]))
    })
}

/// `\e`, octal escapes, Perl's class contents and possessive quantifiers
/// in regex-syntax's terms (see the module docs).
fn escapes(b: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(b.len() + 16);
    let mut i = 0;
    // The last thing written was a quantifier (so a `+` now is possessive).
    let mut quantified = false;
    while i < b.len() {
        let c = b[i];
        let was_quantified = std::mem::take(&mut quantified);
        match c {
            b'\\' => {
                let (text, used) = escape(&b[i..], false)?;
                out.push_str(&text);
                i += used;
            }
            b'[' => i = class(b, i, &mut out)?,
            b'+' if was_quantified => i += 1,
            b'*' | b'+' | b'?' => {
                quantified = !(c == b'?' && out.ends_with('('));
                out.push(char::from(c));
                i += 1;
            }
            b'{' => {
                let close = b[i..].iter().position(|&x| x == b'}').map(|e| i + e);
                let counted = close.filter(|&e| {
                    let inner = &b[i + 1..e];
                    !inner.is_empty() && inner.iter().all(|x| x.is_ascii_digit() || *x == b',')
                });
                match counted {
                    Some(e) => {
                        out.push_str(std::str::from_utf8(&b[i..=e]).ok()?);
                        quantified = true;
                        i = e + 1;
                    }
                    None => {
                        out.push('{');
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(char::from(c));
                i += 1;
            }
        }
    }
    Some(out)
}

/// One escape at the start of `b` as regex-syntax should see it, and how
/// many bytes it took. In a class, `\1`..`\7` are octal too.
fn escape(b: &[u8], in_class: bool) -> Option<(String, usize)> {
    let n = *b.get(1)?;
    let octal = |from: usize, max: usize| {
        let len = b[from..]
            .iter()
            .take(max)
            .take_while(|d| (b'0'..=b'7').contains(d))
            .count();
        let digits = std::str::from_utf8(&b[from..from + len]).ok()?;
        let v = if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, 8).ok()?
        };
        (v <= 0xff).then(|| (format!("\\x{v:02x}"), from + len))
    };
    match n {
        b'e' => Some(("\\x1b".to_string(), 2)),
        // `\cX`: control-X (its `X` may be `[`).
        b'c' => {
            let x = b.get(2).filter(|x| x.is_ascii_graphic())?;
            Some((format!("\\x{:02x}", x.to_ascii_uppercase() ^ 0x40), 3))
        }
        // Quoted text would need its own scan.
        b'Q' => None,
        b'0' => octal(1, 3),
        b'1'..=b'3'
            if b.get(2..4)
                .is_some_and(|d| d.iter().all(|d| (b'0'..=b'7').contains(d))) =>
        {
            octal(1, 3)
        }
        b'1'..=b'7' if in_class => octal(1, 3),
        _ if !n.is_ascii() => None,
        _ => Some((std::str::from_utf8(&b[..2]).ok()?.to_string(), 2)),
    }
}

/// Copy the class opening at `b[start]` to `out` in regex-syntax's terms;
/// returns the index past its `]`.
fn class(b: &[u8], start: usize, out: &mut String) -> Option<usize> {
    let mut i = start + 1;
    out.push('[');
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    if b.get(i) == Some(&b']') {
        out.push_str("\\]");
        i += 1;
    }
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let (text, used) = escape(&b[i..], true)?;
                out.push_str(&text);
                i += used;
            }
            b'[' if b.get(i + 1) == Some(&b':') => {
                let close = b[i + 2..].windows(2).position(|w| w == b":]")?;
                out.push_str(std::str::from_utf8(&b[i..i + close + 4]).ok()?);
                i += close + 4;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => return None,
            // `&&` and `~~` are set operators to regex-syntax.
            c @ (b'&' | b'~') if b.get(i + 1) == Some(&c) => {
                out.push_str(if c == b'&' { "\\&\\&" } else { "\\~\\~" });
                i += 2;
            }
            b'[' => {
                out.push_str("\\[");
                i += 1;
            }
            b']' => {
                out.push(']');
                return Some(i + 1);
            }
            c => {
                out.push(char::from(c));
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(p: &str) -> Option<String> {
        superset_syntax(p)
    }

    #[test]
    fn escapes_become_hex() {
        assert_eq!(rw(r"\e\$B").unwrap(), r"\x1b\$B");
        assert_eq!(rw(r"[\042\223]{2}\0").unwrap(), r"[\x22\x93]{2}\x00");
        assert_eq!(rw(r"a\101b").unwrap(), r"a\x41b");
        assert_eq!(rw(r"[\1-\7]").unwrap(), r"[\x01-\x07]");
        assert_eq!(rw(r"\c[x").unwrap(), r"\x1bx");
        assert!(rw(r"\Qa[\E").is_none());
    }

    #[test]
    fn class_contents_in_regex_syntax_terms() {
        assert_eq!(rw(r"[e3[_\W]x").unwrap(), r"[e3\[_\W]x");
        assert_eq!(
            rw(r"[]a&&b~~[:alpha:]]").unwrap(),
            r"[\]a\&\&b\~\~[:alpha:]]"
        );
        assert_eq!(rw(r"[^]x]").unwrap(), r"[^\]x]");
        assert!(rw(r"[a--b]").is_none());
    }

    #[test]
    fn possessive_becomes_greedy() {
        assert_eq!(rw(r"[^>]++x*+y?+z{2,3}+").unwrap(), r"[^>]+x*y?z{2,3}");
        assert_eq!(rw(r"a+?b(?:c)+").unwrap(), r"a+?b(?:c)+");
        assert_eq!(rw(r"\++").unwrap(), r"\++");
    }

    #[test]
    fn backreferences_copy_their_group() {
        assert_eq!(
            rw(r"^([[:xdigit:]]{3})-\1$").unwrap(),
            r"^([[:xdigit:]]{3})-(?:[[:xdigit:]]{3})$"
        );
        assert_eq!(
            rw(r"(a)(?:x)(?<n>b+)\2").unwrap(),
            r"(a)(?:x)(?<n>b+)(?:b+)"
        );
        assert_eq!(rw(r"(a(b))\1").unwrap(), r"(a(b))(?:a(b))");
        assert_eq!(rw(r"(a)(b)\2\1").unwrap(), r"(a)(b)(?:b)(?:a)");
        assert!(rw(r"(a)(b\1)\2").is_none(), "a copy holding a reference");
        assert!(rw(r"(?|(a)|(b))\1").is_none(), "branch reset");
        assert!(rw(r"(?n)(a)\1").is_none());
        assert!(rw(r"(a\1)").is_none(), "reference inside its own group");
        assert!(rw(r"(a)\2").is_none(), "no such group");
        assert!(rw(r"(?i)(a)\1").is_none(), "inline flags");
        assert!(rw(r"(a)\g1").is_none());
        // In a class `\1` is octal, not a reference.
        assert_eq!(rw(r"(a)[\1]").unwrap(), r"(a)[\x01]");
    }

    /// Every rewrite is a superset: whatever PCRE2 matches, the rewritten
    /// pattern matches in regex-syntax's engine.
    #[test]
    fn rewrites_match_what_pcre_matches() {
        let cases: &[(&str, &[&[u8]])] = &[
            (
                r"[\042\223]{2}\S{0,16}[\042\223]{2}",
                &[b"\"\"ab\"\"", b"x\x93\x93y\"\x93"],
            ),
            (r"^[[:xdigit:]]{2}-([[:xdigit:]]{3})-\1$", &[b"ab-f00-f00"]),
            (r"d[e3[_\W]?x", &[b"d[x", b"dex", b"d_x"]),
            (r"<([^>]++)>\1", &[b"<ab>ab"]),
            (r"\e\$B", &[b"a\x1b$B"]),
        ];
        for (p, texts) in cases {
            let pcre = pcre2::bytes::RegexBuilder::new().build(p).unwrap();
            let r = rw(p).unwrap();
            let rust = regex::bytes::RegexBuilder::new(&r)
                .unicode(false)
                .build()
                .unwrap();
            for t in *texts {
                assert!(pcre.is_match(t).unwrap(), "pcre {p} {t:?}");
                assert!(rust.is_match(t), "{r} on {t:?}");
            }
        }
    }
}
