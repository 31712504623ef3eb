//! Describing and building a signed mini-internet: a private root, TLDs and domains, signed at
//! build time with fresh keys, with fault knobs that each break exactly one thing.
//!
//! ```
//! use mxdane_lab::dns::world::{World, SigFault};
//! use mxdane_lab::dns::rdata::rtype;
//!
//! let world = World::builder()
//!     .zone("example.test", |z| {
//!         z.mx("@", 10, "mx")
//!             .a("mx", "127.0.0.1")
//!             .tlsa("_25._tcp.mx", "3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
//!             .sig_fault("_25._tcp.mx", rtype::TLSA, SigFault::Expired)
//!     })
//!     .build();
//! assert!(world.zone("example.test").is_some() && world.zone("test").is_some());
//! ```
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use data_encoding::{BASE32HEX_NOPAD, HEXLOWER_PERMISSIVE};

use super::keys::{self, Algorithm, ZoneKey};
use super::name::Name;
use super::rdata::{Rdata, Record, rtype};

mod spec;
pub use spec::*;

/// Builds a [`World`].
#[derive(Clone, Debug, Default)]
pub struct WorldBuilder {
    zones: Vec<ZoneSpec>,
    now: Option<u32>,
    ns_addr: Option<Ipv4Addr>,
}

impl WorldBuilder {
    /// Adds (or amends) a zone; its parents up to the root are created if missing.
    pub fn zone(self, apex: &str, f: impl FnOnce(ZoneSpec) -> ZoneSpec) -> Self {
        self.zone_at(Name::parse(apex), f)
    }

    /// The same for an apex given as a name, which may hold any octet (a hostile world's
    /// names, which no host-name syntax accepts).
    pub fn zone_at(mut self, apex: Name, f: impl FnOnce(ZoneSpec) -> ZoneSpec) -> Self {
        let spec = match self.zones.iter().position(|z| z.apex == apex) {
            Some(i) => self.zones.remove(i),
            None => ZoneSpec::new(apex),
        };
        self.zones.push(f(spec));
        self
    }

    /// Signs as if the time were `unix` (default: now).
    pub fn now(mut self, unix: u32) -> Self {
        self.now = Some(unix);
        self
    }

    /// One address for every nameserver of every zone (default: [`ns_address`], distinct per
    /// zone and server, so that tests can route each to its own in-process server).
    pub fn ns_addr(mut self, addr: Ipv4Addr) -> Self {
        self.ns_addr = Some(addr);
        self
    }

    /// Signs everything.
    pub fn build(mut self) -> World {
        // Every zone needs its parents: the root and the TLD are created when missing.
        let apexes: Vec<Name> = self.zones.iter().map(|z| z.apex.clone()).collect();
        for apex in apexes {
            for n in 0..apex.len().min(2) {
                let ancestor = apex.suffix(n);
                if !self.zones.iter().any(|z| z.apex == ancestor) {
                    self.zones.push(ZoneSpec::new(ancestor).csk());
                }
            }
        }
        self.zones.sort_by(|a, b| a.apex.cmp(&b.apex));
        let now = self.now.unwrap_or_else(|| {
            u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
        });
        let fixed = self.ns_addr;
        let apex_index: Vec<Name> = self.zones.iter().map(|z| z.apex.clone()).collect();
        let ns_addr = move |apex: &Name, server: usize| -> Ipv4Addr {
            fixed.unwrap_or_else(|| {
                let zone = apex_index.iter().position(|a| a == apex).unwrap_or(0);
                ns_address(zone, server)
            })
        };
        let specs = self.zones;
        // Keys first: parents need their children's DNSKEYs for DS records.
        let keysets: Vec<KeySet> = specs.iter().map(KeySet::for_zone).collect();
        let mut zones: Vec<ZoneInstance> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let children: Vec<(&ZoneSpec, &KeySet)> = specs
                .iter()
                .zip(&keysets)
                .filter(|(c, _)| c.apex != spec.apex && parent_zone(&specs, &c.apex) == Some(i))
                .collect();
            let servers = spec
                .servers
                .iter()
                .map(|server| {
                    Arc::new(Zone::build(
                        spec,
                        &keysets[i],
                        &children,
                        server,
                        now,
                        &ns_addr,
                    ))
                })
                .collect();
            // Zones are in canonical order, so the parent's security is known already.
            let parent = parent_zone(&specs, &spec.apex).map(|p| zones[p].security);
            let own = if !spec.signed || spec.delegation == Delegation::Insecure {
                Security::Insecure
            } else if spec.delegation == Delegation::DsMismatch {
                Security::Bogus
            } else if let Delegation::DsAlgorithm(a) = spec.delegation
                && !VALIDATED_ALGORITHMS.contains(&a)
            {
                Security::Insecure
            } else {
                Security::Secure
            };
            let security = match (parent, own) {
                (Some(Security::Bogus), _) => Security::Bogus,
                (Some(Security::Insecure), _) => Security::Insecure,
                (None, _) if !spec.signed => Security::Insecure,
                (None, _) => Security::Secure,
                (Some(Security::Secure), own) => own,
            };
            zones.push(ZoneInstance {
                apex: spec.apex.clone(),
                servers,
                faults: spec.servers.iter().map(|s| s.fault).collect(),
                security,
                sig_faults: spec
                    .sig_faults
                    .iter()
                    .filter(|(_, _, f)| *f != SigFault::ExpiresSoon)
                    .map(|(n, t, _)| (n.clone(), *t))
                    .collect(),
            });
        }
        let root = &keysets[0];
        World {
            zones,
            trust_anchor: root
                .ksk()
                .map(|k| {
                    (
                        k.dnskey(),
                        keys::ds(&Name::root(), &k.dnskey()).expect("DNSKEY data"),
                    )
                })
                .into_iter()
                .collect(),
        }
    }
}

