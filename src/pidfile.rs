//! `$pid_file`: written once the ports are bound, handed to `daemon_user`
//! (as amavisd's Net::Server does), removed at a clean shutdown, so init
//! scripts and monitors (monit, `amavisd-nanny`-style checks) keep working.
//! A file naming another live process stops the start, as Net::Server's
//! "Pid_file already exists for running process" does.

use crate::config::Config;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The written pid file; dropping it removes the file if it still names us.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

/// The pid a pid file names, if it parses.
fn named_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl PidFile {
    /// Write `cfg.pid_file` (if set) with our pid. Call as root before
    /// privileges are dropped: the file is then given to `daemon_user`.
    pub fn create(cfg: &Config) -> anyhow::Result<Option<PidFile>> {
        let Some(path) = cfg.pid_file.as_ref().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(None);
        };
        let me = std::process::id();
        if let Some(pid) = named_pid(path)
            && pid != me
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            bail!(
                "pid_file: {} names process {pid}, which is running (another amavisd-rs?); \
                 stop it or remove the file",
                path.display()
            );
        }
        std::fs::write(path, format!("{me}\n"))
            .with_context(|| format!("pid_file: cannot write {}", path.display()))?;
        if nix::unistd::geteuid().is_root()
            && let Some((u, gid)) = crate::privileges::resolve(cfg)?
        {
            std::os::unix::fs::chown(path, Some(u.uid.as_raw()), Some(gid.as_raw()))
                .with_context(|| format!("pid_file: cannot chown {}", path.display()))?;
        }
        tracing::info!("pid {me} written to {}", path.display());
        Ok(Some(PidFile { path: path.clone() }))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Leave a file that a newer instance has since rewritten.
        if named_pid(&self.path) == Some(std::process::id())
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::warn!("pid_file: cannot remove {}: {e}", self.path.display());
        }
    }
}
