//! RAR member names from the block headers (RAR 1.5-4.x and RAR 5.0
//! formats as described in RARLAB's technote); nothing is decompressed.
pub const RAR4_SIG: &[u8] = b"Rar!\x1a\x07\x00";
pub const RAR5_SIG: &[u8] = b"Rar!\x1a\x07\x01\x00";

/// One member as the headers describe it.
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub encrypted: bool,
}

/// Members found and why parsing stopped early, if it did.
type Found = (Vec<Entry>, Option<String>);

fn u16le(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64)
}

fn u32le(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
}

/// RAR4: 7-byte block heads (crc, type, flags, size) + optional ADD_SIZE.
pub fn rar4_names(d: &[u8]) -> Found {
    let mut out = Vec::new();
    let Some(mut pos) = d.windows(RAR4_SIG.len()).position(|w| w == RAR4_SIG) else {
        return (out, Some("RAR4 signature not found".into()));
    };
    pos += RAR4_SIG.len();
    while pos < d.len() {
        let (Some(kind), Some(flags), Some(size)) =
            (d.get(pos + 2), u16le(d, pos + 3), u16le(d, pos + 5))
        else {
            return (out, Some("truncated RAR4 block header".into()));
        };
        if size < 7 {
            return (out, Some("bad RAR4 block size".into()));
        }
        let head = &d[pos..d.len().min(pos + size as usize)];
        let mut add = if flags & 0x8000 != 0 || *kind == 0x74 || *kind == 0x7a {
            u32le(d, pos + 7).unwrap_or(0)
        } else {
            0
        };
        match *kind {
            // Main header with encrypted headers: names are hidden.
            0x73 if flags & 0x0080 != 0 => {
                out.push(Entry {
                    name: String::new(),
                    is_dir: false,
                    encrypted: true,
                });
                return (out, None);
            }
            0x74 => {
                let large = flags & 0x0100 != 0;
                if large {
                    add += u32le(head, 32).unwrap_or(0) << 32;
                }
                let Some(nlen) = u16le(head, 26) else {
                    return (out, Some("truncated RAR4 file header".into()));
                };
                let at = if large { 40 } else { 32 };
                let Some(raw) = head.get(at..at + nlen as usize) else {
                    return (out, Some("truncated RAR4 file name".into()));
                };
                // LHD_UNICODE (0x200): "oem name\0encoded unicode".
                let name = match raw.iter().position(|&b| b == 0) {
                    Some(z) if flags & 0x0200 != 0 => decode_unicode(&raw[..z], &raw[z + 1..]),
                    Some(z) => String::from_utf8_lossy(&raw[..z]).into_owned(),
                    // Without the flag, RAR 3+ stores UTF-8 or the OEM name.
                    None => String::from_utf8_lossy(raw).into_owned(),
                };
                out.push(Entry {
                    name: name.replace('\\', "/"),
                    is_dir: flags & 0x00e0 == 0x00e0,
                    encrypted: flags & 0x0004 != 0,
                });
            }
            0x7b => return (out, None),
            _ => {}
        }
        pos = match pos
            .checked_add(size as usize)
            .and_then(|p| p.checked_add(add as usize))
        {
            Some(p) => p,
            None => return (out, Some("bad RAR4 data size".into())),
        };
    }
    (out, None)
}

/// RAR 3.x compact Unicode names: a high byte, then 2-bit opcodes per
/// character (literal low byte, low byte + high byte, full 16-bit unit, or a
/// run copied from the OEM name with an optional correction).
fn decode_unicode(oem: &[u8], enc: &[u8]) -> String {
    let mut out: Vec<u16> = Vec::new();
    let max = oem.len().max(enc.len()) * 2;
    let Some(&high) = enc.first() else {
        return String::from_utf8_lossy(oem).into_owned();
    };
    let high = (high as u16) << 8;
    let (mut pos, mut flags, mut bits) = (1usize, 0u8, 0u8);
    let byte = |i: usize| enc.get(i).copied();
    while pos < enc.len() && out.len() < max {
        if bits == 0 {
            flags = enc[pos];
            pos += 1;
            bits = 8;
        }
        match flags >> 6 {
            0 => {
                let Some(b) = byte(pos) else { break };
                out.push(b as u16);
                pos += 1;
            }
            1 => {
                let Some(b) = byte(pos) else { break };
                out.push(b as u16 | high);
                pos += 1;
            }
            2 => {
                let (Some(lo), Some(hi)) = (byte(pos), byte(pos + 1)) else {
                    break;
                };
                out.push(u16::from_le_bytes([lo, hi]));
                pos += 2;
            }
            _ => {
                let Some(len) = byte(pos) else { break };
                pos += 1;
                let correction = if len & 0x80 != 0 {
                    let Some(c) = byte(pos) else { break };
                    pos += 1;
                    Some(c)
                } else {
                    None
                };
                for _ in 0..(len & 0x7f) as usize + 2 {
                    let Some(&o) = oem.get(out.len()) else { break };
                    out.push(match correction {
                        Some(c) => o.wrapping_add(c) as u16 | high,
                        None => o as u16,
                    });
                }
            }
        }
        flags <<= 2;
        bits -= 2;
    }
    String::from_utf16_lossy(&out)
}

