//! Dynamic updates (RFC 2136) signed with TSIG (RFC 8945), client and server side, in the
//! workspace's one DNS codec: the rollover engine adds and deletes single TLSA records with
//! prerequisites (so a concurrent edit makes the update fail instead of being overwritten),
//! and the lab's primary applies them.
//!
//! Written here rather than taken from hickory-proto for the reason the codec is: one wire
//! format, one name type and one record type in the workspace. TSIG is small (one HMAC over
//! the message and a fixed list of fields), and the MAC comes from aws-lc-rs.

use aws_lc_rs::{constant_time, hmac};
use data_encoding::BASE64;

use crate::message::{Reader, WireError};
use crate::name::Name;
use crate::rdata::rtype;

/// The UPDATE opcode (RFC 2136 section 1).
pub const OPCODE_UPDATE: u16 = 5;

/// TSIG's RR type (RFC 8945 section 4.2).
pub const TSIG: u16 = 250;

const CLASS_IN: u16 = 1;
const CLASS_NONE: u16 = 254;
const CLASS_ANY: u16 = 255;

/// Response codes an UPDATE can get (RFC 2136 section 2.2, RFC 8945 section 5.3).
#[allow(missing_docs)]
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const YXRRSET: u16 = 7;
    pub const NXRRSET: u16 = 8;
    pub const NOTAUTH: u16 = 9;
    pub const NOTZONE: u16 = 10;
    /// TSIG error field values (RFC 8945 section 5.3).
    pub const BADSIG: u16 = 16;
    pub const BADKEY: u16 = 17;
    pub const BADTIME: u16 = 18;

    /// The mnemonic of an UPDATE or TSIG response code.
    pub fn name(code: u16) -> String {
        match code {
            NOERROR => "NOERROR".into(),
            FORMERR => "FORMERR".into(),
            SERVFAIL => "SERVFAIL".into(),
            NXDOMAIN => "NXDOMAIN".into(),
            NOTIMP => "NOTIMP".into(),
            REFUSED => "REFUSED".into(),
            YXDOMAIN => "YXDOMAIN".into(),
            YXRRSET => "YXRRSET (an RRset exists that the update required to be absent)".into(),
            NXRRSET => {
                "NXRRSET (the RRset is not as the update required: edited concurrently?)".into()
            }
            NOTAUTH => {
                "NOTAUTH (the server is not authoritative or the TSIG key is not accepted)".into()
            }
            NOTZONE => "NOTZONE".into(),
            BADSIG => "BADSIG".into(),
            BADKEY => "BADKEY".into(),
            BADTIME => "BADTIME (the clocks differ by more than the fudge)".into(),
            n => format!("response code {n}"),
        }
    }
}

/// A TSIG algorithm (RFC 8945 section 6: HMAC-SHA256 is mandatory to implement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsigAlgorithm {
    /// `hmac-sha256.`
    HmacSha256,
    /// `hmac-sha512.`
    HmacSha512,
}

impl TsigAlgorithm {
    fn from_name(text: &str) -> Option<Self> {
        match text.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Self::HmacSha256),
            "hmac-sha512" => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// The algorithm's domain name.
    pub fn name(self) -> Name {
        Name::parse(match self {
            Self::HmacSha256 => "hmac-sha256.",
            Self::HmacSha512 => "hmac-sha512.",
        })
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A TSIG key: its name, algorithm and shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key's name (it is the TSIG record's owner).
    pub name: Name,
    /// The algorithm.
    pub algorithm: TsigAlgorithm,
    /// The secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TsigKey({} {:?}, secret hidden)",
            self.name, self.algorithm
        )
    }
}

