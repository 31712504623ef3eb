//! `rollover run`'s ACME side (issue 15): every lane whose certificate is due for renewal
//! (`mxdane_rollover::renewal`) gets a certificate for its staged next key, whose record went
//! out long before, and the certificate enters the engine through `submit` and the gate like
//! any other. What happens is written to the lane's log before it is acted on: the order's
//! URL before its challenges are answered (a run stopped half-way resumes that order), a
//! failure with the time of the next attempt (the CA's Retry-After, or a doubling back-off).
//!
//! Failure is never an outage: an order that fails leaves the certificate in service alone,
//! and a certificate for any key but the one ordered is refused.

use std::time::Duration;

use instant_acme::{ChallengeType, HttpClient};
use mxdane_rollover::Ts;
use mxdane_rollover::config::{Acme, Challenge as ChallengeConfig, Config, IssuerChange, Service};
use mxdane_rollover::engine::Engine;
use mxdane_rollover::lane::{Event, Lane, Scheme};
use mxdane_rollover::renewal::{self, Renewal};
use mxdane_rollover::store::{LaneId, Store};

use crate::acme::{self, AcmeError, Challenge, Client, Solver, Webroot};
use crate::{RealWorld, cert_from_pem, csr_der, lanes};

/// What issuance did for a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A certificate arrived and waits for the gate (in words).
    Obtained(String),
    /// The order failed; the certificate in service stays (in words, with the next attempt).
    Failed(String),
    /// Nothing to do now (in words: when renewal is due, or what comes first).
    Idle(String),
}

/// Makes the HTTP client for the CA (tests pass a stand-in).
pub type HttpFactory = dyn Fn() -> Result<Box<dyn HttpClient>, String>;

/// How long dns-01 waits for every authoritative server to serve the challenge.
const DNS01_PATIENCE: Duration = Duration::from_secs(300);

/// dns-01 through the service's DNS method (RFC 2136 or the hook): the TXT records go out,
/// and the CA is told only once every authoritative server serves them.
struct Dns01<'a> {
    world: &'a mut RealWorld,
    service: String,
}

fn challenge_owner(c: &Challenge) -> String {
    // RFC 8555 section 8.4: the label is prepended to the name (a wildcard's base).
    format!(
        "_acme-challenge.{}.",
        c.name.trim_start_matches("*.").trim_end_matches('.')
    )
}

