//! Per-rule-kind and per-eval-function tests with small hand-made messages
//! and rules written inline (no installed SpamAssassin needed).

use amavisd_rs::rules::{RuleSet, explain};

fn hits(rules: &str, msg: &str) -> Vec<String> {
    let rs = RuleSet::from_config_text(rules);
    assert!(rs.compile_errors().is_empty(), "{:?}", rs.compile_errors());
    hit_names(&rs, msg)
}

/// The names of the rules of `rs` that hit `msg`, in report order.
fn hit_names(rs: &RuleSet, msg: &str) -> Vec<String> {
    rs.check(msg.as_bytes(), None)
        .hits
        .into_iter()
        .map(|h| h.name)
        .collect()
}

const MSG: &str = "Received: from mx.example.net (mx.example.net [192.0.2.7]) by mail.example.org (Postfix) with ESMTP id ABC123; Mon, 3 Mar 2025 10:00:00 +0000\n\
From: \"Joe Sender\" <joe@sender.example>\n\
To: Ann <ann@example.org>\n\
Cc: bob@example.org\n\
Subject: =?utf-8?Q?Caf=C3=A9_special?= offer\n\
Message-ID: <abc@sender.example>\n\
Date: Mon, 3 Mar 2025 10:00:00 +0000\n\
X-Folded: one\n two\n\
\n\
First paragraph line one\nline two of it.\n\nSecond paragraph with http://www.spam.example/buy now\n";

/// The result for an absent header is worked out once per rule and kept:
/// it must not leak into a message that has the header, nor be lost for
/// the next one without it.
#[test]
fn absent_header_result_holds_across_messages() {
    let rs = RuleSet::from_config_text(
        "header H_UNSET X-Opt =~ /^dflt$/ [if-unset: dflt]\n\
         header H_NEG X-Opt !~ /x/\n\
         header H_EMPTY X-Opt =~ /^$/\n",
    );
    let names = |m: &str| {
        let mut v = hit_names(&rs, m);
        v.sort();
        v
    };
    let with = MSG.replacen("X-Folded:", "X-Opt: x\nX-Folded:", 1);
    let absent = ["H_EMPTY", "H_NEG", "H_UNSET"];
    assert_eq!(names(MSG), absent);
    assert!(names(&with).is_empty(), "{:?}", names(&with));
    assert_eq!(names(MSG), absent);
}

#[test]
fn header_rules() {
    let r = "header H_SUBJ Subject =~ /^Caf\\xc3\\xa9 special offer$/\n\
             header H_RAW Subject:raw =~ /=\\?utf-8\\?Q\\?/\n\
             header H_ADDR From:addr =~ /^joe\\@sender\\.example$/\n\
             header H_NAME From:name =~ /^Joe Sender$/\n\
             header H_NEG X-Missing !~ /x/\n\
             header H_UNSET X-Missing =~ /^dflt$/ [if-unset: dflt]\n\
             header H_EXISTS exists:Cc\n\
             header H_NOEXISTS exists:Bcc\n\
             header H_TOCC ToCc =~ /bob\\@example\\.org/\n\
             header H_MSGID MESSAGEID =~ /abc\\@sender/\n\
             header H_ALL ALL =~ /^X-Folded: one two$/m\n\
             header H_FOLDRAW X-Folded:raw =~ /^ one two\\n$/\n";
    let mut h = hits(r, MSG);
    h.sort();
    assert_eq!(
        h,
        vec![
            "H_ADDR",
            "H_ALL",
            "H_EXISTS",
            "H_FOLDRAW",
            "H_MSGID",
            "H_NAME",
            "H_NEG",
            "H_RAW",
            "H_SUBJ",
            "H_TOCC",
            "H_UNSET"
        ]
    );
}

#[test]
fn envelope_from_pseudo_header() {
    let rs = RuleSet::from_config_text("header EF EnvelopeFrom =~ /^bounce\\@x\\.example$/\n");
    assert_eq!(
        rs.check(MSG.as_bytes(), Some("bounce@x.example"))
            .hits
            .len(),
        1
    );
    assert!(rs.check(MSG.as_bytes(), None).hits.is_empty());
}