impl TsigKey {
    /// Reads a key file as BIND (`tsig-keygen`, `key "name" { algorithm hmac-sha256; secret
    /// "base64"; };`) or Knot (`keymgr -t`, `key:\n  - id: name\n    algorithm: hmac-sha256\n
    /// secret: base64`) writes it. The error names what is missing or wrong.
    pub fn parse_file(text: &str) -> Result<Self, String> {
        let (name, algorithm, secret) = if text.contains('{') {
            parse_bind(text)?
        } else {
            parse_knot(text)?
        };
        let name = Name::try_parse(&name).map_err(|e| format!("key name: {e}"))?;
        let algorithm = TsigAlgorithm::from_name(&algorithm).ok_or_else(|| {
            format!("algorithm \"{algorithm}\": only hmac-sha256 and hmac-sha512 are supported")
        })?;
        let secret = BASE64
            .decode(secret.as_bytes())
            .map_err(|e| format!("secret: not base64 ({e})"))?;
        if secret.len() < 16 {
            return Err(format!(
                "secret: {} octets; a TSIG secret should have at least 16 (RFC 8945 section 6)",
                secret.len()
            ));
        }
        Ok(Self {
            name,
            algorithm,
            secret,
        })
    }
}

fn parse_bind(text: &str) -> Result<(String, String, String), String> {
    let after = text
        .split_once("key")
        .ok_or("no `key \"name\" { ... };` statement")?
        .1;
    let (head, body) = after.split_once('{').ok_or("no `{` after the key name")?;
    let name = head.trim().trim_matches('"').to_owned();
    let field = |key: &str| -> Result<String, String> {
        body.split(';')
            .map(str::trim)
            .find_map(|s| s.strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .ok_or_else(|| format!("no `{key}` in the key statement"))
    };
    Ok((name, field("algorithm")?, field("secret")?))
}

fn parse_knot(text: &str) -> Result<(String, String, String), String> {
    let field = |key: &str| -> Result<String, String> {
        text.lines()
            .map(|l| l.trim().trim_start_matches("- ").trim())
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .ok_or_else(|| {
                format!("no `{key}:` (expected a BIND `key` statement or a Knot `key:` section)")
            })
    };
    Ok((field("id")?, field("algorithm")?, field("secret")?))
}

/// A prerequisite (RFC 2136 section 2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prerequisite {
    /// Section 2.4.2: the RRset exists and holds exactly these records (value dependent).
    Exactly {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: u16,
        /// Every record's RDATA in wire form.
        rdatas: Vec<Vec<u8>>,
    },
    /// Section 2.4.3: no RRset of this type at the owner.
    Absent {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: u16,
    },
}

/// A change (RFC 2136 section 2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Section 2.5.1: add a record to an RRset.
    Add {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: u16,
        /// The TTL.
        ttl: u32,
        /// RDATA in wire form.
        rdata: Vec<u8>,
    },
    /// Section 2.5.4: delete one record from an RRset.
    Delete {
        /// The owner.
        owner: Name,
        /// The type.
        rtype: u16,
        /// RDATA in wire form.
        rdata: Vec<u8>,
    },
}

/// An UPDATE message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// Message id.
    pub id: u16,
    /// The zone (the zone section's SOA question).
    pub zone: Name,
    /// Prerequisites, all of which must hold.
    pub prerequisites: Vec<Prerequisite>,
    /// Changes, applied together or not at all.
    pub changes: Vec<Change>,
}

fn rr(out: &mut Vec<u8>, owner: &Name, rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    owner.write_wire(out);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(rdata);
}

