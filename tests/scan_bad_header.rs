//! Bad-header checks: one test per amavisd minor category. The expected
//! texts are what amavisd-new 2.13's own `check_header_validity` (Debian
//! package's Amavis/Unpackers/Validity.pm, run on the same header fields)
//! printed, and the MIME error texts what MIME::Parser 5.510
//! (libmime-tools-perl, Debian 12) reported with amavisd's parser settings.
//! (Out of tree, 300 random header sections and 1,400 random MIME
//! structures were compared the same way: all equal.)
//! One deliberate difference: amavisd keeps a field's final newline in the
//! "Invalid header field syntax" text; we drop it.

use amavisd_rs::scan::bad_header::{BadHeader, check_bad_headers, mime_errors, minor};

const OK_HEAD: &str = "From: alice@example.org\r\nTo: bob@example.com\r\nDate: Wed, 25 Nov 2026 21:16:27 +0000\r\nMessage-ID: <x@example.org>\r\n";

fn msg(extra_headers: &str, body: &str) -> Vec<u8> {
    format!("{OK_HEAD}{extra_headers}\r\n{body}").into_bytes()
}

fn only(bad: Vec<BadHeader>) -> BadHeader {
    assert_eq!(bad.len(), 1, "{bad:?}");
    bad.into_iter().next().unwrap()
}

#[test]
fn clean_message_has_no_bad_header() {
    let m = msg(
        "Subject: hello\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n",
        "hi\r\n",
    );
    assert_eq!(check_bad_headers(&m), vec![]);
}

#[test]
fn minor_1_mime_error_missing_close_boundary() {
    let m = msg(
        "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n",
        "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
    );
    let b = only(check_bad_headers(&m));
    assert_eq!(b.minor, 1);
    assert_eq!(
        b.text,
        "MIME error: error: part did not end with expected boundary; ; error: unexpected end of parts before epilogue"
    );
}

#[test]
fn minor_1_mime_error_variants() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "Content-Type: multipart/mixed\r\n",
            "hello\r\n",
            &["multipart boundary is missing, or contains CR or LF"],
        ),
        (
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
            "hello\r\n",
            &["unexpected end of preamble"],
        ),
        (
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
            "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\n\r\nx\r\n--b1--\r\n",
            &[
                "part did not end with expected boundary",
                "unexpected end of parts before epilogue",
            ],
        ),
        (
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
            "pre\r\n--b1\r\n\r\nx\r\n--b1--\r\nepilogue\r\n",
            &[],
        ),
    ];
    for (h, body, want) in cases {
        assert_eq!(mime_errors(&msg(h, body)), *want, "{h} {body}");
    }
    // MIME::Head keeps the last of repeated parameters, and an unquoted
    // value ends at the first non-token character.
    let two = "Content-Type: multipart/mixed; boundary=\"A\"; boundary=\"B\"\r\n";
    assert_eq!(
        mime_errors(&msg(two, "--A\r\n\r\nx\r\n--A--\r\n")),
        ["unexpected end of preamble"]
    );
    assert!(mime_errors(&msg(two, "--B\r\n\r\nx\r\n--B--\r\n")).is_empty());
    let spaced = "Content-Type: multipart/mixed; boundary=x y\r\n";
    assert!(mime_errors(&msg(spaced, "--x\r\n\r\nt\r\n--x--\r\n")).is_empty());
    // A part whose header runs into the next boundary is only a warning.
    let b = "Content-Type: multipart/mixed; boundary=b\r\n";
    assert!(
        mime_errors(&msg(
            b,
            "--b\r\nContent-Type: text/plain\r\n--b\r\n\r\nt\r\n--b--\r\n"
        ))
        .is_empty()
    );
    // Headers without the empty line that ends them.
    assert_eq!(
        mime_errors(b"From: a@b\nSubject: x\n"),
        ["unexpected end of header"]
    );
}

#[test]
fn minor_2_non_encoded_8bit() {
    let b = only(check_bad_headers(
        &msg("Subject: caf\u{0}\r\n", "x")
            .into_iter()
            .map(|c| if c == 0 { 0xe9 } else { c })
            .collect::<Vec<_>>(),
    ));
    assert_eq!(b.minor, 2);
    assert_eq!(
        b.text,
        "Non-encoded non-ASCII data (and not UTF-8) (char E9 hex): Subject: caf\\x{E9}"
    );
}

#[test]
fn minor_2_utf8_c1_control_but_plain_utf8_accepted() {
    // amavisd's utf8 test is off by default: valid UTF-8 passes.
    assert_eq!(
        check_bad_headers(&msg("Subject: caf\u{e9}\r\n", "x")),
        vec![]
    );
    let b = only(check_bad_headers(&msg("Subject: a\u{85}b\r\n", "x")));
    assert_eq!(b.minor, 2);
    assert_eq!(
        b.text,
        "UTF-8 string contains C1 Controls (char C2 85 hex): Subject: a\\x{C2}\\x{85}b"
    );
}

