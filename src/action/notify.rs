//! Admin notifications (`virus_admin`, `banned_admin`, `spam_admin`,
//! `bad_header_admin`) and bounces (DSNs) for blocked content, with plain
//! built-in texts modelled on amavisd's, overridable by template files in
//! `notify_templates_dir` (`<kind>.txt`, with `%s` sender, `%r` recipients,
//! `%V` virus names, `%F` banned parts, `%c` score, `%i` id, `%m` mail_id,
//! `%a` client address).

use crate::action::dsn::{FailedRcpt, Notification, build_dsn, envid};
use crate::config::Config;
use crate::message::edit::sanitize;
use crate::policy::decide::{Category, Findings};
use crate::policy::format_score;
use crate::smtp::envelope::Envelope;

/// The facts a notification text is built from.
pub struct Facts<'a> {
    pub cfg: &'a Config,
    pub env: &'a Envelope,
    pub findings: &'a Findings,
    pub am_id: &'a str,
    pub mail_id: &'a str,
    pub orig_head: &'a [u8],
}

impl Facts<'_> {
    fn client_ip(&self) -> String {
        self.env
            .xforward
            .addr
            .clone()
            .unwrap_or_else(|| self.env.peer.ip().to_string())
    }

    fn expand(&self, template: &str) -> String {
        // Every substituted value is outside data (addresses, virus names
        // from clamd, XFORWARD): no line breaks may reach the text, where
        // they could forge MIME boundaries or header lines.
        let rcpts: Vec<String> = self
            .env
            .recipients
            .iter()
            .map(|r| format!("<{}>", sanitize(&r.address)))
            .collect();
        let score = self
            .findings
            .spam
            .as_ref()
            .map(|s| format_score(s.score))
            .unwrap_or_else(|| "-".into());
        template
            .replace("%s", &format!("<{}>", sanitize(&self.env.sender)))
            .replace("%r", &rcpts.join(", "))
            .replace("%V", &sanitize(&self.findings.viruses.join(", ")))
            .replace("%F", &sanitize(&self.findings.banned_text()))
            .replace("%c", &score)
            .replace("%i", &sanitize(self.am_id))
            .replace("%m", &sanitize(self.mail_id))
            .replace("%a", &sanitize(&self.client_ip()))
    }

    fn template(&self, kind: &str, builtin: &str) -> String {
        let custom = self
            .cfg
            .notify_templates_dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join(format!("{kind}.txt"))).ok());
        self.expand(custom.as_deref().unwrap_or(builtin))
    }
}

const ADMIN_TEXT: &str = "A message from %s to %r\nwas found to contain: %W\n\nContent type: %C\nOur internal reference code for your message is %i/%m\n\nFirst upstream SMTP client IP address: [%a]\n\nThe message's headers follow.\n";

/// Who gets an admin notification for this category, if anyone.
pub fn admin_for(c: &Config, cat: Category) -> Option<String> {
    match cat {
        Category::Virus => c.virus_admin.clone(),
        Category::Banned => c.banned_admin.clone().or_else(|| c.virus_admin.clone()),
        Category::Spam => c.spam_admin.clone(),
        Category::BadHeader => c.bad_header_admin.clone(),
        _ => None,
    }
    .filter(|a| !a.is_empty())
}

