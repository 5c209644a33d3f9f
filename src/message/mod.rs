//! The message between receipt and reinjection: its bytes ([`spool`]), and
//! the header edits made to it ([`edit`]), applied as splices so nothing
//! else is re-encoded.

pub mod spool;
