//! The verdict of the rule engine for one message, formatted as
//! SpamAssassin formats it.

/// One rule that hit, with its set-0 score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f64,
    pub description: String,
}

/// The verdict for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamResult {
    pub score: f64,
    pub required: f64,
    pub hits: Vec<Hit>,
}

impl SpamResult {
    /// Is the score at or above the required score?
    pub fn is_spam(&self) -> bool {
        self.score >= self.required
    }

    /// The `tests=[...]` list for `X-Spam-Status` (`NAME=score,...`).
    pub fn tests_string(&self) -> String {
        self.hits
            .iter()
            .map(|h| format!("{}={}", h.name, fmt_score(h.score)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Perl's `"%0.3f"` then numeric: "2.399", "1", "-0.001".
fn fmt_score(s: f64) -> String {
    let t = format!("{s:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" { "0".into() } else { t.to_string() }
}

/// Round as `PerMsgStatus` does: `sprintf("%0.3f", $score) + 0`.
pub(super) fn round3(s: f64) -> f64 {
    format!("{s:.3}").parse().unwrap_or(s)
}
