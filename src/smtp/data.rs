//! The DATA phase reader: undoes dot-stuffing, finds the end of data, and
//! closes the SMTP smuggling hole (CVE-2023-51764 and friends).
//!
//! Only `<CR><LF>.<CR><LF>` ends the message (the `<CR><LF>` of the DATA
//! command counts as the first one). A bare `<LF>` is rewritten to
//! `<CR><LF>` (Postfix >= 3.9's default `smtpd_forbid_bare_newline =
//! normalize`, postconf(5)), but a `.` line that follows or is ended by a
//! bare `<LF>` never ends DATA. So what we forward has canonical line ends
//! only, and no next hop — a Postfix before 3.9 with `smtpd_forbid_bare_newline
//! = no` included — can read a second transaction into it. amavisd-new's
//! own output had the same property: it stored lines split on `<LF>` and
//! wrote them back with `<CR><LF>`. Bare `<CR>` is ordinary content, as in
//! Postfix, and passes byte-exact. smtp-proto's `DataReceiver` is not used:
//! it keeps bare `<LF>` and misses a dot on the first line of DATA.

use memchr::memchr2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line; `crlf` = the previous line ended in `<CR><LF>`.
    Start { crlf: bool },
    /// The line began with a dot (removed as stuffing).
    Dot { crlf: bool },
    /// The line is `.` then `<CR>` so far.
    DotCr { crlf: bool },
    /// Inside a line.
    Mid,
    /// Inside a line, a `<CR>` held back until we know what follows.
    MidCr,
}

/// Incremental DATA reader; feed it input as it arrives.
#[derive(Debug)]
pub struct DataReader {
    state: State,
    /// A bare `<LF>` was seen (for `reject`, and for the log).
    pub bare_lf: bool,
}

impl Default for DataReader {
    fn default() -> Self {
        DataReader {
            state: State::Start { crlf: true },
            bare_lf: false,
        }
    }
}

impl DataReader {
    /// Append the message bytes in `input` to `out`. Returns how many input
    /// bytes were consumed and whether the end of data was reached (then the
    /// rest of `input` is the next command, pipelined).
    pub fn ingest(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            i += 1;
            self.state = match self.state {
                State::Start { crlf } => match b {
                    b'.' => State::Dot { crlf },
                    b'\r' => State::MidCr,
                    b'\n' => self.bare(out),
                    _ => {
                        out.push(b);
                        State::Mid
                    }
                },
                State::Dot { crlf } => match b {
                    b'\r' => State::DotCr { crlf },
                    // `.<LF>`: not an end; an empty line (the dot was stuffing).
                    b'\n' => self.bare(out),
                    _ => {
                        out.push(b);
                        State::Mid
                    }
                },
                // `.<CR><LF>` after a `<CR><LF>`: the end of data.
                State::DotCr { crlf: true } if b == b'\n' => return (i, true),
                // Otherwise a held-back `<CR>` (also after `<LF>.`, which is
                // content, not an end) is resolved by what follows it.
                State::DotCr { .. } | State::MidCr => Self::after_cr(b, out),
                State::Mid => match b {
                    b'\r' => State::MidCr,
                    b'\n' => self.bare(out),
                    _ => {
                        // Fast path: copy up to the next line-end byte.
                        let start = i - 1;
                        let end = memchr2(b'\r', b'\n', &input[i..]).map_or(input.len(), |p| i + p);
                        out.extend_from_slice(&input[start..end]);
                        i = end;
                        State::Mid
                    }
                },
            };
        }
        (i, false)
    }

    /// The byte after a held-back `<CR>`: `<CR><LF>` ends a line; any other
    /// byte makes the `<CR>` ordinary content (as Postfix passes bare `<CR>`).
    fn after_cr(b: u8, out: &mut Vec<u8>) -> State {
        match b {
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                State::Start { crlf: true }
            }
            b'\r' => {
                out.push(b'\r');
                State::MidCr
            }
            _ => {
                out.extend_from_slice(&[b'\r', b]);
                State::Mid
            }
        }
    }

    fn bare(&mut self, out: &mut Vec<u8>) -> State {
        self.bare_lf = true;
        out.extend_from_slice(b"\r\n");
        State::Start { crlf: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in every two-piece split; all must agree.
    fn read(input: &[u8]) -> (Vec<u8>, Option<usize>, bool) {
        let mut first: Option<(Vec<u8>, Option<usize>, bool)> = None;
        for cut in 0..=input.len() {
            let mut r = DataReader::default();
            let mut out = Vec::new();
            let (n, done) = r.ingest(&input[..cut], &mut out);
            let end = if done {
                Some(n)
            } else {
                let (m, done) = r.ingest(&input[cut..], &mut out);
                done.then_some(cut + m)
            };
            let got = (out, end, r.bare_lf);
            match &first {
                None => first = Some(got),
                Some(f) => assert_eq!(f, &got, "split at {cut}"),
            }
        }
        first.unwrap()
    }

    #[test]
    fn standard_end_and_unstuffing() {
        let (out, end, bare) = read(b"a\r\n..b\r\n.c\r\n.\r\nNOOP\r\n");
        assert_eq!(out, b"a\r\n.b\r\nc\r\n");
        assert_eq!(end, Some(15));
        assert!(!bare);
    }

    #[test]
    fn first_line_dot_and_empty_message() {
        assert_eq!(read(b"..x\r\n.\r\n").0, b".x\r\n");
        let (out, end, _) = read(b".\r\n");
        assert!(out.is_empty());
        assert_eq!(end, Some(3));
    }

    #[test]
    fn smuggling_sequences_never_end_data() {
        for seq in [
            &b"a\n.\nb"[..],
            b"a\n.\r\nb",
            b"a\r\n.\nb",
            b"a\r.\rb",
            b"a\r.\r\nb",
        ] {
            let (out, end, _) = read(seq);
            assert_eq!(end, None, "{:?}", String::from_utf8_lossy(seq));
            assert!(!out.windows(5).any(|w| w == b"\r\n.\r\n"), "{out:?}");
            // No bare LF survives.
            for (i, b) in out.iter().enumerate() {
                assert!(*b != b'\n' || (i > 0 && out[i - 1] == b'\r'), "{out:?}");
            }
        }
    }

    #[test]
    fn bare_lf_normalized_bare_cr_kept() {
        let (out, _, bare) = read(b"a\nb\rc\r\r\nd\n.\r\n");
        assert_eq!(out, b"a\r\nb\rc\r\r\nd\r\n\r\n");
        assert!(bare);
    }
}
