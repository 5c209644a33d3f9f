//! `amavisd-rs`: serve, check-config, scan, migrate.
#![forbid(unsafe_code)]

use amavisd_rs::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "amavisd-rs",
    version,
    about = "Drop-in replacement for amavisd-new"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the filter in the foreground, logging to stderr.
    Serve {
        /// amavis-compat.yaml; without it, built-in defaults (listen
        /// 127.0.0.1:10024, forward smtp:[127.0.0.1]:10025).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file; exit 0 or print file:line:column: key: error.
    CheckConfig { file: PathBuf },
    /// Turn an amavisd.conf (or a Debian conf.d directory) into amavis-compat.yaml.
    /// Warnings (what is not carried over) go to stderr, one per line.
    Migrate {
        /// Files or conf.d directories; none = Debian's layering if present,
        /// else /etc/amavisd.conf, /etc/amavis/amavisd.conf, /usr/local/etc/amavisd.conf.
        inputs: Vec<PathBuf>,
        /// Write the YAML here instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Run the checks on message files (no reinjection) and report per file.
    Scan {
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// text, or json (one object per line).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Print a SpamAssassin-style report of the rules hit.
        #[arg(long)]
        explain: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn init_logging(level: u8) {
    let filter = match level {
        0 | 1 => "info",
        2 | 3 => "debug",
        _ => "trace",
    };
    let env = tracing_subscriber::EnvFilter::try_from_env("AMAVISD_RS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn load(path: &Option<PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Config::from_yaml("", "(defaults)").map_err(|e| e.to_string()),
    }
}

/// jemalloc rather than glibc's malloc: loading and compiling the rule set
/// churns through ~100 MB of short-lived allocations on several threads,
/// and glibc kept that memory (arenas per thread, free space inside the
/// heap that only `malloc_trim` returns): 40 MB after load, 88 MB after the
/// fixtures, against 24 MB and 55 MB with jemalloc, whose background thread
/// also hands unused pages back to the kernel while the server idles.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("amavisd-rs: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(cfg.log_level);
            if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
                tracing::debug!(error = %e, "jemalloc background thread not started");
            }
            // One async worker: the sessions only move bytes (the checks run
            // on the check pool, clamd, or the blocking pool), and a second
            // worker mostly woke up to steal tasks: measured without
            // scanners at 16 sessions, 2 workers gave 0.51-0.58 of the direct
            // smtp-source -> smtp-sink rate, 1 worker 0.68-0.80.
            // TOKIO_WORKER_THREADS=n overrides (tokio's own variable).
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
                b.worker_threads(1);
            }
            let rt = b.enable_all().build().expect("tokio runtime");
            match rt.block_on(amavisd_rs::smtp::server::serve(cfg, config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("amavisd-rs: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Scan {
            config,
            format,
            explain,
            files,
        } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("amavisd-rs: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(0);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(scan(cfg, &format, explain, &files))
        }
        Cmd::Migrate { inputs, output } => match amavisd_rs::migrate::migrate(&inputs) {
            Ok(out) => {
                for w in &out.warnings {
                    eprintln!("{w}");
                }
                match output {
                    Some(p) => {
                        if let Err(e) = std::fs::write(&p, &out.yaml) {
                            eprintln!("amavisd-rs: cannot write {}: {e}", p.display());
                            return ExitCode::FAILURE;
                        }
                    }
                    None => print!("{}", out.yaml),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("amavisd-rs: {e}");
                ExitCode::from(e.exit_code().clamp(1, 255) as u8)
            }
        },
        Cmd::CheckConfig { file } => match Config::load(&file) {
            Ok(cfg) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(check(cfg, &file))
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
    }
}

async fn scan(cfg: Config, format: &str, explain: bool, files: &[PathBuf]) -> ExitCode {
    use amavisd_rs::scan::report;
    let rt = match amavisd_rs::pipeline::Runtime::build(cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("amavisd-rs: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for f in files {
        let r = report::scan_file(&rt, f).await;
        failed |= r.error.is_some();
        if format == "json" {
            println!("{}", serde_json::to_string(&r).expect("json"));
        } else {
            print!("{}", report::to_text(&r));
            if explain {
                print!("{}", report::explain(&rt, f));
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// check-config beyond the syntax: compile everything and ask each clamd
/// for `zPING`/`zVERSION`. Exit 1 if no virus scanner answers.
async fn check(cfg: Config, file: &std::path::Path) -> ExitCode {
    // A daemon_user that does not resolve would stop a root start: say so now.
    if let Err(e) = amavisd_rs::privileges::resolve(&cfg) {
        eprintln!("{}: {e:#}", file.display());
        return ExitCode::from(2);
    }
    let scanner = amavisd_rs::scan::virus::VirusScanner::from_config(&cfg);
    if let Err(e) = amavisd_rs::pipeline::Runtime::build(cfg).await {
        eprintln!("{}: {e:#}", file.display());
        return ExitCode::from(2);
    }
    if let Some(v) = scanner {
        let health = v.health().await;
        let mut any_ok = false;
        for (name, r) in &health {
            match r {
                Ok(ver) => {
                    any_ok = true;
                    println!("virus scanner {name}: OK ({ver})");
                }
                Err(e) => println!("virus scanner {name}: NOT RESPONDING: {e}"),
            }
        }
        if !any_ok {
            eprintln!("{}: no virus scanner answers zPING", file.display());
            return ExitCode::from(1);
        }
    }
    println!("{}: OK", file.display());
    ExitCode::SUCCESS
}
