//! SpamAssassin 4.0 capture rules (`feature_capture_rules`, bug 7992).
//!
//! A regex rule with a named group `(?<NAME>...)` sets tag `NAME` to what
//! the group matched; another rule's pattern can read it as `%{NAME}`,
//! which is replaced by the tag's values, quoted and alternated, before
//! that rule runs; a rule reading a tag that is not set does not run.
//! Conf.pm ("CAPTURING TAGS USING REGEX NAMED CAPTURE GROUPS"),
//! Conf/Parser.pm `parse_captures`, Plugin/Check.pm
//! `capture_rules_replace`, PerMsgStatus.pm `set_captures`.
//!
//! The installed rules use it once: `__GB_TO_ADDR` captures the `To:`
//! address, and six uri rules (the meta `GB_CUSTOM_HTM_URI`, score 1.0)
//! look for it in a URI. SpamAssassin's own template tags (`_HOSTNAME_`
//! and the like) are not available as `%{...}`: such a rule does not run.
//!
//! One deliberate difference: SpamAssassin 4.0.1 compiles its rule subs
//! with `/o`, so within one process (spamd, an amavisd child) a template
//! keeps the values of the first message it ran on. We use each message's
//! own values, as the documentation says and `spamassassin -L` shows.

use fnv::FnvHashMap as HashMap;

use super::compile::{CRule, Compiled, Test};
use super::ctx::Ctx;
use super::parse::RuleKind;
use super::regex::{PerlRegex, pcre_builder};

/// Tag name → its values (distinct, non-empty, in match order).
pub type Tags = HashMap<String, Vec<Vec<u8>>>;