/// Build the admin notification for `cat`.
pub fn admin_notification(f: &Facts<'_>, cat: Category, admin: &str) -> Notification {
    let c = f.cfg;
    let ip = f.client_ip();
    let sender = sanitize(&f.env.sender);
    let (subject, what, kind) = match cat {
        Category::Virus => (
            format!(
                "VIRUS ({}) in mail FROM [{ip}] <{sender}>",
                f.findings.viruses.join(", ")
            ),
            format!("virus {}", f.findings.viruses.join(", ")),
            "virus_admin",
        ),
        Category::Banned => (
            format!(
                "BANNED contents ({}) in mail FROM [{ip}] <{sender}>",
                f.findings.banned_text()
            ),
            format!("banned contents {}", f.findings.banned_text()),
            "banned_admin",
        ),
        Category::Spam => (
            format!("SPAM FROM [{ip}] <{sender}>"),
            "spam".to_string(),
            "spam_admin",
        ),
        _ => (
            format!("BAD HEADER SECTION FROM [{ip}] <{sender}>"),
            "bad header section".to_string(),
            "bad_header_admin",
        ),
    };
    let ccat = match cat {
        Category::Virus => "Virus",
        Category::Banned => "Banned",
        Category::Spam => "Spam",
        _ => "BadHdr",
    };
    let text = f
        .template(kind, ADMIN_TEXT)
        .replace("%W", &sanitize(&what))
        .replace("%C", ccat);
    let from_addr = c
        .mailfrom_notify_admin
        .clone()
        .unwrap_or_else(|| format!("postmaster@{}", c.myhostname));
    let from_addr = if cat == Category::Spam {
        c.mailfrom_notify_spamadmin.clone().unwrap_or(from_addr)
    } else {
        from_addr
    };
    let b = format!(
        "----------=_{}-{}",
        chrono::Utc::now().timestamp(),
        f.mail_id
    );
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000");
    let mut m = String::new();
    m.push_str(&format!(
        "From: \"Content-filter at {0}\" <{1}>\r\nDate: {date}\r\nSubject: {2}\r\nTo: <{3}>\r\nMessage-ID: <VA{4}@{0}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n",
        c.myhostname,
        sanitize(&from_addr),
        sanitize(&subject),
        sanitize(admin),
        f.mail_id
    ));
    m.push_str("This is a multi-part message in MIME format...\r\n\r\n");
    m.push_str(&format!("--{b}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"));
    m.push_str(&text.replace("\r\n", "\n").replace('\n', "\r\n"));
    m.push_str(&format!("\r\n--{b}\r\nContent-Type: text/rfc822-headers\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"));
    let mut bytes = m.into_bytes();
    bytes.extend_from_slice(f.orig_head);
    if !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    Notification {
        sender: from_addr,
        recipients: vec![admin.to_string()],
        envid: envid(c, f.mail_id),
        message: bytes,
        orcpt: false,
    }
}

