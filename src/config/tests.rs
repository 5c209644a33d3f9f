use super::*;

#[test]
fn defaults_match_amavisd() {
    let c = Config::from_yaml("", "x.yaml").unwrap();
    assert_eq!(c.inet_socket_port.ports(), vec![10024]);
    assert_eq!(c.forward_method.spec, "smtp:[127.0.0.1]:10025");
    assert_eq!(c.notify_method().spec, "smtp:[127.0.0.1]:10025");
    assert_eq!(c.max_servers, 2);
    assert_eq!(c.final_virus_destiny, Destiny::Discard);
    assert_eq!(c.final_spam_destiny, Destiny::Pass);
    assert!(c.remove_existing_spam_headers);
}

#[test]
fn unknown_key_names_file_line_column_key() {
    let text = "max_servers: 4\nforward_metod: 'smtp:[127.0.0.1]:10025'\n";
    let e = Config::from_yaml(text, "conf.yaml").unwrap_err();
    assert_eq!(e.file, "conf.yaml");
    assert_eq!(e.key, "forward_metod");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.column >= 1, "{e}");
}

#[test]
fn bad_value_names_key() {
    let text = "max_servers: 4\nforward_method: 'ftp:host:1'\n";
    let e = Config::from_yaml(text, "conf.yaml").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.to_string().contains("forward_method"), "{e}");
}

#[test]
fn method_forms() {
    let m = Method::parse("smtp:[127.0.0.1]:10025").unwrap();
    assert_eq!(
        m.target,
        Target::Inet {
            host: Some("127.0.0.1".into()),
            port: Some(10025)
        }
    );
    let m = Method::parse("smtp:127.0.0.1:10025").unwrap();
    assert_eq!(
        m.target,
        Target::Inet {
            host: Some("127.0.0.1".into()),
            port: Some(10025)
        }
    );
    let m = Method::parse("smtp:*:*").unwrap();
    assert_eq!(
        m.target,
        Target::Inet {
            host: None,
            port: None
        }
    );
    let m = Method::parse("lmtp:unix:/var/run/x.sock").unwrap();
    assert_eq!(m.protocol, Protocol::Lmtp);
    assert_eq!(m.target, Target::Unix("/var/run/x.sock".into()));
    let m = Method::parse("smtp:[::1]:10025").unwrap();
    assert_eq!(
        m.target,
        Target::Inet {
            host: Some("::1".into()),
            port: Some(10025)
        }
    );
    assert!(Method::parse("pipe:flags=q").is_err());
}

#[test]
fn lookup_tables_and_destinies_parse() {
    let text = "bypass_spam_checks_maps: [1]\nlocal_domains_acl: ['.example.com', '!x.example.com']\nspam_lovers: {'postmaster@example.com': 1}\nfinal_banned_destiny: D_REJECT\n";
    let c = Config::from_yaml(text, "c").unwrap();
    assert_eq!(c.final_banned_destiny, Destiny::Reject);
    assert_eq!(
        c.bypass_spam_checks_maps,
        Some(vec![LookupTable::Const(LookupValue::Num(1.0))])
    );
    assert_eq!(c.local_domains_acl.len(), 2);
}

#[test]
fn bad_banned_regex_is_an_error() {
    let e = Config::from_yaml("banned_filename_re: ['(unclosed']\n", "c").unwrap_err();
    assert_eq!(e.key, "banned_filename_re");
    assert_eq!(e.line, 1);
}
