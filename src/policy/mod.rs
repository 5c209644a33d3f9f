//! amavisd's policy: per-recipient lookups, content categories, levels and
//! destinies.

pub mod decide;
pub mod headers;
pub mod lookup;

/// A score as amavisd prints it: up to 3 decimals, trailing zeros dropped
/// (1.3, 1.301, 1001.3, -999).
pub fn format_score(s: f64) -> String {
    let t = format!("{:.3}", s);
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" { "0".into() } else { t.to_string() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn score_format() {
        assert_eq!(super::format_score(1.3), "1.3");
        assert_eq!(super::format_score(1.301), "1.301");
        assert_eq!(super::format_score(1001.3), "1001.3");
        assert_eq!(super::format_score(-999.0), "-999");
        assert_eq!(super::format_score(5.0), "5");
        assert_eq!(super::format_score(0.0), "0");
    }
}
