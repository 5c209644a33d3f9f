//! The amavisd.conf (Perl subset) evaluator behind `amavisd-rs migrate`:
//! arbitrary text must give YAML or an error, never a panic or a hang.
#![no_main]

use amavisd_rs::migrate::evaluate_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // include_config_files/read_text/backticks read files: keep away from
    // device and proc files (a read of /dev/zero never ends).
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    if let Ok(out) = evaluate_text(text) {
        // The YAML we emit must load back as a Config (or fail with a
        // message), never panic.
        let _ = amavisd_rs::config::Config::from_yaml(&out.yaml, "fuzz.yaml");
    }
});
