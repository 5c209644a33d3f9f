//! Lookup tables built once at load from the list settings that eval
//! functions consult on every message (`util_rb_tld`/`2tld`/`3tld`,
//! `enlist_uri_host`/`delist_uri_host`, `enlist_addrlist`). Scanning the
//! flat token lists per call cost ~0.3 ms a message (thousands of 2TLDs).

use std::collections::HashMap;

// FNV: looked up per message with short keys (domains, hosts), where
// SipHash's set-up dominated. Their keys come from the configuration, so a
// message cannot fill them with crafted collisions.
use fnv::{FnvHashMap, FnvHashSet};

/// The list settings as sets and maps, lower-cased.
#[derive(Debug, Default)]
pub struct Lists {
    pub tld: FnvHashSet<String>,
    pub tld2: FnvHashSet<String>,
    pub tld3: FnvHashSet<String>,
    /// `enlist_uri_host (NAME)` after `delist_uri_host`: host → listed
    /// (`false` for a `!host` exception).
    pub uri_hosts: FnvHashMap<String, FnvHashMap<String, bool>>,
    /// `enlist_addrlist (NAME)` globs.
    pub addrlists: FnvHashMap<String, AddrList>,
}

/// Split a flat `(NAME) tok tok (NAME2) tok` setting into named groups;
/// tokens before any `(NAME)` belong to `None`.
fn groups(tokens: &[String]) -> Vec<(Option<&str>, &str)> {
    let mut cur: Option<&str> = None;
    let mut out = Vec::new();
    for t in tokens {
        if let Some(n) = t.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            cur = Some(n);
        } else {
            out.push((cur, t.as_str()));
        }
    }
    out
}

impl Lists {
    pub fn new(settings: &HashMap<String, Vec<String>>) -> Lists {
        let get = |k: &str| settings.get(k).map_or(&[][..], Vec::as_slice);
        let set = |k: &str| get(k).iter().map(|t| t.to_ascii_lowercase()).collect();
        let mut uri_hosts: FnvHashMap<String, FnvHashMap<String, bool>> = FnvHashMap::default();
        for (name, t) in groups(get("enlist_uri_host")) {
            let Some(name) = name else { continue };
            let m = uri_hosts.entry(name.to_string()).or_default();
            match t.strip_prefix('!') {
                Some(h) => m.insert(h.to_lowercase(), false),
                None => m.insert(t.to_lowercase(), true),
            };
        }
        // `(*)` (set by the parser) marks a delist without a list name,
        // which applies to every list. Delists are applied after all
        // enlists (SpamAssassin applies them in file order; the installed
        // rules have none).
        for (name, t) in groups(get("delist_uri_host")) {
            let host = t.trim_start_matches('!').to_lowercase();
            for (n, m) in uri_hosts.iter_mut() {
                if name.is_none_or(|c| c == "*" || c == n) {
                    m.remove(&host);
                }
            }
        }
        let mut addrlists: FnvHashMap<String, AddrList> = FnvHashMap::default();
        for (name, t) in groups(get("enlist_addrlist")) {
            if let Some(name) = name {
                addrlists
                    .entry(name.to_string())
                    .or_default()
                    .add(t.to_lowercase());
            }
        }
        Lists {
            tld: set("util_rb_tld"),
            tld2: set("util_rb_2tld"),
            tld3: set("util_rb_3tld"),
            uri_hosts,
            addrlists,
        }
    }
}

/// One `enlist_addrlist` list, lower-cased. Most entries are `*@domain`
/// (the BANKS list has hundreds): those go in a set looked up by the
/// address's domain instead of being glob-matched one by one.
#[derive(Debug, Default)]
pub struct AddrList {
    exact: FnvHashSet<String>,
    /// `d` of each `*@d` entry without glob characters in `d`.
    any_at: FnvHashSet<String>,
    /// `s` of each `*@*s` entry without glob characters in `s` (the
    /// welcome lists' `*@*.ebay.com`): the address ends with `s` and has
    /// an `@` before it, tested without the glob matcher.
    at_suffix: Vec<String>,
    globs: Vec<String>,
}

impl AddrList {
    fn add(&mut self, entry: String) {
        let plain = |t: &str| !t.contains(['*', '?']);
        if let Some(d) = entry.strip_prefix("*@").filter(|d| plain(d)) {
            self.any_at.insert(d.to_string());
        } else if let Some(s) = entry.strip_prefix("*@*").filter(|s| plain(s)) {
            self.at_suffix.push(s.to_string());
        } else if plain(&entry) {
            self.exact.insert(entry);
        } else {
            self.globs.push(entry);
        }
    }

    /// `_check_welcomelist`'s test: an exact entry, or an anchored glob
    /// (`*` any run, `?` one byte) matching the lower-cased address.
    pub fn matches(&self, addr: &str) -> bool {
        let a = addr.to_lowercase();
        // `*@d` matches when some `@` in the address is followed by `d`.
        self.exact.contains(&a)
            || a.match_indices('@')
                .any(|(i, _)| self.any_at.contains(&a[i + 1..]))
            || self
                .at_suffix
                .iter()
                .any(|s| a.strip_suffix(s.as_str()).is_some_and(|p| p.contains('@')))
            || self.globs.iter().any(|g| super::evalfns::glob_match(g, &a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kv: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in kv {
            m.entry(k.to_string())
                .or_default()
                .extend(v.split_whitespace().map(str::to_string));
        }
        m
    }

    /// The `*@domain` set, exact entries and globs all answer as glob
    /// matching every entry would (the definition).
    #[test]
    fn addr_lists_match_like_their_globs() {
        let entries = "*@bank.example x@Exact.example *@*.pay.example a?c@q.example *@";
        let l = Lists::new(&settings(&[("enlist_addrlist", &format!("(L) {entries}"))]));
        let list = &l.addrlists["L"];
        for addr in [
            "joe@bank.example",
            "JOE@BANK.EXAMPLE",
            "a@b@bank.example",
            "@bank.example",
            "joe@sub.bank.example",
            "x@exact.example",
            "y@exact.example",
            "joe@www.pay.example",
            "joe@pay.example",
            "joe@.pay.example",
            "a@b@c.pay.example",
            "joe.pay.example",
            "@x.pay.example",
            "abc@q.example",
            "abbc@q.example",
            "joe@",
            "nobody",
        ] {
            let by_glob = entries.split_whitespace().any(|g| {
                crate::rules::evalfns::glob_match(&g.to_lowercase(), &addr.to_lowercase())
            });
            assert_eq!(list.matches(addr), by_glob, "{addr}");
        }
    }

    #[test]
    fn uri_host_lists_apply_exceptions_and_delists() {
        let l = Lists::new(&settings(&[
            (
                "enlist_uri_host",
                "(A) Bit.ly !ok.bit.ly t.co (B) x.org t.co",
            ),
            ("delist_uri_host", "(B) x.org"),
            ("delist_uri_host", "(*) !t.co"),
        ]));
        let a = &l.uri_hosts["A"];
        assert_eq!(a.get("bit.ly"), Some(&true));
        assert_eq!(a.get("ok.bit.ly"), Some(&false));
        assert_eq!(a.get("t.co"), None, "unnamed delist applies to all lists");
        assert!(l.uri_hosts["B"].is_empty());
    }

    #[test]
    fn tld_sets_are_lower_case() {
        let l = Lists::new(&settings(&[("util_rb_2tld", "CO.UK com.au")]));
        assert!(l.tld2.contains("co.uk") && l.tld2.contains("com.au"));
        assert!(l.tld.is_empty());
    }
}
