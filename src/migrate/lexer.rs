//! Tokens of the Perl subset amavisd config files use.
//!
//! The lexer decides the two things that make Perl hard to tokenise by
//! remembering whether the previous token ended a term: `/` (division or a
//! match) and `%` (modulo or a hash sigil). A character no Perl could start a
//! token with, or a template marker (`{{ }}`, `{% %}`, `<% %>`, `%%NAME%%`), is
//! a [`LexError`]: the file is not Perl at all.

/// One token with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    pub kind: T,
    pub line: u32,
}

/// Token kinds; strings keep their raw text so interpolation happens at
/// evaluation time, when variables have values.
#[derive(Debug, Clone, PartialEq)]
pub enum T {
    Scalar(String),
    Array(String),
    Hash(String),
    /// `$#name`
    LastIdx(String),
    /// `&name` (only after `\`)
    Code(String),
    Ident(String),
    Num(f64),
    /// Single-quoted or `q()`: already unescaped.
    Str(String),
    /// Double-quoted or `qq()`: raw text, interpolated later.
    IStr(String),
    Qw(Vec<String>),
    /// `qr` / `m` / `//`: source, flags, interpolating.
    Regex(String, String, bool),
    /// Backticks or `qx`: raw command.
    Qx(String),
    P(&'static str),
}

/// Why the text is not Perl, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub line: u32,
    pub msg: String,
}

const PUNCT: &[&str] = &[
    "<=>", "**=", "||=", "//=", "&&=", "...", "=>", "==", "!=", "<=", ">=", "=~", "!~", "->", "++",
    "--", "**", "&&", "||", "//", "..", ".=", "+=", "-=", "*=", "/=", "x=", "::", "=", ",", ";",
    "(", ")", "[", "]", "{", "}", "\\", ".", "+", "-", "*", "/", "%", "!", "?", ":", "<", ">", "&",
    "|", "^", "~", "$", "@",
];

/// Tokenise a whole file.
pub fn lex(src: &str) -> Result<Vec<Tok>, LexError> {
    Lexer {
        s: src.as_bytes(),
        src,
        i: 0,
        line: 1,
        out: vec![],
        heredocs: vec![],
    }
    .run()
}

/// Cursor over the source bytes plus the tokens so far.
struct Lexer<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    line: u32,
    out: Vec<Tok>,
    /// Pending here-documents: (terminator, interpolating, index of the token to fill).
    heredocs: Vec<(String, bool, usize)>,
}

