//! The destination plan of RFC 7672 section 2.2 (CHECKLIST D-05 to D-15): which hosts to try, in
//! which order, and for each whether DANE applies, TLS is mandatory, TLS is opportunistic, or
//! the host must be skipped; or whether the whole destination is deferred, does not exist, or
//! accepts no mail. It depends only on lookup results (a [`Resolver`], which tests fake or point
//! at the lab).

use futures_util::future::join_all;

use std::net::IpAddr;

use mxdane_tlsa::{Tlsa, Usability};

use crate::lookup::{Answer, Lookup, Resolver, Status};
use crate::name::Name;
use crate::rdata::{Rdata, rtype, type_name};
use crate::transport::LookupError;

/// What to plan for.
#[derive(Clone, Debug)]
pub struct Request {
    /// The recipient domain (MX delivery) or the host (a configured next hop).
    pub destination: Name,
    /// The SMTP port (25 for MX delivery; 587 or 465 when asked; D-11).
    pub port: u16,
    /// A domain (its MX hosts) or a host (no MX lookup).
    pub kind: Kind,
}

/// What a destination names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// A mail domain: its MX hosts are the hosts (RFC 7672 section 2.2).
    #[default]
    Domain,
    /// A host (a configured next hop): no MX lookup.
    Host,
}

/// The fate of the whole destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least one host can be tried.
    Deliverable,
    /// Temporary failure: try later (D-06, D-14).
    Defer,
    /// The domain does not exist (NXDOMAIN; D-08).
    NoSuchDomain,
    /// The domain accepts no mail (null MX, RFC 7505; D-08).
    NullMx,
}

impl Outcome {
    /// `deliverable`, `defer`, `no-such-domain`, `null-mx`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deliverable => "deliverable",
            Self::Defer => "defer",
            Self::NoSuchDomain => "no-such-domain",
            Self::NullMx => "null-mx",
        }
    }
}

/// What to do with one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Usable TLSA records: authenticated TLS with DANE (D-12).
    Dane,
    /// Secure TLSA records, none usable: TLS without authentication, but never plaintext (D-12).
    TlsMandatory,
    /// No DANE: ordinary opportunistic TLS (D-13, D-15).
    Opportunistic,
    /// Do not use this host (D-12b, D-14).
    Skip,
}

impl Decision {
    /// `dane`, `tls-mandatory`, `opportunistic`, `skip`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dane => "dane",
            Self::TlsMandatory => "tls-mandatory",
            Self::Opportunistic => "opportunistic",
            Self::Skip => "skip",
        }
    }
}

/// The status of a host's TLSA lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsaStatus {
    /// Secure records.
    Secure,
    /// Securely proven absent.
    SecureDenial,
    /// Insecure (records or absence).
    Insecure,
    /// Bogus.
    Bogus(String),
    /// Indeterminate.
    Indeterminate(String),
    /// The lookup failed (SERVFAIL, timeout, ...).
    Failed(String),
    /// Not looked up (the host's own name is in an insecure zone, D-15; or the host was
    /// skipped earlier).
    NotLooked,
}

impl TlsaStatus {
    /// `secure`, `secure-denial`, `insecure`, `bogus`, `indeterminate`, `failed`, `not-looked-up`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Secure => "secure",
            Self::SecureDenial => "secure-denial",
            Self::Insecure => "insecure",
            Self::Bogus(_) => "bogus",
            Self::Indeterminate(_) => "indeterminate",
            Self::Failed(_) => "failed",
            Self::NotLooked => "not-looked-up",
        }
    }
}

/// One address of a host, with the status of the lookup that produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub ip: IpAddr,
    /// Its lookup's status.
    pub status: Status,
}

/// A lookup as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupReport {
    /// The name asked.
    pub name: Name,
    /// The type asked.
    pub qtype: u16,
    /// The outcome: the lookup, or its error.
    pub result: Result<Lookup, LookupError>,
}

