//! "Which bytes must every match contain one of?" A rule regex that needs
//! a `$`, `%` or `@` cannot match a text without one: a lookup in the
//! text's byte set (built once per message) then replaces a whole-text
//! lazy-DFA pass. The set is derived from the pattern's syntax tree; of the
//! sets that would do, the one least likely to occur in mail text is kept.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A set of byte values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    /// The bytes occurring in `text`.
    pub fn of(text: &[u8]) -> ByteSet {
        let mut seen = [false; 256];
        for &b in text {
            seen[b as usize] = true;
        }
        let mut s = ByteSet::default();
        for (b, _) in seen.iter().enumerate().filter(|x| *x.1) {
            s.insert(b as u8);
        }
        s
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    pub fn union(mut self, o: ByteSet) -> ByteSet {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a |= b;
        }
        self
    }

    /// Do the two sets share a byte?
    pub fn meets(&self, o: &ByteSet) -> bool {
        self.0.iter().zip(o.0).any(|(a, b)| a & b != 0)
    }

    /// How often the bytes turn up in mail text, roughly (relative).
    fn weight(&self) -> u32 {
        (0..=255u8)
            .filter(|&b| self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0)
            .map(byte_weight)
            .sum()
    }
}

/// Rough relative frequency of a byte in rendered mail text.
fn byte_weight(b: u8) -> u32 {
    match b {
        b' ' => 1000,
        b'e' => 400,
        b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b'h' => 250,
        b'l' | b'd' | b'c' | b'u' | b'm' => 120,
        b'a'..=b'z' => 50,
        b'A'..=b'Z' | b'0'..=b'9' => 30,
        b'.' | b',' | b'\n' | b'-' | b'/' | b':' => 20,
        b'!'..=b'~' => 5,
        _ => 1,
    }
}

/// A set of bytes every match of `hir` contains one of, `None` when there
/// is none (the pattern can match without consuming a byte of any set).
pub fn required(hir: &Hir) -> Option<ByteSet> {
    req(hir).map(|(s, _)| s)
}

fn req(hir: &Hir) -> Option<(ByteSet, u32)> {
    let with_weight = |s: ByteSet| (s, s.weight());
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(l) => {
            l.0.iter()
                .map(|&b| (single(b), byte_weight(b)))
                .min_by_key(|x| x.1)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut s = ByteSet::default();
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    s.insert(b);
                }
            }
            Some(with_weight(s))
        }
        HirKind::Class(Class::Unicode(u)) => {
            let c = u.to_byte_class()?;
            req(&Hir::class(Class::Bytes(c)))
        }
        HirKind::Repetition(r) if r.min == 0 => None,
        HirKind::Repetition(r) => req(&r.sub),
        HirKind::Capture(c) => req(&c.sub),
        HirKind::Concat(v) => v.iter().filter_map(req).min_by_key(|x| x.1),
        HirKind::Alternation(v) => {
            let mut s = ByteSet::default();
            for h in v {
                s = s.union(req(h)?.0);
            }
            Some(with_weight(s))
        }
    }
}

fn single(b: u8) -> ByteSet {
    let mut s = ByteSet::default();
    s.insert(b);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_of(p: &str) -> Option<Vec<u8>> {
        let h = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(p)
            .unwrap();
        required(&h).map(|s| (0..=255u8).filter(|&b| s.meets(&single(b))).collect())
    }

    #[test]
    fn picks_the_rarest_requirement() {
        assert_eq!(req_of(r"win \$\d+"), Some(b"$".to_vec()));
        assert_eq!(req_of(r"(?i)ab%"), Some(b"%".to_vec()));
        assert_eq!(req_of(r"a(?:@|=)b"), Some(b"=@".to_vec()));
        assert_eq!(req_of(r"x?y*"), None);
        assert_eq!(req_of(r"\b(?:a|b?)\b"), None);
        assert_eq!(req_of(r"[0-9]{2}"), Some(b"0123456789".to_vec()));
    }

    #[test]
    fn a_text_without_the_bytes_cannot_match() {
        let h = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(r"(?:\$|EUR)\s?\d")
            .unwrap();
        let s = required(&h).unwrap();
        assert!(!s.meets(&ByteSet::of(b"only 5 words here")));
        assert!(s.meets(&ByteSet::of(b"pay $ 5")));
    }
}
