//! One authoritative server's direct answer, judged as a validator would judge it (CHECKLIST
//! M-01, P-03). The nameserver view, the rollover gate and the dns-01 check ask each server
//! themselves, so libunbound's verdict does not cover these answers: everything that feeds a
//! decision is checked here, against the zone's DNSKEY RRset that libunbound validated.
//!
//! - The answer must be authoritative (AA, RFC 1035 section 4.1.1) and for the question asked.
//! - A positive answer is an RRset whose RRSIG by the zone verifies (RFC 4035 section 5.3); its
//!   TTL is the RRSIG's original TTL (section 5.3.3), the longest a validating resolver caches
//!   it, never the unsigned TTL field a man in the middle can set to 0. A wildcard expansion
//!   needs the proof that the name itself does not exist (section 5.3.4).
//! - "No such RRset" is a fact only with a signed proof: NSEC (RFC 4035 section 5.4) or NSEC3
//!   (RFC 5155 section 8) records signed by the zone, not wildcard-expanded, not from above a
//!   zone cut (RFC 6840 section 4.1), NSEC3 from one chain (RFC 5155 section 8.2) and with at
//!   most [`MAX_NSEC3_ITERATIONS`] iterations; and the negative TTL comes from the signed SOA
//!   (RFC 2308 section 5: the smaller of its original TTL and its minimum field).
//!
//! Anything else is an error that names what is missing: callers hold their gates shut on an
//! error, they never read it as "absent". Wildcard NODATA and opt-out proofs are refused as
//! unproven (a TLSA or challenge owner never needs them).

use data_encoding::BASE32HEX_NOPAD;

use crate::dnssec::nsec3_hash;
use crate::message::{Message, rcode};
use crate::name::Name;
use crate::rdata::{Rdata, Record, rtype, type_name};
use crate::update::rcode::name as rcode_name;
use crate::validate::{Signature, sigs_for, verify_rrset};

/// The most NSEC3 hash iterations accepted in a proof (RFC 9276 section 3.2 lets validators
/// treat more as insecure; 150 is libunbound's limit).
pub const MAX_NSEC3_ITERATIONS: u16 = 150;

/// The most NSEC or NSEC3 RRsets one negative answer may carry (a proof needs at most three):
/// more is refused before any signature is checked.
pub const MAX_DENIAL_RRSETS: usize = 8;

/// The zone an answer must come from: its apex, the DNSKEY RRset libunbound validated, and the
/// time that judges signature windows (seconds since 1970).
#[derive(Clone, Copy, Debug)]
pub struct Zone<'a> {
    /// The zone apex.
    pub apex: &'a Name,
    /// The zone's validated DNSKEY data.
    pub keys: &'a [Rdata],
    /// The validation time.
    pub now: u32,
}

/// What one server was seen to serve for one question, every part of it signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// The RRset (each record once).
    Rrset {
        /// The records.
        records: Vec<Rdata>,
        /// The signed (original) TTL.
        ttl: u32,
        /// When the RRset's signature ends (seconds since 1970).
        expires: u32,
    },
    /// No RRset of the type at the name, proven.
    Absent {
        /// The name does not exist at all.
        nxdomain: bool,
        /// How long resolvers cache the denial (from the signed SOA).
        negative_ttl: u32,
    },
}

