//! DNS messages: reading queries and writing responses (RFC 1035 section 4, EDNS(0) of
//! RFC 6891), plus a small reader for responses that tests use.

use super::name::Name;
use super::rdata::{Record, rtype};

/// A query as the lab server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Message id.
    pub id: u16,
    /// Recursion desired.
    pub rd: bool,
    /// Checking disabled.
    pub cd: bool,
    /// The question name.
    pub qname: Name,
    /// The question type.
    pub qtype: u16,
    /// The question class.
    pub qclass: u16,
    /// EDNS(0) present: the advertised UDP payload size.
    pub edns_size: Option<u16>,
    /// The DNSSEC OK bit.
    pub dnssec_ok: bool,
}

/// Why a message could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormError(pub &'static str);

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormError> {
        let end = self.pos.checked_add(n).ok_or(FormError("overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(FormError("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, FormError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, FormError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A name, following compression pointers (bounded).
    fn name(&mut self) -> Result<Name, FormError> {
        let mut labels = Vec::new();
        let mut pos = self.pos;
        let mut jumped = false;
        let mut hops = 0;
        let mut total = 0;
        loop {
            let len = *self.buf.get(pos).ok_or(FormError("truncated name"))?;
            match len {
                0 => {
                    pos += 1;
                    break;
                }
                l if l & 0xc0 == 0xc0 => {
                    let lo = *self
                        .buf
                        .get(pos + 1)
                        .ok_or(FormError("truncated pointer"))?;
                    if !jumped {
                        self.pos = pos + 2;
                    }
                    jumped = true;
                    hops += 1;
                    if hops > 32 {
                        return Err(FormError("compression loop"));
                    }
                    pos = usize::from(u16::from_be_bytes([l & 0x3f, lo]));
                }
                l if l & 0xc0 == 0 => {
                    let l = usize::from(l);
                    let label = self
                        .buf
                        .get(pos + 1..pos + 1 + l)
                        .ok_or(FormError("truncated label"))?;
                    total += l + 1;
                    if total > 255 {
                        return Err(FormError("name too long"));
                    }
                    labels.push(label.to_vec());
                    pos += 1 + l;
                }
                _ => return Err(FormError("bad label type")),
            }
        }
        if !jumped {
            self.pos = pos;
        }
        Ok(Name::from_labels(labels))
    }
}

/// Reads a query: exactly one question, optional OPT record.
pub fn parse_query(buf: &[u8]) -> Result<Query, FormError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 != 0 {
        return Err(FormError("a response, not a query"));
    }
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    if qd != 1 {
        return Err(FormError("not exactly one question"));
    }
    let qname = r.name()?;
    let qtype = r.u16()?;
    let qclass = r.u16()?;
    let mut edns_size = None;
    let mut dnssec_ok = false;
    for _ in 0..(u32::from(an) + u32::from(ns) + u32::from(ar)) {
        let _owner = r.name()?;
        let t = r.u16()?;
        let class = r.u16()?;
        let ttl = r.u32()?;
        let len = r.u16()?;
        r.take(usize::from(len))?;
        if t == rtype::OPT {
            edns_size = Some(class.max(512));
            dnssec_ok = ttl & 0x8000 != 0;
        }
    }
    Ok(Query {
        id,
        rd: flags & 0x0100 != 0,
        cd: flags & 0x0010 != 0,
        qname,
        qtype,
        qclass,
        edns_size,
        dnssec_ok,
    })
}

/// Response codes.
#[allow(missing_docs)]
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
}

/// A response before encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Response code.
    pub rcode: u8,
    /// Authoritative answer.
    pub aa: bool,
    /// Authentic data (set by a validating resolver, RFC 4035 section 3.2.3).
    pub ad: bool,
    /// Answer section.
    pub answer: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section (without OPT).
    pub additional: Vec<Record>,
}

/// Encodes `resp` for `q`. When it does not fit in `limit` octets, the sections are dropped
/// and TC is set (RFC 2181 section 9; the client retries over TCP).
pub fn encode(q: &Query, resp: &Response, recursive: bool, limit: usize) -> Vec<u8> {
    let full = encode_sections(q, resp, recursive, false);
    if full.len() <= limit {
        return full;
    }
    encode_sections(q, resp, recursive, true)
}

