//! Which header edits a passed recipient gets, in amavisd's order:
//! X-Quarantine-ID, X-Virus-Scanned, X-Amavis-Alert, X-Spam-Flag/Score/
//! Level/Status, then Received; plus the subject tag and the removal of
//! incoming X-Spam-* fields.

use crate::config::Config;
use crate::message::edit::{HeaderEdits, fold_field, fold_units};
use crate::policy::decide::{Category, Decision, Findings};
use crate::policy::format_score;

/// Incoming fields removed when `remove_existing_spam_headers` is on.
pub const SPAM_HEADER_NAMES: [&str; 6] = [
    "X-Spam-Flag",
    "X-Spam-Score",
    "X-Spam-Level",
    "X-Spam-Status",
    "X-Spam-Report",
    "X-Spam-Checker-Version",
];

/// The edits for one passed recipient. `quarantine_id` is set when the
/// message was quarantined; `received` is our Received field.
pub fn edits_for(
    c: &Config,
    f: &Findings,
    d: &Decision,
    quarantine_id: Option<&str>,
    received: &str,
) -> HeaderEdits {
    let mut p = String::new();
    if d.local
        && let Some(q) = quarantine_id
    {
        p.push_str(&format!("X-Quarantine-ID: <{q}>\r\n"));
    }
    if f.virus_checked {
        let line = c.x_header_line.clone().unwrap_or_default();
        p.push_str(&fold_field(&c.x_header_tag, &line));
    }
    if !f.viruses.is_empty() {
        p.push_str(&fold_field(
            "X-Amavis-Alert",
            &format!("INFECTED, message contains virus: {}", f.viruses.join(", ")),
        ));
    } else if !f.banned.is_empty() {
        p.push_str(&fold_field(
            "X-Amavis-Alert",
            &format!("BANNED, message contains {}", f.banned_text()),
        ));
    } else if d.category == Category::BadHeader
        && let Some((_, text)) = f.bad_headers.first()
    {
        p.push_str(&fold_field(
            "X-Amavis-Alert",
            &format!("BAD HEADER SECTION, {text}"),
        ));
    }
    if d.spam_headers
        && let Some(s) = &f.spam
    {
        p.push_str(&format!(
            "X-Spam-Flag: {}\r\n",
            if d.spammy { "YES" } else { "NO" }
        ));
        p.push_str(&format!("X-Spam-Score: {}\r\n", format_score(s.score)));
        p.push_str(&format!("X-Spam-Level: {}\r\n", spam_level(c, s.score)));
        p.push_str(&spam_status(c, d.spammy, s.score, &s.tests));
    }
    p.push_str(received);

    let mut remove = Vec::new();
    if c.remove_existing_spam_headers {
        remove.extend(SPAM_HEADER_NAMES.iter().map(|s| s.to_string()));
    }
    let subject_tag = if !d.local {
        None
    } else {
        match d.category {
            Category::Virus => c.virus_subject_tag.clone(),
            Category::Unchecked => c.undecipherable_subject_tag.clone(),
            Category::Spam | Category::Spammy if d.spammy => c.sa_spam_subject_tag.clone(),
            _ if d.spammy => c.sa_spam_subject_tag.clone(),
            _ => None,
        }
    };
    HeaderEdits {
        prepend: p.into_bytes(),
        remove_names: remove,
        subject_tag: subject_tag.filter(|t| !t.is_empty()),
    }
}

/// One level character per whole point, capped at 64; empty below 1.
pub fn spam_level(c: &Config, score: f64) -> String {
    let n = if score >= 1.0 {
        (score.floor() as usize).min(64)
    } else {
        0
    };
    let ch = c.sa_spam_level_char.chars().next().unwrap_or('*');
    std::iter::repeat_n(ch, n).collect()
}

