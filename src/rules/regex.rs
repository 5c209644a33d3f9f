//! Perl regex literals from SpamAssassin rule files, compiled with PCRE2.
//!
//! SpamAssassin compiles every rule with `/aa` (ASCII `\w\d\s`, ASCII case
//! folding) and matches undecoded bytes, so we use PCRE2 in non-UTF byte mode
//! (`Util.pm::compile_regexp`, see shared/reference/sa/sa-rules.md §4, §6).

use pcre2::bytes::{Regex, RegexBuilder};
use regex_syntax::ast::Ast;
use regex_syntax::hir::Hir;

use regex_automata::meta::Regex as MetaRegex;

mod syntax;
#[cfg(test)]
mod tests;

pub use syntax::{escape_high_bytes, parse_ast, pcre_builder, split_delimited, translate};

/// JIT stack limit per match (the brief: 8 MiB).
const JIT_STACK: usize = 8 * 1024 * 1024;

/// A compiled rule regex.
#[derive(Debug, Clone)]
pub struct PerlRegex {
    re: Engine,
    /// No anchors or word boundaries: a match in a piece of text is also a
    /// match in any text containing that piece (lets a whole-text test
    /// rule out every line at once).
    context_free: bool,
    /// PCRE2 rules: helper automata built on first use.
    anchored: Option<Box<Anchored>>,
}

/// A PCRE2 pattern checked at load (compiled without JIT, then dropped)
/// and compiled with JIT at first use or in the server's background
/// warm-up: JIT compilation was a fifth of all load work (~370 rules).
#[derive(Debug, Clone)]
struct LazyPcre {
    builder: RegexBuilder,
    pattern: String,
    re: std::sync::OnceLock<Option<Regex>>,
    /// Patterns with a leading part that can match empty: the rest, for
    /// yes/no tests (see `nullprefix.rs`).
    exists_pattern: Option<String>,
    exists: std::sync::OnceLock<Option<Regex>>,
}

impl LazyPcre {
    /// The regex for counting matches. It compiled at load, so a failure
    /// here (out of memory for the JIT) is logged and makes the rule miss.
    fn get(&self) -> Option<&Regex> {
        self.re
            .get_or_init(|| build_logged(&self.builder, &self.pattern))
            .as_ref()
    }

    /// The regex for yes/no tests: the `exists` form when there is one
    /// and it builds (it is only a shortcut), else the pattern itself.
    fn for_test(&self) -> Option<&Regex> {
        let exists = self.exists_pattern.as_ref().and_then(|p| {
            self.exists
                .get_or_init(|| self.builder.build(p).ok())
                .as_ref()
        });
        exists.or_else(|| self.get())
    }
}

fn build_logged(b: &RegexBuilder, pattern: &str) -> Option<Regex> {
    b.build(pattern)
        .map_err(
            |e| tracing::warn!(%pattern, error = %e, "rule regex failed to build; it never hits"),
        )
        .ok()
}

/// What a PCRE2 rule may need besides its regex: the pattern behind `\G`
/// to try a match at one offset only (see [`PerlRegex::is_match_at`]), and
/// its superset gate (see [`PerlRegex::ruled_out`]).
#[derive(Debug, Clone)]
struct Anchored {
    builder: RegexBuilder,
    /// The pattern (through `escape_high_bytes`) and its Perl flags.
    source: (String, String),
    pattern: String,
    re: std::sync::OnceLock<Option<Regex>>,
    /// The superset gate, and whether its matches all start at line starts.
    superset: std::sync::OnceLock<Option<(super::lazydfa::Matcher, bool)>>,
}

/// PCRE2 for what only it handles; the `regex` crate (built on first use,
/// so rules the prefilter never lets run cost nothing) for the rest.
#[derive(Debug, Clone)]
enum Engine {
    Pcre(Box<LazyPcre>),
    Rust(regex::bytes::Regex),
    LazyRust(Box<LazyRust>),
}

