//! amavisd-rs: a drop-in replacement for amavisd-new.
//!
//! The modules follow the path of one message:
//! [`smtp`] (receive, reinject) → [`message`] (spool, MIME view, header
//! edits) → [`scan`] (virus, banned, bad header, spam) → [`rules`]
//! (SpamAssassin-compatible engine) → [`policy`] (categories, destinies) →
//! [`action`] (reinject, DSN, quarantine). [`config`] holds the typed
//! `amavis-compat.yaml`; [`migrate`] reads amavisd.conf.
#![forbid(unsafe_code)]

pub mod action;
pub mod config;
pub mod ids;
pub mod message;
pub mod migrate;
pub mod pidfile;
pub mod pipeline;
pub mod policy;
pub mod privileges;
pub mod rules;
pub mod scan;
pub mod smtp;
