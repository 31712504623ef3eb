//! The per-nameserver view of one TLSA RRset (CHECKLIST M-01): every authoritative server of
//! the RRset's zone, at every address, asked directly (no recursion, CD set) for the RRset and
//! the zone's SOA serial; each answer's signature checked with the zone's DNSKEY RRset as the
//! validating resolver established it. A half-finished rollover shows up here as servers that
//! disagree, before any sender sees it.
//!
//! The work is done in parallel and bounded: the zone apex is found by asking NS at every
//! ancestor of the owner at once (one round trip), then the nameservers' addresses and the
//! zone keys at once, then every server's RRset and SOA at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::future::join_all;

use crate::lookup::Resolver;
use crate::message::{QueryFlags, rcode};
use crate::name::Name;
use crate::rdata::{Rdata, Record, rtype};
use crate::transport::Transport;
use crate::validate::{sigs_for, verify_rrset};

/// The most nameserver names of one zone asked (the root zone has 13).
pub const MAX_NAMESERVERS: usize = 13;
/// The most addresses asked over all of a zone's nameservers.
pub const MAX_NAMESERVER_ADDRESSES: usize = 26;
/// The most ancestors of the owner tried as the zone apex (deeper owners are refused).
pub const MAX_APEX_DEPTH: usize = 12;

/// What one authoritative nameserver address says about a TLSA RRset.
#[derive(Clone, Debug)]
pub struct ServerAnswer {
    /// The TLSA owner asked.
    pub owner: Name,
    /// The nameserver's name.
    pub name: Name,
    /// Its address.
    pub ip: IpAddr,
    /// The TLSA RRset (presentation, lower case, sorted), or why there is none.
    pub tlsa: Result<Vec<String>, String>,
    /// Whether the RRset's signature verifies with the zone's keys.
    pub signed: Result<(), String>,
    /// The zone's SOA serial as that server sees it.
    pub serial: Option<u32>,
    /// The TTL the server gives the TLSA RRset (what senders cache it for).
    pub ttl: Option<u32>,
    /// The zone's negative-caching TTL as that server gives it (RFC 2308 section 5: the
    /// smaller of the SOA's TTL and its minimum field).
    pub negative_ttl: Option<u32>,
}

/// A transport to one nameserver address (port 53), chosen by the caller (tests route the
/// published addresses to the lab's servers).
pub type Connect = dyn Fn(SocketAddr) -> Arc<dyn Transport> + Send + Sync;

const DIRECT: QueryFlags = QueryFlags {
    rd: false,
    cd: true,
    dnssec_ok: true,
};

/// Asks every authoritative server of the zone of `owner` (a TLSA owner name) for the RRset
/// and the SOA serial; `now` (seconds since 1970) judges the signatures. Empty when the zone
/// cannot be found. The direct exchanges block, so they run on tokio's blocking pool.
pub async fn ask_all(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    owner: &Name,
    now: u32,
) -> Vec<ServerAnswer> {
    let Some((apex, ns)) = find_apex(resolver, owner).await else {
        return Vec::new();
    };
    // The zone's keys and every nameserver's addresses, together.
    let keys = async {
        resolver
            .lookup(&apex, rtype::DNSKEY)
            .await
            .map(|l| l.records().to_vec())
            .unwrap_or_default()
    };
    let (keys, addresses) =
        futures_util::future::join(keys, server_addresses(resolver, connect, &apex, &ns)).await;
    // Every server's RRset and serial, together.
    let keys = Arc::new(keys);
    let asks = addresses.into_iter().map(|(name, ip)| {
        let (connect, owner, apex, keys) =
            (connect.clone(), owner.clone(), apex.clone(), keys.clone());
        async move {
            let transport = connect(SocketAddr::new(ip, 53));
            let (t1, o1, a1) = (transport.clone(), owner.clone(), apex.clone());
            let tlsa = tokio::task::spawn_blocking(move || {
                let mut answer = ServerAnswer {
                    owner: o1.clone(),
                    name,
                    ip,
                    tlsa: Err("not asked".into()),
                    signed: Err("not checked".into()),
                    serial: None,
                    ttl: None,
                    negative_ttl: None,
                };
                ask_tlsa(t1.as_ref(), &o1, &a1, &keys, now, &mut answer);
                answer
            });
            let soa = tokio::task::spawn_blocking(move || soa(transport.as_ref(), &apex));
            let (tlsa, soa) = futures_util::future::join(tlsa, soa).await;
            tlsa.ok().map(|mut a| {
                if let Some((serial, negative_ttl)) = soa.ok().flatten() {
                    a.serial = Some(serial);
                    a.negative_ttl = Some(negative_ttl);
                }
                a
            })
        }
    });
    join_all(asks).await.into_iter().flatten().collect()
}

/// Every authoritative server of the zone that holds `name`: the zone's own NS RRset and the
/// parent's delegation together (a server listed in only one of them still answers some
/// resolvers), with every address of each. Empty when the zone cannot be found.
pub async fn authoritative_servers(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    name: &Name,
) -> Vec<(Name, IpAddr)> {
    match find_apex(resolver, name).await {
        Some((apex, ns)) => server_addresses(resolver, connect, &apex, &ns).await,
        None => Vec::new(),
    }
}

