//! The workspace's one domain-name type (D-16): absolute, lower case, at most 63 octets a
//! label and 255 in all, compared in DNSSEC canonical order (RFC 4034 section 6.1). TLSA owner
//! and host names, reference identifiers for the DANE-TA name checks, and every name the DNS
//! crate and the lab read from or write to the wire are this type, so no conversion through
//! text can fail or drop a name.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

/// An absolute domain name: lower-case labels (leftmost first) and their presentation form
/// with the trailing dot.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name {
    labels: Vec<Vec<u8>>,
    text: String,
}

impl Name {
    fn from_lower(labels: Vec<Vec<u8>>) -> Self {
        let text = if labels.is_empty() {
            ".".to_owned()
        } else {
            let mut t = String::new();
            for l in &labels {
                escape_label(&mut t, l);
                t.push('.');
            }
            t
        };
        Self { labels, text }
    }

    /// The root name.
    pub fn root() -> Self {
        Self::from_lower(Vec::new())
    }

    /// Parses `text` like [`Name::try_parse`] and panics on a bad name: for names written in
    /// code (tests, lab worlds), never for input.
    pub fn parse(text: &str) -> Self {
        Self::try_parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Validates `text` (trailing dot optional; `.` is the root; `@` is not expanded here):
    /// letters, digits, `-` and `_`, and `*` only as the whole leftmost label; A-labels only.
    pub fn try_parse(text: &str) -> Result<Self, NameError> {
        let err = |kind| NameError {
            name: text.to_owned(),
            kind,
        };
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if trimmed.is_empty() {
            return if text == "." {
                Ok(Self::root())
            } else {
                Err(err(NameErrorKind::Empty))
            };
        }
        let mut wire_len = 1;
        let mut labels = Vec::new();
        for (i, label) in trimmed.split('.').enumerate() {
            if label.is_empty() {
                return Err(err(NameErrorKind::EmptyLabel));
            }
            if label.len() > 63 {
                return Err(err(NameErrorKind::LabelTooLong(label.len())));
            }
            wire_len += label.len() + 1;
            if !(label == "*" && i == 0)
                && let Some(c) = label
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(err(if c.is_ascii() {
                    NameErrorKind::BadCharacter(c)
                } else {
                    NameErrorKind::NotALabel(c)
                }));
            }
            labels.push(label.to_ascii_lowercase().into_bytes());
        }
        if wire_len > 255 {
            return Err(err(NameErrorKind::TooLong(wire_len)));
        }
        Ok(Self::from_lower(labels))
    }

    /// Builds a name from wire labels (lower-cased; the wire reader checks the lengths).
    pub fn from_labels(labels: Vec<Vec<u8>>) -> Self {
        Self::from_lower(labels.into_iter().map(|l| l.to_ascii_lowercase()).collect())
    }

    /// The presentation form of RFC 1035 section 5.1, lower case, with the trailing dot and
    /// faithful to every octet: printable ASCII as it is; the characters that mean something
    /// in zone files (`.` inside a label, `\\`, `"`, `(`, `)`, `;`, `@`, `$`) after a
    /// backslash; every other octet (space, control characters such as a line feed,
    /// non-ASCII) as `\DDD`. Names read from the wire may hold any octet; this text never
    /// holds a line break, a control character or non-ASCII text, so it is safe in logs,
    /// metric labels and zone files, libunbound reads it back to the same wire name, and two
    /// different names never share it. Host names that [`Name::try_parse`] accepts print as
    /// they were written, in lower case.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }

