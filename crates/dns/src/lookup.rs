//! Lookups with one DNSSEC status per RRset (CHECKLIST D-01, D-02), behind one trait with two
//! implementations: the embedded validator ([`ValidatingResolver`], the default) and trusted-AD
//! mode for a validating resolver on loopback ([`TrustedAdResolver`], D-04).
//!
//! A [`Lookup`] can only be made in this crate: code elsewhere cannot forge a "secure".

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::message::{Message, QueryFlags, rcode};
use crate::name::Name;
use crate::rdata::{Rdata, Record, rtype, type_name};
use crate::transport::{LookupError, Transport};
use crate::validate::{Denial, Proven, TrustAnchor, Validator, ZoneState, sigs_for, verify_rrset};

/// The longest CNAME/DNAME chain followed (D-10: never loop).
pub const MAX_CHAIN: usize = 8;

/// The DNSSEC status of an RRset or a denial (RFC 4035 section 4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Validated from a trust anchor.
    Secure,
    /// Provably unsigned (or no anchor covers it).
    Insecure,
    /// Should validate and does not; the reason names the name, key tag, signature or window.
    Bogus(String),
    /// Could not be determined.
    Indeterminate(String),
}

impl Status {
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Secure => "secure",
            Self::Insecure => "insecure",
            Self::Bogus(_) => "bogus",
            Self::Indeterminate(_) => "indeterminate",
        }
    }

    /// The reason, for bogus and indeterminate.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Bogus(r) | Self::Indeterminate(r) => Some(r),
            _ => None,
        }
    }

    fn combine(&self, other: &Status) -> Status {
        let rank = |s: &Status| match s {
            Status::Secure => 0,
            Status::Insecure => 1,
            Status::Indeterminate(_) => 2,
            Status::Bogus(_) => 3,
        };
        if rank(other) > rank(self) {
            other.clone()
        } else {
            self.clone()
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{} ({r})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// What a lookup found at the end of its alias chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Records of the asked type.
    Records(Vec<Rdata>),
    /// The name exists without data of that type.
    NoData,
    /// The name does not exist.
    NxDomain,
}

/// One step of a lookup: the name asked and the status of what was found there (a CNAME or
/// DNAME, or the final answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The name.
    pub name: Name,
    /// The status of this step.
    pub status: Status,
    /// The earliest expiration (seconds since 1970) of the RRSIGs that made this step
    /// secure, when the embedded validator checked them.
    pub expires: Option<u32>,
}

/// The result of a lookup. Constructed only in this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    qname: Name,
    qtype: u16,
    answer: Answer,
    hops: Vec<Hop>,
    status: Status,
    ttl: Option<u32>,
}

impl Lookup {
    pub(crate) fn new(qname: Name, qtype: u16, answer: Answer, hops: Vec<Hop>) -> Self {
        let status = hops
            .iter()
            .fold(Status::Secure, |acc, h| acc.combine(&h.status));
        Self {
            qname,
            qtype,
            answer,
            hops,
            status,
            ttl: None,
        }
    }

    fn with_ttl(mut self, ttl: Option<u32>) -> Self {
        self.ttl = ttl;
        self
    }

    /// The TTL of the records found (the smallest), if any.
    pub fn ttl(&self) -> Option<u32> {
        self.ttl
    }

    /// The earliest RRSIG expiration along the lookup (embedded validator only).
    pub fn expires(&self) -> Option<u32> {
        self.hops.iter().filter_map(|h| h.expires).min()
    }

    /// The name asked.
    pub fn qname(&self) -> &Name {
        &self.qname
    }

    /// The type asked.
    pub fn qtype(&self) -> u16 {
        self.qtype
    }

    /// What was found.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The records found (empty for a denial).
    pub fn records(&self) -> &[Rdata] {
        match &self.answer {
            Answer::Records(r) => r,
            _ => &[],
        }
    }

