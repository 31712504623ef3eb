//! DANE certificate verification for SMTP (RFC 7672 section 3), inside rustls.
//!
//! - [`verify_chain`] judges a chain against a TLSA RRset at a given time: DANE-EE(3) on the
//!   leaf (no names, no dates; T-06), DANE-TA(2) with path validation by rustls-webpki, the
//!   anchor's own validity period, Full(0) anchors carried by the record, and name checks with
//!   the CN fallback and the one-label wildcard rule (T-07 to T-09). PKIX usages are unusable
//!   (T-04) and digest agility applies (T-05). The [`Report`] says, for each record, what it
//!   matched at which depth, or why it failed (T-10).
//! - [`DaneVerifier`] runs the same judgement inside a rustls handshake and always checks the
//!   handshake signature.
//! - [`DaneTarget`] builds the client side: SNI = TLSA base domain, TLS 1.2 and 1.3, no
//!   resumption, optional RSA-only or ECDSA-only offers (S-05).
//!
//! ```
//! use mxdane_tls::{verify_chain, unix_time, Verdict};
//! use mxdane_tlsa::{Certificate, Name, Tlsa};
//! # let pki = mxdane_lab::certs::Pki::new(mxdane_lab::certs::KeyAlg::EcdsaP256, "mx.example.test");
//! # let chain = vec![pki.leaf.der().to_vec().into(), pki.intermediate.der().to_vec().into()];
//! # let issuer = Certificate::from_der(pki.intermediate.der())?;
//! let record = mxdane_tlsa::matching::generate(
//!     mxdane_tlsa::Subject::Certificate(&issuer),
//!     mxdane_tlsa::Usage::DaneTa, mxdane_tlsa::Selector::Spki, mxdane_tlsa::MatchingType::Sha256,
//! ).expect("selector applies");
//! let names = [Name::try_parse("mx.example.test")?];
//! let report = verify_chain(&chain, &[record], &names, unix_time(time::OffsetDateTime::now_utc()));
//! assert!(matches!(report.verdict(), Verdict::Authenticated { depth: 1, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod judge;
mod names;
mod verifier;

pub use client::{DaneSession, DaneTarget, SetupError, TlsFailure, Versions};
pub use judge::{
    Anchor, ChainCert, ChainProblem, RecordOutcome, Report, Sealed, Verdict, issued_by, unix_time,
    verify_chain,
};
pub use verifier::{DaneVerifier, KeyFilter, Seen};