    /// Number of labels (root = 0; "empty" is spelled [`Name::is_root`]).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.labels.is_empty()
    }

    /// The RRSIG labels count: labels without the root and without a leading `*`.
    pub fn rrsig_labels(&self) -> u8 {
        let n = self.labels.len() - usize::from(self.is_wildcard());
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.labels.first().is_some_and(|l| l == b"*")
    }

    /// The parent (root's parent is root).
    pub fn parent(&self) -> Self {
        Self::from_lower(self.labels.iter().skip(1).cloned().collect())
    }

    /// `label.self`.
    pub fn child(&self, label: &str) -> Self {
        let mut labels = vec![label.to_ascii_lowercase().into_bytes()];
        labels.extend(self.labels.iter().cloned());
        Self::from_lower(labels)
    }

    /// The ancestor with `n` labels (`n <= len`).
    pub fn suffix(&self, n: usize) -> Self {
        let n = n.min(self.labels.len());
        Self::from_lower(self.labels[self.labels.len() - n..].to_vec())
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn is_at_or_below(&self, other: &Name) -> bool {
        self.labels.len() >= other.labels.len()
            && self.labels[self.labels.len() - other.labels.len()..] == other.labels[..]
    }

    /// Uncompressed wire form.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.write_wire(&mut out);
        out
    }

    /// Appends the uncompressed wire form.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        for l in &self.labels {
            out.push(u8::try_from(l.len()).unwrap_or(63));
            out.extend_from_slice(l);
        }
        out.push(0);
    }

    /// Length of the wire form.
    pub fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }

    /// Replaces the suffix `from` with `to` (DNAME substitution, RFC 6672); `None` if `self`
    /// is not below `from` or the result would exceed 255 octets.
    pub fn replace_suffix(&self, from: &Name, to: &Name) -> Option<Name> {
        if !self.is_at_or_below(from) {
            return None;
        }
        let mut labels: Vec<Vec<u8>> =
            self.labels[..self.labels.len() - from.labels.len()].to_vec();
        labels.extend(to.labels.iter().cloned());
        let name = Self::from_lower(labels);
        (name.wire_len() <= 255).then_some(name)
    }

    /// The TLSA owner name `_PORT._tcp.HOST.` (RFC 6698 section 3; RFC 7672 section 2.2.3, D-11).
    pub fn tlsa_owner(&self, port: u16) -> Result<Name, NameError> {
        let name = self.child("_tcp").child(&format!("_{port}"));
        if name.wire_len() > 255 {
            return Err(NameError {
                name: format!("_{port}._tcp.{self}"),
                kind: NameErrorKind::TooLong(name.wire_len()),
            });
        }
        Ok(name)
    }

    /// For a TLSA owner name `_PORT._tcp.HOST.`, the port and the host.
    pub fn split_tlsa_owner(&self) -> Option<(u16, Name)> {
        let port = self.labels.first()?.strip_prefix(b"_")?;
        let port: u16 = std::str::from_utf8(port).ok()?.parse().ok()?;
        if self.labels.get(1)? != b"_tcp" {
            return None;
        }
        Some((port, Self::from_lower(self.labels[2..].to_vec())))
    }
}

impl Ord for Name {
    /// Canonical DNS name order (RFC 4034 section 6.1).
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.labels.iter().rev();
        let b = other.labels.iter().rev();
        for (x, y) in a.zip(b) {
            match x.cmp(y) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        self.labels.len().cmp(&other.labels.len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Appends one label in the escaped presentation form of [`Name::as_str`].
fn escape_label(out: &mut String, label: &[u8]) {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x21..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({})", self.text)
    }
}

/// A name that is not a valid DNS name; names the input and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    name: String,
    kind: NameErrorKind,
}

/// What is wrong with a name.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameErrorKind {
    /// The name is empty.
    Empty,
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 octets.
    LabelTooLong(usize),
    /// More than 255 octets in wire form.
    TooLong(usize),
    /// A character other than letters, digits, `-` and `_`.
    BadCharacter(char),
    /// A non-ASCII character: IDNs must be written as A-labels.
    NotALabel(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid DNS name \"{}\": ", self.name)?;
        match self.kind {
            NameErrorKind::Empty => f.write_str("the name is empty"),
            NameErrorKind::EmptyLabel => {
                f.write_str("it has an empty label (two dots in a row or a leading dot)")
            }
            NameErrorKind::LabelTooLong(n) => write!(f, "a label has {n} octets, more than 63"),
            NameErrorKind::TooLong(n) => {
                write!(f, "it is {n} octets long in wire form, more than 255")
            }
            NameErrorKind::BadCharacter(c) => {
                write!(f, "character {c:?} is not allowed in a host name")
            }
            NameErrorKind::NotALabel(c) => {
                write!(
                    f,
                    "non-ASCII character {c:?}: write internationalised names as A-labels (xn--...)"
                )
            }
        }
    }
}

