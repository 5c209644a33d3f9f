//! The syntax tree the parser builds and the evaluator walks.

/// An expression; `Str` is literal text, `IStr` raw double-quoted text.
#[derive(Debug, Clone, PartialEq)]
pub enum E {
    Undef,
    Num(f64),
    Str(String),
    IStr(String),
    Qw(Vec<String>),
    Regex(String, String, bool),
    Qx(String),
    Scalar(String),
    Array(String),
    Hash(String),
    LastIdx(String),
    /// `$h{k}` (base `Hash(h)`) or `EXPR->{k}`.
    HElem(Box<E>, Box<E>),
    /// `$a[i]` (base `Array(a)`) or `EXPR->[i]`.
    AElem(Box<E>, Box<E>),
    /// `@$x`, `%{$x}`, `$$x`.
    Deref(char, Box<E>),
    Ref(Box<E>),
    CodeRef(String),
    AnonArray(Vec<E>, u32),
    AnonHash(Vec<E>),
    AnonSub,
    List(Vec<E>),
    Call(String, Vec<E>),
    Bin(&'static str, Box<E>, Box<E>),
    Un(&'static str, Box<E>),
    Assign(Box<E>, &'static str, Box<E>),
    Cond(Box<E>, Box<E>, Box<E>),
    /// `map { EXPR } LIST`
    Map(Box<E>, Box<E>),
}

/// One statement and the lines it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub stmt: Stmt,
    pub line: u32,
}

/// What a statement does.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Expr(E),
    /// `if`/`elsif`/`else` arms (condition `None` = else or a bare block).
    If(Vec<(Option<E>, Vec<Node>)>),
    /// `use strict;` and friends: nothing to carry, nothing to warn about.
    Ignored,
    /// Perl we do not evaluate, and why.
    Unsupported(String),
}

/// The file cannot be split into statements (unbalanced brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: u32,
    pub msg: String,
}
