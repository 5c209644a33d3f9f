//! Relay facts from `Received:` headers, a reduced version of
//! `Message/Metadata/Received.pm`: the common Sendmail/Postfix/Exim/qmail
//! forms, trust decided by `trusted_networks` / `internal_networks` /
//! `msa_networks` or, without them, inferred as SpamAssassin does (private
//! IPs and authenticated hops are trusted until the first public one), and
//! the `X-Spam-Relays-*` pseudo-header strings built from them.

use std::net::IpAddr;

use super::msg::Field;
use super::netset::NetSet;

/// One parsed relay (a hop that handed the message over TCP/IP).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Relay {
    pub ip: String,
    pub rdns: String,
    pub helo: String,
    pub by: String,
    pub ident: String,
    pub envfrom: String,
    pub id: String,
    pub auth: String,
    pub internal: bool,
    pub trusted: bool,
    /// In `msa_networks`: every later relay keeps this one's trust.
    pub msa: bool,
}

impl Relay {
    /// `make_relay_as_string`.
    pub fn as_string(&self) -> String {
        format!(
            "[ ip={} rdns={} helo={} by={} ident={} envfrom={} intl={} id={} auth={} msa={} ]",
            self.ip,
            self.rdns,
            self.helo,
            self.by,
            self.ident,
            self.envfrom,
            u8::from(self.internal),
            self.id,
            self.auth,
            u8::from(self.msa)
        )
    }

    /// Is the relay's IP in private/loopback space (`IP_PRIVATE`)?
    pub fn ip_private(&self) -> bool {
        is_private(&self.ip)
    }
}

/// Private, loopback and link-local addresses.
pub fn is_private(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            let o = a.octets();
            a.is_private() || a.is_loopback() || a.is_link_local() || o[0] == 0
        }
        Ok(IpAddr::V6(a)) => {
            let s = a.segments();
            a.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// All relays of a message, split by trust.
#[derive(Debug, Clone, Default)]
pub struct Relays {
    pub trusted: Vec<Relay>,
    pub untrusted: Vec<Relay>,
    pub unparseable: usize,
    /// Index (among all `Received:` headers) of the last trusted one, -1 if none.
    pub last_trusted_index: i64,
    /// Index of the last internal one, -1 if none.
    pub last_internal_index: i64,
}

impl Relays {
    fn join(v: &[&Relay]) -> String {
        v.iter()
            .map(|r| r.as_string())
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn trusted_str(&self) -> String {
        Self::join(&self.trusted.iter().collect::<Vec<_>>())
    }
    pub fn untrusted_str(&self) -> String {
        Self::join(&self.untrusted.iter().collect::<Vec<_>>())
    }
    pub fn all(&self) -> impl Iterator<Item = &Relay> {
        self.trusted.iter().chain(self.untrusted.iter())
    }
    pub fn internal_str(&self) -> String {
        Self::join(&self.all().filter(|r| r.internal).collect::<Vec<_>>())
    }
    pub fn external_str(&self) -> String {
        Self::join(&self.all().filter(|r| !r.internal).collect::<Vec<_>>())
    }
}

/// The configured networks (`trusted_networks`, `internal_networks`,
/// `msa_networks` after any `clear_*`); none configured means inference.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    trusted: Option<NetSet>,
    internal: Option<NetSet>,
    msa: NetSet,
}

impl Trust {
    /// From the settings' entries; an empty list is "not configured".
    pub fn new(trusted: &[String], internal: &[String], msa: &[String]) -> Trust {
        let set = |entries: &[String]| {
            (!entries.is_empty()).then(|| {
                let mut s = NetSet::with_loopback();
                for e in entries {
                    s.add_cidr(e);
                }
                s
            })
        };
        let mut m = NetSet::default();
        for e in msa {
            m.add_cidr(e);
        }
        Trust {
            trusted: set(trusted),
            internal: set(internal),
            msa: m,
        }
    }
}

/// The synthetic `Received:` lines SpamAssassin appends for the
/// `originating_ip_headers` (X-Originating-IP and the like): one per
/// listed header (names case-insensitive, each once) whose last copy holds
/// an IP address.
pub fn originating_ip_lines(names: &[String], fields: &[Field]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            continue;
        }
        seen.push(lower);
        let Some(f) = fields.iter().rfind(|f| f.name.eq_ignore_ascii_case(name)) else {
            continue;
        };
        if let Some(ip) = first_ip(&super::msg::lossy(&f.decoded)) {
            out.push(format!("from X-Originating-IP: {ip}"));
        }
    }
    out
}

