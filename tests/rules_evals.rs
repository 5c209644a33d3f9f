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

fn to_list(addrs: &[&str]) -> String {
    format!(
        "From: a@b.example\nTo: {}\nSubject: s\n\nx\n",
        addrs.join(", ")
    )
}

#[test]
fn sorted_recipients() {
    let r = "header SR eval:sorted_recipients()";
    let sorted = [
        "al@a.example",
        "bo@b.example",
        "cy@c.example",
        "di@d.example",
        "ed@e.example",
        "fa@f.example",
        "gu@g.example",
    ];
    assert!(hit(r, &to_list(&sorted)));
    let mut unsorted = sorted;
    unsorted.swap(0, 6);
    assert!(!hit(r, &to_list(&unsorted)));
    // fewer than 7 recipients never count as sorted
    assert!(!hit(r, &to_list(&sorted[..6])));
}

#[test]
fn similar_recipients() {
    let r = "header SIM eval:similar_recipients('0.65','undef')";
    // all local parts start "ab": every pair is similar
    let similar = [
        "ab1@h1.example",
        "ab2@h2.example",
        "ab3@h3.example",
        "ab4@h4.example",
        "ab5@h5.example",
    ];
    assert!(hit(r, &to_list(&similar)));
    let diverse = [
        "al@a.example",
        "bo@b.example",
        "cy@c.example",
        "di@d.example",
        "ed@e.example",
    ];
    assert!(!hit(r, &to_list(&diverse)));
    // under 5 recipients the similarity stays 0
    assert!(!hit(r, &to_list(&similar[..4])));
}

#[test]
fn to_in_subject() {
    let r = "header LP eval:check_for_to_in_subject('user')";
    let m = |subj: &str| {
        format!("From: a@b.example\nTo: Bob <bob@example.org>\nSubject: {subj}\n\nx\n")
    };
    assert!(hit(r, &m("bob, your invoice is ready")));
    assert!(hit(r, &m("Re: hello bob")));
    assert!(hit(r, &m("bob")));
    // every form is anchored at the start of the Subject
    assert!(!hit(r, &m("special offer for bob")));
    // the "user:" form is case-sensitive in SpamAssassin
    assert!(!hit(r, &m("BOB, your invoice")));
    assert!(!hit(r, &m("bobby tables")));
    let addr = "header LA eval:check_for_to_in_subject('address')";
    assert!(hit(addr, &m("mail for bob@example.org inside")));
    assert!(!hit(addr, &m("mail for bob inside")));
}

#[test]
fn helo_ip_mismatch() {
    let r = "header HIM eval:helo_ip_mismatch()";
    let m = |helo: &str| {
        format!(
            "Received: from {helo} (unknown [203.0.113.9]) by mx.example.org (Postfix) with SMTP id A1; Mon, 3 Mar 2025 10:00:00 +0000\nFrom: a@b.example\n\nx\n"
        )
    };
    assert!(hit(r, &m("198.51.100.7")));
    // same /24 is fine, so are names and private literals
    assert!(!hit(r, &m("203.0.113.200")));
    assert!(!hit(r, &m("mail.example.net")));
    assert!(!hit(r, &m("192.168.1.1")));
}

#[test]
fn subject_lists() {
    let wl = "welcomelist_subject *weekly?report*\nheader SW eval:check_subject_in_welcomelist()";
    let m = |s: &str| format!("From: a@b.example\nSubject: {s}\n\nx\n");
    assert!(hit(wl, &m("Your WEEKLY REPORT is ready")));
    assert!(!hit(wl, &m("Your monthly report")));
    let bl = "blocklist_subject cheap\nheader SB eval:check_subject_in_blocklist()";
    // an entry without wildcards still matches anywhere (unanchored regex)
    assert!(hit(bl, &m("Very CHEAP pills")));
    assert!(!hit(bl, &m("expensive")));
}

#[test]
fn abundant_unicode() {
    let r = "body UNI eval:check_abundant_unicode_ratio(0.02)";
    let ents = "&#x0410;&#x0411;&#x0412; ".repeat(20);
    let m = format!("From: a@b.example\nContent-Type: text/plain\n\n{ents}\n");
    assert!(hit(r, &m));
    assert!(!hit(
        r,
        "From: a@b.example\nContent-Type: text/plain\n\nplain words only\n"
    ));
    // lower-case hex is not counted (the Perl pattern is [0-9A-F])
    let lower = format!("From: a@b.example\n\n{}\n", "&#x04ab; ".repeat(20));
    assert!(!hit(r, &lower));
    // an argument the Perl rejects never hits
    assert!(!hit("body UNI eval:check_abundant_unicode_ratio(2)", &m));
}

