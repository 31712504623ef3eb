//! How a world is described: zones, their denial, delegation, records and signature faults,
//! and each authoritative server's faults.

#[allow(clippy::wildcard_imports)]
use super::*;

/// How a zone denies existence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// NSEC (RFC 4034).
    Nsec,
    /// NSEC3 (RFC 5155) with these parameters.
    Nsec3 {
        /// Extra hash iterations.
        iterations: u16,
        /// Salt.
        salt: Vec<u8>,
        /// Opt-out: insecure delegations get no NSEC3 of their own.
        opt_out: bool,
    },
}

/// What the parent publishes for a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delegation {
    /// A DS for the zone's KSK: a secure delegation.
    Secure,
    /// No DS: an insecure delegation, proven by the parent's NSEC/NSEC3.
    Insecure,
    /// A DS that matches no DNSKEY of the zone: the zone is bogus.
    DsMismatch,
    /// A DS whose algorithm field says this (e.g. 7, RSASHA1-NSEC3-SHA1): validators that do
    /// not support the algorithm treat the zone as insecure (RFC 6840 section 5.2), validators
    /// that do find no matching key (CHECKLIST D-17).
    DsAlgorithm(u8),
}

/// A signature fault on one RRset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFault {
    /// The RRSIG expired a week ago.
    Expired,
    /// The RRSIG becomes valid only in a week.
    NotYetValid,
    /// The signature bytes are corrupted.
    Corrupt,
    /// No RRSIG at all.
    Missing,
    /// A valid RRSIG that expires in three days (monitoring should warn).
    ExpiresSoon,
}

/// How one authoritative server of a zone misbehaves for queries of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerFault {
    /// Answers SERVFAIL.
    Servfail(u16),
    /// Never answers.
    Timeout(u16),
}

/// The description of one zone.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub(super) apex: Name,
    pub(super) algorithm: Algorithm,
    pub(super) split_keys: bool,
    pub(super) signed: bool,
    pub(super) denial: Denial,
    pub(super) delegation: Delegation,
    pub(super) ttl: u32,
    pub(super) records: Vec<Record>,
    pub(super) sig_faults: Vec<(Name, u16, SigFault)>,
    pub(super) servers: Vec<ServerSpec>,
    pub(super) unlisted: usize,
}

/// One authoritative server of a zone: a fault and RRsets it serves differently.
#[derive(Clone, Debug, Default)]
pub struct ServerSpec {
    pub(super) fault: Option<ServerFault>,
    pub(super) replaced: Vec<(Name, u16, u32, Vec<Rdata>)>,
}

impl ZoneSpec {
    pub(super) fn new(apex: Name) -> Self {
        Self {
            apex,
            algorithm: Algorithm::EcdsaP256,
            split_keys: true,
            signed: true,
            denial: Denial::Nsec,
            delegation: Delegation::Secure,
            ttl: 3600,
            records: Vec::new(),
            sig_faults: Vec::new(),
            servers: vec![ServerSpec::default()],
            unlisted: 0,
        }
    }

    /// Resolves an owner written relative to the apex (`@`, `mx`, or absolute with a dot).
    pub(super) fn owner(&self, owner: &str) -> Name {
        if owner == "@" {
            self.apex.clone()
        } else if owner.ends_with('.') {
            Name::parse(owner)
        } else {
            let mut name = self.apex.clone();
            for label in owner.rsplit('.') {
                name = name.child(label);
            }
            name
        }
    }

    /// The signing algorithm (default ECDSA P-256).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// One combined signing key (CSK) instead of a KSK/ZSK pair.
    pub fn csk(mut self) -> Self {
        self.split_keys = false;
        self
    }

    /// An unsigned zone (implies an insecure delegation).
    pub fn unsigned(mut self) -> Self {
        self.signed = false;
        self.delegation = Delegation::Insecure;
        self
    }

    /// The denial-of-existence scheme (default NSEC).
    pub fn denial(mut self, denial: Denial) -> Self {
        self.denial = denial;
        self
    }

    /// NSEC3 with these parameters (salt in hex, empty for none).
    pub fn nsec3(self, iterations: u16, salt_hex: &str, opt_out: bool) -> Self {
        let salt = HEXLOWER_PERMISSIVE
            .decode(salt_hex.as_bytes())
            .expect("salt in hex");
        self.denial(Denial::Nsec3 {
            iterations,
            salt,
            opt_out,
        })
    }

    /// What the parent publishes (default a matching DS).
    pub fn delegation(mut self, delegation: Delegation) -> Self {
        self.delegation = delegation;
        self
    }

    /// The default TTL of the zone's records (default 3600).
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Adds a record.
    pub fn record(mut self, owner: &str, rdata: Rdata) -> Self {
        let name = self.owner(owner);
        self.records.push(Record::new(name, self.ttl, rdata));
        self
    }

