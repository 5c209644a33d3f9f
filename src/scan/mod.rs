pub mod archive;
pub mod bad_header;
pub mod banned;
pub mod clamav;
pub mod magic;