    /// Every step, the asked name first.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// The name at the end of the alias chain (the "fully expanded" name of RFC 7672).
    pub fn final_name(&self) -> &Name {
        self.hops.last().map_or(&self.qname, |h| &h.name)
    }

    /// The status of the whole lookup: the weakest step.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Whether the answer is a secure denial (D-02).
    pub fn is_secure_denial(&self) -> bool {
        self.status == Status::Secure && !matches!(self.answer, Answer::Records(_))
    }
}

/// A DNS resolver that returns statuses.
pub trait Resolver: Send + Sync {
    /// Looks up `name`/`qtype`, following CNAMEs and DNAMEs.
    fn lookup(&self, name: &Name, qtype: u16) -> Result<Lookup, LookupError>;

    /// `validating` or `trusted-ad`.
    fn mode(&self) -> &'static str;
}

/// The embedded validating resolver.
pub struct ValidatingResolver {
    v: Validator,
}

impl ValidatingResolver {
    /// Validates answers from `transport` with `anchors`, at the current time.
    pub fn new(transport: Arc<dyn Transport>, anchors: Vec<TrustAnchor>) -> Self {
        let clock = Arc::new(|| {
            u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(u32::MAX)
        });
        Self {
            v: Validator::new(transport, anchors, clock),
        }
    }

    /// The same with a clock (seconds since 1970) that tests control.
    pub fn with_clock(
        transport: Arc<dyn Transport>,
        anchors: Vec<TrustAnchor>,
        clock: Arc<dyn Fn() -> u32 + Send + Sync>,
    ) -> Self {
        Self {
            v: Validator::new(transport, anchors, clock),
        }
    }

    /// The status of the RRset `owner`/`t` in `msg`.
    fn judge_rrset(
        &self,
        owner: &Name,
        t: u16,
        msg: &Message,
    ) -> Result<(Status, Option<u32>), LookupError> {
        let rrset: Vec<Record> = msg
            .answer
            .iter()
            .filter(|r| r.name == *owner && r.rtype() == t)
            .cloned()
            .collect();
        let sigs = sigs_for(&msg.answer, owner, t);
        let hint = sigs
            .iter()
            .find_map(|s| match &s.rdata {
                Rdata::Rrsig { signer, .. } if owner.is_at_or_below(signer) => Some(signer.clone()),
                _ => None,
            })
            .unwrap_or_else(|| {
                if t == rtype::DS {
                    owner.parent()
                } else {
                    owner.clone()
                }
            });
        let (zone, state) = self.v.zone_of(&hint)?;
        let expires = sigs
            .iter()
            .filter_map(|s| match &s.rdata {
                Rdata::Rrsig { expiration, .. } => Some(*expiration),
                _ => None,
            })
            .min();
        let status = match state {
            ZoneState::Insecure => Status::Insecure,
            ZoneState::Bogus(why) => Status::Bogus(why),
            ZoneState::Secure(keys) => {
                match verify_rrset(&rrset, &sigs, &zone, &keys, self.v.now()) {
                    Err(why) => Status::Bogus(why),
                    Ok(()) => {
                        let labels = sigs
                            .iter()
                            .find_map(|s| match &s.rdata {
                                Rdata::Rrsig { labels, .. } => Some(usize::from(*labels)),
                                _ => None,
                            })
                            .unwrap_or(owner.len());
                        if labels < owner.len() {
                            // A wildcard expansion must come with proof that the name itself
                            // does not exist.
                            match Denial::collect(msg, &zone, &keys, self.v.now())
                                .and_then(|d| d.wildcard_answer(owner, labels))
                            {
                                Ok(()) => Status::Secure,
                                Err(why) => {
                                    Status::Bogus(format!("wildcard answer for {owner}: {why}"))
                                }
                            }
                        } else {
                            Status::Secure
                        }
                    }
                }
            }
        };
        let expires = expires.filter(|_| status == Status::Secure);
        Ok((status, expires))
    }

