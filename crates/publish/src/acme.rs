//! ACME (RFC 8555) for the rollover engine's staged keys, through instant-acme.
//!
//! - The account's credentials (its key and URL) live in a file of mode 0600; a CA that no
//!   longer knows the account (Pebble after a restart, a CA that purged it) gets a new one,
//!   and the old file is kept beside it.
//! - An order is placed, its URL persisted by the caller, then its challenges are answered
//!   by a [`Solver`] (http-01 by our own listener or a webroot, dns-01 through the rollover's
//!   DNS method), then it is finalised with the CSR of the staged key (RFC 8555 section 7.4),
//!   so the certificate carries the key whose record is already published.
//! - Every failure says which step failed and what the CA said, and carries the CA's
//!   Retry-After when it gave one (RFC 8555 section 6.6): instant-acme does not surface that
//!   header on errors, so [`Recording`] wraps the HTTP client and keeps the last one seen.
//! - ACME Renewal Information (RFC 9773) is asked for when the CA offers it.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse,
    CertificateIdentifier, ChallengeType, HttpClient, Identifier, NewAccount, NewOrder,
    OrderStatus, RetryPolicy,
};
use mxdane_rollover::Ts;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A failed ACME step: what happened, and when the CA said to come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeError {
    /// The step and the CA's words.
    pub why: String,
    /// The CA's Retry-After as a delay in seconds from when it answered, if it gave one.
    pub retry_after: Option<Ts>,
}

impl std::fmt::Display for AcmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// The HTTP client instant-acme talks through, keeping the Retry-After of error replies.
pub struct Recording {
    inner: Box<dyn HttpClient>,
    retry_after: Arc<Mutex<Option<SystemTime>>>,
}

/// Parses a Retry-After value: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return now.checked_add(Duration::from_secs(secs.min(30 * 86_400)));
    }
    httpdate::parse_http_date(v).ok()
}

impl HttpClient for Recording {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.inner.request(req);
        let slot = self.retry_after.clone();
        Box::pin(async move {
            let rsp = fut.await?;
            let status = rsp.parts.status;
            if (status.is_client_error() || status.is_server_error())
                && let Some(t) = rsp
                    .parts
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                && let Ok(mut s) = slot.lock()
            {
                *s = Some(t);
            }
            Ok(rsp)
        })
    }
}

/// The production HTTP client: HTTPS only, the system's roots or those of `roots` (a PEM
/// file, for a test CA such as Pebble's).
pub fn https_client(roots: Option<&Path>) -> Result<Box<dyn HttpClient>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match roots {
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut store = rustls::RootCertStore::empty();
            for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| format!("{}: {e}", p.display()))?;
                store.add(c).map_err(|e| format!("{}: {e}", p.display()))?;
            }
            if store.is_empty() {
                return Err(format!("{}: no certificate", p.display()));
            }
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(store)
                .with_no_client_auth();
            builder.with_tls_config(config)
        }
        None => builder
            .with_provider_and_platform_verifier(provider)
            .map_err(|e| format!("the system's certificate roots: {e}"))?,
    };
    let connector = builder.https_only().enable_http1().build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, BodyWrapper<Bytes>>(connector);
    Ok(Box::new(client))
}

/// One challenge to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The identifier (a host name).
    pub name: String,
    /// The token (http-01 path).
    pub token: String,
    /// The key authorization (http-01 body).
    pub key_authorization: String,
    /// The TXT value (dns-01).
    pub dns_value: String,
}

/// Answers challenges: makes them available, then takes them away.
pub trait Solver {
    /// The challenge type it answers.
    fn kind(&self) -> ChallengeType;
    /// Makes the answers available; returns once the CA can see them.
    fn present(&mut self, challenges: &[Challenge]) -> Result<(), String>;
    /// Removes them (errors are reported, not fatal).
    fn clean_up(&mut self, challenges: &[Challenge]) -> Result<(), String>;
}

/// An order placed (or resumed) and what it asks.
pub struct Placed {
    /// The order.
    pub order: instant_acme::Order,
    /// Its URL.
    pub url: String,
    /// The challenges still to answer.
    pub challenges: Vec<Challenge>,
}

/// A client with an account at one CA.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    account: Account,
    retry_after: Arc<Mutex<Option<SystemTime>>>,
}

fn unix(t: SystemTime) -> Ts {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| Ts::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    crate::write_atomic(path, data, 0o600)
}

