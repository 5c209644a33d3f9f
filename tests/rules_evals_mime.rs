//! Eval functions about the MIME structure (ImageInfo, parse flags, the
//! Message.pm part tree), one small hand-made message each.

use amavisd_rs::rules::RuleSet;

fn hit(rule: &str, msg: &str) -> bool {
    let rs = RuleSet::from_config_text(&format!("{rule}\n"));
    let r = rs.check(msg.as_bytes(), None);
    !r.hits.is_empty()
}

// Image headers only: ImageInfo reads no further than the size fields.
const GIF_300X200: &[u8] = b"GIF89a\x2c\x01\xc8\x00\x00\x00\x00";
const PNG_300X200: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x2c\x00\x00\x00\xc8\x08\x02\x00\x00\x00\x00\x00\x00\x00";
const JPEG_100X50: &[u8] =
    b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x0b\x08\x00\x32\x00\x64\x01\x01\x11\x00";

fn with_images(text: &str, imgs: &[(&str, &str, &[u8])]) -> String {
    use base64::Engine;
    let mut m = format!(
        "From: a@b.example\nSubject: s\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n{text}\n"
    );
    for (ty, name, data) in imgs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        m.push_str(&format!(
            "--B\nContent-Type: image/{ty}; name=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{b64}\n"
        ));
    }
    m.push_str("--B--\n");
    m
}

#[test]
fn image_info() {
    let one_gif = with_images("hi", &[("gif", "logo.gif", GIF_300X200)]);
    let all = with_images(
        "hi",
        &[
            ("gif", "a.gif", GIF_300X200),
            ("png", "b.png", PNG_300X200),
            ("jpeg", "c.jpg", JPEG_100X50),
        ],
    );
    assert!(hit("body G1 eval:image_count('gif','1','1')", &one_gif));
    assert!(!hit("body G2 eval:image_count('gif','2')", &one_gif));
    assert!(hit("body ALL eval:image_count('all',3,3)", &all));
    assert!(!hit("body P1 eval:image_count('png','1','1')", &one_gif));
    // 300x200 = 60000 pixels; the three images 60000+60000+5000
    assert!(hit(
        "body PC eval:pixel_coverage('gif','50000','70000')",
        &one_gif
    ));
    assert!(hit(
        "body PCA eval:pixel_coverage('all',125000,125000)",
        &all
    ));
    assert!(!hit("body PCA eval:pixel_coverage('all',125001)", &all));
    assert!(hit(
        "body SE eval:image_size_exact('png','200','300')",
        &all
    ));
    assert!(hit(
        "body SJ eval:image_size_exact('jpeg','50','100')",
        &all
    ));
    assert!(!hit(
        "body SE eval:image_size_exact('png','300','200')",
        &all
    ));
    assert!(hit(
        "body SR eval:image_size_range('jpeg','40','90','60','110')",
        &all
    ));
    assert!(!hit(
        "body SR eval:image_size_range('jpeg','60','90')",
        &all
    ));
    assert!(hit("body NM eval:image_named('logo.gif')", &one_gif));
    assert!(!hit("body NM eval:image_named('other.gif')", &one_gif));
    assert!(hit(
        "body NR eval:image_name_regex(/^lo.o\\.gif$/)",
        &one_gif
    ));
    assert!(!hit("body NR eval:image_name_regex(/^other/)", &one_gif));
    // a short text beside 60000 pixels: ratio well under 0.015
    assert!(hit(
        "body TR eval:image_to_text_ratio('all', '0.000', '0.015')",
        &one_gif
    ));
    let long = with_images(&"words ".repeat(400), &[("gif", "logo.gif", GIF_300X200)]);
    assert!(!hit(
        "body TR eval:image_to_text_ratio('all', '0.000', '0.015')",
        &long
    ));
    // not base64: ImageInfo skips the part
    let raw = one_gif.replace(
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: 7bit",
    );
    assert!(!hit("body G1 eval:image_count('gif','1','1')", &raw));
}

#[test]
fn mime_parse_flags() {
    let sep = "body SEP eval:check_msg_parse_flags('missing_mime_head_body_separator')";
    let hdrs = "body NOH eval:check_msg_parse_flags('missing_mime_headers')";
    let epi = "body EPI eval:check_msg_parse_flags('mime_epilogue_exists')";
    let mp = |parts: &str| {
        format!("From: a@b.example\nContent-Type: multipart/mixed; boundary=\"B\"\n\n{parts}")
    };
    let good = mp("--B\nContent-Type: text/plain\n\nx\n--B--\n");
    for r in [sep, hdrs, epi] {
        assert!(!hit(r, &good), "{r}");
    }
    assert!(hit(
        sep,
        &mp("--B\nContent-Type: text/plain\nbody at once\n--B--\n")
    ));
    assert!(hit(hdrs, &mp("--B\n\nno headers\n--B--\n")));
    // a part that repeats the enclosing boundary in its last header hides
    // the inner boundaries; in any other header it does not, and the rest
    // after the first closing line is an epilogue
    let reuse_not_last = mp(
        "--B\nContent-Type: multipart/alternative; boundary=\"B\"\nContent-ID: <1@x>\n\n--B\nContent-Type: text/plain\n\nx\n--B--\n\n--B--\n",
    );
    assert!(hit(epi, &reuse_not_last));
    let reuse_last = mp(
        "--B\nContent-ID: <1@x>\nContent-Type: multipart/alternative; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nx\n--B--\n\n--B--\n",
    );
    assert!(!hit(epi, &reuse_last));
}

#[test]
fn mime_tree_as_spamassassin_builds_it() {
    // mimeheader rules also see multipart containers (the top one here)
    let mh = "mimeheader MP Content-Type =~ /multipart\\/parallel/";
    let par = "From: a@b.example\nContent-Type: multipart/parallel; boundary=\"P\"\n\n--P\nContent-Type: text/plain\n\nx\n--P--\n";
    assert!(hit(mh, par));
    assert!(!hit(mh, &par.replace("parallel", "mixed")));
    // a boundary that never appears: the whole body is one text part
    let body = "body DINGUS /dingus fish/";
    let lost = "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"NEVER\"\n\nThis is the dingus fish.\n";
    assert!(hit(body, lost));
    // two Content-Type headers on a part: the last one counts
    let two = "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: multipart/alternative; boundary=\"C\"\nContent-Type: text/plain\n\nthe dingus fish\n--B--\n";
    assert!(hit(body, two));
}