#[test]
fn html_title_subject_ratio() {
    let r = "body TSR eval:html_title_subject_ratio('3.5')";
    let m = |title: &str| {
        format!(
            "From: a@b.example\nSubject: Hi\nContent-Type: text/html\n\n<html><head><title>{title}</title></head><body>x</body></html>\n"
        )
    };
    assert!(hit(r, &m("A very long title that dwarfs the subject")));
    assert!(!hit(r, &m("Hi")));
}

#[test]
fn https_http_mismatch() {
    let r = "util_rb_tld com org\nbody HM eval:check_https_http_mismatch('1','10')";
    let m = |href: &str, text: &str| {
        format!(
            "From: a@b.example\nContent-Type: text/html\n\n<html><body><a href=\"{href}\">{text}</a></body></html>\n"
        )
    };
    assert!(hit(
        r,
        &m(
            "http://login.example.com/x",
            "https://www.example.org/account"
        )
    ));
    assert!(!hit(
        r,
        &m(
            "http://login.example.com/x",
            "https://secure.example.com/account"
        )
    ));
    assert!(!hit(r, &m("http://login.example.com/x", "click here")));
}

#[test]
fn iframe_and_stock() {
    let ifr = "body IF eval:check_iframe_src()";
    let html = |b: &str| {
        format!("From: a@b.example\nContent-Type: text/html\n\n<html><body>{b}</body></html>\n")
    };
    assert!(hit(
        ifr,
        &html("<iframe width=1 src=\"http://x.example/\"></iframe>")
    ));
    assert!(!hit(ifr, &html("<p>no frames</p>")));
    let st = "body ST eval:check_stock_info('2')";
    let tip = "From: a@b.example\n\nCompany: Acme Mining\nSymbol: ACMM\nTarget: $5.00\n";
    assert!(hit(st, tip));
    assert!(!hit(
        st,
        "From: a@b.example\n\nCompany: Acme Mining\nHello: there\n"
    ));
}

#[test]
fn to_in_subject_needs_a_real_address() {
    // SpamAssassin's To:addr is empty for "To: XX", so nothing can match
    let r = "header LP eval:check_for_to_in_subject('user')";
    assert!(!hit(r, "From: a@b.example\nTo: XX\nSubject: XX\n\nx\n"));
    assert!(hit(
        r,
        "From: a@b.example\nTo: XX@example.org\nSubject: XX\n\nx\n"
    ));
}

#[test]
fn forged_gmail() {
    let r = "header FG eval:check_for_forged_gmail_received_headers()";
    let m = |extra: &str| format!("From: Gina <gina@gmail.com>\n{extra}Subject: s\n\nx\n");
    // short Google headers do not vouch for the message
    assert!(hit(
        r,
        &m("X-Gm-Message-State: AOJu0Yw\nX-Google-Smtp-Source: AGHT\n")
    ));
    let long = "A".repeat(70);
    assert!(!hit(
        r,
        &m(&format!(
            "X-Gm-Message-State: {long}\nX-Google-Smtp-Source: {long}\n"
        ))
    ));
    assert!(!hit(
        r,
        &m("X-Received: by 10.1.2.3 with SMTP id abc123;\n")
    ));
    assert!(!hit(r, "From: a@example.org\n\nx\n"));
}

#[test]
fn env_and_header_from() {
    let r = "header EHF eval:check_for_matching_env_and_hdr_from()";
    assert!(hit(
        r,
        "Return-Path: <Joe@B.example>\nFrom: joe@b.example\n\nx\n"
    ));
    assert!(!hit(
        r,
        "Return-Path: <other@b.example>\nFrom: joe@b.example\n\nx\n"
    ));
    // a Return-Path below a Received line is not trusted as envelope sender
    let below = format!("{RCVD}Return-Path: <joe@b.example>\nFrom: joe@b.example\n\nx\n");
    assert!(!hit(r, &below));
}

