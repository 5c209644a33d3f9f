//! Parser tests.

use super::super::lexer::lex;
use super::*;

fn p(s: &str) -> Vec<Node> {
    parse(&lex(s).unwrap()).unwrap()
}

#[test]
fn assignment_and_call() {
    let n = p("$spam_lovers{lc(\"postmaster\\@$mydomain\")} = 1;");
    assert_eq!(n.len(), 1);
    let Stmt::Expr(E::Assign(l, "=", r)) = &n[0].stmt else {
        panic!("{n:?}")
    };
    assert!(matches!(**l, E::HElem(..)));
    assert_eq!(**r, E::Num(1.0));
}

#[test]
fn unsupported_statement_recovers() {
    let n = p("foreach my $x (1,2) { $y = $x; }\n$a = 2;\nsub foo { 1 }\n$b = 3;");
    assert!(matches!(n[0].stmt, Stmt::Unsupported(_)), "{n:?}");
    assert!(matches!(n[1].stmt, Stmt::Expr(_)));
    assert!(matches!(n[2].stmt, Stmt::Unsupported(_)));
    assert_eq!(n[3].line, 4);
}

#[test]
fn unbalanced_is_error() {
    assert!(parse(&lex("$a = (1, 2;\n").unwrap()).is_err());
    assert!(parse(&lex("$a = 1; }\n").unwrap()).is_err());
}

#[test]
fn list_op_without_parens() {
    let n = p("push @mynetworks, '10.0.0.0/8', qw(a b);");
    let Stmt::Expr(E::Call(name, args)) = &n[0].stmt else {
        panic!("{n:?}")
    };
    assert_eq!(name, "push");
    assert_eq!(args.len(), 3);
}