impl Update {
    /// The message, unsigned.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(256);
        o.extend_from_slice(&self.id.to_be_bytes());
        o.extend_from_slice(&(OPCODE_UPDATE << 11).to_be_bytes());
        let prereqs: usize = self
            .prerequisites
            .iter()
            .map(|p| match p {
                Prerequisite::Exactly { rdatas, .. } => rdatas.len(),
                Prerequisite::Absent { .. } => 1,
            })
            .sum();
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        for c in [1, count(prereqs), count(self.changes.len()), 0] {
            o.extend_from_slice(&c.to_be_bytes());
        }
        self.zone.write_wire(&mut o);
        o.extend_from_slice(&rtype::SOA.to_be_bytes());
        o.extend_from_slice(&CLASS_IN.to_be_bytes());
        for p in &self.prerequisites {
            match p {
                Prerequisite::Exactly {
                    owner,
                    rtype,
                    rdatas,
                } => {
                    for rd in rdatas {
                        rr(&mut o, owner, *rtype, CLASS_IN, 0, rd);
                    }
                }
                Prerequisite::Absent { owner, rtype } => {
                    rr(&mut o, owner, *rtype, CLASS_NONE, 0, &[]);
                }
            }
        }
        for c in &self.changes {
            match c {
                Change::Add {
                    owner,
                    rtype,
                    ttl,
                    rdata,
                } => rr(&mut o, owner, *rtype, CLASS_IN, *ttl, rdata),
                Change::Delete {
                    owner,
                    rtype,
                    rdata,
                } => rr(&mut o, owner, *rtype, CLASS_NONE, 0, rdata),
            }
        }
        o
    }

    /// Reads an UPDATE (the server side). Only the forms [`Update::encode`] writes are
    /// accepted; anything else is FORMERR for the caller. A trailing TSIG record is skipped
    /// (verify it with [`verify`] first).
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader { buf, pos: 0 };
        let id = r.u16()?;
        let flags = r.u16()?;
        if (flags >> 11) & 0x0f != OPCODE_UPDATE || flags & 0x8000 != 0 {
            return Err(WireError("not an UPDATE request".into()));
        }
        let (zo, pr, up, _ad) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
        if zo != 1 {
            return Err(WireError(
                "the zone section must hold exactly one zone".into(),
            ));
        }
        let zone = r.name()?;
        if r.u16()? != rtype::SOA || r.u16()? != CLASS_IN {
            return Err(WireError("the zone section must ask for SOA IN".into()));
        }
        let mut prerequisites: Vec<Prerequisite> = Vec::new();
        for _ in 0..pr {
            let (owner, t, class, ttl, rdata) = read_rr(&mut r)?;
            if ttl != 0 {
                return Err(WireError("a prerequisite with a TTL".into()));
            }
            match (class, rdata.is_empty()) {
                (CLASS_IN, false) => match prerequisites.last_mut() {
                    Some(Prerequisite::Exactly {
                        owner: o,
                        rtype: rt,
                        rdatas,
                    }) if *o == owner && *rt == t => rdatas.push(rdata),
                    _ => prerequisites.push(Prerequisite::Exactly {
                        owner,
                        rtype: t,
                        rdatas: vec![rdata],
                    }),
                },
                (CLASS_NONE, true) => prerequisites.push(Prerequisite::Absent { owner, rtype: t }),
                _ => {
                    return Err(WireError(format!(
                        "a prerequisite of class {class} is not supported here"
                    )));
                }
            }
        }
        let mut changes = Vec::new();
        for _ in 0..up {
            let (owner, t, class, ttl, rdata) = read_rr(&mut r)?;
            match class {
                CLASS_IN => changes.push(Change::Add {
                    owner,
                    rtype: t,
                    ttl,
                    rdata,
                }),
                CLASS_NONE => changes.push(Change::Delete {
                    owner,
                    rtype: t,
                    rdata,
                }),
                _ => {
                    return Err(WireError(format!(
                        "an update of class {class} is not supported here"
                    )));
                }
            }
        }
        Ok(Self {
            id,
            zone,
            prerequisites,
            changes,
        })
    }
}

fn read_rr(r: &mut Reader<'_>) -> Result<(Name, u16, u16, u32, Vec<u8>), WireError> {
    let owner = r.name()?;
    let t = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let len = r.u16()?;
    let rdata = r.take(usize::from(len))?.to_vec();
    Ok((owner, t, class, ttl, rdata))
}