/// The DNSSEC algorithms that the validators the lab answers for (libunbound and Unbound on
/// Debian 12) check: a delegation whose DS names only other algorithms is insecure (RFC 4035
/// section 5.2), one whose DS names one of these but matches no key is bogus.
pub const VALIDATED_ALGORITHMS: [u8; 7] = [5, 7, 8, 10, 13, 14, 15];

/// The default address of nameserver `ns{server+1}` of the zone at `zone` (its index in
/// [`World::zones`]): `127.0.{zone+1}.{server+1}`, all loopback.
pub fn ns_address(zone: usize, server: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        0,
        u8::try_from(zone % 250 + 1).unwrap_or(1),
        u8::try_from(server % 250 + 1).unwrap_or(1),
    )
}

/// The index of the zone that delegates `apex` (the deepest other zone above it).
fn parent_zone(specs: &[ZoneSpec], apex: &Name) -> Option<usize> {
    specs
        .iter()
        .enumerate()
        .filter(|(_, z)| z.apex != *apex && apex.is_at_or_below(&z.apex))
        .max_by_key(|(_, z)| z.apex.len())
        .map(|(i, _)| i)
}

struct KeySet {
    keys: Vec<&'static ZoneKey>,
}

impl KeySet {
    fn for_zone(spec: &ZoneSpec) -> Self {
        if !spec.signed {
            return Self { keys: Vec::new() };
        }
        let slot = spec.apex.to_string();
        let keys = if spec.split_keys {
            vec![
                keys::cached_key(spec.algorithm, true, &slot),
                keys::cached_key(spec.algorithm, false, &slot),
            ]
        } else {
            vec![keys::cached_key(spec.algorithm, true, &slot)]
        };
        Self { keys }
    }

    fn ksk(&self) -> Option<&'static ZoneKey> {
        self.keys.first().copied()
    }

    /// The key that signs everything but the DNSKEY RRset.
    fn zsk(&self) -> Option<&'static ZoneKey> {
        self.keys.last().copied()
    }
}

/// The records at one name, grouped by type, with their RRSIGs.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// RRsets by type.
    pub rrsets: BTreeMap<u16, Vec<Record>>,
    /// RRSIGs by covered type.
    pub sigs: BTreeMap<u16, Vec<Record>>,
}

impl Node {
    /// An RRset with its signatures.
    pub fn rrset(&self, t: u16) -> Option<Vec<Record>> {
        let mut out = self.rrsets.get(&t)?.clone();
        out.extend(self.sigs.get(&t).cloned().unwrap_or_default());
        Some(out)
    }
}

/// NSEC3 parameters of a zone.
#[derive(Clone, Debug)]
pub struct Nsec3Params {
    /// Iterations.
    pub iterations: u16,
    /// Salt.
    pub salt: Vec<u8>,
    /// Opt-out.
    pub opt_out: bool,
}

