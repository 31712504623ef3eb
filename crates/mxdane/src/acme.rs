//! ACME (RFC 8555) issuance for the rollover engine's staged keys, through instant-acme: an
//! account, an order for the service's names, http-01 answered by a small listener of our
//! own (RFC 8555 section 8.3), finalisation with the CSR of the staged key (so the
//! certificate carries the key whose record is already published), and the chain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Tokens and key authorizations the http-01 listener serves.
type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// Serves `GET /.well-known/acme-challenge/TOKEN` from `tokens` until dropped (bounded: each
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

/// Where and how to ask.
pub struct Issuer<'a> {
    /// The ACME directory URL.
    pub directory: &'a str,
    /// A PEM file of extra roots to trust for the directory (a test CA such as Pebble's).
    pub roots: Option<&'a Path>,
    /// Where the http-01 listener binds (port 80 in production).
    pub http01: SocketAddr,
}

/// Orders a certificate for `names` finalised with `csr_der` (the staged key's CSR) and returns
/// the chain in PEM. Errors name the step that failed and what the CA said.
pub async fn issue(
    issuer: &Issuer<'_>,
    names: &[String],
    csr_der: &[u8],
) -> Result<String, String> {
    let builder = match issuer.roots {
        Some(p) => Account::builder_with_root(p),
        None => Account::builder(),
    }
    .map_err(|e| format!("ACME client: {e}"))?;
    let (account, _credentials) = builder
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            issuer.directory.to_owned(),
            None,
        )
        .await
        .map_err(|e| format!("ACME account at {}: {e}", issuer.directory))?;
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| format!("ACME order: {e}"))?;
    let tokens: Tokens = Arc::default();
    let listener = tokio::net::TcpListener::bind(issuer.http01)
        .await
        .map_err(|e| format!("http-01 listener on {}: {e}", issuer.http01))?;
    let server = tokio::spawn(http01(listener, tokens.clone()));
    let result = async {
        let mut auths = order.authorizations();
        while let Some(a) = auths.next().await {
            let mut a = a.map_err(|e| format!("ACME authorization: {e}"))?;
            match a.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => return Err(format!("ACME authorization is {other:?}")),
            }
            let mut ch = a
                .challenge(ChallengeType::Http01)
                .ok_or("the CA offers no http-01 challenge")?;
            let key_auth = ch.key_authorization().as_str().to_owned();
            if let Ok(mut t) = tokens.lock() {
                t.insert(ch.token.clone(), key_auth);
            }
            ch.set_ready()
                .await
                .map_err(|e| format!("ACME challenge: {e}"))?;
        }
        let retry = RetryPolicy::new().timeout(Duration::from_secs(60));
        let status = order
            .poll_ready(&retry)
            .await
            .map_err(|e| format!("ACME order: {e}"))?;
        if status != OrderStatus::Ready {
            return Err(format!("the order is {status:?}, not ready"));
        }
        order
            .finalize_csr(csr_der)
            .await
            .map_err(|e| format!("ACME finalize: {e}"))?;
        order
            .poll_certificate(&retry)
            .await
            .map_err(|e| format!("ACME certificate: {e}"))
    }
    .await;
    server.abort();
    result
}
