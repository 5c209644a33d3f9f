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
pub fn eval<F: Fn(usize) -> f64>(e: &Expr, vars: &F) -> f64 {
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
                _ => arith(*op, x, eval(b, vars)),
            }
        }
    }
}

/// `x op y` for the operators that always evaluate both sides.
fn arith(op: Op, x: f64, y: f64) -> f64 {
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
        // Short-circuit operators never reach here (see `eval`, `emit`).
        Op::And | Op::Or => 0.0,
    }
}

/// One step of a meta expression in postfix form (see [`Program`]).
#[derive(Debug, Clone, Copy)]
enum Ins {
    /// `Program::consts[n]`: keeps a step 8 bytes, not 16 (the steps of
    /// all metas are read on every message).
    Num(u32),
    Var(u32),
    Not,
    Neg,
    /// Pop `y` and `x`, push `x op y` (not `And`/`Or`).
    Bin(Op),
    /// `&&`: a false top stays and the next `n` steps are skipped; a
    /// true one is popped and the right side runs.
    And(u32),
    /// `||`: the same with a true top.
    Or(u32),
    /// `?:`: pop the condition; false skips the next `n` steps.
    Cond(u32),
    Jump(u32),
}
const _: () = assert!(std::mem::size_of::<Ins>() == 8);

/// The meta expressions of a rule set flattened into one array, in the
/// order they are evaluated. As trees, their boxed nodes lay scattered
/// over the heap and each visit waited on memory (perf: 81% of the tree
/// walk's samples on loading a node's tag).
#[derive(Debug, Default)]
pub struct Program {
    code: Vec<Ins>,
    consts: Vec<f64>,
    /// `code` range of the `k`-th expression pushed.
    ranges: Vec<(u32, u32)>,
}

impl Program {
    /// Append `e` as the next expression number.
    pub fn push(&mut self, e: &Expr) {
        let start = self.code.len() as u32;
        emit(e, self);
        self.ranges.push((start, self.code.len() as u32));
    }

    /// Evaluate expression `k` as [`eval`] does (`stack` is scratch space).
    pub fn run(&self, k: usize, vars: impl Fn(usize) -> f64, stack: &mut Vec<f64>) -> f64 {
        stack.clear();
        self.run_with(k, &mut Reads(vars), stack)
    }

