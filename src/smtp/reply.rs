//! SMTP replies: parsing the next hop's replies exactly as sent, and the one
//! place where outcomes become the texts amavisd answers with.

use std::fmt;

/// One SMTP reply, possibly multi-line. `lines` hold the text after the code
/// and separator (`2.0.0 Ok: queued as X`), so the reply can be relayed verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Code and text of the last line, e.g. `250 2.0.0 Ok: queued as X`:
    /// what amavisd quotes in `from MTA(...)` and logs as `queued_as`.
    pub fn one_line(&self) -> String {
        let last = self.lines.last().map(String::as_str).unwrap_or("");
        // A reply must never inject lines into ours.
        let clean: String = last.chars().filter(|c| !c.is_control()).collect();
        format!("{} {}", self.code, clean)
    }

    /// The enhanced status code of the first line, if it has one (`2.0.0`).
    pub fn enhanced(&self) -> Option<&str> {
        let first = self.lines.first()?;
        let word = first.split(' ').next()?;
        let parts: Vec<&str> = word.split('.').collect();
        (parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        .then_some(word)
    }

    /// Wire form with CRLFs (`250-...` continuation lines).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 == n { ' ' } else { '-' };
            let clean: String = text.chars().filter(|c| !c.is_control()).collect();
            out.extend_from_slice(format!("{}{}{}\r\n", self.code, sep, clean).as_bytes());
        }
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

/// Incremental parser for replies read from the next hop.
///
/// Hand-written rather than smtp-proto's `ResponseReceiver`, which splits
/// off the enhanced code and folds the lines: we relay replies verbatim.
#[derive(Debug, Default)]
pub struct ReplyParser {
    lines: Vec<String>,
}

/// Longest reply line we accept from a next hop (RFC 5321 says 512).
const MAX_REPLY_LINE: usize = 4096;
const MAX_REPLY_LINES: usize = 100;

impl ReplyParser {
    /// Feed one line (without CRLF). Returns the reply when it was the last line.
    pub fn line(&mut self, line: &[u8]) -> Result<Option<Reply>, String> {
        if line.len() > MAX_REPLY_LINE || self.lines.len() > MAX_REPLY_LINES {
            return Err("reply too long".into());
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if text.len() < 3 || !text.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
            return Err(format!("malformed reply line `{}`", text.escape_debug()));
        }
        let code: u16 = text[..3].parse().map_err(|_| "bad code")?;
        let sep = text.as_bytes().get(3).copied().unwrap_or(b' ');
        let rest = text.get(4..).unwrap_or("").to_string();
        self.lines.push(rest);
        match sep {
            b'-' => Ok(None),
            b' ' => Ok(Some(Reply {
                code,
                lines: std::mem::take(&mut self.lines),
            })),
            _ => Err(format!("malformed reply line `{}`", text.escape_debug())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multiline_and_keeps_text() {
        let mut p = ReplyParser::default();
        assert_eq!(p.line(b"250-mx.example.com").unwrap(), None);
        assert_eq!(p.line(b"250-PIPELINING").unwrap(), None);
        let r = p.line(b"250 DSN\r").unwrap().unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, vec!["mx.example.com", "PIPELINING", "DSN"]);
        let r = p.line(b"250 2.0.0 Ok: queued as 4XyZ").unwrap().unwrap();
        assert_eq!(r.one_line(), "250 2.0.0 Ok: queued as 4XyZ");
        assert_eq!(r.enhanced(), Some("2.0.0"));
        assert!(p.line(b"hello").is_err());
    }

    #[test]
    fn wire_form_strips_control_chars() {
        let r = Reply {
            code: 451,
            lines: vec!["a\r\nb".into(), "c".into()],
        };
        assert_eq!(r.to_wire(), b"451-ab\r\n451 c\r\n");
    }
}
