//! Builders for test messages and archives (generated, not committed).
#![allow(dead_code)]

use base64::Engine;
use std::io::{Cursor, Write};

/// A PE32 GUI executable header as file(1) 5.44 recognises it
/// ("PE32 executable (GUI) Intel 80386, for MS Windows").
pub fn pe_exe() -> Vec<u8> {
    let mut v = vec![0u8; 0x200];
    v[..2].copy_from_slice(b"MZ");
    v[0x3c] = 0x40;
    let o = 0x40;
    v[o..o + 4].copy_from_slice(b"PE\0\0");
    v[o + 4..o + 6].copy_from_slice(&0x14cu16.to_le_bytes());
    v[o + 6..o + 8].copy_from_slice(&1u16.to_le_bytes());
    v[o + 20..o + 22].copy_from_slice(&0xe0u16.to_le_bytes());
    v[o + 22..o + 24].copy_from_slice(&0x0102u16.to_le_bytes());
    v[o + 24..o + 26].copy_from_slice(&0x10bu16.to_le_bytes());
    v[o + 24 + 68..o + 24 + 70].copy_from_slice(&2u16.to_le_bytes());
    v
}

/// An attachment: (declared file name, MIME type, content).
pub struct Att<'a> {
    pub name: &'a str,
    pub ctype: &'a str,
    pub data: &'a [u8],
}

/// multipart/mixed with a text part and base64 attachments.
pub fn message(atts: &[Att]) -> Vec<u8> {
    let mut m = String::from(
        "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: test\r\n\
         Date: Wed, 25 Nov 2026 21:16:27 +0000\r\nMessage-ID: <t@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n\
         --XyZ\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nPlease see the attachment.\r\n",
    );
    for a in atts {
        let b64 = base64::engine::general_purpose::STANDARD.encode(a.data);
        m.push_str(&format!(
            "--XyZ\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
            a.ctype, a.name, a.name
        ));
        for line in b64.as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(line).unwrap());
            m.push_str("\r\n");
        }
    }
    m.push_str("--XyZ--\r\n");
    m.into_bytes()
}

/// A zip of (name, content) pairs, deflated.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, data) in files {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A tar of (name, content) pairs.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// RAR 4.x archive headers (stored members), per RARLAB's technote.
/// CRCs are left zero: only names are read.
pub fn rar4(files: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut v = b"Rar!\x1a\x07\x00".to_vec();
    // Main header: crc, type 0x73, flags 0, size 13, 6 reserved bytes.
    v.extend_from_slice(&[0, 0, 0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]);
    for (name, data, encrypted) in files {
        let flags: u16 = 0x8000 | if *encrypted { 0x04 } else { 0 };
        let size = 32 + name.len() as u16;
        v.extend_from_slice(&[0, 0, 0x74]);
        v.extend_from_slice(&flags.to_le_bytes());
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes()); // PACK_SIZE
        v.extend_from_slice(&(data.len() as u32).to_le_bytes()); // UNP_SIZE
        v.push(2); // HOST_OS win32
        v.extend_from_slice(&[0; 4]); // FILE_CRC
        v.extend_from_slice(&[0; 4]); // FTIME
        v.push(29); // UNP_VER
        v.push(0x30); // METHOD store
        v.extend_from_slice(&(name.len() as u16).to_le_bytes());
        v.extend_from_slice(&0x20u32.to_le_bytes()); // ATTR
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(data);
    }
    v.extend_from_slice(&[0, 0, 0x7b, 0, 0x40, 7, 0]);
    v
}

fn vint(mut x: u64, out: &mut Vec<u8>) {
    loop {
        let b = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn rar5_block(header: &[u8], data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; 4]); // CRC32 (not checked)
    vint(header.len() as u64, out);
    out.extend_from_slice(header);
    out.extend_from_slice(data);
}

/// RAR 5.0 archive headers (stored members), per RARLAB's technote.
pub fn rar5(files: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut v = b"Rar!\x1a\x07\x01\x00".to_vec();
    rar5_block(&[1, 0, 0], &[], &mut v); // main: type 1, flags 0, archive flags 0
    for (name, data, encrypted) in files {
        let extra: Vec<u8> = if *encrypted { vec![3, 1, 0, 0] } else { vec![] };
        let mut h = Vec::new();
        vint(2, &mut h); // type: file
        vint(if extra.is_empty() { 0x02 } else { 0x03 }, &mut h);
        if !extra.is_empty() {
            vint(extra.len() as u64, &mut h);
        }
        vint(data.len() as u64, &mut h); // data size
        vint(0, &mut h); // file flags
        vint(data.len() as u64, &mut h); // unpacked size
        vint(0x20, &mut h); // attributes
        vint(0, &mut h); // compression info: store
        vint(0, &mut h); // host OS windows
        vint(name.len() as u64, &mut h);
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(&extra);
        rar5_block(&h, data, &mut v);
    }
    rar5_block(&[5, 0, 0], &[], &mut v);
    v
}

/// xz-compress with the `xz` program (xz-utils, priority "required" in
/// Debian): no xz encoder is among our crates.
pub fn xz(data: &[u8]) -> Vec<u8> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("xz")
        .args(["-c", "-1", "-T1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the xz tests need the xz program: apt-get install xz-utils");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}
