//! Eval functions, one small hand-made message each (rules written inline).

use amavisd_rs::rules::RuleSet;

fn hit(rule: &str, msg: &str) -> bool {
    let rs = RuleSet::from_config_text(&format!("{rule}\n"));
    let r = rs.check(msg.as_bytes(), None);
    !r.hits.is_empty()
}

const RCVD: &str = "Received: from mx.example.net (mx.example.net [192.0.2.7]) by mail.example.org (Postfix) with ESMTP id ABC123; Mon, 3 Mar 2025 10:00:00 +0000\n";

fn msg(extra_headers: &str, body: &str) -> String {
    format!(
        "{RCVD}From: joe@sender.example\nTo: ann@example.org\nSubject: hello there\n{extra_headers}\n{body}"
    )
}

#[test]
fn shifted_date() {
    let r = "header D_FUT eval:check_for_shifted_date('3', '6')";
    assert!(hit(
        r,
        &msg("Date: Mon, 3 Mar 2025 14:00:00 +0000\n", "x\n")
    ));
    assert!(!hit(
        r,
        &msg("Date: Mon, 3 Mar 2025 10:05:00 +0000\n", "x\n")
    ));
    let past = "header D_PAST eval:check_for_shifted_date('undef', '-3')";
    assert!(hit(
        past,
        &msg("Date: Mon, 3 Mar 2025 05:00:00 +0000\n", "x\n")
    ));
}

#[test]
fn subject_caps_and_missing_to() {
    let caps = "header CAPS eval:subject_is_all_caps()";
    assert!(hit(
        caps,
        "From: a@b.example\nSubject: BUY CHEAP STUFF NOW\n\nx\n"
    ));
    assert!(!hit(
        caps,
        "From: a@b.example\nSubject: Buy cheap stuff now\n\nx\n"
    ));
    assert!(!hit(caps, "From: a@b.example\nSubject: SHORT\n\nx\n"));
    let to = "header NOTO eval:check_for_missing_to_header()";
    assert!(hit(to, "From: a@b.example\nSubject: s\n\nx\n"));
    assert!(!hit(to, "From: a@b.example\nTo: c@d.example\n\nx\n"));
}

#[test]
fn from_domains_and_ratware() {
    let r = "header DIFF eval:check_equal_from_domains()";
    let m = "From: a@mail.one.example\nReturn-Path: <b@other.example>\n\nx\n";
    assert!(hit(r, m));
    let same = "From: a@mail.one.example\nReturn-Path: <b@x.one.example>\n\nx\n";
    assert!(!hit(r, same));
    let rat = "header RAT eval:check_ratware_envelope_from()";
    let m = "From: a@b.example\nTo: ann@example.org\nReturn-Path: <example.org=ann@spam.example>\n\nx\n";
    assert!(hit(rat, m));
}

#[test]
fn relays() {
    let none = "header NR eval:check_no_relays()";
    assert!(hit(none, "From: a@b.example\n\nx\n"));
    assert!(!hit(none, &msg("", "x\n")));
    let unp = "header UP eval:check_relays_unparseable()";
    let m = "Received: from somewhere via nowhere; Mon, 3 Mar 2025 10:00:00 +0000\nFrom: a@b.example\n\nx\n";
    assert!(hit(unp, m));
    assert!(!hit(unp, &msg("", "x\n")));
    let rdns = "header RDNS X-Spam-Relays-External =~ /^[^\\]]+ rdns= /";
    let m = "Received: from helo.example ([203.0.113.5]) by mx.example.org with SMTP id X1; Mon, 3 Mar 2025 10:00:00 +0000\nFrom: a@b.example\n\nx\n";
    assert!(hit(rdns, m));
    assert!(!hit(rdns, &msg("", "x\n")));
}

#[test]
fn freemail() {
    let cfg = "freemail_domains freemail.example *.free.example\n";
    let from = format!("{cfg}header FM eval:check_freemail_from()");
    assert!(hit(&from, "From: Joe <joe@freemail.example>\n\nx\n"));
    assert!(hit(&from, "From: Joe <joe@mx.free.example>\n\nx\n"));
    assert!(!hit(&from, "From: Joe <joe@paid.example>\n\nx\n"));
    let rt = format!("{cfg}header FMR eval:check_freemail_replyto('replyto')");
    assert!(hit(
        &rt,
        "From: joe@freemail.example\nReply-To: other@freemail.example\n\nx\n"
    ));
    assert!(!hit(
        &rt,
        "From: joe@freemail.example\nReply-To: joe@freemail.example\n\nx\n"
    ));
}

const HTML_ONLY: &str = "From: a@b.example\nSubject: s\nContent-Type: text/html\n\n<html><body><font size=\"+3\">Big</font> <img src=\"http://x.example/i.gif\" width=\"400\" height=\"300\"></body></html>\n";

#[test]
fn html_evals() {
    assert!(hit("body HM eval:html_test('html')", HTML_ONLY));
    assert!(!hit(
        "body HM eval:html_test('html')",
        "From: a@b.example\n\nplain\n"
    ));
    assert!(hit(
        "body FS eval:html_range('max_size', '5', '6')",
        HTML_ONLY
    ));
    assert!(hit(
        "body IR eval:html_image_ratio('0.000','0.002')",
        HTML_ONLY
    ));
    // the HTML part is about 130 bytes long
    assert!(hit(
        "body IO eval:html_image_only('0000','0400')",
        HTML_ONLY
    ));
    assert!(!hit(
        "body IO eval:html_image_only('0400','0800')",
        HTML_ONLY
    ));
    assert!(hit(
        "body TB eval:html_tag_balance('body', '== 0')",
        HTML_ONLY
    ));
    assert!(hit("body TE eval:html_tag_exists('img')", HTML_ONLY));
    assert!(hit("body MO eval:check_for_mime_html_only()", HTML_ONLY));
}

#[test]
fn mime_evals() {
    let b64 = "From: a@b.example\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n";
    assert!(hit(
        "rawbody B64 eval:check_for_mime('mime_base64_encoded_text')",
        b64
    ));
    let long = "x".repeat(90);
    let qp = format!(
        "From: a@b.example\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n{long}\n"
    );
    assert!(hit(
        "rawbody QPL eval:check_for_mime('mime_qp_long_line')",
        &qp
    ));
    assert!(!hit(
        "rawbody QPL eval:check_for_mime('mime_qp_long_line')",
        b64
    ));
    let illegal = "From: a@b.example\nContent-Type: text/plain; charset=us-ascii\n\ncaf\u{e9}\n";
    assert!(hit("body AI eval:check_for_ascii_text_illegal()", illegal));
    let epi = "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nx\n--B--\nepilogue text\n";
    assert!(hit(
        "body EPI eval:check_msg_parse_flags('mime_epilogue_exists')",
        epi
    ));
    let alt = "From: a@b.example\nContent-Type: multipart/alternative; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nhello world\n--B\nContent-Type: text/html\n\n<p>totally different words here</p>\n--B--\n";
    // every HTML word is missing from the text part: 100 % difference, and
    // SpamAssassin's range is (min, max]
    assert!(hit(
        "body MAD eval:multipart_alternative_difference('99', '100')",
        alt
    ));
    assert!(!hit(
        "body MAD eval:multipart_alternative_difference('50', '99')",
        alt
    ));
}
