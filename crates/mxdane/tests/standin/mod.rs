//! A STAND-IN ACME server (RFC 8555), in process, plugged into instant-acme as its HTTP
//! client. It exists for the error paths a real server cannot be made to produce on demand:
//! a rate limit with Retry-After, an order that turns invalid, a certificate for a key nobody
//! asked for, an account the CA forgot, a renewal window (RFC 9773), a new intermediate.
//!
//! It is not a CA to trust: it does not verify JWS signatures. It does check what matters to
//! the client under test: the challenge answers (http-01 fetched from the client's listener,
//! dns-01 asked of every authoritative server through `dns_check`), with the key
//! authorization computed from the account key's JWK thumbprint (RFC 7638). Pebble, a real
//! server, covers the honest paths in the external tier.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use data_encoding::BASE64URL_NOPAD;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use mxdane_lab::certs::{CertSpec, TestCert, sign_csr};
use serde_json::{Value, json};

const BASE: &str = "https://ca.standin.test";

/// Checks a dns-01 answer: (owner, expected TXT value) -> served by every server.
pub(crate) type DnsCheck = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

struct Order {
    status: &'static str,
    names: Vec<String>,
    authzs: Vec<String>,
    cert: Option<String>,
    account: String,
}

struct Authz {
    status: &'static str,
    name: String,
    token: String,
    order: String,
}

/// What the stand-in knows and the knobs a test turns.
pub(crate) struct State {
    next: u64,
    /// Account URL -> JWK thumbprint.
    accounts: BTreeMap<String, String>,
    orders: BTreeMap<String, Order>,
    authzs: BTreeMap<String, Authz>,
    certs: BTreeMap<String, String>,
    /// The issuing intermediate (replace it for "a new intermediate").
    pub(crate) issuer: TestCert,
    /// newOrder answers `rateLimited` with this Retry-After this many times.
    pub(crate) rate_limited: u32,
    pub(crate) retry_after_secs: u64,
    /// The next challenges fail (the order becomes invalid) this many times.
    pub(crate) fail_challenges: u32,
    /// The next certificate is for a key the CSR did not name.
    pub(crate) wrong_key: bool,
    /// The renewal window offered (RFC 3339 start, end); None: no ARI in the directory.
    pub(crate) ari: Option<(String, String)>,
    /// Counters and a log of what happened.
    pub(crate) new_orders: u32,
    pub(crate) new_accounts: u32,
    pub(crate) log: Vec<String>,
    /// Where http-01 answers are fetched (the client's listener).
    pub(crate) http01: Option<SocketAddr>,
    pub(crate) dns_check: Option<DnsCheck>,
}

/// The stand-in; clones share one state.
#[derive(Clone)]
pub(crate) struct StandIn(pub(crate) Arc<Mutex<State>>);

impl StandIn {
    pub(crate) fn new(issuer: TestCert) -> Self {
        Self(Arc::new(Mutex::new(State {
            next: 1,
            accounts: BTreeMap::new(),
            orders: BTreeMap::new(),
            authzs: BTreeMap::new(),
            certs: BTreeMap::new(),
            issuer,
            rate_limited: 0,
            retry_after_secs: 0,
            fail_challenges: 0,
            wrong_key: false,
            ari: None,
            new_orders: 0,
            new_accounts: 0,
            log: Vec::new(),
            http01: None,
            dns_check: None,
        })))
    }

