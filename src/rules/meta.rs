//! Meta-rule and `if (...)` expressions: the small Perl subset SpamAssassin
//! accepts there (`Conf/Parser.pm::compile_meta_rules`, `is_meta_valid`).
//!
//! Values are numbers; a rule's value is its hit count. Operators keep Perl
//! semantics: `&&`/`||` return an operand, comparisons and `!` give 1/0.

/// A parsed expression; `Var` indexes a rule table after compilation.
#[derive(Debug, Clone)]
pub enum Expr {
    Num(f64),
    Var(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Binary operators in a meta expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(f64),
    Call(String, String),
    Sym(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    const SYMS: [&str; 18] = [
        "&&", "||", "<=", ">=", "==", "!=", "!", "<", ">", "+", "-", "*", "/", "(", ")", "?", ":",
        ",",
    ];
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = s[st..i].to_string();
            // plugin(X), can(X), rules_matching(X): keep the raw argument.
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len()
                && b[j] == b'('
                && matches!(name.as_str(), "plugin" | "can" | "has" | "rules_matching")
            {
                let close = s[j..].find(')').ok_or("unclosed call")? + j;
                out.push(Tok::Call(name, s[j + 1..close].trim().to_string()));
                i = close + 1;
            } else {
                out.push(Tok::Name(name));
            }
        } else if c.is_ascii_digit() || c == b'.' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(s[st..i].parse().map_err(|_| "bad number")?));
        } else {
            let sym = SYMS
                .iter()
                .find(|sym| s[i..].starts_with(**sym))
                .ok_or_else(|| format!("bad character {:?} in expression", c as char))?;
            out.push(Tok::Sym(sym));
            i += sym.len();
        }
    }
    Ok(out)
}

/// Resolves names and calls while parsing (rule index, or a constant).
pub trait Resolver {
    fn name(&mut self, name: &str) -> Expr;
    fn call(&mut self, func: &str, arg: &str) -> Expr;
}

struct Parser<'a, R: Resolver> {
    toks: Vec<Tok>,
    pos: usize,
    res: &'a mut R,
}

/// Parse an expression, resolving each name through `res`.
pub fn parse<R: Resolver>(s: &str, res: &mut R) -> Result<Expr, String> {
    let toks = tokenize(s)?;
    let mut p = Parser { toks, pos: 0, res };
    let e = p.ternary()?;
    if p.pos != p.toks.len() {
        return Err(format!("trailing tokens in expression {s:?}"));
    }
    Ok(e)
}

impl<R: Resolver> Parser<'_, R> {
    fn peek_sym(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Sym(s)) => Some(s),
            _ => None,
        }
    }
    fn eat(&mut self, sym: &str) -> bool {
        if self.peek_sym() == Some(sym) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn ternary(&mut self) -> Result<Expr, String> {
        let c = self.binary(0)?;
        if self.eat("?") {
            let a = self.ternary()?;
            if !self.eat(":") {
                return Err("expected ':'".into());
            }
            let b = self.ternary()?;
            return Ok(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }
    // Perl precedence, lowest first.
    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: [&[(&str, Op)]; 6] = [
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[("==", Op::Eq), ("!=", Op::Ne)],
            &[("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        'outer: loop {
            for (sym, op) in LEVELS[level] {
                if self.eat(sym) {
                    let rhs = self.binary(level + 1)?;
                    lhs = Expr::Bin(*op, Box::new(lhs), Box::new(rhs));
                    continue 'outer;
                }
            }
            return Ok(lhs);
        }
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        if self.eat("(") {
            let e = self.ternary()?;
            if !self.eat(")") {
                return Err("expected ')'".into());
            }
            return Ok(e);
        }
        let t = self.toks.get(self.pos).cloned().ok_or("unexpected end")?;
        self.pos += 1;
        match t {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Name(n) => Ok(self.res.name(&n)),
            Tok::Call(f, a) => Ok(self.res.call(&f, &a)),
            Tok::Sym(s) => Err(format!("unexpected {s:?}")),
        }
    }
}

fn truth(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Evaluate with `vars` giving each rule's hit count.
pub fn eval(e: &Expr, vars: &dyn Fn(usize) -> f64) -> f64 {
    match e {
        Expr::Num(n) => *n,
        Expr::Var(i) => vars(*i),
        Expr::Not(a) => truth(eval(a, vars) == 0.0),
        Expr::Neg(a) => -eval(a, vars),
        Expr::Cond(c, a, b) => {
            if eval(c, vars) != 0.0 {
                eval(a, vars)
            } else {
                eval(b, vars)
            }
        }
        Expr::Bin(op, a, b) => {
            let x = eval(a, vars);
            match op {
                Op::And => {
                    if x == 0.0 {
                        x
                    } else {
                        eval(b, vars)
                    }
                }
                Op::Or => {
                    if x != 0.0 {
                        x
                    } else {
                        eval(b, vars)
                    }
                }
                _ => {
                    let y = eval(b, vars);
                    match op {
                        Op::Add => x + y,
                        Op::Sub => x - y,
                        Op::Mul => x * y,
                        Op::Div => {
                            if y == 0.0 {
                                0.0
                            } else {
                                x / y
                            }
                        }
                        Op::Lt => truth(x < y),
                        Op::Le => truth(x <= y),
                        Op::Gt => truth(x > y),
                        Op::Ge => truth(x >= y),
                        Op::Eq => truth(x == y),
                        Op::Ne => truth(x != y),
                        Op::And | Op::Or => unreachable!(),
                    }
                }
            }
        }
    }
}

/// Collect the variable indexes an expression reads.
pub fn vars_of(e: &Expr, out: &mut Vec<usize>) {
    match e {
        Expr::Num(_) => {}
        Expr::Var(i) => out.push(*i),
        Expr::Not(a) | Expr::Neg(a) => vars_of(a, out),
        Expr::Bin(_, a, b) => {
            vars_of(a, out);
            vars_of(b, out);
        }
        Expr::Cond(c, a, b) => {
            vars_of(c, out);
            vars_of(a, out);
            vars_of(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<String>);
    impl Resolver for Names {
        fn name(&mut self, n: &str) -> Expr {
            let i = self.0.iter().position(|x| x == n).unwrap_or_else(|| {
                self.0.push(n.to_string());
                self.0.len() - 1
            });
            Expr::Var(i)
        }
        fn call(&mut self, _f: &str, _a: &str) -> Expr {
            Expr::Num(1.0)
        }
    }

    #[test]
    fn perl_semantics() {
        let mut r = Names(vec![]);
        let e = parse("(A && !B) || C + D > 1", &mut r).unwrap();
        let v = |vals: [f64; 4]| eval(&e, &move |i| vals[i]) != 0.0;
        assert!(v([1.0, 0.0, 0.0, 0.0]));
        assert!(!v([1.0, 1.0, 0.0, 0.0]));
        assert!(v([0.0, 0.0, 1.0, 1.0]));
        assert!(!v([0.0, 0.0, 1.0, 0.0]));
        let e = parse("A * 2 - 1 >= 3", &mut Names(vec![])).unwrap();
        assert_eq!(eval(&e, &|_| 2.0), 1.0);
        assert!(parse("A &&", &mut Names(vec![])).is_err());
    }
}
