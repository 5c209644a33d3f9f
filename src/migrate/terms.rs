//! Terms of an expression: literals, variables and subscripts, calls.

use super::lexer::T;
use super::parser::{E, NAMED_UNARY, Parser, R, base_for, is_constant_name};

impl Parser<'_> {
    pub(super) fn postfix(&mut self) -> R<E> {
        let mut e = self.term()?;
        loop {
            let arrow = self.is_p("->");
            let next = if arrow { self.peek_at(1) } else { self.peek() };
            let subscriptable = arrow
                || matches!(
                    e,
                    E::Scalar(_) | E::HElem(..) | E::AElem(..) | E::Deref('$', _)
                );
            match next {
                Some(T::P("{")) if subscriptable => {
                    self.i += 1 + arrow as usize;
                    let k = self.subscript_key()?;
                    self.expect_p("}")?;
                    e = E::HElem(Box::new(base_for(e, '%')), Box::new(k));
                }
                Some(T::P("[")) if subscriptable => {
                    self.i += 1 + arrow as usize;
                    let k = self.expr()?;
                    self.expect_p("]")?;
                    e = E::AElem(Box::new(base_for(e, '@')), Box::new(k));
                }
                _ if arrow => return Err("method call or code dereference".into()),
                _ => return Ok(e),
            }
        }
    }

    /// A hash key: a bareword (`{PATH}`, `{-foo}`) is a string.
    pub(super) fn subscript_key(&mut self) -> R<E> {
        if let (Some(T::Ident(w)), Some(T::P("}"))) = (self.peek(), self.peek_at(1)) {
            let w = w.clone();
            self.i += 1;
            return Ok(E::Str(w));
        }
        self.expr()
    }

    pub(super) fn term(&mut self) -> R<E> {
        let line = self.line();
        let Some(t) = self.peek().cloned() else {
            return Err("unexpected end of file".into());
        };
        self.i += 1;
        Ok(match t {
            T::Num(n) => E::Num(n),
            T::Str(s) => E::Str(s),
            T::IStr(s) => E::IStr(s),
            T::Qw(w) => E::Qw(w),
            T::Regex(s, f, i) => E::Regex(s, f, i),
            T::Qx(s) => E::Qx(s),
            T::Scalar(n) => E::Scalar(n),
            T::Array(n) => {
                if self.is_p("[") || self.is_p("{") {
                    return Err("array or hash slice".into());
                }
                E::Array(n)
            }
            T::Hash(n) => E::Hash(n),
            T::LastIdx(n) => E::LastIdx(n),
            T::Code(n) => E::CodeRef(n),
            T::P("[") => {
                let l = self.list_until("]")?;
                E::AnonArray(l, line)
            }
            T::P("{") => E::AnonHash(self.list_until("}")?),
            T::P("(") => E::List(self.list_until(")")?),
            T::P(s @ ("$" | "@" | "%")) => {
                let sig = s.chars().next().unwrap_or('$');
                let inner = if self.eat_p("{") {
                    let e = self.expr()?;
                    self.expect_p("}")?;
                    e
                } else {
                    self.term()?
                };
                E::Deref(sig, Box::new(inner))
            }
            T::Ident(w) => return self.word(w),
            T::P(p) => return Err(format!("unexpected `{p}`")),
        })
    }

    pub(super) fn list_until(&mut self, close: &str) -> R<Vec<E>> {
        if self.eat_p(close) {
            return Ok(vec![]);
        }
        let e = self.expr()?;
        self.expect_p(close)?;
        Ok(match e {
            E::List(v) => v,
            e => vec![e],
        })
    }

    pub(super) fn word(&mut self, w: String) -> R<E> {
        if self.is_p("=>") {
            return Ok(E::Str(w));
        }
        match w.as_str() {
            "my" | "our" => return Ok(E::Un("my", Box::new(self.term()?))),
            "sub" => {
                self.expect_p("{")?;
                self.skip_block()?;
                return Ok(E::AnonSub);
            }
            "undef" if !self.is_p("(") => return Ok(E::Undef),
            "__FILE__" | "__LINE__" | "__PACKAGE__" => return Ok(E::Call(w, vec![])),
            "map" if self.is_p("{") => {
                self.i += 1;
                let body = self.expr()?;
                self.expect_p("}")?;
                self.eat_p(",");
                let list = self.comma()?;
                return Ok(E::Map(Box::new(body), Box::new(list)));
            }
            "do" | "eval" | "map" | "grep" | "sort" | "s" | "tr" | "y" | "print" | "printf"
            | "open" | "system" | "exec" | "exit" | "die" | "warn" => {
                return Err(format!("`{w}` is not evaluated"));
            }
            _ => {}
        }
        if self.eat_p("(") {
            let args = self.list_until(")")?;
            return Ok(E::Call(w, args));
        }
        if NAMED_UNARY.contains(&w.as_str()) {
            if self.starts_term() {
                let a = self.binary(14)?;
                return Ok(E::Call(w, vec![a]));
            }
            return Ok(E::Call(w, vec![]));
        }
        if self.starts_term() && !is_constant_name(&w) {
            let args = match self.comma()? {
                E::List(v) => v,
                e => vec![e],
            };
            return Ok(E::Call(w, args));
        }
        Ok(E::Call(w, vec![]))
    }

    pub(super) fn starts_term(&self) -> bool {
        match self.peek() {
            None => false,
            Some(T::P(p)) => matches!(*p, "\\" | "[" | "{" | "$" | "@" | "-" | "!"),
            Some(T::Ident(w)) => !matches!(
                w.as_str(),
                "x" | "eq"
                    | "ne"
                    | "lt"
                    | "gt"
                    | "le"
                    | "ge"
                    | "cmp"
                    | "or"
                    | "and"
                    | "if"
                    | "unless"
                    | "xor"
            ),
            Some(_) => true,
        }
    }

    pub(super) fn skip_block(&mut self) -> R<()> {
        let mut depth = 1;
        while let Some(t) = self.peek().cloned() {
            self.i += 1;
            match t {
                T::P("{") => depth += 1,
                T::P("}") => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err("unclosed `{`".into())
    }
}