/// One zone as one authoritative server serves it: every record, signed.
#[derive(Debug)]
pub struct Zone {
    /// The apex.
    pub apex: Name,
    /// Authoritative data and delegation points, by owner.
    pub nodes: BTreeMap<Name, Node>,
    /// Glue (not authoritative), by owner.
    pub glue: BTreeMap<Name, Vec<Record>>,
    /// Delegation points (zone cuts) below the apex.
    pub cuts: BTreeSet<Name>,
    /// Names that exist without data (empty non-terminals).
    pub empty_non_terminals: BTreeSet<Name>,
    /// NSEC3 records (with RRSIGs) sorted by hash, when the zone uses NSEC3.
    pub nsec3: Vec<(Vec<u8>, Vec<Record>)>,
    /// NSEC3 parameters, when the zone uses NSEC3.
    pub nsec3_params: Option<Nsec3Params>,
    /// Whether the zone is signed.
    pub signed: bool,
    /// The SOA minimum / negative TTL.
    pub negative_ttl: u32,
}

impl Zone {
    fn build(
        spec: &ZoneSpec,
        keyset: &KeySet,
        children: &[(&ZoneSpec, &KeySet)],
        server: &ServerSpec,
        now: u32,
        ns_addr: &dyn Fn(&Name, usize) -> Ipv4Addr,
    ) -> Self {
        let apex = &spec.apex;
        let ttl = spec.ttl;
        let negative_ttl = 300;
        let mut nodes: BTreeMap<Name, Node> = BTreeMap::new();
        let mut add = |r: Record| {
            nodes
                .entry(r.name.clone())
                .or_default()
                .rrsets
                .entry(r.rtype())
                .or_default()
                .push(r);
        };
        let ns = apex.child("ns1");
        let servers = spec.servers.len();
        add(Record::new(
            apex.clone(),
            ttl,
            Rdata::Soa {
                mname: ns.clone(),
                rname: apex.child("hostmaster"),
                serial: now,
                refresh: 3600,
                retry: 600,
                expire: 604_800,
                minimum: negative_ttl,
            },
        ));
        // One nameserver per authoritative server: ns1, ns2, ... each with its own address.
        for i in 0..servers {
            let name = apex.child(&format!("ns{}", i + 1));
            if i + spec.unlisted < servers {
                add(Record::new(apex.clone(), ttl, Rdata::Ns(name.clone())));
            }
            add(Record::new(name, ttl, Rdata::A(ns_addr(apex, i))));
        }
        for k in &keyset.keys {
            add(Record::new(apex.clone(), ttl, k.dnskey()));
        }
        for r in &spec.records {
            let replaced = server
                .replaced
                .iter()
                .any(|(n, t, _, _)| *n == r.name && *t == r.rtype());
            if !replaced {
                add(r.clone());
            }
        }
        for (name, _, rr_ttl, rdatas) in &server.replaced {
            for rd in rdatas {
                add(Record::new(name.clone(), *rr_ttl, rd.clone()));
            }
        }
        // Delegations: NS and glue for every child, DS for signed children.
        let mut cuts = BTreeSet::new();
        let mut glue: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
        let mut secure_cuts = BTreeSet::new();
        for (child, child_keys) in children {
            let cut = child.apex.clone();
            for i in 0..child.servers.len() {
                let child_ns = cut.child(&format!("ns{}", i + 1));
                add(Record::new(cut.clone(), ttl, Rdata::Ns(child_ns.clone())));
                glue.entry(child_ns.clone()).or_default().push(Record::new(
                    child_ns,
                    ttl,
                    Rdata::A(ns_addr(&cut, i)),
                ));
            }
            if let (
                Some(ksk),
                Delegation::Secure | Delegation::DsMismatch | Delegation::DsAlgorithm(_),
            ) = (child_keys.ksk(), child.delegation)
            {
                let mut ds = keys::ds(&cut, &ksk.dnskey()).expect("DNSKEY data");
                if let Rdata::Ds {
                    digest, algorithm, ..
                } = &mut ds
                {
                    match child.delegation {
                        Delegation::DsMismatch => digest[0] ^= 0xff,
                        Delegation::DsAlgorithm(a) => *algorithm = a,
                        _ => {}
                    }
                }
                add(Record::new(cut.clone(), ttl, ds));
                secure_cuts.insert(cut.clone());
            }
            cuts.insert(cut);
        }
        // Anything below a cut is not authoritative here (glue or junk).
        let below_cut = |n: &Name| cuts.iter().any(|c| n != c && n.is_at_or_below(c));
        let hidden: Vec<Name> = nodes.keys().filter(|n| below_cut(n)).cloned().collect();
        for n in hidden {
            if let Some(node) = nodes.remove(&n) {
                glue.entry(n)
                    .or_default()
                    .extend(node.rrsets.into_values().flatten());
            }
        }
        let mut empty_non_terminals = BTreeSet::new();
        for n in nodes.keys() {
            let mut p = n.parent();
            while p.len() > apex.len() {
                if !nodes.contains_key(&p) {
                    empty_non_terminals.insert(p.clone());
                }
                p = p.parent();
            }
        }
        let mut zone = Self {
            apex: apex.clone(),
            nodes,
            glue,
            cuts,
            empty_non_terminals,
            nsec3: Vec::new(),
            nsec3_params: None,
            signed: spec.signed,
            negative_ttl,
        };
        if spec.signed {
            zone.add_denial(&spec.denial, &secure_cuts);
            zone.sign(spec, keyset, now);
        }
        zone
    }

