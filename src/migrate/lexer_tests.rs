//! Lexer tests.

use super::*;

fn kinds(s: &str) -> Vec<T> {
    lex(s).unwrap().into_iter().map(|t| t.kind).collect()
}

#[test]
fn qw_does_not_interpolate() {
    assert_eq!(
        kinds(r#"@a = qw( ".$mydomain" );"#),
        vec![
            T::Array("a".into()),
            T::P("="),
            T::Qw(vec![r#"".$mydomain""#.into()]),
            T::P(";")
        ]
    );
}

#[test]
fn regex_and_division() {
    assert_eq!(
        kinds("qr'^\\.(exe)$'i, 10/2"),
        vec![
            T::Regex("^\\.(exe)$".into(), "i".into(), false),
            T::P(","),
            T::Num(10.0),
            T::P("/"),
            T::Num(2.0)
        ]
    );
}

#[test]
fn template_is_not_perl() {
    let e = lex("$a = 1;\n$mydomain = '{{ domain }}';\n$x = {{ x }};\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(lex("$x = %%DOMAIN%%;").is_err());
}

#[test]
fn heredoc_and_pod() {
    let t = kinds("$x = <<'EOD';\nhello $x\nEOD\n=pod\n\nfoo\n=cut\n1;");
    assert_eq!(t[2], T::Str("hello $x\n".into()));
    assert_eq!(t[4], T::Num(1.0));
}
