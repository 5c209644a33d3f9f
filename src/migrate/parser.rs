//! Statements and expressions of the Perl subset, by precedence climbing.
//!
//! A statement the parser cannot read (a loop, a sub, `s///`) becomes
//! [`Stmt::Unsupported`] and parsing resumes after its `;` or block, so one
//! exotic line costs one warning. Only unbalanced brackets make the whole file
//! unreadable ([`ParseError`]), because then no statement boundary is known.

pub use super::ast::{E, Node, ParseError, Stmt};
use super::lexer::{T, Tok};

pub fn parse(toks: &[Tok]) -> Result<Vec<Node>, ParseError> {
    let mut p = Parser {
        t: toks,
        i: 0,
        depth: 0,
        fatal: None,
    };
    let nodes = p.block_body()?;
    if p.i < toks.len() {
        return Err(ParseError {
            line: toks[p.i].line,
            msg: "unmatched `}`".into(),
        });
    }
    Ok(nodes)
}

/// Cursor over the token list.
pub(super) struct Parser<'a> {
    pub(super) t: &'a [Tok],
    pub(super) i: usize,
    /// Expression nesting, bounded so hostile input cannot overflow the stack.
    pub(super) depth: u32,
    /// Set when a statement shows the file is not Perl at all.
    pub(super) fatal: Option<ParseError>,
}

pub(super) type R<X> = Result<X, String>;

pub(super) const NAMED_UNARY: &[&str] = &[
    "lc",
    "uc",
    "lcfirst",
    "ucfirst",
    "defined",
    "chomp",
    "chop",
    "length",
    "scalar",
    "exists",
    "ref",
    "int",
    "abs",
    "hex",
    "oct",
    "quotemeta",
    "undef",
];

fn bin_prec(t: &T) -> Option<(&'static str, u8)> {
    let op: &'static str = match t {
        T::P(p) => p,
        T::Ident(w) => match w.as_str() {
            "x" => "x",
            "eq" => "eq",
            "ne" => "ne",
            "lt" => "lt",
            "gt" => "gt",
            "le" => "le",
            "ge" => "ge",
            "cmp" => "cmp",
            _ => return None,
        },
        _ => return None,
    };
    let p = match op {
        ".." | "..." => 7,
        "||" | "//" => 8,
        "&&" => 9,
        "|" | "^" => 10,
        "&" => 11,
        "==" | "!=" | "<=>" | "eq" | "ne" | "cmp" => 12,
        "<" | ">" | "<=" | ">=" | "lt" | "gt" | "le" | "ge" => 13,
        "+" | "-" | "." => 16,
        "*" | "/" | "%" | "x" => 17,
        "=~" | "!~" => 18,
        _ => return None,
    };
    Some((op, p))
}

