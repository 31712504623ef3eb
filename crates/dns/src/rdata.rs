//! Resource records: the types a DANE world needs, their wire form (canonical, RFC 4034
//! section 6.2: names in RDATA are lower case already) and their presentation form.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXUPPER};

use crate::name::Name;

/// Record type codes.
#[allow(missing_docs)]
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const NSEC3PARAM: u16 = 51;
    pub const TLSA: u16 = 52;
    pub const ANY: u16 = 255;
}

/// The mnemonic of a type code (`TYPE123` for unknown ones, RFC 3597).
pub fn type_name(t: u16) -> String {
    let known = match t {
        rtype::A => "A",
        rtype::NS => "NS",
        rtype::CNAME => "CNAME",
        rtype::SOA => "SOA",
        rtype::MX => "MX",
        rtype::TXT => "TXT",
        rtype::AAAA => "AAAA",
        rtype::DNAME => "DNAME",
        rtype::OPT => "OPT",
        rtype::DS => "DS",
        rtype::RRSIG => "RRSIG",
        rtype::NSEC => "NSEC",
        rtype::DNSKEY => "DNSKEY",
        rtype::NSEC3 => "NSEC3",
        rtype::NSEC3PARAM => "NSEC3PARAM",
        rtype::TLSA => "TLSA",
        _ => return format!("TYPE{t}"),
    };
    known.to_owned()
}

/// The type code of a mnemonic.
pub fn type_code(name: &str) -> Option<u16> {
    let upper = name.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE") {
        return n.parse().ok();
    }
    (1..=255u16).find(|t| type_name(*t) == upper)
}

/// Record data.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ns(Name),
    Cname(Name),
    Dname(Name),
    Mx(u16, Name),
    Txt(Vec<String>),
    Soa {
        mname: Name,
        rname: Name,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Tlsa {
        usage: u8,
        selector: u8,
        matching: u8,
        data: Vec<u8>,
    },
    Ds {
        key_tag: u16,
        algorithm: u8,
        digest_type: u8,
        digest: Vec<u8>,
    },
    Dnskey {
        flags: u16,
        protocol: u8,
        algorithm: u8,
        key: Vec<u8>,
    },
    Rrsig {
        type_covered: u16,
        algorithm: u8,
        labels: u8,
        original_ttl: u32,
        expiration: u32,
        inception: u32,
        key_tag: u16,
        signer: Name,
        signature: Vec<u8>,
    },
    Nsec {
        next: Name,
        types: Vec<u16>,
    },
    Nsec3 {
        hash_algorithm: u8,
        flags: u8,
        iterations: u16,
        salt: Vec<u8>,
        next_hashed: Vec<u8>,
        types: Vec<u16>,
    },
    Nsec3Param {
        hash_algorithm: u8,
        flags: u8,
        iterations: u16,
        salt: Vec<u8>,
    },
    /// Any other type, kept as received (RFC 3597).
    Unknown {
        rtype: u16,
        data: Vec<u8>,
    },
}

impl Rdata {
    /// The TLSA record this RDATA is, if it is one.
    pub fn tlsa(&self) -> Option<mxdane_tlsa::Tlsa> {
        match self {
            Self::Tlsa {
                usage,
                selector,
                matching,
                data,
            } => Some(mxdane_tlsa::Tlsa::new(
                (*usage).into(),
                (*selector).into(),
                (*matching).into(),
                data.clone(),
            )),
            _ => None,
        }
    }

    /// The type code.
    pub fn rtype(&self) -> u16 {
        match self {
            Self::A(_) => rtype::A,
            Self::Aaaa(_) => rtype::AAAA,
            Self::Ns(_) => rtype::NS,
            Self::Cname(_) => rtype::CNAME,
            Self::Dname(_) => rtype::DNAME,
            Self::Mx(..) => rtype::MX,
            Self::Txt(_) => rtype::TXT,
            Self::Soa { .. } => rtype::SOA,
            Self::Tlsa { .. } => rtype::TLSA,
            Self::Ds { .. } => rtype::DS,
            Self::Dnskey { .. } => rtype::DNSKEY,
            Self::Rrsig { .. } => rtype::RRSIG,
            Self::Nsec { .. } => rtype::NSEC,
            Self::Nsec3 { .. } => rtype::NSEC3,
            Self::Nsec3Param { .. } => rtype::NSEC3PARAM,
            Self::Unknown { rtype, .. } => *rtype,
        }
    }

