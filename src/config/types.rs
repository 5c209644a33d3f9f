//! Value types of the configuration that have amavisd syntax of their own:
//! delivery methods (`smtp:[127.0.0.1]:10025`), destinies (`D_PASS`) and
//! lookup tables (amavisd's hash / ACL / constant map members).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Where mail goes: amavisd's `$forward_method` / `$notify_method` syntax.
///
/// Accepted forms (amavisd 2.13): `smtp:[HOST]:PORT`, `smtp:HOST:PORT`,
/// `lmtp:[HOST]:PORT`, `lmtp:unix:/path`, and `*` for "same as the
/// incoming connection" (host) or "incoming port + 1" (port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Original spelling, used verbatim in replies (`from MTA(smtp:[127.0.0.1]:10025)`).
    pub spec: String,
    pub protocol: Protocol,
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Lmtp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host` `None` = `*` (the address the client connected to);
    /// `port` `None` = `*` (the port the client connected to, plus one).
    Inet {
        host: Option<String>,
        port: Option<u16>,
    },
    Unix(String),
}

impl Method {
    pub fn parse(spec: &str) -> Result<Method, String> {
        let (proto, rest) = spec
            .split_once(':')
            .ok_or_else(|| format!("`{spec}`: expected smtp:HOST:PORT or lmtp:unix:/path"))?;
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "smtp" => Protocol::Smtp,
            "lmtp" => Protocol::Lmtp,
            other => {
                return Err(format!(
                    "`{spec}`: method `{other}:` is not supported (smtp: and lmtp: are)"
                ));
            }
        };
        if let Some(path) = rest.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("`{spec}`: unix socket path must be absolute"));
            }
            return Ok(Method {
                spec: spec.to_string(),
                protocol,
                target: Target::Unix(path.to_string()),
            });
        }
        // Host may be bracketed ([::1], [127.0.0.1]); the port is after the last colon.
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("`{spec}`: unbalanced `[`"))?;
            let port = after.strip_prefix(':').unwrap_or("*");
            (h.to_string(), port.to_string())
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.to_string()),
                None => (rest.to_string(), "*".to_string()),
            }
        };
        let host = if host == "*" || host.is_empty() {
            None
        } else {
            Some(host)
        };
        let port = if port == "*" {
            None
        } else {
            Some(
                port.parse::<u16>()
                    .map_err(|_| format!("`{spec}`: bad port `{port}`"))?,
            )
        };
        Ok(Method {
            spec: spec.to_string(),
            protocol,
            target: Target::Inet { host, port },
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Method::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.spec)
    }
}

/// amavisd's final destinies (`D_PASS`, ...), written with their Perl names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Destiny {
    #[serde(rename = "D_PASS")]
    Pass,
    #[serde(rename = "D_DISCARD")]
    Discard,
    #[serde(rename = "D_BOUNCE")]
    Bounce,
    #[serde(rename = "D_REJECT")]
    Reject,
    #[serde(rename = "D_TEMPFAIL")]
    Tempfail,
}

/// A scalar value in a lookup table: amavisd uses numbers, booleans and strings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LookupValue {
    Bool(bool),
    Num(f64),
    Str(String),
}

impl LookupValue {
    /// Perl truth: `0`, `""`, `"0"` and false are false.
    pub fn is_true(&self) -> bool {
        match self {
            LookupValue::Bool(b) => *b,
            LookupValue::Num(n) => *n != 0.0,
            LookupValue::Str(s) => !(s.is_empty() || s == "0"),
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            LookupValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            LookupValue::Num(n) => Some(*n),
            LookupValue::Str(s) => s.trim().parse().ok(),
        }
    }
}

/// One member of an amavisd `*_maps` list: a constant (`(1)` in Debian's
/// `@bypass_spam_checks_maps = (1)`), an ACL list (`@..._acl`, `!` negation,
/// leading `.` for subdomains) or a hash (`%...`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LookupTable {
    Const(LookupValue),
    Acl(Vec<String>),
    Hash(BTreeMap<String, LookupValue>),
}
