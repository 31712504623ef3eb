//! DNSSEC-aware lookups and the RFC 7672 section 2 destination plan.
//!
//! - [`name`], [`rdata`], [`dnssec`]: names, records and DNSSEC building blocks (shared with the
//!   lab's signer, so that one canonical form exists in the workspace).
//! - [`message`], [`transport`]: the client side of the DNS protocol, UDP with TCP fallback,
//!   responses checked against the question.
//! - [`lookup`]: the [`Resolver`] trait, with [`UnboundResolver`] (default: libunbound validates
//!   in this process; CHECKLIST D-01 to D-03b) and [`TrustedAdResolver`] (D-04). Every
//!   [`Lookup`] carries one [`Status`] per step and overall; only this crate can make one.
//! - `validate`: trust anchors, and RRSIG checks over single RRsets fetched from authoritative
//!   servers with keys libunbound validated.
//! - [`plan`]: the RFC 7672 section 2.2 destination plan (D-05 to D-15).
//! - [`nameservers`]: every authoritative server's view of a TLSA RRset (M-01).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod direct;
pub mod dnssec;
pub mod lookup;
pub mod message;
pub mod name;
pub mod nameservers;
pub mod plan;
pub mod rdata;
pub mod transport;
pub mod update;
mod validate;

pub use lookup::{
    Answer, Hop, Lookup, Resolver, Status, TrustedAdResolver, UnboundResolver, Upstream,
    parse_trust_anchors,
};
pub use name::Name;
pub use transport::{LookupError, NetTransport, Transport};
pub use validate::{
    MAX_VERIFICATIONS, SUPPORTED_ALGORITHMS, Signature, TrustAnchor, iana_root_anchors, sigs_for,
    verify_rrset,
};
