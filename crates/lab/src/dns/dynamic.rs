//! A zone whose TLSA records change by RFC 2136 UPDATE, signed with TSIG (RFC 8945): the
//! rollover engine's counterpart. Server 0 is the primary; it checks the signature, the
//! prerequisites (a concurrent edit makes them fail: NXRRSET or YXRRSET), applies the changes
//! and re-signs the zone. Every other server is a secondary that serves the primary's data,
//! unless the test froze it (as `knotc zone-freeze` does): then it keeps serving the copy it
//! had until it is thawed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use mxdane_dns::update::{self, Change, Prerequisite, TsigFailure, TsigKey, Update, rcode};

use super::name::Name;
use super::rdata::{Rdata, rtype};
use super::resolve::Mode;
use super::server::{DnsServer, SharedWorld};
use super::world::{World, WorldBuilder, ns_address};

/// One RRset: its TTL and records (RDATA in wire form).
type RrSet = (u32, BTreeSet<Vec<u8>>);

/// An RRset's owner and type (TLSA for the rollover, TXT for ACME dns-01 challenges).
type Key = (Name, u16);

#[derive(Debug, Default)]
struct State {
    primary: BTreeMap<Key, RrSet>,
    /// Per server: the copy a frozen secondary keeps serving (None: it follows the primary).
    frozen: Vec<Option<BTreeMap<Key, RrSet>>>,
    /// Every update the primary applied or refused, in words.
    log: Vec<String>,
}

/// A running world around a dynamic zone.
#[derive(Debug)]
pub struct Running {
    /// A recursive server for validating stubs.
    pub recursive: SocketAddr,
    /// The dynamic zone's primary (where updates go).
    pub primary: SocketAddr,
    /// Every zone's published nameserver addresses (port 53) to the loopback servers.
    pub ns_routes: HashMap<SocketAddr, SocketAddr>,
    /// The root's trust anchor in zone-file form.
    pub trust_anchor: String,
    _servers: Vec<DnsServer>,
    _recursive: DnsServer,
}

/// A dynamic zone and the world it lives in.
pub struct Dynamic {
    base: WorldBuilder,
    apex: Name,
    servers: usize,
    keys: Vec<TsigKey>,
    state: Mutex<State>,
    world: SharedWorld,
}

impl std::fmt::Debug for Dynamic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dynamic({}, {} servers)", self.apex, self.servers)
    }
}

/// The record of type `t` (TLSA or TXT) in wire form.
fn from_wire(t: u16, rd: &[u8]) -> Option<Rdata> {
    match t {
        rtype::TLSA => tlsa_from_wire(rd),
        rtype::TXT => {
            let mut strings = Vec::new();
            let mut rest = rd;
            while let Some((&len, tail)) = rest.split_first() {
                let (s, tail) = tail.split_at_checked(usize::from(len))?;
                strings.push(String::from_utf8(s.to_vec()).ok()?);
                rest = tail;
            }
            (!strings.is_empty()).then_some(Rdata::Txt(strings))
        }
        _ => None,
    }
}

fn tlsa_from_wire(rd: &[u8]) -> Option<Rdata> {
    let (&usage, rest) = rd.split_first()?;
    let (&selector, rest) = rest.split_first()?;
    let (&matching, data) = rest.split_first()?;
    Some(Rdata::Tlsa {
        usage,
        selector,
        matching,
        data: data.to_vec(),
    })
}

/// The answer for an UPDATE sent to a server that does not take them.
pub fn refuse(buf: &[u8]) -> Vec<u8> {
    let id = u16::from_be_bytes([
        buf.first().copied().unwrap_or(0),
        buf.get(1).copied().unwrap_or(0),
    ]);
    update::response(id, &Name::root(), rcode::NOTAUTH)
}

impl Dynamic {
    /// A dynamic zone `apex` of `base` with `servers` authoritative servers (1 primary, the
    /// rest secondaries), taking updates signed with one of `keys` (none: unsigned updates
    /// are accepted, for tests of that refusal elsewhere).
    pub fn new(base: WorldBuilder, apex: &str, servers: usize, keys: Vec<TsigKey>) -> Arc<Self> {
        let servers = servers.max(1);
        let base = base.zone(apex, |z| z.servers(servers));
        let d = Self {
            world: Arc::new(RwLock::new(Arc::new(base.clone().build()))),
            base,
            apex: Name::parse(apex),
            servers,
            keys,
            state: Mutex::new(State {
                frozen: vec![None; servers],
                ..State::default()
            }),
        };
        Arc::new(d)
    }