/// The first IPv4 or IPv6 address in a text (`m/($IP_ADDRESS)/`, read
/// token by token).
fn first_ip(s: &str) -> Option<String> {
    s.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .map(|t| t.trim_matches('.'))
        .find_map(|t| match t.parse::<IpAddr>() {
            // IPv6 hex digits are lower case in the Perl pattern
            Ok(IpAddr::V6(_)) if t.bytes().any(|b| b.is_ascii_uppercase()) => None,
            Ok(_) => Some(t.to_string()),
            // "1.2.3.4:8080": the address part
            Err(_) => t
                .split(':')
                .find(|p| p.parse::<std::net::Ipv4Addr>().is_ok())
                .map(str::to_string),
        })
}

/// `parse_received_headers`: the `Received:` values (top first, unfolded)
/// as relays, split by the configured networks (or inferred trust).
pub fn parse_relays_with(headers: &[String], trust: &Trust) -> Relays {
    let mut out = Relays {
        last_trusted_index: -1,
        last_internal_index: -1,
        ..Relays::default()
    };
    // One list configured stands in for the other (SpamAssassin 2.60 compat).
    let nets = match (&trust.trusted, &trust.internal) {
        (Some(t), Some(i)) => Some((t, i)),
        (Some(t), None) => Some((t, t)),
        (None, Some(i)) => Some((i, i)),
        (None, None) => None,
    };
    let (mut in_trusted, mut in_internal, mut found_msa) = (true, true, false);
    for h in headers {
        let line = h.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut r = match parse_line(&line) {
            Parsed::Relay(r) => r,
            p => {
                if matches!(p, Parsed::Unparseable) {
                    out.unparseable += 1;
                }
                out.last_trusted_index += i64::from(in_trusted);
                out.last_internal_index += i64::from(in_internal);
                continue;
            }
        };
        if in_trusted && !found_msa {
            match nets {
                None => {
                    if !r.ip_private() && r.auth.is_empty() {
                        in_trusted = false;
                        in_internal = false;
                    }
                }
                Some((trusted, internal)) => {
                    if r.auth.is_empty() && !trusted.contains_ip(&r.ip) {
                        in_trusted = false;
                        in_internal = false;
                    } else {
                        if in_internal && r.auth.is_empty() && !internal.contains_ip(&r.ip) {
                            in_internal = false;
                        }
                        if trust.msa.contains_ip(&r.ip) {
                            found_msa = true;
                            r.msa = true;
                        }
                    }
                }
            }
        }
        r.trusted = in_trusted;
        r.internal = in_internal;
        out.last_internal_index += i64::from(in_internal);
        if in_trusted {
            out.last_trusted_index += 1;
            out.trusted.push(r);
        } else {
            out.untrusted.push(r);
        }
    }
    out
}

enum Parsed {
    Relay(Relay),
    Ignored,
    Unparseable,
}

fn word_after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let p = s.find(key)?;
    s[p + key.len()..].split_whitespace().next()
}

fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    out.extend(s.chars().map(|c| {
        if c.is_whitespace() || "\0#[]()<>|".contains(c) {
            '!'
        } else {
            c
        }
    }));
    out
}

fn looks_ip(s: &str) -> bool {
    let s = s.trim_start_matches("IPv6:").trim_start_matches("ipv6:");
    s.parse::<IpAddr>().is_ok()
}