#[test]
fn body_sees_subject_first_and_paragraphs_as_lines() {
    let r = "body B_SUBJ /^Caf\\xc3\\xa9 special offer$/\n\
             body B_JOINED /line one line two of it\\./\n\
             body B_SPAN /of it\\. Second/\n\
             body B_NOSUBJ /special offer/\n tflags B_NOSUBJ nosubject\n\
             body B_ANCHOR /^Second paragraph/\n";
    let mut h = hits(r, MSG);
    h.sort();
    assert_eq!(h, vec!["B_ANCHOR", "B_JOINED", "B_SUBJ"]);
}

#[test]
fn rawbody_full_and_uri() {
    let msg = "From: a@b.example\nSubject: s\nContent-Type: text/html\n\n<html><body><p>Hello <b>World</b> <a href=\"http://evil.example/x\">here</a></p></body></html>\n";
    let r = "rawbody R_TAG /<b>World<\\/b>/\n\
             body B_RENDERED /Hello World here/\n\
             body B_NO_TAG /<b>/\n\
             full F_HDR /^Subject: s$/m\n\
             uri U_EVIL /^http:\\/\\/evil\\.example\\//\n\
             uri U_NONE /nothing\\.example/\n";
    let mut h = hits(r, msg);
    h.sort();
    assert_eq!(h, vec!["B_RENDERED", "F_HDR", "R_TAG", "U_EVIL"]);
}

#[test]
fn quoted_printable_and_base64_parts_are_decoded() {
    let msg = "From: a@b.example\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nfree=20money=\n now\n--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGlkZGVuIHdvcmRz\n--XX\nContent-Type: application/octet-stream; name=\"a.pdf\"\n\nxx\n--XX--\n";
    let r = "body QP /free money now/\nbody B64 /hidden words/\n\
             mimeheader MH_PDF Content-Type =~ /\\.pdf\"?$/\n\
             mimeheader MH_NONE Content-Type =~ /\\.exe/\n";
    let mut h = hits(r, msg);
    h.sort();
    assert_eq!(h, vec!["B64", "MH_PDF", "QP"]);
}

#[test]
fn meta_boolean_and_arithmetic() {
    let r = "body __A /First/\nbody __B /Second/\nbody __C /Absent/\n\
             body __W /\\bparagraph\\b/\ntflags __W multiple\n\
             meta M_AND __A && __B\nmeta M_NOT __A && !__C\nmeta M_OR __C || __B\n\
             meta M_SUM (__A + __B + __C) >= 2\nmeta M_FAIL __A && __C\n\
             meta M_COUNT __W > 1\nmeta M_UNDEF __A && !NO_SUCH_RULE\n";
    let mut h = hits(r, MSG);
    h.sort();
    assert_eq!(
        h,
        vec!["M_AND", "M_COUNT", "M_NOT", "M_OR", "M_SUM", "M_UNDEF"]
    );
}

#[test]
fn scores_defaults_rounding_and_disabled_rules() {
    let r = "body R1 /First/\nscore R1 1.2344\n\
             body T_R2 /First/\n\
             body R3 /First/\nscore R3 0.5 2 3 4\n\
             body R4 /First/\nscore R4 0\n\
             body R5 /First/\ntflags R5 nice\n\
             body R6 /First/\ntflags R6 net\nscore R6 3\n\
             body __R7 /First/\n\
             meta R8 R4 || R6\n";
    let rs = RuleSet::from_config_text(r);
    let res = rs.check(MSG.as_bytes(), None);
    let names: Vec<(&str, f64)> = res
        .hits
        .iter()
        .map(|h| (h.name.as_str(), h.score))
        .collect();
    assert_eq!(
        names,
        vec![("R1", 1.2344), ("R3", 0.5), ("R5", -1.0), ("T_R2", 0.01)]
    );
    // 1.2344 + 0.5 - 1 + 0.01 = 0.7444 → "%0.3f" → 0.744
    assert_eq!(res.score, 0.744);
    assert_eq!(res.tests_string(), "R1=1.234,R3=0.5,R5=-1,T_R2=0.01");
}