/// A pattern validated for the `regex` crate at load, compiled at first use.
#[derive(Debug, Clone)]
struct LazyRust {
    pattern: String,
    flags: String,
    /// The yes/no matcher (most rules only ever need this).
    fwd: std::sync::OnceLock<Option<super::lazydfa::Matcher>>,
    /// The whole-text matcher of `exact.rs` (body and uri rules).
    exact: std::sync::OnceLock<Option<super::exact::ExactRe>>,
    /// The full engine, for match counts and when the lazy DFA gives up.
    cell: std::sync::OnceLock<Option<MetaRegex>>,
}

impl LazyRust {
    fn is_match(&self, subject: &[u8]) -> bool {
        match self.fwd().and_then(|m| m.is_match(subject)) {
            Some(m) => m,
            None => self.get().is_some_and(|re| re.is_match(subject)),
        }
    }

    fn is_match_at(&self, subject: &[u8], at: usize) -> Option<bool> {
        self.fwd()?.is_match_at(subject, at)
    }

    fn fwd(&self) -> Option<&super::lazydfa::Matcher> {
        self.fwd
            .get_or_init(|| super::lazydfa::Matcher::new(&self.pattern, &self.flags))
            .as_ref()
    }

    fn get(&self) -> Option<&MetaRegex> {
        self.cell
            .get_or_init(|| {
                let re = rust_engine(&self.pattern, &self.flags);
                if re.is_none() {
                    tracing::warn!(pattern = %self.pattern, "rule regex failed to build; it never hits");
                }
                re
            })
            .as_ref()
    }
}

impl PerlRegex {
    /// Compile a delimited Perl regex (`/re/flags`, `m{re}flags`, `m!re!i` ...).
    pub fn from_delimited(text: &str) -> Result<PerlRegex, String> {
        let (body, flags) = split_delimited(text.trim())?;
        PerlRegex::new(body, flags)
    }

    /// Compile a bare pattern with Perl flag letters (`i`, `m`, `s`, `x`).
    pub fn new(body: &str, flags: &str) -> Result<PerlRegex, String> {
        let pattern = escape_high_bytes(body);
        let ast = parse_ast(&pattern, flags);
        PerlRegex::from_escaped(pattern, flags, ast.as_ref())
    }

    /// Like [`PerlRegex::new`] for a pattern already through
    /// [`escape_high_bytes`] and [`parse_ast`] (parsing is most of load time,
    /// so the prefilter reuses the same syntax tree).
    pub fn from_escaped(
        pattern: String,
        flags: &str,
        ast: Option<&Ast>,
    ) -> Result<PerlRegex, String> {
        let hir = ast.and_then(|a| translate(&pattern, a, flags, false));
        PerlRegex::from_translated(pattern, flags, ast, hir.as_ref())
    }