    /// Builds the NSEC or NSEC3 chain (before signing).
    fn add_denial(&mut self, denial: &Denial, secure_cuts: &BTreeSet<Name>) {
        let ttl = self.negative_ttl;
        match denial {
            Denial::Nsec => {
                let names: Vec<Name> = self.nodes.keys().cloned().collect();
                for (i, name) in names.iter().enumerate() {
                    let next = names[(i + 1) % names.len()].clone();
                    let node = self.nodes.get_mut(name).expect("node exists");
                    let mut types: Vec<u16> = node.rrsets.keys().copied().collect();
                    types.push(rtype::NSEC);
                    let delegation = self.cuts.contains(name);
                    if !delegation || secure_cuts.contains(name) {
                        types.push(rtype::RRSIG);
                    }
                    node.rrsets.insert(
                        rtype::NSEC,
                        vec![Record::new(name.clone(), ttl, Rdata::Nsec { next, types })],
                    );
                }
            }
            Denial::Nsec3 {
                iterations,
                salt,
                opt_out,
            } => {
                let mut entries: Vec<(Vec<u8>, Vec<u16>)> = Vec::new();
                for (name, node) in &self.nodes {
                    let insecure_cut = self.cuts.contains(name) && !secure_cuts.contains(name);
                    if *opt_out && insecure_cut {
                        continue;
                    }
                    let mut types: Vec<u16> = node.rrsets.keys().copied().collect();
                    if !insecure_cut {
                        types.push(rtype::RRSIG);
                    }
                    if *name == self.apex {
                        types.push(rtype::NSEC3PARAM);
                    }
                    entries.push((keys::nsec3_hash(name, salt, *iterations), types));
                }
                for ent in &self.empty_non_terminals {
                    entries.push((keys::nsec3_hash(ent, salt, *iterations), Vec::new()));
                }
                entries.sort();
                let flags = u8::from(*opt_out);
                for (i, (hash, types)) in entries.iter().enumerate() {
                    let next = entries[(i + 1) % entries.len()].0.clone();
                    let owner = self
                        .apex
                        .child(&BASE32HEX_NOPAD.encode(hash).to_ascii_lowercase());
                    let record = Record::new(
                        owner,
                        ttl,
                        Rdata::Nsec3 {
                            hash_algorithm: 1,
                            flags,
                            iterations: *iterations,
                            salt: salt.clone(),
                            next_hashed: next,
                            types: types.clone(),
                        },
                    );
                    self.nsec3.push((hash.clone(), vec![record]));
                }
                self.nodes.get_mut(&self.apex).expect("apex").rrsets.insert(
                    rtype::NSEC3PARAM,
                    vec![Record::new(
                        self.apex.clone(),
                        ttl,
                        Rdata::Nsec3Param {
                            hash_algorithm: 1,
                            flags: 0,
                            iterations: *iterations,
                            salt: salt.clone(),
                        },
                    )],
                );
                self.nsec3_params = Some(Nsec3Params {
                    iterations: *iterations,
                    salt: salt.clone(),
                    opt_out: *opt_out,
                });
            }
        }
    }

