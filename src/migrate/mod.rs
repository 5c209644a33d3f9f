//! `amavisd-rs migrate`: amavisd.conf (Perl) to `amavis-compat.yaml`.
//!
//! The files are evaluated the way amavisd evaluates them (in order, in one
//! namespace that starts at amavisd 2.13's defaults, then
//! `supply_after_defaults`), by a small evaluator for the Perl subset real
//! configs use. The result is written as YAML with the `file:line` of every
//! value; whatever is not carried over becomes one warning line.

mod ast;
mod builtins;
mod emit;
mod eval;
mod expr;
mod known;
mod lexer;
mod notes;
mod parser;
mod tables;
mod terms;
mod value;
mod yaml;

use std::path::{Path, PathBuf};

pub use eval::Warning;

/// The migrated configuration and the lines for stderr.
#[derive(Debug, Clone)]
pub struct MigrateOutput {
    pub yaml: String,
    /// Each `file:line: text — reason`.
    pub warnings: Vec<String>,
}

/// Why nothing could be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The input is not Perl at all (an unrendered template, a truncated file).
    #[error("{file}:{line}: not a Perl amavisd config ({reason}): {text}")]
    NotPerl {
        file: String,
        line: u32,
        text: String,
        reason: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("no amavisd configuration found (looked for {0})")]
    NotFound(String),
}

impl MigrateError {
    /// 2 for input that is not Perl, 1 for anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            MigrateError::NotPerl { .. } => 2,
            _ => 1,
        }
    }
}

/// Migrate the given files and conf.d directories (in order); with no
/// input, the host's default amavisd configuration.
pub fn migrate(inputs: &[PathBuf]) -> Result<MigrateOutput, MigrateError> {
    let inputs = if inputs.is_empty() {
        default_inputs(Path::new("/"))
    } else {
        inputs.to_vec()
    };
    if inputs.is_empty() {
        return Err(MigrateError::NotFound(
            "/usr/share/amavis/conf.d + /etc/amavis/conf.d, /etc/amavisd.conf, \
             /etc/amavis/amavisd.conf, /etc/amavisd/amavisd.conf, /usr/local/etc/amavisd.conf"
                .into(),
        ));
    }
    let mut st = eval::State::new();
    for input in &inputs {
        if input.is_dir() {
            let (files, skipped) = run_parts(input).map_err(|e| io(input, e))?;
            for s in skipped {
                st.warnings.push(Warning {
                    file: s.display().to_string(),
                    line: 1,
                    text: "(whole file)".into(),
                    reason: "run-parts skips this file name (only A-Z a-z 0-9 _ - allowed); \
                             amavisd never reads it, so it is not migrated"
                        .into(),
                });
            }
            for f in files {
                load_file(&mut st, &f)?;
            }
        } else {
            load_file(&mut st, input)?;
        }
    }
    let (yaml, warnings) = emit::emit(&mut st);
    Ok(MigrateOutput {
        yaml,
        warnings: warnings.iter().map(ToString::to_string).collect(),
    })
}

fn io(p: &Path, e: std::io::Error) -> MigrateError {
    MigrateError::Io {
        path: p.display().to_string(),
        source: e,
    }
}

/// Read, check and run one file.
fn load_file(st: &mut eval::State, path: &Path) -> Result<(), MigrateError> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let src = String::from_utf8_lossy(&bytes).into_owned();
    let name = path.display().to_string();
    let nodes = parse_source(&name, &src)?;
    st.run_file(&name, &src, &nodes);
    Ok(())
}

/// Lex and parse, turning "this is not Perl" into [`MigrateError::NotPerl`].
fn parse_source(name: &str, src: &str) -> Result<Vec<parser::Node>, MigrateError> {
    let not_perl = |line: u32, reason: String| MigrateError::NotPerl {
        file: name.to_string(),
        line,
        text: src
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .unwrap_or("")
            .trim()
            .to_string(),
        reason,
    };
    let toks = lexer::lex(src).map_err(|e| not_perl(e.line, e.msg))?;
    parser::parse(&toks).map_err(|e| not_perl(e.line, e.msg))
}

/// `include_config_files(...)` from inside a config.
pub(crate) fn include(st: &mut eval::State, file: &str, optional: bool) -> Result<(), String> {
    if st.include_depth >= 8 {
        return Err("include_config_files nested too deeply".into());
    }
    let src = match std::fs::read(file) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) if optional => return Ok(()),
        Err(e) => return Err(format!("include_config_files({file}): {e}")),
    };
    let nodes = parse_source(file, &src).map_err(|e| e.to_string())?;
    st.include_depth += 1;
    st.run_file(file, &src, &nodes);
    st.include_depth -= 1;
    Ok(())
}

/// What amavisd reads without `-c`, relative to `root` (for tests).
pub fn default_inputs(root: &Path) -> Vec<PathBuf> {
    let debian: Vec<PathBuf> = ["usr/share/amavis/conf.d", "etc/amavis/conf.d"]
        .iter()
        .map(|d| root.join(d))
        .filter(|d| d.is_dir())
        .collect();
    if !debian.is_empty() {
        return debian;
    }
    [
        "etc/amavisd.conf",
        "etc/amavis/amavisd.conf",
        "etc/amavisd/amavisd.conf",
        "usr/local/etc/amavisd.conf",
    ]
    .iter()
    .map(|f| root.join(f))
    .find(|f| f.is_file())
    .into_iter()
    .collect()
}

/// `run-parts --list DIR`: regular files (or links to them) named
/// `[A-Za-z0-9_-]+`, in byte order. Also returns the files it skips.
pub fn run_parts(dir: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut names: Vec<(String, PathBuf)> = vec![];
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if p.is_dir() {
            continue;
        }
        names.push((e.file_name().to_string_lossy().into_owned(), p));
    }
    names.sort();
    let valid = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let (ok, skipped): (Vec<_>, Vec<_>) = names.into_iter().partition(|(n, _)| valid(n));
    Ok((
        ok.into_iter().map(|x| x.1).collect(),
        skipped.into_iter().map(|x| x.1).collect(),
    ))
}

/// Evaluate Perl source text without files (property tests): must never panic.
pub fn evaluate_text(src: &str) -> Result<MigrateOutput, MigrateError> {
    let nodes = parse_source("input", src)?;
    let mut st = eval::State::new();
    st.run_file("input", src, &nodes);
    let (yaml, warnings) = emit::emit(&mut st);
    Ok(MigrateOutput {
        yaml,
        warnings: warnings.iter().map(ToString::to_string).collect(),
    })
}
