//! One lane: a service's key algorithm (RSA and ECDSA never share a current or next key; each
//! has its own key pair, certificate and records). Its state is a fold of events
//! ([`Lane::apply`]); what to do next is a pure function of that state and the time
//! ([`Lane::decide`]). The engine persists an event before it acts on it, so a process killed
//! at any point restarts from a state that says what it was doing.
//!
//! The safety rule (RFC 7671 section 8.1, and the how-to's "Reliable certificate rollover"):
//! a certificate goes live only when a record that authenticates it (its key's `3 1 1`, or its
//! issuer's `2 1 1`) has been seen on every authoritative server for at least twice the
//! largest TTL any of them serves for the RRset (and twice the zone's negative-caching TTL when
//! the RRset was new); and a record leaves DNS only after the certificate it authenticated has
//! been out of service for as long, never while it authenticates the live certificate.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Ts;

/// How the lane's TLSA records pin its certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheme {
    /// `3 1 1` of the current key and `3 1 1` of the next key, published ahead of time
    /// (the default: no dependence on the CA).
    #[serde(rename = "current+next")]
    CurrentNext,
    /// `3 1 1` of the current key and `2 1 1` of its issuer: a new key can go live at once
    /// when its certificate comes from the same issuer.
    #[serde(rename = "current+issuer")]
    CurrentIssuer,
}

impl Scheme {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::CurrentNext => "current+next",
            Self::CurrentIssuer => "current+issuer",
        }
    }
}

/// A key pair, named by the SHA-256 of its SubjectPublicKeyInfo (the data of its `3 1 1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub spki_sha256: String,
    /// Where the private key is kept (mode 0600).
    pub file: String,
}

/// A certificate chain as the server would present it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cert {
    /// The leaf's key (SHA-256 of its SPKI, lower-case hex).
    pub spki_sha256: String,
    /// The key of the leaf's issuer (the next certificate of the chain), if the chain has it.
    pub issuer_spki_sha256: Option<String>,
    /// The leaf's notBefore (0 when unknown: stored before it was recorded).
    #[serde(default)]
    pub not_before: Ts,
    /// The leaf's notAfter.
    pub not_after: Ts,
    /// The chain in PEM, leaf first.
    pub pem: String,
    /// The private key's file, for a certificate whose key the engine did not stage (under
    /// `current+issuer` a certificate may come with a fresh key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
}

impl Cert {
    /// The records that authenticate this certificate: its key's `3 1 1` and its issuer's
    /// `2 1 1` (RFC 7672 section 3.1; name checks for `2 1 1` are the caller's, at submit).
    pub fn authenticated_by(&self) -> Vec<String> {
        let mut v = vec![ee(&self.spki_sha256)];
        if let Some(i) = &self.issuer_spki_sha256 {
            v.push(ta(i));
        }
        v
    }
}

/// `3 1 1 HEX`.
pub fn ee(spki_sha256: &str) -> String {
    format!("3 1 1 {spki_sha256}")
}

/// `2 1 1 HEX`.
pub fn ta(spki_sha256: &str) -> String {
    format!("2 1 1 {spki_sha256}")
}

/// What the lane knows about one of its records in DNS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the engine last asked DNS to add it.
    pub requested: Ts,
    /// Since when every authoritative server serves it at every owner name (None while some
    /// server does not).
    pub visible_since: Option<Ts>,
    /// The largest TTL any server has served for the RRset since it was requested.
    pub ttl: u32,
    /// The zone's negative-caching TTL when the RRset did not exist before (0 otherwise):
    /// senders may hold "no such RRset" that long.
    pub negative_ttl: u32,
    /// The engine asked DNS to delete it.
    pub withdrawn: bool,
}

impl Record {
    /// How long after `visible_since` a certificate may rely on this record: twice the
    /// largest TTL (positive or, for a new RRset, negative).
    pub fn hold(&self) -> i64 {
        2 * i64::from(self.ttl.max(self.negative_ttl))
    }
}