fn strip_ip(s: &str) -> String {
    let s = s.trim_matches(|c| c == '[' || c == ']');
    let s = s
        .strip_prefix("IPv6:")
        .or_else(|| s.strip_prefix("ipv6:"))
        .unwrap_or(s);
    let s = s
        .strip_prefix("::ffff:")
        .filter(|v| v.contains('.'))
        .unwrap_or(s);
    s.to_string()
}

fn parse_line(line: &str) -> Parsed {
    // the synthetic line of an originating_ip_headers address
    if let Some(ip) = line.strip_prefix("from X-Originating-IP: ")
        && ip.parse::<IpAddr>().is_ok()
    {
        return Parsed::Relay(Relay {
            ip: strip_ip(ip),
            ..Relay::default()
        });
    }
    let low = line.to_ascii_lowercase();
    if low.starts_with("(from ") && (low.contains("@localhost) by ") || low.contains("jqueuemail"))
    {
        return Parsed::Ignored;
    }
    let Some(rest) = line
        .strip_prefix("from ")
        .or_else(|| line.strip_prefix("FROM "))
    else {
        return Parsed::Ignored;
    };
    if low.contains(" with local for ")
        || low.contains("qmail-scanner")
        || low.contains(" with pop3")
        || low.contains(" with imap")
        || low.contains(" with bsmtp")
        || low.starts_with("from mail pickup service by ")
    {
        return Parsed::Ignored;
    }
    if let Some(p) = low.find(" with local")
        && (low[p + 11..].starts_with(' ') || low[p + 11..].starts_with('-'))
    {
        return Parsed::Ignored;
    }
    // "from X by Y;" without an IP is a local handover.
    let mut ws = rest.split_whitespace();
    let first = ws.next().unwrap_or("");
    if ws.next() == Some("by")
        && let Some(third) = ws.next()
        && (third.ends_with(';') || ws.next().is_some_and(|t| t.starts_with(';')))
        && !(first.starts_with('[') && looks_ip(&strip_ip(first)))
    {
        return Parsed::Ignored;
    }
    let by_pos = rest.find(" by ").or_else(|| rest.find(" BY "));
    let (from_part, after) = match by_pos {
        Some(p) => (&rest[..p], &rest[p + 4..]),
        None => (rest, ""),
    };
    let mut r = Relay {
        by: after
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches(';')
            .to_string(),
        ..Relay::default()
    };
    // / id <?([^\s<>;]{3,})/ anywhere in the line: shorter ids are not ids
    static ID: std::sync::OnceLock<::regex::Regex> = std::sync::OnceLock::new();
    let id_re =
        ID.get_or_init(|| ::regex::Regex::new(r" id <?([^\s<>;]{3,})").expect("static regex"));
    if let Some(c) = id_re.captures(line)
        && !microsoft_smtp(line, rest)
    {
        r.id = c[1].to_string();
    }
    // / with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)/i
    if let Some(w) = word_after(after, "with ") {
        let w = w.trim_end_matches(';');
        let u = w.to_ascii_uppercase();
        let smtpa = ["ES", "L", "UTF8S", "UTF8L"].iter().any(|p| {
            u.strip_prefix(p)
                .is_some_and(|r| r == "MTPA" || r == "MTPSA")
        });
        if smtpa || matches!(u.as_str(), "ASMTP" | "HTTP" | "HTTPS" | "HTTPU") {
            r.auth = w.to_string();
        }
    }
    let exim = low.contains("(exim ");
    let mut tokens = from_part.splitn(2, ' ');
    let head = tokens.next().unwrap_or("");
    let paren = tokens.next().unwrap_or("").trim();
    // Collect parenthesised groups.
    let groups: Vec<&str> = paren
        .split('(')
        .filter_map(|g| g.split(')').next())
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .collect();
    let head_is_ip = head.starts_with('[') && looks_ip(&strip_ip(head));
    let group_has_ip = groups.iter().any(|g| {
        g.split_whitespace()
            .any(|t| t.starts_with('[') && looks_ip(&strip_ip(t)))
    });
    if group_has_ip {
        r.helo = head.to_string();
    } else if head_is_ip {
        r.ip = strip_ip(head);
    } else if looks_ip(head) && !head.contains(':') {
        r.ip = head.to_string();
    } else {
        r.helo = head.to_string();
    }
    for g in &groups {
        let gl = g.to_ascii_lowercase();
        if let Some(h) = gl.strip_prefix("helo ") {
            // qmail: "unknown (HELO x) (1.2.3.4)" — head is the rDNS.
            let _ = h;
            r.rdns = head.to_string();
            r.helo = g[5..].trim().to_string();
            continue;
        }
        if let Some(h) = g.strip_prefix("helo=") {
            r.helo = h.to_string();
            continue;
        }
        // "rdns [ip]" / "[ip] helo=x" / "ident@rdns [ip]" / "root@1.2.3.4" / "1.2.3.4"
        let parts: Vec<&str> = g.split_whitespace().collect();
        if let Some(ipt) = parts
            .iter()
            .find(|t| t.starts_with('[') && looks_ip(&strip_ip(t)))
        {
            if r.ip.is_empty() {
                r.ip = strip_ip(ipt);
            }
            if let Some(h) = parts.iter().find_map(|t| t.strip_prefix("helo=")) {
                // Exim: "rdns ([ip] helo=x)" — head is the rDNS.
                r.rdns = head.to_string();
                r.helo = h.to_string();
            } else if parts[0].starts_with('[') {
                // Exim: "host ([ip])" — host is the verified rDNS and HELO.
                if exim {
                    r.rdns = head.to_string();
                }
            } else {
                let name = parts[0];
                let (ident, rdns) = match name.split_once('@') {
                    Some((i, d)) => (i.trim_start_matches("IDENT:"), d),
                    None => ("", name),
                };
                r.ident = ident.to_string();
                r.rdns = rdns.to_string();
            }
            continue;
        }
        if parts.len() == 1 && r.ip.is_empty() {
            let (ident, ip) = match g.split_once('@') {
                Some((i, ip)) => (i, ip),
                None => ("", *g),
            };
            if looks_ip(ip) {
                r.ip = ip.to_string();
                r.ident = ident.to_string();
                if r.rdns.is_empty() && !head_is_ip {
                    r.rdns = head.to_string();
                }
            }
        }
    }
    if r.ip.is_empty() {
        // Fall back to any [IP] in the line.
        if let Some(ip) = line
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .find(|t| t.starts_with('[') && t.ends_with(']') && looks_ip(&strip_ip(t)))
        {
            r.ip = strip_ip(ip);
        }
    }
    if r.ip.is_empty() && by_pos.is_some() && !from_part.contains(' ') {
        // "from host by host ..." with no address at all: a handover
        // SpamAssassin ignores rather than counts as unparseable.
        return Parsed::Ignored;
    }
    if r.ip.is_empty() && sa_ignores(line) {
        return Parsed::Ignored;
    }
    if r.ip.is_empty() || r.by.is_empty() {
        return Parsed::Unparseable;
    }
    if r.ip == "127.0.0.1" && r.helo.eq_ignore_ascii_case("localhost") {
        return Parsed::Ignored;
    }
    let rd = r.rdns.trim_end_matches('.');
    r.rdns = if rd.eq_ignore_ascii_case("unknown") || rd.starts_with('[') {
        String::new()
    } else {
        rd.to_string()
    };
    r.ip = clean(&r.ip);
    r.rdns = clean(&r.rdns);
    r.helo = clean(&r.helo);
    r.by = clean(&r.by);
    r.ident = clean(&r.ident);
    Parsed::Relay(r)
}

