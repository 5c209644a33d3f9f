//! Dot-stuffing for the DATA phase of the reinjection client (RFC 5321
//! 4.5.2): the spool keeps the message unstuffed, so it is redone on the
//! way out, chunk by chunk.

/// Redoes SMTP dot-stuffing over a byte stream split at arbitrary points.
#[derive(Default)]
pub struct DotStuffer {
    /// True when the next byte starts a line.
    not_first: bool,
    last: u8,
}

impl DotStuffer {
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        // Copy whole lines at once (memchr): only a `.` right after a line
        // feed, or at the very start, needs a second dot.
        out.reserve(data.len() + 16);
        let mut rest = data;
        while !rest.is_empty() {
            let at_line_start = !self.not_first || self.last == b'\n';
            if at_line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            out.extend_from_slice(&rest[..end]);
            self.last = rest[end - 1];
            self.not_first = true;
            rest = &rest[end..];
        }
    }

    /// Terminate: add a CRLF if the message did not end with one, then `.CRLF`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.not_first && self.last != b'\n' {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_across_chunks() {
        let mut s = DotStuffer::default();
        let mut out = Vec::new();
        s.push(b".a\r\nb\r", &mut out);
        s.push(b"\n..c\r\n", &mut out);
        s.push(b".", &mut out);
        s.finish(&mut out);
        assert_eq!(out, b"..a\r\nb\r\n...c\r\n..\r\n.\r\n");
    }

    /// The byte-at-a-time definition the line-at-a-time `push` must equal.
    fn stuff_reference(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut last = b'\n';
        for &b in chunks.iter().flatten() {
            if last == b'\n' && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            last = b;
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn dot_stuffing_equals_the_bytewise_definition(
            chunks in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b".\r\na".to_vec()), 0..12),
                0..6,
            )
        ) {
            let mut s = DotStuffer::default();
            let mut out = Vec::new();
            for c in &chunks {
                s.push(c, &mut out);
            }
            proptest::prop_assert_eq!(out, stuff_reference(&chunks));
        }
    }
}
