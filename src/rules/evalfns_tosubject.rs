//! The two patterns of HeaderEval `check_for_to_in_subject`, matched by
//! hand. SpamAssassin builds them from the To address on every message
//! (`/\b\Q$full_to\E\b/i` and an anchored four-way alternation around the
//! user part); compiling such a regex per message cost ~0.4 ms, more than
//! most messages' other header rules together.

/// `\w` as the `regex` crate's Unicode class has it (close enough to Perl's).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Does `t` occur at `s[i..]`, case-insensitively if `ci`?
fn at(s: &[char], i: usize, t: &[char], ci: bool) -> bool {
    i + t.len() <= s.len()
        && s[i..i + t.len()]
            .iter()
            .zip(t)
            .all(|(a, b)| a == b || (ci && a.to_lowercase().eq(b.to_lowercase())))
}

/// `\n?\z` at `i`.
fn tail(s: &[char], i: usize) -> bool {
    i == s.len() || (i + 1 == s.len() && s[i] == '\n')
}

fn ws_end(s: &[char], mut i: usize) -> usize {
    while i < s.len() && s[i].is_whitespace() {
        i += 1;
    }
    i
}

const PUNCT: &[char] = &[',', ':', ';', '!', '?', '-'];

/// `$subject =~ /\b\Q$full_to\E\b/i`.
pub fn address_in_subject(subject: &str, addr: &str) -> bool {
    let s: Vec<char> = subject.chars().collect();
    let t: Vec<char> = addr.chars().collect();
    if t.is_empty() {
        return false;
    }
    let boundary = |i: usize| {
        let before = i > 0 && is_word(s[i - 1]);
        let after = i < s.len() && is_word(s[i]);
        before != after
    };
    (0..s.len()).any(|i| at(&s, i, &t, true) && boundary(i) && boundary(i + t.len()))
}

/// `$subject =~ /^(?:(?:re|fw):\s*(?:\w+\s+)?\Q$to\E$|(?-i:\Q$to\E)\s*[,:;!?-](?:$|\s)|\Q$to\E$|,\s*\Q$to\E[,:;!?-]$)/ix`
/// (SpamAssassin's `$` is `\n?\z` here).
pub fn user_in_subject(subject: &str, user: &str) -> bool {
    let s: Vec<char> = subject.chars().collect();
    let t: Vec<char> = user.chars().collect();
    let n = t.len();
    let ends_after = |p: usize| at(&s, p, &t, true) && tail(&s, p + n);
    // (re|fw):\s*(\w+\s+)?TO$ — `\s*` may give back whitespace only when
    // TO itself starts with some, so every split of each run is tried.
    let reply = s.len() >= 3
        && (at(&s, 0, &['r', 'e', ':'], true) || at(&s, 0, &['f', 'w', ':'], true))
        && {
            let j = ws_end(&s, 3);
            (3..=j).any(ends_after) || {
                let mut w = j;
                while w < s.len() && is_word(s[w]) {
                    w += 1;
                }
                let e = ws_end(&s, w);
                w > j && e > w && (w + 1..=e).any(ends_after)
            }
        };
    // (?-i:TO)\s*[,:;!?-]($|\s)
    let lead = at(&s, 0, &t, false) && {
        let i = ws_end(&s, n);
        (n..=i).any(|k| {
            k < s.len()
                && PUNCT.contains(&s[k])
                && (tail(&s, k + 1) || s.get(k + 1).is_some_and(|c| c.is_whitespace()))
        })
    };
    // ,\s*TO[,:;!?-]$
    let comma = s.first() == Some(&',') && {
        let j = ws_end(&s, 1);
        (1..=j).any(|p| {
            at(&s, p, &t, true)
                && s.get(p + n).is_some_and(|c| PUNCT.contains(c))
                && tail(&s, p + n + 1)
        })
    };
    reply || lead || ends_after(0) || comma
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The regexes SpamAssassin uses (as the `regex` crate reads them),
    /// as the oracle for the hand-written matchers.
    fn oracle(subject: &str, to: &str, user: bool) -> bool {
        let q = ::regex::escape(to);
        let pat = if user {
            format!(
                r"(?i)^(?:(?:re|fw):\s*(?:\w+\s+)?{q}\n?\z|(?-i:{q})\s*[,:;!?-](?:\n?\z|\s)|{q}\n?\z|,\s*{q}[,:;!?-]\n?\z)"
            )
        } else {
            format!(r"(?i)\b{q}\b")
        };
        ::regex::Regex::new(&pat).unwrap().is_match(subject)
    }

    #[test]
    fn known_cases() {
        assert!(user_in_subject("Re: john", "john"));
        assert!(user_in_subject("FW: hello John\n", "john"));
        assert!(user_in_subject("john, your offer", "john"));
        assert!(
            !user_in_subject("John, your offer", "john"),
            "case-sensitive branch"
        );
        assert!(user_in_subject(", JOHN!", "john"));
        assert!(!user_in_subject("hi john", "john"));
        assert!(address_in_subject("for john@x.org today", "John@X.org"));
        assert!(!address_in_subject("for ajohn@x.org", "john@x.org"));
    }

    proptest! {
        #[test]
        fn matchers_agree_with_the_regexes(
            subject in "[ReFw:, !?;\\-jJoOhn\\n_.@x]{0,14}",
            to in "[jJoOhn_ ]{1,4}",
        ) {
            prop_assert_eq!(user_in_subject(&subject, &to), oracle(&subject, &to, true));
            prop_assert_eq!(address_in_subject(&subject, &to), oracle(&subject, &to, false));
        }
    }
}
