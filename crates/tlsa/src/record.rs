//! The TLSA record: its three parameter fields and association data (RFC 6698 section 2.1),
//! the presentation form (RFC 6698 section 2.2, RFC 7218 mnemonics on input) and the wire form.
//!
//! Parsing here is syntactic. A record whose fields are unassigned, or whose data length does
//! not fit its matching type, still parses: RFC 7672 section 2.2 counts such records as present
//! ("TLS is mandatory") even though none of them can be used. [`Tlsa::usability`] says whether a
//! record is usable for SMTP, and why not.

use std::fmt;
use std::str::FromStr;

/// The certificate usage field (RFC 6698 section 2.1.1, names from RFC 7218).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Usage {
    /// 0: CA constraint, validated with the client's own PKIX trust store.
    PkixTa,
    /// 1: service certificate constraint, validated with PKIX as well.
    PkixEe,
    /// 2: trust anchor assertion.
    DaneTa,
    /// 3: domain-issued certificate.
    DaneEe,
    /// 255: reserved for private use.
    PrivCert,
    /// Any other value (unassigned).
    Other(u8),
}

/// The selector field (RFC 6698 section 2.1.2).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Selector {
    /// 0: the full certificate.
    Cert,
    /// 1: the DER-encoded SubjectPublicKeyInfo.
    Spki,
    /// 255: reserved for private use.
    PrivSel,
    /// Any other value (unassigned).
    Other(u8),
}

/// The matching type field (RFC 6698 section 2.1.3).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchingType {
    /// 0: exact match on the selected content.
    Full,
    /// 1: SHA-256 digest of the selected content.
    Sha256,
    /// 2: SHA-512 digest of the selected content.
    Sha512,
    /// 255: reserved for private use.
    PrivMatch,
    /// Any other value (unassigned).
    Other(u8),
}

macro_rules! field {
    ($ty:ident, $what:literal, [$(($variant:ident, $num:literal, $name:literal)),*], $private:ident) => {
        impl $ty {
            /// The numeric value of the field.
            pub fn value(self) -> u8 {
                match self {
                    $(Self::$variant => $num,)*
                    Self::$private => 255,
                    Self::Other(n) => n,
                }
            }

            /// The RFC 7218 mnemonic, when the value has one.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some($name),)*
                    Self::$private => Some(stringify!($private)),
                    Self::Other(_) => None,
                }
            }

            fn parse_token(token: &str) -> Result<Self, ParseErrorKind> {
                if token.bytes().all(|b| b.is_ascii_digit()) {
                    return token
                        .parse::<u8>()
                        .map(Self::from)
                        .map_err(|_| ParseErrorKind::FieldOutOfRange { field: $what, token: token.to_owned() });
                }
                $(if token.eq_ignore_ascii_case($name) { return Ok(Self::$variant); })*
                if token.eq_ignore_ascii_case(stringify!($private)) {
                    return Ok(Self::$private);
                }
                Err(ParseErrorKind::UnknownMnemonic {
                    field: $what,
                    token: token.to_owned(),
                    expected: concat!("0-255", $(", ", $name,)* ", ", stringify!($private)),
                })
            }
        }

        impl From<u8> for $ty {
            fn from(n: u8) -> Self {
                match n {
                    $($num => Self::$variant,)*
                    255 => Self::$private,
                    other => Self::Other(other),
                }
            }
        }
    };
}

field!(
    Usage,
    "certificate usage",
    [
        (PkixTa, 0, "PKIX-TA"),
        (PkixEe, 1, "PKIX-EE"),
        (DaneTa, 2, "DANE-TA"),
        (DaneEe, 3, "DANE-EE")
    ],
    PrivCert
);
field!(
    Selector,
    "selector",
    [(Cert, 0, "Cert"), (Spki, 1, "SPKI")],
    PrivSel
);
field!(
    MatchingType,
    "matching type",
    [
        (Full, 0, "Full"),
        (Sha256, 1, "SHA2-256"),
        (Sha512, 2, "SHA2-512")
    ],
    PrivMatch
);

impl MatchingType {
    /// The length in octets of the association data for digest matching types.
    pub fn digest_len(self) -> Option<usize> {
        match self {
            Self::Sha256 => Some(32),
            Self::Sha512 => Some(64),
            _ => None,
        }
    }
}

/// One TLSA record's RDATA.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlsa {
    usage: Usage,
    selector: Selector,
    matching_type: MatchingType,
    data: Vec<u8>,
}

