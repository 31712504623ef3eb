//! Domain names for the lab: absolute, lower case, compared in DNSSEC canonical order
//! (RFC 4034 section 6.1).

use std::cmp::Ordering;
use std::fmt;

/// An absolute domain name, stored as lower-case labels (leftmost first).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(Vec<Vec<u8>>);

impl Name {
    /// The root name.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses `text` (trailing dot optional; letters, digits, `-`, `_`, and `*` as a whole
    /// label). Panics on anything else: world descriptions are test code.
    pub fn parse(text: &str) -> Self {
        Self::try_parse(text).unwrap_or_else(|e| panic!("bad lab name {text:?}: {e}"))
    }

    /// Parses `text`, naming the problem on failure.
    pub fn try_parse(text: &str) -> Result<Self, String> {
        let t = text.strip_suffix('.').unwrap_or(text);
        if t.is_empty() {
            return Ok(Self::root());
        }
        let mut labels = Vec::new();
        for label in t.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("label {label:?} is empty or longer than 63 octets"));
            }
            if label != "*"
                && !label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "label {label:?} has a character outside [a-z0-9_-]"
                ));
            }
            labels.push(label.to_ascii_lowercase().into_bytes());
        }
        let name = Self(labels);
        if name.wire_len() > 255 {
            return Err("longer than 255 octets".into());
        }
        Ok(name)
    }

    /// Builds a name from wire labels (lower-cased).
    pub fn from_labels(labels: Vec<Vec<u8>>) -> Self {
        Self(labels.into_iter().map(|l| l.to_ascii_lowercase()).collect())
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// Number of labels (root = 0; "empty" is spelled [`Name::is_root`]).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The RRSIG labels count: labels without the root and without a leading `*`.
    pub fn rrsig_labels(&self) -> u8 {
        let n = self.0.len() - usize::from(self.is_wildcard());
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.first().is_some_and(|l| l == b"*")
    }

    /// The parent (root's parent is root).
    pub fn parent(&self) -> Self {
        Self(self.0.iter().skip(1).cloned().collect())
    }

    /// `label.self`.
    pub fn child(&self, label: &str) -> Self {
        let mut labels = vec![label.to_ascii_lowercase().into_bytes()];
        labels.extend(self.0.iter().cloned());
        Self(labels)
    }

    /// The ancestor with `n` labels (`n <= len`).
    pub fn suffix(&self, n: usize) -> Self {
        Self(self.0[self.0.len() - n..].to_vec())
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn is_at_or_below(&self, other: &Name) -> bool {
        self.0.len() >= other.0.len() && self.0[self.0.len() - other.0.len()..] == other.0[..]
    }

    /// Uncompressed wire form.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.write_wire(&mut out);
        out
    }

    /// Appends the uncompressed wire form.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        for l in &self.0 {
            out.push(u8::try_from(l.len()).unwrap_or(63));
            out.extend_from_slice(l);
        }
        out.push(0);
    }

    /// Length of the wire form.
    pub fn wire_len(&self) -> usize {
        self.0.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }

    /// Replaces the suffix `from` with `to` (DNAME substitution, RFC 6672).
    pub fn replace_suffix(&self, from: &Name, to: &Name) -> Option<Name> {
        if !self.is_at_or_below(from) {
            return None;
        }
        let mut labels: Vec<Vec<u8>> = self.0[..self.0.len() - from.0.len()].to_vec();
        labels.extend(to.0.iter().cloned());
        let name = Self(labels);
        (name.wire_len() <= 255).then_some(name)
    }
}

impl Ord for Name {
    /// Canonical DNS name order (RFC 4034 section 6.1).
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.0.iter().rev();
        let b = other.0.iter().rev();
        for (x, y) in a.zip(b) {
            match x.cmp(y) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for l in &self.0 {
            f.write_str(&String::from_utf8_lossy(l))?;
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

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
