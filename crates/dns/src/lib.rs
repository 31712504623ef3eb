//! DNSSEC-aware lookups and the RFC 7672 section 2 destination plan.
//!
//! Not implemented yet (issue 4): this crate has no public API, so nothing can mistake it for a
//! working resolver. It will return every RRset with one DNSSEC status (secure, insecure, bogus,
//! indeterminate) from an embedded validator or a trusted-AD resolver on loopback.
#![forbid(unsafe_code)]
