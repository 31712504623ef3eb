//! Delivering one message as a DANE sender does (RFC 7672 section 2.2), under one of
//! Postfix's TLS security levels ([`TlsPolicy`]): the recipient domain's plan, its MX hosts in
//! order, each under the session policy the level and the plan give it; never plaintext and
//! never an unauthenticated server where the level forbids it. Each recipient ends on its own:
//! delivered (the server's reply to the message), bounced (a 5xx to it, or to the whole
//! transaction) or deferred (a 4xx, a failed session, a failed DANE check: the next address
//! and host are tried first). mxdane's monitor (email alerts) and `mxdane send` use it.

use std::collections::HashMap;
use std::net::SocketAddr;

use mxdane_dns::plan::{self, Decision, HostPlan, Outcome as PlanOutcome, Request};
use mxdane_dns::{Name, Resolver};
use mxdane_tls::{DaneTarget, KeyFilter};
use mxdane_tlsa::{MatchingType, Selector, Tlsa, Usage};

use crate::session::{Connector, Envelope, Policy, SessionReport, Settings, Stage};
use crate::{Reply, Security, SmtpError};

/// The DANE target of a planned host: its TLSA records and reference identifiers (the TLSA
/// base domain first; the host's name when there are none), offering `filter`'s keys.
pub fn dane_target(h: &HostPlan, filter: KeyFilter) -> Option<DaneTarget> {
    let mut names: Vec<Name> = h.reference_ids.to_vec();
    if names.is_empty() {
        names.push(h.name.clone());
    }
    Some(
        DaneTarget::new(h.tlsa.clone(), names)
            .ok()?
            .key_filter(filter),
    )
}

/// Postfix's TLS security levels (`smtp_tls_security_level`, TLS_README), with their
/// meanings. `verify` and `secure` (WebPKI) are not offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsPolicy {
    /// No TLS, even when offered.
    None,
    /// Opportunistic TLS: TLS when offered, unauthenticated; plaintext when not offered, and
    /// again in plaintext on a new connection when the handshake fails.
    May,
    /// Mandatory TLS, unauthenticated.
    Encrypt,
    /// Opportunistic DANE (RFC 7672): DANE where usable TLSA records are published (never
    /// plaintext then), mandatory TLS where secure records are all unusable, `may` elsewhere;
    /// a host whose TLSA lookup fails is not used.
    Dane,
    /// Mandatory DANE: only hosts with usable TLSA records, always authenticated.
    DaneOnly,
    /// Mandatory TLS, the server's certificate or public key matching one of these SHA-256
    /// digests (names and dates are not checked, as in Postfix).
    Fingerprint(Vec<[u8; 32]>),
}

impl TlsPolicy {
    /// Postfix's name for it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::May => "may",
            Self::Encrypt => "encrypt",
            Self::Dane => "dane",
            Self::DaneOnly => "dane-only",
            Self::Fingerprint(_) => "fingerprint",
        }
    }

    /// A level by Postfix's name; `fingerprint` needs `matches` (SHA-256 digests in hex, with
    /// or without colons, as Postfix's `match=` attribute writes them).
    pub fn parse(name: &str, matches: &[String]) -> Result<Self, String> {
        let p = match name.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "may" => Self::May,
            "encrypt" => Self::Encrypt,
            "dane" => Self::Dane,
            "dane-only" => Self::DaneOnly,
            "fingerprint" => {
                let pins = matches
                    .iter()
                    .map(|m| pin(m))
                    .collect::<Result<Vec<_>, _>>()?;
                if pins.is_empty() {
                    return Err("fingerprint needs at least one SHA-256 digest (match=...)".into());
                }
                Self::Fingerprint(pins)
            }
            "verify" | "secure" => {
                return Err(format!(
                    "the TLS level {name:?} (WebPKI) is not supported; use dane, dane-only, fingerprint, encrypt, may or none"
                ));
            }
            other => {
                return Err(format!(
                    "unknown TLS level {other:?}; expected none, may, encrypt, dane, dane-only or fingerprint"
                ));
            }
        };
        if !matches!(p, Self::Fingerprint(_)) && !matches.is_empty() {
            return Err(format!("match= applies to fingerprint, not to {name}"));
        }
        Ok(p)
    }
}

