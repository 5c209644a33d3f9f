//! amavisd's per-address lookups (README.lookups): a `*_maps` list of
//! tables — constants, ACL lists and hashes — tried in order; the first
//! table with an answer decides.

use crate::config::{LookupTable, LookupValue};
use std::collections::BTreeMap;

/// A `*_maps` list, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct Maps {
    tables: Vec<LookupTable>,
}

impl Maps {
    /// amavisd's default composition `(\%name, \@name_acl)`, or the explicit
    /// `name_maps` list when configured.
    pub fn new(
        explicit: &Option<Vec<LookupTable>>,
        hash: &BTreeMap<String, LookupValue>,
        acl: &[String],
    ) -> Maps {
        if let Some(t) = explicit {
            return Maps { tables: t.clone() };
        }
        let mut tables = Vec::new();
        if !hash.is_empty() {
            tables.push(LookupTable::Hash(hash.clone()));
        }
        if !acl.is_empty() {
            tables.push(LookupTable::Acl(acl.to_vec()));
        }
        Maps { tables }
    }

    /// The value for `addr` (a mail address, or a bare domain), if any table answers.
    pub fn lookup(&self, addr: &str) -> Option<LookupValue> {
        let a = Address::parse(addr);
        for t in &self.tables {
            let found = match t {
                LookupTable::Const(v) => Some(v.clone()),
                LookupTable::Acl(list) => lookup_acl(list, &a).map(LookupValue::Bool),
                LookupTable::Hash(h) => lookup_hash(h, &a),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// True when the answer is true whatever the address: the first table is
    /// a true constant (`@bypass_spam_checks_maps = (1)`). Lets the caller
    /// skip loading what no message will ever use.
    pub fn is_true_for_all(&self) -> bool {
        matches!(self.tables.first(), Some(LookupTable::Const(v)) if v.is_true())
    }

    /// Perl truth of the lookup; no answer = false.
    pub fn is_true(&self, addr: &str) -> bool {
        self.lookup(addr).map(|v| v.is_true()).unwrap_or(false)
    }
}

/// An address split the way amavisd's lookups need it.
struct Address {
    local: String,
    /// Local part without `+extension`.
    base: String,
    domain: String,
}

impl Address {
    fn parse(addr: &str) -> Address {
        let addr = addr.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = match addr.rfind('@') {
            Some(i) => (&addr[..i], &addr[i + 1..]),
            // A bare domain (local_domains lookups on domains).
            None => ("", addr),
        };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let local = local.to_ascii_lowercase();
        let base = local.split('+').next().unwrap_or("").to_string();
        Address {
            local,
            base,
            domain,
        }
    }

    /// `sub.example.com` → `.sub.example.com`, `.example.com`, `.com`, `.`
    fn dotted_parents(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut d = self.domain.as_str();
        loop {
            if !d.is_empty() {
                out.push(format!(".{d}"));
            }
            match d.find('.') {
                Some(i) => d = &d[i + 1..],
                None => break,
            }
        }
        out.push(".".into());
        out
    }
}

/// Hash lookup keys in amavisd's order: full address, without extension,
/// `local@` forms, the domain, then dotted parents.
fn lookup_hash(h: &BTreeMap<String, LookupValue>, a: &Address) -> Option<LookupValue> {
    let get = |k: &str| {
        h.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let mut keys = Vec::new();
    if !a.local.is_empty() {
        keys.push(format!("{}@{}", a.local, a.domain));
        if a.base != a.local {
            keys.push(format!("{}@{}", a.base, a.domain));
        }
        keys.push(format!("{}@", a.local));
        if a.base != a.local {
            keys.push(format!("{}@", a.base));
        }
    }
    keys.push(a.domain.clone());
    keys.extend(a.dotted_parents());
    keys.iter().find_map(|k| get(k))
}

/// ACL lookup: first matching entry wins, `!` negates. Entries: `user@domain`,
/// `user@`, `domain` (exact), `.domain` (domain and subdomains), `.` (all).
fn lookup_acl(list: &[String], a: &Address) -> Option<bool> {
    for entry in list {
        let (neg, e) = match entry.trim().strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, entry.trim()),
        };
        let e = e.to_ascii_lowercase();
        let hit = if e == "." {
            true
        } else if let Some((l, d)) = e.split_once('@') {
            let local_ok = l.is_empty() || l == a.local || l == a.base;
            let dom_ok = d.is_empty()
                || d == a.domain
                || (d.starts_with('.') && (a.domain.ends_with(d) || a.domain == d[1..]));
            local_ok && dom_ok && !(l.is_empty() && d.is_empty())
        } else if let Some(parent) = e.strip_prefix('.') {
            a.domain == parent || a.domain.ends_with(&e)
        } else {
            a.domain == e
        };
        if hit {
            return Some(!neg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(pairs: &[(&str, f64)]) -> BTreeMap<String, LookupValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), LookupValue::Num(*v)))
            .collect()
    }

    #[test]
    fn acl_subdomains_negation_and_order() {
        let m = Maps::new(
            &None,
            &BTreeMap::new(),
            &["!sub.example.com".into(), ".example.com".into()],
        );
        assert!(m.is_true("bob@example.com"));
        assert!(m.is_true("bob@deep.example.com"));
        assert!(!m.is_true("bob@sub.example.com"));
        assert!(!m.is_true("bob@example.org"));
        assert!(m.is_true("BOB@EXAMPLE.COM"));
        let exact = Maps::new(&None, &BTreeMap::new(), &["example.com".into()]);
        assert!(exact.is_true("a@example.com"));
        assert!(!exact.is_true("a@x.example.com"));
    }

    #[test]
    fn the_howto_trap_matches_nothing() {
        // qw( ".$mydomain" ) is the literal text ".$mydomain" with quotes.
        let m = Maps::new(&None, &BTreeMap::new(), &["\".$mydomain\"".into()]);
        assert!(!m.is_true("bob@tobias.local"));
    }

    #[test]
    fn hash_most_specific_first() {
        let h = hash(&[
            ("example.com", 1.0),
            ("postmaster@example.com", 0.0),
            (".example.org", 1.0),
            ("abuse@", 1.0),
        ]);
        let m = Maps::new(&None, &h, &[]);
        assert!(m.is_true("bob@example.com"));
        assert!(!m.is_true("postmaster@example.com"));
        assert!(m.is_true("x@a.b.example.org"));
        assert!(m.is_true("x@example.org"));
        assert!(m.is_true("abuse@anywhere.net"));
        assert!(!m.is_true("x@example.net"));
        // Address extension falls back to the base address.
        assert!(!m.is_true("postmaster+tag@example.com"));
    }

    #[test]
    fn explicit_maps_constant_wins() {
        let m = Maps::new(
            &Some(vec![LookupTable::Const(LookupValue::Num(1.0))]),
            &BTreeMap::new(),
            &[],
        );
        assert!(m.is_true("anyone@anywhere"));
        let empty = Maps::default();
        assert!(!empty.is_true("anyone@anywhere"));
    }

    #[test]
    fn true_for_all_only_when_a_true_constant_comes_first() {
        let konst = |v: f64| LookupTable::Const(LookupValue::Num(v));
        let acl = LookupTable::Acl(vec![".example.com".into()]);
        let maps = |t: Vec<LookupTable>| Maps::new(&Some(t), &BTreeMap::new(), &[]);
        assert!(maps(vec![konst(1.0)]).is_true_for_all());
        assert!(!maps(vec![konst(0.0)]).is_true_for_all());
        // An ACL first can answer false for some address before the constant.
        assert!(!maps(vec![acl, konst(1.0)]).is_true_for_all());
        assert!(!Maps::default().is_true_for_all());
    }
}
