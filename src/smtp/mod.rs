//! SMTP/LMTP in and out: the listener ([`server`]), one session per
//! connection ([`session`]), the envelope ([`envelope`]), replies
//! ([`reply`]), and the reinjection client ([`client`]).

pub mod acl;
pub mod client;
pub mod data;
pub mod dotstuff;
pub mod envelope;
pub mod path;
pub mod pool;
pub mod reply;
pub mod server;
pub mod session;