impl LookupReport {
    /// `secure`, `insecure`, `bogus`, `indeterminate`, or `failed`.
    pub fn status_name(&self) -> &'static str {
        match &self.result {
            Ok(l) => l.status().name(),
            Err(_) => "failed",
        }
    }

    /// One line: what was found, with the reason for failures.
    pub fn summary(&self) -> String {
        match &self.result {
            Err(e) => format!("failed: {e}"),
            Ok(l) => {
                let what = match l.answer() {
                    Answer::Records(r) => r
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    Answer::NoData => "no data".into(),
                    Answer::NxDomain => "no such name".into(),
                };
                let via = if l.hops().len() > 1 {
                    format!(
                        " via {}",
                        l.hops()
                            .iter()
                            .map(|h| format!("{} ({})", h.name, h.status.name()))
                            .collect::<Vec<_>>()
                            .join(" -> ")
                    )
                } else {
                    String::new()
                };
                format!("{}: {what}{via}", l.status())
            }
        }
    }
}

/// The plan for one host.
#[derive(Clone, Debug)]
pub struct HostPlan {
    /// The host name as the MX record (or the request) gave it.
    pub name: Name,
    /// Its MX preference (`None` for a host request).
    pub preference: Option<u16>,
    /// The TLSA base domain (D-09), when TLSA was looked up.
    pub tlsa_base: Option<Name>,
    /// Reference identifiers for DANE-TA name checks (T-08), the TLSA base domain first.
    pub reference_ids: Vec<Name>,
    /// The host's addresses.
    pub addresses: Vec<Address>,
    /// The TLSA lookup's status.
    pub tlsa_status: TlsaStatus,
    /// The TLSA records (secure or not) as found.
    pub tlsa: Vec<Tlsa>,
    /// The decision.
    pub decision: Decision,
    /// Why.
    pub reason: String,
    /// The bound this host hit, named ([`MAX_ADDRESSES`]), if any.
    pub limited: Option<String>,
    /// Every lookup made for this host.
    pub lookups: Vec<LookupReport>,
}

/// The plan for a destination.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What was asked.
    pub request: Request,
    /// The MX lookup (absent for a host request).
    pub mx: Option<LookupReport>,
    /// The outcome.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// Candidate hosts in the order to try them.
    pub hosts: Vec<HostPlan>,
    /// The work bounds this destination hit ([`MAX_MX_HOSTS`], [`MAX_ADDRESSES`]), each named:
    /// hostile DNS data cannot make a plan, or the probes that follow it, unbounded (D-19).
    pub limits: Vec<String>,
}

/// The most MX hosts planned (the most preferred ones); more is either a mistake or an attack
/// (issue 12, F7). Postfix tries at most 5 addresses per delivery (`smtp_mx_address_limit`).
pub const MAX_MX_HOSTS: usize = 16;
/// The most addresses (IPv4 and IPv6 together) used per host.
pub const MAX_ADDRESSES: usize = 16;

impl Plan {
    /// The MX lookup's status name (`secure`, `insecure`, `bogus`, `indeterminate`, `failed`),
    /// `None` for a host request.
    pub fn mx_status(&self) -> Option<&'static str> {
        self.mx.as_ref().map(LookupReport::status_name)
    }
}

async fn report(resolver: &dyn Resolver, name: &Name, qtype: u16) -> LookupReport {
    LookupReport {
        name: name.clone(),
        qtype,
        result: resolver.lookup(name, qtype).await,
    }
}

