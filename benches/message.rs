//! Criterion benches of the CPU paths around a message (issue 6): header
//! section parse + header splice (what every delivery does), a full MIME
//! parse with mail-parser, the bad-header check, and the banned-name check
//! over a plain attachment and a zip inside a zip. Fixtures: the 20 public
//! messages in tests/fixtures/messages.

use amavisd_rs::config::BannedRule;
use amavisd_rs::message::edit::HeaderEdits;
use amavisd_rs::message::head::Head;
use amavisd_rs::scan::bad_header::check_bad_headers;
use amavisd_rs::scan::banned::{BannedRules, Limits, check_banned};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;

fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    v.sort();
    v.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    for (n, d) in files {
        w.start_file(*n, o).unwrap();
        w.write_all(d).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn with_attachment(name: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut m = String::from(
        "From: a@example.org\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
    );
    m.push_str(&format!(
        "--b\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ));
    for l in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(l).unwrap());
        m.push_str("\r\n");
    }
    m.push_str("--b--\r\n");
    m.into_bytes()
}

fn bench(c: &mut Criterion) {
    let msgs = fixtures();
    let edits = HeaderEdits {
        prepend: b"X-Virus-Scanned: amavisd-rs at example.com\r\nX-Spam-Flag: NO\r\nReceived: from x ([127.0.0.1])\r\n".to_vec(),
        remove_names: vec!["X-Spam-Flag".into(), "X-Spam-Status".into()],
        subject_tag: Some("***SPAM*** ".into()),
    };
    c.bench_function("head parse + splice (20 fixtures)", |b| {
        b.iter(|| {
            for m in &msgs {
                let h = Head::parse(m);
                black_box(edits.apply(&m[..h.body_offset], &h));
            }
        })
    });
    c.bench_function("mail-parser full parse (20 fixtures)", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(mail_parser::MessageParser::default().parse(m));
            }
        })
    });
    c.bench_function("bad-header check (20 fixtures)", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(check_bad_headers(m));
            }
        })
    });
    let rules = BannedRules::new(&[
        BannedRule::Ban(r"(?i).\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$".into()),
        BannedRule::Ban(r"^\.(exe-ms)$".into()),
    ])
    .unwrap();
    let limits = Limits {
        maxlevels: Some(14),
        maxfiles: Some(1500),
        min_expansion_quota: Some(100 * 1024),
        max_expansion_quota: Some(300 << 20),
    };
    let mut exe = vec![0u8; 4096];
    exe[..2].copy_from_slice(b"MZ");
    let plain = with_attachment("report.pdf", "application/pdf", b"%PDF-1.4 test");
    let inner = zip(&[("readme.txt", b"hello"), ("setup.exe", &exe)]);
    let nested = with_attachment(
        "files.zip",
        "application/zip",
        &zip(&[("inner.zip", &inner)]),
    );
    c.bench_function("banned check: plain attachment", |b| {
        b.iter(|| black_box(check_banned(&plain, &rules, &limits)))
    });
    c.bench_function("banned check: exe in zip in zip", |b| {
        b.iter(|| black_box(check_banned(&nested, &rules, &limits)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
