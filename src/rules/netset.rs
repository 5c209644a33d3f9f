//! `Mail::SpamAssassin::NetSet` as SpamAssassin uses it with Net::Patricia
//! installed (Debian does): networks as IPv6 prefixes (IPv4 mapped into
//! `::ffff:0:0/96`), the longest matching prefix decides, `!net` excludes;
//! with Net::CIDR::Lite (also installed) `a-b` ranges are accepted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

/// A list of included and excluded networks (`trusted_networks`, ...).
#[derive(Debug, Clone, Default)]
pub struct NetSet {
    /// (network, excluded), in the order added.
    nets: Vec<(Ipv6Net, bool)>,
}

impl NetSet {
    /// A set holding 127.0.0.0/8 and ::1 (`Conf::new_netset(.., 1)`).
    pub fn with_loopback() -> NetSet {
        let mut s = NetSet::default();
        s.add_cidr("127.0.0.0/8");
        s.add_cidr("::1");
        s
    }

    /// `add_cidr` for one entry: `[!]addr[/len]`, IPv4 shorthand like
    /// `192.168.` or `10/8`, `[v6]`, `%scope`. Returns false (and adds
    /// nothing) for an entry SpamAssassin would warn about and skip.
    /// A range `[!]a-b` (Net::CIDR::Lite) adds the networks covering it.
    pub fn add_cidr(&mut self, entry: &str) -> bool {
        let parsed = if entry.contains('-') {
            parse_range(entry)
        } else {
            parse_entry(entry).map(|n| vec![n])
        };
        match parsed {
            Some(nets) => {
                self.nets.extend(nets);
                true
            }
            None => {
                tracing::warn!(entry, "netset: illegal network entry ignored");
                false
            }
        }
    }

    /// `contains_ip`: the longest prefix holding `ip` decides; for the
    /// same prefix added twice the later entry wins (a trie replaces it).
    pub fn contains_ip(&self, ip: &str) -> bool {
        let Some(ip) = lookup_key(ip) else {
            return false;
        };
        let mut best: Option<(u8, bool)> = None;
        for (net, exclude) in &self.nets {
            if net.contains(&ip) && best.is_none_or(|(len, _)| net.prefix_len() >= len) {
                best = Some((net.prefix_len(), *exclude));
            }
        }
        best.is_some_and(|(_, exclude)| !exclude)
    }
}

fn mapped(v4: Ipv4Addr) -> Ipv6Addr {
    v4.to_ipv6_mapped()
}

/// The address as the trie looks it up: brackets, `%scope` and `IPv6:`
/// dropped, IPv4 mapped into IPv6.
fn lookup_key(ip: &str) -> Option<Ipv6Addr> {
    let ip = ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip);
    let ip = ip.split('%').next().unwrap_or(ip);
    let ip = ip
        .strip_prefix("IPv6:")
        .or_else(|| ip.strip_prefix("ipv6:"))
        .unwrap_or(ip);
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(mapped(a)),
        IpAddr::V6(a) => Some(a),
    }
}

/// `a-b` as the fewest networks covering exactly that range.
fn parse_range(entry: &str) -> Option<Vec<(Ipv6Net, bool)>> {
    let e = entry.trim_start();
    let (e, exclude) = match e.strip_prefix('!') {
        Some(rest) => (rest.trim_start(), true),
        None => (e, false),
    };
    let (a, b) = e.split_once('-')?;
    let nets: Vec<Ipv6Net> = match (a.trim().parse().ok()?, b.trim().parse().ok()?) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => ipnet::Ipv4Subnets::new(a, b, 0)
            .filter_map(|n| Ipv6Net::new(mapped(n.addr()), n.prefix_len() + 96).ok())
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => ipnet::Ipv6Subnets::new(a, b, 0).collect(),
        _ => return None,
    };
    Some(nets.into_iter().map(|n| (n, exclude)).collect())
}

