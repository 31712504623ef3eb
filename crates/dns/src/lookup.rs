//! Lookups with one DNSSEC status per RRset (CHECKLIST D-01, D-02), behind one trait with two
//! implementations: the validating resolver ([`UnboundResolver`], libunbound in-process, the
//! default) and trusted-AD
//! mode for a validating resolver on loopback ([`TrustedAdResolver`], D-04).
//!
//! A [`Lookup`] can only be made in this crate: code elsewhere cannot forge a "secure".

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::message::{Message, QueryFlags, parse_response, rcode};
use crate::name::Name;
use crate::rdata::{Rdata, rtype};
use crate::transport::{LookupError, Transport, check_question};
use crate::validate::TrustAnchor;

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
    /// secure, when the resolver handed them over (the validating mode does).
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

    /// The earliest RRSIG expiration along the lookup (validating mode only).
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

    /// What was found, whatever the status: for reports only. A bogus answer is here as the
    /// forger sent it.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The records found, for decisions: empty for a denial, and empty when the lookup is
    /// bogus or indeterminate (P-03: libunbound hands the data of a bogus answer over with its
    /// verdict; no decision may rest on it). Insecure records are here: the caller weighs the
    /// status.
    pub fn records(&self) -> &[Rdata] {
        match (&self.status, &self.answer) {
            (Status::Secure | Status::Insecure, Answer::Records(r)) => r,
            _ => &[],
        }
    }

    /// The records as received, whatever the status: for reports that show what a bogus
    /// answer claimed, never for decisions.
    pub fn unvalidated_records(&self) -> &[Rdata] {
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

/// What [`Resolver::lookup`] returns.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<Lookup, LookupError>> + Send + 'a>>;

/// One judged answer on its way.
type AskFuture<'a> = Pin<Box<dyn Future<Output = Result<Judged, LookupError>> + Send + 'a>>;

/// Asks one question of a resolver that judges the answer itself.
trait Ask: Sync {
    fn ask<'a>(&'a self, name: &'a Name, qtype: u16) -> AskFuture<'a>;
}

/// A DNS resolver that returns statuses.
pub trait Resolver: Send + Sync {
    /// Looks up `name`/`qtype`, following CNAMEs and DNAMEs. Needs a tokio runtime with time
    /// enabled; many lookups can run at once (the plan asks a host's A, AAAA and TLSA
    /// together).
    fn lookup<'a>(&'a self, name: &'a Name, qtype: u16) -> LookupFuture<'a>;

    /// `validating` or `trusted-ad`.
    fn mode(&self) -> &'static str;

    /// [`Resolver::lookup`] on a runtime of its own, for code outside async contexts (tests,
    /// tools). Never call it inside a tokio runtime: it would block that runtime's thread.
    fn lookup_blocking(&self, name: &Name, qtype: u16) -> Result<Lookup, LookupError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LookupError::Network(format!("cannot start a runtime: {e}")))?;
        runtime.block_on(self.lookup(name, qtype))
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

/// One answer from a resolver that has already judged it: the message and its status.
/// SERVFAIL that is not a validation failure must be an error, never a message.
type Judged = (Message, Status);

/// The earliest expiration of the RRSIGs in `msg`'s answer section that cover `owner`/`t`.
fn expiry_of(msg: &Message, owner: &Name, t: u16) -> Option<u32> {
    msg.answer
        .iter()
        .filter_map(|r| match &r.rdata {
            Rdata::Rrsig {
                type_covered,
                expiration,
                ..
            } if r.name == *owner && *type_covered == t => Some(*expiration),
            _ => None,
        })
        .min()
}

/// Follows the alias chain of `qname`/`qtype` through responses that `ask` returns already
/// judged (a validating resolver did the DNSSEC work), one [`Hop`] per step.
async fn walk(qname: &Name, qtype: u16, asker: &dyn Ask) -> Result<Lookup, LookupError> {
    let mut name = qname.clone();
    let mut hops = Vec::new();
    let mut seen = HashSet::new();
    for _ in 0..=MAX_CHAIN {
        let (msg, status) = asker.ask(&name, qtype).await?;
        let secure = status == Status::Secure;
        let expires = |msg: &Message, owner: &Name, t: u16| {
            if secure {
                expiry_of(msg, owner, t)
            } else {
                None
            }
        };
        // Walk the chain inside the response.
        loop {
            if !seen.insert(name.clone()) || seen.len() > MAX_CHAIN + 1 {
                return Err(chain_error(qname, &seen));
            }
            let mut records = records_at(&msg, &name, qtype);
            if !records.is_empty() {
                // Canonical RRset order (RFC 4034 section 6.3), whatever order the resolver
                // used: reports stay stable (MX records come by preference).
                records.sort_by_cached_key(Rdata::to_wire);
                // The TTL as the zone publishes it: the RRSIG's original TTL (RFC 4034
                // section 3.1.4) where the RRset is signed; a cache's remaining TTL otherwise.
                let original = msg.answer.iter().find_map(|r| match &r.rdata {
                    Rdata::Rrsig {
                        type_covered,
                        original_ttl,
                        ..
                    } if r.name == name && *type_covered == qtype => Some(*original_ttl),
                    _ => None,
                });
                let ttl = original.or_else(|| {
                    msg.answer
                        .iter()
                        .filter(|r| r.name == name && r.rtype() == qtype)
                        .map(|r| r.ttl)
                        .min()
                });
                let exp = expires(&msg, &name, qtype);
                hops.push(Hop {
                    name,
                    status,
                    expires: exp,
                });
                return Ok(
                    Lookup::new(qname.clone(), qtype, Answer::Records(records), hops).with_ttl(ttl),
                );
            }
            let next = match dname_above(&msg, &name) {
                Some((owner, target)) => name
                    .replace_suffix(&owner, &target)
                    .map(|n| (n, owner, rtype::DNAME)),
                None if qtype != rtype::CNAME => {
                    cname_at(&msg, &name).map(|n| (n, name.clone(), rtype::CNAME))
                }
                None => None,
            };
            match next {
                Some((next, owner, t)) => {
                    let exp = expires(&msg, &owner, t);
                    hops.push(Hop {
                        name,
                        status: status.clone(),
                        expires: exp,
                    });
                    name = next;
                }
                None => break,
            }
        }
        // The chain ended without data: a denial for `name`, unless the response stopped
        // at an alias whose target it did not include (then ask again).
        let answered_here = msg.answer.is_empty() || hops.last().is_some_and(|h| h.name != name);
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

/// A response that is not secure and has aliases hides which step was not secure. Asking for
/// each alias record alone (type CNAME) shows it: the resolver calls that response secure only
/// if the alias itself is (RFC 7672 section 2.1.3; D-15's "insecure CNAME" needs it). The last
/// step keeps the status of the whole answer.
async fn refine(mut lookup: Lookup, asker: &dyn Ask) -> Result<Lookup, LookupError> {
    if lookup.status == Status::Secure || lookup.hops.len() < 2 {
        return Ok(lookup);
    }
    let last = lookup.hops.len() - 1;
    for hop in &mut lookup.hops[..last] {
        let (_, status) = asker.ask(&hop.name, rtype::CNAME).await?;
        hop.status = status;
    }
    Ok(lookup)
}

/// Trusted-AD mode: a validating resolver on loopback does the work and says "secure" with the
/// AD bit (RFC 7672 section 2.1.3). Bogus data arrives as SERVFAIL, an error.
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

    async fn ask_inner(&self, name: &Name, qtype: u16) -> Result<Judged, LookupError> {
        // The transport blocks: it runs on tokio's blocking pool.
        let (transport, n) = (self.transport.clone(), name.clone());
        let msg = tokio::task::spawn_blocking(move || transport.exchange(&n, qtype, AD_QUERY))
            .await
            .map_err(|e| LookupError::Network(format!("the exchange task failed: {e}")))??;
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
        Ok((msg, status))
    }
}

const AD_QUERY: QueryFlags = QueryFlags {
    rd: true,
    cd: false,
    dnssec_ok: true,
};

impl Ask for TrustedAdResolver {
    fn ask<'a>(&'a self, name: &'a Name, qtype: u16) -> AskFuture<'a> {
        Box::pin(self.ask_inner(name, qtype))
    }
}

impl Resolver for TrustedAdResolver {
    fn lookup<'a>(&'a self, qname: &'a Name, qtype: u16) -> LookupFuture<'a> {
        Box::pin(async move {
            let lookup = walk(qname, qtype, self).await?;
            refine(lookup, self).await
        })
    }

    fn mode(&self) -> &'static str {
        "trusted-ad"
    }
}

/// The validating resolver: libunbound (NLnet Labs' validator, the one inside Unbound) checks
/// every answer from a trust anchor in this process; the upstream (a forwarder or the root
/// servers) is not trusted. One [`mxdane_unbound::Context`], and so one cache, can serve many
/// resolvers.
pub struct UnboundResolver {
    ctx: Arc<mxdane_unbound::Context>,
    timeout: Duration,
    label: String,
}

/// Where the validating resolver sends its questions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A recursive resolver (validation still happens here; its AD bit is ignored).
    Forward(SocketAddr),
    /// The root servers (built-in), or those of a root hints file.
    Recursive {
        /// A root hints file (private roots, labs).
        root_hints: Option<String>,
    },
}

