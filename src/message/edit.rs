//! Header edits as data: a block to prepend, fields to drop, a Subject to
//! rewrite. Applied as splices over the original header bytes; the body is
//! never touched.

use crate::message::head::Head;

/// Edits for one delivery (recipients with identical edits share one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Complete header lines (CRLF-terminated, already folded) to prepend,
    /// in amavisd's order.
    pub prepend: Vec<u8>,
    /// Drop every field whose name matches one of these (case-insensitive).
    pub remove_names: Vec<String>,
    /// Prefix inserted at the start of the Subject value (`***SPAM*** `).
    pub subject_tag: Option<String>,
}

impl HeaderEdits {
    /// Apply to the original header section `head_bytes` (the bytes before
    /// `head.body_offset`), giving the new header section.
    pub fn apply(&self, head_bytes: &[u8], head: &Head) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prepend.len() + head_bytes.len() + 64);
        out.extend_from_slice(&self.prepend);
        let mut pos = 0;
        let mut tagged = false;
        for f in &head.fields {
            if f.end > head_bytes.len() {
                break;
            }
            out.extend_from_slice(&head_bytes[pos..f.start]);
            pos = f.start;
            if self.remove_names.iter().any(|n| f.is(n)) {
                pos = f.end;
                continue;
            }
            if let Some(tag) = &self.subject_tag
                && !tagged
                && f.is("Subject")
            {
                tagged = true;
                let v = f.value_start;
                out.extend_from_slice(&head_bytes[f.start..v]);
                // Keep the usual single space after the colon, then the tag.
                let rest = &head_bytes[v..f.end];
                let ws = rest
                    .iter()
                    .take_while(|b| **b == b' ' || **b == b'\t')
                    .count();
                out.extend_from_slice(&rest[..ws.min(1)]);
                if ws == 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(sanitize(tag).as_bytes());
                out.extend_from_slice(&rest[ws.min(1)..]);
                pos = f.end;
            }
        }
        if let Some(tag) = &self.subject_tag
            && !tagged
        {
            // amavisd adds a Subject when there is none and a tag is due.
            out.extend_from_slice(&head_bytes[pos..]);
            // The blank line ending the header section (CRLF or LF, whatever
            // the line before it used): the Subject goes before it.
            let blank = if out.ends_with(b"\n\r\n") || out == b"\r\n" {
                2
            } else if out.ends_with(b"\n\n") || out == b"\n" {
                1
            } else {
                0
            };
            let keep_blank = blank > 0;
            if keep_blank {
                out.truncate(out.len() - blank);
            } else if !out.is_empty() && !out.ends_with(b"\n") {
                // Unterminated last field: end it, or Subject joins its value.
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("Subject: {}\r\n", sanitize(tag).trim_end()).as_bytes());
            if keep_blank {
                out.extend_from_slice(b"\r\n");
            }
            return out;
        }
        out.extend_from_slice(&head_bytes[pos..]);
        out
    }
}

/// Header text we insert must never contain line breaks or control bytes.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Fold a header field the way amavisd does: break at spaces before 78
/// columns, continuation lines start with one space.
pub fn fold_field(name: &str, value: &str) -> String {
    let words: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
    fold_units(name, &words)
}

/// Like [`fold_field`], but each unit is kept on one line even if it holds
/// spaces (amavisd keeps `autolearn=no autolearn_force=no` together).
pub fn fold_units<S: AsRef<str>>(name: &str, units: &[S]) -> String {
    let mut out = String::with_capacity(name.len() + 80);
    out.push_str(name);
    out.push(':');
    let mut col = name.len() + 1;
    for (i, unit) in units.iter().enumerate() {
        let unit = sanitize(unit.as_ref());
        if i > 0 && col + 1 + unit.len() > 78 {
            out.push_str("\r\n ");
            col = 1;
        } else {
            out.push(' ');
            col += 1;
        }
        out.push_str(&unit);
        col += unit.len();
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_remove_and_tag() {
        let m =
            b"X-Spam-Flag: YES\r\nSubject: Cheap\r\n meds\r\nX-Spam-Score: 3\r\nFrom: a\r\n\r\n";
        let h = Head::parse(m);
        let e = HeaderEdits {
            prepend: b"X-New: 1\r\n".to_vec(),
            remove_names: vec!["x-spam-flag".into(), "X-Spam-Score".into()],
            subject_tag: Some("***SPAM*** ".into()),
        };
        let out = e.apply(&m[..h.body_offset], &h);
        assert_eq!(
            out,
            b"X-New: 1\r\nSubject: ***SPAM*** Cheap\r\n meds\r\nFrom: a\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn tag_without_subject_adds_one_and_no_injection() {
        let m = b"From: a\r\n\r\n";
        let h = Head::parse(m);
        let e = HeaderEdits {
            subject_tag: Some("***SPAM***\r\nBcc: x ".into()),
            ..Default::default()
        };
        let out = e.apply(&m[..h.body_offset], &h);
        assert_eq!(
            out,
            b"From: a\r\nSubject: ***SPAM***  Bcc: x\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn added_subject_after_unterminated_field_is_its_own_line() {
        // Found by the mime_splice fuzz target.
        let m = b"From: a\r\nTo: b";
        let h = Head::parse(m);
        let e = HeaderEdits {
            subject_tag: Some("***SPAM*** ".into()),
            ..Default::default()
        };
        let out = e.apply(&m[..h.body_offset], &h);
        assert_eq!(out, b"From: a\r\nTo: b\r\nSubject: ***SPAM***\r\n".to_vec());
    }

    #[test]
    fn added_subject_goes_before_a_blank_line_after_mixed_endings() {
        // Found by the mime_splice fuzz target: LF-ended field, CRLF blank line.
        for (m, want) in [
            (
                &b"From: a\n\r\nbody"[..],
                &b"From: a\nSubject: T\r\n\r\n"[..],
            ),
            (b"From: a\r\n\n", b"From: a\r\nSubject: T\r\n\r\n"),
            (b"\r\nbody", b"Subject: T\r\n\r\n"),
        ] {
            let h = Head::parse(m);
            let e = HeaderEdits {
                subject_tag: Some("T".into()),
                ..Default::default()
            };
            assert_eq!(e.apply(&m[..h.body_offset], &h), want.to_vec());
        }
    }

    #[test]
    fn fold_plain_words() {
        let long = "word ".repeat(30);
        let f = fold_field("X-A", &long);
        assert!(f.split("\r\n").all(|l| l.len() <= 78));
        assert_eq!(
            f.replace("\r\n ", " "),
            format!("X-A: {}\r\n", long.trim_end())
        );
    }

    #[test]
    fn folding() {
        // amavisd-behaviour.md's observed folding.
        let f = fold_units(
            "X-Spam-Status",
            &[
                "No,",
                "score=2.3",
                "tagged_above=-999",
                "required=5",
                "tests=[OBFU_TEXT_ATTACH=1,",
                "RCVD_ILLEGAL_IP=1.3]",
                "autolearn=no autolearn_force=no",
            ],
        );
        assert_eq!(
            f,
            "X-Spam-Status: No, score=2.3 tagged_above=-999 required=5\r\n tests=[OBFU_TEXT_ATTACH=1, RCVD_ILLEGAL_IP=1.3]\r\n autolearn=no autolearn_force=no\r\n"
        );
    }
}
