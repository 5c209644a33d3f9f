//! Criterion bench of the rule engine over the fixture messages: time to
//! load and compile the installed SpamAssassin rules, and time per message
//! (`check` on each fixture, and on all 20 in a row for a per-message mean).

use std::path::Path;

use amavisd_rs::rules::{LoadOptions, RuleSet};
use criterion::{Criterion, criterion_group};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    // RULES_MSGS=dir benches other messages (every *.eml there).
    let dir = std::env::var_os("RULES_MSGS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages"),
        std::path::PathBuf::from,
    );
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Nanoseconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`, the
/// clock `scripts/sa-bench.pl` reads for SpamAssassin; 0 if unreadable).
/// Not `/proc/thread-self/schedstat`: on this VM it moves only at the
/// 4 ms scheduler tick, which made a per-file figure over 30 passes
/// (0.5 ms a message) a multiple of 0.13 ms.
fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// Resident set size of this process in KiB (Linux), for the memory figure.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let opts = LoadOptions::default();
    let before = rss_kib();
    let t = std::time::Instant::now();
    let first = RuleSet::load(&opts).expect("installed rules");
    println!(
        "first load: {} rules in {:?}; RSS grew by {} KiB",
        first.rule_count(),
        t.elapsed(),
        rss_kib().saturating_sub(before)
    );
    drop(first);
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("load_compile_installed", |b| {
        b.iter(|| RuleSet::load(&opts).expect("installed rules"))
    });
    g.finish();

    let rs = RuleSet::load(&opts).expect("installed rules");
    // What `serve` does on a background thread right after a load (lazily
    // built automata, the prefilters' DFAs): the per-message figures are
    // the server's steady state, the load figure above excludes it.
    let t = std::time::Instant::now();
    rs.warm_up();
    println!("warm-up (background in the server): {:?}", t.elapsed());
    let msgs = fixtures();
    if std::env::var_os("RULES_PROFILE").is_some() {
        // Slowest rules summed over the fixtures (five warm passes), with
        // what kind of test and regex engine each one is.
        let mut sum: std::collections::HashMap<String, std::time::Duration> = Default::default();
        for pass in 0..6 {
            for (_, m) in &msgs {
                for (n, d) in rs.profile_rules(m) {
                    if pass > 0 {
                        *sum.entry(n).or_default() += d;
                    }
                }
            }
        }
        let info: std::collections::HashMap<&str, String> = rs
            .rules()
            .iter()
            .map(|r| {
                let dbg = format!("{:?}", r.test);
                let engine = ["Pcre", "LazyRust", "Rust"]
                    .into_iter()
                    .find(|e| dbg.contains(&format!("re: {e}(")) || dbg.contains(&format!("({e}(")))
                    .unwrap_or("-");
                let cf = if dbg.contains("context_free: true") {
                    "cf"
                } else {
                    ""
                };
                let pf = if r.prefiltered { "pf" } else { "" };
                let g = if r.gated { "gated" } else { "" };
                (
                    r.name.as_str(),
                    format!("{:?} {engine} {pf} {cf} {g}", r.kind),
                )
            })
            .collect();
        let mut v: Vec<_> = sum.into_iter().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        let total: std::time::Duration = v.iter().map(|x| x.1).sum();
        println!("time in non-meta rules over 20 fixtures x 5: {total:?}");
        let mut by_class: std::collections::BTreeMap<&str, std::time::Duration> =
            Default::default();
        for (n, d) in &v {
            *by_class.entry(info[n.as_str()].as_str()).or_default() += *d;
        }
        for (k, d) in &by_class {
            println!("{d:>12?} class {k}");
        }
        for (n, d) in v.iter().take(
            std::env::var("RULES_TOP")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(60),
        ) {
            println!("{d:>12?} {n} {}", info[n.as_str()]);
        }
    }
    let mut g = c.benchmark_group("check");
    g.bench_function("all_20_fixtures", |b| {
        b.iter(|| {
            for (_, m) in &msgs {
                std::hint::black_box(rs.check(m, None));
            }
        })
    });
    for (name, m) in &msgs {
        g.bench_function(name.as_str(), |b| b.iter(|| rs.check(m, None)));
    }
    g.finish();
}

/// One warm pass, then `passes` counted passes over the fixtures: the unit
/// for `valgrind --tool=callgrind --toggle-collect='*measured_passes*'`
/// (instruction counts, stable on a busy machine, for A/B decisions).
#[inline(never)]
fn measured_passes(rs: &RuleSet, msgs: &[(String, Vec<u8>)], passes: usize) -> f64 {
    let mut total = 0.0;
    for _ in 0..passes {
        for (_, m) in msgs {
            total += std::hint::black_box(rs.check(m, None)).score;
        }
    }
    total
}

criterion_group!(benches, bench);

/// The allocator the `amavisd-rs` binary uses, so RSS figures match.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Resident memory by kind of mapping (`RULES_SMAPS=1`): heap arenas,
/// anonymous maps (PCRE2's JIT code lives in its own), the binary.
fn print_smaps() {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let mut cur = String::new();
    for l in smaps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first().is_some_and(|a| a.contains('-') && a.len() > 8) {
            let perms = f.get(1).copied().unwrap_or("");
            cur = match f.get(5) {
                Some(p) => format!("{p} {perms}"),
                None => format!("[anon] {perms}"),
            };
        } else if f.first() == Some(&"Rss:") {
            *by.entry(cur.clone()).or_default() += f[1].parse::<u64>().unwrap_or(0);
        }
    }
    let mut v: Vec<_> = by.into_iter().filter(|x| x.1 >= 512).collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (k, kb) in v {
        println!("{kb:>8} KiB  {k}");
    }
}

fn main() {
    // RULES_PASSES=n: load once, check every fixture 1 + n times, no criterion.
    // RULES_SEQ=1 and RULES_EACH=1 add per-message figures (see below).
    if let Some(n) = std::env::var("RULES_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let rss0 = rss_kib();
        let t = std::time::Instant::now();
        let rs = RuleSet::load(&LoadOptions::default()).expect("installed rules");
        let load = t.elapsed();
        let rss1 = rss_kib();
        rs.warm_up(); // as `serve` does in the background
        let rss1w = rss_kib();
        let msgs = fixtures();
        for (_, m) in &msgs {
            rs.check(m, None); // fills the lazy DFAs' caches
        }
        if std::env::var_os("RULES_SEQ").is_some() {
            // As scripts/sa-bench.pl times SpamAssassin: `n` rounds over
            // all fixtures in turn, each check timed on its own (on-CPU),
            // median and mean over all of them. Unlike RULES_EACH (one file
            // `n` times in a row, as criterion's per-file runs), each
            // message finds the automata's tables as the one before left
            // them, as in a mail stream.
            let mut v = Vec::with_capacity(n * msgs.len());
            let mut per: Vec<Vec<f64>> = vec![Vec::with_capacity(n); msgs.len()];
            for _ in 0..n {
                for (i, (_, m)) in msgs.iter().enumerate() {
                    let c = thread_cpu_ns();
                    std::hint::black_box(rs.check(m, None));
                    let ms = thread_cpu_ns().saturating_sub(c) as f64 / 1e6;
                    v.push(ms);
                    per[i].push(ms);
                }
            }
            if std::env::var_os("RULES_SEQ_FILES").is_some() {
                for ((name, _), t) in msgs.iter().zip(&mut per) {
                    t.sort_by(f64::total_cmp);
                    println!(
                        "{:>9.3} ms CPU in sequence (median)  {name}",
                        t[t.len() / 2]
                    );
                }
            }
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            println!(
                "in sequence, {} checks: median {:.3} ms, mean {:.3} ms CPU",
                v.len(),
                v[v.len() / 2],
                mean
            );
        }
        if std::env::var_os("RULES_EACH").is_some() {
            // Per-fixture time, each checked `n` times in a row after
            // warm passes over all of them (as criterion's per-file runs).
            // Wall time, and this thread's on-CPU time: the measure
            // scripts/sa-bench.pl takes for SpamAssassin (process CPU
            // time), which time spent preempted on a busy host does not
            // inflate.
            measured_passes(&rs, &msgs, 2);
            let (mut walls, mut cpus) = (Vec::new(), Vec::new());
            for (name, m) in &msgs {
                let (t, c) = (std::time::Instant::now(), thread_cpu_ns());
                for _ in 0..n {
                    std::hint::black_box(rs.check(m, None));
                }
                let wall = t.elapsed().as_secs_f64() * 1e3 / n as f64;
                let cpu = thread_cpu_ns().saturating_sub(c) as f64 / 1e6 / n as f64;
                println!("{wall:>9.3} ms wall {cpu:>9.3} ms CPU  {name}");
                walls.push(wall);
                cpus.push(cpu);
            }
            let stats = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                let median = (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0;
                (median, v.iter().sum::<f64>() / v.len() as f64)
            };
            let ((wm, wa), (cm, ca)) = (stats(&mut walls), stats(&mut cpus));
            println!("per-file median / mean: wall {wm:.3} / {wa:.3} ms, CPU {cm:.3} / {ca:.3} ms");
        }
        let t = std::time::Instant::now();
        let s = measured_passes(&rs, &msgs, n);
        let el = t.elapsed();
        println!("{} rules, {} live", rs.rule_count(), rs.live_rule_count());
        if std::env::var_os("RULES_COUNTS").is_some() {
            let mut by: std::collections::BTreeMap<String, usize> = Default::default();
            for r in rs.rules().iter().filter(|r| r.live && r.enabled) {
                let dbg = format!("{:?}", r.test);
                let engine = ["Pcre", "LazyRust", "Rust"]
                    .into_iter()
                    .find(|e| dbg.contains(&format!("re: {e}(")) || dbg.contains(&format!("({e}(")))
                    .unwrap_or("-");
                let k = format!(
                    "{:?} {engine}{}{}{}{}",
                    r.kind,
                    if r.prefiltered { " pf" } else { "" },
                    if r.pf_prefix { "-prefix" } else { "" },
                    if r.gated { " gated" } else { "" },
                    if r.multiple { " multiple" } else { "" }
                );
                *by.entry(k).or_default() += 1;
            }
            for (k, n) in by {
                println!("{n:>5} {k}");
            }
        }
        println!(
            "load {load:?}; {n} passes in {el:?} = {:?} per message (score sum {s}); \
             RSS {rss0} KiB before load, +{} KiB after load, +{} KiB after warm-up, \
             +{} KiB after the passes",
            el / (n * msgs.len()).max(1) as u32,
            rss1 - rss0,
            rss1w - rss0,
            rss_kib() - rss0
        );
        if let Some(secs) = std::env::var("RULES_IDLE")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            let _ = tikv_jemalloc_ctl::background_thread::write(true);
            std::thread::sleep(std::time::Duration::from_secs(secs));
            println!("RSS after {secs} s idle: +{} KiB", rss_kib() - rss0);
        }
        if std::env::var_os("RULES_SMAPS").is_some() {
            print_smaps();
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