impl std::error::Error for NameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presentation_form_escapes_every_odd_octet() {
        let n = Name::from_labels(vec![
            b"a\"b\nc".to_vec(),
            b"d.e\\f".to_vec(),
            vec![0xc3, 0xa9, b' '],
            b"mx".to_vec(),
        ]);
        assert_eq!(n.as_str(), "a\\\"b\\010c.d\\.e\\\\f.\\195\\169\\032.mx.");
        assert_eq!(n.to_string(), n.as_str());
        assert_eq!(Name::parse("MX.Example.").as_str(), "mx.example.");
        assert_eq!(
            Name::parse("*._25._tcp.a-b.example").as_str(),
            "*._25._tcp.a-b.example."
        );
        assert_eq!(Name::root().as_str(), ".");
        // Two names that a lossy UTF-8 form would confuse stay apart.
        let a = Name::from_labels(vec![vec![0xff], b"x".to_vec()]);
        let b = Name::from_labels(vec![vec![0xfe], b"x".to_vec()]);
        assert_ne!(a.as_str(), b.as_str());
    }

    #[test]
    fn d16_names_are_absolute_lower_case_and_bounded() {
        assert_eq!(
            Name::try_parse("Mail.Example.COM").unwrap().as_str(),
            "mail.example.com."
        );
        assert_eq!(
            Name::try_parse("mail.example.com.").unwrap().as_str(),
            "mail.example.com."
        );
        let owner = Name::try_parse("mail.example.com")
            .unwrap()
            .tlsa_owner(25)
            .unwrap();
        assert_eq!(owner.as_str(), "_25._tcp.mail.example.com.");
        assert_eq!(
            owner.split_tlsa_owner(),
            Some((25, Name::parse("mail.example.com.")))
        );
        assert!(matches!(
            Name::try_parse("a..b").unwrap_err().kind,
            NameErrorKind::EmptyLabel
        ));
        assert!(matches!(
            Name::try_parse(&"a".repeat(64)).unwrap_err().kind,
            NameErrorKind::LabelTooLong(64)
        ));
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(matches!(
            Name::try_parse(&long).unwrap_err().kind,
            NameErrorKind::TooLong(257)
        ));
        assert!(matches!(
            Name::try_parse("mäil.example").unwrap_err().kind,
            NameErrorKind::NotALabel('ä')
        ));
        assert!(matches!(
            Name::try_parse("mail example").unwrap_err().kind,
            NameErrorKind::BadCharacter(' ')
        ));
        assert!(Name::try_parse("*.example.com").is_ok());
        assert!(Name::try_parse("a.*.example.com").is_err());
    }

    #[test]
    fn canonical_order_follows_rfc4034_section_6_1() {
        // The example list of RFC 4034 section 6.1, without the escaped labels.
        let sorted = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "z.a.example.",
            "zabc.a.example.",
            "z.example.",
            "*.z.example.",
        ];
        let mut names: Vec<Name> = sorted.iter().rev().map(|n| Name::parse(n)).collect();
        names.sort();
        let got: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(got, sorted);
    }

    #[test]
    fn wildcard_labels_and_suffix_replacement() {
        let w = Name::parse("*.Example.TEST");
        assert!(w.is_wildcard());
        assert_eq!(w.rrsig_labels(), 2);
        assert_eq!(w.to_string(), "*.example.test.");
        let n = Name::parse("a.b.old.test");
        let r = n
            .replace_suffix(&Name::parse("old.test"), &Name::parse("new.example"))
            .unwrap();
        assert_eq!(r.to_string(), "a.b.new.example.");
        assert!(Name::try_parse("bad name.test").is_err());
    }
}