/// A SHA-256 digest in hex, with or without colons.
fn pin(text: &str) -> Result<[u8; 32], String> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    data_encoding::HEXUPPER_PERMISSIVE
        .decode(hex.as_bytes())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| format!("{text:?} is not a SHA-256 digest (64 hex digits)"))
}

/// One session of a delivery.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The MX host.
    pub host: String,
    /// The address.
    pub address: SocketAddr,
    /// The level the session ran under (`dane`, `dane-only`, `fingerprint`, `encrypt`,
    /// `may`, `none`), as the host's policy made it.
    pub policy: &'static str,
    /// The protection the session had.
    pub security: Security,
    /// The TLS version and cipher, when there was TLS.
    pub tls: Option<(String, String)>,
    /// Why this session did not deliver to every recipient it carried.
    pub error: Option<String>,
}

impl Attempt {
    /// `mx.example[192.0.2.1]:25`.
    pub fn relay(&self) -> String {
        relay(&self.host, self.address)
    }

    /// The session in the words of Postfix's log: `Verified TLS connection established to
    /// mx.example[192.0.2.1]:25: TLSv1_3 with cipher ...`, `Untrusted ...`, or the plaintext
    /// and failure cases.
    pub fn log_line(&self) -> String {
        let at = self.relay();
        match (&self.tls, self.security) {
            (Some((v, c)), Security::Authenticated) => {
                format!("Verified TLS connection established to {at}: {v} with cipher {c}")
            }
            (Some((v, c)), _) => {
                format!("Untrusted TLS connection established to {at}: {v} with cipher {c}")
            }
            (None, _) => match &self.error {
                Some(e) => format!("{at}: {e}"),
                None => format!("plaintext connection to {at}"),
            },
        }
    }
}

fn relay(host: &str, address: SocketAddr) -> String {
    format!(
        "{}[{}]:{}",
        host.trim_end_matches('.'),
        address.ip(),
        address.port()
    )
}

/// How a recipient ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A server took the message for it.
    Sent,
    /// The server would take it (`--dry-run`: nothing was sent).
    Deliverable,
    /// Try again later.
    Deferred,
    /// It can never be delivered.
    Bounced,
}

impl Status {
    /// Postfix's word: `sent`, `deliverable`, `deferred`, `bounced`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Deliverable => "deliverable",
            Self::Deferred => "deferred",
            Self::Bounced => "bounced",
        }
    }
}

/// One recipient's end.
#[derive(Clone, Debug)]
pub struct RecipientResult {
    /// The address.
    pub address: String,
    /// How it ended.
    pub status: Status,
    /// The server that decided it (`mx.example[192.0.2.1]:25`), if one did.
    pub relay: Option<String>,
    /// The enhanced status code (RFC 3463), from the reply or the kind of end.
    pub dsn: String,
    /// The reply or the reason, in words.
    pub why: String,
}

impl RecipientResult {
    /// Postfix's log line: `to=<a@example>, relay=mx.example[192.0.2.1]:25, dsn=2.0.0,
    /// status=sent (250 2.0.0 queued)`.
    pub fn log_line(&self) -> String {
        format!(
            "to=<{}>, relay={}, dsn={}, status={} ({})",
            self.address,
            self.relay.as_deref().unwrap_or("none"),
            self.dsn,
            self.status.name(),
            self.why
        )
    }
}

/// How a delivery ended, as one word (the monitor's alerts need no more).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every recipient was sent (or is deliverable): the last server's reply.
    Delivered(Reply),
    /// Some recipient is to be tried again later: why.
    Deferred(String),
    /// Every recipient bounced: why.
    Bounced(String),
}

/// A delivery: every session tried, each recipient's end, and the outcome.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The sessions, in order.
    pub attempts: Vec<Attempt>,
    /// Each recipient, in the envelope's order.
    pub recipients: Vec<RecipientResult>,
    /// The outcome.
    pub outcome: Outcome,
}

