//! Owner and host names as they appear in TLSA zone lines (D-16): absolute, compared
//! case-insensitively, A-labels only, at most 63 octets a label and 255 octets in all.

use std::fmt;

/// A validated, absolute DNS name in lower case, written with its trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DnsName(String);

impl DnsName {
    /// Validates `text` (with or without the trailing dot; `@` is not expanded here).
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let err = |kind| NameError {
            name: text.to_owned(),
            kind,
        };
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if trimmed.is_empty() {
            return if text == "." {
                Ok(Self(".".to_owned()))
            } else {
                Err(err(NameErrorKind::Empty))
            };
        }
        let mut wire_len = 1;
        for (i, label) in trimmed.split('.').enumerate() {
            if label.is_empty() {
                return Err(err(NameErrorKind::EmptyLabel));
            }
            if label.len() > 63 {
                return Err(err(NameErrorKind::LabelTooLong(label.len())));
            }
            wire_len += label.len() + 1;
            if label == "*" && i == 0 {
                continue;
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(err(if c.is_ascii() {
                    NameErrorKind::BadCharacter(c)
                } else {
                    NameErrorKind::NotALabel(c)
                }));
            }
        }
        if wire_len > 255 {
            return Err(err(NameErrorKind::TooLong(wire_len)));
        }
        Ok(Self(format!("{}.", trimmed.to_ascii_lowercase())))
    }

    /// The name as written, lower case with the trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The TLSA owner name `_PORT._tcp.HOST.` (RFC 6698 section 3; RFC 7672 section 2.2.3, D-11).
    pub fn tlsa_owner(&self, port: u16) -> Result<DnsName, NameError> {
        Self::parse(&format!("_{port}._tcp.{}", self.0))
    }

    /// For a TLSA owner name `_PORT._tcp.HOST.`, the port and the host.
    pub fn split_tlsa_owner(&self) -> Option<(u16, &str)> {
        let rest = self.0.strip_prefix('_')?;
        let (port, rest) = rest.split_once('.')?;
        let host = rest.strip_prefix("_tcp.")?;
        Some((port.parse().ok()?, host))
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    fn d16_names_are_absolute_lower_case_and_bounded() {
        assert_eq!(
            DnsName::parse("Mail.Example.COM").unwrap().as_str(),
            "mail.example.com."
        );
        assert_eq!(
            DnsName::parse("mail.example.com.").unwrap().as_str(),
            "mail.example.com."
        );
        let owner = DnsName::parse("mail.example.com")
            .unwrap()
            .tlsa_owner(25)
            .unwrap();
        assert_eq!(owner.as_str(), "_25._tcp.mail.example.com.");
        assert_eq!(owner.split_tlsa_owner(), Some((25, "mail.example.com.")));
        assert!(matches!(
            DnsName::parse("a..b").unwrap_err().kind,
            NameErrorKind::EmptyLabel
        ));
        assert!(matches!(
            DnsName::parse(&"a".repeat(64)).unwrap_err().kind,
            NameErrorKind::LabelTooLong(64)
        ));
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(matches!(
            DnsName::parse(&long).unwrap_err().kind,
            NameErrorKind::TooLong(257)
        ));
        assert!(matches!(
            DnsName::parse("mäil.example").unwrap_err().kind,
            NameErrorKind::NotALabel('ä')
        ));
        assert!(matches!(
            DnsName::parse("mail example").unwrap_err().kind,
            NameErrorKind::BadCharacter(' ')
        ));
        assert!(DnsName::parse("*.example.com").is_ok());
        assert!(DnsName::parse("a.*.example.com").is_err());
    }
}
