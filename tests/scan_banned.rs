//! Banned names/types over MIME parts and archive members, with amavisd's
//! semantics and Debian's default `$banned_filename_re`.

mod common;

use amavisd_rs::config::BannedRule;
use amavisd_rs::scan::banned::{BannedRules, Limits, check_banned};
use common::build::{Att, gzip, message, pe_exe, rar4, rar5, tar, zip};

fn ban(re: &str) -> BannedRule {
    BannedRule::Ban(re.into())
}

fn allow(re: &str) -> BannedRule {
    BannedRule::Entry {
        re: re.into(),
        ban: false,
    }
}

/// Debian's /usr/share/amavis/conf.d/20-debian_defaults `$banned_filename_re`
/// (qr'...'i written as (?i)), in its order.
fn debian_rules() -> Vec<BannedRule> {
    vec![
        ban(r"(?i)\.[^./]*\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\.?$"),
        ban(r"(?i)\{[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\}?$"),
        ban(r"(?i)^application/x-msdownload$"),
        ban(r"(?i)^application/x-msdos-program$"),
        ban(r"(?i)^application/hta$"),
        ban(r"(?i).\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$"),
        ban(r"^\.(exe-ms)$"),
    ]
}

/// The same with the file's commented allow entries switched on (as in
/// amavisd.conf's sample), placed where the file has them.
fn debian_rules_with_allow() -> Vec<BannedRule> {
    let mut r = debian_rules();
    let basic = r.split_off(5);
    r.extend([
        allow(r"^\.(Z|gz|bz2)$"),
        allow(r"^\.(rpm|cpio|tar)$"),
        allow(r"^\.(zip|rar|arc|arj|zoo)$"),
        allow(r"(?i)^application/x-zip-compressed$"),
    ]);
    r.extend(basic);
    r
}

fn debian_limits() -> Limits {
    Limits {
        maxlevels: Some(14),
        maxfiles: Some(1500),
        min_expansion_quota: Some(100 * 1024),
        max_expansion_quota: Some(300 << 20),
    }
}

fn rules(r: &[BannedRule]) -> BannedRules {
    BannedRules::new(r).unwrap()
}

