//! A man in the middle on the path to the authoritative servers (issue 26): a [`Transport`]
//! that passes each direct question to the real server and rewrites the answer on its way
//! back, one knob per lie the operator side must not believe. Signed data is never re-signed:
//! the lies are what an attacker without the zone's keys can tell.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mxdane_dns::message::{Message, QueryFlags};
use mxdane_dns::transport::{LookupError, Transport};

use super::name::Name;
use super::rdata::{Rdata, rtype};

/// One lie about an answer.
#[derive(Clone, Debug)]
pub enum Lie {
    /// Every record's TTL field is set to this (the RRSIGs' original TTLs stay as signed).
    Ttl(u32),
    /// The SOA's minimum field (the negative-caching TTL) is set to this.
    SoaMinimum(u32),
    /// The answer says NOERROR with no records and no proof (the RRset "is gone").
    EmptyNoProof,
    /// The answer says NXDOMAIN with no records and no proof.
    NxdomainNoProof,
    /// The denial's NSEC and NSEC3 records are kept, its SOA and every RRSIG removed.
    Unsigned,
    /// The AA bit is cleared (a cache's answer, not the zone's server).
    NotAuthoritative,
    /// The answer is the one captured earlier for the same question (a stale copy), if any.
    Replay(Arc<Mutex<Vec<Message>>>),
    /// Records of this type are put in the answer in place of the real ones (unsigned: the
    /// attacker has no key).
    Records(u16, Vec<Rdata>),
}

/// A transport whose answers to questions of `qtype` (every type when `None`) are rewritten.
pub struct Tampering {
    inner: Arc<dyn Transport>,
    qtype: Option<u16>,
    lie: Lie,
}

impl Tampering {
    /// Lies with `lie` about answers of `qtype` (`None`: every answer) from `inner`.
    pub fn new(inner: Arc<dyn Transport>, qtype: Option<u16>, lie: Lie) -> Self {
        Self { inner, qtype, lie }
    }
}

/// Records every answer of `inner` for a later [`Lie::Replay`].
pub struct Recording {
    inner: Arc<dyn Transport>,
    /// The answers seen, in order.
    pub seen: Arc<Mutex<Vec<Message>>>,
}

impl Recording {
    /// Records what `inner` answers.
    pub fn new(inner: Arc<dyn Transport>, seen: Arc<Mutex<Vec<Message>>>) -> Self {
        Self { inner, seen }
    }
}

impl Transport for Recording {
    fn exchange(
        &self,
        qname: &Name,
        qtype: u16,
        flags: QueryFlags,
    ) -> Result<Message, LookupError> {
        let m = self.inner.exchange(qname, qtype, flags)?;
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(m.clone());
        Ok(m)
    }

    fn server(&self) -> SocketAddr {
        self.inner.server()
    }
}

impl Transport for Tampering {
    fn exchange(
        &self,
        qname: &Name,
        qtype: u16,
        flags: QueryFlags,
    ) -> Result<Message, LookupError> {
        let mut m = self.inner.exchange(qname, qtype, flags)?;
        if self.qtype.is_some_and(|t| t != qtype) {
            return Ok(m);
        }
        match &self.lie {
            Lie::Ttl(ttl) => {
                for r in m
                    .answer
                    .iter_mut()
                    .chain(m.authority.iter_mut())
                    .chain(m.additional.iter_mut())
                {
                    r.ttl = *ttl;
                }
            }
            Lie::SoaMinimum(min) => {
                for r in m.answer.iter_mut().chain(m.authority.iter_mut()) {
                    if let Rdata::Soa { minimum, .. } = &mut r.rdata {
                        *minimum = *min;
                    }
                }
            }
            Lie::EmptyNoProof | Lie::NxdomainNoProof => {
                m.answer.clear();
                m.authority.retain(|r| r.rtype() == rtype::SOA);
                m.rcode = if matches!(self.lie, Lie::NxdomainNoProof) {
                    mxdane_dns::message::rcode::NXDOMAIN
                } else {
                    mxdane_dns::message::rcode::NOERROR
                };
            }
            Lie::Unsigned => {
                m.answer.retain(|r| r.rtype() != rtype::RRSIG);
                m.authority
                    .retain(|r| r.rtype() != rtype::RRSIG && r.rtype() != rtype::SOA);
            }
            Lie::NotAuthoritative => m.flags.aa = false,
            Lie::Replay(log) => {
                let log = log.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(old) = log
                    .iter()
                    .find(|o| o.question == Some((qname.clone(), qtype)))
                {
                    let id = m.id;
                    m = old.clone();
                    m.id = id;
                }
            }
            Lie::Records(t, rdatas) => {
                let ttl = m.answer.first().map_or(300, |r| r.ttl);
                m.answer.retain(|r| r.rtype() != *t);
                m.answer.extend(
                    rdatas
                        .iter()
                        .map(|rd| super::rdata::Record::new(qname.clone(), ttl, rd.clone())),
                );
            }
        }
        Ok(m)
    }

    fn server(&self) -> SocketAddr {
        self.inner.server()
    }
}
