//! The `<path>` of MAIL and RCPT as we keep it: the address quoted as
//! RFC 5321 wants, and the ESMTP parameters after it, verbatim.

use crate::smtp::envelope::Params;

/// smtp-proto hands addresses over unquoted (`"john smith"@x` arrives as
/// `john smith@x`); quote the local part again where RFC 5321 needs it, as
/// Postfix does on output, so the address we forward is the one we got and
/// cannot split into extra words or parameters downstream.
pub fn requote(address: &str) -> String {
    let (local, domain) = match address.rfind('@') {
        Some(at) => address.split_at(at),
        None => (address, ""),
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let dot_atom = !local.is_empty()
        && local
            .split('.')
            .all(|w| !w.is_empty() && w.chars().all(atext));
    if local.is_empty() || dot_atom {
        return address.to_string();
    }
    let mut q = String::with_capacity(address.len() + 4);
    q.push('"');
    for c in local.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q.push_str(domain);
    q
}

/// The ESMTP parameters after the `<path>` of a MAIL/RCPT line, verbatim.
pub fn params_after_path(line: &[u8]) -> Params {
    let s = String::from_utf8_lossy(line);
    let Some(open) = s.find('<') else {
        return Params::default();
    };
    let mut in_quote = false;
    let mut close = None;
    for (i, c) in s[open..].char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                close = Some(open + i);
                break;
            }
            _ => {}
        }
    }
    match close {
        Some(c) => Params::parse(&s[c + 1..]),
        None => Params::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::params_after_path;

    #[test]
    fn local_parts_are_quoted_again_where_needed() {
        use super::requote;
        assert_eq!(requote("a.b+c@example.com"), "a.b+c@example.com");
        assert_eq!(requote("j\u{f6}rg@example.com"), "j\u{f6}rg@example.com");
        assert_eq!(
            requote("john smith@example.com"),
            "\"john smith\"@example.com"
        );
        assert_eq!(requote("a\"b\\c@x"), "\"a\\\"b\\\\c\"@x");
        assert_eq!(requote(".a@x"), "\".a\"@x");
        assert_eq!(requote(""), "");
        assert_eq!(requote("postmaster"), "postmaster");
    }

    #[test]
    fn params_are_kept_verbatim() {
        let p = params_after_path(b"MAIL FROM:<a@b> BODY=8BITMIME SIZE=100 ENVID=x+2Dy");
        assert_eq!(p.0, vec!["BODY=8BITMIME", "SIZE=100", "ENVID=x+2Dy"]);
        let p = params_after_path(b"RCPT TO:<\"odd>name\"@b> NOTIFY=FAILURE ORCPT=rfc822;x@b");
        assert_eq!(p.0, vec!["NOTIFY=FAILURE", "ORCPT=rfc822;x@b"]);
    }
}
