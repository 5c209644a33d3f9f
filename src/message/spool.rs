//! The received message bytes, exactly as sent (dot-stuffing undone).
//!
//! Small messages stay in memory; once a body passes the threshold it moves
//! to a 0600 temp file under `tempbase`, so memory per session is bounded
//! whatever the message size. Immutable once DATA has ended.
//!
//! The temp file has no name (unlinked at creation, `O_TMPFILE` where the file
//! system has it): a filter killed with SIGKILL leaves nothing behind in
//! `tempbase`, so crashes cannot fill the disk with stale spool files.

use std::fs::File;
use std::io::{self, BufWriter, Cursor, Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;

/// Finished message bytes, in memory or in a nameless temp file (closed = gone).
#[derive(Debug)]
pub struct Spool {
    inner: Inner,
    len: u64,
}

#[derive(Debug)]
enum Inner {
    Mem(Vec<u8>),
    File(File),
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
            Inner::File(f) => Ok(Box::new(io::BufReader::with_capacity(
                64 * 1024,
                ReadAt { file: f, pos: 0 },
            ))),
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
    file: Option<BufWriter<File>>,
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
        if let Some(w) = &mut self.file {
            return w.write_all(data);
        }
        if self.mem.len() + data.len() <= self.threshold {
            self.mem.extend_from_slice(data);
            return Ok(());
        }
        // Mode 0600, and no directory entry to leave behind if we are killed.
        let tmp = tempfile::tempfile_in(self.tempbase)?;
        // O_TMPFILE files get 0666 & umask; keep amavisd's 0600 for the contents.
        tmp.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        let mut w = BufWriter::with_capacity(64 * 1024, tmp);
        w.write_all(&self.mem)?;
        w.write_all(data)?;
        self.mem = Vec::new();
        self.file = Some(w);
        Ok(())
    }

    pub fn finish(self) -> io::Result<Spool> {
        let inner = match self.file {
            None => Inner::Mem(self.mem),
            Some(w) => Inner::File(w.into_inner().map_err(|e| e.into_error())?),
        };
        Ok(Spool {
            inner,
            len: self.len,
        })
    }
}

/// A reader with its own position over a shared file (positioned reads), so
/// several readers of one spool never move each other's offsets.
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Inner::File(f) = &s.inner else {
            unreachable!()
        };
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        // Nameless while in use: a SIGKILL now would leave nothing in tempbase.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        // Two readers at once keep their own positions.
        let (mut a, mut b) = (s.reader().unwrap(), s.reader().unwrap());
        let mut x = [0u8; 4];
        a.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"1234");
        b.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"1234");
        a.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"5678");
    }
}