/// The answer to an UPDATE: the header and the zone section (RFC 2136 section 3.8).
pub fn response(id: u16, zone: &Name, code: u16) -> Vec<u8> {
    let mut o = Vec::with_capacity(64);
    o.extend_from_slice(&id.to_be_bytes());
    o.extend_from_slice(&(0x8000 | (OPCODE_UPDATE << 11) | (code & 0x0f)).to_be_bytes());
    for c in [1u16, 0, 0, 0] {
        o.extend_from_slice(&c.to_be_bytes());
    }
    zone.write_wire(&mut o);
    o.extend_from_slice(&rtype::SOA.to_be_bytes());
    o.extend_from_slice(&CLASS_IN.to_be_bytes());
    o
}

/// A TSIG record as read from a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigRecord {
    /// The key name.
    pub key: Name,
    /// The algorithm's name.
    pub algorithm: Name,
    /// When it was signed (seconds since the epoch, 48 bits).
    pub time_signed: u64,
    /// The allowed clock difference.
    pub fudge: u16,
    /// The MAC.
    pub mac: Vec<u8>,
    /// The message id before any forwarder changed it.
    pub original_id: u16,
    /// The TSIG error.
    pub error: u16,
    /// Other data (the server's time with BADTIME).
    pub other: Vec<u8>,
}

/// The allowed clock difference mxdane signs with (RFC 8945 section 10 recommends 300 s).
pub const FUDGE: u16 = 300;

/// The data the MAC covers (RFC 8945 section 4.3.3): the prior MAC for a response, the
/// message without its TSIG record (ARCOUNT one less, the original id), then the TSIG
/// variables.
fn digest_input(
    unsigned: &[u8],
    original_id: u16,
    t: &TsigRecord,
    prior_mac: Option<&[u8]>,
) -> Vec<u8> {
    let mut d = Vec::with_capacity(unsigned.len() + 128);
    if let Some(p) = prior_mac {
        d.extend_from_slice(&u16::try_from(p.len()).unwrap_or(u16::MAX).to_be_bytes());
        d.extend_from_slice(p);
    }
    d.extend_from_slice(&original_id.to_be_bytes());
    d.extend_from_slice(unsigned.get(2..).unwrap_or_default());
    t.key.write_wire(&mut d);
    d.extend_from_slice(&CLASS_ANY.to_be_bytes());
    d.extend_from_slice(&0u32.to_be_bytes());
    t.algorithm.write_wire(&mut d);
    d.extend_from_slice(&t.time_signed.to_be_bytes()[2..]);
    d.extend_from_slice(&t.fudge.to_be_bytes());
    d.extend_from_slice(&t.error.to_be_bytes());
    d.extend_from_slice(&u16::try_from(t.other.len()).unwrap_or(0).to_be_bytes());
    d.extend_from_slice(&t.other);
    d
}

/// Signs a message: appends the TSIG record (ARCOUNT + 1) and returns the signed message and
/// its MAC (which the response's MAC covers). `prior_mac` is the request's MAC when signing a
/// response; `error` and `other` are for responses that report a TSIG error.
pub fn sign(
    msg: &[u8],
    key: &TsigKey,
    time_signed: u64,
    prior_mac: Option<&[u8]>,
    error: u16,
) -> (Vec<u8>, Vec<u8>) {
    let original_id = u16::from_be_bytes([
        msg.first().copied().unwrap_or(0),
        msg.get(1).copied().unwrap_or(0),
    ]);
    let mut t = TsigRecord {
        key: key.name.clone(),
        algorithm: key.algorithm.name(),
        time_signed: time_signed & 0xffff_ffff_ffff,
        fudge: FUDGE,
        mac: Vec::new(),
        original_id,
        error,
        other: Vec::new(),
    };
    let k = hmac::Key::new(key.algorithm.hmac(), &key.secret);
    t.mac = hmac::sign(&k, &digest_input(msg, original_id, &t, prior_mac))
        .as_ref()
        .to_vec();
    let mut out = msg.to_vec();
    if out.len() >= 12 {
        let ar = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
        out[10..12].copy_from_slice(&ar.to_be_bytes());
    }
    let mut rdata = Vec::with_capacity(64);
    t.algorithm.write_wire(&mut rdata);
    rdata.extend_from_slice(&t.time_signed.to_be_bytes()[2..]);
    rdata.extend_from_slice(&t.fudge.to_be_bytes());
    rdata.extend_from_slice(&u16::try_from(t.mac.len()).unwrap_or(0).to_be_bytes());
    rdata.extend_from_slice(&t.mac);
    rdata.extend_from_slice(&t.original_id.to_be_bytes());
    rdata.extend_from_slice(&t.error.to_be_bytes());
    rdata.extend_from_slice(&0u16.to_be_bytes());
    rr(&mut out, &t.key, TSIG, CLASS_ANY, 0, &rdata);
    (out, t.mac)
}