impl UnboundResolver {
    /// A context that validates answers from `upstream` with `anchors`, at the current time or
    /// at `at` (seconds since 1970).
    pub fn context(
        upstream: &Upstream,
        anchors: &[TrustAnchor],
        at: Option<u32>,
    ) -> Result<mxdane_unbound::Context, String> {
        let upstream = match upstream {
            Upstream::Forward(addr) => {
                mxdane_unbound::Upstream::Forward(vec![format!("{}@{}", addr.ip(), addr.port())])
            }
            Upstream::Recursive { root_hints } => mxdane_unbound::Upstream::Recursive {
                root_hints: root_hints.clone(),
            },
        };
        let config = mxdane_unbound::Config {
            upstream,
            trust_anchors: anchors.iter().map(TrustAnchor::presentation).collect(),
            override_date: at,
            // libunbound's library defaults (16 outgoing ports, a few dozen queries in
            // flight) suit one lookup at a time; the monitor and the survey keep hundreds in
            // flight, which queued behind 16 ports (at 50 ms per round trip: about 140
            // domains a second whatever the concurrency).
            options: vec![
                ("outgoing-range".into(), "256".into()),
                ("num-queries-per-thread".into(), "1024".into()),
            ],
        };
        mxdane_unbound::Context::new(&config).map_err(|e| e.to_string())
    }