    /// The status of a NODATA or NXDOMAIN answer for `name`/`qtype`.
    fn judge_denial(&self, name: &Name, qtype: u16, msg: &Message) -> Result<Status, LookupError> {
        let hint = msg
            .authority
            .iter()
            .find(|r| r.rtype() == rtype::SOA && name.is_at_or_below(&r.name))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| {
                if qtype == rtype::DS {
                    name.parent()
                } else {
                    name.clone()
                }
            });
        // The DS of a zone apex lives in the parent: never judge it with the child's keys.
        let hint = if qtype == rtype::DS && hint == *name && !name.is_root() {
            name.parent()
        } else {
            hint
        };
        let (zone, state) = self.v.zone_of(&hint)?;
        let keys = match state {
            ZoneState::Insecure => return Ok(Status::Insecure),
            ZoneState::Bogus(why) => return Ok(Status::Bogus(why)),
            ZoneState::Secure(keys) => keys,
        };
        let proof = match Denial::collect(msg, &zone, &keys, self.v.now()) {
            Ok(p) => p,
            Err(why) => return Ok(Status::Bogus(format!("denial for {name}: {why}"))),
        };
        let verdict = if msg.rcode == rcode::NXDOMAIN {
            proof.nxdomain(name)
        } else {
            match proof.types_at(name) {
                Ok(Some(types)) if types.contains(&qtype) || types.contains(&rtype::CNAME) => {
                    Err(format!(
                        "the proof for {name} lists {} in its type bitmap",
                        type_name(qtype)
                    ))
                }
                Ok(Some(_)) => Ok(Proven::Secure),
                Ok(None) => proof
                    .nodata_without_match(name)
                    .or_else(|_| proof.wildcard_nodata(name, qtype)),
                Err(e) => Err(e),
            }
        };
        Ok(match verdict {
            Ok(Proven::Secure) => Status::Secure,
            Ok(Proven::OptOut) => Status::Insecure,
            Err(why) => Status::Bogus(format!("denial for {name}: {why}")),
        })
    }
}

fn dname_above(msg: &Message, name: &Name) -> Option<(Name, Name)> {
    msg.answer.iter().find_map(|r| match &r.rdata {
        Rdata::Dname(target) if name.is_at_or_below(&r.name) && *name != r.name => {
            Some((r.name.clone(), target.clone()))
        }
        _ => None,
    })
}

fn cname_at(msg: &Message, name: &Name) -> Option<Name> {
    msg.answer.iter().find_map(|r| match &r.rdata {
        Rdata::Cname(target) if r.name == *name => Some(target.clone()),
        _ => None,
    })
}

fn records_at(msg: &Message, name: &Name, qtype: u16) -> Vec<Rdata> {
    msg.answer
        .iter()
        .filter(|r| r.name == *name && r.rtype() == qtype)
        .map(|r| r.rdata.clone())
        .collect()
}

fn chain_error(qname: &Name, seen: &HashSet<Name>) -> LookupError {
    LookupError::ChainTooLong(format!(
        "{qname}: more than {MAX_CHAIN} aliases ({} seen)",
        seen.len()
    ))
}

