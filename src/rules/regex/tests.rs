//! Tests of the rule regex engines (`regex.rs`).

use super::syntax::escape_bytes;
use super::*;

#[test]
fn delimiters() {
    assert_eq!(split_delimited("/abc/i").unwrap(), ("abc", "i"));
    assert_eq!(split_delimited("m{a/b}s").unwrap(), ("a/b", "s"));
    assert_eq!(split_delimited("m!x!").unwrap(), ("x", ""));
    assert!(split_delimited("abc").is_err());
}

#[test]
fn ascii_semantics_and_bytes() {
    let r = PerlRegex::from_delimited(r"/^\w+$/").unwrap();
    assert!(r.is_match(b"abc"));
    assert!(!r.is_match("caf\u{e9}".as_bytes()));
    let r = PerlRegex::from_delimited("/\u{c3}\u{a9}/").unwrap();
    assert!(r.is_match("caf\u{e9}".as_bytes()));
    let r = PerlRegex::from_delimited("/foo$/").unwrap();
    assert!(
        r.is_match(b"a foo\n"),
        "Perl $ matches before a final newline"
    );
    let r = PerlRegex::from_delimited(r"/^foo$/m").unwrap();
    assert!(r.is_match(b"x\nfoo\nbar"));
    assert!(!r.is_match(b"x\nfoox\n"));
    let r = PerlRegex::from_delimited(r"/[$]\d+ ?\$/").unwrap();
    assert!(r.is_match(b"win $100$ now"));
    let r = PerlRegex::from_delimited(r"/foo\Z/").unwrap();
    assert!(r.is_match(b"a foo\n"), "\\Z stays with PCRE2");
    let r = PerlRegex::from_delimited(r"/^\s*$/m").unwrap();
    assert!(!r.is_match(b"foo\n"), "no /m ^ after a final newline");
}

/// `is_match_at` answers "a match starting exactly here" in both
/// engines (never `None` for these), with look-behind seeing the
/// bytes before the offset.
#[test]
fn match_at_an_offset() {
    let hay = b"not free money, free money";
    for (re, at, want) in [
        (r"/(?<!not )free money/", 4, false),
        (r"/(?<!not )free money/", 16, true),
        (r"/(?<!not )free money/", 15, false),
        (r"/(?<!not\ )free \s+ money/x", 16, true),
        (r"/(?<!not\ )free \s+ money/x", 4, false),
        (r"/(?<!not )free \s+ money/x", 4, true), // `/x`: the lookbehind is "not"
        (r"/\bfree money/i", 16, true),
        (r"/\bfree money/i", 17, false),
        (r"/ree money/", 17, true),
        (r"/\bree money/", 17, false),
    ] {
        let r = PerlRegex::from_delimited(re).unwrap();
        assert_eq!(r.is_match_at(hay, at), Some(want), "{re} at {at}");
    }
    assert!(
        PerlRegex::from_delimited(r"/(?<!x)free/")
            .unwrap()
            .is_pcre()
    );
    assert!(
        PerlRegex::from_delimited(r"/\bfree/")
            .unwrap()
            .is_lazy_rust()
    );
}

/// Counting only at line starts gives `find_iter`'s count, and applies
/// only where every match starts at a line start.
#[test]
fn line_start_counts_agree_with_find_iter() {
    let texts: [&[u8]; 5] = [
        b"your name: ____\nYour  address ____\n  your phone\nx your name ____\n",
        b"your name your name\nyour name",
        b"\n\nyour address\n\nyour name:\n",
        b"nothing here\n",
        b"your name",
    ];
    // Plus texts pieced together at random from what the patterns see.
    let pieces: [&[u8]; 7] = [
        b"your name",
        b"\n",
        b" ",
        b"x",
        b"q",
        b"YOUR ADDRESS",
        b"\n\n",
    ];
    let mut seed = 7u32;
    let mut random: Vec<Vec<u8>> = Vec::new();
    for _ in 0..200 {
        let mut t = Vec::new();
        for _ in 0..8 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            t.extend_from_slice(pieces[(seed >> 16) as usize % pieces.len()]);
        }
        random.push(t);
    }
    for re in [
        r"/^(?>\s{0,5})your (?:name|address|phone)(?!x)/im",
        r"/^(?>\s{0,5})your (?:name|address)\b.{0,8}$/im",
        r"/^(?=y)your name/i",
        r"/^(?>\s*)(?:your name|)(?!q)/im",
    ] {
        let r = PerlRegex::from_delimited(re).unwrap();
        assert!(r.is_pcre(), "{re}");
        for t in texts
            .iter()
            .copied()
            .chain(random.iter().map(Vec::as_slice))
        {
            for max in [1, 2, 10] {
                let by_lines = r.count_at_line_starts(t, max);
                assert_eq!(by_lines, Some(r.count_matches(t, max)), "{re} {max} {t:?}");
            }
        }
    }
    let r = PerlRegex::from_delimited(r"/(?>\s{0,5})your name/im").unwrap();
    assert_eq!(
        r.count_at_line_starts(texts[0], 5),
        None,
        "not line-anchored"
    );
}

