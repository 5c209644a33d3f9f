//! What happens to a message once decided: reinjection (in `smtp::client`),
//! DSNs and admin notifications ([`dsn`]), quarantine, and the summary log
//! line ([`log`]).

pub mod dsn;
pub mod log;
pub mod notify;
pub mod quarantine;
pub mod reinject;
