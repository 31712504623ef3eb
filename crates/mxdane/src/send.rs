//! Delivering one message as a DANE sender does (RFC 7672 section 2.2): the recipient domain's
//! plan, its MX hosts in order, each under the policy the plan decided for it (DANE, TLS
//! without authentication, or opportunistic TLS); never plaintext and never an unauthenticated
//! server where DANE applies. The first host that takes the message ends the delivery; a
//! temporary failure or a failed DANE check moves on to the next address and host; a 5xx
//! reply to the transaction is final. The monitor's email alerts use it.

use std::net::SocketAddr;

use mxdane_dns::Name;
use mxdane_dns::plan::{self, Decision, Outcome as PlanOutcome, Request};
use mxdane_smtp::{Envelope, Policy, Reply, Security, Settings, SmtpError, Stage};
use mxdane_tls::KeyFilter;

use crate::check::Environment;

/// One session of a delivery.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The MX host.
    pub host: String,
    /// The address.
    pub address: SocketAddr,
    /// `dane`, `encrypt` or `may`.
    pub policy: &'static str,
    /// The protection the session had.
    pub security: Security,
    /// The TLS version and cipher, when there was TLS.
    pub tls: Option<(String, String)>,
    /// Why this session did not deliver.
    pub error: Option<String>,
}

impl Attempt {
    /// The session in the words of Postfix's log: `Verified TLS connection established to
    /// mx.example[192.0.2.1]:25: TLSv1_3 with cipher ...`, `Untrusted ...`, `Anonymous ...`,
    /// or the plaintext and failure cases.
    pub fn log_line(&self) -> String {
        let at = format!(
            "{}[{}]:{}",
            self.host.trim_end_matches('.'),
            self.address.ip(),
            self.address.port()
        );
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

/// How a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A server took the message: its reply.
    Delivered(Reply),
    /// Try again later: why.
    Deferred(String),
    /// It can never be delivered: why.
    Bounced(String),
}

/// A delivery: every session tried, and the end.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The sessions, in order.
    pub attempts: Vec<Attempt>,
    /// The end.
    pub outcome: Outcome,
}

/// Delivers `envelope` (its recipients all in one domain) through `env`, saying `helo`.
pub async fn deliver(
    env: &Environment,
    envelope: &Envelope,
    recipient_domain: &str,
    helo: &str,
    settings: Settings,
) -> Delivery {
    let mut attempts = Vec::new();
    let Ok(destination) = Name::try_parse(recipient_domain) else {
        return Delivery {
            attempts,
            outcome: Outcome::Bounced(format!("{recipient_domain:?} is not a domain name")),
        };
    };
    let request = Request {
        destination,
        port: 25,
        host: false,
    };
    let p = plan::plan(env.resolver.as_ref(), &request).await;
    match p.outcome {
        PlanOutcome::Deliverable => {}
        PlanOutcome::Defer => {
            return Delivery {
                attempts,
                outcome: Outcome::Deferred(p.reason),
            };
        }
        PlanOutcome::NoSuchDomain | PlanOutcome::NullMx => {
            return Delivery {
                attempts,
                outcome: Outcome::Bounced(p.reason),
            };
        }
    }
    let mut last = p.reason.clone();
    for h in &p.hosts {
        if h.decision == Decision::Skip {
            last = format!("{}: {}", h.name, h.reason);
            continue;
        }
        let Some(t) = crate::check::target(h, KeyFilter::Any) else {
            last = format!("{} is not a usable TLS name", h.name);
            continue;
        };
        let policy = match h.decision {
            Decision::Dane => Policy::Dane(t),
            Decision::TlsMandatory => Policy::Encrypt(t),
            _ => Policy::May(t),
        };
        for a in &h.addresses {
            let address = SocketAddr::new(a.ip, 25);
            // (Postfix would retry a `may` session whose handshake failed in plaintext; this
            // sender does not yet: that session counts as failed.)
            let s = mxdane_smtp::transfer(
                &env.connector,
                address,
                &policy,
                helo,
                settings,
                Some(envelope),
            )
            .await;
            let attempt = Attempt {
                host: h.name.to_string(),
                address,
                policy: policy.name(),
                security: s.security,
                tls: s
                    .tls
                    .as_ref()
                    .filter(|t| !t.version.is_empty())
                    .map(|t| (t.version.clone(), t.cipher.clone())),
                error: s.error.as_ref().map(ToString::to_string),
            };
            attempts.push(attempt);
            if let Some(r) = s.accepted {
                return Delivery {
                    attempts,
                    outcome: Outcome::Delivered(r),
                };
            }
            match &s.error {
                // RFC 5321 section 4.2.1: 5yz to the transaction is permanent.
                Some(SmtpError::Rejected(Stage::Mail | Stage::Rcpt | Stage::Data, r))
                    if r.code / 100 == 5 =>
                {
                    return Delivery {
                        attempts,
                        outcome: Outcome::Bounced(format!("{address}: {}", r.summary())),
                    };
                }
                Some(e) => last = format!("{}[{}]: {e}", h.name, a.ip),
                None => last = format!("{}[{}]: the message was not accepted", h.name, a.ip),
            }
        }
    }
    Delivery {
        attempts,
        outcome: Outcome::Deferred(last),
    }
}