/// Everything that happens to a lane. Events are facts: the engine writes one before the
/// action it announces (`…Requested`, `DeployStarted`) or after what it observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The lane starts with the certificate the server already uses (`rollover init`).
    Adopted {
        /// The key in service.
        key: Key,
        /// Its certificate.
        cert: Cert,
        /// The lane's scheme.
        scheme: Scheme,
    },
    /// A new next key exists (the file is written, mode 0600).
    NextStaged {
        /// The key.
        key: Key,
    },
    /// The engine is about to ask DNS to add a record.
    PublishRequested {
        /// The record.
        rdata: String,
        /// When.
        at: Ts,
        /// The zone's negative TTL if the RRset does not exist yet, else 0.
        negative_ttl: u32,
    },
    /// Every server now serves the record (first seen so at `at`).
    Visible {
        /// The record.
        rdata: String,
        /// When.
        at: Ts,
        /// The largest TTL the servers serve for the RRset.
        ttl: u32,
    },
    /// Some server no longer serves a record that was visible everywhere.
    NotVisible {
        /// The record.
        rdata: String,
    },
    /// A server serves the RRset with a larger TTL than recorded.
    TtlRaised {
        /// The record.
        rdata: String,
        /// The TTL.
        ttl: u32,
    },
    /// The engine is about to ask DNS to delete a record.
    WithdrawRequested {
        /// The record.
        rdata: String,
        /// When.
        at: Ts,
    },
    /// No server serves a withdrawn record any more.
    Gone {
        /// The record.
        rdata: String,
    },
    /// A certificate arrived (ACME or `submit`) and waits for the gate.
    CertSubmitted {
        /// The certificate.
        cert: Cert,
    },
    /// The engine is about to install a certificate and reload the server.
    DeployStarted {
        /// The certificate.
        cert: Cert,
        /// When.
        at: Ts,
    },
    /// The server presents the new certificate on every address and algorithm.
    Deployed {
        /// When.
        at: Ts,
    },
    /// Installing, reloading or probing failed; the previous pair is back in service.
    DeployFailed {
        /// Why.
        why: String,
        /// When.
        at: Ts,
    },
    /// An ACME order exists (written before its challenges are answered, so that a run
    /// stopped half-way resumes the same order instead of placing another).
    OrderPlaced {
        /// The account's URL.
        account: String,
        /// The order's URL.
        order: String,
        /// The key the order's CSR is for.
        spki_sha256: String,
        /// When.
        at: Ts,
    },
    /// An ACME order failed; the certificate in service stays.
    OrderFailed {
        /// What the CA or the challenge said.
        why: String,
        /// When.
        at: Ts,
        /// When to try again (the CA's Retry-After, or the back-off).
        retry_at: Ts,
    },
    /// An action or the observation failed (an UPDATE refused with NOTAUTH or REFUSED, a
    /// timeout, a view that is not Secure, a withdrawal asked again); the next step tries
    /// again. While one failure repeats unchanged it is recorded at most once an hour
    /// ([`FAILURE_RECORD_EVERY`]).
    ActionFailed {
        /// What failed and why, as the step reported it.
        why: String,
        /// When.
        at: Ts,
        /// For a refused or failed addition: the records it was to add (the simulator then
        /// takes them for never served unless some later look saw them everywhere).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unpublished: Vec<String>,
    },
    /// What one server served at one owner, recorded when it differs from what the lane last
    /// recorded for that server and owner (the first look included): the facts the simulator
    /// replays. An answer that did not verify is not an observation.
    Observed {
        /// The server (its name and address, as the nameserver view gives them).
        server: String,
        /// The TLSA owner name.
        owner: String,
        /// The RRset (presentation forms, sorted; empty for "no such RRset").
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        records: Vec<String>,
        /// Its TTL (the signed TTL; the negative TTL for "no such RRset").
        ttl: u32,
        /// When.
        at: Ts,
    },
    /// The CA's suggested renewal window for the certificate in service (RFC 9773).
    RenewalWindow {
        /// The certificate it is for.
        spki_sha256: String,
        /// Start of the window.
        start: Ts,
        /// End of the window.
        end: Ts,
        /// When to ask again.
        ask_again: Ts,
    },
}

/// The ACME side of a lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ordering {
    /// The account the last order was placed with.
    pub account: Option<String>,
    /// An order placed and not yet finished: its URL and the key it is for.
    pub open: Option<(String, String)>,
    /// Failed attempts since the last certificate arrived.
    pub failures: u32,
    /// The last failure and when.
    pub last_failure: Option<(String, Ts)>,
    /// Not before this time again.
    pub retry_at: Option<Ts>,
    /// The CA's window for the certificate in service (by its key), and when to ask again.
    pub window: Option<(String, Ts, Ts, Ts)>,
}