/// Whether a record can be used by an SMTP client (RFC 7672 section 3.1), and if not, why.
#[must_use]
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Usability {
    /// DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching type 0, 1 or 2, data of the right length.
    Usable,
    /// The record is present (so TLS is still mandatory, RFC 7672 section 2.2) but cannot match.
    Unusable(Unusable),
}

/// Why a record is unusable for SMTP.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// PKIX-TA(0) or PKIX-EE(1): RFC 7672 section 3.1.3 says SMTP clients treat them as unusable,
    /// because MTAs share no set of public CAs.
    PkixUsage(Usage),
    /// A usage that is unassigned or for private use.
    UnknownUsage(Usage),
    /// A selector that is unassigned or for private use.
    UnknownSelector(Selector),
    /// A matching type that is unassigned or for private use.
    UnknownMatchingType(MatchingType),
    /// The data length does not fit the matching type (RFC 7671 section 9 drops such records).
    DigestLength {
        /// The matching type.
        matching_type: MatchingType,
        /// The octets the matching type needs.
        expected: usize,
        /// The octets present.
        actual: usize,
    },
    /// Full(0) with no data at all.
    EmptyData,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PkixUsage(u) => write!(
                f,
                "usage {} ({}) is not usable for SMTP (RFC 7672 section 3.1.3); use DANE-TA(2) or DANE-EE(3)",
                u.value(),
                u.mnemonic().unwrap_or("?")
            ),
            Self::UnknownUsage(u) => write!(
                f,
                "certificate usage {} is not assigned for DANE",
                u.value()
            ),
            Self::UnknownSelector(s) => {
                write!(f, "selector {} is not assigned (use 0 or 1)", s.value())
            }
            Self::UnknownMatchingType(m) => {
                write!(
                    f,
                    "matching type {} is not assigned (use 0, 1 or 2)",
                    m.value()
                )
            }
            Self::DigestLength {
                matching_type,
                expected,
                actual,
            } => write!(
                f,
                "matching type {} ({}) needs {expected} octets of data ({} hex digits), found {actual}",
                matching_type.value(),
                matching_type.mnemonic().unwrap_or("?"),
                expected * 2
            ),
            Self::EmptyData => f.write_str("the association data is empty"),
        }
    }
}

impl Tlsa {
    /// A record from its four fields.
    pub fn new(
        usage: Usage,
        selector: Selector,
        matching_type: MatchingType,
        data: Vec<u8>,
    ) -> Self {
        Self {
            usage,
            selector,
            matching_type,
            data,
        }
    }

    /// The certificate usage.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The selector.
    pub fn selector(&self) -> Selector {
        self.selector
    }

    /// The matching type.
    pub fn matching_type(&self) -> MatchingType {
        self.matching_type
    }

    /// The certificate association data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The `(usage, selector, matching type)` numbers, e.g. `(3, 1, 1)`.
    pub fn params(&self) -> (u8, u8, u8) {
        (
            self.usage.value(),
            self.selector.value(),
            self.matching_type.value(),
        )
    }

    /// Whether an SMTP client can use this record (RFC 7672 section 3.1, RFC 7671 section 9).
    pub fn usability(&self) -> Usability {
        let why = match (self.usage, self.selector, self.matching_type) {
            (u @ (Usage::PkixTa | Usage::PkixEe), _, _) => Unusable::PkixUsage(u),
            (u @ (Usage::PrivCert | Usage::Other(_)), _, _) => Unusable::UnknownUsage(u),
            (_, s @ (Selector::PrivSel | Selector::Other(_)), _) => Unusable::UnknownSelector(s),
            (_, _, m @ (MatchingType::PrivMatch | MatchingType::Other(_))) => {
                Unusable::UnknownMatchingType(m)
            }
            _ => match self.length_problem() {
                Some(why) => why,
                None => return Usability::Usable,
            },
        };
        Usability::Unusable(why)
    }

    /// Whether the data length fits the matching type (RFC 6698 section 2.1.3); `None` when it does
    /// or when the matching type has no fixed length.
    pub fn length_problem(&self) -> Option<Unusable> {
        match self.matching_type.digest_len() {
            Some(expected) if expected != self.data.len() => Some(Unusable::DigestLength {
                matching_type: self.matching_type,
                expected,
                actual: self.data.len(),
            }),
            None if self.matching_type == MatchingType::Full && self.data.is_empty() => {
                Some(Unusable::EmptyData)
            }
            _ => None,
        }
    }

