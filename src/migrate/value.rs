//! Perl values as the config sees them, and Perl's rules for turning them
//! into strings, numbers and truth.

use std::collections::BTreeMap;

/// A Perl value. Anonymous arrays and hashes are held by value (configs
/// only build them); references to named variables stay references
/// (`\@local_domains_acl`), because Perl resolves them when amavisd reads the
/// map, after every file has run.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Undef,
    Str(String),
    Num(f64),
    /// `[ ... ]` and the line it starts on.
    Array(Vec<V>, u32),
    Hash(BTreeMap<String, V>),
    /// `\@name` / `\%name` / `\$name`.
    Ref(char, String),
    /// `qr'...'flags`: source as written, flags.
    Regex(String, String),
    /// `new_RE(...)`: ordered (key, value) pairs; a bare regex has value 1.
    NewRe(Vec<(V, V)>),
    /// `\&name` or an anonymous sub (`ANON`).
    Code(String),
    /// Something amavisd computes at start-up that we only describe (`read_text(...)`).
    Opaque(String),
}

impl V {
    pub fn truthy(&self) -> bool {
        match self {
            V::Undef => false,
            V::Str(s) => !(s.is_empty() || s == "0"),
            V::Num(n) => *n != 0.0,
            _ => true,
        }
    }

    /// Perl stringification.
    pub fn to_str(&self) -> String {
        match self {
            V::Undef => String::new(),
            V::Str(s) => s.clone(),
            V::Num(n) => fmt_num(*n),
            V::Array(..) => "ARRAY(0x0)".into(),
            V::Hash(_) => "HASH(0x0)".into(),
            V::Ref(s, n) => format!("REF({s}{n})"),
            V::Regex(src, flags) => format!("(?^{flags}:{src})"),
            V::NewRe(_) => "Amavis::Lookup::RE=ARRAY(0x0)".into(),
            V::Code(_) => "CODE(0x0)".into(),
            V::Opaque(s) => s.clone(),
        }
    }

    /// Perl numification: the leading number of a string, else 0.
    pub fn to_num(&self) -> f64 {
        match self {
            V::Num(n) => *n,
            V::Str(s) => leading_number(s),
            V::Undef => 0.0,
            _ => 0.0,
        }
    }
}

/// Perl prints numbers with 15 significant digits and no trailing zeros.
pub fn fmt_num(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Inf" } else { "-Inf" }.into();
    }
    let s = format!("{:.15e}", n);
    // Round to 15 significant digits, then print the shortest form.
    let v: f64 = s.parse().unwrap_or(n);
    let short = format!("{v}");
    if short.len() > 20 {
        format!("{v:e}")
    } else {
        short
    }
}

fn leading_number(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    if end < b.len() && (b[end] == b'-' || b[end] == b'+') {
        end += 1;
    }
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut e = end + 1;
        if e < b.len() && (b[e] == b'-' || b[e] == b'+') {
            e += 1;
        }
        if e < b.len() && b[e].is_ascii_digit() {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            end = e;
        }
    }
    t[..end].parse().unwrap_or(0.0)
}

/// `D_*` and `CC_*` constants of `Amavis::Conf`.
pub fn constant(name: &str) -> Option<f64> {
    Some(match name {
        "D_TEMPFAIL" => -4.0,
        "D_REJECT" => -3.0,
        "D_BOUNCE" => -2.0,
        "D_DISCARD" => 0.0,
        "D_PASS" => 1.0,
        "CC_CATCHALL" => 0.0,
        "CC_CLEAN" => 1.0,
        "CC_MTA" => 2.0,
        "CC_OVERSIZED" => 3.0,
        "CC_BADH" => 4.0,
        "CC_SPAMMY" => 5.0,
        "CC_SPAM" => 6.0,
        "CC_UNCHECKED" => 7.0,
        "CC_BANNED" => 8.0,
        "CC_VIRUS" => 9.0,
        _ => return None,
    })
}

/// Name of a destiny number, for the YAML.
pub fn destiny_name(n: f64) -> Option<&'static str> {
    Some(match n as i64 {
        -4 => "D_TEMPFAIL",
        -3 => "D_REJECT",
        -2 => "D_BOUNCE",
        0 => "D_DISCARD",
        1 => "D_PASS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_numbers() {
        assert_eq!(fmt_num(200.0 * 1024.0), "204800");
        assert_eq!(fmt_num(6.31), "6.31");
        assert_eq!(fmt_num(-999.0), "-999");
        assert_eq!(V::Str("12abc".into()).to_num(), 12.0);
        assert!(!V::Str("0".into()).truthy());
        assert!(V::Str("0.0".into()).truthy());
    }
}