/// Whether an error is the CA saying it does not know the account.
fn account_unknown(e: &instant_acme::Error) -> bool {
    matches!(e, instant_acme::Error::Api(p)
        if p.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist"))
}

impl Client {
    /// Opens the account stored in `file`, or creates one (with `contact`) and stores it.
    /// `http` is the transport (see [`https_client`]; tests pass a stand-in CA).
    pub fn open(
        directory: &str,
        contact: &[String],
        file: &Path,
        http: impl Fn() -> Result<Box<dyn HttpClient>, String>,
    ) -> Result<Self, AcmeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| AcmeError {
                why: format!("cannot start the async runtime: {e}"),
                retry_after: None,
            })?;
        let retry_after = Arc::new(Mutex::new(None));
        let slot = retry_after.clone();
        let builder = move || -> Result<instant_acme::AccountBuilder, AcmeError> {
            let inner = http().map_err(|why| AcmeError {
                why: format!("ACME client: {why}"),
                retry_after: None,
            })?;
            Ok(Account::builder_with_http(Box::new(Recording {
                inner,
                retry_after: slot.clone(),
            })))
        };
        let stored = match std::fs::read(file) {
            Ok(b) => Some(
                serde_json::from_slice::<AccountCredentials>(&b).map_err(|e| AcmeError {
                    why: format!("{}: not ACME account credentials: {e}", file.display()),
                    retry_after: None,
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(AcmeError {
                    why: format!("{}: {e}", file.display()),
                    retry_after: None,
                });
            }
        };
        let mut client = Self {
            account: match stored {
                Some(c) => runtime
                    .block_on(builder()?.from_credentials(c))
                    .map_err(|e| AcmeError {
                        why: format!("ACME directory {directory}: {e}"),
                        retry_after: None,
                    })?,
                None => Self::create(&runtime, builder()?, directory, contact, file)?,
            },
            runtime,
            retry_after,
        };
        // One signed request tells whether the CA still knows the account.
        let known = client.runtime.block_on(
            client
                .account
                .update_contacts(&contact.iter().map(String::as_str).collect::<Vec<_>>()),
        );
        match known {
            Ok(()) => Ok(client),
            Err(e) if account_unknown(&e) => {
                let kept = file.with_extension(format!("json.unknown-{}", unix(SystemTime::now())));
                std::fs::rename(file, &kept).map_err(|e| AcmeError {
                    why: format!("{}: {e}", file.display()),
                    retry_after: None,
                })?;
                client.account =
                    Self::create(&client.runtime, builder()?, directory, contact, file)?;
                Ok(client)
            }
            Err(e) => Err(client.error("ACME account", e)),
        }
    }

    fn create(
        runtime: &tokio::runtime::Runtime,
        builder: instant_acme::AccountBuilder,
        directory: &str,
        contact: &[String],
        file: &Path,
    ) -> Result<Account, AcmeError> {
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = runtime
            .block_on(builder.create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_owned(),
                None,
            ))
            .map_err(|e| AcmeError {
                why: format!("ACME account at {directory}: {e}"),
                retry_after: None,
            })?;
        let json = serde_json::to_vec_pretty(&credentials).map_err(|e| AcmeError {
            why: format!("ACME account: {e}"),
            retry_after: None,
        })?;
        write_private(file, &json).map_err(|why| AcmeError {
            why,
            retry_after: None,
        })?;
        Ok(account)
    }

    /// The account's URL.
    pub fn account_url(&self) -> &str {
        self.account.id()
    }

    fn error(&self, step: &str, e: instant_acme::Error) -> AcmeError {
        let now = unix(SystemTime::now());
        let retry_after = self
            .retry_after
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .map(|t| (unix(t) - now).max(0));
        AcmeError {
            why: format!("{step}: {e}"),
            retry_after,
        }
    }

    /// The CA's suggested renewal window for the leaf of `chain_pem`, and in how many seconds
    /// to ask again (RFC 9773 section 4.3), or None when the CA does not offer ACME Renewal
    /// Information.
    pub fn renewal_window(&self, chain_pem: &str) -> Result<Option<(Ts, Ts, Ts)>, AcmeError> {
        let der = rustls_pki_types::CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| AcmeError {
                why: "the certificate in service is not PEM".into(),
                retry_after: None,
            })?;
        let Ok(id) = CertificateIdentifier::try_from(&der) else {
            // No Authority Key Identifier: the CA cannot name it.
            return Ok(None);
        };
        match self.runtime.block_on(self.account.renewal_info(&id)) {
            Ok((info, again)) => {
                let w = info.suggested_window;
                let again = Ts::try_from(again.as_secs()).unwrap_or(0).clamp(60, 86_400);
                Ok(Some((
                    w.start.unix_timestamp(),
                    w.end.unix_timestamp(),
                    again,
                )))
            }
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(self.error("ACME renewal information", e)),
        }
    }

    /// Places an order for `names` answered by `kind` challenges, or resumes the order at
    /// `resume` when it can still be used.
    pub fn place(
        &self,
        names: &[String],
        kind: ChallengeType,
        resume: Option<&str>,
    ) -> Result<Placed, AcmeError> {
        self.runtime.block_on(async {
            let mut order = None;
            if let Some(url) = resume
                && let Ok(mut o) = self.account.order(url.to_owned()).await
                && o.state().status != OrderStatus::Invalid
            {
                order = Some(o);
            }
            let mut order = match order {
                Some(o) => o,
                None => {
                    let identifiers: Vec<Identifier> =
                        names.iter().map(|n| Identifier::Dns(n.clone())).collect();
                    self.account
                        .new_order(&NewOrder::new(&identifiers))
                        .await
                        .map_err(|e| self.error("ACME new order", e))?
                }
            };
            let url = order.url().to_owned();
            let mut challenges = Vec::new();
            let mut auths = order.authorizations();
            while let Some(a) = auths.next().await {
                let mut a = a.map_err(|e| self.error("ACME authorization", e))?;
                match a.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => {
                        return Err(AcmeError {
                            why: format!("ACME authorization is {other:?}"),
                            retry_after: None,
                        });
                    }
                }
                let ch = a.challenge(kind.clone()).ok_or_else(|| AcmeError {
                    why: format!("the CA offers no {kind:?} challenge"),
                    retry_after: None,
                })?;
                challenges.push(Challenge {
                    name: ch.identifier().to_string(),
                    token: ch.token.clone(),
                    key_authorization: ch.key_authorization().as_str().to_owned(),
                    dns_value: ch.key_authorization().dns_value(),
                });
            }
            Ok(Placed {
                order,
                url,
                challenges,
            })
        })
    }

    /// Tells the CA the challenges are ready, waits for the order, finalises it with
    /// `csr_der` and returns the chain (PEM, leaf first). Bounded: each wait at most
    /// `patience`.
    pub fn finish(
        &self,
        placed: &mut Placed,
        kind: ChallengeType,
        csr_der: &[u8],
        patience: Duration,
    ) -> Result<String, AcmeError> {
        self.runtime.block_on(async {
            let order = &mut placed.order;
            let mut auths = order.authorizations();
            while let Some(a) = auths.next().await {
                let mut a = a.map_err(|e| self.error("ACME authorization", e))?;
                if a.status != AuthorizationStatus::Pending {
                    continue;
                }
                if let Some(mut ch) = a.challenge(kind.clone()) {
                    ch.set_ready()
                        .await
                        .map_err(|e| self.error("ACME challenge", e))?;
                }
            }
            let retry = RetryPolicy::new().timeout(patience);
            let status = order
                .poll_ready(&retry)
                .await
                .map_err(|e| self.error("ACME order", e))?;
            match status {
                OrderStatus::Ready => order
                    .finalize_csr(csr_der)
                    .await
                    .map_err(|e| self.error("ACME finalize", e))?,
                OrderStatus::Valid | OrderStatus::Processing => {}
                other => {
                    return Err(AcmeError {
                        why: format!(
                            "ACME order is {other:?} (a challenge failed: {})",
                            order
                                .state()
                                .error
                                .as_ref()
                                .map_or_else(|| "no detail".to_owned(), ToString::to_string)
                        ),
                        retry_after: None,
                    });
                }
            }
            order
                .poll_certificate(&retry)
                .await
                .map_err(|e| self.error("ACME certificate", e))
        })
    }

    /// Starts an http-01 listener on `addr` serving `tokens` (on this client's runtime).
    pub fn serve_http01(&self, addr: SocketAddr) -> Result<Http01, String> {
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| format!("http-01 listener on {addr}: {e}"))?;
        let tokens: Tokens = Arc::default();
        let task = self.runtime.spawn(http01(listener, tokens.clone()));
        Ok(Http01 { tokens, task })
    }
}

