//! The SpamAssassin `.cf` reader (`ConfigReader::read_text`) and the rule
//! compiler, through `RuleSet::from_config_text`, on arbitrary text (read
//! as Latin-1, as rule files are), then one check of a tiny message.
#![no_main]

use amavisd_rs::rules::RuleSet;
use libfuzzer_sys::fuzz_target;

const MSG: &[u8] = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hello\r\n\r\nbody text http://example.org/x\r\n";

fuzz_target!(|data: &[u8]| {
    let text: String = data.iter().map(|&b| b as char).collect();
    // `include` reads files: keep the fuzzer away from device and proc files
    // (a read of /dev/zero never ends; that is not a parser bug).
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let rs = RuleSet::from_config_text(&text);
    let _ = rs.check(MSG, Some("a@example.com"));
});