/// Received.pm's "Microsoft SMTP Server" form (`with mapi id 15.1.2.3`),
/// which it records without an id.
fn microsoft_smtp(line: &str, rest: &str) -> bool {
    static RES: std::sync::OnceLock<[::regex::Regex; 2]> = std::sync::OnceLock::new();
    let [with, from] = RES.get_or_init(|| {
        [
            r" with (?:Microsoft SMTP Server|mapi id) (?:\([^)]+\) )?\d+\.\d+\.\d+\.\d+(?:$|[ ;])",
            r"^\S+ \(\[?[0-9A-Fa-f.:]+(?:%[A-Za-z0-9._~-]*)?\]?\) by \S+ ",
        ]
        .map(|p| ::regex::Regex::new(p).expect("static regex"))
    });
    with.is_match(line) && from.is_match(rest)
}

/// Received.pm's "STUFF TO IGNORE" list: local handovers SpamAssassin
/// drops instead of counting as unparseable. Tried, as there, only once no
/// IP was found; `line` is whitespace-collapsed and starts with "from ".
fn sa_ignores(line: &str) -> bool {
    static RES: std::sync::OnceLock<(::regex::Regex, ::regex::RegexSet)> =
        std::sync::OnceLock::new();
    let (date, set) = RES.get_or_init(|| {
        const LH: &str = r"(?:localhost(?:\.localdomain)?|\b127\.0\.0\.1\b|::1)";
        let date = ::regex::Regex::new(
            r"[\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \d+ \d+:\d+(?::\d+)? \S+$",
        )
        .expect("static regex");
        let pats = [
            format!(r"^\S+ \([^\s@]+@{LH}\) by \S+ \("),
            r"^\S+ \S+ by \S+ with local-e?smtp ".to_string(),
            r"^127\.0\.0\.1 \(AVG SMTP \S+ \[\S+\]\)".to_string(),
            r"^\S+@\S+ by \S+ by uid \S+ ".to_string(),
            r"^\S+@\S+ by \S+ ".to_string(),
            r"^Unknown/Local \(".to_string(),
            format!(r"^{LH} \((?:\S+@)?{LH}[\)\[]"),
            format!(r"^\S+ \((?:\S+@)?{LH}\) "),
            format!(r"^\S+ \(\S+@\S+ \[{LH}\]\) "),
            r"^\(AUTH: \S+\) by \S+ with ".to_string(),
            r"^localhost \(localhost \[\[UNIX: localhost\]\]\) by ".to_string(),
            r"^\S+\.amazon\.com by \S+\.amazon\.com with ESMTP \(peer crosscheck: ".to_string(),
            r"^[^.]+ by \S+ with Novell_GroupWise".to_string(),
            r"^no\.name\.available by \S+ via smtpd \(for ".to_string(),
            r"^\S+ by \S+ \(.{0,100}\) with qmail-scanner".to_string(),
            r"^\S+ by \S+ with local".to_string(),
            r"^\S+ \(\[unix socket\]\) by \S+ \(Cyrus v[0-9]*?\.[0-9]*?\.[0-9]*?\) with LMTPA".to_string(),
            r"^\S+ by \S+ (?:with|via|for|\()".to_string(),
            r"^\S+ (?:(?:with|via|for) \S+|\(unverified\)) by\b".to_string(),
            r"^\S+ \(unknown\) by \S+ \(SG\) with \b".to_string(),
            r"^\S+ \(\S+ \[local\]\) by \S+ \(OpenSMTPD\) with \b".to_string(),
            r"\(LSMTP for".to_string(),
            format!(r"^\(\[{LH}\]\) with MailEnable "),
            r"^facebook\.com \([^)]+\) by facebook\.com with Thrift id \S+$".to_string(),
            r"^\S+ named \S+ by gmailapi\.google\.com with HTTPREST$".to_string(),
            r"^\S+ id \S+$".to_string(),
            r"^\[<.*? \(Jetsend".to_string(),
        ];
        (date, ::regex::RegexSet::new(pats).expect("static regexes"))
    });
    let Some(rest) = line.strip_prefix("from ") else {
        return false;
    };
    let rest = rest.trim_end_matches([' ', ';']);
    let rest = date.replace(rest, "");
    set.is_match(&rest.replacen(")by ", ") by ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Relay {
        match parse_line(s) {
            Parsed::Relay(r) => r,
            _ => panic!("not parsed: {s}"),
        }
    }

    #[test]
    fn common_forms() {
        let r = one(
            "from mir.eWare.com (mail.eware.com [212.120.152.162]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id g7TG6IZ19504 for <m@c.com>; Thu",
        );
        assert_eq!(
            r.as_string(),
            "[ ip=212.120.152.162 rdns=mail.eware.com helo=mir.eWare.com by=dogma.slashnull.org ident= envfrom= intl=0 id=g7TG6IZ19504 auth= msa=0 ]"
        );
        let r = one(
            "from unknown (HELO FUSNWR01-LRS) (62.172.195.14) by mi-1.rz.ruhr-uni-bochum.de with SMTP; 24 Jun 2002",
        );
        assert_eq!((r.rdns.as_str(), r.helo.as_str()), ("", "FUSNWR01-LRS"));
        let r = one(
            "from [213.1.202.147] (helo=p7q1e) by FUSNWR01-LRS with esmtp (Exim 4.05) id 17MY9x-0001zk-00 for x",
        );
        assert_eq!(
            (r.ip.as_str(), r.helo.as_str(), r.rdns.as_str()),
            ("213.1.202.147", "p7q1e", "")
        );
        let r = one(
            "from localhost ([127.0.0.1] helo=usw-sf-list1.sourceforge.net) by usw-sf-list1.sourceforge.net with esmtp id 16BujB-0003YE-00; Thu",
        );
        assert_eq!(
            (r.rdns.as_str(), r.helo.as_str()),
            ("localhost", "usw-sf-list1.sourceforge.net")
        );
        let r = one(
            "from mpehp1.mpe-garching.mpg.de (root@130.183.70.10) by o05.xray.mpe.mpg.de with SMTP; 16 Dec",
        );
        assert_eq!(
            (r.ident.as_str(), r.rdns.as_str(), r.helo.as_str()),
            (
                "root",
                "mpehp1.mpe-garching.mpg.de",
                "mpehp1.mpe-garching.mpg.de"
            )
        );
        assert!(matches!(
            parse_line("from phobos [127.0.0.1] by localhost with IMAP (fetchmail-5.9.0) for z"),
            Parsed::Ignored
        ));
    }

    #[test]
    fn ids_as_received_pm_takes_them() {
        // 3+ characters, and none for the Microsoft SMTP Server form.
        let r = one(
            "from a.example (a.example [192.0.2.1]) by b.example (Postfix) with ESMTP id A1; Mon",
        );
        assert_eq!(r.id, "");
        let r = one(
            "from a.example (a.example [192.0.2.1]) by b.example (Postfix) with ESMTP id <ABC>; Mon",
        );
        assert_eq!(r.id, "ABC");
        let r = one(
            "from EXCH01.corp.example ([10.1.2.3]) by EXCH01.corp.example ([10.1.2.3]) with mapi id 15.01.2507.039; Wed",
        );
        assert_eq!((r.id.as_str(), r.ip.as_str()), ("", "10.1.2.3"));
    }

    #[test]
    fn local_handovers_are_ignored_not_unparseable() {
        for l in [
            "from localhost (localhost) by zinfandel.lacita.com (8.7.3/8.6.10-MT4.00) with internal id JAB03225; Fri, 6 Apr 2001 09:23:06 -0800 (GMT-0800)",
            "from DSmith1204@aol.com by imo-m09.mx.aol.com (mail_out_v34.13.) id 7.53.208064a0 (4394); Sat, 11 Jan 2003 23:24:31 -0500 (EST)",
            "from GWGC6-MTA by gc6.jefferson.co.us with Novell_GroupWise; Tue, 30 Nov 2004 10:09:15 -0700",
        ] {
            assert!(matches!(parse_line(l), Parsed::Ignored), "{l}");
        }
        assert!(matches!(
            parse_line("from somewhere via nowhere; Mon, 3 Mar 2025 10:00:00 +0000"),
            Parsed::Unparseable
        ));
    }
}
