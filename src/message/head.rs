//! The header section of a message as byte ranges into the original bytes,
//! so edits are splices and nothing else is re-encoded.

/// One header field: name and the byte range of the whole field, folded
/// continuation lines and the final line ending included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub start: usize,
    pub end: usize,
    /// Offset of the first byte after `Name:`.
    pub value_start: usize,
}

impl Field {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
    /// The raw value (after the colon, folding kept, line ending dropped).
    pub fn raw_value<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        let v = &head[self.value_start..self.end];
        let v = v.strip_suffix(b"\n").unwrap_or(v);
        v.strip_suffix(b"\r").unwrap_or(v)
    }
    /// The unfolded value as text (lossy for 8-bit), trimmed.
    pub fn value(&self, head: &[u8]) -> String {
        let v = String::from_utf8_lossy(self.raw_value(head));
        v.replace("\r\n", "").replace('\n', "").trim().to_string()
    }
}

/// The parsed header section: fields plus where the body starts.
#[derive(Debug, Clone)]
pub struct Head {
    pub fields: Vec<Field>,
    /// Offset of the first body byte (after the blank line), or the end of
    /// the input if there is no blank line.
    pub body_offset: usize,
    /// True when a blank line ended the header section within the input.
    pub complete: bool,
}

impl Head {
    /// Parse the header section at the start of `bytes`. Lines that are not
    /// fields (no colon) end the header section, as mail readers treat them.
    pub fn parse(bytes: &[u8]) -> Head {
        let mut fields: Vec<Field> = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let line_end = bytes[pos..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| pos + i + 1);
            let Some(line_end) = line_end else {
                // Unterminated last line: header-only message without newline.
                if let Some(f) = start_field(bytes, pos, bytes.len()) {
                    fields.push(f);
                    return Head {
                        fields,
                        body_offset: bytes.len(),
                        complete: false,
                    };
                }
                break;
            };
            let line = &bytes[pos..line_end];
            if line == b"\r\n" || line == b"\n" {
                return Head {
                    fields,
                    body_offset: line_end,
                    complete: true,
                };
            }
            if (line[0] == b' ' || line[0] == b'\t') && !fields.is_empty() {
                fields.last_mut().expect("non-empty").end = line_end;
            } else if let Some(f) = start_field(bytes, pos, line_end) {
                fields.push(f);
            } else {
                // Not a header line: the body starts here.
                return Head {
                    fields,
                    body_offset: pos,
                    complete: true,
                };
            }
            pos = line_end;
        }
        Head {
            fields,
            body_offset: pos.min(bytes.len()),
            complete: false,
        }
    }

    pub fn get<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.is(name))
    }

    pub fn first_value(&self, bytes: &[u8], name: &str) -> Option<String> {
        self.get(name).next().map(|f| f.value(bytes))
    }
}

fn start_field(bytes: &[u8], start: usize, end: usize) -> Option<Field> {
    let line = &bytes[start..end];
    let colon = line.iter().position(|b| *b == b':')?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
        return None;
    }
    Some(Field {
        name: String::from_utf8_lossy(name).into_owned(),
        start,
        end,
        value_start: start + colon + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_folding() {
        let m = b"Subject: hi\r\n there\r\nFrom: a@b\r\n\r\nbody\r\n";
        let h = Head::parse(m);
        assert!(h.complete);
        assert_eq!(h.fields.len(), 2);
        assert_eq!(h.fields[0].value(m), "hi there");
        assert_eq!(&m[h.body_offset..], b"body\r\n");
        assert_eq!(h.first_value(m, "from").as_deref(), Some("a@b"));
    }

    #[test]
    fn bare_lf_and_no_blank_line() {
        let m = b"A: 1\nB: 2\n";
        let h = Head::parse(m);
        assert!(!h.complete);
        assert_eq!(h.fields.len(), 2);
        assert_eq!(h.body_offset, m.len());
        let m = b"A: 1\nnot a header\nmore";
        let h = Head::parse(m);
        assert_eq!(&m[h.body_offset..], b"not a header\nmore");
    }
}