    /// Adds a record with its own TTL.
    pub fn record_ttl(mut self, owner: &str, ttl: u32, rdata: Rdata) -> Self {
        let name = self.owner(owner);
        self.records.push(Record::new(name, ttl, rdata));
        self
    }

    /// An A record.
    pub fn a(self, owner: &str, addr: &str) -> Self {
        let addr: Ipv4Addr = addr.parse().expect("IPv4 address");
        self.record(owner, Rdata::A(addr))
    }

    /// An AAAA record.
    pub fn aaaa(self, owner: &str, addr: &str) -> Self {
        let addr: Ipv6Addr = addr.parse().expect("IPv6 address");
        self.record(owner, Rdata::Aaaa(addr))
    }

    /// An MX record; the exchange is relative to the apex unless it ends with a dot.
    pub fn mx(self, owner: &str, preference: u16, exchange: &str) -> Self {
        let exchange = self.owner(exchange);
        self.record(owner, Rdata::Mx(preference, exchange))
    }

    /// The null MX of RFC 7505 (`MX 0 .`).
    pub fn null_mx(self, owner: &str) -> Self {
        self.record(owner, Rdata::Mx(0, Name::root()))
    }

    /// A CNAME record; the target is relative to the apex unless it ends with a dot.
    pub fn cname(self, owner: &str, target: &str) -> Self {
        let target = self.owner(target);
        self.record(owner, Rdata::Cname(target))
    }

    /// A DNAME record.
    pub fn dname(self, owner: &str, target: &str) -> Self {
        let target = self.owner(target);
        self.record(owner, Rdata::Dname(target))
    }

    /// A TXT record.
    pub fn txt(self, owner: &str, text: &str) -> Self {
        self.record(owner, Rdata::Txt(vec![text.to_owned()]))
    }

    /// A TLSA record from `"usage selector matching hex"`.
    pub fn tlsa(self, owner: &str, text: &str) -> Self {
        let rdata = parse_tlsa(text);
        self.record(owner, rdata)
    }

    /// Breaks the signature of one RRset.
    pub fn sig_fault(mut self, owner: &str, rtype: u16, fault: SigFault) -> Self {
        let name = self.owner(owner);
        self.sig_faults.push((name, rtype, fault));
        self
    }

    /// Adds another authoritative server for the zone (the first exists already) and returns
    /// the zone; configure it with [`ZoneSpec::server_fault`] / [`ZoneSpec::server_replaces`].
    pub fn second_server(mut self) -> Self {
        self.servers.push(ServerSpec::default());
        self
    }

    /// Makes server `index` (0 = first) fail queries of one type.
    pub fn server_fault(mut self, index: usize, fault: ServerFault) -> Self {
        self.ensure_server(index).fault = Some(fault);
        self
    }

    /// Makes server `index` serve a different RRset at `owner` (e.g. the old TLSA RRset of a
    /// half-finished rollover), signed like the rest.
    pub fn server_replaces(self, index: usize, owner: &str, rdatas: Vec<Rdata>) -> Self {
        let rtype = rdatas.first().map_or(0, Rdata::rtype);
        let ttl = self.ttl;
        self.server_serves(index, owner, rtype, ttl, rdatas)
    }

    /// Makes server `index` serve exactly `rdatas` (none: no such RRset) as the `rtype` RRset
    /// at `owner`, with `ttl` (a secondary that has not caught up with the primary).
    pub fn server_serves(
        mut self,
        index: usize,
        owner: &str,
        rtype: u16,
        ttl: u32,
        rdatas: Vec<Rdata>,
    ) -> Self {
        let name = self.owner(owner);
        self.ensure_server(index)
            .replaced
            .push((name, rtype, ttl, rdatas));
        self
    }

    /// Leaves the last `n` servers out of the zone's own NS RRset while the parent's
    /// delegation still lists them (a secondary forgotten in one of the two places).
    pub fn unlisted_servers(mut self, n: usize) -> Self {
        self.unlisted = n;
        self
    }

    /// Gives the zone `n` authoritative servers (at least one).
    pub fn servers(mut self, n: usize) -> Self {
        self.ensure_server(n.max(1) - 1);
        self
    }

    pub(super) fn ensure_server(&mut self, index: usize) -> &mut ServerSpec {
        while self.servers.len() <= index {
            self.servers.push(ServerSpec::default());
        }
        &mut self.servers[index]
    }
}

/// Parses `"usage selector matching hex"`.
pub fn parse_tlsa(text: &str) -> Rdata {
    let mut parts = text.split_whitespace();
    let mut num = || -> u8 {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .expect("TLSA: usage selector matching hex")
    };
    let (usage, selector, matching) = (num(), num(), num());
    let hex: String = parts.collect();
    Rdata::Tlsa {
        usage,
        selector,
        matching,
        data: HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .expect("TLSA data in hex"),
    }
}