    /// A resolver over `ctx`; each lookup step must be answered within `timeout`.
    pub fn new(ctx: Arc<mxdane_unbound::Context>, timeout: Duration, label: &str) -> Self {
        Self {
            ctx,
            timeout,
            label: label.to_string(),
        }
    }

    /// Forwards to `upstream`, validates with `anchors` (a context of its own).
    pub fn forwarding(
        upstream: SocketAddr,
        anchors: &[TrustAnchor],
        timeout: Duration,
    ) -> Result<Self, String> {
        let ctx = Self::context(&Upstream::Forward(upstream), anchors, None)?;
        Ok(Self::new(Arc::new(ctx), timeout, &upstream.to_string()))
    }

    async fn ask_inner(&self, name: &Name, qtype: u16) -> Result<Judged, LookupError> {
        // The deadline covers libunbound's whole work for this step; a query dropped on
        // timeout is cancelled.
        let query = self.ctx.query(name.as_str(), qtype);
        let r = match tokio::time::timeout(self.timeout, query).await {
            Err(_) => {
                return Err(LookupError::Timeout {
                    server: self.label.clone(),
                });
            }
            Ok(r) => r.map_err(|e| LookupError::Network(e.to_string()))?,
        };
        if r.bogus {
            let why = r
                .why_bogus
                .clone()
                .unwrap_or_else(|| "validation failed".into());
            // The data, if libunbound hands it over, is kept for the report; its status says
            // it must not be used.
            let msg = parse_response(&r.packet)
                .ok()
                .filter(|m| m.rcode != rcode::SERVFAIL)
                .unwrap_or_else(|| Message::empty(name, qtype));
            return Ok((msg, Status::Bogus(why)));
        }
        match u16::from(r.rcode) {
            rcode::NOERROR | rcode::NXDOMAIN => {}
            rcode::SERVFAIL => return Err(LookupError::Servfail),
            other => return Err(LookupError::Rcode(other)),
        }
        let msg = parse_response(&r.packet).map_err(|e| LookupError::Malformed(e.to_string()))?;
        check_question(&msg, name, qtype)?;
        let status = if r.secure {
            Status::Secure
        } else {
            Status::Insecure
        };
        Ok((msg, status))
    }
}

impl Ask for UnboundResolver {
    fn ask<'a>(&'a self, name: &'a Name, qtype: u16) -> AskFuture<'a> {
        Box::pin(self.ask_inner(name, qtype))
    }
}

impl Resolver for UnboundResolver {
    fn lookup<'a>(&'a self, qname: &'a Name, qtype: u16) -> LookupFuture<'a> {
        Box::pin(async move {
            let lookup = walk(qname, qtype, self).await?;
            refine(lookup, self).await
        })
    }

    fn mode(&self) -> &'static str {
        "validating"
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
        let zone = Name::try_parse(fields[0]).map_err(|e| bad(&e.to_string()))?;
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