/// Is `name` a tag name `parse_captures` accepts (`FOO_BAR2`)?
fn is_tag_name(name: &str) -> bool {
    let mut parts = name.split('_');
    let first = parts.next().unwrap_or("");
    first.starts_with(|c: char| c.is_ascii_uppercase())
        && first
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && parts.all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// A rule pattern that reads tags.
#[derive(Debug)]
pub struct Template {
    /// The pattern, `%{NAME}` still in it, split at the templates:
    /// `parts[0] %{tags[0]} parts[1] ...`.
    parts: Vec<String>,
    tags: Vec<String>,
    flags: String,
    /// Every template stands outside any group, alternation or quantifier,
    /// so every match contains one value of each tag: a text holding none
    /// cannot match, and the regex need not be built for it.
    required: bool,
    /// One required template, last in the pattern: the part before it,
    /// anchored at its end (`(?:...)\z`), built once. A text matches
    /// where this matches the text up to an occurrence of a value, so no
    /// regex is built per message (one would be for a mail stream's every
    /// recipient, each a new automaton: +11% CPU a message on the fixtures).
    before: Option<PerlRegex>,
}

impl Template {
    /// The template in `pattern`, if it has any `%{NAME}` (not `\%{NAME}`).
    pub fn parse(pattern: &str, flags: &str) -> Option<Template> {
        let (mut parts, mut tags) = (vec![String::new()], Vec::new());
        let mut required = true;
        let (mut depth, mut escaped, mut in_class) = (0usize, false, false);
        let mut rest = pattern;
        while let Some(c) = rest.chars().next() {
            if !escaped
                && !in_class
                && c == '%'
                && let Some(body) = rest.strip_prefix("%{")
                && let Some(end) = body.find('}')
                && is_tag_name(body[..end].split('(').next().unwrap_or(""))
                && (!body[..end].contains('(') || body[..end].ends_with(')'))
            {
                let name = body[..end].split('(').next().unwrap_or("").to_string();
                rest = &body[end + 1..];
                let quantified = rest.starts_with(['?', '*', '+', '{']);
                required &= depth == 0 && !quantified;
                tags.push(name);
                parts.push(String::new());
                continue;
            }
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                ']' if in_class => in_class = false,
                _ if in_class => {}
                '[' => {
                    in_class = true;
                    // A `]` first in a class is a member.
                    if rest[1..].starts_with(']') || rest[1..].starts_with("^]") {
                        let skip = if rest[1..].starts_with(']') { 2 } else { 3 };
                        parts
                            .last_mut()
                            .expect("never empty")
                            .push_str(&rest[..skip]);
                        rest = &rest[skip..];
                        continue;
                    }
                }
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                '|' if depth == 0 => required = false,
                _ => {}
            }
            parts.last_mut().expect("never empty").push(c);
            rest = &rest[c.len_utf8()..];
        }
        if tags.is_empty() {
            return None;
        }
        let before = (required && tags.len() == 1 && parts[1].is_empty())
            .then(|| {
                // Under `/x` a `#` comment would run over the closing part.
                let nl = if flags.contains('x') { "\n" } else { "" };
                PerlRegex::new(&format!("(?:{}{nl})\\z", parts[0]), flags).ok()
            })
            .flatten();
        Some(Template {
            parts,
            tags,
            flags: flags.to_string(),
            required,
            before,
        })
    }

    /// The pattern with each template as a harmless group: to check at
    /// load that the rest compiles.
    pub fn probe(&self) -> String {
        self.fill(&vec![vec![b"x".to_vec()]; self.tags.len()])
    }

    fn fill(&self, values: &[Vec<Vec<u8>>]) -> String {
        let mut s = self.parts[0].clone();
        for (vals, part) in values.iter().zip(&self.parts[1..]) {
            let alts: Vec<String> = vals.iter().map(|v| quotemeta(v)).collect();
            s.push_str(&format!("(?:{})", alts.join("|")));
            s.push_str(part);
        }
        s
    }

    /// The regex this message runs, as `capture_rules_replace` builds it.
    pub fn instantiate(&self, tags: &Tags, texts: &[&[u8]]) -> Instance {
        let mut values = Vec::with_capacity(self.tags.len());
        for t in &self.tags {
            let Some(v) = tags.get(t).filter(|v| !v.is_empty()) else {
                return Instance::NotRun;
            };
            if self.required {
                let fold = self.flags.contains('i');
                let found = |val: &Vec<u8>| texts.iter().any(|t| contains(t, val, fold));
                if !v.iter().any(found) {
                    return Instance::NoMatch;
                }
            }
            values.push(v.clone());
        }
        match PerlRegex::new(&self.fill(&values), &self.flags) {
            Ok(re) => Instance::Regex(re),
            Err(e) => {
                tracing::warn!(error = %e, "capture template did not compile; rule not run");
                Instance::NotRun
            }
        }
    }

    /// The rule's hit count on `texts` (a header rule: its one value, and
    /// whether it is `!~`), as the rule with the tags put in would give.
    pub fn hits(&self, tags: &Tags, texts: &[&[u8]], neg: Option<bool>, r: &CRule) -> usize {
        let matched = |re: &PerlRegex| -> usize {
            let max = r.maxhits.max(1);
            let mut n = 0;
            for t in texts {
                n += if r.multiple {
                    re.count_matches(t, max - n)
                } else {
                    usize::from(re.is_match(t))
                };
                if n >= max {
                    break;
                }
            }
            n
        };
        if let (Some(before), false) = (&self.before, r.multiple) {
            let vals = match self.tags.first().and_then(|t| tags.get(t)) {
                Some(v) if v.iter().any(|v| !v.is_empty()) => v,
                _ => return 0, // tag unset: the rule does not run
            };
            let fold = self.flags.contains('i');
            let m = texts.iter().any(|t| {
                vals.iter()
                    .filter(|v| !v.is_empty())
                    .any(|v| occurrences(t, v, fold).any(|p| before.is_match(&t[..p])))
            });
            return match neg {
                Some(neg) => usize::from(m != neg),
                None => usize::from(m),
            };
        }
        let n = match self.instantiate(tags, texts) {
            Instance::NotRun => return 0,
            Instance::NoMatch => 0,
            Instance::Regex(re) => matched(&re),
        };
        match neg {
            Some(neg) => usize::from((n > 0) != neg),
            None => n,
        }
    }
}

/// What a template rule does on one message.
pub enum Instance {
    /// A tag it reads is unset (or the pattern failed): it does not run.
    NotRun,
    /// No text holds a value every match must contain.
    NoMatch,
    Regex(PerlRegex),
}

/// The texts a rule of `kind` searches, in order (not header rules).
pub fn texts_of<'a>(kind: RuleKind, ctx: &'a Ctx, nosubject: bool) -> Vec<&'a [u8]> {
    let b = &ctx.bodies;
    let list = match kind {
        RuleKind::Body => &b.body_lines[usize::from(nosubject).min(b.body_lines.len())..],
        RuleKind::Rawbody => &b.rawbody[..],
        RuleKind::Uri => &b.uri_bytes[..],
        _ => return vec![ctx.pristine],
    };
    list.iter().map(Vec::as_slice).collect()
}