    /// The wire form (canonical: names uncompressed and lower case).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match self {
            Self::A(a) => o.extend_from_slice(&a.octets()),
            Self::Aaaa(a) => o.extend_from_slice(&a.octets()),
            Self::Ns(n) | Self::Cname(n) | Self::Dname(n) => n.write_wire(&mut o),
            Self::Mx(p, n) => {
                o.extend_from_slice(&p.to_be_bytes());
                n.write_wire(&mut o);
            }
            Self::Txt(strings) => {
                for s in strings {
                    let b = &s.as_bytes()[..s.len().min(255)];
                    o.push(u8::try_from(b.len()).unwrap_or(255));
                    o.extend_from_slice(b);
                }
            }
            Self::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                mname.write_wire(&mut o);
                rname.write_wire(&mut o);
                for v in [serial, refresh, retry, expire, minimum] {
                    o.extend_from_slice(&v.to_be_bytes());
                }
            }
            Self::Tlsa {
                usage,
                selector,
                matching,
                data,
            } => {
                o.extend_from_slice(&[*usage, *selector, *matching]);
                o.extend_from_slice(data);
            }
            Self::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            } => {
                o.extend_from_slice(&key_tag.to_be_bytes());
                o.extend_from_slice(&[*algorithm, *digest_type]);
                o.extend_from_slice(digest);
            }
            Self::Dnskey {
                flags,
                protocol,
                algorithm,
                key,
            } => {
                o.extend_from_slice(&flags.to_be_bytes());
                o.extend_from_slice(&[*protocol, *algorithm]);
                o.extend_from_slice(key);
            }
            Self::Rrsig { signature, .. } => {
                o = self.rrsig_header();
                o.extend_from_slice(signature);
            }
            Self::Nsec { next, types } => {
                next.write_wire(&mut o);
                o.extend_from_slice(&type_bitmap(types));
            }
            Self::Nsec3 {
                hash_algorithm,
                flags,
                iterations,
                salt,
                next_hashed,
                types,
            } => {
                o.extend_from_slice(&[*hash_algorithm, *flags]);
                o.extend_from_slice(&iterations.to_be_bytes());
                o.push(u8::try_from(salt.len()).unwrap_or(255));
                o.extend_from_slice(salt);
                o.push(u8::try_from(next_hashed.len()).unwrap_or(255));
                o.extend_from_slice(next_hashed);
                o.extend_from_slice(&type_bitmap(types));
            }
            Self::Nsec3Param {
                hash_algorithm,
                flags,
                iterations,
                salt,
            } => {
                o.extend_from_slice(&[*hash_algorithm, *flags]);
                o.extend_from_slice(&iterations.to_be_bytes());
                o.push(u8::try_from(salt.len()).unwrap_or(255));
                o.extend_from_slice(salt);
            }
            Self::Unknown { data, .. } => o.extend_from_slice(data),
        }
        o
    }

    /// For an RRSIG: the RDATA without the signature (the first part of the signed data,
    /// RFC 4034 section 3.1.8.1). Empty for other types.
    pub fn rrsig_header(&self) -> Vec<u8> {
        let Self::Rrsig {
            type_covered,
            algorithm,
            labels,
            original_ttl,
            expiration,
            inception,
            key_tag,
            signer,
            ..
        } = self
        else {
            return Vec::new();
        };
        let mut o = Vec::new();
        o.extend_from_slice(&type_covered.to_be_bytes());
        o.extend_from_slice(&[*algorithm, *labels]);
        o.extend_from_slice(&original_ttl.to_be_bytes());
        o.extend_from_slice(&expiration.to_be_bytes());
        o.extend_from_slice(&inception.to_be_bytes());
        o.extend_from_slice(&key_tag.to_be_bytes());
        signer.write_wire(&mut o);
        o
    }
}

/// The NSEC/NSEC3 type bitmap (RFC 4034 section 4.1.2).
pub fn type_bitmap(types: &[u16]) -> Vec<u8> {
    let mut sorted = types.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let window = sorted[i] >> 8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < sorted.len() && sorted[i] >> 8 == window {
            let low = usize::from(sorted[i] & 0xff);
            bits[low / 8] |= 0x80 >> (low % 8);
            len = low / 8 + 1;
            i += 1;
        }
        out.push(u8::try_from(window).unwrap_or(255));
        out.push(u8::try_from(len).unwrap_or(32));
        out.extend_from_slice(&bits[..len]);
    }
    out
}