/// A RAR5 variable-length integer: value and bytes used.
fn vint(d: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *d.get(at + i)?;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// RAR5: crc32, vint header size, then type, flags, extra/data sizes.
pub fn rar5_names(d: &[u8]) -> Found {
    let mut out = Vec::new();
    let mut pos = RAR5_SIG.len();
    while pos < d.len() {
        let Some(r) = rar5_block(d, pos, &mut out) else {
            return (out, Some("truncated or bad RAR5 block".into()));
        };
        match r {
            Some(next) => pos = next,
            None => return (out, None),
        }
    }
    (out, None)
}

/// Parse one block; Some(Some(next)) to go on, Some(None) at the end.
fn rar5_block(d: &[u8], pos: usize, out: &mut Vec<Entry>) -> Option<Option<usize>> {
    let (hsize, n) = vint(d, pos + 4)?;
    let start = pos + 4 + n;
    let end = start.checked_add(usize::try_from(hsize).ok()?)?;
    let h = d.get(start..end)?;
    let (kind, mut at) = vint(h, 0)?;
    let (flags, k) = vint(h, at)?;
    at += k;
    let mut extra = 0;
    if flags & 1 != 0 {
        let (v, k) = vint(h, at)?;
        extra = v as usize;
        at += k;
    }
    let mut data = 0u64;
    if flags & 2 != 0 {
        let (v, k) = vint(h, at)?;
        data = v;
        at += k;
    }
    match kind {
        2 => {
            let (fflags, k) = vint(h, at)?;
            at += k;
            at += vint(h, at)?.1; // unpacked size
            at += vint(h, at)?.1; // attributes
            if fflags & 2 != 0 {
                at += 4;
            }
            if fflags & 4 != 0 {
                at += 4;
            }
            at += vint(h, at)?.1; // compression info
            at += vint(h, at)?.1; // host OS
            let (nlen, k) = vint(h, at)?;
            at += k;
            let name = h.get(at..at.checked_add(usize::try_from(nlen).ok()?)?)?;
            let extra_area = h.get(h.len().checked_sub(extra)?..)?;
            out.push(Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                is_dir: fflags & 1 != 0,
                encrypted: has_encryption_record(extra_area),
            });
        }
        // Archive encryption header: everything after is encrypted.
        4 => {
            out.push(Entry {
                name: String::new(),
                is_dir: false,
                encrypted: true,
            });
            return Some(None);
        }
        5 => return Some(None),
        _ => {}
    }
    Some(Some(end.checked_add(usize::try_from(data).ok()?)?))
}

/// Extra records: vint size, vint type (0x01 = file encryption), data.
fn has_encryption_record(mut x: &[u8]) -> bool {
    while let Some((size, n)) = vint(x, 0) {
        let Some(rec) = x.get(n..n + size as usize) else {
            return false;
        };
        if vint(rec, 0).map(|(t, _)| t) == Some(1) {
            return true;
        }
        x = &x[n + size as usize..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rar3_unicode_names() {
        // op 0 (low byte, high 0) for every character
        let enc = [0x00, 0x00, b't', 0xe9, b'.', b'e', 0x00, b'x', b'e'];
        assert_eq!(decode_unicode(b"t?.exe", &enc), "t\u{e9}.exe");
        // op 3: copy a run of 4+2 from the OEM name, then op 0: 'e'
        assert_eq!(
            decode_unicode(b"abc.exe", &[0x00, 0xc0, 0x04, b'e']),
            "abc.exe"
        );
        // op 2: a full UTF-16 unit (U+270C), then op 1: low byte + high byte 0x30
        assert_eq!(
            decode_unicode(b"??", &[0x30, 0x90, 0x0c, 0x27, 0x42]),
            "\u{270c}\u{3042}"
        );
        // truncated input never panics
        assert_eq!(decode_unicode(b"ab", &[0x00, 0x80, 0x0c]), "");
    }
}