/// The tags this message's capture rules set (they run first in
/// SpamAssassin: `parse_captures` gives them priority -10000).
pub fn tags_of(c: &Compiled, ctx: &Ctx, hvals: &[Option<std::rc::Rc<[u8]>>]) -> Tags {
    let mut tags = Tags::default();
    for (i, cap) in &c.capturers {
        let r = &c.rules[*i as usize];
        if !(r.enabled && r.live) {
            continue;
        }
        let texts = match &r.test {
            // A `!~` rule hits when nothing matched: nothing captured.
            Test::Header { neg: true, .. } => continue,
            Test::Header { key, unset, .. } => {
                let v = hvals[*key as usize].as_deref().or(unset.as_deref());
                vec![v.unwrap_or(b"")]
            }
            _ => texts_of(r.kind, ctx, r.nosubject),
        };
        cap.collect(&texts, r.multiple, r.maxhits.max(1), &mut tags);
    }
    tags
}

/// `needle` in `hay`, ASCII case folded if `fold`.
fn contains(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| eq(w, needle, fold))
}

/// Where `needle` (not empty) starts in `hay`, ASCII case folded if
/// `fold`; candidates found by its first byte (memchr), as URIs are many.
fn occurrences<'a>(
    hay: &'a [u8],
    needle: &'a [u8],
    fold: bool,
) -> impl Iterator<Item = usize> + 'a {
    let (lo, up) = (
        needle[0].to_ascii_lowercase(),
        needle[0].to_ascii_uppercase(),
    );
    let (a, b) = if fold {
        (lo, up)
    } else {
        (needle[0], needle[0])
    };
    memchr::memchr2_iter(a, b, hay).filter(move |&p| {
        hay.len() - p >= needle.len() && eq(&hay[p..p + needle.len()], needle, fold)
    })
}

fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Perl's `quotemeta` on bytes: all but `[A-Za-z0-9_]` escaped (bytes
/// above 0x7f as `\xHH`, which both regex engines read as that byte).
fn quotemeta(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len() * 2);
    for &b in v {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => s.push(b as char),
            0x80.. => s.push_str(&format!("\\x{b:02X}")),
            _ => {
                s.push('\\');
                s.push(b as char);
            }
        }
    }
    s
}

/// The named groups of a capture rule's regex, run again on the text the
/// rule matched to read what they captured.
#[derive(Debug)]
pub struct Capturer {
    re: pcre2::bytes::Regex,
    /// Group index → tag name, for the groups named as tags.
    names: Vec<(usize, String)>,
}

