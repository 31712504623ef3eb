//! TLS client setup for DANE (CHECKLIST S-02, S-03, S-05) and a blocking handshake driver.
//!
//! Every handshake gets a fresh [`DaneVerifier`] and client configuration: session resumption is
//! off, so no handshake ever skips DANE verification; TLS 1.2 and 1.3 are offered; SNI is the
//! TLSA base domain (RFC 7672 section 8.1).

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use mxdane_tlsa::{KeyType, Name, Tlsa};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, ClientConfig, ClientConnection, ProtocolVersion, StreamOwned};

use crate::judge::Report;
use crate::verifier::{DaneVerifier, KeyFilter, Seen};

/// What to verify a server against.
#[derive(Clone, Debug)]
pub struct DaneTarget {
    records: Vec<Tlsa>,
    names: Vec<Name>,
    filter: KeyFilter,
    versions: Versions,
    authenticate: bool,
}

/// The protocol versions to offer (S-03: TLS 1.2 and 1.3 by default; one alone for probing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Versions {
    /// TLS 1.2 and TLS 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Setting up a connection failed before any byte was sent.
#[derive(Debug)]
pub struct SetupError(String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

impl DaneTarget {
    /// The TLSA RRset of the host and its reference identifiers; the first name is the TLSA
    /// base domain and is also sent as SNI (S-02).
    pub fn new(records: Vec<Tlsa>, names: Vec<Name>) -> Result<Self, SetupError> {
        if names.is_empty() {
            return Err(SetupError(
                "no reference identifier: the TLSA base domain is needed for SNI and name checks"
                    .to_owned(),
            ));
        }
        Ok(Self {
            records,
            names,
            filter: KeyFilter::Any,
            versions: Versions::Both,
            authenticate: true,
        })
    }

    /// TLS without authentication (opportunistic TLS, or TLS made mandatory by secure but
    /// unusable TLSA records): the chain is reported, never required to match.
    pub fn unauthenticated(mut self) -> Self {
        self.authenticate = false;
        self
    }

    /// Whether a handshake must authenticate the server.
    pub fn authenticates(&self) -> bool {
        self.authenticate
    }

    /// Asks for one key algorithm only (S-05).
    pub fn key_filter(mut self, filter: KeyFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Restricts the protocol versions.
    pub fn versions(mut self, versions: Versions) -> Self {
        self.versions = versions;
        self
    }

    /// The SNI name: the TLSA base domain without its trailing dot.
    pub fn sni(&self) -> &str {
        let base = self.names[0].as_str();
        base.strip_suffix('.').unwrap_or(base)
    }

    /// A client connection with a fresh verifier, and that verifier.
    pub fn connection(&self) -> Result<(ClientConnection, Arc<DaneVerifier>), SetupError> {
        let (config, verifier, name) = self.client_config()?;
        let conn = ClientConnection::new(config, name)
            .map_err(|e| SetupError(format!("TLS client: {e}")))?;
        Ok((conn, verifier))
    }

    /// A fresh client configuration (for async TLS stacks), its verifier and the SNI name.
    pub fn client_config(
        &self,
    ) -> Result<(Arc<ClientConfig>, Arc<DaneVerifier>, ServerName<'static>), SetupError> {
        let verifier = Arc::new(if self.authenticate {
            DaneVerifier::new(self.records.clone(), self.names.clone(), self.filter)
        } else {
            DaneVerifier::unauthenticated(self.records.clone(), self.names.clone(), self.filter)
        });
        let versions: &[&rustls::SupportedProtocolVersion] = match self.versions {
            Versions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            Versions::Tls12 => &[&rustls::version::TLS12],
            Versions::Tls13 => &[&rustls::version::TLS13],
        };
        let mut config = ClientConfig::builder_with_provider(verifier.provider().clone())
            .with_protocol_versions(versions)
            .map_err(|e| SetupError(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        config.enable_sni = true;
        let name = ServerName::try_from(self.sni().to_owned())
            .map_err(|e| SetupError(format!("SNI name {}: {e}", self.sni())))?;
        Ok((Arc::new(config), verifier, name))
    }

    /// Runs the handshake over `io` (already connected, e.g. after STARTTLS; set socket
    /// timeouts first, S-07). Succeeds only when a record authenticated the chain *and* the
    /// server proved possession of the leaf's key.
    pub fn handshake<S: Read + Write>(&self, mut io: S) -> Result<DaneSession<S>, TlsFailure> {
        let (mut conn, verifier) = self
            .connection()
            .map_err(|e| TlsFailure::Setup(e.to_string()))?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut io) {
                return Err(self.classify(e, verifier.seen()));
            }
        }
        match verifier.seen() {
            Some(Seen::Chain(report)) if report.is_authenticated() || !self.authenticate => {
                Ok(DaneSession {
                    version: conn.protocol_version(),
                    stream: StreamOwned::new(conn, io),
                    report,
                })
            }
            // Unreachable with resumption off; refuse rather than assume.
            _ => Err(TlsFailure::Setup(
                "the handshake finished without DANE verification".to_owned(),
            )),
        }
    }

    /// Classifies a failed handshake from the I/O error it produced and what the verifier saw
    /// (for async TLS stacks that drive the handshake themselves).
    pub fn classify(&self, e: io::Error, seen: Option<Seen>) -> TlsFailure {
        let tls = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match (seen, tls) {
            (Some(Seen::WrongKeyType { wanted, got }), _) => TlsFailure::NoCertificateOfType {
                wanted,
                got: Some(got),
            },
            (Some(Seen::Chain(report)), Some(error)) if !report.is_authenticated() => {
                let _ = error;
                TlsFailure::NotAuthenticated(Box::new(report))
            }
            (Some(Seen::Chain(report)), Some(error)) => TlsFailure::Handshake {
                error,
                report: Some(Box::new(report)),
            },
            // The server gave up before sending a certificate while we asked for one key type
            // only: it has no certificate of that type. OpenSSL servers say handshake_failure,
            // rustls servers access_denied ("no server certificate chain resolved").
            (
                None,
                Some(rustls::Error::AlertReceived(
                    AlertDescription::HandshakeFailure | AlertDescription::AccessDenied,
                )),
            ) if self.filter != KeyFilter::Any => TlsFailure::NoCertificateOfType {
                wanted: self.filter,
                got: None,
            },
            (_, Some(error)) => TlsFailure::Handshake {
                error,
                report: None,
            },
            (_, None) => TlsFailure::Io(e),
        }
    }
}

/// An authenticated TLS session.
#[derive(Debug)]
pub struct DaneSession<S: Read + Write> {
    /// The stream.
    pub stream: StreamOwned<ClientConnection, S>,
    /// How the chain was authenticated.
    pub report: Report,
    /// The negotiated protocol version.
    pub version: Option<ProtocolVersion>,
}

/// Why a DANE handshake failed.
#[derive(Debug)]
pub enum TlsFailure {
    /// The chain was judged and no record authenticated it.
    NotAuthenticated(Box<Report>),
    /// The server has no certificate of the key type asked for (S-05).
    NoCertificateOfType {
        /// What was asked for.
        wanted: KeyFilter,
        /// What it sent instead, if it sent anything.
        got: Option<KeyType>,
    },
    /// The TLS protocol failed; if the chain had been judged, its report (e.g. the chain
    /// matched, but the server could not sign with the leaf's key).
    Handshake {
        /// The TLS error.
        error: rustls::Error,
        /// The chain's report, when it got that far.
        report: Option<Box<Report>>,
    },
    /// The connection failed.
    Io(io::Error),
    /// The client could not be set up.
    Setup(String),
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAuthenticated(_) => {
                f.write_str("no TLSA record authenticates the server's certificate chain")
            }
            Self::NoCertificateOfType { wanted, got: None } => write!(
                f,
                "the server has no {wanted} certificate (it refused the handshake)"
            ),
            Self::NoCertificateOfType {
                wanted,
                got: Some(got),
            } => write!(f, "the server has no {wanted} certificate (it sent {got})"),
            Self::Handshake {
                error,
                report: Some(r),
            } if r.is_authenticated() => write!(
                f,
                "the chain matched, but the handshake failed: {error} (the server did not prove it holds the key)"
            ),
            Self::Handshake { error, .. } => write!(f, "TLS handshake failed: {error}"),
            Self::Io(e) => write!(f, "connection failed during the TLS handshake: {e}"),
            Self::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for TlsFailure {}