/// Builds the plan.
pub async fn plan(resolver: &dyn Resolver, request: &Request) -> Plan {
    if request.kind == Kind::Host {
        prefetch(
            resolver,
            std::slice::from_ref(&request.destination),
            request.port,
        )
        .await;
        let host = plan_host(resolver, request, &request.destination, None, None).await;
        let outcome = if host.decision == Decision::Skip {
            Outcome::Defer
        } else {
            Outcome::Deliverable
        };
        return Plan {
            request: request.clone(),
            mx: None,
            outcome,
            reason: format!("host {}: {}", host.name, host.reason),
            limits: host.limited.iter().cloned().collect(),
            hosts: vec![host],
        };
    }
    let mx = report(resolver, &request.destination, rtype::MX).await;
    let done = |outcome, reason: String, hosts: Vec<HostPlan>, mut limits: Vec<String>| {
        limits.extend(hosts.iter().filter_map(|h| h.limited.clone()));
        Plan {
            request: request.clone(),
            mx: Some(mx.clone()),
            outcome,
            reason,
            hosts,
            limits,
        }
    };
    let lookup = match &mx.result {
        // D-06: a failed MX lookup defers the whole destination, never downgrades it.
        Err(e) => {
            return done(
                Outcome::Defer,
                format!("the MX lookup failed: {e}"),
                Vec::new(),
                Vec::new(),
            );
        }
        Ok(l) => l,
    };
    match lookup.status() {
        Status::Bogus(why) | Status::Indeterminate(why) => {
            return done(
                Outcome::Defer,
                format!("the MX lookup is {}: {why}", lookup.status().name()),
                Vec::new(),
                Vec::new(),
            );
        }
        Status::Secure | Status::Insecure => {}
    }
    let secure_mx = *lookup.status() == Status::Secure;
    let mut candidates: Vec<(Name, Option<u16>)> = Vec::new();
    let mut notes = Vec::new();
    let mut limits = Vec::new();
    match lookup.answer() {
        // D-08: NXDOMAIN is a permanent failure, not an implicit MX.
        Answer::NxDomain => {
            return done(
                Outcome::NoSuchDomain,
                format!(
                    "{} does not exist ({} NXDOMAIN)",
                    request.destination,
                    lookup.status().name()
                ),
                Vec::new(),
                Vec::new(),
            );
        }
        // D-08: no MX records: the domain itself is the host (implicit MX).
        // The host is the domain as asked, so that the CNAME rules of D-09 apply to it (TLSA
        // at the expanded name, then at the domain itself), not the end of the MX lookup's
        // alias chain.
        Answer::NoData => candidates.push((request.destination.clone(), Some(0))),
        Answer::Records(records) => {
            let mx: Vec<(u16, Name)> = records
                .iter()
                .filter_map(|r| match r {
                    Rdata::Mx(p, n) => Some((*p, n.clone())),
                    _ => None,
                })
                .collect();
            // RFC 7505: a null MX (`0 .`) says the domain accepts no mail.
            if mx.iter().any(|(_, n)| n.is_root()) {
                return done(
                    Outcome::NullMx,
                    format!(
                        "{} publishes a null MX: it accepts no mail (RFC 7505)",
                        request.destination
                    ),
                    Vec::new(),
                    Vec::new(),
                );
            }
            for (p, n) in mx {
                if is_ip_literal(&n) {
                    notes.push(format!(
                        "MX {n} is an address literal, not a host name: skipped"
                    ));
                    continue;
                }
                candidates.push((n, Some(p)));
            }
            // D-05: by preference; equal preferences in random order.
            shuffle(&mut candidates);
            candidates.sort_by_key(|(_, p)| *p);
            if candidates.len() > MAX_MX_HOSTS {
                limits.push(format!(
                    "{} MX hosts: only the {MAX_MX_HOSTS} most preferred are used (limit MAX_MX_HOSTS)",
                    candidates.len()
                ));
                candidates.truncate(MAX_MX_HOSTS);
            }
        }
    }
    // T-08: after a secure MX lookup the next-hop domain and its expanded form are reference
    // identifiers too.
    let extra_ids: Vec<Name> = if secure_mx {
        let mut v = vec![request.destination.clone()];
        if *lookup.final_name() != request.destination {
            v.push(lookup.final_name().clone());
        }
        v
    } else {
        Vec::new()
    };
    let names: Vec<Name> = candidates.iter().map(|(n, _)| n.clone()).collect();
    prefetch(resolver, &names, request.port).await;
    // Every host at once (their answers are in the cache now); join_all keeps the order.
    let hosts: Vec<HostPlan> = join_all(
        candidates
            .iter()
            .map(|(name, pref)| plan_host(resolver, request, name, *pref, Some(&extra_ids))),
    )
    .await;
    let usable = hosts
        .iter()
        .filter(|h| h.decision != Decision::Skip)
        .count();
    let mut reason = if usable == 0 {
        "no host can be used: every candidate was skipped".to_owned()
    } else {
        format!("{usable} of {} host(s) can be tried", hosts.len())
    };
    if !secure_mx {
        // D-07: DANE may still apply per host; say that the MX lookup itself was unprotected.
        reason.push_str("; the MX lookup is insecure, so the host list itself is not protected");
    }
    for n in notes.iter().chain(&limits) {
        reason.push_str("; ");
        reason.push_str(n);
    }
    let outcome = if usable == 0 {
        Outcome::Defer
    } else {
        Outcome::Deliverable
    };
    done(outcome, reason, hosts, limits)
}