/// PCRE2 rules are compiled at load only to check them (a bad one is
/// an error there, as in SpamAssassin's lint), and built with JIT at
/// first use or by `force`: both give the same answers.
#[test]
fn pcre_checked_at_load_built_later() {
    let err = PerlRegex::from_delimited(r"/(?<!a+)b/").unwrap_err();
    assert!(err.contains("lookbehind"), "{err}");
    for (re, hay, want, exists) in [
        (r"/(?<!x)free/", &b"a free b"[..], true, false),
        (r"/(?<!x)free/", b"xfree", false, false),
        (r"/(?:x*)*yz$/", b"aayz\n", true, true),
    ] {
        let lazy = PerlRegex::from_delimited(re).unwrap();
        let Engine::Pcre(p) = &lazy.re else {
            panic!("{re}: not PCRE2")
        };
        assert_eq!(p.exists_pattern.is_some(), exists, "{re}");
        assert_eq!(lazy.is_match(hay), want, "{re} first use");
        let forced = PerlRegex::from_delimited(re).unwrap();
        assert!(forced.force());
        assert_eq!(forced.is_match(hay), want, "{re} after force");
        assert_eq!(forced.count_matches(hay, 5), usize::from(want));
    }
}

/// One-byte classes lose their brackets and nothing else changes:
/// same matches under PCRE2, classes with more in them, escaped
/// brackets and quoted text untouched.
#[test]
fn byte_classes_unwrapped() {
    for (body, want) in [
        (r"[\xc3][\x80\xa0]", r"\xc3[\x80\xa0]"),
        (r"a[\x41]1{2}", r"a\x411{2}"),
        (r"\[\x41][^\x41][\x41-\x42]", r"\[\x41][^\x41][\x41-\x42]"),
        (r"[[\x41][\x5d]", r"[[\x41]\x5d"),
        (r"\\[\x41]", r"\\\x41"),
        (r"\Q[\x41]\E", r"\Q[\x41]\E"),
        (r"[\x4]", r"[\x4]"),
        ("caf\u{e9}[\u{e9}]", r"caf\xe9\xe9"),
    ] {
        assert_eq!(escape_high_bytes(body), want, "{body}");
        let hays: [&[u8]; 5] = [
            b"xA11y",
            b"aA11",
            b"\xc3\xa0 caf\xe9\xe9",
            b"[A]AB",
            b"\\A [A] ]",
        ];
        for hay in hays {
            let build = |p: &str| {
                pcre2::bytes::RegexBuilder::new()
                    .utf(false)
                    .build(p)
                    .unwrap()
            };
            assert_eq!(
                build(&escape_bytes(body)).is_match(hay).unwrap(),
                build(want).is_match(hay).unwrap(),
                "{body} on {hay:?}"
            );
        }
    }
}

/// `ruled_out` is only ever true where the rule cannot match: the
/// superset keeps every match of the look-around-free part.
#[test]
fn superset_rules_out_only_non_matches() {
    let r = PerlRegex::from_delimited(r"/(?<!not )free money$/").unwrap();
    assert!(r.is_pcre());
    assert!(r.ruled_out(b"nothing to see"));
    assert!(
        !r.ruled_out(b"not free money"),
        "superset matches, PCRE2 decides"
    );
    assert!(!r.is_match(b"not free money"));
    assert!(!r.ruled_out(b"a free money\n") && r.is_match(b"a free money\n"));
    let rust = PerlRegex::from_delimited(r"/free money/").unwrap();
    assert!(!rust.ruled_out(b"nothing"), "only PCRE2 rules have one");
}

/// `force_helper` (the start-up warm-up) builds the `\G` twin and the
/// superset gate that would otherwise be built by the first message.
#[test]
fn force_helper_builds_what_the_prefiltered_path_uses() {
    let r = PerlRegex::from_delimited(r"/(?<!x)free money/").unwrap();
    let a = r.anchored.as_deref().expect("a PCRE2 rule");
    assert!(a.re.get().is_none() && a.superset.get().is_none());
    r.force_helper(true);
    assert!(matches!(a.re.get(), Some(Some(_))));
    r.force_helper(false);
    assert!(matches!(a.superset.get(), Some(Some(_))));
}
