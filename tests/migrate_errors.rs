//! Input that is not Perl stops the migration with exit code 2 and the first
//! bad line; Perl we cannot evaluate only warns; nothing panics.

use amavisd_rs::config::Config;
use amavisd_rs::migrate::{MigrateError, evaluate_text, migrate};
use proptest::prelude::*;
use std::path::PathBuf;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn jinja_template_is_not_perl_exit_2_first_bad_line() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        &d,
        "amavisd.conf.j2",
        "use strict;\n# {{ ansible_managed }}\n$max_servers = 2;\n$mydomain = '{{ domain }}';\n$sa_tag_level_deflt = {{ tag_level }};\n1;\n",
    );
    let e = migrate(&[f]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let MigrateError::NotPerl { line, text, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*line, 5, "{e}");
    assert_eq!(text, "$sa_tag_level_deflt = {{ tag_level }};");
}

#[test]
fn placeholder_and_erb_templates_are_not_perl() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        &d,
        "a.conf",
        "$mydomain = 'x';\n$sa_kill_level_deflt = %%KILL%%;\n",
    );
    let e = migrate(&[f]).unwrap_err();
    assert!(matches!(e, MigrateError::NotPerl { line: 2, .. }), "{e}");
    let f = write(&d, "b.conf", "$final_spam_destiny = <%= @destiny %>;\n");
    let e = migrate(&[f]).unwrap_err();
    assert!(matches!(e, MigrateError::NotPerl { line: 1, .. }), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn unterminated_string_is_not_perl() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        &d,
        "c.conf",
        "$a = 1;\n$mydomain = 'example.com;\n$b = 2;\n",
    );
    let e = migrate(&[f]).unwrap_err();
    assert!(matches!(e, MigrateError::NotPerl { line: 2, .. }), "{e}");
}

