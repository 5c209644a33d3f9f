//! One Perl construct at a time: what the migration makes of it.

use amavisd_rs::config::{BannedRule, Config, LookupTable, LookupValue};
use amavisd_rs::migrate::{MigrateOutput, evaluate_text};

fn run(src: &str) -> (MigrateOutput, Config) {
    let out = evaluate_text(src).unwrap_or_else(|e| panic!("{e}"));
    let c = Config::from_yaml(&out.yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}\n{}", out.yaml));
    (out, c)
}

#[test]
fn later_assignments_override_earlier_ones() {
    let (_, c) = run("$max_servers = 3;\n$max_servers = 5;\n");
    assert_eq!(c.max_servers, 5);
}

#[test]
fn every_value_names_its_line() {
    let (out, _) = run("$log_level = 1;\n\n$log_level = 4;  # verbose\n");
    assert!(
        out.yaml.contains("log_level: 4  # from input:3\n"),
        "{}",
        out.yaml
    );
}

#[test]
fn interpolation_lc_and_concatenation() {
    let (_, c) = run(
        "$mydomain = 'Example.ORG';\n$virus_admin = \"virus-admin\\@$mydomain\";\n\
         $spam_admin = lc(\"Spam\\@${mydomain}\");\n$banned_admin = 'b@' . lc $mydomain;\n",
    );
    assert_eq!(c.virus_admin.as_deref(), Some("virus-admin@Example.ORG"));
    assert_eq!(c.spam_admin.as_deref(), Some("spam@example.org"));
    assert_eq!(c.banned_admin.as_deref(), Some("b@example.org"));
}

#[test]
fn arithmetic_and_constants() {
    let (_, c) = run(
        "$sa_mail_body_size_limit = 200*1024;\n$MAX_EXPANSION_QUOTA = 300*1024*1024;\n\
         $child_timeout = 8 * 60 + 20;\n$final_spam_destiny = D_REJECT;\n",
    );
    assert_eq!(c.sa_mail_body_size_limit, Some(204800));
    assert_eq!(c.max_expansion_quota, Some(314572800));
    assert_eq!(c.child_timeout, 500);
    assert_eq!(c.final_spam_destiny, amavisd_rs::config::Destiny::Reject);
}

#[test]
fn new_re_keeps_order_and_allow_entries() {
    let (_, c) = run(
        "$banned_filename_re = new_RE(\n  [ qr'^\\.(zip|rar)$' => 0 ],\n  qr'.\\.(exe|scr)$'i,\n  [ qr'^UNDECIPHERABLE$' => 1 ],\n);\n",
    );
    assert_eq!(
        c.banned_filename_re,
        vec![
            BannedRule::Entry {
                re: r"^\.(zip|rar)$".into(),
                ban: false
            },
            BannedRule::Ban(r"(?i).\.(exe|scr)$".into()),
            BannedRule::Ban("^UNDECIPHERABLE$".into()),
        ]
    );
}

#[test]
fn regex_perl_cannot_share_is_dropped_with_a_warning() {
    let (out, c) = run("$banned_filename_re = new_RE( qr'(?<!x' , qr'ok' );\n");
    assert_eq!(c.banned_filename_re, vec![BannedRule::Ban("ok".into())]);
    assert_eq!(out.warnings.len(), 1, "{:#?}", out.warnings);
    assert!(
        out.warnings[0].contains("does not compile here"),
        "{}",
        out.warnings[0]
    );
}

#[test]
fn lookup_triplet_and_push() {
    let (_, c) = run(
        "@local_domains_acl = ( 'a.example' );\npush @local_domains_acl, '.b.example', qw(c.example);\n\
         @bypass_spam_checks_maps = (\\%bypass_spam_checks, \\@bypass_spam_checks_acl, \\$bypass_spam_checks_re);\n\
         @bypass_virus_checks_maps = (\\@bypass_virus_checks_acl, 0);\n@bypass_virus_checks_acl = qw( .x.example );\n",
    );
    assert_eq!(
        c.local_domains_acl,
        vec!["a.example", ".b.example", "c.example"]
    );
    assert_eq!(c.bypass_spam_checks_maps, None);
    // The reference sees the list as it is after every file has run.
    assert_eq!(
        c.bypass_virus_checks_maps,
        Some(vec![
            LookupTable::Acl(vec![".x.example".into()]),
            LookupTable::Const(LookupValue::Num(0.0))
        ])
    );
}

#[test]
fn regex_lookup_members_are_reported() {
    let (out, c) = run("@spam_lovers_maps = ( new_RE( qr'^postmaster@'i ), ['x@example.com'] );\n");
    assert_eq!(
        c.spam_lovers_maps,
        Some(vec![LookupTable::Acl(vec!["x@example.com".into()])])
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("new_RE() table member is not supported")),
        "{:#?}",
        out.warnings
    );
}