fn encode_sections(q: &Query, resp: &Response, recursive: bool, truncated: bool) -> Vec<u8> {
    let mut o = Vec::with_capacity(512);
    o.extend_from_slice(&q.id.to_be_bytes());
    let mut flags: u16 = 0x8000 | u16::from(resp.rcode & 0x0f);
    if resp.aa {
        flags |= 0x0400;
    }
    if truncated {
        flags |= 0x0200;
    }
    if resp.ad {
        flags |= 0x0020;
    }
    if q.rd {
        flags |= 0x0100;
    }
    if recursive {
        flags |= 0x0080;
    }
    if q.cd {
        flags |= 0x0010;
    }
    o.extend_from_slice(&flags.to_be_bytes());
    let empty = Vec::new();
    let (an, ns, ar) = if truncated {
        (&empty, &empty, &empty)
    } else {
        (&resp.answer, &resp.authority, &resp.additional)
    };
    let count = |v: &Vec<Record>| u16::try_from(v.len()).unwrap_or(u16::MAX);
    let opt = u16::from(q.edns_size.is_some());
    for c in [1, count(an), count(ns), count(ar) + opt] {
        o.extend_from_slice(&c.to_be_bytes());
    }
    q.qname.write_wire(&mut o);
    o.extend_from_slice(&q.qtype.to_be_bytes());
    o.extend_from_slice(&q.qclass.to_be_bytes());
    for r in an.iter().chain(ns).chain(ar) {
        r.write_wire(&mut o);
    }
    if q.edns_size.is_some() {
        // OPT: root owner, payload 1232, DO echoed (RFC 3225).
        o.push(0);
        o.extend_from_slice(&rtype::OPT.to_be_bytes());
        o.extend_from_slice(&1232u16.to_be_bytes());
        let ttl: u32 = if q.dnssec_ok { 0x8000 } else { 0 };
        o.extend_from_slice(&ttl.to_be_bytes());
        o.extend_from_slice(&0u16.to_be_bytes());
    }
    o
}

/// A record as read back from a response: raw RDATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// Owner.
    pub name: Name,
    /// Type.
    pub rtype: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA as sent.
    pub rdata: Vec<u8>,
}

/// A response as read back (for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedResponse {
    /// Message id.
    pub id: u16,
    /// Response code.
    pub rcode: u8,
    /// AA flag.
    pub aa: bool,
    /// TC flag.
    pub tc: bool,
    /// AD flag.
    pub ad: bool,
    /// Answer section.
    pub answer: Vec<RawRecord>,
    /// Authority section.
    pub authority: Vec<RawRecord>,
    /// Additional section (OPT included).
    pub additional: Vec<RawRecord>,
}

/// Reads a response.
pub fn parse_response(buf: &[u8]) -> Result<ParsedResponse, FormError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    for _ in 0..qd {
        r.name()?;
        r.u16()?;
        r.u16()?;
    }
    let mut section = |n: u16| -> Result<Vec<RawRecord>, FormError> {
        (0..n)
            .map(|_| {
                let name = r.name()?;
                let rtype = r.u16()?;
                let _class = r.u16()?;
                let ttl = r.u32()?;
                let len = r.u16()?;
                let rdata = r.take(usize::from(len))?.to_vec();
                Ok(RawRecord {
                    name,
                    rtype,
                    ttl,
                    rdata,
                })
            })
            .collect()
    };
    let answer = section(an)?;
    let authority = section(ns)?;
    let additional = section(ar)?;
    Ok(ParsedResponse {
        id,
        rcode: u8::try_from(flags & 0x0f).unwrap_or(0),
        aa: flags & 0x0400 != 0,
        tc: flags & 0x0200 != 0,
        ad: flags & 0x0020 != 0,
        answer,
        authority,
        additional,
    })
}

/// Builds a query (for tests and tools): RD and CD as given, EDNS with DO.
pub fn build_query(id: u16, qname: &Name, qtype: u16, rd: bool, cd: bool) -> Vec<u8> {
    let q = Query {
        id,
        rd,
        cd,
        qname: qname.clone(),
        qtype,
        qclass: 1,
        edns_size: Some(1232),
        dnssec_ok: true,
    };
    let mut o = encode_sections(&q, &Response::default(), false, false);
    // Turn the encoded "response" into a query: clear QR/RA, zero the answer counts.
    o[2] &= 0x7f;
    o[3] &= 0x7f;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip_and_bad_input() {
        let name = Name::parse("_25._tcp.mx.example.test");
        let wire = build_query(7, &name, rtype::TLSA, true, true);
        let q = parse_query(&wire).unwrap();
        assert_eq!((q.id, q.rd, q.cd, q.qtype), (7, true, true, rtype::TLSA));
        assert_eq!(q.qname, name);
        assert!(q.dnssec_ok);
        assert_eq!(q.edns_size, Some(1232));
        for bad in [&wire[..5], &wire[..wire.len() - 3]] {
            assert!(parse_query(bad).is_err());
        }
        // A compression loop is refused, not followed forever.
        let mut looped = wire[..12].to_vec();
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(parse_query(&looped).is_err());
    }
}
