//! The lab: a simulated world for tests and demos.
//!
//! - [`certs`]: certificate and key builders: roots, intermediates and leaves with RSA, ECDSA or
//!   Ed25519 keys, expired or not yet valid, with wrong names, wildcards or a CN only. Keys are
//!   generated once per process and shared, so that RSA key generation does not dominate test
//!   time.
//! - [`tls`]: rustls servers on loopback presenting those chains, honestly or not.
//! - [`dns`]: signed mini-internets (a private root, TLDs, domains) described in a few lines,
//!   with fault knobs (bad signatures, insecure and bogus delegations, NSEC and NSEC3 with
//!   opt-out, wildcards, CNAME and DNAME chains, misbehaving authoritative servers), answered by
//!   an in-process UDP/TCP server and exported for Knot and Unbound.
//!
//! - [`smtp`]: SMTP servers with misbehaviours and men in the middle.
//!
//! ```
//! use mxdane_lab::certs::{CertSpec, KeyAlg};
//!
//! let root = CertSpec::ca("Lab Root").self_signed();
//! let leaf = CertSpec::leaf(&["mx.example.test"]).alg(KeyAlg::EcdsaP256).signed_by(&root);
//! assert!(leaf.pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certs;
pub mod demo;

/// How long a lab server keeps accepting at most (it stops earlier when dropped): an hour, or
/// the seconds in `MXDANE_LAB_LIFETIME` (for runs that keep a lab longer). The bound keeps a
/// leaked server from running forever; an hour is longer than any tier of CI.
pub fn lifetime() -> std::time::Duration {
    static LIFETIME: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *LIFETIME.get_or_init(|| {
        let secs = std::env::var("MXDANE_LAB_LIFETIME")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(3600);
        std::time::Duration::from_secs(secs)
    })
}
pub mod dns;
pub mod netns;
pub mod smtp;
pub mod tls;