fn parse_entry(entry: &str) -> Option<(Ipv6Net, bool)> {
    let mut cidr = entry.trim_start();
    let exclude = match cidr.strip_prefix('!') {
        Some(rest) => {
            cidr = rest.trim_start();
            true
        }
        None => false,
    };
    let (addr, masklen) = match cidr.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (cidr, None),
    };
    let addr = addr
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(addr);
    let addr = addr.split('%').next().unwrap_or(addr);
    // A mask must be a prefix length (the trie refuses dotted masks).
    let masklen: Option<u8> = match masklen {
        Some(m) if !m.is_empty() && m.len() <= 3 && m.bytes().all(|b| b.is_ascii_digit()) => {
            Some(m.parse().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    let digits = addr.bytes().take_while(u8::is_ascii_digit).count();
    let looks_v4 = digits > 0 && addr.as_bytes().get(digits).is_none_or(|&b| b == b'.');
    let (ip, len) = if looks_v4 {
        // "a.b.c.d", or shortened with an optional final dot: "10.1.2", "192.168.", "10"
        let (t, dotted) = match addr.strip_suffix('.') {
            Some(t) => (t, true),
            None => (addr, false),
        };
        let octets: Vec<&str> = t.split('.').collect();
        if octets.len() > 4 - usize::from(dotted)
            || octets
                .iter()
                .any(|o| o.is_empty() || !o.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let mut v = [0u8; 4];
        for (i, o) in octets.iter().enumerate() {
            v[i] = o.parse().ok()?;
        }
        let len = masklen.unwrap_or(8 * octets.len() as u8);
        if len > 32 {
            return None;
        }
        (mapped(Ipv4Addr::from(v)), len + 96)
    } else {
        let a: Ipv6Addr = addr.parse().ok()?;
        (a, masklen.unwrap_or(128))
    };
    let net = Ipv6Net::new(ip, len).ok()?.trunc();
    Some((net, exclude))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(entries: &[&str]) -> NetSet {
        let mut s = NetSet::default();
        for e in entries {
            assert!(s.add_cidr(e), "{e}");
        }
        s
    }

    #[test]
    fn forms_from_the_documentation() {
        let s = set(&["192.168."]);
        assert!(s.contains_ip("192.168.7.1"));
        assert!(!s.contains_ip("192.169.0.1"));
        let s = set(&["!10.0.1.5", "10.0.1/24"]);
        assert!(s.contains_ip("10.0.1.6"));
        assert!(!s.contains_ip("10.0.1.5"));
        let s = set(&["2001:db8:1::1", "!2001:db8:1::/64", "2001:db8::/32"]);
        assert!(s.contains_ip("2001:db8:1::1"));
        assert!(!s.contains_ip("2001:db8:1::2"));
        assert!(s.contains_ip("2001:db8:2::2"));
        assert!(s.contains_ip("[IPv6:2001:db8:2::2]"));
        let s = set(&["212.17.35.15", "10/8"]);
        assert!(s.contains_ip("212.17.35.15"));
        assert!(!s.contains_ip("212.17.35.16"));
        assert!(s.contains_ip("10.200.0.1"));
        assert!(!NetSet::default().contains_ip("127.0.0.1"));
        assert!(NetSet::with_loopback().contains_ip("127.0.0.1"));
        assert!(NetSet::with_loopback().contains_ip("::1"));
    }

    #[test]
    fn ranges() {
        let s = set(&["10.0.0.3-10.0.0.9", "!10.0.0.5-10.0.0.5"]);
        assert!(!s.contains_ip("10.0.0.2"));
        assert!(s.contains_ip("10.0.0.3"));
        assert!(!s.contains_ip("10.0.0.5"));
        assert!(s.contains_ip("10.0.0.9"));
        assert!(!s.contains_ip("10.0.0.10"));
        let s = set(&["2001:db8::1-2001:db8::ff"]);
        assert!(s.contains_ip("2001:db8::80"));
        assert!(!s.contains_ip("2001:db8::100"));
        assert!(!NetSet::default().add_cidr("10.0.0.9-10.0.0.3"));
    }

    #[test]
    fn bad_entries_are_skipped() {
        let mut s = NetSet::default();
        assert!(!s.add_cidr("10.0.0.0/255.0.0.0"));
        assert!(!s.add_cidr("mail.example.org"));
        assert!(!s.add_cidr("300.1.1.1"));
        assert!(!s.contains_ip("10.0.0.1"));
    }
}