    /// The wire form of the RDATA (RFC 6698 section 2.1).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.data.len());
        out.extend_from_slice(&[
            self.usage.value(),
            self.selector.value(),
            self.matching_type.value(),
        ]);
        out.extend_from_slice(&self.data);
        out
    }

    /// Decodes the wire form of the RDATA. Any data length is accepted (see [`Tlsa::usability`]).
    pub fn from_wire(rdata: &[u8]) -> Result<Self, WireError> {
        match rdata {
            [u, s, m, data @ ..] => Ok(Self::new(
                (*u).into(),
                (*s).into(),
                (*m).into(),
                data.to_vec(),
            )),
            _ => Err(WireError { len: rdata.len() }),
        }
    }
}

/// The RDATA was shorter than the three fixed octets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    len: usize,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TLSA RDATA of {} octets is shorter than its 3 fixed fields",
            self.len
        )
    }
}

impl std::error::Error for WireError {}

/// Prints the presentation form with numeric fields and lower-case hex, e.g. `3 1 1 ab12...`.
impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (u, s, m) = self.params();
        write!(f, "{u} {s} {m} ")?;
        if self.data.is_empty() {
            // RFC 3597 generic form is the only way to write empty data.
            return f.write_str("-");
        }
        f.write_str(&hex(&self.data))
    }
}

/// Parses the presentation form `usage selector matching-type hex...` (RFC 6698 section 2.2).
///
/// Fields may be numbers (leading zeros allowed) or RFC 7218 mnemonics in any letter case; the
/// hex may be split by white space and is case-insensitive.
impl FromStr for Tlsa {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Self, ParseError> {
        let err = |kind| ParseError {
            input: input.trim().to_owned(),
            kind,
        };
        let mut tokens = input.split_whitespace();
        let mut next = |field| tokens.next().ok_or(ParseErrorKind::Missing(field));
        let usage = next("certificate usage")
            .and_then(Usage::parse_token)
            .map_err(err)?;
        let selector = next("selector")
            .and_then(Selector::parse_token)
            .map_err(err)?;
        let matching_type = next("matching type")
            .and_then(MatchingType::parse_token)
            .map_err(err)?;
        let hex_text: String = tokens.collect();
        if hex_text.is_empty() {
            return Err(err(ParseErrorKind::Missing("certificate association data")));
        }
        let data = decode_hex(&hex_text).map_err(err)?;
        Ok(Self::new(usage, selector, matching_type, data))
    }
}

/// A presentation-form record that could not be parsed; names the input and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    input: String,
    kind: ParseErrorKind,
}