fn is_assign_op(t: &T) -> Option<&'static str> {
    match t {
        T::P(
            p @ ("=" | ".=" | "+=" | "-=" | "*=" | "/=" | "||=" | "//=" | "&&=" | "**=" | "x="),
        ) => Some(p),
        _ => None,
    }
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<&T> {
        self.t.get(self.i).map(|t| &t.kind)
    }
    pub(super) fn peek_at(&self, k: usize) -> Option<&T> {
        self.t.get(self.i + k).map(|t| &t.kind)
    }
    pub(super) fn line(&self) -> u32 {
        self.t
            .get(self.i)
            .or_else(|| self.t.last())
            .map(|t| t.line)
            .unwrap_or(1)
    }
    pub(super) fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Some(T::P(q)) if *q == p)
    }
    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(T::Ident(q)) if q == w)
    }
    pub(super) fn eat_p(&mut self, p: &str) -> bool {
        let y = self.is_p(p);
        if y {
            self.i += 1;
        }
        y
    }
    pub(super) fn expect_p(&mut self, p: &str) -> R<()> {
        if self.eat_p(p) {
            Ok(())
        } else {
            Err(format!("expected `{p}`, found {}", self.describe()))
        }
    }
    pub(super) fn describe(&self) -> String {
        match self.peek() {
            None => "end of file".into(),
            Some(T::P(p)) => format!("`{p}`"),
            Some(T::Ident(w)) => format!("`{w}`"),
            Some(t) => format!("{t:?}"),
        }
    }

    /// Statements up to a `}` (not consumed) or end of input.
    pub(super) fn block_body(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut out = vec![];
        while self.i < self.t.len() && !self.is_p("}") {
            if self.eat_p(";") {
                continue;
            }
            let start = self.i;
            let line = self.line();
            match self.statement() {
                Ok(stmt) => out.push(Node { stmt, line }),
                Err(msg) => {
                    if let Some(f) = self.fatal.take() {
                        return Err(f);
                    }
                    self.i = start;
                    self.recover()?;
                    out.push(Node {
                        stmt: Stmt::Unsupported(msg),
                        line,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Skip to after the next `;` at this nesting level (or before the `}` closing it).
    pub(super) fn recover(&mut self) -> Result<(), ParseError> {
        let start_line = self.line();
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                T::P("(" | "[" | "{") => depth += 1,
                T::P(")" | "]") => depth -= 1,
                T::P("}") => {
                    if depth == 0 {
                        return Ok(());
                    }
                    depth -= 1;
                    if depth == 0 && self.block_ends_statement() {
                        self.i += 1;
                        return Ok(());
                    }
                }
                T::P(";") if depth == 0 => {
                    self.i += 1;
                    return Ok(());
                }
                _ => {}
            }
            if depth < 0 {
                return Err(ParseError {
                    line: self.line(),
                    msg: "unmatched closing bracket".into(),
                });
            }
            self.i += 1;
        }
        if depth > 0 {
            return Err(ParseError {
                line: start_line,
                msg: "unclosed bracket".into(),
            });
        }
        Ok(())
    }

    /// After a `}` at depth 0: does a block statement (`sub x {...}`, `for (...) {...}`) end here?
    pub(super) fn block_ends_statement(&self) -> bool {
        match self.peek_at(1) {
            None => true,
            Some(T::Scalar(_) | T::Array(_) | T::Hash(_) | T::P("}")) => true,
            Some(T::Ident(w)) => !matches!(
                w.as_str(),
                "else" | "elsif" | "if" | "unless" | "or" | "and" | "x" | "eq" | "ne" | "xor"
            ),
            _ => false,
        }
    }

    pub(super) fn statement(&mut self) -> R<Stmt> {
        if let Some(T::Ident(w)) = self.peek() {
            let w = w.clone();
            match w.as_str() {
                "use" | "no" => {
                    let module = match self.peek_at(1) {
                        Some(T::Ident(m)) => m.clone(),
                        _ => String::new(),
                    };
                    self.skip_to_semicolon();
                    return Ok(
                        if matches!(
                            module.as_str(),
                            "strict" | "warnings" | "utf8" | "vars" | ""
                        ) || module.starts_with('5')
                        {
                            Stmt::Ignored
                        } else {
                            Stmt::Unsupported(format!("loads Perl module {module}"))
                        },
                    );
                }
                "require" | "package" | "sub" | "BEGIN" | "END" | "for" | "foreach" | "while"
                | "until" | "do" | "eval" | "return" | "local" => {
                    if w == "require" && matches!(self.peek_at(1), Some(T::Ident(_))) {
                        self.skip_to_semicolon();
                        return Ok(Stmt::Ignored);
                    }
                    let what = match w.as_str() {
                        "sub" | "BEGIN" | "END" => {
                            "defines Perl code (custom hooks are not carried)"
                        }
                        "package" => "switches Perl package (custom hook code is not carried)",
                        "for" | "foreach" | "while" | "until" => "a loop",
                        _ => "Perl code",
                    };
                    return Err(what.to_string());
                }
                "if" | "unless" => return self.if_stmt(),
                _ => {}
            }
        }
        if self.is_p("{") {
            self.i += 1;
            let body = self.block_rest()?;
            return Ok(Stmt::If(vec![(None, body)]));
        }
        self.not_perl_shapes()?;
        let e = self.expr()?;
        let e = if self.is_word("if") || self.is_word("unless") {
            let neg = self.is_word("unless");
            self.i += 1;
            let c = self.expr()?;
            let c = if neg { E::Un("!", Box::new(c)) } else { c };
            Stmt::If(vec![(
                Some(c),
                vec![Node {
                    stmt: Stmt::Expr(e),
                    line: self.line(),
                }],
            )])
        } else {
            Stmt::Expr(e)
        };
        if !self.eat_p(";") && !self.is_p("}") && self.peek().is_some() {
            return Err(format!("expected `;`, found {}", self.describe()));
        }
        Ok(e)
    }

    /// `name = value` (Postfix main.cf, shell, INI) and `key: value` (YAML)
    /// start statements no Perl file has: the input is some other format.
    fn not_perl_shapes(&mut self) -> R<()> {
        let Some(T::Ident(w)) = self.peek() else {
            return Ok(());
        };
        let msg = match (self.peek_at(1), self.peek_at(2)) {
            (Some(T::P("=")), _) => {
                format!("`{w} = ...` assigns to a bare word; Perl variables have a sigil")
            }
            (Some(T::P(":")), next) if !matches!(next, Some(T::P("{")) | Some(T::Ident(_))) => {
                format!("`{w}: ...` looks like YAML, not Perl")
            }
            _ => return Ok(()),
        };
        self.fatal = Some(ParseError {
            line: self.line(),
            msg: msg.clone(),
        });
        Err(msg)
    }

    pub(super) fn skip_to_semicolon(&mut self) {
        while let Some(t) = self.peek() {
            let semi = matches!(t, T::P(";"));
            self.i += 1;
            if semi {
                break;
            }
        }
    }

    /// After `{`: statements and the closing `}`.
    pub(super) fn block_rest(&mut self) -> R<Vec<Node>> {
        if self.depth >= 100 {
            return Err("blocks nested too deeply".into());
        }
        self.depth += 1;
        let body = self.block_body().map_err(|e| e.msg);
        self.depth -= 1;
        let body = body?;
        self.expect_p("}")?;
        Ok(body)
    }

    pub(super) fn if_stmt(&mut self) -> R<Stmt> {
        let mut arms = vec![];
        let mut neg = self.is_word("unless");
        self.i += 1;
        loop {
            self.expect_p("(")?;
            let c = self.expr()?;
            self.expect_p(")")?;
            self.expect_p("{")?;
            let body = self.block_rest()?;
            arms.push((Some(if neg { E::Un("!", Box::new(c)) } else { c }), body));
            if self.is_word("elsif") {
                self.i += 1;
                neg = false;
                continue;
            }
            if self.is_word("else") {
                self.i += 1;
                self.expect_p("{")?;
                arms.push((None, self.block_rest()?));
            }
            return Ok(Stmt::If(arms));
        }
    }

    pub(super) fn expr(&mut self) -> R<E> {
        self.nested(Self::low_or)
    }

    /// Run `f` one nesting level deeper (at most 100 levels).
    pub(super) fn nested(&mut self, f: fn(&mut Self) -> R<E>) -> R<E> {
        if self.depth >= 100 {
            return Err("expression nested too deeply".into());
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    pub(super) fn low_or(&mut self) -> R<E> {
        let mut l = self.low_and()?;
        while self.is_word("or") || self.is_word("xor") {
            let op = if self.is_word("or") { "||" } else { "xor" };
            self.i += 1;
            let r = self.low_and()?;
            l = E::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    pub(super) fn low_and(&mut self) -> R<E> {
        let mut l = self.low_not()?;
        while self.is_word("and") {
            self.i += 1;
            let r = self.low_not()?;
            l = E::Bin("&&", Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    pub(super) fn low_not(&mut self) -> R<E> {
        if self.is_word("not") {
            self.i += 1;
            return Ok(E::Un("!", Box::new(self.low_not()?)));
        }
        self.comma()
    }

    /// Comma list; a single element without commas is returned as itself.
    pub(super) fn comma(&mut self) -> R<E> {
        let mut items = vec![];
        let mut had_comma = false;
        loop {
            if self.ends_list() {
                break;
            }
            items.push(self.assign()?);
            if self.eat_p(",") || self.eat_p("=>") {
                had_comma = true;
                continue;
            }
            break;
        }
        if items.len() == 1 && !had_comma {
            return Ok(items.pop().expect("one item"));
        }
        Ok(E::List(items))
    }

    pub(super) fn ends_list(&self) -> bool {
        match self.peek() {
            None => true,
            Some(T::P(p)) => matches!(*p, ")" | "]" | "}" | ";" | ":"),
            Some(T::Ident(w)) => matches!(w.as_str(), "or" | "and" | "if" | "unless" | "xor"),
            _ => false,
        }
    }

    pub(super) fn assign(&mut self) -> R<E> {
        let l = self.ternary()?;
        if let Some(op) = self.peek().and_then(is_assign_op) {
            self.i += 1;
            let r = self.assign()?;
            return Ok(E::Assign(Box::new(l), op, Box::new(r)));
        }
        Ok(l)
    }

    pub(super) fn ternary(&mut self) -> R<E> {
        let c = self.binary(7)?;
        if self.eat_p("?") {
            let a = self.assign()?;
            self.expect_p(":")?;
            let b = self.assign()?;
            return Ok(E::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }

    pub(super) fn binary(&mut self, min: u8) -> R<E> {
        let mut l = self.unary()?;
        while let Some((op, p)) = self.peek().and_then(bin_prec) {
            if p < min {
                break;
            }
            self.i += 1;
            let r = self.binary(p + 1)?;
            l = E::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    pub(super) fn unary(&mut self) -> R<E> {
        self.nested(Self::unary_inner)
    }

    fn unary_inner(&mut self) -> R<E> {
        if let Some(T::P(p @ ("!" | "~" | "\\" | "-" | "+"))) = self.peek() {
            let p: &'static str = p;
            self.i += 1;
            // `-e $file`: a file test, not a negation.
            if p == "-"
                && let Some(T::Ident(w)) = self.peek()
                && matches!(w.as_str(), "e" | "f" | "d" | "r" | "s")
                && !matches!(self.peek_at(1), Some(T::P("=>" | "," | ")")))
            {
                let w = format!("-{w}");
                self.i += 1;
                let a = self.unary()?;
                return Ok(E::Call(w, vec![a]));
            }
            let e = self.unary()?;
            return Ok(match (p, e) {
                ("\\", E::CodeRef(n)) => E::CodeRef(n),
                ("\\", e) => E::Ref(Box::new(e)),
                ("+", e) => e,
                (p, e) => E::Un(p, Box::new(e)),
            });
        }
        let base = self.postfix()?;
        if self.eat_p("**") {
            let r = self.unary()?;
            return Ok(E::Bin("**", Box::new(base), Box::new(r)));
        }
        Ok(base)
    }
}

/// `D_PASS`, `CC_VIRUS`: all-caps barewords are constants, never list operators.
pub(super) fn is_constant_name(w: &str) -> bool {
    w.chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `$h{k}` indexes the hash `%h`, while `$h->{k}` indexes what `$h` points to.
pub(super) fn base_for(e: E, sigil: char) -> E {
    match e {
        E::Scalar(n) => {
            if sigil == '%' {
                E::Hash(n)
            } else {
                E::Array(n)
            }
        }
        other => other,
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