#[test]
fn gated_and_forged_relays() {
    let g = "header GT eval:gated_through_received_hdr_remover()";
    assert!(hit(g, "From: a@b.example\n\nx\n"));
    assert!(!hit(g, &msg("", "x\n")));
    let hm = "header HM eval:check_for_no_hotmail_received_headers()";
    let m = format!("{RCVD}From: joe@hotmail.com\n\nx\n");
    assert!(hit(hm, &m));
    assert!(!hit(hm, &msg("", "x\n")));
    let aol = "header AOL eval:check_for_fake_aol_relay_in_rcvd()";
    let fake = "Received: from rly-xa01.example.net ([192.0.2.1]) by mx.example.org with SMTP id A1; Mon, 3 Mar 2025 10:00:00 +0000\nFrom: a@b.example\n\nx\n";
    assert!(hit(aol, fake));
    assert!(!hit(aol, &msg("", "x\n")));
    let trail = "header TRAIL eval:check_for_forged_received_trail()";
    let hop = |rdns: &str, by: &str| {
        format!(
            "Received: from h ({rdns} [192.0.43.9]) by {by} with ESMTP id X; Mon, 3 Mar 2025 10:00:00 +0000\n"
        )
    };
    // each hop claims to come from a host other than the one that handed it on
    let forged = format!(
        "{}{}{}From: a@b.example\n\nx\n",
        hop("mx.one.example", "mx.example.org"),
        hop("relay.two.example", "mail.three.example"),
        hop("out.four.example", "relay.five.example")
    );
    assert!(hit(trail, &forged));
    let honest = format!(
        "{}{}From: a@b.example\n\nx\n",
        hop("relay.one.example", "mx.example.org"),
        hop("out.two.example", "relay.one.example")
    );
    assert!(!hit(trail, &honest));
}

#[test]
fn ratware_name_id_and_uppercase() {
    let r = "header RN eval:check_ratware_name_id()";
    let id = "ABCDEFGHIJKLMNOPQRSTUVWXYZAB";
    let m = format!("From: \"Joe\" <joe@b.example>\nMessage-ID: <{id}.joe@b.example>\n\nx\n");
    assert!(hit(r, &m));
    assert!(!hit(
        r,
        "From: \"Joe\" <joe@b.example>\nMessage-ID: <abc@b.example>\n\nx\n"
    ));
    let up = "body UP eval:check_for_uppercase('50', '75')";
    let shouty = "THIS IS A VERY LOUD MESSAGE and some quiet words here. ".repeat(5);
    assert!(hit(up, &format!("From: a@b.example\n\n{shouty}\n")));
    let quiet = "this is a calm message with only lower case words. ".repeat(5);
    assert!(!hit(up, &format!("From: a@b.example\n\n{quiet}\n")));
    // under 200 characters the ratio is not computed
    assert!(!hit(up, "From: a@b.example\n\nLOUD WORDS here\n"));
}

#[test]
fn mailfrom_matches_rcvd() {
    let r = "header RP eval:check_mailfrom_matches_rcvd()";
    let m = |rp: &str| {
        format!(
            "Return-Path: <{rp}>\nReceived: from mx (out.sender.example [192.0.43.5]) by mx.example.org with ESMTP id Q; Mon, 3 Mar 2025 10:00:00 +0000\nFrom: a@b.example\n\nx\n"
        )
    };
    assert!(hit(r, &m("bounce@mail.sender.example")));
    assert!(!hit(r, &m("bounce@other.example")));
}

#[test]
fn address_and_uri_host_lists() {
    let cfg = "enlist_addrlist (PAYPAL) *@paypal.example *@*.paypal.example\nenlist_addrlist (OTHER) *@x.example\n";
    let from = format!("{cfg}header FL eval:check_from_in_list('PAYPAL')");
    assert!(hit(
        &from,
        "From: PayPal <service@mail.paypal.example>\n\nx\n"
    ));
    assert!(!hit(&from, "From: a@x.example\n\nx\n"));
    let rt = format!("{cfg}header RL eval:check_replyto_in_list('OTHER')");
    assert!(hit(
        &rt,
        "From: a@b.example\nReply-To: Joe <joe@x.example>\n\nx\n"
    ));
    assert!(!hit(&rt, "From: a@x.example\n\nx\n"));
    let uri =
        "enlist_uri_host (BADTLD) top !ok.top\nheader UL eval:check_uri_host_listed('BADTLD')";
    let m = |u: &str| format!("From: a@b.example\n\nsee {u} now\n");
    assert!(hit(uri, &m("http://shop.example.top/x")));
    // a more specific "!" entry wins
    assert!(!hit(uri, &m("http://www.ok.top/")));
    assert!(!hit(uri, &m("http://shop.example.com/")));
}

#[test]
fn tflags_multiple_scores_each_hit() {
    let rules = "rawbody MULTI /guid-\\d/\ntflags MULTI multiple maxhits=3\nscore MULTI 1.5\n";
    let rs = RuleSet::from_config_text(rules);
    let r = rs.check(
        b"From: a@b.example\n\nguid-1 guid-2\nguid-3 guid-4 guid-5\n",
        None,
    );
    // SpamAssassin 4.0.1: three hits of 1.5, each listed (PerMsgStatus
    // _handle_hit pushes the name once per hit).
    assert_eq!(r.score, 4.5);
    assert_eq!(r.tests_string(), "MULTI=1.5,MULTI=1.5,MULTI=1.5");
}
