//! A reader for TLSA records in zone-file form (RFC 1035 section 5.1) or as bare RDATA lines.
//!
//! It understands what operators paste into a linter: `$ORIGIN`, `$TTL`, `;` comments,
//! parentheses spanning lines, relative owner names and `@`, a blank owner (the previous one),
//! TTL and class in either order, and `SMIMEA` (same RDATA as TLSA, RFC 8162). Records of other
//! types are skipped; a line that is neither is an error that names the line.

use std::fmt;

use crate::name::{Name, NameError};
use crate::record::{ParseError, Tlsa};

/// One TLSA (or SMIMEA) record read from zone text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneRecord {
    /// The 1-based line where the record starts.
    pub line: usize,
    /// The owner name; `None` for a bare `usage selector type data` line.
    pub owner: Option<Name>,
    /// The TTL, when given or set by `$TTL`.
    pub ttl: Option<u32>,
    /// `TLSA` or `SMIMEA`.
    pub rtype: &'static str,
    /// The RDATA.
    pub record: Tlsa,
}

impl fmt::Display for ZoneRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(owner) = &self.owner {
            write!(f, "{owner} ")?;
            if let Some(ttl) = self.ttl {
                write!(f, "{ttl} ")?;
            }
            write!(f, "IN {} ", self.rtype)?;
        }
        write!(f, "{}", self.record)
    }
}

/// Reads every TLSA record in `text`; `origin` completes relative names.
pub fn parse_zone(text: &str, origin: Option<&Name>) -> Result<Vec<ZoneRecord>, ZoneError> {
    let mut origin = origin.cloned();
    let mut default_ttl = None;
    let mut last_owner: Option<Name> = None;
    let mut out = Vec::new();
    for (line, entry) in logical_lines(text)? {
        let err = |kind| ZoneError { line, kind };
        let Some(first) = entry.tokens.first() else {
            continue;
        };
        if first.eq_ignore_ascii_case("$ORIGIN") {
            let name = entry
                .tokens
                .get(1)
                .ok_or(err(ZoneErrorKind::Directive("$ORIGIN needs a name")))?;
            origin = Some(Name::try_parse(name).map_err(|e| err(ZoneErrorKind::Name(e)))?);
            continue;
        }
        if first.eq_ignore_ascii_case("$TTL") {
            let ttl = entry.tokens.get(1).and_then(|t| parse_ttl(t));
            default_ttl = Some(ttl.ok_or(err(ZoneErrorKind::Directive("$TTL needs a TTL")))?);
            continue;
        }
        if first.starts_with('$') {
            return Err(err(ZoneErrorKind::Directive("unsupported directive")));
        }
        let rtype_at = entry.tokens.iter().position(|t| is_rr_type(t));
        let Some(rtype_at) = rtype_at else {
            // A bare RDATA line: "3 1 1 hex".
            let rdata = entry.tokens.join(" ");
            let record = rdata
                .parse::<Tlsa>()
                .map_err(|e| err(ZoneErrorKind::Record(e)))?;
            out.push(ZoneRecord {
                line,
                owner: None,
                ttl: None,
                rtype: "TLSA",
                record,
            });
            continue;
        };
        let rtype = &entry.tokens[rtype_at];
        let mut before = &entry.tokens[..rtype_at];
        let owner = if entry.starts_blank {
            last_owner.clone().ok_or(err(ZoneErrorKind::NoOwner))?
        } else {
            let (name, rest) = before.split_first().ok_or(err(ZoneErrorKind::NoOwner))?;
            before = rest;
            absolute(name, origin.as_ref()).map_err(err)?
        };
        last_owner = Some(owner.clone());
        let mut ttl = default_ttl;
        for token in before {
            if token.eq_ignore_ascii_case("IN") {
                continue;
            }
            ttl = Some(parse_ttl(token).ok_or(err(ZoneErrorKind::UnexpectedToken(token.clone())))?);
        }
        let rtype = if rtype.eq_ignore_ascii_case("TLSA") {
            "TLSA"
        } else if rtype.eq_ignore_ascii_case("SMIMEA") {
            "SMIMEA"
        } else {
            continue; // another record type in a full zone file
        };
        let rdata = entry.tokens[rtype_at + 1..].join(" ");
        let record = rdata
            .parse::<Tlsa>()
            .map_err(|e| err(ZoneErrorKind::Record(e)))?;
        out.push(ZoneRecord {
            line,
            owner: Some(owner),
            ttl,
            rtype,
            record,
        });
    }
    Ok(out)
}

struct Entry {
    tokens: Vec<String>,
    starts_blank: bool,
}

/// Joins parenthesised continuation lines and strips comments.
fn logical_lines(text: &str) -> Result<Vec<(usize, Entry)>, ZoneError> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Entry)> = None;
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let content = raw.split(';').next().unwrap_or_default();
        if open.is_none() && content.trim().is_empty() {
            continue;
        }
        let (start, mut entry) = open.take().unwrap_or_else(|| {
            let blank = content.starts_with(|c: char| c.is_whitespace());
            (
                i + 1,
                Entry {
                    tokens: Vec::new(),
                    starts_blank: blank,
                },
            )
        });
        for token in content
            .replace('(', " ( ")
            .replace(')', " ) ")
            .split_whitespace()
        {
            match token {
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                t => entry.tokens.push(t.to_owned()),
            }
        }
        if depth > 0 {
            open = Some((start, entry));
        } else {
            out.push((start, entry));
        }
    }
    match open {
        Some((line, _)) => Err(ZoneError {
            line,
            kind: ZoneErrorKind::UnclosedParenthesis,
        }),
        None => Ok(out),
    }
}