/// Why a signed message was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TsigFailure {
    /// The message has no TSIG record (or it is not the last record).
    Unsigned,
    /// The message cannot be read.
    Malformed(String),
    /// No key of that name and algorithm (BADKEY).
    BadKey(Name),
    /// The MAC does not verify (BADSIG).
    BadSig,
    /// The time is outside the fudge (BADTIME).
    BadTime {
        /// When it says it was signed.
        signed: u64,
        /// Our time.
        now: u64,
    },
    /// The peer reported a TSIG error.
    Error(u16),
}

impl std::fmt::Display for TsigFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsigned => f.write_str("the message is not signed with TSIG"),
            Self::Malformed(e) => write!(f, "malformed TSIG message: {e}"),
            Self::BadKey(k) => write!(f, "BADKEY: no key named {k} with that algorithm"),
            Self::BadSig => f.write_str("BADSIG: the TSIG MAC does not verify"),
            Self::BadTime { signed, now } => write!(
                f,
                "BADTIME: signed at {signed}, now {now}: the clocks differ by more than {FUDGE} s"
            ),
            Self::Error(e) => write!(f, "the peer reports TSIG error {}", rcode::name(*e)),
        }
    }
}

/// Finds the TSIG record (it must be the last record of the message) and returns it with the
/// offset where it starts.
pub fn find_tsig(buf: &[u8]) -> Result<Option<(TsigRecord, usize)>, WireError> {
    let mut r = Reader { buf, pos: 0 };
    r.take(4)?;
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    for _ in 0..counts[0] {
        r.name()?;
        r.take(4)?;
    }
    let records = u32::from(counts[1]) + u32::from(counts[2]) + u32::from(counts[3]);
    let mut last = None;
    for i in 0..records {
        let start = r.pos;
        let owner = r.name()?;
        let t = r.u16()?;
        r.take(6)?;
        let len = usize::from(r.u16()?);
        let rdata_start = r.pos;
        r.take(len)?;
        if t == TSIG {
            if i + 1 != records || counts[3] == 0 {
                return Err(WireError(
                    "a TSIG record that is not the last record".into(),
                ));
            }
            let mut d = Reader {
                buf: buf.get(rdata_start..rdata_start + len).unwrap_or_default(),
                pos: 0,
            };
            let algorithm = d.name()?;
            let hi = d.u16()?;
            let lo = d.u32()?;
            let fudge = d.u16()?;
            let mac_len = usize::from(d.u16()?);
            let mac = d.take(mac_len)?.to_vec();
            let original_id = d.u16()?;
            let error = d.u16()?;
            let other_len = usize::from(d.u16()?);
            let other = d.take(other_len)?.to_vec();
            last = Some((
                TsigRecord {
                    key: owner,
                    algorithm,
                    time_signed: (u64::from(hi) << 32) | u64::from(lo),
                    fudge,
                    mac,
                    original_id,
                    error,
                    other,
                },
                start,
            ));
        }
    }
    if r.pos != buf.len() {
        return Err(WireError("octets after the last record".into()));
    }
    Ok(last)
}

