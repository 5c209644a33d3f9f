//! Helpers shared by the integration tests (each test binary includes this
//! with `mod common;`): a real clamd, a real private Postfix, and message
//! builders.
#![allow(dead_code)]
pub mod build;
pub mod clamd;
pub mod postfix;
