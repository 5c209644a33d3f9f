//! Member listing for the archive formats banned checks look into: zip,
//! tar, gzip, bzip2, xz (decoded through a quota-charging sink so bombs stop
//! early), 7z (names only, from the header) and RAR4/RAR5 (names only,
//! read from the block headers; unrar's licence is non-free).
//!
//! Every decoded byte is charged to one per-message [`Budget`], as amavisd's
//! `consumed_bytes` does, and every member issued counts against
//! `$MAXFILES`; running out is a [`Stop`], which ends decoding of the whole
//! message (amavisd: "Exceeded storage quota" / "Maximum number of files").

use super::magic;
use std::io::{self, Cursor, Read, Write};

/// Largest nested archive held in memory for recursion.
pub const MAX_KEEP: usize = 64 << 20;

/// Memory cap for one xz decoder, in KiB.
const XZ_MEM_LIMIT_KB: u32 = 80 * 1024;

/// The formats we open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    SevenZ,
    Rar,
}

impl Kind {
    /// The format for a part's short types, if we open it.
    pub fn from_short_types(types: &[&str]) -> Option<Kind> {
        types.iter().find_map(|t| match *t {
            "zip" => Some(Kind::Zip),
            "tar" => Some(Kind::Tar),
            "gz" => Some(Kind::Gzip),
            "bz2" => Some(Kind::Bzip2),
            "xz" => Some(Kind::Xz),
            "7z" => Some(Kind::SevenZ),
            "rar" => Some(Kind::Rar),
            _ => None,
        })
    }
}

/// One archive member as the banned check sees it.
#[derive(Debug, Default)]
pub struct Member {
    /// Declared names (gzip content can have several, as in amavisd).
    pub names: Vec<String>,
    /// Decoded content: all of it when it is itself an archive, else its
    /// first [`magic::HEAD_LEN`] bytes. None for name-only formats and for
    /// a member cut short by a limit.
    pub data: Option<Vec<u8>>,
    pub encrypted: bool,
    /// Present but not decodable (encrypted, unsupported method): amavisd's `U`.
    pub undecipherable: bool,
    pub is_dir: bool,
}

impl Member {
    fn named(name: String) -> Member {
        Member {
            names: Some(name).filter(|n| !n.is_empty()).into_iter().collect(),
            ..Member::default()
        }
    }
}

/// A decoding limit was hit; decoding of the message stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop(pub String);

/// Byte quota and file count shared by one message's decoding.
#[derive(Debug)]
pub struct Budget {
    pub quota: u64,
    pub bytes_left: u64,
    pub maxfiles: u64,
    pub files: u64,
}

impl Budget {
    pub fn new(quota: u64, maxfiles: u64) -> Budget {
        Budget {
            quota,
            bytes_left: quota,
            maxfiles,
            files: 0,
        }
    }

    /// Charge decoded bytes; `force` charges without failing (MIME decoding).
    pub fn charge(&mut self, bytes: u64, by: &str, force: bool) -> Result<(), Stop> {
        if bytes > self.bytes_left && !force {
            return Err(self.over(by, bytes));
        }
        self.bytes_left = self.bytes_left.saturating_sub(bytes);
        Ok(())
    }

    fn over(&self, by: &str, bytes: u64) -> Stop {
        Stop(format!(
            "Exceeded storage quota {} bytes by {by}; last chunk {bytes} bytes",
            self.quota
        ))
    }

    /// Count one more part or member (amavisd issues the name first).
    pub fn issue(&mut self) -> Result<(), Stop> {
        if self.files >= self.maxfiles {
            return Err(Stop(format!(
                "Maximum number of files ({}) exceeded",
                self.maxfiles
            )));
        }
        self.files += 1;
        Ok(())
    }
}

/// The members found (also those before a limit stopped the listing, as
/// amavisd keeps them), a limit hit, and a damage note (a damaged archive
/// is left "atomic" by amavisd, not UNCHECKED).
#[derive(Debug, Default)]
pub struct Listing {
    pub members: Vec<Member>,
    pub stop: Option<Stop>,
    pub error: Option<String>,
}