/// The enhanced status code of a reply (its first word when it looks like one), or `class`.0.0.
fn dsn(reply: &Reply) -> String {
    reply
        .lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .filter(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map_or_else(|| format!("{}.0.0", reply.code / 100), str::to_owned)
}

/// `host mx[ip] said: 550 5.1.1 ... (in reply to RCPT TO command)`, as Postfix says it.
fn said(at: &str, reply: &Reply, stage: Stage) -> String {
    format!(
        "host {at} said: {} (in reply to {} command)",
        reply.summary(),
        stage.name()
    )
}

/// The session policy for `h` under `level`, and the level's name for the attempt; `Err`
/// with the reason when the level does not allow this host.
/// Whether `level` uses TLSA records at all (`dane`, `dane-only`); the others, as in Postfix,
/// never look at them, so a failed or bogus TLSA lookup does not stop them.
fn uses_tlsa(level: &TlsPolicy) -> bool {
    matches!(level, TlsPolicy::Dane | TlsPolicy::DaneOnly)
}

/// Whether a host the plan skipped for its TLSA lookup alone (its addresses were found, none
/// bogus) can still take mail under a level that ignores TLSA.
fn skipped_for_tlsa_only(h: &HostPlan) -> bool {
    h.decision == Decision::Skip && h.tlsa_base.is_some() && !h.addresses.is_empty()
}

fn session_policy(h: &HostPlan, level: &TlsPolicy) -> Result<(Policy, &'static str), String> {
    let name = || h.name.as_str().trim_end_matches('.').to_owned();
    if !uses_tlsa(level) && h.decision == Decision::Skip && !skipped_for_tlsa_only(h) {
        return Err(format!("{}: {}", name(), h.reason));
    }
    let plain_target = || {
        DaneTarget::new(Vec::new(), vec![h.name.clone()]).map_err(|e| format!("{}: {e}", name()))
    };
    match level {
        TlsPolicy::Dane => {
            if h.decision == Decision::Skip {
                return Err(format!("{}: {}", name(), h.reason));
            }
            let t = dane_target(h, KeyFilter::Any)
                .ok_or_else(|| format!("{} is not a usable TLS name", name()))?;
            Ok(match h.decision {
                Decision::Dane => (Policy::Dane(t), "dane"),
                Decision::TlsMandatory => (Policy::Encrypt(t), "encrypt"),
                _ => (Policy::May(t), "may"),
            })
        }
        TlsPolicy::DaneOnly => {
            if h.decision != Decision::Dane {
                return Err(format!(
                    "{}: no usable TLSA records, and the policy is dane-only ({})",
                    name(),
                    h.reason
                ));
            }
            let t = dane_target(h, KeyFilter::Any)
                .ok_or_else(|| format!("{} is not a usable TLS name", name()))?;
            Ok((Policy::Dane(t), "dane-only"))
        }
        TlsPolicy::Fingerprint(pins) => {
            // A pin is a DANE-EE record of the certificate or of its key: the DANE verifier
            // matches them exactly as Postfix matches fingerprints (no names, no dates).
            let records = pins
                .iter()
                .flat_map(|p| {
                    [Selector::Cert, Selector::Spki]
                        .map(|s| Tlsa::new(Usage::DaneEe, s, MatchingType::Sha256, p.to_vec()))
                })
                .collect();
            let t = DaneTarget::new(records, vec![h.name.clone()])
                .map_err(|e| format!("{}: {e}", name()))?;
            Ok((Policy::Dane(t), "fingerprint"))
        }
        TlsPolicy::Encrypt => Ok((Policy::Encrypt(plain_target()?), "encrypt")),
        TlsPolicy::May => Ok((Policy::May(plain_target()?), "may")),
        TlsPolicy::None => Ok((Policy::None, "none")),
    }
}

/// Delivers `envelope` (its recipients all in `recipient_domain`) under `level`, looking up
/// through `resolver` (which must validate: its statuses decide DANE) and connecting through
/// `connector`, saying `helo`.
pub async fn deliver(
    resolver: &dyn Resolver,
    connector: &Connector,
    envelope: &Envelope,
    recipient_domain: &str,
    helo: &str,
    settings: Settings,
    level: &TlsPolicy,
) -> Delivery {
    let mut d = Delivery {
        attempts: Vec::new(),
        recipients: Vec::new(),
        outcome: Outcome::Deferred(String::new()),
    };
    let mut pending: Vec<String> = envelope.recipients().to_vec();
    let mut last = String::new();
    let mut last_reply: Option<Reply> = None;
    let mut latest: HashMap<String, RecipientResult> = HashMap::new();
    let all = |d: &mut Delivery, pending: &mut Vec<String>, status: Status, why: &str| {
        let code = if status == Status::Bounced {
            "5.0.0"
        } else {
            "4.0.0"
        };
        for a in pending.drain(..) {
            d.recipients.push(RecipientResult {
                address: a,
                status,
                relay: None,
                dsn: code.into(),
                why: why.to_owned(),
            });
        }
    };
    let destination = match Name::try_parse(recipient_domain) {
        Ok(n) => n,
        Err(_) => {
            let why = format!("{recipient_domain:?} is not a domain name");
            all(&mut d, &mut pending, Status::Bounced, &why);
            return finish(d, envelope, &why);
        }
    };
    let request = Request {
        destination,
        port: 25,
        kind: mxdane_dns::plan::Kind::Domain,
    };
    let p = plan::plan(resolver, &request).await;
    match p.outcome {
        PlanOutcome::Deliverable => {}
        // Every host skipped for its TLSA lookup alone: the levels that ignore TLSA go on.
        PlanOutcome::Defer if !uses_tlsa(level) && p.hosts.iter().any(skipped_for_tlsa_only) => {}
        PlanOutcome::Defer => {
            all(&mut d, &mut pending, Status::Deferred, &p.reason);
            return finish(d, envelope, &p.reason);
        }
        PlanOutcome::NoSuchDomain | PlanOutcome::NullMx => {
            all(&mut d, &mut pending, Status::Bounced, &p.reason);
            return finish(d, envelope, &p.reason);
        }
    }
    last.clone_from(&p.reason);
    'hosts: for h in &p.hosts {
        let (policy, label) = match session_policy(h, level) {
            Ok(x) => x,
            Err(why) => {
                last = why;
                continue;
            }
        };
        for a in &h.addresses {
            let address = SocketAddr::new(a.ip, 25);
            let carried = envelope.for_recipients(&pending);
            let mut s =
                crate::transfer(connector, address, &policy, helo, settings, Some(&carried)).await;
            d.attempts.push(attempt(h, address, label, &s));
            // Postfix's `may`: a failed handshake is retried in plaintext, on a new
            // connection (never under the levels that require TLS).
            if s.plaintext_retry_allowed && matches!(policy, Policy::May(_)) {
                s = crate::transfer(
                    connector,
                    address,
                    &Policy::None,
                    helo,
                    settings,
                    Some(&carried),
                )
                .await;
                d.attempts.push(attempt(h, address, "may", &s));
            }
            let at = relay(h.name.as_str(), address);
            settle(&mut d, &mut pending, &s, &at, &mut last, &mut latest);
            if s.accepted.is_some() {
                last_reply.clone_from(&s.accepted);
            }
            if pending.is_empty() {
                break 'hosts;
            }
        }
    }
    // What is left is deferred, each with its own last failure when a session met one.
    let left: Vec<String> = pending
        .iter()
        .filter(|a| latest.contains_key(*a))
        .cloned()
        .collect();
    for a in left {
        pending.retain(|p| *p != a);
        if let Some(r) = latest.remove(&a) {
            d.recipients.push(r);
        }
    }
    all(&mut d, &mut pending, Status::Deferred, &last);
    if let Some(r) = last_reply
        && d.recipients.iter().all(|r| r.status == Status::Sent)
    {
        d.outcome = Outcome::Delivered(r);
        order(&mut d, envelope);
        return d;
    }
    finish(d, envelope, &last)
}