#[test]
fn plain_exe_attachment_reason_text_as_amavisd() {
    let exe = pe_exe();
    let msg = message(&[Att {
        name: "invoice.exe",
        ctype: "application/octet-stream",
        data: &exe,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(
        r.banned,
        ["application/octet-stream,.exe,.exe-ms,invoice.exe"]
    );
    assert_eq!(r.unchecked, None);
}

#[test]
fn exe_type_banned_even_with_harmless_name() {
    let exe = pe_exe();
    let msg = message(&[Att {
        name: "photo.jpg",
        ctype: "image/jpeg",
        data: &exe,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, ["image/jpeg,.exe,.exe-ms,photo.jpg"]);
}

#[test]
fn clean_message_nothing_banned() {
    let msg = message(&[
        Att {
            name: "report.txt",
            ctype: "text/plain",
            data: b"quarterly numbers\r\n",
        },
        Att {
            name: "pic.png",
            ctype: "image/png",
            data: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        },
    ]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert!(r.banned.is_empty(), "{r:?}");
    assert_eq!(r.unchecked, None);
    // multipart container + 3 leaves
    assert_eq!(r.parts, 4);
}

#[test]
fn mime_type_and_clsid_rules() {
    let msg = message(&[
        Att {
            name: "a.bin",
            ctype: "application/x-msdownload",
            data: b"hello",
        },
        Att {
            name: "doc.{12345678-1234-1234-1234-123456789abc}",
            ctype: "text/plain",
            data: b"x",
        },
    ]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(
        r.banned,
        [
            "application/x-msdownload,.asc,a.bin",
            "text/plain,.asc,doc.{12345678-1234-1234-1234-123456789abc}"
        ]
    );
}

#[test]
fn exe_inside_zip() {
    let z = zip(&[("readme.txt", b"hi"), ("invoice.exe", &pe_exe())]);
    let msg = message(&[Att {
        name: "invoice.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, [".exe,.exe-ms,invoice.exe"]);
    assert_eq!(r.unchecked, None);
}

#[test]
fn allow_entry_for_zip_stops_search_but_earlier_rules_still_ban() {
    let exe = pe_exe();
    let z = zip(&[("invoice.exe", &exe), ("invoice.pdf.exe", &exe)]);
    let msg = message(&[Att {
        name: "invoice.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules_with_allow()), &debian_limits());
    // `^\.(zip|...)$ => 0` matches the ancestor's ".zip" before the basic
    // .exe rule; the double-extension rule comes before the allow entry.
    assert_eq!(r.banned, [".exe,.exe-ms,invoice.pdf.exe"]);
    // Outside an archive the allow entry does not apply.
    let msg = message(&[Att {
        name: "invoice.exe",
        ctype: "application/octet-stream",
        data: &exe,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules_with_allow()), &debian_limits());
    assert_eq!(
        r.banned,
        ["application/octet-stream,.exe,.exe-ms,invoice.exe"]
    );
}

#[test]
fn exe_inside_zip_in_zip() {
    let inner = zip(&[("invoice.exe", &pe_exe())]);
    let outer = zip(&[("inner.zip", &inner), ("notes.txt", b"x")]);
    let msg = message(&[Att {
        name: "outer.zip",
        ctype: "application/zip",
        data: &outer,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, [".exe,.exe-ms,invoice.exe"]);
    assert_eq!(r.unchecked, None);
}

#[test]
fn exe_inside_tar_gz() {
    let tgz = gzip(&tar(&[
        ("docs/readme.txt", b"hello"),
        ("docs/setup.exe", &pe_exe()),
    ]));
    let msg = message(&[Att {
        name: "docs.tar.gz",
        ctype: "application/gzip",
        data: &tgz,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, [".exe,.exe-ms,docs/setup.exe"]);
    // The gzip content is named as amavisd's do_gunzip does (docs.tar.gz ->
    // docs.tar); a rule matching an ancestor's key bans every leaf below it.
    let r = check_banned(&msg, &rules(&[ban(r"^docs\.tar$")]), &debian_limits());
    assert_eq!(
        r.banned,
        [".asc,docs/readme.txt", ".exe,.exe-ms,docs/setup.exe"]
    );
    let r = check_banned(&msg, &rules(&[ban(r"^\.tar$")]), &debian_limits());
    assert_eq!(r.banned.len(), 2, "ancestor short type .tar");
    let r = check_banned(&msg, &rules(&[ban(r"^docs\.tgz$")]), &debian_limits());
    assert!(r.banned.is_empty());
}

#[test]
fn exe_name_in_rar4_and_rar5_headers() {
    let exe = pe_exe();
    for (label, rar) in [
        (
            "rar4",
            rar4(&[("readme.txt", b"hi", false), ("invoice.exe", &exe, false)]),
        ),
        (
            "rar5",
            rar5(&[("readme.txt", b"hi", false), ("invoice.exe", &exe, false)]),
        ),
    ] {
        let msg = message(&[Att {
            name: "files.rar",
            ctype: "application/x-rar",
            data: &rar,
        }]);
        let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
        // Names only: no type from content.
        assert_eq!(r.banned, ["invoice.exe"], "{label}");
        assert_eq!(r.unchecked, None, "{label}");
        assert_eq!(r.parts, 5, "{label}");
    }
}

#[test]
fn encrypted_rar_member_is_unchecked_encrypted() {
    for rar in [
        rar4(&[("secret.doc", b"xx", true)]),
        rar5(&[("secret.doc", b"xx", true)]),
    ] {
        let msg = message(&[Att {
            name: "files.rar",
            ctype: "application/x-rar",
            data: &rar,
        }]);
        let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
        assert!(r.banned.is_empty());
        assert_eq!(r.unchecked_minor, 1, "{r:?}");
        assert!(r.unchecked.is_some());
    }
}

#[test]
fn exe_name_in_7z() {
    let z = std::fs::read("tests/fixtures/scan/exe.7z").unwrap();
    let msg = message(&[Att {
        name: "files.7z",
        ctype: "application/x-7z-compressed",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, ["invoice.exe"]);
    assert_eq!(r.unchecked, None);
}

#[test]
fn encrypted_7z_is_unchecked_encrypted() {
    for f in ["encrypted-names.7z", "encrypted-data.7z"] {
        let z = std::fs::read(format!("tests/fixtures/scan/{f}")).unwrap();
        let msg = message(&[Att {
            name: "files.7z",
            ctype: "application/x-7z-compressed",
            data: &z,
        }]);
        let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
        assert_eq!(r.unchecked_minor, 1, "{f}: {r:?}");
        assert!(r.unchecked.is_some(), "{f}");
    }
    // Data encrypted, names visible: the name is still banned.
    let z = std::fs::read("tests/fixtures/scan/encrypted-data.7z").unwrap();
    let msg = message(&[Att {
        name: "files.7z",
        ctype: "application/x-7z-compressed",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, ["invoice.exe,UNDECIPHERABLE"]);
}

#[test]
fn undecipherable_rule_matches_encrypted_zip_member() {
    let mut z = zip(&[("a.txt", b"hello hello hello")]);
    // Set the "encrypted" flag in the local and central headers.
    z[6] |= 1;
    let cd = z.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    z[cd + 8] |= 1;
    let msg = message(&[Att {
        name: "a.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&[ban("^UNDECIPHERABLE$")]), &debian_limits());
    assert_eq!(r.banned, ["a.txt,UNDECIPHERABLE"]);
    assert_eq!(r.unchecked_minor, 1);
}

#[test]
fn damaged_zip_left_atomic_not_unchecked() {
    let mut z = zip(&[("invoice.exe", &pe_exe())]);
    z.truncate(z.len() - 30);
    let msg = message(&[Att {
        name: "broken.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.unchecked, None);
    assert_eq!(r.decode_errors.len(), 1, "{r:?}");
    assert_eq!(r.banned, Vec::<String>::new());
}

#[test]
fn zip_bomb_is_unchecked() {
    // 200 MiB of zeros deflate to ~200 KiB: far over 500x the message.
    let zeros = vec![0u8; 200 << 20];
    let z = zip(&[("big.bin", &zeros)]);
    drop(zeros);
    let msg = message(&[Att {
        name: "bomb.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    for limits in [debian_limits(), Limits::default()] {
        let r = check_banned(&msg, &rules(&debian_rules()), &limits);
        let why = r.unchecked.unwrap();
        assert!(why.starts_with("Exceeded storage quota"), "{why}");
    }
}

#[test]
fn gzip_bomb_without_declared_size_is_unchecked() {
    let gz = gzip(&vec![0u8; 64 << 20]);
    let msg = message(&[Att {
        name: "data.bin.gz",
        ctype: "application/gzip",
        data: &gz,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &Limits::default());
    assert!(r.unchecked.unwrap().starts_with("Exceeded storage quota"));
}

#[test]
fn hundred_level_nesting_is_unchecked() {
    let mut z = zip(&[("invoice.exe", &pe_exe())]);
    for i in 0..100 {
        z = zip(&[(&format!("level{i}.zip"), &z)]);
    }
    let msg = message(&[Att {
        name: "deep.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(
        r.unchecked.as_deref(),
        Some("Maximum decoding depth (14) exceeded")
    );
    assert_eq!(r.unchecked_minor, 2);
    let r = check_banned(&msg, &rules(&debian_rules()), &Limits::default());
    assert_eq!(
        r.unchecked.as_deref(),
        Some("Maximum decoding depth (32) exceeded")
    );
}

#[test]
fn nesting_within_maxlevels_is_checked() {
    // MIME part = level 2, members of the outer zip = level 3, ...
    let mut z = zip(&[("invoice.exe", &pe_exe())]);
    for i in 0..3 {
        z = zip(&[(&format!("level{i}.zip"), &z)]);
    }
    let msg = message(&[Att {
        name: "deep.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let limits = |l| Limits {
        maxlevels: Some(l),
        ..debian_limits()
    };
    let r = check_banned(&msg, &rules(&debian_rules()), &limits(6));
    assert_eq!(r.unchecked, None);
    assert_eq!(r.banned, [".exe,.exe-ms,invoice.exe"]);
    // One level less: the member exists but, as in amavisd, file(1) never
    // ran on it (the tier that would type it is over the limit): name only.
    let r = check_banned(&msg, &rules(&debian_rules()), &limits(5));
    assert_eq!(
        r.unchecked.as_deref(),
        Some("Maximum decoding depth (5) exceeded")
    );
    assert_eq!(r.banned, ["invoice.exe"]);
}

#[test]
fn members_before_maxfiles_limit_are_still_checked() {
    let exe = pe_exe();
    let names: Vec<String> = (0..50).map(|i| format!("f{i}.txt")).collect();
    let mut files: Vec<(&str, &[u8])> = vec![("invoice.exe", &exe)];
    files.extend(names.iter().map(|n| (n.as_str(), b"x".as_slice())));
    let z = zip(&files);
    let msg = message(&[Att {
        name: "many.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let limits = Limits {
        maxfiles: Some(20),
        ..debian_limits()
    };
    let r = check_banned(&msg, &rules(&debian_rules()), &limits);
    assert_eq!(
        r.unchecked.as_deref(),
        Some("Maximum number of files (20) exceeded")
    );
    assert_eq!(r.banned, ["invoice.exe"]);
    // multipart container, text part, zip, 18 members
    assert_eq!(r.parts, 1 + 2 + 18);
}

#[test]
fn ten_thousand_members_is_unchecked() {
    let names: Vec<String> = (0..10_000).map(|i| format!("f{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"x".as_slice()))
        .collect();
    let z = zip(&files);
    let msg = message(&[Att {
        name: "many.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(
        r.unchecked.as_deref(),
        Some("Maximum number of files (1500) exceeded")
    );
    let r = check_banned(&msg, &rules(&debian_rules()), &Limits::default());
    assert_eq!(
        r.unchecked.as_deref(),
        Some("Maximum number of files (3000) exceeded")
    );
}

#[test]
fn quota_formula_as_amavisd() {
    let l = Limits::default();
    assert_eq!(l.quota(1000), 500_000);
    let d = debian_limits();
    assert_eq!(d.quota(100), 100 * 1024); // MIN_EXPANSION_QUOTA wins
    assert_eq!(d.quota(10 << 20), 300 << 20); // MAX caps 500x
    assert_eq!(d.quota(100 << 20), 500 << 20); // 5x beats MAX
}

#[test]
fn bad_regex_is_a_config_error() {
    let e = BannedRules::new(&[ban("(unclosed")]).unwrap_err();
    assert!(e.contains("(unclosed"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let rules = rules(&debian_rules());
    let exe = pe_exe();
    let z = zip(&[("a.exe", &exe), ("b.txt", b"hello")]);
    let base = message(&[Att {
        name: "a.zip",
        ctype: "application/zip",
        data: &z,
    }]);
    // Deterministic corruption of the archive payload and headers.
    let mut seed = 0x2545F4914F6CDD1Du64;
    for _ in 0..300 {
        let mut m = base.clone();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % m.len();
            m[i] = (seed >> 32) as u8;
        }
        let r = check_banned(&m, &rules, &debian_limits());
        // No decoder panicked (catch_unwind would report it this way).
        assert_ne!(
            r.unchecked.as_deref(),
            Some("internal error while decoding the message")
        );
    }
    for raw in [
        &rar4(&[("x.exe", b"", false)])[..20],
        &rar5(&[("x.exe", b"", false)])[..15],
    ] {
        let msg = message(&[Att {
            name: "t.rar",
            ctype: "application/x-rar",
            data: raw,
        }]);
        let r = check_banned(&msg, &rules, &debian_limits());
        assert_eq!(r.unchecked, None);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Random bytes behind each archive signature: no decoder panics.
    #[test]
    fn random_archive_bodies_never_panic(
        kind in 0usize..8,
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
    ) {
        let sig: &[u8] = [
            b"PK\x03\x04".as_slice(),
            b"Rar!\x1a\x07\x00",
            b"Rar!\x1a\x07\x01\x00",
            b"7z\xbc\xaf\x27\x1c",
            b"\x1f\x8b\x08\x00",
            b"BZh9",
            b"\xfd7zXZ\x00",
            b"PK\x05\x06",
        ][kind];
        let data = [sig, &body].concat();
        let msg = message(&[Att { name: "x.bin", ctype: "application/octet-stream", data: &data }]);
        let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
        proptest::prop_assert_ne!(
            r.unchecked.as_deref(),
            Some("internal error while decoding the message")
        );
    }
}

#[test]
fn encoded_name_listed_decoded_then_raw_as_amavisd() {
    let exe = pe_exe();
    let raw = "=?UTF-8?B?aW52b2ljZS5leGU=?=";
    let msg = message(&[Att {
        name: raw,
        ctype: "application/octet-stream",
        data: &exe,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(
        r.banned,
        [format!(
            "application/octet-stream,.exe,.exe-ms,invoice.exe,{raw}"
        )]
    );
    // A plain name is not repeated.
    let msg = message(&[Att {
        name: "a b.exe",
        ctype: "application/octet-stream",
        data: &exe,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, ["application/octet-stream,.exe,.exe-ms,a b.exe"]);
}

#[test]
fn exe_inside_tar_xz() {
    let txz = common::build::xz(&tar(&[("setup.exe", &pe_exe())]));
    let msg = message(&[Att {
        name: "files.tar.xz",
        ctype: "application/x-xz",
        data: &txz,
    }]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(r.banned, [".exe,.exe-ms,setup.exe"]);
    assert_eq!(r.unchecked, None);
    // files.tar.xz -> files.tar, a tar (typed) with the exe below it
    assert_eq!(r.parts, 5);
}

#[test]
fn xz_bomb_is_unchecked() {
    let bomb = common::build::xz(&vec![0u8; 64 << 20]);
    let msg = message(&[Att {
        name: "zeros.xz",
        ctype: "application/x-xz",
        data: &bomb,
    }]);
    for limits in [debian_limits(), Limits::default()] {
        let r = check_banned(&msg, &rules(&debian_rules()), &limits);
        let why = r.unchecked.unwrap();
        assert!(why.starts_with("Exceeded storage quota"), "{why}");
    }
}

#[test]
fn reason_is_first_banned_part_with_rule_comment() {
    let exe = pe_exe();
    let msg = message(&[
        Att {
            name: "invoice.pdf.exe",
            ctype: "application/octet-stream",
            data: &exe,
        },
        Att {
            name: "b.exe",
            ctype: "application/octet-stream",
            data: &exe,
        },
    ]);
    let r = check_banned(&msg, &rules(&debian_rules()), &debian_limits());
    assert_eq!(
        r.reason.as_deref(),
        Some("application/octet-stream,.exe,.exe-ms,invoice.pdf.exe")
    );
    assert_eq!(r.banned.len(), 2);
    // amavisd prefixes the matching rule's (?#...) comments.
    let commented = rules(&[ban(r"(?# double extension )(?i)\.[^./]*\.exe$(?#x)")]);
    let r = check_banned(&msg, &commented, &debian_limits());
    assert_eq!(
        r.reason.as_deref(),
        Some("double extension x:application/octet-stream,.exe,.exe-ms,invoice.pdf.exe")
    );
    assert_eq!(r.banned.len(), 1);
}
