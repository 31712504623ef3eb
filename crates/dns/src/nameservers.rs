//! The per-nameserver view of one TLSA RRset (CHECKLIST M-01): every authoritative server of
//! the RRset's zone, at every address, asked directly (no recursion, CD set) for the RRset and
//! the zone's SOA serial, each answer judged as a validator would ([`crate::direct`]) with the
//! zone's DNSKEY RRset as the validating resolver established it. A half-finished rollover
//! shows up here as servers that disagree, before any sender sees it.
//!
//! The view rests only on validated data (P-03): the zone apex's NS RRset and its DNSKEY RRset
//! must be Secure, nameserver addresses come from lookups that are not bogus, and what cannot
//! be found or was left out is said ([`Servers::incomplete`]), so "on every server" never means
//! "on every server an attacker left in the list".
//!
//! The work is done in parallel and bounded: the zone apex is found by asking NS at every
//! ancestor of the owner at once (one round trip), then the nameservers' addresses and the
//! zone keys at once, then every server's RRset and SOA at once.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::future::join_all;

use crate::direct::{self, Served, Zone};
use crate::lookup::{Lookup, Resolver, Status};
use crate::message::QueryFlags;
use crate::name::Name;
use crate::rdata::{Rdata, rtype, type_name};
use crate::transport::Transport;
use mxdane_tlsa::Tlsa;

/// The most nameserver names of one zone asked (real zones use up to about twenty).
pub const MAX_NAMESERVERS: usize = 32;
/// The most addresses asked over all of a zone's nameservers.
pub const MAX_NAMESERVER_ADDRESSES: usize = 64;
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
    /// The TLSA RRset (in presentation order; empty when its absence is proven), or why the
    /// server's answer does not count (no reply, not authoritative, a signature or a denial
    /// that does not verify). Only judged data is ever here.
    pub tlsa: Result<Vec<Tlsa>, String>,
    /// Whether the answer validates with the zone's keys (`Ok` exactly when `tlsa` is).
    pub signed: Result<(), String>,
    /// The zone's SOA serial as that server gives it (from a signed SOA).
    pub serial: Option<u32>,
    /// How long senders cache the TLSA RRset: its RRSIG's original TTL.
    pub ttl: Option<u32>,
    /// The zone's negative-caching TTL as that server gives it (RFC 2308 section 5: the
    /// smaller of the signed SOA's original TTL and its minimum field).
    pub negative_ttl: Option<u32>,
}

/// Why there is no view: a lookup it rests on is not Secure, or the zone cannot be found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewError {
    /// A lookup whose data the view needs is not Secure.
    NotSecure {
        /// The name asked.
        name: Name,
        /// The type asked.
        qtype: u16,
        /// Its status.
        status: Status,
    },
    /// A lookup the view needs failed.
    Lookup {
        /// The name asked.
        name: Name,
        /// The type asked.
        qtype: u16,
        /// Why.
        error: String,
    },
    /// No ancestor of the name has an NS RRset of its own.
    NoZone(Name),
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSecure {
                name,
                qtype,
                status,
            } => write!(
                f,
                "the {name} {} lookup is {status}, not secure: the authoritative servers cannot be trusted from it",
                type_name(*qtype)
            ),
            Self::Lookup { name, qtype, error } => {
                write!(f, "the {name} {} lookup failed: {error}", type_name(*qtype))
            }
            Self::NoZone(n) => write!(f, "{n}: no zone found (no ancestor has NS records)"),
        }
    }
}

impl std::error::Error for ViewError {}

/// A zone's authoritative servers, from validated data.
#[derive(Clone, Debug)]
pub struct Servers {
    /// The zone apex.
    pub apex: Name,
    /// The zone's DNSKEY RRset (Secure).
    pub keys: Vec<Rdata>,
    /// Every address of every nameserver (within the bounds).
    pub addresses: Vec<(Name, IpAddr)>,
    /// Nameservers some of whose addresses could not be found, and why.
    pub unreachable: Vec<(Name, String)>,
    /// What the bounds left out, if anything.
    pub cut: Option<String>,
}

