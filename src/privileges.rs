//! `$daemon_user` / `$daemon_group`: started as root, the daemon binds its
//! ports, then gives up root for good (supplementary groups, gid, uid — in
//! that order, as Net::Server does for amavisd) before it accepts anything.
//! Then it checks that the directories it writes are writable by whoever
//! it now is, so a wrong owner is a start-up error, not a 451 per message.

use crate::config::Config;
use anyhow::{Context, bail};
use nix::unistd::{Gid, Group, Uid, User, geteuid, setgid, setgroups, setuid};
use std::path::Path;

/// Resolve a user name or numeric uid.
fn user(name: &str) -> anyhow::Result<User> {
    let found = match name.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(name),
    };
    match found {
        Ok(Some(u)) => Ok(u),
        Ok(None) => bail!("daemon_user: no such user `{name}`; refusing to run as root"),
        Err(e) => bail!("daemon_user: cannot look up `{name}`: {e}; refusing to run as root"),
    }
}

/// Resolve a group name or numeric gid.
fn group(name: &str) -> anyhow::Result<Gid> {
    let found = match name.parse::<u32>() {
        Ok(n) => Group::from_gid(Gid::from_raw(n)),
        Err(_) => Group::from_name(name),
    };
    match found {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => bail!("daemon_group: no such group `{name}`; refusing to run as root"),
        Err(e) => bail!("daemon_group: cannot look up `{name}`: {e}; refusing to run as root"),
    }
}

/// The user and group `daemon_user`/`daemon_group` name (group: the user's
/// own when unset); `None` when `daemon_user` is unset. For check-config too.
pub fn resolve(cfg: &Config) -> anyhow::Result<Option<(User, Gid)>> {
    let Some(name) = cfg.daemon_user.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let u = user(name)?;
    let gid = match cfg.daemon_group.as_deref().filter(|s| !s.is_empty()) {
        Some(g) => group(g)?,
        None => u.gid,
    };
    if u.uid.is_root() {
        bail!("daemon_user: `{name}` is root; name an unprivileged user");
    }
    Ok(Some((u, gid)))
}

/// Drop root if we have it and `daemon_user` is set. Call after binding
/// the listeners and before accepting. Not root: the keys are ignored.
pub fn drop_privileges(cfg: &Config) -> anyhow::Result<()> {
    let wanted = cfg.daemon_user.as_deref().filter(|s| !s.is_empty());
    if !geteuid().is_root() {
        if wanted.is_some() || cfg.daemon_group.is_some() {
            tracing::info!(
                "not started as root (uid {}): daemon_user/daemon_group ignored",
                geteuid()
            );
        }
        return Ok(());
    }
    let Some((u, gid)) = resolve(cfg)? else {
        tracing::warn!("running as root: set daemon_user (e.g. amavis) to drop privileges");
        return Ok(());
    };
    setgroups(&[gid]).context("daemon_user: setgroups failed")?;
    setgid(gid).context("daemon_group: setgid failed")?;
    setuid(u.uid).context("daemon_user: setuid failed")?;
    // setuid as root sets real, effective and saved ids: there is no way back.
    if setuid(Uid::from_raw(0)).is_ok() {
        bail!("daemon_user: could regain root after dropping privileges");
    }
    tracing::info!("running as user {} (uid {}), gid {gid}", u.name, u.uid);
    Ok(())
}

/// Fail unless the process can create files in `dir`; `key` names the
/// setting in the error.
fn writable(key: &str, dir: &Path) -> anyhow::Result<()> {
    tempfile::Builder::new()
        .prefix(".amavisd-rs-check")
        .tempfile_in(dir)
        .map(drop)
        .with_context(|| {
            format!(
                "{key}: {} is not writable by uid {} (make the directory owned by daemon_user)",
                dir.display(),
                geteuid()
            )
        })
}

/// The start-up check of `tempbase` and `quarantinedir` (created 0700 if missing).
pub fn check_dirs(cfg: &Config) -> anyhow::Result<()> {
    writable("tempbase", &cfg.tempbase)?;
    if let Some(q) = &cfg.quarantinedir {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(q)
            .with_context(|| format!("quarantinedir: cannot create {}", q.display()))?;
        writable("quarantinedir", q)?;
    }
    Ok(())
}
