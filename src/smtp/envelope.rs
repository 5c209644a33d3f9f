//! The envelope of one transaction: sender and recipients with their ESMTP
//! parameters, plus the client facts (connection and XFORWARD) that logging,
//! `Received:` and policy need.

use std::net::SocketAddr;

/// ESMTP parameters are kept as the client wrote them (`BODY=8BITMIME`,
/// `NOTIFY=FAILURE`, `ORCPT=rfc822;a@b`), so they reach the next hop exactly;
/// only `SIZE` is recomputed because we add headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<String>);

impl Params {
    /// Split the text after the closing `>` into `KEY[=VALUE]` words.
    pub fn parse(text: &str) -> Params {
        Params(text.split_ascii_whitespace().map(str::to_string).collect())
    }

    /// Value of `KEY=` (case-insensitive), or `Some("")` for a bare keyword.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p.as_str(), ""));
            k.eq_ignore_ascii_case(key).then_some(v)
        })
    }

    pub fn without(&self, key: &str) -> Params {
        Params(
            self.0
                .iter()
                .filter(|p| {
                    !p.split_once('=')
                        .map(|(k, _)| k)
                        .unwrap_or(p)
                        .eq_ignore_ascii_case(key)
                })
                .cloned()
                .collect(),
        )
    }
}

/// One `RCPT TO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Address without angle brackets.
    pub address: String,
    pub params: Params,
}

/// XFORWARD attributes (Postfix XFORWARD_README), as sent by the MTA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Xforward {
    pub name: Option<String>,
    pub addr: Option<String>,
    pub port: Option<String>,
    pub proto: Option<String>,
    pub helo: Option<String>,
    pub ident: Option<String>,
    pub source: Option<String>,
}

impl Xforward {
    /// Apply one `XFORWARD` command's attributes. Values `[UNAVAILABLE]` and
    /// `[TEMPUNAVAIL]` mean "unknown". Returns an error text for bad input.
    pub fn apply(&mut self, args: &str) -> Result<(), String> {
        if args.trim().is_empty() {
            return Err("XFORWARD without attributes".into());
        }
        for word in args.split_ascii_whitespace() {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("bad XFORWARD attribute `{word}`"))?;
            let v = xtext_decode(v);
            let v = if v == "[UNAVAILABLE]" || v == "[TEMPUNAVAIL]" {
                None
            } else {
                Some(v)
            };
            let slot = match k.to_ascii_uppercase().as_str() {
                "NAME" => &mut self.name,
                "ADDR" => &mut self.addr,
                "PORT" => &mut self.port,
                "PROTO" => &mut self.proto,
                "HELO" => &mut self.helo,
                "IDENT" => &mut self.ident,
                "SOURCE" => &mut self.source,
                other => return Err(format!("unknown XFORWARD attribute `{other}`")),
            };
            *slot = v;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == Xforward::default()
    }

    /// `ATTR=value` pairs to send downstream, values xtext-encoded, unknowns
    /// as `[UNAVAILABLE]` so the next hop does not keep stale attributes.
    pub fn pairs(&self) -> Vec<String> {
        let f = |k: &str, v: &Option<String>| {
            format!(
                "{k}={}",
                v.as_deref()
                    .map(xtext_encode)
                    .unwrap_or("[UNAVAILABLE]".into())
            )
        };
        vec![
            f("NAME", &self.name),
            f("ADDR", &self.addr),
            f("PORT", &self.port),
            f("PROTO", &self.proto),
            f("HELO", &self.helo),
            f("IDENT", &self.ident),
            f("SOURCE", &self.source),
        ]
    }
}

fn xtext_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Two ASCII hex digits, checked on bytes: slicing `s` inside a
        // multi-byte char would panic, and from_str_radix takes "+1".
        if b[i] == b'+'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3461 xtext: `+`, `=` and bytes outside 33..=126 as `+XX`.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// One mail transaction as received.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Reverse path without brackets; empty for the null sender `<>`.
    pub sender: String,
    pub mail_params: Params,
    pub recipients: Vec<Recipient>,
    /// The connecting MTA.
    pub peer: SocketAddr,
    /// Our address and port the MTA connected to (for `smtp:*:*` and logs).
    pub local: SocketAddr,
    /// EHLO/HELO/LHLO name the MTA gave.
    pub helo: String,
    pub lmtp: bool,
    pub xforward: Xforward,
}

impl Envelope {
    /// The original client address for logs: XFORWARD ADDR if known.
    pub fn client_addr(&self) -> Option<&str> {
        self.xforward.addr.as_deref()
    }
}

/// The envelope unit tests use: alice@example.org -> bob@example.com from
/// 127.0.0.1 to port 10024, no XFORWARD.
#[cfg(test)]
pub fn test_envelope() -> Envelope {
    Envelope {
        sender: "alice@example.org".into(),
        mail_params: Params::default(),
        recipients: vec![Recipient {
            address: "bob@example.com".into(),
            params: Params::default(),
        }],
        peer: "127.0.0.1:40000".parse().expect("addr"),
        local: "127.0.0.1:10024".parse().expect("addr"),
        helo: "mx".into(),
        lmtp: false,
        xforward: Xforward::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_roundtrip_and_lookup() {
        let p = Params::parse(" BODY=8BITMIME SIZE=123  SMTPUTF8");
        assert_eq!(p.get("body"), Some("8BITMIME"));
        assert_eq!(p.get("SMTPUTF8"), Some(""));
        assert_eq!(p.without("size").0, vec!["BODY=8BITMIME", "SMTPUTF8"]);
    }

    #[test]
    fn xforward_apply_and_encode() {
        let mut x = Xforward::default();
        x.apply("NAME=mail.example.org ADDR=192.0.2.10 PORT=54321")
            .unwrap();
        x.apply("HELO=a+20b IDENT=4XyZ PROTO=ESMTP SOURCE=REMOTE")
            .unwrap();
        assert_eq!(x.addr.as_deref(), Some("192.0.2.10"));
        assert_eq!(x.helo.as_deref(), Some("a b"));
        assert!(x.pairs().contains(&"HELO=a+20b".to_string()));
        x.apply("NAME=[UNAVAILABLE]").unwrap();
        assert_eq!(x.name, None);
        assert!(x.apply("FOO=1").is_err());
        assert!(x.apply("").is_err());
    }

    #[test]
    fn xtext_decode_leaves_non_hex_escapes_alone() {
        // Found by the smtp_session fuzz target: '+' then a multi-byte char
        // panicked (slice inside the char), ending the session without a reply.
        assert_eq!(xtext_decode("+a\u{e9}"), "+a\u{e9}");
        assert_eq!(xtext_decode("x+\u{20ac}y"), "x+\u{20ac}y");
        assert_eq!(xtext_decode("++41"), "+A");
        assert_eq!(xtext_decode("a+2"), "a+2");
    }
}