/// Verifies a signed message with one of `keys` at time `now`; `prior_mac` is the request's
/// MAC when verifying a response. Returns the TSIG record (its MAC signs the response) and
/// the key used.
pub fn verify<'k>(
    buf: &[u8],
    keys: &'k [TsigKey],
    now: u64,
    prior_mac: Option<&[u8]>,
) -> Result<(TsigRecord, &'k TsigKey), TsigFailure> {
    let (t, start) = find_tsig(buf)
        .map_err(|e| TsigFailure::Malformed(e.0))?
        .ok_or(TsigFailure::Unsigned)?;
    let key = keys
        .iter()
        .find(|k| k.name == t.key && k.algorithm.name() == t.algorithm)
        .ok_or_else(|| TsigFailure::BadKey(t.key.clone()))?;
    if t.error != 0 {
        return Err(TsigFailure::Error(t.error));
    }
    let mut unsigned = buf.get(..start).unwrap_or_default().to_vec();
    if unsigned.len() >= 12 {
        let ar = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
        unsigned[10..12].copy_from_slice(&ar.to_be_bytes());
    }
    let k = hmac::Key::new(key.algorithm.hmac(), &key.secret);
    let expected = hmac::sign(&k, &digest_input(&unsigned, t.original_id, &t, prior_mac));
    // RFC 8945 section 5.2.2: a truncated MAC shorter than half the output (or 10 octets) is
    // refused; mxdane accepts only full-length MACs.
    if t.mac.len() != expected.as_ref().len()
        || constant_time::verify_slices_are_equal(expected.as_ref(), &t.mac).is_err()
    {
        return Err(TsigFailure::BadSig);
    }
    if now.abs_diff(t.time_signed) > u64::from(t.fudge) {
        return Err(TsigFailure::BadTime {
            signed: t.time_signed,
            now,
        });
    }
    Ok((t, key))
}

/// Reads an UPDATE response's id and response code.
pub fn response_code(buf: &[u8]) -> Result<(u16, u16), WireError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 || (flags >> 11) & 0x0f != OPCODE_UPDATE {
        return Err(WireError("not an UPDATE response".into()));
    }
    Ok((id, flags & 0x0f))
}

/// Why an update did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// No exchange (connect, timeout, a malformed reply).
    Network(String),
    /// The server answered with an error (REFUSED, NOTAUTH, NXRRSET, ...).
    Rcode(u16),
    /// The answer's signature does not verify (it may be forged): the update's outcome is
    /// unknown, and the engine re-checks the world.
    Tsig(TsigFailure),
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(e) => write!(f, "no answer: {e}"),
            Self::Rcode(c) => write!(f, "the server refused the update: {}", rcode::name(*c)),
            Self::Tsig(e) => write!(f, "the answer is not signed by the key: {e}"),
        }
    }
}

impl std::error::Error for UpdateError {}

/// Sends an update over TCP (one deadline for the whole exchange), signed with `key` when one
/// is given, and checks that the answer is the server's (same id, signed over our MAC).
pub fn send(
    transport: &crate::transport::NetTransport,
    update: &Update,
    key: Option<&TsigKey>,
    now: u64,
) -> Result<(), UpdateError> {
    let plain = update.encode();
    let (msg, mac) = match key {
        Some(k) => {
            let (m, mac) = sign(&plain, k, now, None, 0);
            (m, Some(mac))
        }
        None => (plain, None),
    };
    let answer = transport
        .exchange_tcp(&msg)
        .map_err(|e| UpdateError::Network(e.to_string()))?;
    let (id, code) = response_code(&answer).map_err(|e| UpdateError::Network(e.to_string()))?;
    if id != update.id {
        return Err(UpdateError::Network(format!(
            "the answer has id {id}, the update {}",
            update.id
        )));
    }
    if let (Some(k), Some(mac)) = (key, &mac) {
        match verify(&answer, std::slice::from_ref(k), now, Some(mac)) {
            Ok(_) => {}
            // A server that rejects our signature answers unsigned, with NOTAUTH.
            Err(TsigFailure::Unsigned | TsigFailure::Error(_)) if code != rcode::NOERROR => {
                return Err(UpdateError::Rcode(code));
            }
            Err(e) => return Err(UpdateError::Tsig(e)),
        }
    }
    if code != rcode::NOERROR {
        return Err(UpdateError::Rcode(code));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
