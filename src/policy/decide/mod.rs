//! Per-recipient decisions: content category by amavisd's priority, lovers
//! and bypass maps, levels, and the final destiny. Pure functions of the
//! configuration, the findings and the recipient, so they are table-testable.

use crate::config::{Config, Destiny};
use crate::policy::lookup::Maps;

/// What the checks found in one message.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// True when a virus scanner actually checked the message.
    pub virus_checked: bool,
    /// Virus names (empty = clean or not checked).
    pub viruses: Vec<String>,
    /// amavisd descriptions of banned parts.
    pub banned: Vec<String>,
    /// amavisd's short banning reason (the text after `BANNED: `).
    pub banned_reason: Option<String>,
    /// Why decoding or scanning was incomplete (UNCHECKED).
    pub unchecked: Option<String>,
    /// Bad-header minor categories and texts.
    pub bad_headers: Vec<(u8, String)>,
    /// Spam result, when the spam check ran.
    pub spam: Option<SpamVerdict>,
    /// Message larger than `smtpd_message_size_limit` (never here: refused earlier).
    pub oversized: bool,
}

impl Findings {
    /// What replies, alerts and logs say about banned contents.
    pub fn banned_text(&self) -> String {
        self.banned_reason
            .clone()
            .or_else(|| self.banned.first().cloned())
            .unwrap_or_default()
    }
}

/// The spam check's result as the policy needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamVerdict {
    pub score: f64,
    /// Rule name and score, sorted by name.
    pub tests: Vec<(String, f64)>,
}

/// amavisd's content categories, highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Virus,
    Banned,
    Unchecked,
    Spam,
    Spammy,
    BadHeader,
    Oversized,
    Clean,
}

/// Levels that apply to one recipient.
#[derive(Debug, Clone, Copy)]
pub struct Levels {
    pub tag: Option<f64>,
    pub tag2: Option<f64>,
    pub kill: Option<f64>,
    pub dsn_cutoff: Option<f64>,
    pub quarantine_cutoff: Option<f64>,
}

/// The decision for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub local: bool,
    /// The message's category for this recipient (lovers don't change it).
    pub category: Category,
    /// None = passed; Some = blocked with this destiny.
    pub blocked: Option<Destiny>,
    /// `INFECTED: name`, `BANNED: descr`, `spam`, ... (reply and DSN text).
    pub reason: String,
    /// Spam headers are due (local recipient, spam checked, score >= tag).
    pub spam_headers: bool,
    /// Score at or above tag2: X-Spam-Flag YES and subject tag.
    pub spammy: bool,
}

/// The per-address maps of one configuration, built once per runtime.
#[derive(Debug, Clone)]
pub struct PolicyMaps {
    pub local_domains: Maps,
    pub spam_lovers: Maps,
    pub virus_lovers: Maps,
    pub banned_files_lovers: Maps,
    pub bad_header_lovers: Maps,
    pub bypass_virus: Maps,
    pub bypass_spam: Maps,
    pub bypass_banned: Maps,
    pub bypass_header: Maps,
    pub whitelist_sender: Maps,
    pub blacklist_sender: Maps,
}

impl PolicyMaps {
    pub fn new(c: &Config) -> PolicyMaps {
        PolicyMaps {
            local_domains: Maps::new(
                &c.local_domains_maps,
                &c.local_domains,
                &c.local_domains_acl,
            ),
            spam_lovers: Maps::new(&c.spam_lovers_maps, &c.spam_lovers, &c.spam_lovers_acl),
            virus_lovers: Maps::new(&c.virus_lovers_maps, &c.virus_lovers, &c.virus_lovers_acl),
            banned_files_lovers: Maps::new(
                &c.banned_files_lovers_maps,
                &c.banned_files_lovers,
                &c.banned_files_lovers_acl,
            ),
            bad_header_lovers: Maps::new(
                &c.bad_header_lovers_maps,
                &c.bad_header_lovers,
                &c.bad_header_lovers_acl,
            ),
            bypass_virus: Maps::new(
                &c.bypass_virus_checks_maps,
                &c.bypass_virus_checks,
                &c.bypass_virus_checks_acl,
            ),
            bypass_spam: Maps::new(
                &c.bypass_spam_checks_maps,
                &c.bypass_spam_checks,
                &c.bypass_spam_checks_acl,
            ),
            bypass_banned: Maps::new(
                &c.bypass_banned_checks_maps,
                &c.bypass_banned_checks,
                &c.bypass_banned_checks_acl,
            ),
            bypass_header: Maps::new(
                &c.bypass_header_checks_maps,
                &c.bypass_header_checks,
                &c.bypass_header_checks_acl,
            ),
            whitelist_sender: Maps::new(
                &c.whitelist_sender_maps,
                &c.whitelist_sender,
                &c.whitelist_sender_acl,
            ),
            blacklist_sender: Maps::new(
                &c.blacklist_sender_maps,
                &c.blacklist_sender,
                &c.blacklist_sender_acl,
            ),
        }
    }
}