/// List (and where possible decode) the members of `data`. `names` are the
/// archive's own declared names, for naming gzip/bzip2/xz content.
pub fn list(kind: Kind, data: &[u8], names: &[String], budget: &mut Budget) -> Listing {
    let mut out = Listing::default();
    let r = match kind {
        Kind::Zip => zip(data, budget, &mut out),
        Kind::Tar => tar(data, budget, &mut out),
        Kind::Gzip => {
            let mut d = flate2::read::MultiGzDecoder::new(data);
            let mut first = Vec::new();
            if let Some(n) = d.header().and_then(|h| h.filename()) {
                first.push(String::from_utf8_lossy(n).into_owned());
            }
            let names = derived_names(first, names, &[".gz", ".Z", ".z"], &[".tgz"]);
            single_member(&mut d, "do_gunzip", names, budget, &mut out)
        }
        Kind::Bzip2 => {
            let mut d = bzip2::read::MultiBzDecoder::new(data);
            let names = derived_names(vec![], names, &[".bz2", ".bz"], &[".tbz2", ".tbz"]);
            single_member(&mut d, "do_uncompress", names, budget, &mut out)
        }
        Kind::Xz => {
            let names = derived_names(vec![], names, &[".xz"], &[".txz"]);
            // Streaming, with the LZMA2 dictionary capped (xz -9 needs 65 MiB).
            let mut d = lzma_rust2::XzReader::new_mem_limit(data, true, XZ_MEM_LIMIT_KB);
            single_member(&mut d, "do_uncompress", names, budget, &mut out)
        }
        Kind::SevenZ => seven_z(data, budget, &mut out),
        Kind::Rar => rar_list(data, budget, &mut out),
    };
    out.stop = r.err();
    out
}