/// Formats an RRSIG time as `YYYYMMDDHHmmSS` (RFC 4034 section 3.2).
pub fn rrsig_time(t: u32) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp(i64::from(t))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn salt_text(salt: &[u8]) -> String {
    if salt.is_empty() {
        "-".into()
    } else {
        HEXUPPER.encode(salt)
    }
}

fn types_text(types: &[u16]) -> String {
    let mut sorted = types.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
        .iter()
        .map(|t| type_name(*t))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Rdata {
    /// Presentation form as in a zone file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::A(a) => write!(f, "{a}"),
            Self::Aaaa(a) => write!(f, "{a}"),
            Self::Ns(n) | Self::Cname(n) | Self::Dname(n) => write!(f, "{n}"),
            Self::Mx(p, n) => write!(f, "{p} {n}"),
            Self::Txt(s) => {
                let quoted: Vec<String> = s
                    .iter()
                    .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                f.write_str(&quoted.join(" "))
            }
            Self::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => write!(
                f,
                "{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
            ),
            Self::Tlsa {
                usage,
                selector,
                matching,
                data,
            } => write!(
                f,
                "{usage} {selector} {matching} {}",
                if data.is_empty() {
                    "-".into()
                } else {
                    HEXUPPER.encode(data)
                }
            ),
            Self::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            } => write!(
                f,
                "{key_tag} {algorithm} {digest_type} {}",
                HEXUPPER.encode(digest)
            ),
            Self::Dnskey {
                flags,
                protocol,
                algorithm,
                key,
            } => write!(f, "{flags} {protocol} {algorithm} {}", BASE64.encode(key)),
            Self::Rrsig {
                type_covered,
                algorithm,
                labels,
                original_ttl,
                expiration,
                inception,
                key_tag,
                signer,
                signature,
            } => write!(
                f,
                "{} {algorithm} {labels} {original_ttl} {} {} {key_tag} {signer} {}",
                type_name(*type_covered),
                rrsig_time(*expiration),
                rrsig_time(*inception),
                BASE64.encode(signature)
            ),
            Self::Nsec { next, types } => write!(f, "{next} {}", types_text(types)),
            Self::Nsec3 {
                hash_algorithm,
                flags,
                iterations,
                salt,
                next_hashed,
                types,
            } => write!(
                f,
                "{hash_algorithm} {flags} {iterations} {} {} {}",
                salt_text(salt),
                BASE32HEX_NOPAD.encode(next_hashed).to_ascii_lowercase(),
                types_text(types)
            ),
            Self::Nsec3Param {
                hash_algorithm,
                flags,
                iterations,
                salt,
            } => write!(
                f,
                "{hash_algorithm} {flags} {iterations} {}",
                salt_text(salt)
            ),
            Self::Unknown { data, .. } => write!(f, "\\# {} {}", data.len(), HEXUPPER.encode(data)),
        }
    }
}

/// A resource record (class IN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Owner name.
    pub name: Name,
    /// Time to live.
    pub ttl: u32,
    /// Data.
    pub rdata: Rdata,
}

impl Record {
    /// A record.
    pub fn new(name: Name, ttl: u32, rdata: Rdata) -> Self {
        Self { name, ttl, rdata }
    }

    /// Its type.
    pub fn rtype(&self) -> u16 {
        self.rdata.rtype()
    }

    /// Appends the wire form (uncompressed owner).
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        self.name.write_wire(out);
        out.extend_from_slice(&self.rtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        let rdata = self.rdata.to_wire();
        out.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} IN {} {}",
            self.name,
            self.ttl,
            type_name(self.rtype()),
            self.rdata
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bitmap_matches_rfc4034_example() {
        // RFC 4034 section 4.3: A MX RRSIG NSEC TYPE1234.
        let bitmap = type_bitmap(&[1, 15, 46, 47, 1234]);
        assert_eq!(
            HEXUPPER.encode(&bitmap),
            "0006400100000003041B000000000000000000000000000000000000000000000000000020"
        );
    }

    #[test]
    fn presentation_of_signed_data() {
        let r = Record::new(
            Name::parse("_25._tcp.mx.example.test"),
            300,
            Rdata::Tlsa {
                usage: 3,
                selector: 1,
                matching: 1,
                data: vec![0xab; 4],
            },
        );
        assert_eq!(
            r.to_string(),
            "_25._tcp.mx.example.test. 300 IN TLSA 3 1 1 ABABABAB"
        );
        assert_eq!(rrsig_time(1_438_207_200), "20150729220000");
        assert_eq!(type_code("nsec3param"), Some(rtype::NSEC3PARAM));
        assert_eq!(type_code("TYPE65534"), Some(65534));
    }
}
