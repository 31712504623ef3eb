//! The rustls `ServerCertVerifier` that applies DANE inside the handshake.
//!
//! The chain is judged by [`crate::judge`] (the same code as `mxdane tlsa verify`), and the
//! handshake signature (TLS 1.2 ServerKeyExchange, TLS 1.3 CertificateVerify) is always checked
//! with the provider's algorithms against the leaf that was judged: a server that replays a real
//! chain without its private key fails. No path returns "valid" for a signature it did not check.

use std::fmt;
use std::sync::{Arc, Mutex};

use mxdane_tlsa::{Certificate, KeyType, Name, Tlsa};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use crate::judge::{Report, judge};

/// Which server key algorithm to ask for (S-05): a server with both an RSA and an ECDSA
/// certificate picks one by the signature schemes the client offers, so each can be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum KeyFilter {
    /// Offer every scheme the provider supports.
    #[default]
    Any,
    /// Offer only RSA schemes (PKCS#1 and PSS).
    Rsa,
    /// Offer only ECDSA schemes.
    Ecdsa,
}

impl KeyFilter {
    /// `any`, `rsa` or `ecdsa`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Rsa => "rsa",
            Self::Ecdsa => "ecdsa",
        }
    }

    fn admits_scheme(self, s: SignatureScheme) -> bool {
        use SignatureScheme as S;
        match self {
            Self::Any => true,
            Self::Rsa => matches!(
                s,
                S::RSA_PKCS1_SHA256
                    | S::RSA_PKCS1_SHA384
                    | S::RSA_PKCS1_SHA512
                    | S::RSA_PSS_SHA256
                    | S::RSA_PSS_SHA384
                    | S::RSA_PSS_SHA512
            ),
            Self::Ecdsa => matches!(
                s,
                S::ECDSA_NISTP256_SHA256 | S::ECDSA_NISTP384_SHA384 | S::ECDSA_NISTP521_SHA512
            ),
        }
    }

    fn admits_key(self, key: KeyType) -> bool {
        match self {
            Self::Any => true,
            Self::Rsa => key.family() == "rsa",
            Self::Ecdsa => key.family() == "ecdsa",
        }
    }
}

impl fmt::Display for KeyFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the verifier saw of the server's certificate.
#[derive(Clone, Debug)]
pub enum Seen {
    /// The chain was judged.
    Chain(Report),
    /// The server sent a certificate of another key type than the one asked for (S-05): this is
    /// "no certificate of that type", not a mismatch.
    WrongKeyType {
        /// What was asked for.
        wanted: KeyFilter,
        /// What the leaf holds.
        got: KeyType,
    },
}

/// The error a rejected key type produces inside rustls.
#[derive(Debug)]
struct WrongKeyType(KeyFilter, KeyType);

impl fmt::Display for WrongKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "asked for an {} certificate, the server sent {}",
            self.0, self.1
        )
    }
}

impl std::error::Error for WrongKeyType {}

/// A DANE verifier for one connection: the usable TLSA RRset of one host and its reference
/// identifiers (the TLSA base domain first, T-08). Keep one per connection: it records what it
/// saw ([`DaneVerifier::seen`]).
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    names: Vec<Name>,
    filter: KeyFilter,
    require_match: bool,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<Seen>>,
}

impl fmt::Debug for DaneVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaneVerifier")
            .field("records", &self.records)
            .field("names", &self.names)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl DaneVerifier {
    /// A verifier using the aws-lc-rs provider.
    pub fn new(records: Vec<Tlsa>, names: Vec<Name>, filter: KeyFilter) -> Self {
        Self {
            records,
            names,
            filter,
            require_match: true,
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            seen: Mutex::new(None),
        }
    }

    /// A verifier for TLS without authentication (Postfix's `may` and `encrypt`, or secure TLSA
    /// records none of which is usable, D-12): any chain is accepted, but it is still judged
    /// against `records` for the report, and handshake signatures are still checked.
    pub fn unauthenticated(records: Vec<Tlsa>, names: Vec<Name>, filter: KeyFilter) -> Self {
        Self {
            require_match: false,
            ..Self::new(records, names, filter)
        }
    }

    /// The crypto provider whose algorithms check signatures.
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    /// What the last `verify_server_cert` call saw, if any. A report that says "authenticated"
    /// means nothing unless the handshake also completed (the server proved its key).
    pub fn seen(&self) -> Option<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn remember(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
    }

    fn check_scheme(&self, scheme: SignatureScheme) -> Result<(), Error> {
        if self.supported_verify_schemes().contains(&scheme) {
            Ok(())
        } else {
            Err(Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ))
        }
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Ok(leaf) = Certificate::from_der(end_entity)
            && !self.filter.admits_key(leaf.key_type())
        {
            self.remember(Seen::WrongKeyType {
                wanted: self.filter,
                got: leaf.key_type(),
            });
            return Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(WrongKeyType(self.filter, leaf.key_type()))),
            )));
        }
        let mut chain = Vec::with_capacity(intermediates.len() + 1);
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        let report = judge(
            &chain,
            &self.records,
            &self.names,
            now,
            self.provider.signature_verification_algorithms.all,
        );
        let ok = report.is_authenticated() || !self.require_match;
        self.remember(Seen::Chain(report));
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.check_scheme(dss.scheme)?;
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.check_scheme(dss.scheme)?;
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
            .into_iter()
            .filter(|s| self.filter.admits_scheme(*s))
            .collect()
    }
}