impl Lexer<'_> {
    fn err<X>(&self, msg: impl Into<String>) -> Result<X, LexError> {
        Err(LexError {
            line: self.line,
            msg: msg.into(),
        })
    }
    fn peek(&self, k: usize) -> u8 {
        *self.s.get(self.i + k).unwrap_or(&0)
    }
    /// True when the previous token completes a term (so `/` divides, `%` is modulo).
    fn after_term(&self) -> bool {
        match self.out.last().map(|t| &t.kind) {
            None => false,
            Some(T::P(p)) => matches!(*p, ")" | "]" | "}"),
            Some(T::Ident(w)) => !matches!(
                w.as_str(),
                "if" | "unless" | "and" | "or" | "not" | "return" | "split" | "grep" | "map"
            ),
            Some(_) => true,
        }
    }
    fn push(&mut self, kind: T, line: u32) {
        self.out.push(Tok { kind, line });
    }

    fn run(mut self) -> Result<Vec<Tok>, LexError> {
        while self.i < self.s.len() {
            let c = self.peek(0);
            let at_line_start = self.i == 0 || self.s[self.i - 1] == b'\n';
            if c == b'\n' {
                self.line += 1;
                self.i += 1;
                if !self.heredocs.is_empty() {
                    self.read_heredocs()?;
                }
                continue;
            }
            if c.is_ascii_whitespace() {
                self.i += 1;
                continue;
            }
            if c == b'#' {
                while self.i < self.s.len() && self.peek(0) != b'\n' {
                    self.i += 1;
                }
                continue;
            }
            if at_line_start && c == b'=' && self.peek(1).is_ascii_alphabetic() {
                self.skip_pod();
                continue;
            }
            self.template_marker()?;
            let line = self.line;
            // `keys %h`: after a word, `%name` (no space) is a hash, not modulo.
            let hash_sigil = c == b'%'
                && (!self.after_term()
                    || (matches!(self.out.last().map(|t| &t.kind), Some(T::Ident(_)))
                        && is_word(self.peek(1))));
            if (c == b'$' || c == b'@' || hash_sigil)
                && let Some(t) = self.variable()?
            {
                self.push(t, line);
                continue;
            }
            if c == b'&' && matches!(self.out.last().map(|t| &t.kind), Some(T::P("\\"))) {
                self.i += 1;
                let name = self.ident();
                if name.is_empty() {
                    return self.err("`\\&` without a sub name");
                }
                self.push(T::Code(name), line);
                continue;
            }
            if c.is_ascii_digit()
                || (c == b'.' && self.peek(1).is_ascii_digit() && !self.after_term())
            {
                let n = self.number()?;
                self.push(T::Num(n), line);
                continue;
            }
            if c.is_ascii_alphabetic() || c == b'_' {
                let w = self.ident();
                if matches!(w.as_str(), "__END__" | "__DATA__") {
                    break;
                }
                if let Some(t) = self.quote_like(&w)? {
                    self.push(t, line);
                } else {
                    self.push(T::Ident(w), line);
                }
                continue;
            }
            match c {
                b'\'' => {
                    self.i += 1;
                    let raw = self.delimited(b'\'')?;
                    self.push(T::Str(unescape_single(&raw, '\'')), line);
                }
                b'"' => {
                    self.i += 1;
                    let raw = self.delimited(b'"')?;
                    self.push(T::IStr(raw), line);
                }
                b'`' => {
                    self.i += 1;
                    let raw = self.delimited(b'`')?;
                    self.push(T::Qx(raw), line);
                }
                b'/' if !self.after_term() => {
                    self.i += 1;
                    let raw = self.delimited(b'/')?;
                    let flags = self.flags();
                    self.push(T::Regex(raw, flags, true), line);
                }
                b'<' if self.peek(1) == b'<'
                    && !self.after_term()
                    && (matches!(self.peek(2), b'"' | b'\'' | b'~')
                        || self.peek(2).is_ascii_alphabetic()) =>
                {
                    self.heredoc_start()?;
                }
                _ => {
                    let rest = &self.src[self.i..];
                    match PUNCT.iter().find(|p| rest.starts_with(**p)) {
                        Some(p) => {
                            self.i += p.len();
                            self.push(T::P(p), line);
                        }
                        None => {
                            let ch = rest.chars().next().unwrap_or('?');
                            return self.err(format!("unexpected character `{ch}`"));
                        }
                    }
                }
            }
        }
        if let Some((term, ..)) = self.heredocs.first() {
            return self.err(format!("here-document `{term}` is not terminated"));
        }
        Ok(self.out)
    }

    /// `{{ x }}`, `{% x %}`, `<%= x %>`, `%%NAME%%`, `@@NAME@@` outside strings.
    fn template_marker(&self) -> Result<(), LexError> {
        let rest = &self.src[self.i..];
        let line_rest = rest.split('\n').next().unwrap_or("");
        let pairs = [("{{", "}}"), ("{%", "%}"), ("<%", "%>")];
        for (open, close) in pairs {
            if line_rest.starts_with(open) && line_rest[2..].contains(close) {
                return self.err(format!("template marker `{open} ... {close}`"));
            }
        }
        for m in ["%%", "@@"] {
            if let Some(r) = line_rest.strip_prefix(m) {
                let name: String = r
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && r[name.len()..].starts_with(m) {
                    return self.err(format!("template placeholder `{m}{name}{m}`"));
                }
            }
        }
        Ok(())
    }

    fn skip_pod(&mut self) {
        // POD runs from a line starting with `=word` to a line starting with `=cut`.
        loop {
            let end = self.src[self.i..]
                .find('\n')
                .map(|n| self.i + n)
                .unwrap_or(self.s.len());
            let is_cut = self.src[self.i..end].starts_with("=cut");
            self.i = (end + 1).min(self.s.len());
            self.line += 1;
            if is_cut || self.i >= self.s.len() {
                break;
            }
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        loop {
            let c = self.peek(0);
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.i += 1;
            } else if c == b':' && self.peek(1) == b':' && is_word(self.peek(2)) {
                self.i += 2;
            } else {
                break;
            }
        }
        self.src[start..self.i].to_string()
    }

    /// `$name`, `${name}`, `$#name`, `@name`, `%name`, `$::name`; `None` for a bare sigil.
    fn variable(&mut self) -> Result<Option<T>, LexError> {
        let sigil = self.peek(0);
        let save = self.i;
        self.i += 1;
        if sigil == b'$' && self.peek(0) == b'#' && (is_word(self.peek(1)) || self.peek(1) == b'{')
        {
            self.i += 1;
            let braced = self.peek(0) == b'{';
            if braced {
                self.i += 1;
            }
            let n = self.ident();
            if braced && self.peek(0) == b'}' {
                self.i += 1;
            }
            return Ok(Some(T::LastIdx(strip_pkg(&n))));
        }
        let name = if self.peek(0) == b'{' && is_word(self.peek(1)) {
            // `${name}` - but `${ \ ... }` / `%{$x}` are dereferences, left to the parser.
            let j = self.i + 1;
            let end = self.src[j..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map(|n| j + n);
            match end {
                Some(e) if self.s[e] == b'}' => {
                    self.i = e + 1;
                    self.src[j..e].to_string()
                }
                _ => {
                    self.i = save;
                    return Ok(None);
                }
            }
        } else if is_word(self.peek(0)) || (self.peek(0) == b':' && self.peek(1) == b':') {
            if self.peek(0) == b':' {
                self.i += 2;
            }
            self.ident()
        } else if sigil == b'$'
            && self.peek(0).is_ascii_punctuation()
            && !matches!(self.peek(0), b'{' | b'$')
        {
            // punctuation variable such as `$0` or `$!`
            self.i += 1;
            self.src[self.i - 1..self.i].to_string()
        } else {
            self.i = save;
            return Ok(None);
        };
        let name = strip_pkg(&name);
        Ok(Some(match sigil {
            b'$' => T::Scalar(name),
            b'@' => T::Array(name),
            _ => T::Hash(name),
        }))
    }

    fn number(&mut self) -> Result<f64, LexError> {
        let start = self.i;
        if self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X' | b'b' | b'B') {
            let radix = if matches!(self.peek(1), b'x' | b'X') {
                16
            } else {
                2
            };
            self.i += 2;
            let s = self.i;
            while self.peek(0).is_ascii_hexdigit() || self.peek(0) == b'_' {
                self.i += 1;
            }
            let digits: String = self.src[s..self.i].chars().filter(|c| *c != '_').collect();
            return match u64::from_str_radix(&digits, radix) {
                Ok(v) => Ok(v as f64),
                Err(_) => self.err("bad number"),
            };
        }
        while self.peek(0).is_ascii_digit() || self.peek(0) == b'_' {
            self.i += 1;
        }
        if self.peek(0) == b'.' && self.peek(1) != b'.' {
            self.i += 1;
            while self.peek(0).is_ascii_digit() || self.peek(0) == b'_' {
                self.i += 1;
            }
        }
        if matches!(self.peek(0), b'e' | b'E')
            && (self.peek(1).is_ascii_digit()
                || (matches!(self.peek(1), b'+' | b'-') && self.peek(2).is_ascii_digit()))
        {
            self.i += 2;
            while self.peek(0).is_ascii_digit() {
                self.i += 1;
            }
        }
        let text: String = self.src[start..self.i]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let leading_zero_int =
            text.len() > 1 && text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit());
        if leading_zero_int {
            // Perl reads 0755 as octal.
            return u64::from_str_radix(&text, 8)
                .map(|v| v as f64)
                .or_else(|_| self.err("bad octal number"));
        }
        text.parse()
            .or_else(|_| self.err(format!("bad number `{text}`")))
    }

    /// `q qq qw qr qx m` followed by a delimiter; `None` if the word is an ordinary identifier.
    fn quote_like(&mut self, w: &str) -> Result<Option<T>, LexError> {
        if !matches!(w, "q" | "qq" | "qw" | "qr" | "qx" | "m") {
            return Ok(None);
        }
        let mut j = self.i;
        while j < self.s.len() && matches!(self.s[j], b' ' | b'\t') {
            j += 1;
        }
        let d = *self.s.get(j).unwrap_or(&0);
        // `q => 1` or `q,` are barewords; `#` after whitespace would be a comment.
        let ok = d.is_ascii_punctuation()
            && d != b','
            && d != b';'
            && !(d == b'=' && self.s.get(j + 1) == Some(&b'>'))
            && !(d == b'#' && j > self.i);
        if !ok {
            return Ok(None);
        }
        self.i = j + 1;
        let raw = self.delimited(d)?;
        Ok(Some(match w {
            "q" => T::Str(unescape_single(&raw, d as char)),
            "qq" => T::IStr(raw),
            "qw" => T::Qw(
                raw.split_whitespace()
                    .map(|w| unescape_single(w, d as char))
                    .collect(),
            ),
            "qx" => T::Qx(raw),
            _ => {
                let flags = self.flags();
                T::Regex(raw, flags, d != b'\'')
            }
        }))
    }

    fn flags(&mut self) -> String {
        let s = self.i;
        while self.peek(0).is_ascii_alphabetic() {
            self.i += 1;
        }
        self.src[s..self.i].to_string()
    }

    /// Text up to the closing delimiter (bracket pairs nest); backslashes are kept.
    fn delimited(&mut self, open: u8) -> Result<String, LexError> {
        let close = match open {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            c => c,
        };
        let start_line = self.line;
        let start = self.i;
        let mut depth = 0usize;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            if c == b'\\' && self.i + 1 < self.s.len() {
                if self.s[self.i + 1] == b'\n' {
                    self.line += 1;
                }
                self.i += 2;
                continue;
            }
            if c == b'\n' {
                self.line += 1;
            }
            if c == close && depth == 0 {
                let text = self.src[start..self.i].to_string();
                self.i += 1;
                return Ok(text);
            }
            if open != close {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                }
            }
            self.i += 1;
        }
        Err(LexError {
            line: start_line,
            msg: format!("string starting with `{}` is not terminated", open as char),
        })
    }

    fn heredoc_start(&mut self) -> Result<(), LexError> {
        let line = self.line;
        self.i += 2;
        if self.peek(0) == b'~' {
            self.i += 1;
        }
        let (term, interp) = match self.peek(0) {
            q @ (b'"' | b'\'') => {
                self.i += 1;
                (self.delimited(q)?, q == b'"')
            }
            _ => (self.ident(), true),
        };
        let idx = self.out.len();
        self.push(
            if interp {
                T::IStr(String::new())
            } else {
                T::Str(String::new())
            },
            line,
        );
        self.heredocs.push((term, interp, idx));
        Ok(())
    }

    fn read_heredocs(&mut self) -> Result<(), LexError> {
        for (term, _, idx) in std::mem::take(&mut self.heredocs) {
            let mut body = String::new();
            loop {
                if self.i >= self.s.len() {
                    return self.err(format!("here-document `{term}` is not terminated"));
                }
                let end = self.src[self.i..]
                    .find('\n')
                    .map(|n| self.i + n)
                    .unwrap_or(self.s.len());
                let l = &self.src[self.i..end];
                self.i = (end + 1).min(self.s.len());
                self.line += 1;
                if l.trim() == term {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            match &mut self.out[idx].kind {
                T::IStr(s) | T::Str(s) => *s = body,
                _ => {}
            }
        }
        Ok(())
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `Amavis::Conf::x` and `::x` name the same variable as `x` inside the config.
fn strip_pkg(name: &str) -> String {
    name.strip_prefix("Amavis::Conf::")
        .or_else(|| name.strip_prefix("main::"))
        .or_else(|| name.strip_prefix("::"))
        .unwrap_or(name)
        .to_string()
}

/// Single-quote rules: only `\\` and a backslashed delimiter are escapes.
pub fn unescape_single(raw: &str, delim: char) -> String {
    let close = match delim {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        c => c,
    };
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        match (c, it.peek()) {
            ('\\', Some(&n)) if n == '\\' || n == delim || n == close => {
                out.push(n);
                it.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