fn absolute(name: &str, origin: Option<&Name>) -> Result<Name, ZoneErrorKind> {
    if name == "@" {
        return origin
            .cloned()
            .ok_or(ZoneErrorKind::NoOrigin(name.to_owned()));
    }
    if name.ends_with('.') {
        return Name::try_parse(name).map_err(ZoneErrorKind::Name);
    }
    match origin {
        Some(o) if o.as_str() == "." => {
            Name::try_parse(&format!("{name}.")).map_err(ZoneErrorKind::Name)
        }
        Some(o) => Name::try_parse(&format!("{name}.{o}")).map_err(ZoneErrorKind::Name),
        None => Name::try_parse(name).map_err(ZoneErrorKind::Name),
    }
}

/// A TTL in seconds, or with BIND units (`1h30m`, `2d`).
fn parse_ttl(token: &str) -> Option<u32> {
    if let Ok(n) = token.parse::<u32>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in token.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total += digits.parse::<u64>().ok()? * unit;
        digits.clear();
    }
    if !digits.is_empty() {
        return None;
    }
    u32::try_from(total).ok()
}

fn is_rr_type(token: &str) -> bool {
    const TYPES: &[&str] = &[
        "TLSA",
        "SMIMEA",
        "A",
        "AAAA",
        "MX",
        "NS",
        "SOA",
        "CNAME",
        "DNAME",
        "TXT",
        "DS",
        "DNSKEY",
        "RRSIG",
        "NSEC",
        "NSEC3",
        "NSEC3PARAM",
        "CAA",
        "SRV",
        "PTR",
        "HINFO",
        "SSHFP",
        "CDS",
        "CDNSKEY",
        "HTTPS",
        "SVCB",
        "SPF",
        "ZONEMD",
    ];
    TYPES.iter().any(|t| t.eq_ignore_ascii_case(token))
}

/// A zone line that could not be read: names the line and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    /// The 1-based line.
    pub line: usize,
    /// What was wrong.
    pub kind: ZoneErrorKind,
}

/// What was wrong with a zone line.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneErrorKind {
    /// The TLSA RDATA is invalid.
    Record(ParseError),
    /// The owner name is invalid.
    Name(NameError),
    /// `@` or a relative name without `$ORIGIN`.
    NoOrigin(String),
    /// A line that starts blank with no previous owner, or a record with no owner.
    NoOwner,
    /// A token that is neither a TTL nor a class.
    UnexpectedToken(String),
    /// A malformed or unsupported `$` directive.
    Directive(&'static str),
    /// `(` without `)`.
    UnclosedParenthesis,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            ZoneErrorKind::Record(e) => write!(f, "{e}"),
            ZoneErrorKind::Name(e) => write!(f, "{e}"),
            ZoneErrorKind::NoOrigin(n) => write!(f, "\"{n}\" needs an $ORIGIN"),
            ZoneErrorKind::NoOwner => f.write_str("the record has no owner name"),
            ZoneErrorKind::UnexpectedToken(t) => {
                write!(f, "\"{t}\" is neither a TTL nor the class IN")
            }
            ZoneErrorKind::Directive(why) => write!(f, "{why}"),
            ZoneErrorKind::UnclosedParenthesis => {
                f.write_str("a parenthesis opened here is never closed")
            }
        }
    }
}

impl std::error::Error for ZoneError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zone_lines_bare_lines_and_parentheses() {
        let text = "$ORIGIN example.com.\n$TTL 1h\n\
            _25._tcp.mail IN TLSA 3 1 1 aabb ; current\n\
            \t 300 IN TLSA 2 1 1 ( cc\n dd )\n\
            mail IN A 192.0.2.1\n\
            _25._tcp.mx.other. 60 IN TLSA DANE-EE SPKI SHA2-256 ee\n\
            3 0 1 ff\n";
        let recs = parse_zone(text, None).unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(
            recs[0].owner.as_ref().unwrap().as_str(),
            "_25._tcp.mail.example.com."
        );
        assert_eq!(recs[0].ttl, Some(3600));
        assert_eq!(recs[1].owner, recs[0].owner);
        assert_eq!(recs[1].ttl, Some(300));
        assert_eq!(recs[1].record.to_string(), "2 1 1 ccdd");
        assert_eq!(recs[1].line, 4);
        assert_eq!(
            recs[2].owner.as_ref().unwrap().as_str(),
            "_25._tcp.mx.other."
        );
        assert_eq!(recs[3].owner, None);
        assert_eq!(recs[3].line, 8);
        assert_eq!(
            recs[0].to_string(),
            "_25._tcp.mail.example.com. 3600 IN TLSA 3 1 1 aabb"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_zone("\n_25._tcp.mx.example. IN TLSA 3 1 1 zz\n", None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().starts_with("line 2: invalid TLSA record"),
            "{e}"
        );
        let e = parse_zone("bad..name. IN TLSA 3 1 1 aa\n", None).unwrap_err();
        assert!(matches!(e.kind, ZoneErrorKind::Name(_)));
        let e = parse_zone("x. IN TLSA 3 1 1 ( aa\n", None).unwrap_err();
        assert_eq!(e.kind, ZoneErrorKind::UnclosedParenthesis);
        let e = parse_zone("hello world\n", None).unwrap_err();
        assert!(matches!(e.kind, ZoneErrorKind::Record(_)));
    }
}