/// [`plan`] on a runtime of its own, for code outside async contexts (tools, tests). Never call
/// it inside a tokio runtime: it would block that runtime's thread.
pub fn plan_blocking(resolver: &dyn Resolver, request: &Request) -> Plan {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(plan(resolver, request)),
        Err(e) => Plan {
            request: request.clone(),
            mx: None,
            outcome: Outcome::Defer,
            reason: format!("cannot start a runtime for the lookups: {e}"),
            hosts: Vec::new(),
            limits: Vec::new(),
        },
    }
}

/// Asks A, AAAA and TLSA of every host at once and forgets the answers: the lookups of the
/// plan that follow find them in the resolver's cache, so all hosts' addresses and TLSA
/// records cost one round trip together instead of three per host. The TLSA question goes out
/// before the address answers say whether the host's zone is signed; its answer is used only
/// where D-09 and D-15 allow (a host in an insecure zone still gets no TLSA lookup in its
/// plan).
async fn prefetch(resolver: &dyn Resolver, hosts: &[Name], port: u16) {
    let mut queries: Vec<(Name, u16)> = Vec::new();
    for h in hosts {
        queries.push((h.clone(), rtype::A));
        queries.push((h.clone(), rtype::AAAA));
        if let Ok(owner) = tlsa_owner(h, port) {
            queries.push((owner, rtype::TLSA));
        }
    }
    join_all(queries.iter().map(|(n, t)| resolver.lookup(n, *t))).await;
}

fn is_ip_literal(name: &Name) -> bool {
    let text = name.to_string();
    let text = text.trim_end_matches('.');
    text.parse::<IpAddr>().is_ok() || (text.starts_with('[') && text.ends_with(']'))
}

fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let mut b = [0u8; 4];
        if getrandom::getrandom(&mut b).is_err() {
            return;
        }
        let j = usize::try_from(u32::from_be_bytes(b)).unwrap_or(0) % (i + 1);
        items.swap(i, j);
    }
}

