//! Criterion bench of the rule engine over the fixture messages: time to
//! load and compile the installed SpamAssassin rules, and time per message
//! (`check` on each fixture, and on all 20 in a row for a per-message mean).

use std::path::Path;

use amavisd_rs::rules::{LoadOptions, RuleSet};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
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
    let msgs = fixtures();
    if std::env::var_os("RULES_PROFILE").is_some() {
        // Slowest rules summed over the fixtures (second, warm pass).
        let mut sum: std::collections::HashMap<String, std::time::Duration> = Default::default();
        for pass in 0..2 {
            for (_, m) in &msgs {
                for (n, d) in rs.profile_rules(m) {
                    if pass == 1 {
                        *sum.entry(n).or_default() += d;
                    }
                }
            }
        }
        let mut v: Vec<_> = sum.into_iter().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        let total: std::time::Duration = v.iter().map(|x| x.1).sum();
        println!("time in non-meta rules over 20 fixtures: {total:?}");
        for (n, d) in v.iter().take(30) {
            println!("{d:>12?} {n}");
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

criterion_group!(benches, bench);
criterion_main!(benches);