/// Judges `m`, a server's answer to `qname`/`qtype` asked without recursion, as coming from
/// the authoritative servers of `zone`.
pub fn judge(m: &Message, qname: &Name, qtype: u16, zone: &Zone<'_>) -> Result<Served, String> {
    let asked = format!("{qname} {}", type_name(qtype));
    match &m.question {
        Some((n, t)) if n == qname && *t == qtype => {}
        _ => return Err(format!("the answer is not for the question {asked}")),
    }
    if !qname.is_at_or_below(zone.apex) {
        return Err(format!("{qname} is not in the zone {}", zone.apex));
    }
    if !m.flags.aa {
        return Err(format!(
            "the answer to {asked} is not authoritative (AA bit clear): the server does not serve the zone {}",
            zone.apex
        ));
    }
    if m.rcode != rcode::NOERROR && m.rcode != rcode::NXDOMAIN {
        return Err(format!("response code {} to {asked}", rcode_name(m.rcode)));
    }
    if let Some(alias) = m.answer.iter().find(|r| match &r.rdata {
        Rdata::Cname(_) => r.name == *qname && qtype != rtype::CNAME,
        Rdata::Dname(_) => qname.is_at_or_below(&r.name) && r.name != *qname,
        _ => false,
    }) {
        return Err(format!(
            "{qname} is an alias ({} at {}): the view follows no aliases",
            type_name(alias.rtype()),
            alias.name
        ));
    }
    let rrset: Vec<Record> = m
        .answer
        .iter()
        .filter(|r| r.name == *qname && r.rtype() == qtype)
        .cloned()
        .collect();
    if !rrset.is_empty() {
        if m.rcode != rcode::NOERROR {
            return Err(format!("{asked}: records with response code NXDOMAIN"));
        }
        return positive(m, qname, qtype, rrset, zone);
    }
    let negative_ttl = negative_ttl(m, zone).map_err(|e| format!("{asked}: {e}"))?;
    let proofs = Proofs::read(&m.authority, zone).map_err(|e| format!("{asked}: {e}"))?;
    let nxdomain = m.rcode == rcode::NXDOMAIN;
    let proven = if nxdomain {
        proofs.name_absent(qname, zone.apex)
    } else {
        proofs.type_absent(qname, qtype)
    };
    proven.map_err(|e| {
        format!(
            "{asked}: {} without a proof: {e}",
            if nxdomain { "NXDOMAIN" } else { "no records" }
        )
    })?;
    Ok(Served::Absent {
        nxdomain,
        negative_ttl,
    })
}

fn positive(
    m: &Message,
    qname: &Name,
    qtype: u16,
    rrset: Vec<Record>,
    zone: &Zone<'_>,
) -> Result<Served, String> {
    let sig = verify_rrset(
        &rrset,
        &sigs_for(&m.answer, qname, qtype),
        zone.apex,
        zone.keys,
        zone.now,
    )
    .map_err(|e| {
        format!(
            "the {qname} {} RRset does not validate: {e}",
            type_name(qtype)
        )
    })?;
    if sig.labels < qname.rrsig_labels() {
        // A wildcard expansion: the name itself must be proven not to exist.
        let encloser = qname.suffix(usize::from(sig.labels));
        Proofs::read(&m.authority, zone)
            .and_then(|p| p.no_next_closer(qname, &encloser))
            .map_err(|e| {
                format!("{qname}: a wildcard expansion without the proof that the name does not exist: {e}")
            })?;
    }
    let mut records: Vec<Rdata> = Vec::with_capacity(rrset.len());
    for r in rrset {
        if !records.contains(&r.rdata) {
            records.push(r.rdata);
        }
    }
    Ok(Served::Rrset {
        records,
        ttl: sig.original_ttl,
        expires: sig.expiration,
    })
}

/// The negative TTL of a denial: the signed SOA in the authority section (RFC 2308 section 5).
fn negative_ttl(m: &Message, zone: &Zone<'_>) -> Result<u32, String> {
    let soa: Vec<Record> = m
        .authority
        .iter()
        .filter(|r| r.name == *zone.apex && r.rtype() == rtype::SOA)
        .cloned()
        .collect();
    let Some(Rdata::Soa { minimum, .. }) = soa.first().map(|r| &r.rdata) else {
        return Err(format!("no SOA of {} with the denial", zone.apex));
    };
    let sig = verify_signed(&m.authority, &soa, zone)
        .map_err(|e| format!("the SOA of {} does not validate: {e}", zone.apex))?;
    Ok(sig.original_ttl.min(*minimum))
}

fn verify_signed(
    section: &[Record],
    rrset: &[Record],
    zone: &Zone<'_>,
) -> Result<Signature, String> {
    let Some(first) = rrset.first() else {
        return Err("empty RRset".into());
    };
    let sig = verify_rrset(
        rrset,
        &sigs_for(section, &first.name, first.rtype()),
        zone.apex,
        zone.keys,
        zone.now,
    )?;
    if sig.labels != first.name.rrsig_labels() {
        return Err(format!(
            "{} {} is wildcard-expanded (RRSIG labels {}): it proves nothing",
            first.name,
            type_name(first.rtype()),
            sig.labels
        ));
    }
    Ok(sig)
}