async fn plan_host(
    resolver: &dyn Resolver,
    request: &Request,
    name: &Name,
    preference: Option<u16>,
    extra_ids: Option<&[Name]>,
) -> HostPlan {
    let mut host = HostPlan {
        name: name.clone(),
        preference,
        tlsa_base: None,
        reference_ids: Vec::new(),
        addresses: Vec::new(),
        tlsa_status: TlsaStatus::NotLooked,
        tlsa: Vec::new(),
        decision: Decision::Skip,
        reason: String::new(),
        limited: None,
        lookups: Vec::new(),
    };
    // D-09: address lookups first.
    let (a, aaaa) = futures_util::future::join(
        report(resolver, name, rtype::A),
        report(resolver, name, rtype::AAAA),
    )
    .await;
    host.lookups.push(a.clone());
    host.lookups.push(aaaa.clone());
    for r in [&a, &aaaa] {
        match &r.result {
            // D-12b: a failed or bogus address lookup skips the host.
            Err(e) => {
                host.reason = format!("{} lookup failed: {e}", type_name(r.qtype));
                return host;
            }
            Ok(l) if matches!(l.status(), Status::Bogus(_) | Status::Indeterminate(_)) => {
                host.reason = format!("{} lookup is {}", type_name(r.qtype), l.status());
                return host;
            }
            Ok(l) => {
                for rd in l.records() {
                    let ip = match rd {
                        Rdata::A(ip) => IpAddr::V4(*ip),
                        Rdata::Aaaa(ip) => IpAddr::V6(*ip),
                        _ => continue,
                    };
                    host.addresses.push(Address {
                        ip,
                        status: l.status().clone(),
                    });
                }
            }
        }
    }
    if host.addresses.is_empty() {
        host.reason = "no address".into();
        return host;
    }
    if host.addresses.len() > MAX_ADDRESSES {
        host.limited = Some(format!(
            "{}: {} addresses, only the first {MAX_ADDRESSES} are used (limit MAX_ADDRESSES)",
            host.name,
            host.addresses.len()
        ));
        host.addresses.truncate(MAX_ADDRESSES);
    }
    // The expansion as the address lookup saw it (A first, AAAA when A found nothing).
    let expansion = match (&a.result, &aaaa.result) {
        (Ok(l), _) if !l.records().is_empty() => l,
        (_, Ok(l)) => l,
        (Ok(l), _) => l,
        _ => {
            host.reason = "no address".into();
            return host;
        }
    };
    let first_secure = expansion
        .hops()
        .first()
        .is_some_and(|h| h.status == Status::Secure);
    let all_secure = expansion.hops().iter().all(|h| h.status == Status::Secure);
    let expanded = expansion.final_name().clone();
    if !first_secure {
        // D-15: a host in an insecure zone gets no TLSA lookup.
        host.decision = Decision::Opportunistic;
        host.reason = format!("{name} is in an insecure zone: no TLSA lookup, opportunistic TLS");
        return host;
    }
    // D-09 / D-15: which names to try, in order.
    let bases: Vec<Name> = if all_secure && expanded != *name {
        vec![expanded.clone(), name.clone()]
    } else {
        vec![name.clone()]
    };
    let mut result = None;
    for base in &bases {
        let owner = match tlsa_owner(base, request.port) {
            Ok(o) => o,
            Err(e) => {
                host.tlsa_status = TlsaStatus::Failed(e.clone());
                host.reason = e;
                return host;
            }
        };
        let r = report(resolver, &owner, rtype::TLSA).await;
        host.lookups.push(r.clone());
        let fallback = match &r.result {
            Ok(l) => l.is_secure_denial() || *l.status() == Status::Insecure,
            Err(_) => false,
        };
        result = Some((base.clone(), r));
        // Only "not found" or insecure falls back to the unexpanded name; a failure never does.
        if !fallback {
            break;
        }
    }
    let Some((base, r)) = result else {
        return host;
    };
    host.tlsa_base = Some(base.clone());
    let mut ids = vec![base.clone()];
    if let Some(extra) = extra_ids {
        ids.extend(extra.iter().cloned());
    } else if request.kind == Kind::Host && *name != base {
        ids.push(name.clone());
    }
    ids.dedup();
    let mut unique = Vec::new();
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    host.reference_ids = unique;
    match &r.result {
        Err(e) => {
            host.tlsa_status = TlsaStatus::Failed(e.to_string());
            host.decision = Decision::Skip;
            host.reason = format!("the TLSA lookup failed: {e}; the host is not used (D-14)");
        }
        Ok(l) => {
            host.tlsa = l.records().iter().filter_map(Rdata::tlsa).collect();
            match l.status() {
                Status::Bogus(why) => {
                    host.tlsa_status = TlsaStatus::Bogus(why.clone());
                    host.reason = format!("the TLSA lookup is bogus ({why}); the host is not used");
                }
                Status::Indeterminate(why) => {
                    host.tlsa_status = TlsaStatus::Indeterminate(why.clone());
                    host.reason =
                        format!("the TLSA lookup is indeterminate ({why}); the host is not used");
                }
                Status::Insecure => {
                    host.tlsa_status = TlsaStatus::Insecure;
                    host.decision = Decision::Opportunistic;
                    host.reason = "the TLSA lookup is insecure: no DANE, opportunistic TLS".into();
                }
                Status::Secure if host.tlsa.is_empty() => {
                    host.tlsa_status = TlsaStatus::SecureDenial;
                    host.decision = Decision::Opportunistic;
                    host.reason = "no TLSA records (securely proven): opportunistic TLS".into();
                }
                Status::Secure => {
                    host.tlsa_status = TlsaStatus::Secure;
                    let usable = host
                        .tlsa
                        .iter()
                        .filter(|t| t.usability() == Usability::Usable)
                        .count();
                    if usable > 0 {
                        host.decision = Decision::Dane;
                        host.reason =
                            format!("{usable} usable TLSA record(s): DANE authentication required");
                    } else {
                        host.decision = Decision::TlsMandatory;
                        host.reason = "secure TLSA records, none usable: TLS required, unauthenticated (RFC 7672 section 2.2)".into();
                    }
                }
            }
        }
    }
    host
}

/// `_PORT._tcp.BASE` (D-11), refusing names that would grow too long. Built from the labels,
/// never re-read from text: a name from the wire may hold octets no host-name syntax accepts.
fn tlsa_owner(base: &Name, port: u16) -> Result<Name, String> {
    base.tlsa_owner(port)
        .map_err(|e| format!("TLSA name _{port}._tcp.{base}: {e}"))
}
