//! DANE certificate verification for SMTP (RFC 7672 section 3).
//!
//! Today this crate judges a server chain offline, at a given time, against a TLSA RRset:
//! DANE-EE(3) records completely (T-06: leaf certificate or key, no name checks, validity dates
//! ignored). DANE-TA(2) path validation and name checks (T-07, T-08) are not implemented yet:
//! a DANE-TA record whose anchor is in the chain is reported as *not judged*, never as a match,
//! and a verdict that depends on one is [`Verdict::Undetermined`]. The rustls verifier that runs
//! the same logic inside a handshake is the next step (issue 5).
//!
//! ```
//! use mxdane_tls::{verify_chain, Verdict};
//! use mxdane_tlsa::{Certificate, Tlsa};
//! # let pki = mxdane_lab::certs::Pki::new(mxdane_lab::certs::KeyAlg::EcdsaP256, "mx.example.test");
//! # let leaf_der = pki.leaf.der().to_vec();
//! let leaf = Certificate::from_der(&leaf_der)?;
//! let record = mxdane_tlsa::matching::generate(
//!     mxdane_tlsa::Subject::Certificate(&leaf),
//!     mxdane_tlsa::Usage::DaneEe, mxdane_tlsa::Selector::Spki, mxdane_tlsa::MatchingType::Sha256,
//! ).expect("selector applies");
//! let report = verify_chain(&[leaf], &[record], &[], time::OffsetDateTime::now_utc());
//! assert!(matches!(report.verdict(), Verdict::Authenticated { depth: 0, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod offline;

pub use offline::{RecordOutcome, Report, Verdict, verify_chain};
