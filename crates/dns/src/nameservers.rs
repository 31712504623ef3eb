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
/// cannot be found.
pub fn ask_all(
    resolver: &dyn Resolver,
    connect: &Connect,
    owner: &Name,
    now: u32,
) -> Vec<ServerAnswer> {
    let Some((apex, ns)) = find_apex(resolver, owner) else {
        return Vec::new();
    };
    let ns_names: Vec<Name> = ns
        .iter()
        .filter_map(|r| match r {
            Rdata::Ns(n) => Some(n.clone()),
            _ => None,
        })
        .take(MAX_NAMESERVERS)
        .collect();
    // The zone's keys and every nameserver's addresses, together.
    let (keys, addresses) = std::thread::scope(|s| {
        let keys = s.spawn(|| {
            resolver
                .lookup(&apex, rtype::DNSKEY)
                .map(|l| l.records().to_vec())
                .unwrap_or_default()
        });
        let lookups: Vec<_> = ns_names
            .iter()
            .flat_map(|n| [(n, rtype::A), (n, rtype::AAAA)])
            .map(|(n, t)| (n, s.spawn(move || resolver.lookup(n, t))))
            .collect();
        let mut addresses: Vec<(Name, IpAddr)> = Vec::new();
        for (n, h) in lookups {
            if let Ok(Ok(l)) = h.join() {
                for r in l.records() {
                    match r {
                        Rdata::A(a) => addresses.push((n.clone(), IpAddr::V4(*a))),
                        Rdata::Aaaa(a) => addresses.push((n.clone(), IpAddr::V6(*a))),
                        _ => {}
                    }
                }
            }
        }
        (keys.join().unwrap_or_default(), addresses)
    });
    let addresses: Vec<(Name, IpAddr)> = addresses
        .into_iter()
        .take(MAX_NAMESERVER_ADDRESSES)
        .collect();
    // Every server's RRset and serial, together.
    std::thread::scope(|s| {
        let handles: Vec<_> = addresses
            .iter()
            .map(|(name, ip)| {
                let (apex, keys) = (&apex, &keys);
                s.spawn(move || {
                    let transport = connect(SocketAddr::new(*ip, 53));
                    let serial = s.spawn({
                        let transport = transport.clone();
                        move || soa_serial(transport.as_ref(), apex)
                    });
                    let mut answer = ServerAnswer {
                        owner: owner.clone(),
                        name: name.clone(),
                        ip: *ip,
                        tlsa: Err("not asked".into()),
                        signed: Err("not checked".into()),
                        serial: None,
                    };
                    ask_tlsa(transport.as_ref(), owner, apex, keys, now, &mut answer);
                    answer.serial = serial.join().unwrap_or(None);
                    answer
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// The zone apex of `owner` and its NS RRset: the deepest ancestor with NS records of its own,
/// all ancestors asked at once.
fn find_apex(resolver: &dyn Resolver, owner: &Name) -> Option<(Name, Vec<Rdata>)> {
    let mut candidates = Vec::new();
    let mut n = owner.clone();
    while !n.is_root() && candidates.len() < MAX_APEX_DEPTH {
        candidates.push(n.clone());
        n = n.parent();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = candidates
            .iter()
            .map(|n| (n, s.spawn(move || resolver.lookup(n, rtype::NS))))
            .collect();
        // Deepest first: the first with its own NS RRset.
        let mut found = None;
        for (n, h) in handles {
            if found.is_some() {
                let _ = h.join();
                continue;
            }
            if let Ok(Ok(l)) = h.join()
                && !l.records().is_empty()
                && l.final_name() == n
            {
                found = Some((n.clone(), l.records().to_vec()));
            }
        }
        found
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
            answer.signed = if rrset.is_empty() {
                Ok(())
            } else {
                verify_rrset(&rrset, &sigs, apex, keys, now)
            };
            answer.tlsa = Ok(texts);
        }
    }
}

fn soa_serial(transport: &dyn Transport, apex: &Name) -> Option<u32> {
    let m = transport.exchange(apex, rtype::SOA, DIRECT).ok()?;
    m.answer.iter().find_map(|r| match &r.rdata {
        Rdata::Soa { serial, .. } if r.name == *apex => Some(*serial),
        _ => None,
    })
}