#[test]
fn minor_3_nul_and_bare_cr() {
    let b = only(check_bad_headers(&msg("Subject: a\0b\r\n", "x")));
    assert_eq!(b.minor, 3);
    assert_eq!(
        b.text,
        "Improper use of control character (char 00 hex): Subject: a\0b"
    );
    let b = only(check_bad_headers(&msg("Subject: a\rb\r\n", "x")));
    assert_eq!(
        (b.minor, b.text.as_str()),
        (
            3,
            "Improper use of control character (char 0D hex): Subject: a\rb"
        )
    );
}

#[test]
fn minor_4_whitespace_only_continuation_line() {
    let b = only(check_bad_headers(&msg(
        "Subject: hello\r\n \t\r\n world\r\n",
        "x",
    )));
    assert_eq!(b.minor, 4);
    assert_eq!(
        b.text,
        "Improper folded header field made up entirely of whitespace (char 20 09 hex): Subject: hello\n \t\n world"
    );
}

#[test]
fn minor_5_line_longer_than_998() {
    let long = format!("Subject: {}\r\n", "a".repeat(990));
    let b = only(check_bad_headers(&msg(&long, "x")));
    assert_eq!(b.minor, 5);
    assert_eq!(
        b.text,
        format!(
            "Header line longer than 998 characters: Subject: {}[...]",
            "a".repeat(41)
        )
    );
    // 998 is allowed.
    let ok = format!("Subject: {}\r\n", "a".repeat(989));
    assert_eq!(check_bad_headers(&msg(&ok, "x")), vec![]);
}

#[test]
fn minor_6_invalid_field_syntax() {
    let b = only(check_bad_headers(&msg(
        "Subject: x\r\nThis is not a header\r\n",
        "x",
    )));
    assert_eq!(b.minor, 6);
    assert_eq!(b.text, "Invalid header field syntax: This is not a header");
    let b = only(check_bad_headers(&msg(
        "Subject: x\r\nX-Gr\u{fc}n: y\r\n",
        "x",
    )));
    assert_eq!(b.minor, 6);
    // amavisd's quirk (pos() undefined here) reproduced.
    assert_eq!(
        b.text,
        "Invalid header field name, contains non-ASCII char (char C3 hex): X-Gr\\x{C3}\\x{BC}n: y\\x{C3}X-Gr\\x{C3}\\x{BC}n: y"
    );
}

#[test]
fn long_context_shortened_as_amavisd() {
    let mut m = msg(
        &format!(
            "X-Very-Long-Name-Here: {}\u{0}{}\r\n",
            "a".repeat(68),
            "b".repeat(37)
        ),
        "x",
    );
    let i = m.iter().position(|&c| c == 0).unwrap();
    m[i] = 0xe9;
    let b = only(check_bad_headers(&m));
    assert_eq!(
        b.text,
        "Non-encoded non-ASCII data (and not UTF-8) (char E9 hex): X-Very-Long-Name-Here: ...aaaaaaaaaaaaaaaaaaaaaaaaa\\x{E9}bbbbbbbbbbbbbbb[...]"
    );
}

#[test]
fn minor_7_missing_date_and_from() {
    let m = b"To: bob@example.com\r\nSubject: x\r\n\r\nbody\r\n";
    let bad = check_bad_headers(m);
    let texts: Vec<&str> = bad.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Missing required header field: \"Date\"",
            "Missing required header field: \"From\""
        ]
    );
    assert_eq!(minor(&bad), 7);
}

#[test]
fn minor_8_duplicate_fields() {
    let b = only(check_bad_headers(&msg(
        "Subject: one\r\nSubject: two\r\n",
        "x",
    )));
    assert_eq!(
        (b.minor, b.text.as_str()),
        (8, "Duplicate header field: \"Subject\"")
    );
    let b = only(check_bad_headers(&msg("To: a@x\r\nTo: b@x\r\n", "x")));
    assert_eq!(
        b.text,
        "Header field occurs more than once: \"To\" occurs 3 times"
    );
}

#[test]
fn overall_minor_is_the_highest() {
    let m = msg("Subject: one\r\nSubject: two\r\nX-A: a\0\r\n", "x");
    let bad = check_bad_headers(&m);
    assert_eq!(bad.iter().map(|b| b.minor).collect::<Vec<_>>(), [3, 8]);
    assert_eq!(minor(&bad), 8);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000)) {
        let _ = check_bad_headers(&data);
    }

    #[test]
    fn header_like_lines_never_panic(lines in proptest::collection::vec("[ -~\t\x00\r\u{80}-\u{ff}]{0,1200}", 0..20)) {
        let m = lines.join("\n");
        let bad = check_bad_headers(m.as_bytes());
        // Every entry has one of amavisd's minor codes.
        proptest::prop_assert!(bad.iter().all(|b| (1..=8).contains(&b.minor)));
    }
}
