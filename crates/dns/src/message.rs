//! The workspace's one DNS message codec (RFC 1035 section 4; EDNS(0), RFC 6891; the DO bit,
//! RFC 3225): queries out and responses in for the clients (the trusted-AD transport, the
//! nameserver comparison, reading libunbound's answer packets), and queries in and responses
//! out for the lab's servers. Messages are read defensively: every length is checked,
//! compression pointers may only point backwards, and a malformed message is an error.
//! [`parse_response_raw`] reads the same way but leaves RDATA as sent, for tests that check
//! signatures over the bytes independently of [`Rdata`]'s parser.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::Name;
use crate::rdata::{Rdata, Record, rtype};

/// A message that cannot be read; says where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed DNS message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

fn err<T>(what: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(what.into()))
}

/// Header flags of a response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion available.
    pub ra: bool,
    /// Authentic data (RFC 4035 section 3.2.3).
    pub ad: bool,
    /// Checking disabled.
    pub cd: bool,
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Message id.
    pub id: u16,
    /// Header flags.
    pub flags: Flags,
    /// Response code (with the EDNS extended bits).
    pub rcode: u16,
    /// The question, if there was exactly one.
    pub question: Option<(Name, u16)>,
    /// Answer section.
    pub answer: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section (without the OPT pseudo-record).
    pub additional: Vec<Record>,
}

impl Message {
    /// A response with no records, answering `qname`/`qtype` (stands in where a resolver gave
    /// a verdict but no usable message).
    pub fn empty(qname: &Name, qtype: u16) -> Self {
        Self {
            id: 0,
            flags: Flags::default(),
            rcode: 0,
            question: Some((qname.clone(), qtype)),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        }
    }
}

/// How a query is flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryFlags {
    /// Recursion desired.
    pub rd: bool,
    /// Checking disabled: hand over data even if it fails validation (RFC 6840 section 5.9).
    pub cd: bool,
    /// DNSSEC OK: include RRSIGs and denial records.
    pub dnssec_ok: bool,
}

/// Encodes a query with EDNS(0) (payload 1232).
pub fn build_query(id: u16, qname: &Name, qtype: u16, flags: QueryFlags) -> Vec<u8> {
    let mut o = Vec::with_capacity(64);
    o.extend_from_slice(&id.to_be_bytes());
    let mut f: u16 = 0;
    if flags.rd {
        f |= 0x0100;
    }
    if flags.cd {
        f |= 0x0010;
    }
    o.extend_from_slice(&f.to_be_bytes());
    for c in [1u16, 0, 0, 1] {
        o.extend_from_slice(&c.to_be_bytes());
    }
    qname.write_wire(&mut o);
    o.extend_from_slice(&qtype.to_be_bytes());
    o.extend_from_slice(&1u16.to_be_bytes());
    o.push(0);
    o.extend_from_slice(&rtype::OPT.to_be_bytes());
    o.extend_from_slice(&1232u16.to_be_bytes());
    let ttl: u32 = if flags.dnssec_ok { 0x8000 } else { 0 };
    o.extend_from_slice(&ttl.to_be_bytes());
    o.extend_from_slice(&0u16.to_be_bytes());
    o
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(WireError("length overflow".into()))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| WireError(format!("truncated at offset {}", self.pos)))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A possibly compressed name; pointers must point strictly backwards.
    pub(crate) fn name(&mut self) -> Result<Name, WireError> {
        let mut labels = Vec::new();
        let mut pos = self.pos;
        let mut jumped = false;
        let mut total = 1;
        loop {
            let len = *self
                .buf
                .get(pos)
                .ok_or_else(|| WireError(format!("name truncated at offset {pos}")))?;
            if len == 0 {
                pos += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                let lo = *self
                    .buf
                    .get(pos + 1)
                    .ok_or_else(|| WireError("compression pointer truncated".into()))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                if target >= pos {
                    return err(format!(
                        "compression pointer at {pos} does not point backwards"
                    ));
                }
                if !jumped {
                    self.pos = pos + 2;
                }
                jumped = true;
                pos = target;
                continue;
            }
            if len & 0xc0 != 0 {
                return err(format!("unknown label type at offset {pos}"));
            }
            let l = usize::from(len);
            let label = self
                .buf
                .get(pos + 1..pos + 1 + l)
                .ok_or_else(|| WireError(format!("label truncated at offset {pos}")))?;
            total += l + 1;
            if total > 255 {
                return err("name longer than 255 octets");
            }
            labels.push(label.to_vec());
            pos += 1 + l;
        }
        if !jumped {
            self.pos = pos;
        }
        Ok(Name::from_labels(labels))
    }
}

fn bitmap(data: &[u8]) -> Result<Vec<u16>, WireError> {
    let mut types = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let window = u16::from(data[i]);
        let len = usize::from(
            *data
                .get(i + 1)
                .ok_or(WireError("type bitmap truncated".into()))?,
        );
        if len == 0 || len > 32 {
            return err("bad type bitmap window length");
        }
        let bits = data
            .get(i + 2..i + 2 + len)
            .ok_or(WireError("type bitmap truncated".into()))?;
        for (byte, b) in bits.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    let low = u16::try_from(byte * 8 + bit).unwrap_or(0);
                    types.push(window << 8 | low);
                }
            }
        }
        i += 2 + len;
    }
    Ok(types)
}