    pub(crate) fn directory() -> String {
        format!("{BASE}/dir")
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// Forgets every account (as Pebble does when it restarts).
    pub(crate) fn forget_accounts(&self) {
        self.state().accounts.clear();
    }

    /// A factory for `mxdane::issuance::run`.
    pub(crate) fn factory(&self) -> impl Fn() -> Result<Box<dyn HttpClient>, String> + use<> {
        let me = self.clone();
        move || Ok(Box::new(me.clone()) as Box<dyn HttpClient>)
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> BytesResponse {
    let mut b = http::Response::builder()
        .status(status)
        .header("Replay-Nonce", "standin-nonce");
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    BytesResponse {
        parts,
        body: Box::new(Bytes::from(body)),
    }
}

fn json_reply(status: u16, location: Option<String>, v: &Value) -> BytesResponse {
    let mut h = vec![("Content-Type", "application/json".to_owned())];
    if let Some(l) = location {
        h.push(("Location", l));
    }
    reply(status, &h, serde_json::to_vec(v).unwrap())
}

fn problem(status: u16, kind: &str, detail: &str, retry_after: Option<u64>) -> BytesResponse {
    let mut h = vec![("Content-Type", "application/problem+json".to_owned())];
    if let Some(s) = retry_after {
        h.push(("Retry-After", s.to_string()));
    }
    reply(
        status,
        &h,
        serde_json::to_vec(&json!({
            "type": format!("urn:ietf:params:acme:error:{kind}"),
            "detail": detail,
            "status": status,
        }))
        .unwrap(),
    )
}

fn b64json(s: &str) -> Value {
    BASE64URL_NOPAD
        .decode(s.as_bytes())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// RFC 7638 thumbprint of an EC JWK.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap_or(""),
        jwk["kty"].as_str().unwrap_or(""),
        jwk["x"].as_str().unwrap_or(""),
        jwk["y"].as_str().unwrap_or("")
    );
    BASE64URL_NOPAD.encode(&sha256(canonical.as_bytes()))
}

impl State {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn order_json(&self, url: &str) -> Value {
        let o = &self.orders[url];
        let n = url.rsplit('/').next().unwrap_or("");
        let mut v = json!({
            "status": o.status,
            "identifiers": o.names.iter().map(|n| json!({"type": "dns", "value": n})).collect::<Vec<_>>(),
            "authorizations": o.authzs,
            "finalize": format!("{BASE}/finalize/{n}"),
        });
        if let Some(c) = &o.cert {
            v["certificate"] = json!(c);
        }
        if o.status == "invalid" {
            v["error"] = json!({"type": "urn:ietf:params:acme:error:unauthorized", "detail": "the challenge answer was wrong"});
        }
        v
    }

    fn authz_json(&self, url: &str) -> Value {
        let a = &self.authzs[url];
        let n = url.rsplit('/').next().unwrap_or("");
        let ch_status = match a.status {
            "valid" => "valid",
            "invalid" => "invalid",
            _ => "pending",
        };
        json!({
            "status": a.status,
            "identifier": {"type": "dns", "value": a.name},
            "challenges": [
                {"type": "http-01", "url": format!("{BASE}/chall/{n}/http-01"), "token": a.token, "status": ch_status},
                {"type": "dns-01", "url": format!("{BASE}/chall/{n}/dns-01"), "token": a.token, "status": ch_status},
            ],
        })
    }

    /// Recomputes an order's status from its authorizations.
    fn settle(&mut self, order: &str) {
        let statuses: Vec<&str> = self.orders[order]
            .authzs
            .iter()
            .map(|a| self.authzs[a].status)
            .collect();
        let o = self.orders.get_mut(order).unwrap();
        if o.status != "pending" {
            return;
        }
        if statuses.contains(&"invalid") {
            o.status = "invalid";
        } else if statuses.iter().all(|s| *s == "valid") {
            o.status = "ready";
        }
    }
}

/// What a challenge POST needs checked, computed under the lock.
enum Check {
    None,
    Http {
        at: SocketAddr,
        token: String,
        want: String,
    },
    Dns {
        owner: String,
        want: String,
    },
}

async fn fetch_http01(at: SocketAddr, token: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(at).await.ok()?;
    s.write_all(
        format!("GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await
    .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8(buf).ok()?;
    text.starts_with("HTTP/1.1 200")
        .then(|| text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
}

impl HttpClient for StandIn {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let me = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            let path = parts.uri.path().to_owned();
            let jws: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let protected = b64json(jws["protected"].as_str().unwrap_or(""));
            let payload = b64json(jws["payload"].as_str().unwrap_or(""));
            let kid = protected["kid"].as_str().unwrap_or("").to_owned();
            // A challenge may need a look at the client's answer, outside the lock.
            let check = {
                let mut s = me.state();
                if let Some(r) =
                    me.handle_locked(&mut s, &parts.method, &path, &protected, &payload, &kid)
                {
                    return Ok(r);
                }
                me.challenge_check(&mut s, &path, &kid)
            };
            let ok = match &check {
                Check::None => true,
                Check::Http { at, token, want } => {
                    fetch_http01(*at, token).await.as_deref() == Some(want.as_str())
                }
                Check::Dns { owner, want } => {
                    let (owner, want) = (owner.clone(), want.clone());
                    let me2 = me.clone();
                    tokio::task::spawn_blocking(move || {
                        let s = me2.state();
                        s.dns_check.as_ref().is_some_and(|f| f(&owner, &want))
                    })
                    .await
                    .unwrap_or(false)
                }
            };
            let mut s = me.state();
            Ok(me.challenge_done(&mut s, &path, ok))
        })
    }
}

impl StandIn {
    #[allow(clippy::too_many_lines)]
    fn handle_locked(
        &self,
        s: &mut State,
        method: &http::Method,
        path: &str,
        protected: &Value,
        payload: &Value,
        kid: &str,
    ) -> Option<BytesResponse> {
        if path == "/dir" {
            let mut d = json!({
                "newNonce": format!("{BASE}/nonce"),
                "newAccount": format!("{BASE}/acct-new"),
                "newOrder": format!("{BASE}/order-new"),
                "revokeCert": format!("{BASE}/revoke"),
                "keyChange": format!("{BASE}/key-change"),
            });
            if s.ari.is_some() {
                d["renewalInfo"] = json!(format!("{BASE}/ari"));
            }
            return Some(json_reply(200, None, &d));
        }
        if path == "/nonce" {
            return Some(reply(200, &[], Vec::new()));
        }
        if let Some(id) = path.strip_prefix("/ari/") {
            s.log.push(format!("renewal info for {id}"));
            let (start, end) = s.ari.clone()?;
            let mut r = json_reply(
                200,
                None,
                &json!({"suggestedWindow": {"start": start, "end": end}}),
            );
            r.parts
                .headers
                .insert("Retry-After", http::HeaderValue::from_static("21600"));
            return Some(r);
        }
        if *method != http::Method::POST {
            return Some(problem(405, "malformed", "POST only", None));
        }
        if path == "/acct-new" {
            let n = s.id();
            let url = format!("{BASE}/acct/{n}");
            s.accounts
                .insert(url.clone(), thumbprint(&protected["jwk"]));
            s.new_accounts += 1;
            s.log.push("new account".into());
            return Some(json_reply(201, Some(url), &json!({"status": "valid"})));
        }
        if !s.accounts.contains_key(kid) {
            return Some(problem(400, "accountDoesNotExist", "no such account", None));
        }
        if path.starts_with("/acct/") {
            return Some(json_reply(200, None, &json!({"status": "valid"})));
        }
        if path == "/order-new" {
            if s.rate_limited > 0 {
                s.rate_limited -= 1;
                s.log.push("newOrder: rate limited".into());
                let secs = s.retry_after_secs;
                return Some(problem(
                    429,
                    "rateLimited",
                    "too many new orders recently",
                    Some(secs),
                ));
            }
            s.new_orders += 1;
            let n = s.id();
            let order_url = format!("{BASE}/order/{n}");
            let names: Vec<String> = payload["identifiers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["value"].as_str().map(str::to_owned))
                .collect();
            let mut authzs = Vec::new();
            for name in &names {
                let a = s.id();
                let url = format!("{BASE}/authz/{a}");
                s.authzs.insert(
                    url.clone(),
                    Authz {
                        status: "pending",
                        name: name.clone(),
                        token: format!("token{a}-abc_DEF"),
                        order: order_url.clone(),
                    },
                );
                authzs.push(url);
            }
            s.orders.insert(
                order_url.clone(),
                Order {
                    status: "pending",
                    names,
                    authzs,
                    cert: None,
                    account: kid.to_owned(),
                },
            );
            s.log.push(format!("new order {order_url}"));
            let v = s.order_json(&order_url);
            return Some(json_reply(201, Some(order_url), &v));
        }
        if path.starts_with("/order/") {
            let url = format!("{BASE}{path}");
            if !s.orders.contains_key(&url) {
                return Some(problem(404, "malformed", "no such order", None));
            }
            return Some(json_reply(200, None, &s.order_json(&url)));
        }
        if path.starts_with("/authz/") {
            let url = format!("{BASE}{path}");
            if !s.authzs.contains_key(&url) {
                return Some(problem(404, "malformed", "no such authorization", None));
            }
            return Some(json_reply(200, None, &s.authz_json(&url)));
        }
        if let Some(n) = path.strip_prefix("/finalize/") {
            let url = format!("{BASE}/order/{n}");
            let Some(o) = s.orders.get(&url) else {
                return Some(problem(404, "malformed", "no such order", None));
            };
            if o.status != "ready" {
                return Some(problem(403, "orderNotReady", "not ready", None));
            }
            let csr = BASE64URL_NOPAD
                .decode(payload["csr"].as_str().unwrap_or("").as_bytes())
                .unwrap_or_default();
            let leaf = if s.wrong_key {
                s.wrong_key = false;
                let names: Vec<&str> = o.names.iter().map(String::as_str).collect();
                CertSpec::leaf(&names)
                    .key_slot(77)
                    .signed_by(&s.issuer)
                    .pem()
            } else {
                match sign_csr(&csr, &s.issuer, 90) {
                    Ok(p) => p,
                    Err(e) => return Some(problem(400, "badCSR", &e, None)),
                }
            };
            let chain = leaf + &s.issuer.pem();
            let cert_url = format!("{BASE}/cert/{n}");
            s.certs.insert(cert_url.clone(), chain);
            let o = s.orders.get_mut(&url).unwrap();
            o.status = "valid";
            o.cert = Some(cert_url);
            s.log.push(format!("finalized {url}"));
            return Some(json_reply(200, Some(url.clone()), &s.order_json(&url)));
        }
        if path.starts_with("/cert/") {
            let url = format!("{BASE}{path}");
            let chain = s.certs.get(&url)?.clone();
            return Some(reply(
                200,
                &[("Content-Type", "application/pem-certificate-chain".into())],
                chain.into_bytes(),
            ));
        }
        if path.starts_with("/chall/") {
            return None;
        }
        Some(problem(
            404,
            "malformed",
            &format!("no such resource {path}"),
            None,
        ))
    }

    fn challenge_check(&self, s: &mut State, path: &str, kid: &str) -> Check {
        let mut it = path.trim_start_matches("/chall/").split('/');
        let (Some(n), Some(kind)) = (it.next(), it.next()) else {
            return Check::None;
        };
        let url = format!("{BASE}/authz/{n}");
        let Some(a) = s.authzs.get(&url) else {
            return Check::None;
        };
        if a.status != "pending" {
            return Check::None;
        }
        let thumb = s.accounts.get(kid).cloned().unwrap_or_default();
        let key_auth = format!("{}.{thumb}", a.token);
        match kind {
            "http-01" => match s.http01 {
                Some(at) => Check::Http {
                    at,
                    token: a.token.clone(),
                    want: key_auth,
                },
                None => Check::None,
            },
            _ => Check::Dns {
                owner: format!("_acme-challenge.{}.", a.name),
                want: BASE64URL_NOPAD.encode(&sha256(key_auth.as_bytes())),
            },
        }
    }

    fn challenge_done(&self, s: &mut State, path: &str, answered: bool) -> BytesResponse {
        let mut it = path.trim_start_matches("/chall/").split('/');
        let (Some(n), Some(kind)) = (it.next(), it.next()) else {
            return problem(404, "malformed", "no such challenge", None);
        };
        let url = format!("{BASE}/authz/{n}");
        let Some(a) = s.authzs.get(&url) else {
            return problem(404, "malformed", "no such challenge", None);
        };
        let (token, order) = (a.token.clone(), a.order.clone());
        if a.status == "pending" {
            let fail = if s.fail_challenges > 0 {
                s.fail_challenges -= 1;
                true
            } else {
                !answered
            };
            s.log.push(format!(
                "{kind} for {}: {}",
                a.name,
                if fail { "invalid" } else { "valid" }
            ));
            if let Some(a) = s.authzs.get_mut(&url) {
                a.status = if fail { "invalid" } else { "valid" };
            }
            s.settle(&order);
        }
        let status = s.authzs[&url].status;
        json_reply(
            200,
            None,
            &json!({"type": kind, "url": format!("{BASE}{path}"), "token": token, "status": status}),
        )
    }
}