#[test]
fn policy_banks_and_interfaces_are_carried_as_data_with_a_warning() {
    let (out, c) = run(
        "$interface_policy{'10026'} = 'ORIGINATING';\n$policy_bank{'ORIGINATING'} = {\n  originating => 1,\n  \
         virus_admin_maps => [\"v\\@example.com\"],\n  final_spam_destiny => D_DISCARD,\n};\n",
    );
    assert_eq!(
        c.interface_policy.get("10026").map(String::as_str),
        Some("ORIGINATING")
    );
    let bank = &c.policy_bank["ORIGINATING"];
    assert_eq!(bank["originating"], serde_json::json!(1));
    assert_eq!(
        bank["virus_admin_maps"],
        serde_json::json!(["v@example.com"])
    );
    assert_eq!(bank["final_spam_destiny"], serde_json::json!(0));
    assert_eq!(
        out.warnings,
        vec![
            "input:2: $policy_bank{'ORIGINATING'} = { — policy bank `ORIGINATING` is carried as data, \
              but amavisd-rs does not apply policy banks yet"
        ]
    );
}

#[test]
fn clamd_styles_become_one_scanner_kind() {
    let (out, c) = run(
        "@av_scanners = (\n ['ClamAV-clamd', \\&ask_daemon, [\"CONTSCAN {}\\n\", \"/run/clamd.ctl\"], qr/\\bOK$/m],\n \
         ['ClamAV-stream', \\&ask_daemon, [\"{}/*\", [\"clamd:127.0.0.1:3310\"]], qr/\\bOK$/m],\n \
         ['Sophos SAVI', \\&ask_daemon, [\"{}/*\", \"sssp:/run/savdi\"]],\n);\n",
    );
    let socks: Vec<&str> = c.av_scanners.iter().map(|s| s.socket.as_str()).collect();
    assert_eq!(socks, vec!["/run/clamd.ctl", "127.0.0.1:3310"]);
    assert_eq!(out.warnings.len(), 1, "{:#?}", out.warnings);
    assert!(
        out.warnings[0].starts_with("input:4: ['Sophos SAVI'"),
        "{}",
        out.warnings[0]
    );
}

#[test]
fn retired_unknown_and_unsupported_variables_warn() {
    let (out, _) = run(
        "$insert_received_line = 1;\n$sa_spam_modifies_subj = 1;\n$max_sevrers = 4;\n$enable_dkim_signing = 1;\n",
    );
    assert_eq!(out.warnings.len(), 4, "{:#?}", out.warnings);
    assert!(out.warnings[0].contains("$insert_received_line was retired"));
    assert!(out.warnings[1].contains("$sa_spam_modifies_subj was retired"));
    assert!(out.warnings[2].contains("$max_sevrers is not an amavisd 2.13 variable"));
    assert!(out.warnings[3].contains("$enable_dkim_signing (DKIM) is not supported"));
}

#[test]
fn derivations_after_loading() {
    let (out, c) = run("$MYHOME = '/srv/am';\n$forward_method = 'smtp:[127.0.0.1]:10099';\n");
    assert_eq!(c.tempbase, std::path::PathBuf::from("/srv/am"));
    assert_eq!(c.pid_file, Some("/srv/am/amavisd.pid".into()));
    // amavisd copied $forward_method into $notify_method before the config ran.
    assert_eq!(c.notify_method().spec, "smtp:[127.0.0.1]:10025");
    assert!(
        out.yaml
            .contains("tempbase: '/srv/am'  # derived from $MYHOME at input:1"),
        "{}",
        out.yaml
    );
}

#[test]
fn warnbannedsender_turns_discard_into_bounce() {
    let (_, c) = run("$final_banned_destiny = D_DISCARD;\n$warnbannedsender = 1;\n");
    assert_eq!(c.final_banned_destiny, amavisd_rs::config::Destiny::Bounce);
}

#[test]
fn undef_and_conditionals() {
    let (_, c) = run(
        "$QUARANTINEDIR = '/q';\n$QUARANTINEDIR = undef;\nif (1) { $log_level = 3 } else { $log_level = 4 }\n\
         $max_servers = 9 unless 1;\n",
    );
    assert_eq!(c.quarantinedir, None);
    assert_eq!(c.log_level, 3);
    assert_eq!(c.max_servers, 2);
}

#[test]
fn sprintf_join_and_hash_after_word() {
    let (_, c) = run(
        "%local_domains = (a => 1, b => 1);\n$max_servers = keys %local_domains;\n\
         $virus_admin = sprintf('%s@%s', 'virus', 'example.com');\n\
         $spam_admin = join('', 'sp', 'am', '@x.example');\n$sa_spam_subject_tag = sprintf('[%05.1f]', 3.14159);\n",
    );
    assert_eq!(c.max_servers, 2);
    assert_eq!(c.virus_admin.as_deref(), Some("virus@example.com"));
    assert_eq!(c.spam_admin.as_deref(), Some("spam@x.example"));
    assert_eq!(c.sa_spam_subject_tag.as_deref(), Some("[003.1]"));
}