    /// Like [`PerlRegex::from_escaped`] with the tree also translated
    /// (without case folding, as the prefilter wants it: the engine choice
    /// reads only its assertions, which folding does not change), so load
    /// translates each pattern once.
    pub fn from_translated(
        pattern: String,
        flags: &str,
        ast: Option<&Ast>,
        hir: Option<&Hir>,
    ) -> Result<PerlRegex, String> {
        if let Some(context_free) = rust_compatible(hir) {
            return Ok(PerlRegex {
                context_free,
                anchored: None,
                re: Engine::LazyRust(Box::new(LazyRust {
                    pattern,
                    flags: flags.to_string(),
                    fwd: std::sync::OnceLock::new(),
                    exact: std::sync::OnceLock::new(),
                    cell: std::sync::OnceLock::new(),
                })),
            });
        }
        let b = pcre_builder(flags);
        // Compile without JIT to report a bad pattern at load; the JIT
        // build comes later (see `LazyPcre`).
        let checked = b.clone().jit_if_available(false).build(&pattern);
        match checked {
            Ok(_) => Ok(PerlRegex {
                re: Engine::Pcre(Box::new(LazyPcre {
                    builder: b.clone(),
                    pattern: pattern.clone(),
                    re: std::sync::OnceLock::new(),
                    exists_pattern: ast.and_then(|a| super::nullprefix::strip(&pattern, a, flags)),
                    exists: std::sync::OnceLock::new(),
                })),
                context_free: false,
                anchored: Some(Box::new(Anchored {
                    builder: b.clone(),
                    source: (pattern.clone(), flags.to_string()),
                    superset: std::sync::OnceLock::new(),
                    // Under `/x` a `#` comment runs to the end of line.
                    pattern: if flags.contains('x') {
                        format!("\\G(?:{pattern}\n)")
                    } else {
                        format!("\\G(?:{pattern})")
                    },
                    re: std::sync::OnceLock::new(),
                })),
            }),
            Err(e) if e.to_string().contains("too large") => {
                let re = regex::bytes::RegexBuilder::new(&pattern)
                    .unicode(false)
                    .case_insensitive(flags.contains('i'))
                    .multi_line(flags.contains('m'))
                    .dot_matches_new_line(flags.contains('s'))
                    .ignore_whitespace(flags.contains('x'))
                    .size_limit(64 << 20)
                    .dfa_size_limit(8 << 20)
                    .build()
                    .map_err(|e2| {
                        let e2 = e2.to_string();
                        let last = e2.lines().last().unwrap_or("").to_string();
                        format!("{e}; regex crate: {last}")
                    })?;
                Ok(PerlRegex {
                    re: Engine::Rust(re),
                    context_free: false,
                    anchored: None,
                })
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// True when a match inside any substring of a text implies a match in
    /// the text itself (no look-around of any kind, `^`, `$`, `\b` ...).
    pub fn context_free(&self) -> bool {
        self.context_free
    }

    /// Does PCRE2 run this regex (backtracking; the `regex` crate does not)?
    pub fn is_pcre(&self) -> bool {
        matches!(self.re, Engine::Pcre(_))
    }

    /// Does the `regex` crate run it from its pattern (so
    /// [`PerlRegex::is_match_exact`] can answer)?
    pub fn is_lazy_rust(&self) -> bool {
        matches!(self.re, Engine::LazyRust(_))
    }

    /// The pattern and flags of a regex the `regex` crate runs.
    pub fn lazy_source(&self) -> Option<(&str, &str)> {
        match &self.re {
            Engine::LazyRust(l) => Some((&l.pattern, &l.flags)),
            _ => None,
        }
    }

    /// Build a lazily compiled regex now; false if it cannot be built.
    pub fn force(&self) -> bool {
        match &self.re {
            Engine::LazyRust(l) => l.fwd().is_some(),
            Engine::Pcre(p) => p.for_test().is_some() && p.get().is_some(),
            Engine::Rust(_) => true,
        }
    }

    /// Build now what a prefiltered PCRE2 rule uses on first use: the `\G`
    /// twin (`anchored`: literals start every match) or the superset gate.
    pub fn force_helper(&self, anchored: bool) {
        let Some(a) = self.anchored.as_deref() else {
            return;
        };
        if anchored {
            a.twin();
        } else {
            a.superset();
        }
    }

    /// Does the regex match somewhere in `subject`? A runtime error (JIT stack
    /// or match limit) counts as no match, as the brief asks, and is logged.
    pub fn is_match(&self, subject: &[u8]) -> bool {
        let re = match &self.re {
            Engine::Pcre(p) => match p.for_test() {
                Some(re) => re,
                None => return false,
            },
            Engine::Rust(re) => return re.is_match(subject),
            Engine::LazyRust(l) => return l.is_match(subject),
        };
        match re.is_match(subject) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(pattern = re.as_str(), error = %e, "rule regex failed");
                false
            }
        }
    }

    /// Is there a match starting exactly at `at` in `subject` (look-behind
    /// still sees the bytes before it)? `None` when this regex cannot say
    /// (the caller then searches the whole subject).
    pub fn is_match_at(&self, subject: &[u8], at: usize) -> Option<bool> {
        match &self.re {
            Engine::LazyRust(l) => l.is_match_at(subject, at),
            Engine::Pcre(_) => {
                let re = self.anchored.as_deref()?.twin()?;
                re.is_match_at(subject, at).ok()
            }
            Engine::Rust(_) => None,
        }
    }

    /// True when the rule's superset gate (its pattern with look-around
    /// dropped, run by a lazy DFA) proves `subject` holds no match: PCRE2
    /// then need not backtrack through it. Always false for other engines.
    pub fn ruled_out(&self, subject: &[u8]) -> bool {
        let Some(a) = self.anchored.as_deref() else {
            return false;
        };
        a.superset()
            .is_some_and(|m| m.is_match(subject) == Some(false))
    }

    /// The end of the match starting exactly at `at`, if any; `None` when
    /// this regex cannot say.
    fn match_end_at(&self, subject: &[u8], at: usize) -> Option<Option<usize>> {
        match &self.re {
            Engine::LazyRust(l) => l.fwd()?.match_end_at(subject, at),
            Engine::Pcre(_) => {
                let re = self.anchored.as_deref()?.twin()?;
                re.find_at(subject, at).ok().map(|m| m.map(|m| m.end()))
            }
            Engine::Rust(_) => None,
        }
    }

    /// Hits of a rule whose matches all start at one of its literals,
    /// tried only where they occur (`hits`: `(segment, offset)` in text
    /// order, see `prefilter::Cands`): 0 or 1, or with `multiple` the
    /// non-overlapping matches per segment as [`PerlRegex::count_matches`]
    /// counts them, up to `max`. `None` when the regex cannot say.
    pub fn count_at_literals(
        &self,
        segs: &[Vec<u8>],
        hits: &[(u32, u32)],
        skip_first: bool,
        multiple: bool,
        max: usize,
    ) -> Option<usize> {
        // The `regex`-crate rules keep one cache for all their tries.
        let mut tries = match &self.re {
            Engine::LazyRust(l) => Some(l.fwd()?.anchored()),
            _ => None,
        };
        if !multiple {
            for &(j, p) in hits {
                let (seg, p) = (&segs[j as usize], p as usize);
                let hit = match &mut tries {
                    _ if skip_first && j == 0 => false,
                    Some(t) => t.is_match_at(seg, p)?,
                    None => self.is_match_at(seg, p)?,
                };
                if hit {
                    return Some(1);
                }
            }
            return Some(0);
        }
        let (mut n, mut i) = (0, 0);
        let mut pos = Vec::new();
        while i < hits.len() {
            let j = hits[i].0;
            pos.clear();
            while i < hits.len() && hits[i].0 == j {
                pos.push(hits[i].1 as usize);
                i += 1;
            }
            if skip_first && j == 0 {
                continue;
            }
            // Leftmost first: the next match starts at the first literal
            // at or after the previous match's end where one starts.
            pos.sort_unstable();
            pos.dedup();
            let seg = &segs[j as usize];
            let mut next = 0;
            for &p in &pos {
                if p < next {
                    continue;
                }
                let end = match &mut tries {
                    Some(t) => t.match_end_at(seg, p)?,
                    None => self.match_end_at(seg, p)?,
                };
                if let Some(end) = end {
                    n += 1;
                    if n >= max {
                        return Some(n);
                    }
                    next = end.max(p + 1);
                }
            }
        }
        Some(n)
    }

    /// Does the regex match in some segment of `text` (leaving out the
    /// first if `skip_first`)? `None` when PCRE2 runs it or the whole-text
    /// automaton cannot be built or gave up: search each segment instead.
    pub fn is_match_exact(&self, text: &super::exact::ExactText, skip_first: bool) -> Option<bool> {
        let Engine::LazyRust(l) = &self.re else {
            return None;
        };
        let m = l
            .exact
            .get_or_init(|| super::exact::exact_matcher(&l.pattern, &l.flags));
        text.is_match(m.as_ref()?, skip_first)
    }

    /// [`PerlRegex::count_matches`] for a PCRE2 rule whose matches all
    /// start at a line start (`^` under `/m`, as `__FILL_THIS_FORM_PARTIAL_RAW`):
    /// tried only at line starts where its superset gate matches, instead
    /// of PCRE2 stepping through every byte (~26 instructions a byte
    /// there). Leftmost-first and non-overlapping as `find_iter` counts:
    /// the next match is at the first line start at or after the last end.
    /// `None` when this does not apply.
    pub fn count_at_line_starts(&self, subject: &[u8], max: usize) -> Option<usize> {
        let a = self.anchored.as_deref()?;
        let (gate, true) = a.superset_lines()? else {
            return None;
        };
        let twin = a.twin()?;
        let mut tries = gate.anchored();
        let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', subject).map(|i| i + 1));
        let (mut n, mut next, mut last_end) = (0, 0, None);
        for p in starts {
            if p < next || !tries.is_match_at(subject, p)? {
                continue;
            }
            let Some(m) = twin.find_at(subject, p).ok()? else {
                continue;
            };
            // As `find_iter`: an empty match right where the previous
            // match ended is skipped.
            let empty = m.end() == p;
            next = if empty { p + 1 } else { m.end() };
            if empty && last_end == Some(p) {
                continue;
            }
            last_end = Some(m.end());
            n += 1;
            if n >= max {
                break;
            }
        }
        Some(n)
    }

    /// Count non-overlapping matches, up to `max` (for `tflags multiple`).
    pub fn count_matches(&self, subject: &[u8], max: usize) -> usize {
        let re = match &self.re {
            Engine::Pcre(p) => match p.get() {
                Some(re) => re,
                None => return 0,
            },
            Engine::Rust(re) => return re.find_iter(subject).take(max).count(),
            Engine::LazyRust(l) => {
                if let Some(n) = l.fwd().and_then(|m| m.count(subject, max)) {
                    return n;
                }
                return l
                    .get()
                    .map_or(0, |re| re.find_iter(subject).take(max).count());
            }
        };
        let mut n = 0;
        for m in re.find_iter(subject) {
            match m {
                Ok(_) => n += 1,
                Err(e) => {
                    tracing::debug!(pattern = re.as_str(), error = %e, "rule regex failed");
                    break;
                }
            }
            if n >= max {
                break;
            }
        }
        n
    }
}

/// The `regex` crate (finite automata, no backtracking blow-ups) for
/// patterns whose meaning is the same there (see [`rust_compatible`]).
/// Everything else goes to PCRE2.
fn rust_engine(pattern: &str, flags: &str) -> Option<MetaRegex> {
    use regex_automata::meta;
    MetaRegex::builder()
        .syntax(super::lazydfa::syntax_for(flags))
        .configure(
            meta::Config::new()
                .nfa_size_limit(Some(64 << 20))
                .hybrid_cache_capacity(8 << 20)
                // No literal prefilters inside the engine: rules with good
                // literals already went through our Aho-Corasick pass, and
                // its inner/suffix-literal strategies fall back to the
                // PikeVM over the whole text when they detect quadratic
                // work (measured: 6% of all rule time on the fixtures; 6%
                // fewer instructions overall without them).
                .auto_prefilter(false),
        )
        .build(pattern)
        .ok()
}

impl Anchored {
    /// The `\G` twin, compiled on first use.
    fn twin(&self) -> Option<&Regex> {
        self.re
            .get_or_init(|| self.builder.build(&self.pattern).ok())
            .as_ref()
    }