impl Resolver for ValidatingResolver {
    fn lookup(&self, qname: &Name, qtype: u16) -> Result<Lookup, LookupError> {
        let mut name = qname.clone();
        let mut hops = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..=MAX_CHAIN {
            if !seen.insert(name.clone()) {
                return Err(chain_error(qname, &seen));
            }
            let msg = self.v.ask(&name, qtype)?;
            if let Some((owner, target)) = dname_above(&msg, &name) {
                let (status, expires) = self.judge_rrset(&owner, rtype::DNAME, &msg)?;
                let next = name.replace_suffix(&owner, &target).ok_or_else(|| {
                    LookupError::Malformed(format!("DNAME substitution of {name} is too long"))
                })?;
                hops.push(Hop {
                    name,
                    status,
                    expires,
                });
                name = next;
                continue;
            }
            let records = records_at(&msg, &name, qtype);
            if !records.is_empty() {
                let ttl = msg
                    .answer
                    .iter()
                    .filter(|r| r.name == name && r.rtype() == qtype)
                    .map(|r| r.ttl)
                    .min();
                let (status, expires) = self.judge_rrset(&name, qtype, &msg)?;
                hops.push(Hop {
                    name,
                    status,
                    expires,
                });
                return Ok(
                    Lookup::new(qname.clone(), qtype, Answer::Records(records), hops).with_ttl(ttl),
                );
            }
            if qtype != rtype::CNAME
                && let Some(target) = cname_at(&msg, &name)
            {
                let (status, expires) = self.judge_rrset(&name, rtype::CNAME, &msg)?;
                hops.push(Hop {
                    name,
                    status,
                    expires,
                });
                name = target;
                continue;
            }
            let status = self.judge_denial(&name, qtype, &msg)?;
            let answer = if msg.rcode == rcode::NXDOMAIN {
                Answer::NxDomain
            } else {
                Answer::NoData
            };
            hops.push(Hop {
                name,
                status,
                expires: None,
            });
            return Ok(Lookup::new(qname.clone(), qtype, answer, hops));
        }
        Err(chain_error(qname, &seen))
    }

    fn mode(&self) -> &'static str {
        "validating"
    }
}

/// Trusted-AD mode: a validating resolver on loopback does the work and says "secure" with the
/// AD bit (RFC 7672 section 2.1.3). Bogus data arrives as SERVFAIL; per-step status of a CNAME
/// chain is not visible, so every step gets the response's status.
pub struct TrustedAdResolver {
    transport: Arc<dyn Transport>,
}

impl TrustedAdResolver {
    /// Refuses any resolver that is not on a loopback address (D-04).
    pub fn new(transport: Arc<dyn Transport>) -> Result<Self, String> {
        let ip = transport.server().ip();
        if !ip.is_loopback() {
            return Err(format!(
                "--trust-ad: the resolver {ip} is not on a loopback address; its AD bit could be forged on the way (RFC 7672 section 2.1.3)"
            ));
        }
        Ok(Self { transport })
    }
}

const AD_QUERY: QueryFlags = QueryFlags {
    rd: true,
    cd: false,
    dnssec_ok: true,
};

impl TrustedAdResolver {
    /// An insecure response with aliases hides which step was insecure. Asking for each alias
    /// record alone (type CNAME) shows it: the resolver sets AD on that response only if the
    /// alias itself is secure (RFC 7672 section 2.1.3; D-15's "insecure CNAME" needs it).
    fn refine(&self, mut lookup: Lookup) -> Result<Lookup, LookupError> {
        if lookup.status != Status::Insecure || lookup.hops.len() < 2 {
            return Ok(lookup);
        }
        let last = lookup.hops.len() - 1;
        for hop in &mut lookup.hops[..last] {
            let msg = self.transport.exchange(&hop.name, rtype::CNAME, AD_QUERY)?;
            hop.status = match msg.rcode {
                rcode::SERVFAIL => return Err(LookupError::Servfail),
                rcode::NOERROR if msg.flags.ad => Status::Secure,
                _ => Status::Insecure,
            };
        }
        Ok(lookup)
    }