async fn server_addresses(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    apex: &Name,
    ns: &[Rdata],
) -> Vec<(Name, IpAddr)> {
    let mut ns_names: Vec<Name> = ns
        .iter()
        .filter_map(|r| match r {
            Rdata::Ns(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    for n in delegation(resolver, connect, apex).await {
        if !ns_names.contains(&n) {
            ns_names.push(n);
        }
    }
    ns_names.truncate(MAX_NAMESERVERS);
    let questions: Vec<(&Name, u16)> = ns_names
        .iter()
        .flat_map(|n| [(n, rtype::A), (n, rtype::AAAA)])
        .collect();
    let results = join_all(questions.iter().map(|(n, t)| resolver.lookup(n, *t))).await;
    let mut addresses: Vec<(Name, IpAddr)> = Vec::new();
    for ((n, _), result) in questions.iter().zip(results) {
        for r in result.as_ref().map(|l| l.records()).unwrap_or(&[]) {
            match r {
                Rdata::A(a) => addresses.push(((*n).clone(), IpAddr::V4(*a))),
                Rdata::Aaaa(a) => addresses.push(((*n).clone(), IpAddr::V6(*a))),
                _ => {}
            }
        }
    }
    addresses.truncate(MAX_NAMESERVER_ADDRESSES);
    addresses
}

/// The NS names the parent's delegation lists for `apex`: the referral one of the parent's
/// servers gives when asked directly (the first of up to four that answers). Referrals are not
/// signed; the names only add servers to ask, never remove one.
async fn delegation(resolver: &dyn Resolver, connect: &Arc<Connect>, apex: &Name) -> Vec<Name> {
    if apex.is_root() {
        return Vec::new();
    }
    let Some((_, parent_ns)) = find_apex(resolver, &apex.parent()).await else {
        return Vec::new();
    };
    for r in parent_ns.iter().take(4) {
        let Rdata::Ns(server) = r else { continue };
        let Ok(a) = resolver.lookup(server, rtype::A).await else {
            continue;
        };
        for rd in a.records() {
            let Rdata::A(ip) = rd else { continue };
            let transport = connect(SocketAddr::new(IpAddr::V4(*ip), 53));
            let apex2 = apex.clone();
            let m = tokio::task::spawn_blocking(move || {
                transport.exchange(&apex2, rtype::NS, DIRECT).ok()
            })
            .await
            .ok()
            .flatten();
            let names: Vec<Name> = m
                .iter()
                .flat_map(|m| m.authority.iter().chain(&m.answer))
                .filter(|r| r.name == *apex)
                .filter_map(|r| match &r.rdata {
                    Rdata::Ns(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            if !names.is_empty() {
                return names;
            }
        }
    }
    Vec::new()
}

/// The zone apex of `owner` and its NS RRset: the deepest ancestor with NS records of its own,
/// all ancestors asked at once.
async fn find_apex(resolver: &dyn Resolver, owner: &Name) -> Option<(Name, Vec<Rdata>)> {
    let mut candidates = Vec::new();
    let mut n = owner.clone();
    while !n.is_root() && candidates.len() < MAX_APEX_DEPTH {
        candidates.push(n.clone());
        n = n.parent();
    }
    let results = join_all(candidates.iter().map(|n| resolver.lookup(n, rtype::NS))).await;
    // Deepest first: the first with its own NS RRset.
    candidates.iter().zip(results).find_map(|(n, r)| match r {
        Ok(l) if !l.records().is_empty() && l.final_name() == n => {
            Some((n.clone(), l.records().to_vec()))
        }
        _ => None,
    })
}

fn ask_tlsa(
    transport: &dyn Transport,
    owner: &Name,
    apex: &Name,
    keys: &[Rdata],
    now: u32,
    answer: &mut ServerAnswer,
) {
    match transport.exchange(owner, rtype::TLSA, DIRECT) {
        Err(e) => answer.tlsa = Err(e.to_string()),
        Ok(m) if m.rcode != rcode::NOERROR && m.rcode != rcode::NXDOMAIN => {
            answer.tlsa = Err(format!("response code {}", m.rcode));
        }
        Ok(m) => {
            let rrset: Vec<Record> = m
                .answer
                .iter()
                .filter(|r| r.name == *owner && r.rtype() == rtype::TLSA)
                .cloned()
                .collect();
            let sigs = sigs_for(&m.answer, owner, rtype::TLSA);
            let mut texts: Vec<String> = rrset
                .iter()
                .map(|r| r.rdata.to_string().to_ascii_lowercase())
                .collect();
            texts.sort();
            answer.ttl = rrset.iter().map(|r| r.ttl).max();
            answer.signed = if rrset.is_empty() {
                Ok(())
            } else {
                verify_rrset(&rrset, &sigs, apex, keys, now)
            };
            answer.tlsa = Ok(texts);
        }
    }
}

/// The zone's SOA serial and negative-caching TTL as one server gives them.
fn soa(transport: &dyn Transport, apex: &Name) -> Option<(u32, u32)> {
    let m = transport.exchange(apex, rtype::SOA, DIRECT).ok()?;
    m.answer.iter().find_map(|r| match &r.rdata {
        Rdata::Soa {
            serial, minimum, ..
        } if r.name == *apex => Some((*serial, r.ttl.min(*minimum))),
        _ => None,
    })
}