    /// The superset gate, built on first use.
    fn superset(&self) -> Option<&super::lazydfa::Matcher> {
        self.superset_lines().map(|(m, _)| m)
    }

    fn superset_lines(&self) -> Option<&(super::lazydfa::Matcher, bool)> {
        self.superset
            .get_or_init(|| super::gate::superset_matcher(&self.source.0, &self.source.1))
            .as_ref()
    }
}

/// Will [`rust_engine`] accept the pattern? Checked at load with the
/// parser only (cheap); the automaton is built on first use. `Some(true)`
/// when the pattern also has no look-around assertions.
fn rust_compatible(hir: Option<&Hir>) -> Option<bool> {
    // `\Z` and `\G` fail to parse. A non-`/m` `$` (or `\z`) parses to
    // `Look::End`, which unlike Perl's `$` does not match before a final
    // newline: those stay with PCRE2. A `/m` `$` (`Look::EndLF`) and an
    // escaped or bracketed `$` mean the same in both engines.
    let looks = hir?.properties().look_set();
    // Perl's `/m` `^` never matches after a final newline, the `regex`
    // crate's does: with `$` also there (`/^\s*$/m`) that changes results.
    use regex_syntax::hir::Look;
    if looks.contains(Look::End) || (looks.contains(Look::EndLF) && looks.contains(Look::StartLF)) {
        return None;
    }
    Some(looks.is_empty())
}