    fn lookup_raw(&self, qname: &Name, qtype: u16) -> Result<Lookup, LookupError> {
        let mut name = qname.clone();
        let mut hops = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..=MAX_CHAIN {
            let msg = self.transport.exchange(&name, qtype, AD_QUERY)?;
            match msg.rcode {
                rcode::NOERROR | rcode::NXDOMAIN => {}
                rcode::SERVFAIL => return Err(LookupError::Servfail),
                other => return Err(LookupError::Rcode(other)),
            }
            let status = if msg.flags.ad {
                Status::Secure
            } else {
                Status::Insecure
            };
            // Walk the chain inside the response.
            loop {
                if !seen.insert(name.clone()) || seen.len() > MAX_CHAIN + 1 {
                    return Err(chain_error(qname, &seen));
                }
                let records = records_at(&msg, &name, qtype);
                if !records.is_empty() {
                    hops.push(Hop {
                        name,
                        status,
                        expires: None,
                    });
                    return Ok(Lookup::new(
                        qname.clone(),
                        qtype,
                        Answer::Records(records),
                        hops,
                    ));
                }
                let next = match dname_above(&msg, &name) {
                    Some((owner, target)) => name.replace_suffix(&owner, &target),
                    None if qtype != rtype::CNAME => cname_at(&msg, &name),
                    None => None,
                };
                match next {
                    Some(next) => {
                        hops.push(Hop {
                            name,
                            status: status.clone(),
                            expires: None,
                        });
                        name = next;
                    }
                    None => break,
                }
            }
            // The chain ended without data: a denial for `name`, unless the response stopped
            // at an alias whose target it did not include (then ask again).
            let answered_here =
                msg.answer.is_empty() || hops.last().is_some_and(|h| h.name != name);
            if answered_here || msg.rcode == rcode::NXDOMAIN || !msg.authority.is_empty() {
                let answer = if msg.rcode == rcode::NXDOMAIN {
                    Answer::NxDomain
                } else {
                    Answer::NoData
                };
                hops.push(Hop {
                    name,
                    status,
                    expires: None,
                });
                return Ok(Lookup::new(qname.clone(), qtype, answer, hops));
            }
            seen.remove(&name);
        }
        Err(chain_error(qname, &seen))
    }
}

impl Resolver for TrustedAdResolver {
    fn lookup(&self, qname: &Name, qtype: u16) -> Result<Lookup, LookupError> {
        let lookup = self.lookup_raw(qname, qtype)?;
        self.refine(lookup)
    }

    fn mode(&self) -> &'static str {
        "trusted-ad"
    }
}

/// Reads trust anchors in zone-file form: DS or DNSKEY records, one per line, `;` comments.
pub fn parse_trust_anchors(text: &str) -> Result<Vec<TrustAnchor>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("trust anchor line {}: {why}: {raw}", i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let zone = Name::try_parse(fields[0]).map_err(|e| bad(&e))?;
        let Some(t) = fields
            .iter()
            .position(|f| f.eq_ignore_ascii_case("DS") || f.eq_ignore_ascii_case("DNSKEY"))
        else {
            return Err(bad("expected a DS or DNSKEY record"));
        };
        let rest = &fields[t + 1..];
        let num = |s: Option<&&str>| -> Result<u32, String> {
            s.and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("a number is missing or malformed"))
        };
        let small = |v: u32| u8::try_from(v).map_err(|_| bad("a field is out of range"));
        let data = if fields[t].eq_ignore_ascii_case("DS") {
            let digest = data_encoding::HEXUPPER_PERMISSIVE
                .decode(rest.get(3..).unwrap_or(&[]).concat().as_bytes())
                .map_err(|_| bad("the digest is not hex"))?;
            if digest.is_empty() {
                return Err(bad("the digest is missing"));
            }
            Rdata::Ds {
                key_tag: u16::try_from(num(rest.first())?)
                    .map_err(|_| bad("key tag out of range"))?,
                algorithm: small(num(rest.get(1))?)?,
                digest_type: small(num(rest.get(2))?)?,
                digest,
            }
        } else {
            let key = data_encoding::BASE64
                .decode(rest.get(3..).unwrap_or(&[]).concat().as_bytes())
                .map_err(|_| bad("the key is not base64"))?;
            Rdata::Dnskey {
                flags: u16::try_from(num(rest.first())?).map_err(|_| bad("flags out of range"))?,
                protocol: small(num(rest.get(1))?)?,
                algorithm: small(num(rest.get(2))?)?,
                key,
            }
        };
        out.push(TrustAnchor { zone, data });
    }
    if out.is_empty() {
        return Err("the trust anchor file holds no DS or DNSKEY record".into());
    }
    Ok(out)
}
