//! Local-file quarantine with amavisd's names (`virus-%m`, `spam-%m.gz`,
//! `banned-%m`, `badh-%m`) under `quarantinedir/<first char of mail_id>/`,
//! with `X-Envelope-From`/`X-Envelope-To` prepended. Directories 0700,
//! files 0600. A failed quarantine is an error: the caller answers 451.

use crate::config::Config;
use crate::message::spool::Spool;
use crate::policy::decide::Category;
use crate::smtp::envelope::Envelope;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where a category is quarantined, if anywhere: (method template, to).
fn method_for(c: &Config, cat: Category) -> Option<&str> {
    let (method, to) = match cat {
        Category::Virus => (&c.virus_quarantine_method, &c.virus_quarantine_to),
        Category::Banned => (&c.banned_files_quarantine_method, &c.banned_quarantine_to),
        Category::Spam => (&c.spam_quarantine_method, &c.spam_quarantine_to),
        Category::BadHeader => (&c.bad_header_quarantine_method, &c.bad_header_quarantine_to),
        _ => return None,
    };
    to.as_ref()?;
    let m = method.as_deref()?;
    m.strip_prefix("local:")
}

/// Quarantine the message if the configuration asks for it. Returns the
/// path relative to `quarantinedir` (`4/virus-4jupkh0DsX6V`), as logged.
pub fn quarantine(
    c: &Config,
    cat: Category,
    spam_score: Option<f64>,
    env: &Envelope,
    mail_id: &str,
    spool: &Spool,
) -> io::Result<Option<String>> {
    let Some(dir) = &c.quarantinedir else {
        return Ok(None);
    };
    let Some(template) = method_for(c, cat) else {
        return Ok(None);
    };
    if cat == Category::Spam
        && let (Some(cut), Some(s)) = (c.sa_quarantine_cutoff_level, spam_score)
        && s >= cut
    {
        return Ok(None);
    }
    let name = template.replace("%m", mail_id).replace("%i", mail_id);
    if name.contains('/') || name.starts_with('.') {
        return Err(io::Error::other(format!("bad quarantine name `{name}`")));
    }
    let sub = mail_id.chars().next().unwrap_or('_').to_string();
    let rel = format!("{sub}/{name}");
    write_file(
        &dir.join(&sub),
        &dir.join(&rel),
        env,
        spool,
        name.ends_with(".gz"),
    )?;
    Ok(Some(rel))
}

fn write_file(
    sub: &Path,
    path: &PathBuf,
    env: &Envelope,
    spool: &Spool,
    gz: bool,
) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(sub)?;
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let mut w: Box<dyn Write> = if gz {
        Box::new(flate2::write::GzEncoder::new(
            f,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(io::BufWriter::new(f))
    };
    let clean = |s: &str| crate::message::edit::sanitize(s);
    w.write_all(format!("X-Envelope-From: <{}>\r\n", clean(&env.sender)).as_bytes())?;
    let to: Vec<String> = env
        .recipients
        .iter()
        .map(|r| format!("<{}>", clean(&r.address)))
        .collect();
    w.write_all(format!("X-Envelope-To: {}\r\n", to.join(",\r\n ")).as_bytes())?;
    let mut r = spool.reader()?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])?;
    }
    w.flush()?;
    drop(w);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn env() -> Envelope {
        crate::smtp::envelope::test_envelope()
    }

    #[test]
    fn virus_plain_spam_gz_modes() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_yaml(&format!("quarantinedir: '{}'\n", dir.path().display()), "t")
            .unwrap();
        let spool = Spool::from_bytes(b"Subject: x\r\n\r\nbody\r\n".to_vec());
        let rel = quarantine(&c, Category::Virus, None, &env(), "4jupkh0DsX6V", &spool)
            .unwrap()
            .unwrap();
        assert_eq!(rel, "4/virus-4jupkh0DsX6V");
        let p = dir.path().join(&rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(
            "X-Envelope-From: <alice@example.org>\r\nX-Envelope-To: <bob@example.com>\r\nSubject: x"
        ));
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("4"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let rel = quarantine(&c, Category::Spam, Some(20.0), &env(), "Zq", &spool)
            .unwrap()
            .unwrap();
        assert_eq!(rel, "Z/spam-Zq.gz");
        let mut d =
            flate2::read::GzDecoder::new(std::fs::File::open(dir.path().join(rel)).unwrap());
        let mut s = String::new();
        d.read_to_string(&mut s).unwrap();
        assert!(s.ends_with("body\r\n"));
        assert_eq!(
            quarantine(&c, Category::Clean, None, &env(), "x", &spool).unwrap(),
            None
        );
    }

    #[test]
    fn no_quarantinedir_no_file_and_failure_is_an_error() {
        let c = Config::from_yaml("", "t").unwrap();
        let spool = Spool::from_bytes(b"x".to_vec());
        assert_eq!(
            quarantine(&c, Category::Virus, None, &env(), "a", &spool).unwrap(),
            None
        );
        let c = Config::from_yaml("quarantinedir: '/proc/no-such-dir'\n", "t").unwrap();
        assert!(quarantine(&c, Category::Virus, None, &env(), "a", &spool).is_err());
    }
}