impl ParseError {
    /// What was wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

/// What was wrong with a presentation-form record.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A field is missing.
    Missing(&'static str),
    /// A number outside 0-255.
    FieldOutOfRange {
        /// The field's name.
        field: &'static str,
        /// The token as written.
        token: String,
    },
    /// Neither a number nor an RFC 7218 mnemonic.
    UnknownMnemonic {
        /// The field's name.
        field: &'static str,
        /// The token as written.
        token: String,
        /// The accepted forms.
        expected: &'static str,
    },
    /// A character that is not a hex digit.
    NotHex {
        /// The offending character.
        found: char,
    },
    /// An odd number of hex digits.
    OddHex {
        /// How many digits there were.
        digits: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid TLSA record \"{}\": ", self.input)?;
        match &self.kind {
            ParseErrorKind::Missing(field) => write!(f, "the {field} is missing"),
            ParseErrorKind::FieldOutOfRange { field, token } => {
                write!(f, "{field} \"{token}\" is not a number from 0 to 255")
            }
            ParseErrorKind::UnknownMnemonic {
                field,
                token,
                expected,
            } => {
                write!(f, "unknown {field} \"{token}\" (expected {expected})")
            }
            ParseErrorKind::NotHex { found } => {
                write!(f, "the association data must be hex, found {found:?}")
            }
            ParseErrorKind::OddHex { digits } => {
                write!(
                    f,
                    "the association data has an odd number of hex digits ({digits})"
                )
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn decode_hex(text: &str) -> Result<Vec<u8>, ParseErrorKind> {
    let mut nibbles = Vec::with_capacity(text.len());
    for c in text.chars() {
        let n = c.to_digit(16).ok_or(ParseErrorKind::NotHex { found: c })?;
        // to_digit(16) is below 16, so it fits a u8.
        nibbles.push(n as u8);
    }
    if nibbles.len() % 2 != 0 {
        return Err(ParseErrorKind::OddHex {
            digits: nibbles.len(),
        });
    }
    Ok(nibbles
        .chunks_exact(2)
        .map(|p| (p[0] << 4) | p[1])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // T-01: numbers, leading zeros, mnemonics in any case, split and mixed-case hex.
    #[test]
    fn t01_presentation_forms_are_equivalent() {
        let a: Tlsa = "3 1 1 AABBccdd".parse().unwrap();
        let b: Tlsa = "dane-ee SPKI sha2-256 aa bb CC dd".parse().unwrap();
        let c: Tlsa = "03 001 1 aabb ccdd".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), "3 1 1 aabbccdd");
        assert_eq!(a.params(), (3, 1, 1));
    }

    #[test]
    fn t01_rejects_bad_fields_with_a_named_problem() {
        let e = "DANE-XX 1 1 aa".parse::<Tlsa>().unwrap_err();
        assert!(matches!(
            e.kind(),
            ParseErrorKind::UnknownMnemonic {
                field: "certificate usage",
                ..
            }
        ));
        assert!(e.to_string().contains("DANE-XX"), "{e}");
        let e = "3 256 1 aa".parse::<Tlsa>().unwrap_err();
        assert!(matches!(
            e.kind(),
            ParseErrorKind::FieldOutOfRange {
                field: "selector",
                ..
            }
        ));
        let e = "3 1 1 abc".parse::<Tlsa>().unwrap_err();
        assert_eq!(e.kind(), &ParseErrorKind::OddHex { digits: 3 });
        let e = "3 1 1 zz".parse::<Tlsa>().unwrap_err();
        assert_eq!(e.kind(), &ParseErrorKind::NotHex { found: 'z' });
        let e = "3 1".parse::<Tlsa>().unwrap_err();
        assert_eq!(e.kind(), &ParseErrorKind::Missing("matching type"));
        let e = "3 1 1".parse::<Tlsa>().unwrap_err();
        assert_eq!(
            e.kind(),
            &ParseErrorKind::Missing("certificate association data")
        );
    }

    // T-02, T-03, T-04: classification.
    #[test]
    fn t03_classification() {
        let rec = |s: &str| s.parse::<Tlsa>().unwrap().usability();
        let d32 = "00".repeat(32);
        let d64 = "00".repeat(64);
        assert_eq!(rec(&format!("3 1 1 {d32}")), Usability::Usable);
        assert_eq!(rec(&format!("2 0 2 {d64}")), Usability::Usable);
        assert_eq!(rec("3 1 0 3000"), Usability::Usable);
        assert_eq!(
            rec(&format!("1 1 1 {d32}")),
            Usability::Unusable(Unusable::PkixUsage(Usage::PkixEe))
        );
        assert_eq!(
            rec(&format!("0 1 1 {d32}")),
            Usability::Unusable(Unusable::PkixUsage(Usage::PkixTa))
        );
        assert_eq!(
            rec(&format!("4 1 1 {d32}")),
            Usability::Unusable(Unusable::UnknownUsage(Usage::Other(4)))
        );
        assert_eq!(
            rec(&format!("3 2 1 {d32}")),
            Usability::Unusable(Unusable::UnknownSelector(Selector::Other(2)))
        );
        assert_eq!(
            rec(&format!("3 1 255 {d32}")),
            Usability::Unusable(Unusable::UnknownMatchingType(MatchingType::PrivMatch))
        );
        assert_eq!(
            rec(&format!("3 1 2 {d32}")),
            Usability::Unusable(Unusable::DigestLength {
                matching_type: MatchingType::Sha512,
                expected: 64,
                actual: 32
            })
        );
        assert_eq!(
            Tlsa::new(Usage::DaneEe, Selector::Spki, MatchingType::Full, vec![]).usability(),
            Usability::Unusable(Unusable::EmptyData)
        );
    }

    #[test]
    fn t02_wire_form() {
        let r: Tlsa = "3 1 1 0102".parse().unwrap();
        assert_eq!(r.to_wire(), vec![3, 1, 1, 1, 2]);
        assert_eq!(Tlsa::from_wire(&[3, 1, 1, 1, 2]).unwrap(), r);
        assert_eq!(Tlsa::from_wire(&[3, 1]).unwrap_err(), WireError { len: 2 });
        // Wrong length is unusable, not an error.
        let short = Tlsa::from_wire(&[3, 1, 1, 9]).unwrap();
        assert!(matches!(
            short.usability(),
            Usability::Unusable(Unusable::DigestLength { .. })
        ));
    }
}
