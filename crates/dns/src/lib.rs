//! DNSSEC-aware lookups and the RFC 7672 section 2 destination plan.
//!
//! - [`name`], [`rdata`], [`dnssec`]: names, records and DNSSEC building blocks (shared with the
//!   lab's signer, so that one canonical form exists in the workspace).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dnssec;
pub mod name;
pub mod rdata;

pub use name::Name;