/// One verified NSEC record.
struct Nsec {
    owner: Name,
    next: Name,
    types: Vec<u16>,
}

/// One verified NSEC3 record, its owner's hash decoded.
struct Nsec3 {
    hash: Vec<u8>,
    next: Vec<u8>,
    opt_out: bool,
    types: Vec<u16>,
}

/// The verified denial records of one answer; NSEC3 ones from one chain.
struct Proofs {
    nsec: Vec<Nsec>,
    nsec3: Vec<Nsec3>,
    /// The chain's salt and iterations.
    params: Option<(Vec<u8>, u16)>,
}

/// Whether the types say "a zone cut or a DNAME here": such a record proves nothing below its
/// owner (RFC 6840 section 4.1).
fn cut(types: &[u16]) -> bool {
    (types.contains(&rtype::NS) && !types.contains(&rtype::SOA)) || types.contains(&rtype::DNAME)
}

impl Proofs {
    fn read(section: &[Record], zone: &Zone<'_>) -> Result<Self, String> {
        let mut owners: Vec<(Name, u16)> = Vec::new();
        for r in section {
            let t = r.rtype();
            if (t == rtype::NSEC || t == rtype::NSEC3) && !owners.contains(&(r.name.clone(), t)) {
                owners.push((r.name.clone(), t));
            }
        }
        if owners.len() > MAX_DENIAL_RRSETS {
            return Err(format!(
                "{} denial RRsets, more than {MAX_DENIAL_RRSETS}",
                owners.len()
            ));
        }
        let mut out = Self {
            nsec: Vec::new(),
            nsec3: Vec::new(),
            params: None,
        };
        for (owner, t) in owners {
            let rrset: Vec<Record> = section
                .iter()
                .filter(|r| r.name == owner && r.rtype() == t)
                .cloned()
                .collect();
            if !owner.is_at_or_below(zone.apex) {
                return Err(format!("{owner} {} is not in the zone", type_name(t)));
            }
            if rrset.len() != 1 {
                return Err(format!("{} {owner} {} records", rrset.len(), type_name(t)));
            }
            verify_signed(section, &rrset, zone)?;
            match rrset.into_iter().next().map(|r| r.rdata) {
                Some(Rdata::Nsec { next, types }) => out.nsec.push(Nsec { owner, next, types }),
                Some(Rdata::Nsec3 {
                    hash_algorithm,
                    flags,
                    iterations,
                    salt,
                    next_hashed,
                    types,
                }) => {
                    if hash_algorithm != 1 {
                        return Err(format!("{owner}: NSEC3 hash algorithm {hash_algorithm}"));
                    }
                    if iterations > MAX_NSEC3_ITERATIONS {
                        return Err(format!(
                            "{owner}: {iterations} NSEC3 iterations, more than {MAX_NSEC3_ITERATIONS}"
                        ));
                    }
                    match &out.params {
                        None => out.params = Some((salt, iterations)),
                        Some((s, i)) if *s == salt && *i == iterations => {}
                        Some(_) => {
                            return Err(
                                "NSEC3 records of two chains (another salt or iteration count)"
                                    .into(),
                            );
                        }
                    }
                    if owner.parent() != *zone.apex {
                        return Err(format!(
                            "{owner}: an NSEC3 owner is not a child of the apex"
                        ));
                    }
                    let label = owner
                        .labels()
                        .first()
                        .map(|l| l.to_ascii_uppercase())
                        .unwrap_or_default();
                    let hash = BASE32HEX_NOPAD
                        .decode(&label)
                        .map_err(|_| format!("{owner}: the NSEC3 owner is not a base32 hash"))?;
                    out.nsec3.push(Nsec3 {
                        hash,
                        next: next_hashed,
                        opt_out: flags & 1 == 1,
                        types,
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn hash(&self, name: &Name) -> Option<Vec<u8>> {
        self.params
            .as_ref()
            .map(|(salt, iterations)| nsec3_hash(name, salt, *iterations))
    }

    /// An NSEC that covers `name` (proves it does not exist), from no cut above it.
    fn nsec_cover(&self, name: &Name) -> Option<&Nsec> {
        self.nsec.iter().find(|n| {
            let after_owner = n.owner < *name;
            let before_next = *name < n.next || n.next <= n.owner;
            after_owner
                && before_next
                && !(name.is_at_or_below(&n.owner) && cut(&n.types))
                // The next name below `name` would make it an empty non-terminal: it exists.
                && !n.next.is_at_or_below(name)
        })
    }

    fn nsec3_match(&self, name: &Name) -> Option<&Nsec3> {
        let h = self.hash(name)?;
        self.nsec3.iter().find(|n| n.hash == h)
    }

    fn nsec3_cover(&self, name: &Name) -> Option<&Nsec3> {
        let h = self.hash(name)?;
        self.nsec3.iter().find(|n| {
            if n.next > n.hash {
                n.hash < h && h < n.next
            } else {
                h > n.hash || h < n.next
            }
        })
    }

    /// NODATA: the name exists without the type (nor a CNAME).
    fn type_absent(&self, name: &Name, qtype: u16) -> Result<(), String> {
        let lacks = |types: &[u16]| !types.contains(&qtype) && !types.contains(&rtype::CNAME);
        if let Some(n) = self.nsec.iter().find(|n| n.owner == *name) {
            if cut(&n.types) {
                return Err(format!("the NSEC at {name} is a zone cut's"));
            }
            return if lacks(&n.types) {
                Ok(())
            } else {
                Err(format!("the NSEC at {name} lists {}", type_name(qtype)))
            };
        }
        // An empty non-terminal: the NSEC before it points below it.
        if self
            .nsec
            .iter()
            .any(|n| n.owner < *name && *name < n.next && n.next.is_at_or_below(name))
        {
            return Ok(());
        }
        match self.nsec3_match(name) {
            Some(n) if cut(&n.types) => Err(format!("the NSEC3 for {name} is a zone cut's")),
            Some(n) if lacks(&n.types) => Ok(()),
            Some(_) => Err(format!("the NSEC3 for {name} lists {}", type_name(qtype))),
            None => Err(format!("no NSEC or NSEC3 record for {name}")),
        }
    }

    /// NXDOMAIN: neither the name nor a wildcard that would stand for it exists.
    fn name_absent(&self, name: &Name, apex: &Name) -> Result<(), String> {
        if let Some(n) = self.nsec_cover(name) {
            // The closest encloser: the longest ancestor the covering record's names share.
            let common = |other: &Name| {
                let mut k = 0;
                while k < name.len() && k < other.len() && name.suffix(k + 1) == other.suffix(k + 1)
                {
                    k += 1;
                }
                k
            };
            let encloser = name.suffix(common(&n.owner).max(common(&n.next)));
            if !encloser.is_at_or_below(apex) {
                return Err(format!(
                    "the closest encloser {encloser} is outside the zone"
                ));
            }
            let wildcard = encloser.child("*");
            return if self.nsec_cover(&wildcard).is_some() {
                Ok(())
            } else {
                Err(format!("no NSEC denies the wildcard {wildcard}"))
            };
        }
        // NSEC3: the closest encloser proof (RFC 5155 section 8.4), then the wildcard.
        let mut encloser = name.parent();
        loop {
            if self.nsec3_match(&encloser).is_some_and(|n| !cut(&n.types)) {
                self.no_next_closer(name, &encloser)?;
                let wildcard = encloser.child("*");
                return match self.nsec3_cover(&wildcard) {
                    Some(_) => Ok(()),
                    None => Err(format!("no NSEC3 denies the wildcard {wildcard}")),
                };
            }
            if encloser == *apex || encloser.is_root() {
                return Err(format!(
                    "no NSEC or NSEC3 record proves that {name} does not exist"
                ));
            }
            encloser = encloser.parent();
        }
    }

    /// The name one label below `encloser` on the way to `name` does not exist.
    fn no_next_closer(&self, name: &Name, encloser: &Name) -> Result<(), String> {
        let next_closer = name.suffix(encloser.len() + 1);
        if self.nsec_cover(name).is_some() {
            return Ok(());
        }
        match self.nsec3_cover(&next_closer) {
            Some(n) if n.opt_out => Err(format!(
                "the NSEC3 covering {next_closer} has opt-out: it proves nothing"
            )),
            Some(_) => Ok(()),
            None => Err(format!("no NSEC or NSEC3 record covers {next_closer}")),
        }
    }
}