    /// Evaluate expression `k`, reading each operand only when Perl's
    /// evaluation order reaches it (`a && b` never reads `b` when `a` is
    /// false). `ops` may evaluate other expressions with the same `stack`
    /// (sub-metas): this one works above the stack's current top.
    pub fn run_with(&self, k: usize, ops: &mut impl Operands, stack: &mut Vec<f64>) -> f64 {
        let (start, end) = self.ranges[k];
        let code = &self.code[start as usize..end as usize];
        let base = stack.len();
        let pop = |stack: &mut Vec<f64>| {
            if stack.len() > base {
                stack.pop().unwrap_or(0.0)
            } else {
                0.0
            }
        };
        let mut pc = 0;
        while pc < code.len() {
            let ins = code[pc];
            pc += 1;
            match ins {
                Ins::Num(n) => stack.push(self.consts[n as usize]),
                Ins::Var(i) => {
                    let v = ops.get(i as usize, stack);
                    stack.push(v);
                }
                Ins::Not => {
                    let x = pop(stack);
                    stack.push(truth(x == 0.0));
                }
                Ins::Neg => {
                    let x = pop(stack);
                    stack.push(-x);
                }
                Ins::Bin(op) => {
                    let y = pop(stack);
                    let x = pop(stack);
                    stack.push(arith(op, x, y));
                }
                Ins::And(n) | Ins::Or(n) => {
                    let x = if stack.len() > base {
                        stack.last().copied().unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    if (x == 0.0) == matches!(ins, Ins::And(_)) {
                        pc += n as usize;
                    } else {
                        pop(stack);
                    }
                }
                Ins::Cond(n) => {
                    if pop(stack) == 0.0 {
                        pc += n as usize;
                    }
                }
                Ins::Jump(n) => pc += n as usize,
            }
        }
        let v = pop(stack);
        stack.truncate(base);
        v
    }
}

/// Where [`Program::run_with`] gets an operand's value (a rule's hit
/// count) from.
pub trait Operands {
    fn get(&mut self, rule: usize, stack: &mut Vec<f64>) -> f64;
}

/// Operands already known, read through a function.
struct Reads<F>(F);

impl<F: Fn(usize) -> f64> Operands for Reads<F> {
    fn get(&mut self, rule: usize, _: &mut Vec<f64>) -> f64 {
        (self.0)(rule)
    }
}

/// Append the postfix steps of `e` to `p`.
fn emit(e: &Expr, p: &mut Program) {
    match e {
        Expr::Num(n) => {
            p.consts.push(*n);
            p.code.push(Ins::Num(p.consts.len() as u32 - 1));
        }
        Expr::Var(i) => p.code.push(Ins::Var(*i as u32)),
        Expr::Not(a) => {
            emit(a, p);
            p.code.push(Ins::Not);
        }
        Expr::Neg(a) => {
            emit(a, p);
            p.code.push(Ins::Neg);
        }
        Expr::Bin(op @ (Op::And | Op::Or), a, b) => {
            emit(a, p);
            let j = p.code.len();
            p.code.push(Ins::Jump(0));
            emit(b, p);
            let n = (p.code.len() - j - 1) as u32;
            p.code[j] = if *op == Op::And {
                Ins::And(n)
            } else {
                Ins::Or(n)
            };
        }
        Expr::Bin(op, a, b) => {
            emit(a, p);
            emit(b, p);
            p.code.push(Ins::Bin(*op));
        }
        Expr::Cond(c, a, b) => {
            emit(c, p);
            let j = p.code.len();
            p.code.push(Ins::Cond(0));
            emit(a, p);
            let k = p.code.len();
            p.code.push(Ins::Jump(0));
            emit(b, p);
            p.code[j] = Ins::Cond((k - j) as u32);
            p.code[k] = Ins::Jump((p.code.len() - k - 1) as u32);
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

    /// The flat program gives what the tree walk gives, on random
    /// expressions over every operator and random hit counts.
    #[test]
    fn program_agrees_with_eval() {
        let mut seed = 3u64;
        let mut rnd = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((seed >> 33) % n) as usize
        };
        fn random(rnd: &mut impl FnMut(u64) -> usize, depth: u32) -> Expr {
            let b = |rnd: &mut _| Box::new(random(rnd, depth - 1));
            match if depth == 0 { rnd(2) } else { rnd(6) } {
                0 => Expr::Num([0.0, 1.0, 2.5, -1.0][rnd(4)]),
                1 => Expr::Var(rnd(5)),
                2 => Expr::Not(b(rnd)),
                3 => Expr::Neg(b(rnd)),
                4 => Expr::Cond(b(rnd), b(rnd), b(rnd)),
                _ => {
                    let ops = [
                        Op::And,
                        Op::Or,
                        Op::Add,
                        Op::Sub,
                        Op::Mul,
                        Op::Div,
                        Op::Lt,
                        Op::Le,
                        Op::Gt,
                        Op::Ge,
                        Op::Eq,
                        Op::Ne,
                    ];
                    Expr::Bin(ops[rnd(12)], b(rnd), b(rnd))
                }
            }
        }
        let exprs: Vec<Expr> = (0..2000).map(|_| random(&mut rnd, 5)).collect();
        let mut prog = Program::default();
        exprs.iter().for_each(|e| prog.push(e));
        assert_eq!(prog.ranges.len(), exprs.len());
        let mut stack = Vec::new();
        let mut nonzero = 0;
        for round in 0..20 {
            let vars: Vec<f64> = (0..5).map(|_| [0.0, 1.0, 3.0][rnd(3)]).collect();
            for (k, e) in exprs.iter().enumerate() {
                let want = eval(e, &|i| vars[i]);
                let got = prog.run(k, |i| vars[i], &mut stack);
                assert!(
                    got == want || (got.is_nan() && want.is_nan()),
                    "round {round} expr {k}: {e:?} gave {got}, tree {want}"
                );
                nonzero += usize::from(want != 0.0);
            }
        }
        assert!(nonzero > 5000, "{nonzero} non-zero results");
    }

    /// `run_with` reads an operand only when Perl's order reaches it, and
    /// an operand may evaluate another expression on the same stack.
    #[test]
    fn run_with_reads_lazily_and_nests() {
        let mut names = Names(Vec::new());
        let mut prog = Program::default();
        // Expression 0 reads A, B, C; expression 1 is the "sub-meta" D.
        prog.push(&parse("(A && B) + (C || D) * 2", &mut names).unwrap());
        prog.push(&parse("A + 3", &mut names).unwrap());
        let d = names.0.iter().position(|n| n == "D").unwrap();
        struct Log<'a> {
            prog: &'a Program,
            vals: [f64; 4],
            d: usize,
            read: Vec<usize>,
        }
        impl Operands for Log<'_> {
            fn get(&mut self, i: usize, stack: &mut Vec<f64>) -> f64 {
                self.read.push(i);
                if i == self.d {
                    let p = self.prog;
                    return p.run_with(1, self, stack);
                }
                self.vals[i]
            }
        }
        let mut stack = vec![42.0];
        let mut log = Log {
            prog: &prog,
            vals: [0.0, 1.0, 0.0, 0.0],
            d,
            read: vec![],
        };
        // A false: B unread; C false: D read, and D reads A again (0 + 3).
        assert_eq!(prog.run_with(0, &mut log, &mut stack), 6.0);
        assert_eq!(log.read, vec![0, 2, d, 0]);
        assert_eq!(stack, vec![42.0], "the caller's stack is left as it was");
        log.vals = [1.0, 1.0, 5.0, 0.0];
        log.read.clear();
        // A true: B read; C true: D unread.
        assert_eq!(prog.run_with(0, &mut log, &mut stack), 11.0);
        assert_eq!(log.read, vec![0, 1, 2]);
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