/// `X-Spam-Status: Yes, score=6.1 tagged_above=2 required=6.31 tests=[A=1, B=2] autolearn=no autolearn_force=no`,
/// folded as amavisd folds it.
pub fn spam_status(c: &Config, yes: bool, score: f64, tests: &[(String, f64)]) -> String {
    let lvl = |l: Option<f64>| l.map(format_score).unwrap_or_else(|| "undef".into());
    let mut units = vec![
        if yes {
            "Yes,".to_string()
        } else {
            "No,".to_string()
        },
        format!("score={}", format_score(score)),
        format!("tagged_above={}", lvl(c.sa_tag_level_deflt)),
        format!("required={}", lvl(c.sa_tag2_level_deflt)),
    ];
    if tests.is_empty() {
        units.push("tests=[]".into());
    } else {
        let n = tests.len();
        for (i, (name, s)) in tests.iter().enumerate() {
            let mut u = format!("{name}={}", format_score(*s));
            if i == 0 {
                u = format!("tests=[{u}");
            }
            u.push(if i + 1 == n { ']' } else { ',' });
            units.push(u);
        }
    }
    units.push("autolearn=no autolearn_force=no".into());
    fold_units("X-Spam-Status", &units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::decide::{PolicyMaps, SpamVerdict, decide};

    fn howto() -> Config {
        Config::from_yaml(
            "local_domains_acl: ['.example.com']\nsa_tag_level_deflt: -999\nsa_tag2_level_deflt: 5.0\nsa_kill_level_deflt: 999\nsa_spam_subject_tag: '***SPAM*** '\nx_header_line: 'Debian amavis at example.com'\n",
            "t",
        )
        .unwrap()
    }

    #[test]
    fn ham_with_howto_levels_matches_amavisd() {
        let c = howto();
        let f = Findings {
            virus_checked: true,
            spam: Some(SpamVerdict {
                score: 1.3,
                tests: vec![("RCVD_ILLEGAL_IP".into(), 1.3)],
            }),
            ..Default::default()
        };
        let d = decide(
            &c,
            &PolicyMaps::new(&c),
            &f,
            "alice@example.org",
            "bob@example.com",
        );
        let e = edits_for(&c, &f, &d, None, "Received: x\r\n");
        assert_eq!(
            String::from_utf8(e.prepend).unwrap(),
            "X-Virus-Scanned: Debian amavis at example.com\r\nX-Spam-Flag: NO\r\nX-Spam-Score: 1.3\r\nX-Spam-Level: *\r\nX-Spam-Status: No, score=1.3 tagged_above=-999 required=5\r\n tests=[RCVD_ILLEGAL_IP=1.3] autolearn=no autolearn_force=no\r\nReceived: x\r\n"
        );
        assert_eq!(e.subject_tag, None);
    }

    #[test]
    fn gtube_local_vs_nonlocal() {
        let c = howto();
        let f = Findings {
            virus_checked: true,
            spam: Some(SpamVerdict {
                score: 1001.3,
                tests: vec![("GTUBE".into(), 1000.0), ("RCVD_ILLEGAL_IP".into(), 1.3)],
            }),
            ..Default::default()
        };
        let m = PolicyMaps::new(&c);
        let d = decide(&c, &m, &f, "alice@example.org", "bob@example.com");
        let e = edits_for(&c, &f, &d, Some("abcdefABCDEF"), "Received: x\r\n");
        let p = String::from_utf8(e.prepend).unwrap();
        assert!(
            p.starts_with("X-Quarantine-ID: <abcdefABCDEF>\r\nX-Virus-Scanned:"),
            "{p}"
        );
        assert!(p.contains(&format!("X-Spam-Level: {}\r\n", "*".repeat(64))));
        assert!(p.contains("X-Spam-Flag: YES\r\n"));
        assert_eq!(e.subject_tag.as_deref(), Some("***SPAM*** "));
        let d = decide(&c, &m, &f, "alice@example.org", "carol@elsewhere.net");
        let e = edits_for(&c, &f, &d, Some("abcdefABCDEF"), "Received: x\r\n");
        assert_eq!(
            String::from_utf8(e.prepend).unwrap(),
            "X-Virus-Scanned: Debian amavis at example.com\r\nReceived: x\r\n"
        );
        assert_eq!(e.subject_tag, None);
    }

    #[test]
    fn passed_virus_gets_alert_and_infected_tag_banned_no_tag() {
        let c = Config::from_yaml(
            "local_domains_acl: ['.example.com']\nfinal_virus_destiny: D_PASS\nfinal_banned_destiny: D_PASS\n",
            "t",
        )
        .unwrap();
        let f = Findings {
            virus_checked: true,
            viruses: vec!["Eicar-Test-Signature.UNOFFICIAL".into()],
            ..Default::default()
        };
        let d = decide(
            &c,
            &PolicyMaps::new(&c),
            &f,
            "a@example.org",
            "bob@example.com",
        );
        let e = edits_for(&c, &f, &d, None, "");
        let p = String::from_utf8(e.prepend).unwrap();
        assert!(p.contains("X-Amavis-Alert: INFECTED, message contains virus:\r\n Eicar-Test-Signature.UNOFFICIAL\r\n"), "{p}");
        assert_eq!(e.subject_tag.as_deref(), Some("***INFECTED*** "));
        let f = Findings {
            banned: vec!["application/octet-stream,.exe,.exe-ms,invoice.exe".into()],
            ..Default::default()
        };
        let d = decide(
            &c,
            &PolicyMaps::new(&c),
            &f,
            "a@example.org",
            "bob@example.com",
        );
        let e = edits_for(&c, &f, &d, None, "");
        let p = String::from_utf8(e.prepend).unwrap();
        assert!(p.contains("X-Amavis-Alert: BANNED, message contains\r\n application/octet-stream,.exe,.exe-ms,invoice.exe\r\n"), "{p}");
        assert_eq!(e.subject_tag, None);
    }

    #[test]
    fn spam_level_bounds() {
        let c = howto();
        assert_eq!(spam_level(&c, -3.0), "");
        assert_eq!(spam_level(&c, 0.9), "");
        assert_eq!(spam_level(&c, 2.5), "**");
        assert_eq!(spam_level(&c, 1000.0).len(), 64);
    }
}
