//! Content-check building blocks (local module list; the lead replaces this
//! file with the scanner trait on merge).
pub mod archive;
pub mod bad_header;
pub mod banned;
pub mod clamav;
pub mod magic;