impl Capturer {
    /// `Some` when `pattern` has a group named as a tag (`(?<NAME>`,
    /// `(?P<NAME>`, `(?'NAME'`), as `parse_captures` looks for.
    pub fn new(pattern: &str, flags: &str) -> Option<Capturer> {
        let named = ["(?<", "(?P<", "(?'"].iter().any(|o| {
            pattern
                .match_indices(o)
                .any(|(i, _)| pattern[i + o.len()..].starts_with(|c: char| c.is_ascii_uppercase()))
        });
        if !named {
            return None;
        }
        let re = pcre_builder(flags)
            .build(&super::regex::escape_high_bytes(pattern))
            .ok()?;
        let names: Vec<(usize, String)> = re
            .capture_names()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, n.clone()?)).filter(|(_, n)| is_tag_name(n)))
            .collect();
        (!names.is_empty()).then_some(Capturer { re, names })
    }

    /// Set the tags this rule captures in `texts` (its segments, in the
    /// order it searches them): the first match only, as a rule without
    /// `tflags multiple` stops there; up to `max` matches otherwise.
    /// Empty captures are dropped; a tag captured at all replaces any
    /// earlier value (`set_captures`).
    pub fn collect(&self, texts: &[&[u8]], multiple: bool, max: usize, tags: &mut Tags) {
        let mut got: Vec<(String, Vec<u8>)> = Vec::new();
        let mut n = 0;
        'texts: for t in texts {
            for caps in self.re.captures_iter(t) {
                let Ok(caps) = caps else { break };
                for (i, name) in &self.names {
                    if let Some(m) = caps.get(*i).filter(|m| !m.as_bytes().is_empty()) {
                        got.push((name.clone(), m.as_bytes().to_vec()));
                    }
                }
                n += 1;
                if !multiple || n >= max {
                    break 'texts;
                }
            }
        }
        let mut fresh: Tags = HashMap::default();
        for (name, v) in got {
            let vals = fresh.entry(name).or_default();
            if !vals.contains(&v) {
                vals.push(v);
            }
        }
        tags.extend(fresh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(name: &str, vals: &[&str]) -> Tags {
        let mut t = Tags::default();
        t.insert(
            name.into(),
            vals.iter().map(|v| v.as_bytes().to_vec()).collect(),
        );
        t
    }

    #[test]
    fn template_is_found_and_escaped_one_is_not() {
        let t = Template::parse(r"^https?://.{4,64}\#%{GB_TO_ADDR}", "i").unwrap();
        assert_eq!(t.tags, ["GB_TO_ADDR"]);
        assert!(t.required);
        assert!(Template::parse(r"a\%{GB_TO_ADDR}", "").is_none());
        assert!(Template::parse(r"a%{lower}", "").is_none());
        assert!(!Template::parse(r"a|%{X}", "").unwrap().required);
        assert!(!Template::parse(r"(?:%{X})?", "").unwrap().required);
        assert!(!Template::parse(r"(a[)]%{X})?", "").unwrap().required);
        assert!(Template::parse(r"[]|(]%{X}", "").unwrap().required);
    }

    #[test]
    fn values_are_quoted_and_alternated() {
        let t = Template::parse(r"^x=%{T}$", "").unwrap();
        let tg = tags("T", &["a.b@c", "d+e"]);
        let Instance::Regex(re) = t.instantiate(&tg, &[b"x=a.b@c"]) else {
            panic!("not built")
        };
        assert!(re.is_match(b"x=a.b@c"));
        assert!(re.is_match(b"x=d+e"));
        // The dot is a dot, not any character.
        assert!(!re.is_match(b"x=aXb@c"));
    }

    #[test]
    fn unset_tag_or_absent_value_means_no_run() {
        let t = Template::parse(r"#%{T}", "i").unwrap();
        let run = |tg: &Tags, text: &[u8]| match t.instantiate(tg, &[text]) {
            Instance::NotRun => "not run",
            Instance::NoMatch => "no match",
            Instance::Regex(re) if re.is_match(text) => "match",
            Instance::Regex(_) => "built, no match",
        };
        assert_eq!(run(&Tags::default(), b"#a"), "not run");
        let tg = tags("T", &["Bob@Example.com"]);
        assert_eq!(run(&tg, b"http://x/#nobody"), "no match");
        // Case folded under /i, as the regex would.
        assert_eq!(run(&tg, b"http://x/#bob@example.COM"), "match");
    }

    /// The template-last shortcut (no regex built per message) answers as
    /// the regex with the values put in does.
    #[test]
    fn shortcut_agrees_with_the_built_regex() {
        let rs = crate::rules::RuleSet::from_config_text(
            "uri T_A m;^https?://.{10,128}(?:\\.html?|\\/)?(?:\\#|\\?&e=)%{T};i\n\
             uri T_B /^x(?<!y)%{T}/x\n",
        );
        assert!(rs.compile_errors().is_empty(), "{:?}", rs.compile_errors());
        let tg = tags("T", &["bob@ex.com", "a.b"]);
        let mut checked = 0;
        for r in rs.rules() {
            let Test::Templated { tpl, .. } = &r.test else {
                continue;
            };
            assert!(tpl.before.is_some(), "{}", r.name);
            for text in [
                &b"http://www.example.net/page.html#bob@ex.com"[..],
                b"http://www.example.net/page.html#BOB@EX.COM",
                b"http://x.net/#bob@ex.com",
                b"http://www.example.net/page.html#aXb",
                b"http://www.example.net/page?&e=a.b",
                b"xa.b",
                b"xya.b",
            ] {
                let got = tpl.hits(&tg, &[text], None, r);
                let want = match tpl.instantiate(&tg, &[text]) {
                    Instance::Regex(re) => usize::from(re.is_match(text)),
                    _ => 0,
                };
                assert_eq!(
                    got,
                    want,
                    "{} on {:?}",
                    r.name,
                    String::from_utf8_lossy(text)
                );
                checked += got;
            }
        }
        assert!(checked >= 4, "the texts should hit some rules: {checked}");
    }

    #[test]
    fn captures_first_match_or_all_with_multiple() {
        let c = Capturer::new(r"id=(?<ID>\w*)", "").unwrap();
        let texts: [&[u8]; 2] = [b"id=a id=b", b"id= id=c id=a"];
        let mut t = Tags::default();
        c.collect(&texts, false, 1, &mut t);
        assert_eq!(t["ID"], [b"a".to_vec()]);
        c.collect(&texts, true, 1000, &mut t);
        // Distinct, non-empty, in match order.
        assert_eq!(t["ID"], [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(Capturer::new(r"(?<lower>x)", "").is_none());
        assert!(Capturer::new(r"(?:x)", "").is_none());
    }
}