    fn sign(&mut self, spec: &ZoneSpec, keyset: &KeySet, now: u32) {
        let (Some(ksk), Some(zsk)) = (keyset.ksk(), keyset.zsk()) else {
            return;
        };
        let apex = self.apex.clone();
        let sign = |rrset: &[Record], fault: Option<SigFault>| -> Vec<Record> {
            let key = if rrset[0].rtype() == rtype::DNSKEY {
                ksk
            } else {
                zsk
            };
            let day = 86_400;
            let (inception, expiration) = match fault {
                Some(SigFault::Missing) => return Vec::new(),
                Some(SigFault::Expired) => (now - 60 * day, now - 7 * day),
                Some(SigFault::NotYetValid) => (now + 7 * day, now + 37 * day),
                Some(SigFault::ExpiresSoon) => (now - 3600, now + 3 * day),
                _ => (now - 3600, now + 30 * day),
            };
            let mut sig = keys::sign_rrset(rrset, key, &apex, inception, expiration);
            if fault == Some(SigFault::Corrupt)
                && let Rdata::Rrsig { signature, .. } = &mut sig.rdata
            {
                signature[0] ^= 0xff;
            }
            vec![sig]
        };
        let fault_for = |name: &Name, t: u16| {
            spec.sig_faults
                .iter()
                .find(|(n, ft, _)| n == name && *ft == t)
                .map(|(_, _, f)| *f)
        };
        for (name, node) in &mut self.nodes {
            let delegation = self.cuts.contains(name);
            let mut sigs = BTreeMap::new();
            for (t, rrset) in &node.rrsets {
                // RFC 4035 section 2.2: the NS RRset at a cut is not signed by the parent.
                if delegation && *t == rtype::NS {
                    continue;
                }
                sigs.insert(*t, sign(rrset, fault_for(name, *t)));
            }
            node.sigs = sigs;
        }
        for (_, rrset) in &mut self.nsec3 {
            let owner = rrset[0].name.clone();
            let sig = sign(rrset, fault_for(&owner, rtype::NSEC3));
            rrset.extend(sig);
        }
    }

    /// Whether `name` exists in this zone (data, a cut, or an empty non-terminal).
    pub fn exists(&self, name: &Name) -> bool {
        self.nodes.contains_key(name) || self.empty_non_terminals.contains(name)
    }

    /// Every record of the zone (data, NSEC3 chain, glue) in canonical order, for export.
    pub fn all_records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for node in self.nodes.values() {
            for (t, rrset) in &node.rrsets {
                out.extend(rrset.iter().cloned());
                out.extend(node.sigs.get(t).cloned().unwrap_or_default());
            }
        }
        for (_, rrset) in &self.nsec3 {
            out.extend(rrset.iter().cloned());
        }
        for rrset in self.glue.values() {
            out.extend(rrset.iter().cloned());
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.rtype().cmp(&b.rtype())));
        out
    }
}

/// One zone with every authoritative server's view and fault.
#[derive(Debug, Clone)]
pub struct ZoneInstance {
    /// The apex.
    pub apex: Name,
    /// Each authoritative server's copy (they differ only when a test says so).
    pub servers: Vec<Arc<Zone>>,
    /// Each server's fault.
    pub faults: Vec<Option<ServerFault>>,
    /// What a validator concludes for the zone as a whole (its delegation chain).
    pub security: Security,
    /// RRsets whose signatures a knob broke.
    pub sig_faults: BTreeSet<(Name, u16)>,
}

/// The ground truth of a zone's delegation chain, from the world description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Signed, and every delegation above it is secure.
    Secure,
    /// An insecure delegation (or an unsigned zone) at or above it.
    Insecure,
    /// A DS mismatch at or above it.
    Bogus,
}

/// A built world: zones in canonical order of their apex (the root first) and the trust anchor.
#[derive(Debug, Clone)]
pub struct World {
    zones: Vec<ZoneInstance>,
    trust_anchor: Vec<(Rdata, Rdata)>,
}

impl World {
    /// Starts a description.
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// Every zone.
    pub fn zones(&self) -> &[ZoneInstance] {
        &self.zones
    }

    /// The zone with this apex.
    pub fn zone(&self, apex: &str) -> Option<&ZoneInstance> {
        let apex = Name::parse(apex);
        self.zones.iter().find(|z| z.apex == apex)
    }

    /// The zone that holds `name`: the deepest apex at or above it. With `parent_side`, a zone
    /// apex is looked up in its parent instead (where its DS lives).
    pub fn zone_for(&self, name: &Name, parent_side: bool) -> Option<&ZoneInstance> {
        self.zones
            .iter()
            .filter(|z| {
                name.is_at_or_below(&z.apex) && !(parent_side && z.apex == *name && !name.is_root())
            })
            .max_by_key(|z| z.apex.len())
    }

    /// The root KSK as (DNSKEY, DS) record data: the trust anchor.
    pub fn trust_anchor(&self) -> &[(Rdata, Rdata)] {
        &self.trust_anchor
    }

    /// The trust anchor in zone-file form: DS lines then DNSKEY lines.
    pub fn trust_anchor_text(&self) -> String {
        let mut out = String::new();
        for (_, ds) in &self.trust_anchor {
            out.push_str(&format!(". 3600 IN DS {ds}\n"));
        }
        for (key, _) in &self.trust_anchor {
            out.push_str(&format!(". 3600 IN DNSKEY {key}\n"));
        }
        out
    }
}
