//! The message between receipt and reinjection: its bytes ([`spool`]), its
//! header section as byte ranges ([`head`]), and the header edits made to
//! it ([`edit`]), applied as splices so nothing else is re-encoded.

pub mod edit;
pub mod head;
pub mod received;
pub mod spool;