/// A lane's state: a fold of its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    /// The scheme (None before `Adopted`).
    pub scheme: Option<Scheme>,
    /// The key and certificate in service.
    pub current: Option<(Key, Cert)>,
    /// The staged next key.
    pub next: Option<Key>,
    /// A certificate waiting for the gate.
    pub pending: Option<Cert>,
    /// A deployment that started and has no outcome yet (the process stopped during it).
    pub deploying: Option<Cert>,
    /// The pair in service before the last switch, and when the switch happened.
    pub previous: Option<(Key, Cert, Ts)>,
    /// The last failed deployment, cleared by a successful one.
    pub failure: Option<(String, Ts)>,
    /// The lane's records in DNS (by presentation form).
    pub records: BTreeMap<String, Record>,
    /// ACME orders.
    pub ordering: Ordering,
    /// Every failure the engine recorded ([`Event::ActionFailed`]), by what failed and why.
    pub failures: BTreeMap<String, Failure>,
    /// What each server was last recorded serving at each owner ([`Event::Observed`]), by
    /// (server, owner): the records and their TTL.
    pub observed: BTreeMap<(String, String), (Vec<String>, u32)>,
}

/// A failure as the history keeps it: the first and the last time it was recorded, and how
/// many times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What failed and why.
    pub why: String,
    /// The first recorded time.
    pub since: Ts,
    /// The last recorded time.
    pub at: Ts,
    /// How many times it was recorded.
    pub count: u32,
}

/// While one failure repeats unchanged, the engine records it again only after this many
/// seconds, so that months of a refused update do not fill the history.
pub const FAILURE_RECORD_EVERY: i64 = 3600;

/// What the engine should do for a lane now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make a new next key (and then publish its record).
    StageNext,
    /// Add a record on the primary (or through the hook).
    Publish {
        /// The record.
        rdata: String,
    },
    /// Delete a record.
    Withdraw {
        /// The record.
        rdata: String,
    },
    /// Install a certificate, reload, probe, and roll back on failure.
    Deploy {
        /// The certificate.
        cert: Cert,
    },
}

/// What the lane waits for, and until when if that is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// In words.
    pub what: String,
    /// The earliest time it can be over.
    pub until: Option<Ts>,
}

/// The decision: actions to take now, and what else the lane waits for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Actions, in order.
    pub actions: Vec<Action>,
    /// Waits.
    pub waits: Vec<Wait>,
    /// Something a person must look at (a failed deployment).
    pub needs_human: Option<String>,
}

/// How long after a failed deployment the engine tries again.
pub const RETRY_AFTER: i64 = 3600;