/// Tokens and key authorizations the http-01 listener serves.
type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// A running http-01 listener; it stops when dropped.
pub struct Http01 {
    tokens: Tokens,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Http01 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Solver for Http01 {
    fn kind(&self) -> ChallengeType {
        ChallengeType::Http01
    }

    fn present(&mut self, challenges: &[Challenge]) -> Result<(), String> {
        let mut t = self
            .tokens
            .lock()
            .map_err(|_| "http-01 tokens poisoned".to_owned())?;
        for c in challenges {
            t.insert(c.token.clone(), c.key_authorization.clone());
        }
        Ok(())
    }

    fn clean_up(&mut self, challenges: &[Challenge]) -> Result<(), String> {
        if let Ok(mut t) = self.tokens.lock() {
            for c in challenges {
                t.remove(&c.token);
            }
        }
        Ok(())
    }
}

/// http-01 answered by files under a web server's document root.
pub struct Webroot(pub PathBuf);

impl Webroot {
    fn file(&self, token: &str) -> Result<PathBuf, String> {
        // RFC 8555 section 8.1: a token is base64url; anything else could escape the root.
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "the CA sent a token that is not base64url: {token:?}"
            ));
        }
        Ok(self.0.join(".well-known/acme-challenge").join(token))
    }
}

impl Solver for Webroot {
    fn kind(&self) -> ChallengeType {
        ChallengeType::Http01
    }