    /// The world as it is now.
    pub fn world(&self) -> Arc<World> {
        self.world.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The handle servers answer from.
    pub fn shared(&self) -> SharedWorld {
        self.world.clone()
    }

    /// Starts the whole world around the zone: every authoritative server of every zone
    /// (the dynamic zone's primary taking updates), and a recursive server, all answering
    /// from the current world.
    pub fn start_all(self: &Arc<Self>) -> io::Result<Running> {
        let world = self.world();
        let mut servers = Vec::new();
        let mut ns_routes = HashMap::new();
        for (zi, z) in world.zones().iter().enumerate() {
            for si in 0..z.servers.len() {
                let updates = (z.apex == self.apex).then(|| self.clone());
                let s = DnsServer::shared(
                    self.shared(),
                    Mode::Authoritative {
                        zone: zi,
                        server: si,
                    },
                    updates,
                )?;
                ns_routes.insert(SocketAddr::new(ns_address(zi, si).into(), 53), s.addr());
                servers.push(s);
            }
        }
        let recursive = DnsServer::shared(self.shared(), Mode::Recursive, None)?;
        let primary = ns_routes
            .get(&SocketAddr::new(
                ns_address(
                    world
                        .zones()
                        .iter()
                        .position(|z| z.apex == self.apex)
                        .unwrap_or(0),
                    0,
                )
                .into(),
                53,
            ))
            .copied()
            .ok_or_else(|| io::Error::other("the dynamic zone has no primary"))?;
        Ok(Running {
            recursive: recursive.addr(),
            primary,
            ns_routes,
            trust_anchor: world.trust_anchor_text(),
            _servers: servers,
            _recursive: recursive,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Secondary `server` stops taking the primary's changes.
    pub fn freeze(&self, server: usize) {
        let mut s = self.lock();
        let copy = s.primary.clone();
        if let Some(f) = s.frozen.get_mut(server)
            && f.is_none()
        {
            *f = Some(copy);
        }
    }

    /// Secondary `server` catches up with the primary.
    pub fn thaw(&self, server: usize) {
        let mut s = self.lock();
        if let Some(f) = s.frozen.get_mut(server) {
            *f = None;
        }
        self.rebuild(&s);
    }

    /// A change made behind the engine's back on the primary (an operator's manual edit).
    pub fn edit(&self, owner: &Name, rdata: &[u8], ttl: u32, add: bool) {
        let mut s = self.lock();
        let set = s
            .primary
            .entry((owner.clone(), rtype::TLSA))
            .or_insert((ttl, BTreeSet::new()));
        if add {
            set.1.insert(rdata.to_vec());
        } else {
            set.1.remove(rdata);
        }
        s.log.push(format!("manual edit at {owner}"));
        self.rebuild(&s);
    }

    /// The TLSA records (presentation, lower case) server `server` serves at `owner`.
    pub fn served(&self, server: usize, owner: &Name) -> BTreeSet<String> {
        let s = self.lock();
        let data = match s.frozen.get(server) {
            Some(Some(copy)) => copy,
            _ => &s.primary,
        };
        data.get(&(owner.clone(), rtype::TLSA))
            .map(|(_, set)| {
                set.iter()
                    .filter_map(|rd| tlsa_from_wire(rd))
                    .map(|r| r.to_string().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the primary did with each update.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    fn rebuild(&self, s: &State) {
        let owners: BTreeSet<Key> = s
            .primary
            .keys()
            .chain(s.frozen.iter().flatten().flat_map(|c| c.keys()))
            .cloned()
            .collect();
        let world = self
            .base
            .clone()
            .zone(self.apex.as_str(), |mut z| {
                for ((owner, t), (ttl, set)) in &s.primary {
                    for rd in set.iter().filter_map(|rd| from_wire(*t, rd)) {
                        z = z.record_ttl(owner.as_str(), *ttl, rd);
                    }
                }
                for (i, frozen) in s.frozen.iter().enumerate() {
                    let Some(copy) = frozen else { continue };
                    for key in &owners {
                        let (owner, t) = key;
                        let (ttl, rds) = match copy.get(key) {
                            Some((ttl, set)) => (
                                *ttl,
                                set.iter().filter_map(|rd| from_wire(*t, rd)).collect(),
                            ),
                            None => (0, Vec::new()),
                        };
                        z = z.server_serves(i, owner.as_str(), *t, ttl, rds);
                    }
                }
                z
            })
            .build();
        *self.world.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(world);
    }

    /// Answers an UPDATE (RFC 2136 section 3, RFC 8945 section 5).
    pub fn handle(&self, buf: &[u8]) -> Vec<u8> {
        let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
        let id = u16::from_be_bytes([
            buf.first().copied().unwrap_or(0),
            buf.get(1).copied().unwrap_or(0),
        ]);
        let mut s = self.lock();
        // The signature first: an unsigned or forged update is never read further.
        let mut mac = None;
        let mut key = None;
        if !self.keys.is_empty() {
            match update::verify(buf, &self.keys, now, None) {
                Ok((t, k)) => {
                    mac = Some(t.mac);
                    key = Some(k.clone());
                }
                Err(e) => {
                    s.log.push(format!("refused: {e}"));
                    let code = if e == TsigFailure::Unsigned {
                        rcode::REFUSED
                    } else {
                        rcode::NOTAUTH
                    };
                    return update::response(id, &self.apex, code);
                }
            }
        }
        let answer = |code: u16| -> Vec<u8> {
            let plain = update::response(id, &self.apex, code);
            match (&key, &mac) {
                (Some(k), Some(m)) => update::sign(&plain, k, now, Some(m), 0).0,
                _ => plain,
            }
        };
        let u = match Update::parse(buf) {
            Ok(u) => u,
            Err(e) => {
                s.log.push(format!("FORMERR: {e}"));
                return answer(rcode::FORMERR);
            }
        };
        if u.zone != self.apex {
            s.log.push(format!("NOTAUTH: zone {}", u.zone));
            return answer(rcode::NOTAUTH);
        }
        // Prerequisites (section 3.2), against the primary's TLSA RRsets.
        for p in &u.prerequisites {
            let (owner, t) = match p {
                Prerequisite::Exactly { owner, rtype, .. }
                | Prerequisite::Absent { owner, rtype } => (owner, *rtype),
            };
            if t != rtype::TLSA {
                s.log.push("NOTIMP: a prerequisite on another type".into());
                return answer(rcode::NOTIMP);
            }
            let have: BTreeSet<Vec<u8>> = s
                .primary
                .get(&(owner.clone(), t))
                .map(|(_, set)| set.clone())
                .unwrap_or_default();
            let failed = match p {
                Prerequisite::Exactly { rdatas, .. } => {
                    let want: BTreeSet<Vec<u8>> = rdatas.iter().cloned().collect();
                    (want != have).then_some(rcode::NXRRSET)
                }
                Prerequisite::Absent { .. } => (!have.is_empty()).then_some(rcode::YXRRSET),
            };
            if let Some(code) = failed {
                s.log.push(format!("{} at {owner}", rcode::name(code)));
                return answer(code);
            }
        }
        // The changes (section 3.4), all checked before any is applied.
        for c in &u.changes {
            let (owner, t) = match c {
                Change::Add { owner, rtype, .. } | Change::Delete { owner, rtype, .. } => {
                    (owner, *rtype)
                }
            };
            if !owner.is_at_or_below(&self.apex) {
                s.log.push(format!("NOTZONE: {owner}"));
                return answer(rcode::NOTZONE);
            }
            if t != rtype::TLSA && t != rtype::TXT {
                s.log
                    .push("REFUSED: only TLSA and TXT records change here".into());
                return answer(rcode::REFUSED);
            }
        }
        for c in &u.changes {
            match c {
                Change::Add {
                    owner,
                    rtype: t,
                    ttl,
                    rdata,
                } => {
                    if from_wire(*t, rdata).is_none() {
                        s.log.push(format!(
                            "FORMERR: a malformed {} record",
                            super::rdata::type_name(*t)
                        ));
                        return answer(rcode::FORMERR);
                    }
                    let set = s
                        .primary
                        .entry((owner.clone(), *t))
                        .or_insert((*ttl, BTreeSet::new()));
                    set.0 = *ttl;
                    set.1.insert(rdata.clone());
                }
                Change::Delete {
                    owner,
                    rtype: t,
                    rdata,
                } => {
                    if let Some(set) = s.primary.get_mut(&(owner.clone(), *t)) {
                        set.1.remove(rdata);
                    }
                }
            }
        }
        s.primary.retain(|_, (_, set)| !set.is_empty());
        s.log.push(format!("applied {} change(s)", u.changes.len()));
        self.rebuild(&s);
        answer(rcode::NOERROR)
    }
}
