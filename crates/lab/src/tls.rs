//! rustls servers on loopback that present lab certificates, honestly or not.
//!
//! [`TlsServer`] answers TLS directly on a port chosen at run time; [`server_config`] is the
//! part the SMTP servers reuse after STARTTLS. Misbehaviours: a server that presents a real
//! chain without holding its key ([`Credential::with_key_of`]), and a server that ignores the
//! client's signature schemes and sends its only certificate anyway ([`ServerOptions`]).
#![allow(clippy::expect_used)]

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{ServerConfig, ServerConnection, SignatureAlgorithm, SignatureScheme};

use crate::certs::TestCert;

/// A certificate chain and the key the server signs with.
#[derive(Clone, Debug)]
pub struct Credential {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn SigningKey>,
}

impl Credential {
    /// `chain` as sent (leaf first), signing with the leaf's own key.
    pub fn new(chain: &[&TestCert]) -> Self {
        let leaf = chain.first().expect("a chain has a leaf");
        Self {
            chain: chain.iter().map(|c| c.der().to_vec().into()).collect(),
            key: signing_key(leaf),
        }
    }

    /// Any DER chain, signing with the key of `signer`.
    pub fn from_der(chain: Vec<Vec<u8>>, signer: &TestCert) -> Self {
        Self {
            chain: chain.into_iter().map(CertificateDer::from).collect(),
            key: signing_key(signer),
        }
    }

    /// A chain and its private key as read from files; the key must belong to the leaf.
    pub fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'_>,
    ) -> Result<Self, String> {
        let key = any_supported_type(key).map_err(|e| format!("unusable key: {e}"))?;
        if chain.is_empty() {
            return Err("the chain file holds no certificate".into());
        }
        CertifiedKey::new(chain.clone(), key.clone())
            .keys_match()
            .map_err(|e| format!("the key does not belong to the leaf certificate: {e}"))?;
        Ok(Self { chain, key })
    }

    /// The same chain, but signing with the key of `other`: a server that replays a real chain
    /// without holding its private key.
    pub fn with_key_of(mut self, other: &TestCert) -> Self {
        self.key = signing_key(other);
        self
    }
}

fn signing_key(cert: &TestCert) -> Arc<dyn SigningKey> {
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der()));
    any_supported_type(&der).expect("lab keys are supported by rustls")
}

/// How the server behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerOptions {
    /// Present the first credential even when the client offered none of its signature
    /// schemes (some TLS 1.2 servers do), signing with the key's own scheme.
    pub ignore_client_schemes: bool,
    /// Speak TLS 1.2 only (as many deployed mail servers still do).
    pub tls12_only: bool,
}

/// The server names (SNI) clients sent, one entry per handshake attempt.
pub type SniLog = Arc<Mutex<Vec<Option<String>>>>;

#[derive(Debug)]
struct Resolver {
    credentials: Vec<Arc<CertifiedKey>>,
    by_name: Vec<(String, Vec<Arc<CertifiedKey>>)>,
    options: ServerOptions,
    sni: SniLog,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.sni
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hello.server_name().map(str::to_owned));
        let offered = hello.signature_schemes();
        // Per-name chains (S-02): the client's SNI picks them; anything else gets the default.
        let credentials = hello
            .server_name()
            .and_then(|n| {
                self.by_name
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(n))
            })
            .map_or(&self.credentials, |(_, c)| c);
        // A dual RSA+ECDSA server picks the certificate the client can verify.
        let fitting = credentials
            .iter()
            .find(|c| c.key.choose_scheme(offered).is_some());
        match fitting {
            Some(c) => Some(c.clone()),
            None if self.options.ignore_client_schemes => {
                let first = credentials.first()?;
                Some(Arc::new(CertifiedKey::new(
                    first.cert.clone(),
                    Arc::new(IgnoresOffer(first.key.clone())),
                )))
            }
            None => None,
        }
    }
}

/// A key that signs with its own scheme whatever the client offered.
#[derive(Debug)]
struct IgnoresOffer(Arc<dyn SigningKey>);

impl SigningKey for IgnoresOffer {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        use SignatureScheme as S;
        const ALL: &[SignatureScheme] = &[
            S::ECDSA_NISTP256_SHA256,
            S::ECDSA_NISTP384_SHA384,
            S::ED25519,
            S::RSA_PSS_SHA256,
            S::RSA_PKCS1_SHA256,
        ];
        self.0
            .choose_scheme(offered)
            .or_else(|| self.0.choose_scheme(ALL))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}

/// A server configuration presenting `credentials` (the first whose key fits the client's
/// offer), TLS 1.2 and 1.3, and the log of SNI names it receives.
pub fn server_config(
    credentials: Vec<Credential>,
    options: ServerOptions,
) -> (Arc<ServerConfig>, SniLog) {
    server_config_by_name(credentials, Vec::new(), options)
}

static TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
static BOTH_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Like [`server_config`], with chains chosen by the client's SNI: `by_name` for those names,
/// `default` for any other name or none.
pub fn server_config_by_name(
    default: Vec<Credential>,
    by_name: Vec<(String, Vec<Credential>)>,
    options: ServerOptions,
) -> (Arc<ServerConfig>, SniLog) {
    let sni = SniLog::default();
    let tls12_only = options.tls12_only;
    let certified = |list: Vec<Credential>| -> Vec<Arc<CertifiedKey>> {
        list.into_iter()
            .map(|c| Arc::new(CertifiedKey::new(c.chain, c.key)))
            .collect()
    };
    let resolver = Resolver {
        credentials: certified(default),
        by_name: by_name
            .into_iter()
            .map(|(n, c)| (n.trim_end_matches('.').to_owned(), certified(c)))
            .collect(),
        options,
        sni: sni.clone(),
    };
    let config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(if tls12_only {
        TLS12_ONLY
    } else {
        BOTH_VERSIONS
    })
    .expect("TLS 1.2 and 1.3 are supported")
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(resolver));
    (Arc::new(config), sni)
}

/// How long a lab server lives at most, whatever the test does.
/// Socket timeouts for each connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS server on 127.0.0.1 (port chosen at run time) that completes handshakes one at a time,
/// sends `hello\n` and closes. It stops when dropped, or after five minutes.
#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    sni: SniLog,
    resumed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Starts an honest server presenting `credentials`.
    pub fn start(credentials: Vec<Credential>) -> io::Result<Self> {
        Self::start_with(credentials, ServerOptions::default())
    }

    /// Starts a server with the given behaviour.
    pub fn start_with(credentials: Vec<Credential>, options: ServerOptions) -> io::Result<Self> {
        let (config, sni) = server_config(credentials, options);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let resumed = Arc::new(AtomicUsize::new(0));
        let resumed_count = resumed.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) && started.elapsed() < crate::lifetime() {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, config.clone(), &resumed_count),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Self {
            addr,
            sni,
            resumed,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many handshakes resumed an earlier session.
    pub fn resumed_handshakes(&self) -> usize {
        self.resumed.load(Ordering::Relaxed)
    }

    /// The SNI names received so far, one per handshake attempt.
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.sni.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, config: Arc<ServerConfig>, resumed: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut stream).is_err() {
            return;
        }
    }
    if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
        resumed.fetch_add(1, Ordering::Relaxed);
    }
    let _ = conn.writer().write_all(b"hello\n");
    conn.send_close_notify();
    let _ = conn.complete_io(&mut stream);
}
