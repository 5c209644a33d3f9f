//! The words of warnings: what an amavisd variable did, what kind a value
//! is, and which `@av_scanners` entries are ClamAV's clamd.

use super::value::V;

/// What an unsupported variable did in amavisd, for the warning.
pub fn describe(name: &str) -> &'static str {
    let n = name.trim_start_matches(['$', '@', '%']);
    const PROGRAMS: &[&str] = &[
        "file",
        "gzip",
        "bzip2",
        "lzop",
        "rpm2cpio",
        "cabextract",
        "uncompress",
        "unfreeze",
        "arc",
        "unarj",
        "unrar",
        "zoo",
        "lha",
        "pax",
        "cpio",
        "ar",
        "ripole",
        "dspam",
        "tnef",
        "lz4",
        "lrzip",
        "rzip",
        "7z",
        "xz",
        "lzma",
        "unzstd",
        "altermime",
        "gunzip",
        "bunzip2",
    ];
    if PROGRAMS.contains(&n) {
        return "path of an external decoder/helper program; amavisd-rs decodes internally";
    }
    match n {
        "ENV" => "environment of helper programs",
        "path" => "PATH for helper programs",
        "db_home" | "enable_db" | "enable_global_cache" => {
            "BerkeleyDB cache and nanny/SNMP database"
        }
        "lock_file" => "lock file",
        "LOGFILE" | "logfile" => "log destination; amavisd-rs logs through its own logger",
        "log_recip_templ" | "log_templ" => "log line template",
        "quarantine_subdir_levels" => "quarantine directory hashing",
        "enable_dkim_verification" | "enable_dkim_signing" => "DKIM",
        "keep_decoded_original_maps" => "gives scanners the undecoded original too",
        "score_sender_maps" => "per-sender spam score adjustments",
        "unix_socketname" => "AM.PDP unix socket for amavisd-milter and helpers",
        "decoders" => "list of decoders",
        "mailfrom_notify_recip" => "sender address of recipient notifications",
        "mailfrom_to_quarantine" => "envelope sender of quarantined mail",
        "nanny_details_level" => "amavisd-nanny detail",
        "lookup_sql_dsn" | "storage_sql_dsn" => "SQL lookups/storage",
        "enable_ldap" | "default_ldap" => "LDAP lookups",
        "penpals_bonus_score" | "penpals_threshold_high" | "penpals_halflife" => {
            "pen pals score bonus"
        }
        "bounce_killer_score" => "bounce killer",
        "defang_virus"
        | "defang_banned"
        | "defang_spam"
        | "defang_bad_header"
        | "defang_undecipherable"
        | "defang_by_ccat" => "defanging (wrapping the original as an attachment)",
        "helpers_home" | "daemon_chroot_dir" => "helper/chroot directory",
        "myproduct_name" => "product name in headers",
        "mynetworks_maps" | "client_ipaddr_policy" => "client-IP lookups beyond @mynetworks",
        "bypass_decode_parts" => "skips decoding of MIME parts and archives",
        "recipient_delimiter" => "address extension delimiter",
        "enable_zmq" | "zmq_sockets" => "ZeroMQ statistics sockets",
        "signed_header_fields" => "DKIM signing",
        "sql_clause" | "sql_select_policy" | "sql_select_white_black_list" => "SQL",
        "os_fingerprint_method" => "p0f OS fingerprinting",
        _ if n.starts_with("addr_extension_") => "address extensions (user+spam@)",
        _ if n.ends_with("_templ") => "notification/log template text",
        _ if n.ends_with("_maps") => "per-recipient lookup override",
        _ if n.starts_with("sql_") => "SQL",
        _ if n.starts_with("notify_") || n.starts_with("warn") => "notification setting",
        _ => "an amavisd setting",
    }
}

pub fn kind_name(v: &V) -> &'static str {
    match v {
        V::Undef => "undef",
        V::Str(_) | V::Num(_) => "scalar",
        V::Array(..) => "list",
        V::Hash(_) => "hash",
        V::Ref(..) => "reference",
        V::Regex(..) => "regex",
        V::NewRe(_) => "new_RE() table",
        V::Code(_) => "Perl code",
        V::Opaque(_) => "start-up computed value",
    }
}

/// ClamAV clamd in any of amavisd's styles → socket (and how many more were listed).
pub fn clamd_socket(items: &[V]) -> Result<(String, usize), String> {
    let name = items.first().map(V::to_str).unwrap_or_default();
    match items.get(1) {
        Some(V::Code(c)) if c.ends_with("ask_daemon") || c.ends_with("ask_av") => {}
        Some(V::Code(c)) => return Err(format!("scanner interface `{c}` is not supported")),
        Some(V::Str(_) | V::Array(..)) => {
            return Err("command-line scanners are not supported (only clamd)".into());
        }
        _ => return Err("not a scanner entry".into()),
    }
    let Some(V::Array(args, _)) = items.get(2) else {
        return Err("no daemon arguments".into());
    };
    let cmd = args.first().map(V::to_str).unwrap_or_default();
    let sockets: Vec<String> = match args.get(1) {
        Some(V::Array(a, _)) => a.iter().map(V::to_str).collect(),
        Some(v) => vec![v.to_str()],
        None => vec![],
    };
    let first = sockets.first().cloned().ok_or("no socket")?;
    let clam = name.to_lowercase().contains("clam")
        || first.starts_with("clamd:")
        || ["CONTSCAN", "MULTISCAN", "SCAN ", "INSTREAM"]
            .iter()
            .any(|k| cmd.contains(k));
    if !clam {
        return Err("only ClamAV clamd daemons are supported".into());
    }
    let socket = first.strip_prefix("clamd:").unwrap_or(&first).to_string();
    Ok((socket, sockets.len() - 1))
}
