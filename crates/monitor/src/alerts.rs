//! Alert delivery for the monitor (issue 16): a webhook receives each confirmed state change
//! as a JSON document over https, with a timestamp (`X-Mxdane-Timestamp`, seconds since 1970)
//! and an id new on every delivery (`X-Mxdane-Id`), signed with HMAC-SHA256 over
//! `TIMESTAMP.ID.BODY` (`X-Mxdane-Signature: sha256=HEX`), so that the receiver can tell it
//! from a forgery and, by refusing old timestamps and ids it has seen, from a replay of a
//! captured delivery (issue 26); an email address receives a message sent by the project's own
//! SMTP client as a DANE sender (`mxdane send`'s): DANE-verified where the recipient domain
//! publishes TLSA records, never in plaintext there. Deliveries come from the history's outbox
//! and are retried by the next rounds until they succeed (a 2xx answer, or a server that took
//! the message) or ten attempts failed.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde::Serialize;

/// Attempts per alert before it is given up (each round tries once).
pub const MAX_ATTEMPTS: u32 = 10;

/// The document a webhook receives.
#[derive(Clone, Debug, Serialize)]
pub struct Payload<'a> {
    /// `problem` (any change away from ok) or `recovery` (back to ok).
    pub kind: &'static str,
    /// The target's name.
    pub target: &'a str,
    /// The state before.
    pub from: &'static str,
    /// The state now.
    pub to: &'static str,
    /// When the change was confirmed (seconds since 1970).
    pub at: i64,
    /// The check's problems (empty for a recovery).
    pub problems: &'a [String],
}

/// `sha256=HEX` of HMAC-SHA256(`secret`, `message`).
pub fn signature(secret: &[u8], message: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message);
    format!("sha256={}", data_encoding::HEXLOWER.encode(tag.as_ref()))
}

/// What a webhook's signature covers: the timestamp, the delivery's id and the exact body,
/// joined by dots (`1796670899.4f0c….{"kind":…}`).
pub fn signed_content(timestamp: i64, id: &str, body: &str) -> Vec<u8> {
    format!("{timestamp}.{id}.{body}").into_bytes()
}

/// A new delivery id: 128 random bits in hex.
fn delivery_id() -> Result<String, String> {
    let mut id = [0u8; 16];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| "the system's random source failed")?;
    Ok(data_encoding::HEXLOWER.encode(&id))
}

/// Reads a webhook secret: the file's first line, which must not be empty.
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the webhook secret: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(format!("{}: the webhook secret is empty", path.display()));
    }
    Ok(line.as_bytes().to_vec())
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// Posts signed JSON documents (http or https, the system's roots).
pub struct Sender {
    client: Client,
}

impl Sender {
    /// A sender.
    pub fn new() -> Result<Self, String> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(provider)
            .map_err(|e| format!("the system's certificate roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build(connector),
        })
    }

    /// POSTs `body` to `url`, stamped with `now` and a new id, and signed; Ok on a 2xx answer
    /// within 10 s.
    pub async fn post(&self, url: &str, secret: &[u8], body: &str, now: i64) -> Result<(), String> {
        let id = delivery_id()?;
        let req = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "mxdane-monitor")
            .header("X-Mxdane-Timestamp", now.to_string())
            .header("X-Mxdane-Id", &id)
            .header(
                "X-Mxdane-Signature",
                signature(secret, &signed_content(now, &id, body)),
            )
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| format!("{url}: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(10), self.client.request(req)).await {
            Err(_) => Err(format!("{url}: no answer within 10 s")),
            Ok(Err(e)) => Err(format!("{url}: {e}")),
            Ok(Ok(r)) if r.status().is_success() => Ok(()),
            Ok(Ok(r)) => Err(format!("{url}: HTTP {}", r.status())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(signed_content(17, "ab", "{}"), b"17.ab.{}");
    }

    #[test]
    fn every_delivery_id_is_new_and_every_instance_has_its_own_owner() {
        let (a, b) = (delivery_id().unwrap(), delivery_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let owner = instance_owner();
        let parts: Vec<&str> = owner.split(':').collect();
        assert_eq!(parts.len(), 3, "{owner}");
        assert_eq!(parts[0], hostname());
        assert_eq!(parts[1], std::process::id().to_string());
        assert!(parts[2].len() == 16 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(instance_owner(), owner, "one id for the process's life");
    }
}

/// Where an alert goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A webhook (the outbox names it by its URL) and its secret.
    Webhook(Vec<u8>),
    /// An email address (the outbox names it `mailto:ADDRESS`) and the sender address.
    Email {
        /// The recipient.
        to: String,
        /// The sender.
        from: String,
    },
}

/// This machine's name (for EHLO and the default sender address).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        })
        .unwrap_or_else(|| "localhost".into())
}