/// Why a bounce is not sent, if it is not (amavisd's suppression rules).
pub fn bounce_suppressed(f: &Facts<'_>, cat: Category, bulk: bool) -> Option<&'static str> {
    if f.env.sender.is_empty() {
        return Some("null sender");
    }
    match cat {
        Category::Spam => {
            let score = f.findings.spam.as_ref().map(|s| s.score).unwrap_or(0.0);
            if f.cfg
                .sa_dsn_cutoff_level
                .map(|c| score >= c)
                .unwrap_or(false)
            {
                return Some("score above sa_dsn_cutoff_level");
            }
            if bulk {
                return Some("bulk mail");
            }
        }
        Category::Virus => {
            let fakes = f.findings.viruses.iter().any(|v| fakes_sender(f.cfg, v));
            if fakes {
                return Some("virus fakes sender");
            }
        }
        _ => {}
    }
    None
}

/// `viruses_that_fake_sender_re`: first match wins; `ban: false` exempts.
fn fakes_sender(c: &Config, name: &str) -> bool {
    for r in &c.viruses_that_fake_sender_re {
        if let Ok(re) = pcre2::bytes::RegexBuilder::new()
            .caseless(true)
            .build(r.regex())
            && re.is_match(name.as_bytes()).unwrap_or(false)
        {
            return r.bans();
        }
    }
    false
}

/// The DSN for recipients blocked with D_BOUNCE.
pub fn bounce(f: &Facts<'_>, cat: Category, reason: &str, rcpts: &[String]) -> Notification {
    let (subject, kind) = match cat {
        Category::Virus => (
            format!(
                "VIRUS in message apparently from you ({})",
                f.findings.viruses.join(", ")
            ),
            "dsn_virus",
        ),
        Category::Banned => (
            format!("BANNED contents from you ({})", f.findings.banned_text()),
            "dsn_banned",
        ),
        Category::Spam => (
            "Considered UNSOLICITED BULK EMAIL, apparently from you".to_string(),
            "dsn_spam",
        ),
        _ => (
            "Non-delivery of a message with a bad header section".to_string(),
            "dsn_bad_header",
        ),
    };
    let text = f.template(
        kind,
        "This nondelivery report was generated by the content filter at the\nrecipient's site. Your message could not be delivered:\n\n  %W\n\nOur internal reference code for your message is %i/%m\n",
    );
    let text = text.replace("%W", &sanitize(reason));
    let failed: Vec<FailedRcpt> = rcpts
        .iter()
        .map(|r| FailedRcpt {
            address: r.clone(),
            status: "5.7.0".into(),
            diagnostic: format!("554 5.7.0 Bounce, id={} - {reason}", f.am_id),
        })
        .collect();
    build_dsn(
        f.cfg,
        f.env,
        f.am_id,
        f.mail_id,
        &subject,
        &text,
        &failed,
        f.orig_head,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        let mut e = crate::smtp::envelope::test_envelope();
        e.xforward.addr = Some("192.0.2.10".into());
        e
    }

    #[test]
    fn builtin_and_file_templates() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_yaml(
            &format!(
                "myhostname: mx.example.com\nvirus_admin: 'postmaster@example.com'\nnotify_templates_dir: '{}'\n",
                dir.path().display()
            ),
            "t",
        )
        .unwrap();
        let f = Findings {
            viruses: vec!["Eicar-Test-Signature".into()],
            ..Default::default()
        };
        let e = env();
        let facts = Facts {
            cfg: &c,
            env: &e,
            findings: &f,
            am_id: "1-01",
            mail_id: "abcdefghijkl",
            orig_head: b"Subject: hi\r\n",
        };
        let n = admin_notification(&facts, Category::Virus, "postmaster@example.com");
        let t = String::from_utf8(n.message).unwrap();
        assert!(t.contains("Subject: VIRUS (Eicar-Test-Signature) in mail FROM [192.0.2.10] <alice@example.org>\r\n"));
        assert!(t.contains("was found to contain: virus Eicar-Test-Signature"));
        assert_eq!(n.sender, "postmaster@mx.example.com");
        std::fs::write(
            dir.path().join("virus_admin.txt"),
            "Custom: %V from %s via [%a], id %i/%m\n",
        )
        .unwrap();
        let n = admin_notification(&facts, Category::Virus, "postmaster@example.com");
        let t = String::from_utf8(n.message).unwrap();
        assert!(t.contains("Custom: Eicar-Test-Signature from <alice@example.org> via [192.0.2.10], id 1-01/abcdefghijkl\r\n"), "{t}");
    }

    #[test]
    fn bounce_suppression_rules() {
        let c = Config::from_yaml(
            "sa_dsn_cutoff_level: 10\nviruses_that_fake_sender_re: [{re: '^Eicar', ban: false}, '.']\n",
            "t",
        )
        .unwrap();
        let mut e = env();
        let mut f = Findings {
            viruses: vec!["Worm.X".into()],
            ..Default::default()
        };
        let facts = |e: &Envelope, f: &Findings| -> Option<&'static str> {
            let fa = Facts {
                cfg: &c,
                env: e,
                findings: f,
                am_id: "",
                mail_id: "",
                orig_head: b"",
            };
            bounce_suppressed(&fa, Category::Virus, false)
        };
        assert_eq!(facts(&e, &f), Some("virus fakes sender"));
        f.viruses = vec!["Eicar-Test-Signature".into()];
        assert_eq!(facts(&e, &f), None);
        e.sender.clear();
        assert_eq!(facts(&e, &f), Some("null sender"));
    }
}
