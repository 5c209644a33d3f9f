//! Per-message latency probe for scripts/bench-smtp.sh.
//!
//! `smtp-source` (Postfix) reports only elapsed time, so a p50 needs our own
//! client. It sends N messages one after the other, each on a new connection
//! as smtp-source does, and times connect → the reply to end-of-data.
//!
//! ```text
//! cargo run --release --example smtp_latency -- 127.0.0.1:10024 200 message.eml
//! ```
//! Prints one line: `n=200 p50_ms=… p90_ms=… p99_ms=… mean_ms=… max_ms=…`.
//! Exits 1 when any message is not answered 2xx (a refused message has no
//! meaningful latency).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: smtp_latency HOST:PORT COUNT MESSAGE_FILE [FROM] [TO]");
        std::process::exit(2);
    }
    let addr = &args[0];
    let count: usize = args[1].parse().expect("COUNT is a number");
    let raw = std::fs::read(&args[2]).expect("read MESSAGE_FILE");
    let from = args.get(3).map_or("alice@example.org", String::as_str);
    let to = args.get(4).map_or("bob@example.com", String::as_str);
    let data = stuff(&raw);

    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let t0 = Instant::now();
        if let Err(e) = one(addr, from, to, &data) {
            eprintln!("message {i}: {e}");
            std::process::exit(1);
        }
        times.push(t0.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct =
        |p: f64| ms(times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1]);
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    println!(
        "n={} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} mean_ms={:.3} max_ms={:.3}",
        times.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        mean,
        ms(*times.last().unwrap())
    );
}

/// CRLF line ends and dot-stuffing, then the end-of-data line.
fn stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let body = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if body.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// One SMTP transaction on a fresh connection, no pipelining.
fn one(addr: &str, from: &str, to: &str, data: &[u8]) -> Result<(), String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(600))).ok();
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    expect(&mut r, "greeting")?;
    for (cmd, what) in [
        ("EHLO latency.example.org\r\n".to_string(), "EHLO"),
        (format!("MAIL FROM:<{from}>\r\n"), "MAIL"),
        (format!("RCPT TO:<{to}>\r\n"), "RCPT"),
        ("DATA\r\n".to_string(), "DATA"),
    ] {
        w.write_all(cmd.as_bytes()).map_err(|e| e.to_string())?;
        expect(&mut r, what)?;
    }
    w.write_all(data).map_err(|e| e.to_string())?;
    expect(&mut r, "end of data")?;
    let _ = w.write_all(b"QUIT\r\n");
    Ok(())
}

/// Reads one (multi-line) reply; Err unless it is 2xx or 3xx.
fn expect(r: &mut impl BufRead, what: &str) -> Result<(), String> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| format!("{what}: {e}"))? == 0 {
            return Err(format!("{what}: connection closed"));
        }
        if line.len() < 4 || !matches!(line.as_bytes()[0], b'2' | b'3') {
            return Err(format!("{what}: {}", line.trim_end()));
        }
        if line.as_bytes()[3] != b'-' {
            return Ok(());
        }
    }
}
