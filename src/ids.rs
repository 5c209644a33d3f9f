//! amavisd-style identifiers: `am_id` (`<pid>-<nn>`, log correlation) and
//! the 12-character `mail_id` (quarantine names, `X-Quarantine-ID`).

use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(1);

/// Next `am_id`: amavisd uses `<child pid>-<request nr>`; we have one process,
/// so the number counts messages since start (two digits minimum, as amavisd).
pub fn next_am_id() -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}-{:02}", std::process::id(), n)
}

/// A random 12-character mail_id from amavisd's alphabet (base64 with `-` for `/`).
pub fn new_mail_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mail_id_shape() {
        let a = super::new_mail_id();
        let b = super::new_mail_id();
        assert_eq!(a.len(), 12);
        assert_ne!(a, b);
        assert!(super::next_am_id().contains('-'));
    }
}