fn attempt(h: &HostPlan, address: SocketAddr, label: &'static str, s: &SessionReport) -> Attempt {
    Attempt {
        host: h.name.to_string(),
        address,
        policy: label,
        security: s.security,
        tls: s
            .tls
            .as_ref()
            .filter(|t| !t.version.is_empty())
            .map(|t| (t.version.clone(), t.cipher.clone())),
        error: s.error.as_ref().map(ToString::to_string),
    }
}

/// Settles the recipients a session carried: each RCPT reply (5xx bounces it, 4xx leaves it
/// pending), then the message's end (accepted: the taken ones are sent or, with a dry run,
/// deliverable); a permanent error to the whole transaction bounces all; anything else
/// leaves them pending for the next host.
/// `latest` keeps each pending recipient's most recent temporary failure, so a deferral says
/// what its own last attempt met (a 4xx to it, or the session's failure).
fn settle(
    d: &mut Delivery,
    pending: &mut Vec<String>,
    s: &SessionReport,
    at: &str,
    last: &mut String,
    latest: &mut HashMap<String, RecipientResult>,
) {
    let result = |address: &str, status, dsn: String, why: String| RecipientResult {
        address: address.to_owned(),
        status,
        relay: Some(at.to_owned()),
        dsn,
        why,
    };
    let taken = |a: &str| {
        s.recipients
            .iter()
            .any(|(to, r)| to == a && r.code / 100 == 2)
    };
    let whole_transaction_failed = match &s.error {
        // RFC 5321 section 4.2.1: a 5xx to MAIL ends every recipient; to DATA or the end of
        // the message, every recipient the server had taken (the others keep their own
        // RCPT replies below).
        Some(SmtpError::Rejected(stage @ (Stage::Mail | Stage::Data), r)) if r.code / 100 == 5 => {
            let why = said(at, r, *stage);
            let mut keep = Vec::new();
            for a in pending.drain(..) {
                if *stage == Stage::Mail || taken(&a) {
                    d.recipients
                        .push(result(&a, Status::Bounced, dsn(r), why.clone()));
                } else {
                    keep.push(a);
                }
            }
            *pending = keep;
            *last = why;
            true
        }
        Some(e @ (SmtpError::TooBig { .. } | SmtpError::Utf8Unsupported)) => {
            let (code, why) = match e {
                SmtpError::TooBig { .. } => ("5.3.4", e.to_string()),
                _ => ("5.6.7", e.to_string()),
            };
            for a in pending.drain(..) {
                d.recipients.push(result(
                    &a,
                    Status::Bounced,
                    code.into(),
                    format!("{at}: {why}"),
                ));
            }
            return;
        }
        Some(e) => {
            *last = format!("{at}: {e}");
            true
        }
        None => false,
    };
    let failed = whole_transaction_failed.then(|| last.clone());
    let verified = s.error.is_none() && s.accepted.is_none() && !s.recipients.is_empty();
    let mut keep = Vec::new();
    for a in pending.drain(..) {
        let reply = s.recipients.iter().find(|(to, _)| *to == a).map(|(_, r)| r);
        match reply {
            Some(r) if r.code / 100 == 5 => {
                d.recipients.push(result(
                    &a,
                    Status::Bounced,
                    dsn(r),
                    said(at, r, Stage::Rcpt),
                ));
            }
            Some(r) if r.code / 100 == 4 => {
                *last = said(at, r, Stage::Rcpt);
                latest.insert(
                    a.clone(),
                    result(&a, Status::Deferred, dsn(r), last.clone()),
                );
                keep.push(a);
            }
            Some(r) if r.code / 100 == 2 && !whole_transaction_failed => {
                if let Some(done) = &s.accepted {
                    d.recipients
                        .push(result(&a, Status::Sent, dsn(done), done.summary()));
                } else if verified {
                    d.recipients
                        .push(result(&a, Status::Deliverable, dsn(r), r.summary()));
                } else {
                    keep.push(a);
                }
            }
            _ => {
                if let Some(why) = &failed {
                    latest.insert(
                        a.clone(),
                        result(&a, Status::Deferred, "4.0.0".into(), why.clone()),
                    );
                }
                keep.push(a);
            }
        }
    }
    *pending = keep;
}

/// Puts the recipients in the envelope's order.
fn order(d: &mut Delivery, envelope: &Envelope) {
    let rank = |a: &str| {
        envelope
            .recipients()
            .iter()
            .position(|r| r == a)
            .unwrap_or(usize::MAX)
    };
    d.recipients.sort_by_key(|r| rank(&r.address));
}

/// The outcome from the recipients' ends.
fn finish(mut d: Delivery, envelope: &Envelope, last: &str) -> Delivery {
    order(&mut d, envelope);
    let any = |s: Status| d.recipients.iter().any(|r| r.status == s);
    d.outcome = if any(Status::Deferred) {
        Outcome::Deferred(last.to_owned())
    } else if any(Status::Bounced) {
        let why = d
            .recipients
            .iter()
            .find(|r| r.status == Status::Bounced)
            .map_or_else(|| last.to_owned(), |r| r.why.clone());
        Outcome::Bounced(why)
    } else {
        Outcome::Delivered(Reply {
            code: 250,
            lines: vec![last.to_owned()],
        })
    };
    d
}