    fn present(&mut self, challenges: &[Challenge]) -> Result<(), String> {
        for c in challenges {
            let f = self.file(&c.token)?;
            if let Some(d) = f.parent() {
                std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            }
            std::fs::write(&f, &c.key_authorization)
                .map_err(|e| format!("{}: {e}", f.display()))?;
        }
        Ok(())
    }

    fn clean_up(&mut self, challenges: &[Challenge]) -> Result<(), String> {
        let mut errors = Vec::new();
        for c in challenges {
            if let Ok(f) = self.file(&c.token)
                && let Err(e) = std::fs::remove_file(&f)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                errors.push(format!("{}: {e}", f.display()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Serves `GET /.well-known/acme-challenge/TOKEN` from `tokens` until aborted (bounded: each
/// request at most 8 KiB and 10 s).
async fn http01(listener: tokio::net::TcpListener, tokens: Tokens) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), async {
                let mut chunk = [0u8; 1024];
                while buf.len() < 8192 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let text = String::from_utf8_lossy(&buf);
            let path = text
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("");
            let answer = path
                .strip_prefix("/.well-known/acme-challenge/")
                .and_then(|t| tokens.lock().ok()?.get(t).cloned());
            let reply = match answer {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned(),
            };
            let _ = stream.write_all(reply.as_bytes()).await;
        });
    }
}

/// Answers the challenges of a placed order with `solver`, finalises it with `csr_der` and
/// returns the chain. The challenges are cleaned up whatever happens.
pub fn complete(
    client: &Client,
    placed: &mut Placed,
    csr_der: &[u8],
    solver: &mut dyn Solver,
) -> Result<String, AcmeError> {
    let kind = solver.kind();
    let challenges = placed.challenges.clone();
    let result = solver
        .present(&challenges)
        .map_err(|why| AcmeError {
            why: format!("answering the challenge: {why}"),
            retry_after: None,
        })
        .and_then(|()| client.finish(placed, kind, csr_der, Duration::from_secs(120)));
    let cleaned = solver.clean_up(&challenges);
    match (result, cleaned) {
        (Ok(chain), _) => Ok(chain),
        (Err(mut e), Err(c)) => {
            e.why = format!("{}; cleaning up: {c}", e.why);
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // A CA asking for a year is capped at a month.
        assert_eq!(
            parse_retry_after("31536000", now),
            Some(now + Duration::from_secs(30 * 86_400))
        );
    }

    #[test]
    fn a_webroot_token_cannot_leave_the_root() {
        let w = Webroot(PathBuf::from("/srv/www"));
        assert_eq!(
            w.file("abc-_9").unwrap(),
            Path::new("/srv/www/.well-known/acme-challenge/abc-_9")
        );
        for bad in ["../../etc/passwd", "", "a/b", "a.b"] {
            assert!(w.file(bad).is_err(), "{bad}");
        }
    }
}
