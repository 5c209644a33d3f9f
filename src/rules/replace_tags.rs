//! SpamAssassin's `replace_start` / `replace_tag` / `pre` / `inter` /
//! `post` expansion of rule patterns (`Plugin/ReplaceTags.pm`).

use super::parse::ReplaceTags;

/// Apply `replace_tag`/`pre`/`inter`/`post` to a pattern, as
/// `Plugin/ReplaceTags.pm::finish_parsing_end` does.
pub fn replace_tags(re: &str, t: &ReplaceTags) -> String {
    let mut re = re.to_string();
    for _pass in 0..=5 {
        let take = |re: &mut String, kind: &str| -> Option<String> {
            let key = format!("<{kind} ");
            let p = re.find(&key)?;
            let e = re[p..].find('>')? + p;
            let name = re[p + key.len()..e].to_string();
            re.replace_range(p..=e, "");
            Some(name)
        };
        let pre = take(&mut re, "pre").and_then(|n| t.pre.get(&n).cloned());
        let post = take(&mut re, "post").and_then(|n| t.post.get(&n).cloned());
        let inter = take(&mut re, "inter").and_then(|n| t.inter.get(&n).cloned());
        let pieces_v = split_tags(&re);
        let mut pieces = pieces_v;
        let is_tag = |p: &str| p.starts_with('<') && p.ends_with('>') && p.len() > 2;
        let mut again = false;
        for p in pieces.iter_mut() {
            if is_tag(p) {
                if let Some(pre) = &pre {
                    *p = format!("{pre}{p}");
                }
                if let Some(post) = &post {
                    *p = format!("{p}{post}");
                }
            } else if p.is_empty()
                && let Some(inter) = &inter
            {
                *p = inter.clone();
            }
        }
        for p in pieces.iter_mut() {
            let Some(s) = p.find('<') else {
                continue;
            };
            let Some(e) = p[s..].find('>').map(|e| e + s) else {
                continue;
            };
            if e <= s + 1 {
                continue;
            }
            let name = p[s + 1..e].to_string();
            if let Some(rep) = t.tags.get(&name) {
                *p = p.replace(&format!("<{name}>"), rep);
                if rep.find('<').is_some_and(|a| rep[a + 1..].contains('>')) {
                    again = true;
                }
            }
        }
        re = pieces.concat();
        if !again {
            break;
        }
    }
    re
}

/// Perl's `split(/(<[^<>]+>)/, $re)`: text and tag pieces, trailing empty
/// fields dropped.
fn split_tags(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut pieces = Vec::new();
    let (mut i, mut text_start) = (0, 0);
    while i < b.len() {
        if b[i] == b'<'
            && let Some(off) = b[i + 1..].iter().position(|&c| c == b'<' || c == b'>')
        {
            let e = i + 1 + off;
            if b[e] == b'>' && e > i + 1 {
                pieces.push(s[text_start..i].to_string());
                pieces.push(s[i..=e].to_string());
                i = e + 1;
                text_start = i;
                continue;
            }
        }
        i += 1;
    }
    pieces.push(s[text_start..].to_string());
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_tags_like_sa() {
        let mut t = ReplaceTags::default();
        t.tags.insert("A".into(), "[aA4]".into());
        t.tags.insert("B".into(), "[bB]".into());
        t.inter.insert("W1".into(), "\\W?".into());
        t.post.insert("P2".into(), "{1,2}".into());
        assert_eq!(replace_tags("x<A><B>y", &t), "x[aA4][bB]y");
        assert_eq!(
            replace_tags("<inter W1><post P2>x<A><B>", &t),
            "x[aA4]{1,2}\\W?[bB]{1,2}"
        );
    }
}
