//! The received message bytes, exactly as sent (dot-stuffing undone).
//!
//! Small messages stay in memory; once a body passes the threshold it moves
//! to a 0600 temp file under `tempbase`, so memory per session is bounded
//! whatever the message size. Immutable once DATA has ended.

use std::fs::File;
use std::io::{self, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;
use tempfile::NamedTempFile;

/// Finished message bytes, in memory or in an unlinked-on-drop temp file.
#[derive(Debug)]
pub struct Spool {
    inner: Inner,
    len: u64,
}

#[derive(Debug)]
enum Inner {
    Mem(Vec<u8>),
    File(NamedTempFile),
}

impl Spool {
    /// A spool holding `bytes` in memory (tests, `scan` on files).
    pub fn from_bytes(bytes: Vec<u8>) -> Spool {
        let len = bytes.len() as u64;
        Spool {
            inner: Inner::Mem(bytes),
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the bytes live on disk.
    pub fn is_file(&self) -> bool {
        matches!(self.inner, Inner::File(_))
    }

    /// A fresh reader from the first byte.
    pub fn reader(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        match &self.inner {
            Inner::Mem(v) => Ok(Box::new(Cursor::new(v.as_slice()))),
            Inner::File(f) => {
                let mut file = f.reopen()?;
                file.seek(SeekFrom::Start(0))?;
                Ok(Box::new(io::BufReader::with_capacity(64 * 1024, file)))
            }
        }
    }

    /// Up to `max` leading bytes (the header section and some body).
    pub fn prefix(&self, max: usize) -> io::Result<Vec<u8>> {
        match &self.inner {
            Inner::Mem(v) => Ok(v[..v.len().min(max)].to_vec()),
            Inner::File(_) => {
                let mut out = Vec::with_capacity(max.min(self.len as usize));
                self.reader()?.take(max as u64).read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }

    /// The whole message in memory. Callers bound this with `len()` first.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        self.prefix(self.len as usize)
    }

    /// Borrow the bytes without copying when they are in memory.
    pub fn as_slice(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Mem(v) => Some(v),
            Inner::File(_) => None,
        }
    }
}

/// Accumulates DATA bytes, switching to a temp file past the threshold.
pub struct SpoolWriter<'a> {
    tempbase: &'a Path,
    threshold: usize,
    mem: Vec<u8>,
    file: Option<(NamedTempFile, BufWriter<File>)>,
    len: u64,
}

impl<'a> SpoolWriter<'a> {
    pub fn new(tempbase: &'a Path, threshold: usize) -> Self {
        SpoolWriter {
            tempbase,
            threshold,
            mem: Vec::new(),
            file: None,
            len: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append bytes. Writes to the temp file are plain blocking writes: they
    /// land in the page cache in microseconds, cheaper than a thread hop.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        if let Some((_, w)) = &mut self.file {
            return w.write_all(data);
        }
        if self.mem.len() + data.len() <= self.threshold {
            self.mem.extend_from_slice(data);
            return Ok(());
        }
        // tempfile creates files with mode 0600.
        let tmp = tempfile::Builder::new()
            .prefix("amavisd-rs-")
            .tempfile_in(self.tempbase)?;
        let mut w = BufWriter::with_capacity(64 * 1024, tmp.reopen()?);
        w.write_all(&self.mem)?;
        w.write_all(data)?;
        self.mem = Vec::new();
        self.file = Some((tmp, w));
        Ok(())
    }

    pub fn finish(self) -> io::Result<Spool> {
        let inner = match self.file {
            None => Inner::Mem(self.mem),
            Some((tmp, mut w)) => {
                w.flush()?;
                Inner::File(tmp)
            }
        };
        Ok(Spool {
            inner,
            len: self.len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn small_stays_in_memory_large_spools_0600() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpoolWriter::new(dir.path(), 10);
        w.write(b"12345").unwrap();
        let s = w.finish().unwrap();
        assert!(!s.is_file());
        assert_eq!(s.read_all().unwrap(), b"12345");

        let mut w = SpoolWriter::new(dir.path(), 10);
        w.write(b"12345678").unwrap();
        w.write(b"\x00\xff\r\nabc").unwrap();
        let s = w.finish().unwrap();
        assert!(s.is_file());
        assert_eq!(s.len(), 15);
        assert_eq!(s.read_all().unwrap(), b"12345678\x00\xff\r\nabc");
        assert_eq!(s.prefix(3).unwrap(), b"123");
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(s);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