impl Servers {
    /// Why these are not provably all the servers (nameservers without addresses, the bounds
    /// reached), or `None`. A gate that must hold on every server stays shut while this is
    /// `Some`.
    pub fn incomplete(&self) -> Option<String> {
        let mut why: Vec<String> = self
            .unreachable
            .iter()
            .map(|(n, e)| format!("nameserver {n}: {e}"))
            .collect();
        why.extend(self.cut.clone());
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// Every server's answer for one TLSA owner.
#[derive(Clone, Debug)]
pub struct View {
    /// The servers asked.
    pub servers: Servers,
    /// One answer per server address.
    pub answers: Vec<ServerAnswer>,
}

/// A transport to one nameserver address (port 53), chosen by the caller (tests route the
/// published addresses to the lab's servers).
pub type Connect = dyn Fn(SocketAddr) -> Arc<dyn Transport> + Send + Sync;

const DIRECT: QueryFlags = QueryFlags {
    rd: false,
    cd: true,
    dnssec_ok: true,
};

/// Asks one server `qname`/`qtype` directly and judges the answer ([`direct::judge`]).
pub fn ask(
    transport: &dyn Transport,
    qname: &Name,
    qtype: u16,
    zone: &Zone<'_>,
) -> Result<Served, String> {
    let m = transport
        .exchange(qname, qtype, DIRECT)
        .map_err(|e| e.to_string())?;
    direct::judge(&m, qname, qtype, zone)
}

/// Asks every authoritative server of the zone of `owner` (a TLSA owner name) for the RRset
/// and the SOA serial; `now` (seconds since 1970) judges the signatures. The direct exchanges
/// block, so they run on tokio's blocking pool.
pub async fn ask_all(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    owner: &Name,
    now: u32,
) -> Result<View, ViewError> {
    let servers = authoritative_servers(resolver, connect, owner).await?;
    let shared = Arc::new((servers.apex.clone(), servers.keys.clone()));
    let asks = servers.addresses.iter().cloned().map(|(name, ip)| {
        let (connect, owner, shared) = (connect.clone(), owner.clone(), shared.clone());
        async move {
            let transport = connect(SocketAddr::new(ip, 53));
            let (t1, o1, s1) = (transport.clone(), owner.clone(), shared.clone());
            let tlsa = tokio::task::spawn_blocking(move || {
                let zone = Zone {
                    apex: &s1.0,
                    keys: &s1.1,
                    now,
                };
                ask(t1.as_ref(), &o1, rtype::TLSA, &zone)
            });
            let soa = tokio::task::spawn_blocking(move || {
                let zone = Zone {
                    apex: &shared.0,
                    keys: &shared.1,
                    now,
                };
                soa(transport.as_ref(), &zone)
            });
            let (tlsa, soa) = futures_util::future::join(tlsa, soa).await;
            let tlsa = tlsa.unwrap_or_else(|e| Err(format!("the query task failed: {e}")));
            let mut answer = ServerAnswer {
                owner,
                name,
                ip,
                tlsa: Err(String::new()),
                signed: Err(String::new()),
                serial: None,
                ttl: None,
                negative_ttl: None,
            };
            if let Ok(Some((serial, negative_ttl))) = soa {
                answer.serial = Some(serial);
                answer.negative_ttl = Some(negative_ttl);
            }
            match tlsa {
                Ok(Served::Rrset { records, ttl, .. }) => {
                    let mut tlsa: Vec<Tlsa> = records.iter().filter_map(Rdata::tlsa).collect();
                    // In presentation order, so that two servers' RRsets compare as lists.
                    tlsa.sort_by_cached_key(ToString::to_string);
                    answer.tlsa = Ok(tlsa);
                    answer.signed = Ok(());
                    answer.ttl = Some(ttl);
                }
                Ok(Served::Absent { negative_ttl, .. }) => {
                    answer.tlsa = Ok(Vec::new());
                    answer.signed = Ok(());
                    answer.negative_ttl = Some(negative_ttl);
                }
                Err(e) => {
                    answer.signed = Err(e.clone());
                    answer.tlsa = Err(e);
                }
            }
            answer
        }
    });
    let answers = join_all(asks).await;
    Ok(View { servers, answers })
}

/// Every authoritative server of the zone that holds `name`: the zone's own NS RRset and the
/// parent's delegation together (a server listed in only one of them still answers some
/// resolvers), with every address of each; the zone's NS and DNSKEY RRsets must be Secure.
pub async fn authoritative_servers(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    name: &Name,
) -> Result<Servers, ViewError> {
    let (apex, ns) = find_apex(resolver, name).await?;
    let keys = async {
        let l = resolver
            .lookup(&apex, rtype::DNSKEY)
            .await
            .map_err(|e| ViewError::Lookup {
                name: apex.clone(),
                qtype: rtype::DNSKEY,
                error: e.to_string(),
            })?;
        secure(&l)?;
        Ok::<_, ViewError>(l.records().to_vec())
    };
    let (keys, addresses) =
        futures_util::future::join(keys, server_addresses(resolver, connect, &apex, &ns)).await;
    let keys = keys?;
    let (addresses, unreachable, cut) = addresses?;
    Ok(Servers {
        apex,
        keys,
        addresses,
        unreachable,
        cut,
    })
}

fn secure(l: &Lookup) -> Result<(), ViewError> {
    if *l.status() == Status::Secure {
        Ok(())
    } else {
        Err(ViewError::NotSecure {
            name: l.qname().clone(),
            qtype: l.qtype(),
            status: l.status().clone(),
        })
    }
}

type Addresses = (Vec<(Name, IpAddr)>, Vec<(Name, String)>, Option<String>);

async fn server_addresses(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    apex: &Name,
    ns: &[Rdata],
) -> Result<Addresses, ViewError> {
    let mut ns_names: Vec<Name> = ns
        .iter()
        .filter_map(|r| match r {
            Rdata::Ns(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    for n in delegation(resolver, connect, apex).await? {
        if !ns_names.contains(&n) {
            ns_names.push(n);
        }
    }
    let mut cut = None;
    if ns_names.len() > MAX_NAMESERVERS {
        cut = Some(format!(
            "{} nameserver names, more than the {MAX_NAMESERVERS} asked",
            ns_names.len()
        ));
        ns_names.truncate(MAX_NAMESERVERS);
    }
    let questions: Vec<(&Name, u16)> = ns_names
        .iter()
        .flat_map(|n| [(n, rtype::A), (n, rtype::AAAA)])
        .collect();
    let results = join_all(questions.iter().map(|(n, t)| resolver.lookup(n, *t))).await;
    let mut addresses: Vec<(Name, IpAddr)> = Vec::new();
    let mut unreachable: Vec<(Name, String)> = Vec::new();
    for ((n, t), result) in questions.iter().zip(results) {
        match result {
            Ok(l) if matches!(l.status(), Status::Bogus(_) | Status::Indeterminate(_)) => {
                unreachable.push((
                    (*n).clone(),
                    format!("the {} lookup is {}", type_name(*t), l.status()),
                ));
            }
            Ok(l) => {
                for r in l.records() {
                    match r {
                        Rdata::A(a) => addresses.push(((*n).clone(), IpAddr::V4(*a))),
                        Rdata::Aaaa(a) => addresses.push(((*n).clone(), IpAddr::V6(*a))),
                        _ => {}
                    }
                }
            }
            Err(e) => unreachable.push((
                (*n).clone(),
                format!("the {} lookup failed: {e}", type_name(*t)),
            )),
        }
    }
    if addresses.len() > MAX_NAMESERVER_ADDRESSES {
        let more = format!(
            "{} nameserver addresses, more than the {MAX_NAMESERVER_ADDRESSES} asked",
            addresses.len()
        );
        cut = Some(cut.map_or(more.clone(), |c| format!("{c}; {more}")));
        addresses.truncate(MAX_NAMESERVER_ADDRESSES);
    }
    Ok((addresses, unreachable, cut))
}

/// The NS names the parent's delegation lists for `apex`: the referral one of the parent's
/// servers gives when asked directly (the first of up to four that answers). Referrals are not
/// signed; the names only add servers to ask, never remove one.
async fn delegation(
    resolver: &dyn Resolver,
    connect: &Arc<Connect>,
    apex: &Name,
) -> Result<Vec<Name>, ViewError> {
    if apex.is_root() {
        return Ok(Vec::new());
    }
    let (_, parent_ns) = find_apex(resolver, &apex.parent()).await?;
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
                return Ok(names);
            }
        }
    }
    Ok(Vec::new())
}

/// The zone apex of `owner` and its Secure NS RRset: the deepest ancestor with NS records of
/// its own, all ancestors asked at once. A lookup on the way that is bogus, indeterminate or
/// failed stops the search: skipping it could let a forger choose a shallower zone.
async fn find_apex(resolver: &dyn Resolver, owner: &Name) -> Result<(Name, Vec<Rdata>), ViewError> {
    let mut candidates = Vec::new();
    let mut n = owner.clone();
    while !n.is_root() && candidates.len() < MAX_APEX_DEPTH {
        candidates.push(n.clone());
        n = n.parent();
    }
    let results = join_all(candidates.iter().map(|n| resolver.lookup(n, rtype::NS))).await;
    // Deepest first: the first with its own NS RRset.
    for (n, r) in candidates.iter().zip(results) {
        let l = r.map_err(|e| ViewError::Lookup {
            name: n.clone(),
            qtype: rtype::NS,
            error: e.to_string(),
        })?;
        match l.status() {
            Status::Bogus(_) | Status::Indeterminate(_) => return Err(not_secure(&l)),
            _ if l.final_name() != n || l.records().is_empty() => {}
            Status::Secure => return Ok((n.clone(), l.records().to_vec())),
            Status::Insecure => return Err(not_secure(&l)),
        }
    }
    Err(ViewError::NoZone(owner.clone()))
}

fn not_secure(l: &Lookup) -> ViewError {
    ViewError::NotSecure {
        name: l.qname().clone(),
        qtype: l.qtype(),
        status: l.status().clone(),
    }
}

/// The zone's SOA serial and negative-caching TTL as one server gives them, signed.
fn soa(transport: &dyn Transport, zone: &Zone<'_>) -> Option<(u32, u32)> {
    match ask(transport, zone.apex, rtype::SOA, zone).ok()? {
        Served::Rrset { records, ttl, .. } => records.iter().find_map(|r| match r {
            Rdata::Soa {
                serial, minimum, ..
            } => Some((*serial, ttl.min(*minimum))),
            _ => None,
        }),
        Served::Absent { .. } => None,
    }
}