#[test]
fn conditionals_replace_tags_and_required_score() {
    let r = "required_score 3.5\n\
             ifplugin Mail::SpamAssassin::Plugin::NotLoaded\nbody NO1 /First/\nendif\n\
             if (version >= 3.004000)\nbody YES1 /First/\nelse\nbody NO2 /First/\nendif\n\
             if !plugin(Mail::SpamAssassin::Plugin::ReplaceTags)\nbody NO3 /First/\nendif\n\
             replace_tag PAR (?:p|P)ar\nreplace_tag AGR agraph\n\
             body TAGGED /<PAR><AGR>/\nreplace_rules TAGGED\n";
    let rs = RuleSet::from_config_text(r);
    assert_eq!(rs.required_score(), 3.5);
    let res = rs.check(MSG.as_bytes(), None);
    let h: Vec<&str> = res.hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(h, vec!["TAGGED", "YES1"]);
}

#[test]
fn gtube_builtin_and_explain() {
    let rs = RuleSet::builtin();
    assert!(rs.rule_count() >= 1);
    let msg = "From: a@b.example\nDate: Mon, 3 Mar 2025 10:00:00 +0000\nSubject: test\n\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n";
    let res = rs.check(msg.as_bytes(), None);
    assert!(res.is_spam());
    assert_eq!(res.hits.len(), 1);
    assert_eq!(res.hits[0].name, "GTUBE");
    let report = explain(&res);
    assert!(report.contains("1000 GTUBE"), "{report}");
    assert!(report.contains("(1000.0 points, 5.0 required)"), "{report}");
    let clean = rs.check(b"From: a@b.example\nDate: x\n\nhello\n", None);
    assert!(clean.hits.is_empty() && !clean.is_spam());
}

#[test]
fn garbage_input_never_panics() {
    let rs = RuleSet::builtin();
    for m in [
        &b""[..],
        b"\n\n\n",
        b"no headers at all",
        &[0xff, 0xfe, 0x00, 0x0a][..],
    ] {
        let r = rs.check(m, None);
        assert!(r.score.is_finite());
    }
}

#[test]
fn ruleset_is_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    let rs = std::sync::Arc::new(RuleSet::builtin());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let rs = rs.clone();
            std::thread::spawn(move || rs.check(b"Subject: x\n\nhello\n", None).hits.len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 2, "MISSING_FROM and MISSING_DATE");
    }
}

/// Prefiltered rules whose literals start every match are tried only at
/// the literals' occurrences: a match at a later occurrence still counts,
/// look-behind still sees the bytes before the literal, and `nosubject`
/// still leaves out the Subject line (both engines).
#[test]
fn body_rules_tried_at_their_literals() {
    let r = "body B_LB /(?<!not )free money/\n\
             body B_LB_NO /(?<!not )free money now/\n\
             body B_RUST /\\bfree money\\b/i\n\
             body B_RUST_NO /\\bfree moneyz/i\n\
             body B_X /(?<!not )free \\s+ money/x\n\
             body B_NOSUBJ /special offer/i\n\
             tflags B_NOSUBJ nosubject\n\
             body B_SUBJ /special offer/i\n";
    let msg = MSG.replace(
        "Second paragraph",
        "not free money now, FREE MONEY later, freefree money, not free money",
    );
    let mut got = hits(r, &msg);
    got.sort();
    assert_eq!(got, ["B_LB", "B_RUST", "B_SUBJ", "B_X"]);
}

/// `tflags multiple` rules tried at their literals count as a search from
/// left to right does: matches do not overlap, each segment counts on its
/// own, and `maxhits` caps the count (both engines).
#[test]
fn multiple_rules_counted_at_their_literals() {
    let r = "body M_RUST /xyzxyz/\n\
             tflags M_RUST multiple\n\
             body M_PCRE /(?<!q)xyzxyz/\n\
             tflags M_PCRE multiple\n\
             body M_MAX /xyzxyz/\n\
             tflags M_MAX multiple maxhits=2\n";
    let msg = MSG.replace(
        "Second paragraph",
        "xyzxyzxyz qxyzxyz xyzxyz.\n\nxyzxyzxyzxyz",
    );
    let got = hits(r, &msg);
    let n = |name: &str| got.iter().filter(|h| *h == name).count();
    // Line 1: 0, (3 overlaps), 18; "qxyzxyz" only for the regex crate rule.
    // Line 2: 0, 6.
    assert_eq!(n("M_RUST"), 5, "{got:?}");
    assert_eq!(n("M_PCRE"), 4, "{got:?}");
    assert_eq!(n("M_MAX"), 2, "{got:?}");
}
