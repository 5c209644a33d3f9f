//! `@inet_acl` / `@mynetworks` matching: IPs and CIDRs, IPv6 in brackets,
//! `!` negation, first match wins (amavisd's `lookup_ip_acl`).

use ipnet::IpNet;
use std::net::IpAddr;

/// A compiled IP access list.
#[derive(Debug, Clone)]
pub struct Acl {
    entries: Vec<(bool, IpNet)>,
}

impl Acl {
    /// Entries that do not parse are skipped with a warning (check-config reports them).
    pub fn new(list: &[String]) -> Acl {
        let entries = list
            .iter()
            .filter_map(|e| match parse_entry(e) {
                Ok(x) => Some(x),
                Err(msg) => {
                    tracing::warn!("{msg}");
                    None
                }
            })
            .collect();
        Acl { entries }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        for (positive, net) in &self.entries {
            if net.contains(&ip) {
                return *positive;
            }
        }
        false
    }
}

/// Parse one ACL entry, for validation.
pub fn parse_entry(e: &str) -> Result<(bool, IpNet), String> {
    let (neg, rest) = match e.trim().strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, e.trim()),
    };
    // amavisd writes IPv6 as [::1] or [fe80::]/10.
    let cleaned: String = rest.chars().filter(|c| *c != '[' && *c != ']').collect();
    let net = if cleaned.contains('/') {
        cleaned
            .parse::<IpNet>()
            .map_err(|_| format!("bad ACL entry `{e}`"))?
    } else {
        let ip: IpAddr = cleaned
            .parse()
            .map_err(|_| format!("bad ACL entry `{e}`"))?;
        IpNet::from(ip)
    };
    Ok((!neg, net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_default_and_negation() {
        let acl = Acl::new(&["127.0.0.1".into(), "[::1]".into()]);
        assert!(acl.allows("127.0.0.1".parse().unwrap()));
        assert!(acl.allows("::1".parse().unwrap()));
        assert!(!acl.allows("127.0.0.2".parse().unwrap()));
        let acl = Acl::new(&["!10.1.0.0/16".into(), "10.0.0.0/8".into()]);
        assert!(!acl.allows("10.1.2.3".parse().unwrap()));
        assert!(acl.allows("10.2.2.3".parse().unwrap()));
        assert!(acl.allows("::ffff:10.2.2.3".parse().unwrap()));
    }
}
