//! Writing values as YAML text by hand, so every key can carry a
//! `# from file:line` comment (serde serialisers cannot place comments).

use super::eval::State;
use super::value::{V, fmt_num};
use serde_json::{Value as J, json};

/// Perl `qr'src'flags` as one PCRE pattern: flags become an inline group.
pub fn with_flags(src: &str, flags: &str) -> String {
    // Perl's own order (`re::regexp_pattern`), so `qr'..'xi` reads as `(?ix)`.
    let f: String = "msixn".chars().filter(|c| flags.contains(*c)).collect();
    if f.is_empty() {
        src.to_string()
    } else {
        format!("(?{f}){src}")
    }
}

pub fn num(n: f64) -> J {
    if !n.is_finite() {
        // JSON has no infinity; Perl would print "Inf".
        json!(fmt_num(n))
    } else if n.fract() == 0.0 && n.abs() < 9e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// Policy-bank values as plain data.
pub fn to_json(st: &State, v: &V, depth: u32) -> J {
    if depth > 32 {
        return J::Null;
    }
    match v {
        V::Undef => J::Null,
        V::Str(s) => json!(s),
        V::Num(n) => num(*n),
        V::Array(a, _) => J::Array(a.iter().map(|x| to_json(st, x, depth + 1)).collect()),
        V::Hash(h) => J::Object(
            h.iter()
                .map(|(k, x)| (k.clone(), to_json(st, x, depth + 1)))
                .collect(),
        ),
        V::Ref('%', n) => to_json(st, &V::Hash(st.get_hash(n)), depth + 1),
        V::Ref('@', n) => to_json(st, &V::Array(st.get_array(n), 0), depth + 1),
        V::Ref(_, n) => to_json(st, &st.get_scalar(n), depth + 1),
        V::Regex(s, f) => json!(with_flags(s, f)),
        V::NewRe(p) => {
            json!({"new_RE": p.iter().map(|(k, x)| json!([to_json(st, k, depth + 1), to_json(st, x, depth + 1)])).collect::<Vec<_>>()})
        }
        V::Code(c) => json!(format!("CODE:{c}")),
        V::Opaque(s) => json!(s),
    }
}

/// One-line YAML for a scalar (or an empty list/map).
pub fn flow(v: &J) -> String {
    match v {
        J::Null => "~".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.as_f64().map(fmt_num).unwrap_or_else(|| n.to_string()),
        J::String(s) => quote(s),
        J::Array(a) if a.is_empty() => "[]".into(),
        J::Object(o) if o.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

/// Single quotes keep regexes readable; control characters need double quotes.
pub fn quote(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// A mapping key: plain when YAML cannot misread it, else quoted.
pub fn key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '.')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@+-".contains(c))
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { k.to_string() } else { quote(k) }
}

pub fn render_block(out: &mut String, v: &J, indent: usize) {
    let pad = "  ".repeat(indent);
    match v {
        J::Array(a) => {
            for x in a {
                if is_nested(x) {
                    // `- key: v` / `- - v`: the first line of the nested block shares the dash.
                    let mut inner = String::new();
                    render_block(&mut inner, x, indent + 1);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[pad.len() + 2..]);
                } else {
                    out.push_str(&format!("{pad}- {}\n", flow(x)));
                }
            }
        }
        J::Object(o) => {
            for (k, x) in o {
                let k = key(k);
                if is_nested(x) {
                    out.push_str(&format!("{pad}{k}:\n"));
                    render_block(out, x, indent + 1);
                } else {
                    out.push_str(&format!("{pad}{k}: {}\n", flow(x)));
                }
            }
        }
        x => out.push_str(&format!("{pad}{}\n", flow(x))),
    }
}

fn is_nested(v: &J) -> bool {
    match v {
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
        _ => false,
    }
}