impl Lane {
    /// The lane after `events`.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut lane = Self::default();
        for e in events {
            lane.apply(e);
        }
        lane
    }

    /// The most recently recorded failure, if any.
    pub fn last_failure(&self) -> Option<&Failure> {
        self.failures.values().max_by_key(|f| (f.at, f.count))
    }

    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::Adopted { key, cert, scheme } => {
                self.scheme = Some(*scheme);
                self.current = Some((key.clone(), cert.clone()));
            }
            Event::NextStaged { key } => self.next = Some(key.clone()),
            Event::PublishRequested {
                rdata,
                at,
                negative_ttl,
            } => {
                let r = self.records.entry(rdata.clone()).or_insert(Record {
                    requested: *at,
                    visible_since: None,
                    ttl: 0,
                    negative_ttl: *negative_ttl,
                    withdrawn: false,
                });
                if r.withdrawn {
                    // Wanted again (a rollback): it counts from its next sighting.
                    r.withdrawn = false;
                    r.visible_since = None;
                    r.requested = *at;
                }
            }
            Event::Visible { rdata, at, ttl } => {
                if let Some(r) = self.records.get_mut(rdata) {
                    r.visible_since = Some(*at);
                    r.ttl = r.ttl.max(*ttl);
                }
            }
            Event::NotVisible { rdata } => {
                if let Some(r) = self.records.get_mut(rdata) {
                    r.visible_since = None;
                }
            }
            Event::TtlRaised { rdata, ttl } => {
                if let Some(r) = self.records.get_mut(rdata) {
                    r.ttl = r.ttl.max(*ttl);
                }
            }
            Event::WithdrawRequested { rdata, .. } => {
                if let Some(r) = self.records.get_mut(rdata) {
                    r.withdrawn = true;
                }
            }
            Event::Gone { rdata } => {
                if self.records.get(rdata).is_some_and(|r| r.withdrawn) {
                    self.records.remove(rdata);
                }
            }
            Event::CertSubmitted { cert } => {
                self.pending = Some(cert.clone());
                self.ordering.open = None;
                self.ordering.failures = 0;
                self.ordering.retry_at = None;
            }
            Event::DeployStarted { cert, .. } => self.deploying = Some(cert.clone()),
            Event::Deployed { at } => {
                let Some(cert) = self.deploying.take() else {
                    return;
                };
                let key = match (&self.current, &self.next) {
                    (Some((k, _)), _) if k.spki_sha256 == cert.spki_sha256 => k.clone(),
                    (_, Some(k)) if k.spki_sha256 == cert.spki_sha256 => k.clone(),
                    // A key from outside (current+issuer with a fresh key).
                    _ => Key {
                        spki_sha256: cert.spki_sha256.clone(),
                        file: cert.key_file.clone().unwrap_or_default(),
                    },
                };
                if self
                    .next
                    .as_ref()
                    .is_some_and(|n| n.spki_sha256 == key.spki_sha256)
                {
                    self.next = None;
                }
                if let Some((old_key, old_cert)) = self.current.take() {
                    self.previous = Some((old_key, old_cert, *at));
                }
                self.current = Some((key, cert.clone()));
                if self.pending.as_ref() == Some(&cert) {
                    self.pending = None;
                }
                self.failure = None;
            }
            Event::DeployFailed { why, at } => {
                self.deploying = None;
                self.failure = Some((why.clone(), *at));
            }
            Event::OrderPlaced {
                account,
                order,
                spki_sha256,
                ..
            } => {
                self.ordering.account = Some(account.clone());
                self.ordering.open = Some((order.clone(), spki_sha256.clone()));
            }
            Event::OrderFailed { why, at, retry_at } => {
                self.ordering.open = None;
                self.ordering.failures += 1;
                self.ordering.last_failure = Some((why.clone(), *at));
                self.ordering.retry_at = Some(*retry_at);
            }
            Event::ActionFailed { why, at, .. } => {
                let f = self.failures.entry(why.clone()).or_insert(Failure {
                    why: why.clone(),
                    since: *at,
                    at: *at,
                    count: 0,
                });
                f.at = *at;
                f.count = f.count.saturating_add(1);
            }
            Event::RenewalWindow {
                spki_sha256,
                start,
                end,
                ask_again,
            } => {
                self.ordering.window = Some((spki_sha256.clone(), *start, *end, *ask_again));
            }
            Event::Observed {
                server,
                owner,
                records,
                ttl,
                ..
            } => {
                self.observed
                    .insert((server.clone(), owner.clone()), (records.clone(), *ttl));
            }
        }
    }

    /// The records the lane needs now: what authenticates the live certificate, what the
    /// next one will need, and what a rollback would need until the previous pair retires.
    pub fn desired(&self, now: Ts) -> BTreeSet<String> {
        let mut want = BTreeSet::new();
        let Some((_, cert)) = &self.current else {
            return want;
        };
        let scheme = self.scheme.unwrap_or(Scheme::CurrentNext);
        want.insert(ee(&cert.spki_sha256));
        match scheme {
            Scheme::CurrentNext => {
                if let Some(n) = &self.next {
                    want.insert(ee(&n.spki_sha256));
                }
            }
            Scheme::CurrentIssuer => {
                if let Some(i) = &cert.issuer_spki_sha256 {
                    want.insert(ta(i));
                }
                // A waiting certificate with a new key needs its issuer's record.
                if let Some(p) = &self.pending
                    && p.spki_sha256 != cert.spki_sha256
                    && let Some(i) = &p.issuer_spki_sha256
                {
                    want.insert(ta(i));
                }
            }
        }
        for c in self.deploying.iter() {
            want.extend(c.authenticated_by());
        }
        // Keep what authenticated the previous certificate until the new one has served for
        // the hold time of those records (a rollback stays possible until then).
        if let Some((_, old, switched)) = &self.previous {
            for r in old.authenticated_by() {
                if let Some(rec) = self.records.get(&r)
                    && now < switched + rec.hold().max(0)
                {
                    want.insert(r);
                }
            }
        }
        want
    }

    /// When `cert` may go live: Ok if a record that authenticates it has been visible on
    /// every server for its hold time, else what it waits for.
    pub fn gate(&self, cert: &Cert, now: Ts) -> Result<(), Wait> {
        let mut best: Option<Ts> = None;
        for r in cert.authenticated_by() {
            let Some(rec) = self.records.get(&r) else {
                continue;
            };
            if rec.withdrawn {
                continue;
            }
            if let Some(since) = rec.visible_since {
                let open = since + rec.hold();
                if now >= open {
                    return Ok(());
                }
                best = Some(best.map_or(open, |b| b.min(open)));
            }
        }
        Err(Wait {
            what: match best {
                Some(_) => {
                    "a record for the new certificate to be visible on every server for 2 x TTL"
                        .into()
                }
                None => "a record for the new certificate to appear on every server".into(),
            },
            until: best,
        })
    }

    /// What to do now.
    pub fn decide(&self, now: Ts) -> Decision {
        let mut d = Decision::default();
        let Some((_, cert)) = &self.current else {
            d.waits.push(Wait {
                what: "adoption of the running certificate (mxdane rollover init)".into(),
                until: None,
            });
            return d;
        };
        // An interrupted deployment is finished first (the engine re-checks the server).
        if let Some(c) = &self.deploying {
            d.actions.push(Action::Deploy { cert: c.clone() });
            return d;
        }
        if self.next.is_none() {
            d.actions.push(Action::StageNext);
        }
        let want = self.desired(now);
        for r in &want {
            match self.records.get(r) {
                None => d.actions.push(Action::Publish { rdata: r.clone() }),
                // Wanted again while its withdrawal may still be on its way to a lagging
                // server: adding it now would let that server's old copy pass for the new one
                // (seen everywhere before the server applied the withdrawal, then a gap).
                // It is added again once no server serves it.
                Some(rec) if rec.withdrawn => d.waits.push(Wait {
                    what: format!("\"{r}\" to be gone from every server before it is added again"),
                    until: None,
                }),
                Some(rec) if rec.visible_since.is_none() => d.waits.push(Wait {
                    what: format!("\"{r}\" to appear on every authoritative server"),
                    until: None,
                }),
                Some(_) => {}
            }
        }
        // Records nobody needs any more; never one that authenticates the live certificate.
        let live = cert.authenticated_by();
        for (r, rec) in &self.records {
            if !want.contains(r) && !rec.withdrawn && !live.contains(r) {
                d.actions.push(Action::Withdraw { rdata: r.clone() });
            }
        }
        if let Some((old_key, _, switched)) = &self.previous
            && let Some(rec) = self.records.get(&ee(&old_key.spki_sha256))
            && want.contains(&ee(&old_key.spki_sha256))
        {
            d.waits.push(Wait {
                what: "the retired key's record to be withdrawn (kept for a rollback)".into(),
                until: Some(switched + rec.hold()),
            });
        }
        if let Some(p) = &self.pending {
            if let Some((why, at)) = &self.failure
                && now < at + RETRY_AFTER
            {
                d.needs_human = Some(format!("the last deployment failed: {why}"));
                d.waits.push(Wait {
                    what: "the retry of the failed deployment".into(),
                    until: Some(at + RETRY_AFTER),
                });
                return d;
            }
            match self.gate(p, now) {
                Ok(()) => d.actions.push(Action::Deploy { cert: p.clone() }),
                Err(w) => d.waits.push(w),
            }
        }
        d
    }

    /// Whether a submitted certificate can be taken: its key is the staged next key (or the
    /// current one, a renewal), or a record that authenticates it is already published.
    pub fn accepts(&self, cert: &Cert, now: Ts) -> Result<(), String> {
        let known = |k: &Option<Key>| {
            k.as_ref()
                .is_some_and(|k| k.spki_sha256 == cert.spki_sha256)
        };
        let current = self.current.as_ref().map(|(k, _)| k.clone());
        if known(&self.next) || known(&current) {
            return Ok(());
        }
        if cert.key_file.is_none() {
            return Err(format!(
                "the certificate's key ({}) is neither the staged next key nor the current one; give its private key too",
                cert.spki_sha256
            ));
        }
        if self.scheme == Some(Scheme::CurrentIssuer) && cert.issuer_spki_sha256.is_some() {
            return Ok(());
        }
        match self.gate(cert, now) {
            Ok(()) => Ok(()),
            Err(_) => Err(format!(
                "the certificate's key ({}) is neither the staged next key nor the current one, and no published record authenticates it",
                cert.spki_sha256
            )),
        }
    }
}

#[cfg(test)]
mod tests;