/// This process's name in a fleet's lease tables: the host name, the process id and a random
/// instance id drawn at start, so that two containers that are both pid 1 on hosts of one
/// name (or a restart that reuses a pid) never hold each other's leases. The same value for
/// the process's whole life.
pub fn instance_owner() -> String {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER
        .get_or_init(|| {
            let mut id = [0u8; 8];
            // The system's random source; should it ever fail, the clock's nanoseconds still
            // tell two instances apart far better than nothing.
            if aws_lc_rs::rand::fill(&mut id).is_err() {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                id = (nanos as u64).to_be_bytes();
            }
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}:{}:{hex}", hostname(), std::process::id())
        })
        .clone()
}

/// The email for an alert whose webhook document is `payload` (RFC 5322; marked as
/// automatically generated, RFC 3834).
pub fn message(to: &str, from: &str, payload: &str, id: i64) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let field = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
    let target = field("target");
    let at = v["at"].as_i64().unwrap_or(0);
    let subject = if field("kind") == "recovery" {
        format!(
            "[mxdane] {target} recovered: {} (was {})",
            field("to"),
            field("from")
        )
    } else {
        format!(
            "[mxdane] {target} is {} (was {})",
            field("to"),
            field("from")
        )
    };
    let date = time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .unwrap_or_default();
    let mut body = format!("{subject}\n\n");
    for p in v["problems"].as_array().into_iter().flatten() {
        body.push_str(&format!("- {}\n", p.as_str().unwrap_or("")));
    }
    body.push_str(&format!("\n{payload}\n"));
    format!(
        "From: <{from}>\nTo: <{to}>\nSubject: {subject}\nDate: {date}\nMessage-ID: <alert-{id}-{at}@{}>\nAuto-Submitted: auto-generated\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}",
        hostname()
    )
    .into_bytes()
}

/// Sends an alert by email; on success, the log line of the session that delivered it.
pub async fn email(
    env: &mxdane_check::Environment,
    to: &str,
    from: &str,
    payload: &str,
    id: i64,
) -> Result<String, String> {
    let envelope =
        mxdane_smtp::Envelope::new(from, &[to.to_owned()], &message(to, from, payload, id))?;
    let domain = to.rsplit_once('@').map_or("", |(_, d)| d);
    let settings = mxdane_smtp::Settings {
        step: Duration::from_secs(30),
        total: Duration::from_secs(120),
        ..mxdane_smtp::Settings::default()
    };
    let d = mxdane_smtp::deliver::deliver(
        env.resolver.as_ref(),
        &env.connector,
        &envelope,
        domain,
        &hostname(),
        settings,
        &mxdane_smtp::deliver::TlsPolicy::Dane,
    )
    .await;
    let log: Vec<String> = d
        .attempts
        .iter()
        .map(mxdane_smtp::deliver::Attempt::log_line)
        .collect();
    match d.outcome {
        mxdane_smtp::deliver::Outcome::Delivered(_) => Ok(log.last().cloned().unwrap_or_default()),
        mxdane_smtp::deliver::Outcome::Deferred(why)
        | mxdane_smtp::deliver::Outcome::Bounced(why) => Err(format!("{why} ({})", log.join("; "))),
    }
}
