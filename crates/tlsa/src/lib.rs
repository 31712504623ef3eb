//! TLSA records for DANE (RFC 6698, RFC 7671, RFC 7672): the record type in presentation and
//! wire form, reading certificates and keys, generating records, matching them, and linting an
//! RRset against operational guidance.
//!
//! This crate does no I/O and no DNS: it neither looks records up nor validates TLS chains (see
//! the `mxdane-dns` and `mxdane-tls` crates). Matching here means comparing association data.
//!
//! ```
//! use mxdane_tlsa::{Tlsa, Usability};
//!
//! let r: Tlsa = "DANE-EE SPKI SHA2-256 \
//!     0000000000000000000000000000000000000000000000000000000000000000".parse()?;
//! assert_eq!(r.params(), (3, 1, 1));
//! assert_eq!(r.usability(), Usability::Usable);
//! assert_eq!(Tlsa::from_wire(&r.to_wire())?, r);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod generate;
pub mod idn;
pub mod input;
pub mod lint;
pub mod matching;
pub mod name;
pub mod record;
pub mod zone;

pub use input::{
    Certificate, InputError, KeyType, Material, NameConstraints, PublicKey, read_material,
};
pub use matching::{Subject, association_data, usable_records};
pub use name::{Name, NameError};
pub use record::{MatchingType, ParseError, Selector, Tlsa, Unusable, Usability, Usage};
pub use zone::{ZoneError, ZoneRecord, parse_zone};