fn rdata(r: &mut Reader<'_>, t: u16, len: usize) -> Result<Rdata, WireError> {
    let start = r.pos;
    let end = start + len;
    if end > r.buf.len() {
        return err("RDATA runs past the end of the message");
    }
    let rest = |r: &Reader<'_>| -> Result<Vec<u8>, WireError> {
        r.buf
            .get(r.pos..end)
            .map(<[u8]>::to_vec)
            .ok_or(WireError("RDATA overrun".into()))
    };
    let out = match t {
        rtype::A => {
            let b = r.take(4)?;
            Rdata::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        rtype::AAAA => {
            let b: [u8; 16] = r
                .take(16)?
                .try_into()
                .map_err(|_| WireError("AAAA".into()))?;
            Rdata::Aaaa(Ipv6Addr::from(b))
        }
        rtype::NS => Rdata::Ns(r.name()?),
        rtype::CNAME => Rdata::Cname(r.name()?),
        rtype::DNAME => Rdata::Dname(r.name()?),
        rtype::MX => {
            let pref = r.u16()?;
            Rdata::Mx(pref, r.name()?)
        }
        rtype::SOA => Rdata::Soa {
            mname: r.name()?,
            rname: r.name()?,
            serial: r.u32()?,
            refresh: r.u32()?,
            retry: r.u32()?,
            expire: r.u32()?,
            minimum: r.u32()?,
        },
        rtype::TLSA => {
            let (usage, selector, matching) = (r.u8()?, r.u8()?, r.u8()?);
            let data = rest(r)?;
            r.pos = end;
            Rdata::Tlsa {
                usage,
                selector,
                matching,
                data,
            }
        }
        rtype::TXT => {
            // RFC 1035 section 3.3.14: character-strings to the end. Strings that are not
            // UTF-8 stay Unknown, so that the record is never re-encoded differently.
            let data = rest(r)?;
            r.pos = end;
            let mut strings = Vec::new();
            let mut tail = data.as_slice();
            let mut text = true;
            while let Some((&len, more)) = tail.split_first() {
                let Some((s, more)) = more.split_at_checked(usize::from(len)) else {
                    return err("a TXT character-string runs past its record");
                };
                match std::str::from_utf8(s) {
                    Ok(s) => strings.push(s.to_owned()),
                    Err(_) => text = false,
                }
                tail = more;
            }
            if text && !strings.is_empty() {
                Rdata::Txt(strings)
            } else {
                Rdata::Unknown { rtype: t, data }
            }
        }
        rtype::DS => {
            let key_tag = r.u16()?;
            let (algorithm, digest_type) = (r.u8()?, r.u8()?);
            let digest = rest(r)?;
            r.pos = end;
            Rdata::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            }
        }
        rtype::DNSKEY => {
            let flags = r.u16()?;
            let (protocol, algorithm) = (r.u8()?, r.u8()?);
            let key = rest(r)?;
            r.pos = end;
            Rdata::Dnskey {
                flags,
                protocol,
                algorithm,
                key,
            }
        }
        rtype::RRSIG => {
            let type_covered = r.u16()?;
            let (algorithm, labels) = (r.u8()?, r.u8()?);
            let original_ttl = r.u32()?;
            let expiration = r.u32()?;
            let inception = r.u32()?;
            let key_tag = r.u16()?;
            let signer = r.name()?;
            let signature = rest(r)?;
            r.pos = end;
            Rdata::Rrsig {
                type_covered,
                algorithm,
                labels,
                original_ttl,
                expiration,
                inception,
                key_tag,
                signer,
                signature,
            }
        }
        rtype::NSEC => {
            let next = r.name()?;
            let types = bitmap(&rest(r)?)?;
            r.pos = end;
            Rdata::Nsec { next, types }
        }
        rtype::NSEC3 => {
            let (hash_algorithm, flags) = (r.u8()?, r.u8()?);
            let iterations = r.u16()?;
            let salt_len = usize::from(r.u8()?);
            let salt = r.take(salt_len)?.to_vec();
            let hash_len = usize::from(r.u8()?);
            let next_hashed = r.take(hash_len)?.to_vec();
            let types = bitmap(&rest(r)?)?;
            r.pos = end;
            Rdata::Nsec3 {
                hash_algorithm,
                flags,
                iterations,
                salt,
                next_hashed,
                types,
            }
        }
        _ => {
            let data = rest(r)?;
            r.pos = end;
            Rdata::Unknown { rtype: t, data }
        }
    };
    if r.pos != end {
        return err(format!("RDATA of type {t} has the wrong length"));
    }
    Ok(out)
}