#[test]
fn missing_file_is_exit_1() {
    let e = migrate(&[PathBuf::from("/nonexistent/amavisd.conf")]).unwrap_err();
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn perl_we_cannot_evaluate_warns_and_the_rest_is_kept() {
    let out = evaluate_text(
        "foreach my $d (qw(a b)) { push @local_domains_acl, $d }\n$max_servers = 7;\nsub foo { 1 }\n$log_level = 3 if -e '/nonexistent';\n",
    )
    .unwrap();
    assert_eq!(out.warnings.len(), 2, "{:#?}", out.warnings);
    assert!(
        out.warnings[0].starts_with("input:1: foreach"),
        "{}",
        out.warnings[0]
    );
    assert!(
        out.warnings[1].starts_with("input:3: sub foo"),
        "{}",
        out.warnings[1]
    );
    let c = Config::from_yaml(&out.yaml, "x").unwrap();
    assert_eq!(c.max_servers, 7);
    assert_eq!(c.log_level, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn evaluator_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = evaluate_text(&s);
    }

    #[test]
    fn evaluator_never_panics_on_perlish_tokens(
        toks in proptest::collection::vec(prop_oneof![
            Just("$x"), Just("@y"), Just("%h"), Just("="), Just("("), Just(")"), Just("["),
            Just("]"), Just("{"), Just("}"), Just(","), Just("=>"), Just(";"), Just("qw( a b )"),
            Just("qr'a.b'i"), Just("new_RE("), Just("\\"), Just("'s'"), Just("\"p\\@$x\""),
            Just("1"), Just("2.5"), Just("*"), Just("-"), Just("lc"), Just("push"), Just("D_PASS"),
            Just("$policy_bank{'A'}"), Just("->"), Just("if"), Just("sub"), Just("undef"),
            Just("$h{a}{b}"), Just("@$x"), Just("1..3"), Just("x"), Just("."), Just("||="),
            Just("$banned_filename_re"), Just("@av_scanners"), Just("\\&ask_daemon"), Just("<<EOF\nz\nEOF\n"),
        ], 0..40)
    ) {
        let src = toks.join(" ");
        if let Ok(out) = evaluate_text(&src) {
            // Whatever was evaluated must still be a loadable config.
            prop_assert!(Config::from_yaml(&out.yaml, "p").is_ok(), "{}\n{}", src, out.yaml);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any value assigned to any carried variable still gives a loadable config.
    #[test]
    fn any_value_for_carried_variables_loads(
        assigns in proptest::collection::vec((
            prop_oneof![
                Just("$log_level"), Just("$max_servers"), Just("$inet_socket_port"), Just("$MAXLEVELS"),
                Just("$MAXFILES"), Just("$sa_tag2_level_deflt"), Just("$final_spam_destiny"),
                Just("$forward_method"), Just("$notify_method"), Just("$inet_socket_bind"),
                Just("$banned_filename_re"), Just("@av_scanners"), Just("$mydomain"),
                Just("@local_domains_acl"), Just("%spam_lovers"), Just("@bypass_spam_checks_maps"),
                Just("$smtpd_timeout"), Just("$QUARANTINEDIR"), Just("$sa_mail_body_size_limit"),
                Just("@viruses_that_fake_sender_maps"), Just("$policy_bank{'X'}"), Just("%interface_policy"),
                Just("$TEMPBASE"), Just("$MYHOME"), Just("$smtpd_message_size_limit"), Just("@inet_acl"),
            ],
            prop_oneof![
                Just("0"), Just("-1"), Just("1e30"), Just("9**9**9"), Just("70000"), Just("300"),
                Just("'abc'"), Just("\"x\\ty\""), Just("undef"), Just("[1, 2]"), Just("{ a => 1 }"),
                Just("qr'(unclosed'"), Just("new_RE(qr'x', [qr'y' => 0])"), Just("D_BOUNCE"),
                Just("'smtp:[::1]:10025'"), Just("(1)"), Just("(\\%h, \\@a)"), Just("\\&ask_daemon"),
                Just("[['n', \\&ask_daemon, ['{}', 'clamd:/s']]]"), Just("2.5"), Just("'0'"), Just("''"),
            ],
        ), 1..6)
    ) {
        let src: String = assigns.iter().map(|(v, x)| format!("{v} = {x};\n")).collect();
        let out = evaluate_text(&src).unwrap();
        prop_assert!(Config::from_yaml(&out.yaml, "p").is_ok(), "{}\n{}", src, out.yaml);
    }
}

#[test]
fn hostile_nesting_and_growth_are_bounded() {
    let deep = format!("$x = {}1{};\n", "(".repeat(5000), ")".repeat(5000));
    let out = evaluate_text(&deep).unwrap();
    assert!(
        out.warnings[0].contains("nested too deeply"),
        "{:?}",
        out.warnings
    );
    let blocks = format!(
        "{} $max_servers = 3; {}\n",
        "{ ".repeat(5000),
        "} ".repeat(5000)
    );
    let out = evaluate_text(&blocks).unwrap();
    assert!(
        out.warnings[0].contains("nested too deeply"),
        "{:?}",
        out.warnings
    );
    let bangs = format!("$x = {}1;\n", "!".repeat(5000));
    assert!(evaluate_text(&bangs).is_ok());
    let doubling = "$x = 'ab';\n".to_string() + &"$x .= $x;\n".repeat(40);
    let out = evaluate_text(&doubling).unwrap();
    assert!(
        out.warnings.iter().any(|w| w.contains("string too large")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn other_config_formats_are_not_perl() {
    // The how-to's Postfix main.cf lines, and our own YAML output.
    let e = migrate(&[PathBuf::from(
        "tests/fixtures/migrate/seed-howto.expected.yaml",
    )])
    .unwrap_err();
    assert!(matches!(e, MigrateError::NotPerl { line: 3, .. }), "{e}");
    let d = tempfile::tempdir().unwrap();
    let f = write(
        &d,
        "main.cf",
        "# postfix\nhome_mailbox = Maildir/\ncontent_filter = smtp-amavis:[127.0.0.1]:10024\n",
    );
    let e = migrate(&[f]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let MigrateError::NotPerl { line, text, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!((*line, text.as_str()), (2, "home_mailbox = Maildir/"));
}