/// amavisd's do_uncompress naming: strip the compression suffix, `.tgz` →
/// `.tar`; a name stored in the gzip header comes first.
fn derived_names(
    mut out: Vec<String>,
    names: &[String],
    strip: &[&str],
    to_tar: &[&str],
) -> Vec<String> {
    for n in names.iter().filter(|n| !n.is_empty()) {
        let mut name = n.clone();
        if let Some(s) = strip.iter().find(|s| name.ends_with(*s)) {
            name.truncate(name.len() - s.len());
        } else if let Some(s) = to_tar.iter().find(|s| name.ends_with(*s)) {
            name.truncate(name.len() - s.len());
            name.push_str(".tar");
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

type Decoded = Result<(Vec<u8>, Option<String>), Stop>;

fn single(r: &mut dyn Read, by: &'static str, budget: &mut Budget) -> Decoded {
    let mut sink = Sink::new(budget, by);
    let res = io::copy(r, &mut sink).map(|_| ());
    sink.finish(res)
}

/// Keep the member in every case; its data only when decoding finished.
fn push_decoded(mut m: Member, r: Decoded, out: &mut Listing) -> Result<(), Stop> {
    match r {
        Ok((data, err)) => {
            m.data = Some(data);
            if let Some(e) = err {
                out.error = Some(format!("{}: {e}", m.names.first().map_or("", |s| s)));
            }
            out.members.push(m);
            Ok(())
        }
        Err(stop) => {
            out.members.push(m);
            Err(stop)
        }
    }
}

fn single_member(
    r: &mut dyn Read,
    by: &'static str,
    names: Vec<String>,
    budget: &mut Budget,
    out: &mut Listing,
) -> Result<(), Stop> {
    budget.issue()?;
    let decoded = single(r, by, budget);
    push_decoded(
        Member {
            names,
            ..Member::default()
        },
        decoded,
        out,
    )
}

/// A Write target that charges the budget and keeps what recursion needs.
struct Sink<'b> {
    budget: &'b mut Budget,
    by: &'static str,
    buf: Vec<u8>,
    keep_all: Option<bool>,
    stop: Option<Stop>,
}

impl<'b> Sink<'b> {
    fn new(budget: &'b mut Budget, by: &'static str) -> Self {
        Sink {
            budget,
            by,
            buf: Vec::new(),
            keep_all: None,
            stop: None,
        }
    }

    /// The decoded bytes and a decode error note, or the limit hit.
    fn finish(self, res: io::Result<()>) -> Decoded {
        if let Some(s) = self.stop {
            return Err(s);
        }
        Ok((self.buf, res.err().map(|e| e.to_string())))
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if let Err(s) = self.budget.charge(b.len() as u64, self.by, false) {
            self.stop = Some(s);
            return Err(io::Error::other("decoding quota exceeded"));
        }
        match self.keep_all {
            None => {
                self.buf.extend_from_slice(b);
                if self.buf.len() >= magic::HEAD_LEN {
                    let keep = magic::is_archive(&magic::short_types(&self.buf));
                    self.keep_all = Some(keep);
                    if !keep {
                        self.buf.truncate(magic::HEAD_LEN);
                    }
                }
            }
            Some(true) => {
                if self.buf.len() + b.len() > MAX_KEEP {
                    self.stop = Some(Stop(format!(
                        "Nested archive larger than {MAX_KEEP} bytes by {}",
                        self.by
                    )));
                    return Err(io::Error::other("nested archive too large"));
                }
                self.buf.extend_from_slice(b);
            }
            Some(false) => {}
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn zip(data: &[u8], budget: &mut Budget, out: &mut Listing) -> Result<(), Stop> {
    let mut z = match ::zip::ZipArchive::new(Cursor::new(data)) {
        Ok(z) => z,
        Err(e) => {
            out.error = Some(format!("not a zip: {e}"));
            return Ok(());
        }
    };
    for i in 0..z.len() {
        budget.issue()?;
        let (mut m, size, supported) = match z.by_index_raw(i) {
            Ok(f) => {
                let name = f
                    .name()
                    .map(|n| n.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(f.name_raw()).into_owned());
                let mut m = Member::named(name);
                m.is_dir = f.is_dir();
                m.encrypted = f.encrypted();
                let ok = matches!(
                    f.compression(),
                    ::zip::CompressionMethod::Stored | ::zip::CompressionMethod::Deflated
                );
                (m, f.size(), ok)
            }
            Err(e) => {
                out.error = Some(format!("zip member {i}: {e}"));
                return Ok(());
            }
        };
        if m.encrypted || !supported {
            m.undecipherable = true;
        } else if !m.is_dir {
            // Declared size first: a bomb stops before any inflating.
            if size > budget.bytes_left {
                out.members.push(m);
                return Err(budget.over("do_unzip", size));
            }
            match z.by_index(i) {
                Ok(mut f) => {
                    let decoded = single(&mut f, "do_unzip", budget);
                    push_decoded(m, decoded, out)?;
                    if out.error.is_some() {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => {
                    out.error = Some(format!("{}: {e}", m.names.first().map_or("", |s| s)));
                    out.members.push(m);
                    return Ok(());
                }
            }
        }
        out.members.push(m);
    }
    Ok(())
}

fn tar(data: &[u8], budget: &mut Budget, out: &mut Listing) -> Result<(), Stop> {
    let mut a = ::tar::Archive::new(data);
    let entries = match a.entries() {
        Ok(e) => e,
        Err(e) => {
            out.error = Some(e.to_string());
            return Ok(());
        }
    };
    for entry in entries {
        let mut e = match entry {
            Ok(e) => e,
            Err(err) => {
                out.error = Some(err.to_string());
                return Ok(());
            }
        };
        let kind = e.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
        {
            continue;
        }
        budget.issue()?;
        let mut m = Member::named(String::from_utf8_lossy(&e.path_bytes()).into_owned());
        m.is_dir = kind.is_dir();
        if kind.is_file() {
            let decoded = single(&mut e, "do_tar", budget);
            push_decoded(m, decoded, out)?;
            if out.error.is_some() {
                return Ok(());
            }
        } else {
            out.members.push(m);
        }
    }
    Ok(())
}

fn seven_z(data: &[u8], budget: &mut Budget, out: &mut Listing) -> Result<(), Stop> {
    let password = sevenz_rust2::Password::empty();
    // Header buffers only; no member is decompressed.
    match sevenz_rust2::Archive::read_with_memory_limit(
        &mut Cursor::new(data),
        &password,
        16 * 1024,
    ) {
        Ok(a) => {
            let encrypted = a
                .blocks
                .iter()
                .any(|b| b.coders.iter().any(|c| c.encoder_method_id() == AES_ID));
            for f in &a.files {
                budget.issue()?;
                let mut m = Member::named(f.name.clone());
                m.is_dir = f.is_directory;
                m.encrypted = encrypted && f.has_stream;
                m.undecipherable = m.encrypted;
                out.members.push(m);
            }
        }
        // Encrypted header: even the names are hidden.
        Err(e) if is_password_error(&e) => {
            budget.issue()?;
            out.members.push(Member {
                encrypted: true,
                undecipherable: true,
                ..Member::default()
            });
        }
        Err(e) => out.error = Some(format!("7z: {e}")),
    }
    Ok(())
}

/// We build sevenz-rust2 without `aes256`: an encrypted header shows up
/// as an unsupported AES method.
fn is_password_error(e: &sevenz_rust2::Error) -> bool {
    use sevenz_rust2::Error as E;
    match e {
        E::PasswordRequired | E::MaybeBadPassword(_) => true,
        E::UnsupportedCompressionMethod(m) => m.contains("AES"),
        _ => false,
    }
}

/// 7-Zip's method id for AES-256 + SHA-256.
const AES_ID: &[u8] = &[0x06, 0xf1, 0x07, 0x01];

fn rar_list(data: &[u8], budget: &mut Budget, out: &mut Listing) -> Result<(), Stop> {
    let (entries, error) = if data.starts_with(rar::RAR5_SIG) {
        rar::rar5_names(data)
    } else {
        rar::rar4_names(data)
    };
    out.error = error;
    for e in entries {
        budget.issue()?;
        let mut m = Member::named(e.name);
        m.is_dir = e.is_dir;
        m.encrypted = e.encrypted;
        m.undecipherable = e.encrypted;
        out.members.push(m);
    }
    Ok(())
}

mod rar;