/// Reads a response.
pub fn parse_response(buf: &[u8]) -> Result<Message, WireError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let f = r.u16()?;
    if f & 0x8000 == 0 {
        return err("not a response (QR clear)");
    }
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    let mut question = None;
    for i in 0..qd {
        let q = (r.name()?, r.u16()?);
        r.u16()?;
        if i == 0 && qd == 1 {
            question = Some(q);
        }
    }
    let mut ext_rcode = 0u16;
    let mut section = |n: u16, r: &mut Reader<'_>| -> Result<Vec<Record>, WireError> {
        let mut out = Vec::new();
        for _ in 0..n {
            let name = r.name()?;
            let t = r.u16()?;
            let class = r.u16()?;
            let ttl = r.u32()?;
            let len = usize::from(r.u16()?);
            if t == rtype::OPT {
                ext_rcode = u16::from(u8::try_from(ttl >> 24).unwrap_or(0)) << 4;
                r.take(len)?;
                continue;
            }
            let rd = rdata(r, t, len)?;
            if class == 1 {
                out.push(Record::new(name, ttl, rd));
            }
        }
        Ok(out)
    };
    let answer = section(an, &mut r)?;
    let authority = section(ns, &mut r)?;
    let additional = section(ar, &mut r)?;
    Ok(Message {
        id,
        flags: Flags {
            aa: f & 0x0400 != 0,
            tc: f & 0x0200 != 0,
            ra: f & 0x0080 != 0,
            ad: f & 0x0020 != 0,
            cd: f & 0x0010 != 0,
        },
        rcode: (f & 0x000f) | ext_rcode,
        question,
        answer,
        authority,
        additional,
    })
}

/// Response codes.
#[allow(missing_docs)]
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
}

/// A query as a server reads it.
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

/// Reads a query: exactly one question, optional OPT record.
pub fn parse_query(buf: &[u8]) -> Result<Query, WireError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 != 0 {
        return err("a response, not a query");
    }
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    if qd != 1 {
        return err("not exactly one question");
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

/// A response as a server writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Response code (0 to 15).
    pub rcode: u16,
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

/// Encodes `resp` for `q` (uncompressed). When it does not fit in `limit` octets, the sections
/// are dropped and TC is set (RFC 2181 section 9; the client retries over TCP).
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
    let mut flags: u16 = 0x8000 | (resp.rcode & 0x0f);
    for (set, bit) in [
        (resp.aa, 0x0400),
        (truncated, 0x0200),
        (q.rd, 0x0100),
        (recursive, 0x0080),
        (resp.ad, 0x0020),
        (q.cd, 0x0010),
    ] {
        if set {
            flags |= bit;
        }
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

/// A record with its RDATA as sent.
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

/// A response with raw RDATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// Message id.
    pub id: u16,
    /// Response code (header bits).
    pub rcode: u16,
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

/// Reads a response like [`parse_response`], leaving every RDATA as sent.
pub fn parse_response_raw(buf: &[u8]) -> Result<RawMessage, WireError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return err("not a response (QR clear)");
    }
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    for _ in 0..qd {
        r.name()?;
        r.u16()?;
        r.u16()?;
    }
    let mut section = |n: u16| -> Result<Vec<RawRecord>, WireError> {
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
    Ok(RawMessage {
        id,
        rcode: flags & 0x0f,
        aa: flags & 0x0400 != 0,
        tc: flags & 0x0200 != 0,
        ad: flags & 0x0020 != 0,
        answer,
        authority,
        additional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip_and_bad_input() {
        let name = Name::parse("_25._tcp.mx.example.test");
        let flags = QueryFlags {
            rd: true,
            cd: true,
            dnssec_ok: true,
        };
        let wire = build_query(7, &name, rtype::TLSA, flags);
        let q = parse_query(&wire).unwrap();
        assert_eq!((q.id, q.rd, q.cd, q.qtype), (7, true, true, rtype::TLSA));
        assert_eq!(q.qname, name);
        assert!(q.dnssec_ok);
        assert_eq!(q.edns_size, Some(1232));
        for bad in [&wire[..5], &wire[..wire.len() - 3]] {
            assert!(parse_query(bad).is_err());
        }
        // A compression loop (a pointer to itself) is refused, not followed forever.
        let mut looped = wire[..12].to_vec();
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(parse_query(&looped).is_err());
        // What a server encodes, a client reads.
        let resp = Response {
            rcode: rcode::NXDOMAIN,
            ad: true,
            ..Response::default()
        };
        let m = parse_response(&encode(&q, &resp, true, 512)).unwrap();
        assert_eq!((m.id, m.rcode, m.flags.ad), (7, rcode::NXDOMAIN, true));
        assert_eq!(m.question, Some((name, rtype::TLSA)));
    }

    #[test]
    fn refuses_forward_pointers_and_truncation() {
        // Header (response, one answer) + question "a." A IN + answer with a forward pointer.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 40, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        assert!(parse_response(&m).is_err());
        // A backward pointer to the question name is fine.
        let len = m.len();
        m[len - 16] = 0xc0;
        m[len - 15] = 12;
        let ok = parse_response(&m).unwrap();
        assert_eq!(ok.answer[0].name, Name::parse("a."));
        for cut in [3, 13, len - 2] {
            assert!(parse_response(&m[..cut]).is_err(), "cut at {cut}");
        }
    }
}
