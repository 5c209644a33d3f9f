//! Archive listing: the first byte picks the format, the rest is the archive.
//! A small budget keeps each run short; any panic is a bug (the banned check
//! would otherwise report "internal error" and leave the mail UNCHECKED).
#![no_main]

use amavisd_rs::scan::archive::{Budget, Kind, list};
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 7] = [
    Kind::Zip,
    Kind::Tar,
    Kind::Gzip,
    Kind::Bzip2,
    Kind::Xz,
    Kind::SevenZ,
    Kind::Rar,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let kind = KINDS[sel as usize % KINDS.len()];
    let quota = 1 << 20;
    let mut budget = Budget::new(quota, 50);
    let names = vec!["fuzz.bin".to_string()];
    let listing = list(kind, body, &names, &mut budget);
    // The budget is never overdrawn and never counts more files than allowed.
    assert!(budget.bytes_left <= quota);
    assert!(budget.files <= 50);
    for m in &listing.members {
        if let Some(d) = &m.data {
            assert!(d.len() as u64 <= quota, "member data beyond the quota");
        }
    }
});