impl Solver for Dns01<'_> {
    fn kind(&self) -> ChallengeType {
        ChallengeType::Dns01
    }

    fn present(&mut self, challenges: &[Challenge]) -> Result<(), String> {
        for c in challenges {
            self.world
                .change_txt(&self.service, &challenge_owner(c), &c.dns_value, true)?;
        }
        let started = std::time::Instant::now();
        loop {
            let mut missing = Vec::new();
            for c in challenges {
                let owner = challenge_owner(c);
                for s in self.world.txt_disagreeing(&owner, &c.dns_value, true)? {
                    missing.push(format!("{owner} on {s}"));
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= DNS01_PATIENCE {
                return Err(format!(
                    "the dns-01 record is not on every authoritative server after {} s: {}",
                    DNS01_PATIENCE.as_secs(),
                    missing.join(", ")
                ));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn clean_up(&mut self, challenges: &[Challenge]) -> Result<(), String> {
        let mut errors = Vec::new();
        for c in challenges {
            if let Err(e) =
                self.world
                    .change_txt(&self.service, &challenge_owner(c), &c.dns_value, false)
            {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

fn local(why: String) -> AcmeError {
    AcmeError {
        why,
        retry_after: None,
    }
}

/// Orders, answers and finalises one certificate for the key in `key_file`.
fn obtain(
    world: &mut RealWorld,
    acme: &Acme,
    service: &Service,
    client: &Client,
    placed: &mut acme::Placed,
    key_file: &std::path::Path,
) -> Result<String, AcmeError> {
    let csr = csr_der(service, key_file).map_err(local)?;
    match &acme.challenge {
        ChallengeConfig::Http01 { listen } => {
            let addr = listen
                .parse()
                .map_err(|_| local(format!("acme.challenge.listen \"{listen}\"")))?;
            let mut solver = client.serve_http01(addr).map_err(local)?;
            acme::complete(client, placed, &csr, &mut solver)
        }
        ChallengeConfig::Webroot { path } => {
            acme::complete(client, placed, &csr, &mut Webroot(path.clone()))
        }
        ChallengeConfig::Dns01 => acme::complete(
            client,
            placed,
            &csr,
            &mut Dns01 {
                world,
                service: service.name.clone(),
            },
        ),
    }
}

fn kind(acme: &Acme) -> ChallengeType {
    match acme.challenge {
        ChallengeConfig::Dns01 => ChallengeType::Dns01,
        _ => ChallengeType::Http01,
    }
}

/// What one lane's issuance works with.
struct Ctx<'a> {
    id: &'a LaneId,
    acme: &'a Acme,
    service: &'a Service,
    client: &'a Client,
}

/// One order for `spki`'s key, persisted before its challenges are answered; the chain's leaf
/// must carry that key.
fn order_for<S: Store>(
    e: &mut Engine<S, RealWorld>,
    ctx: &Ctx<'_>,
    (spki, key_file): (&str, &str),
    resume: Option<&str>,
    now: Ts,
) -> Result<mxdane_rollover::lane::Cert, AcmeError> {
    let Ctx {
        id,
        acme,
        service,
        client,
    } = *ctx;
    let names: Vec<String> = service
        .bases
        .iter()
        .map(|b| b.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let mut placed = client.place(&names, kind(acme), resume)?;
    e.note(
        id,
        Event::OrderPlaced {
            account: client.account_url().to_owned(),
            order: placed.url.clone(),
            spki_sha256: spki.to_owned(),
            at: now,
        },
        now,
    )
    .map_err(|err| local(err.to_string()))?;
    let chain = obtain(
        &mut e.world,
        acme,
        service,
        client,
        &mut placed,
        std::path::Path::new(key_file),
    )?;
    let cert = cert_from_pem(chain.as_bytes(), "the CA's certificate").map_err(local)?;
    if cert.spki_sha256 != spki {
        return Err(local(format!(
            "the CA's certificate is for key {}, not the key ordered ({}); refused",
            short(&cert.spki_sha256),
            short(spki)
        )));
    }
    Ok(cert)
}

/// The certificate for a due lane, submitted: for the staged next key; under current+issuer
/// with `keep-key`, for the key in service when the CA's issuer has no published record.
fn renew<S: Store>(
    e: &mut Engine<S, RealWorld>,
    ctx: &Ctx<'_>,
    lane: &Lane,
    (key, resume): (&mxdane_rollover::lane::Key, Option<&str>),
    now: Ts,
) -> Result<String, AcmeError> {
    let mut cert = order_for(e, ctx, (&key.spki_sha256, &key.file), resume, now)?;
    let mut note = String::new();
    if lane.scheme == Some(Scheme::CurrentIssuer)
        && ctx.acme.on_issuer_change == IssuerChange::KeepKey
        && lane.gate(&cert, now).is_err()
        && let Some((current, _)) = &lane.current
    {
        // The CA signed with an issuer whose `2 1 1` is not published: the key in service,
        // whose `3 1 1` is, gets the new certificate instead (no wait, no mismatch).
        cert = order_for(e, ctx, (&current.spki_sha256, &current.file), None, now)?;
        note = " (the issuer changed: ordered again for the key in service, keep-key)".into();
    }
    let spki = cert.spki_sha256.clone();
    let not_after = cert.not_after;
    e.submit(ctx.id, cert, now)
        .map_err(|err| local(format!("the engine refused the certificate: {err}")))?;
    Ok(format!(
        "obtained a certificate for key {} valid until {}{note}; it goes live through the gate",
        short(&spki),
        mxdane_rollover::simulate::show_time(not_after)
    ))
}

/// Runs issuance for every lane of `config` at `now`. Lanes are independent: one lane's
/// failure is recorded and the others go on. The account is opened only when a lane needs
/// the CA.
pub fn run<S: Store>(
    e: &mut Engine<S, RealWorld>,
    config: &Config,
    now: Ts,
    http: &HttpFactory,
) -> Vec<(LaneId, Outcome)> {
    let Some(acme) = &config.acme else {
        return Vec::new();
    };
    let setups = match lanes(config) {
        Ok(l) => l,
        Err(why) => {
            return vec![(
                LaneId {
                    service: "*".into(),
                    algorithm: "*".into(),
                },
                Outcome::Failed(why),
            )];
        }
    };
    let account_file = acme.account_file(&config.keys);
    let mut client: Option<Result<Client, AcmeError>> = None;
    let open = |client: &mut Option<Result<Client, AcmeError>>| {
        if client.is_none() {
            *client = Some(Client::open(
                &acme.directory,
                &acme.contact,
                &account_file,
                http,
            ));
        }
    };
    let mut out = Vec::new();
    for setup in setups {
        let id = setup.id.clone();
        let Some(service) = config.services.iter().find(|s| s.name == id.service) else {
            continue;
        };
        let lane = match e.lanes() {
            Ok(mut l) => l.remove(&id).unwrap_or_default(),
            Err(err) => {
                out.push((id, Outcome::Failed(err.to_string())));
                continue;
            }
        };
        let seed = renewal::seed(&id.service, &id.algorithm);
        let mut unreachable = None;
        // The CA's renewal window (RFC 9773), asked for again when it said to.
        if renewal::ask_window(&lane, now)
            && let Some((_, cert)) = &lane.current
        {
            open(&mut client);
            if let Some(Err(err)) = &client {
                unreachable = Some(err.why.clone());
            }
            if let Some(Ok(c)) = &client {
                let (start, end, again) = match c.renewal_window(&cert.pem) {
                    Ok(Some(w)) => w,
                    // None: the CA offers none (an inverted window is ignored); an error:
                    // asked again in an hour.
                    Ok(None) => (1, 0, 86_400),
                    Err(_) => (1, 0, 3_600),
                };
                let _ = e.note(
                    &id,
                    Event::RenewalWindow {
                        spki_sha256: cert.spki_sha256.clone(),
                        start,
                        end,
                        ask_again: now + again,
                    },
                    now,
                );
            }
        }
        let lane = e
            .lanes()
            .ok()
            .and_then(|mut l| l.remove(&id))
            .unwrap_or(lane);
        let outcome = match renewal::renewal(&lane, seed, now) {
            Renewal::Later(t) => Outcome::Idle(format!(
                "renewal due {}",
                mxdane_rollover::simulate::show_time(t)
            )),
            Renewal::BackOff(t) => Outcome::Idle(format!(
                "the failed order is tried again at {}",
                mxdane_rollover::simulate::show_time(t)
            )),
            Renewal::Waiting(w) => Outcome::Idle(format!("renewal waits for {w}")),
            Renewal::Now { key, resume } => {
                open(&mut client);
                let result = match &client {
                    Some(Ok(c)) => renew(
                        e,
                        &Ctx {
                            id: &id,
                            acme,
                            service,
                            client: c,
                        },
                        &lane,
                        (&key, resume.as_deref()),
                        now,
                    ),
                    Some(Err(err)) => Err(err.clone()),
                    None => Err(local("no ACME client".into())),
                };
                match result {
                    Ok(what) => Outcome::Obtained(what),
                    Err(err) => {
                        let retry_at = renewal::retry_at(
                            now,
                            lane.ordering.failures + 1,
                            err.retry_after.map(|d| now + d),
                        );
                        let _ = e.note(
                            &id,
                            Event::OrderFailed {
                                why: err.why.clone(),
                                at: now,
                                retry_at,
                            },
                            now,
                        );
                        Outcome::Failed(format!(
                            "{}; the certificate in service stays; next attempt at {}",
                            err.why,
                            mxdane_rollover::simulate::show_time(retry_at)
                        ))
                    }
                }
            }
        };
        let outcome = match (outcome, unreachable) {
            (Outcome::Idle(w), Some(why)) => {
                Outcome::Idle(format!("{w} (the CA could not be asked: {why})"))
            }
            (o, _) => o,
        };
        out.push((id, outcome));
    }
    out
}