pub fn levels(c: &Config) -> Levels {
    Levels {
        tag: c.sa_tag_level_deflt,
        tag2: c.sa_tag2_level_deflt,
        kill: c.sa_kill_level_deflt,
        dsn_cutoff: c.sa_dsn_cutoff_level,
        quarantine_cutoff: c.sa_quarantine_cutoff_level,
    }
}

fn at_or_above(score: f64, level: Option<f64>) -> bool {
    level.map(|l| score >= l).unwrap_or(false)
}

/// Decide for one recipient. amavisd semantics: a recipient that bypasses a
/// check which ran for others is treated like a lover of that category.
pub fn decide(c: &Config, maps: &PolicyMaps, f: &Findings, sender: &str, rcpt: &str) -> Decision {
    let lv = levels(c);
    let local = maps.local_domains.is_true(rcpt);
    let whitelisted = !sender.is_empty() && maps.whitelist_sender.is_true(sender);
    let blacklisted = !sender.is_empty() && maps.blacklist_sender.is_true(sender);
    let bypass_spam = maps.bypass_spam.is_true(rcpt);
    let spam = f.spam.as_ref().filter(|_| !bypass_spam);
    let score = spam.map(|s| s.score);
    let is_spam =
        !whitelisted && (blacklisted || score.map(|s| at_or_above(s, lv.kill)).unwrap_or(false));
    let is_spammy =
        !whitelisted && (blacklisted || score.map(|s| at_or_above(s, lv.tag2)).unwrap_or(false));

    let category = if !f.viruses.is_empty() {
        Category::Virus
    } else if !f.banned.is_empty() {
        Category::Banned
    } else if f.unchecked.is_some() {
        Category::Unchecked
    } else if is_spam {
        Category::Spam
    } else if is_spammy {
        Category::Spammy
    } else if !f.bad_headers.is_empty() {
        Category::BadHeader
    } else if f.oversized {
        Category::Oversized
    } else {
        Category::Clean
    };

    // Walk the categories present in priority order: the first one that
    // blocks for this recipient decides (amavisd's blocking ccat).
    let mut blocked = None;
    let mut reason = String::new();
    let checks: [(bool, Destiny, bool, String); 5] = [
        (
            !f.viruses.is_empty(),
            c.final_virus_destiny,
            maps.virus_lovers.is_true(rcpt) || maps.bypass_virus.is_true(rcpt),
            format!("INFECTED: {}", f.viruses.join(", ")),
        ),
        (
            !f.banned.is_empty(),
            c.final_banned_destiny,
            maps.banned_files_lovers.is_true(rcpt) || maps.bypass_banned.is_true(rcpt),
            format!("BANNED: {}", f.banned_text()),
        ),
        (
            f.unchecked.is_some(),
            c.final_unchecked_destiny,
            maps.virus_lovers.is_true(rcpt),
            "UNCHECKED".into(),
        ),
        (
            is_spam,
            c.final_spam_destiny,
            maps.spam_lovers.is_true(rcpt),
            "spam".into(),
        ),
        (
            !f.bad_headers.is_empty(),
            c.final_bad_header_destiny,
            maps.bad_header_lovers.is_true(rcpt) || maps.bypass_header.is_true(rcpt),
            "BAD-HEADER".into(),
        ),
    ];
    for (present, destiny, lover, why) in checks {
        if present && destiny != Destiny::Pass && !lover {
            blocked = Some(destiny);
            reason = why;
            break;
        }
    }
    if blocked.is_none() {
        reason = match category {
            Category::Virus => checks_reason(f, 0),
            Category::Banned => checks_reason(f, 1),
            _ => String::new(),
        };
    }
    let spam_headers = local
        && spam.is_some()
        && score
            .map(|s| lv.tag.map(|t| s >= t).unwrap_or(true))
            .unwrap_or(false);
    Decision {
        local,
        category,
        blocked,
        reason,
        spam_headers,
        spammy: is_spammy,
    }
}

fn checks_reason(f: &Findings, which: usize) -> String {
    match which {
        0 => format!("INFECTED: {}", f.viruses.join(", ")),
        _ => format!("BANNED: {}", f.banned_text()),
    }
}

#[cfg(test)]
mod tests;
