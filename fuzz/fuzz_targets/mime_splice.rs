//! One message through the header path of the pipeline: mail-parser,
//! our header parser, the header splice (prepend, remove, Subject tag), the
//! bad-header check and the banned-name walk. The first byte picks which
//! edits apply; the rest is the message.
#![no_main]

use amavisd_rs::config::BannedRule;
use amavisd_rs::message::edit::HeaderEdits;
use amavisd_rs::message::head::Head;
use amavisd_rs::scan::bad_header::{check_bad_headers, mime_errors, minor};
use amavisd_rs::scan::banned::{BannedRules, Limits, check_banned};
use libfuzzer_sys::fuzz_target;
use mail_parser::MessageParser;
use std::sync::OnceLock;

mod upstream;

/// The field we prepend; the edits also remove every original copy of it,
/// so the result must hold it exactly once.
const MARK: &str = "X-Amavis-Fuzz-Mark";

fn banned_rules() -> &'static BannedRules {
    static RULES: OnceLock<BannedRules> = OnceLock::new();
    RULES.get_or_init(|| {
        BannedRules::new(&[
            BannedRule::Entry {
                re: "^application/x-allowed$".into(),
                ban: false,
            },
            BannedRule::Ban(r"(?i).\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$".into()),
            BannedRule::Ban(r"^\.(exe-ms|zip)$".into()),
            BannedRule::Ban("^UNDECIPHERABLE$".into()),
        ])
        .expect("banned rules compile")
    })
}

fn count(head: &Head, name: &str) -> usize {
    head.get(name).count()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    upstream::tolerate_known_debug_asserts();
    let _ = std::panic::catch_unwind(|| MessageParser::default().parse(msg).is_some());

    let head = Head::parse(msg);
    assert!(head.body_offset <= msg.len());
    let mut last = 0;
    for f in &head.fields {
        assert!(last <= f.start && f.start < f.value_start && f.value_start <= f.end);
        assert!(f.end <= head.body_offset, "field beyond the header section");
        last = f.end;
        let _ = f.value(msg);
    }

    let mut remove_names = vec![MARK.to_string()];
    if sel & 1 != 0 {
        remove_names.extend(["X-Spam-Flag".to_string(), "X-Spam-Status".to_string()]);
    }
    let subject_tag = (sel & 2 != 0).then(|| "***SPAM*** ".to_string());
    let edits = HeaderEdits {
        prepend: format!("{MARK}: yes\r\nX-Virus-Scanned: amavisd-rs\r\n").into_bytes(),
        remove_names: remove_names.clone(),
        subject_tag: subject_tag.clone(),
    };
    let orig_head = &msg[..head.body_offset];
    let body = &msg[head.body_offset..];
    let new_head = edits.apply(orig_head, &head);
    let mut out = new_head.clone();
    out.extend_from_slice(body);

    // The body is carried over byte for byte.
    assert!(out.ends_with(body));
    // Re-read the result: our field is there once, first; removed names are gone.
    let again = Head::parse(&out);
    assert_eq!(again.fields.first().map(|f| f.name.as_str()), Some(MARK));
    assert_eq!(count(&again, MARK), 1, "marker not exactly once");
    for n in &remove_names[1..] {
        assert_eq!(count(&again, n), 0, "{n} survived removal");
    }
    // Fields we did not touch keep their number.
    for f in &head.fields {
        if remove_names.iter().any(|n| f.is(n)) || f.is("Subject") {
            continue;
        }
        let extra = usize::from(f.is("X-Virus-Scanned"));
        assert_eq!(
            count(&again, &f.name),
            count(&head, &f.name) + extra,
            "{}",
            f.name
        );
    }
    if let Some(tag) = &subject_tag {
        let subj = again
            .first_value(&out, "Subject")
            .expect("tagged Subject present");
        assert!(
            subj.starts_with(tag.trim_end()),
            "Subject not tagged: {subj:?}"
        );
    }

    let bad = check_bad_headers(msg);
    assert!(minor(&bad) <= 8);
    let _ = mime_errors(msg);
    let limits = Limits {
        maxlevels: Some(8),
        maxfiles: Some(200),
        min_expansion_quota: Some(1 << 20),
        max_expansion_quota: Some(4 << 20),
    };
    let rep = check_banned(msg, banned_rules(), &limits);
    assert_eq!(rep.reason.is_some(), !rep.banned.is_empty());
});
