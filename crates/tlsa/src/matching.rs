//! Association data and the matching primitives: does record R match certificate C or key K,
//! and which records of an RRset a client uses at all (RFC 7671 section 9, digest agility).
//!
//! These primitives compare octets only. Whether a match authenticates a TLS peer (chain depth,
//! path validation, name checks) is the TLS verifier's business.

use aws_lc_rs::digest;

use crate::input::{Certificate, PublicKey};
use crate::record::{MatchingType, Selector, Tlsa, Usability, Usage};

/// What a record can be computed from or matched against.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    /// A certificate: both selectors apply.
    Certificate(&'a Certificate),
    /// A bare public key: only selector SPKI(1) applies.
    Key(&'a PublicKey),
}

impl Subject<'_> {
    /// The content a selector picks, or `None` for selector Cert(0) on a bare key or an
    /// unassigned selector.
    pub fn selected(&self, selector: Selector) -> Option<&[u8]> {
        match (selector, self) {
            (Selector::Cert, Subject::Certificate(c)) => Some(c.der()),
            (Selector::Spki, Subject::Certificate(c)) => Some(c.spki_der()),
            (Selector::Spki, Subject::Key(k)) => Some(k.spki_der()),
            _ => None,
        }
    }
}

/// The association data for `(selector, matching type)` over `subject` (RFC 6698 section 2.1),
/// or `None` when the selector does not apply to the subject or a field is unassigned.
pub fn association_data(
    subject: Subject<'_>,
    selector: Selector,
    matching_type: MatchingType,
) -> Option<Vec<u8>> {
    let content = subject.selected(selector)?;
    match matching_type {
        MatchingType::Full => Some(content.to_vec()),
        MatchingType::Sha256 => Some(digest::digest(&digest::SHA256, content).as_ref().to_vec()),
        MatchingType::Sha512 => Some(digest::digest(&digest::SHA512, content).as_ref().to_vec()),
        _ => None,
    }
}

/// Builds the record `usage selector matching-type` for `subject`.
pub fn generate(
    subject: Subject<'_>,
    usage: Usage,
    selector: Selector,
    matching_type: MatchingType,
) -> Option<Tlsa> {
    association_data(subject, selector, matching_type)
        .map(|data| Tlsa::new(usage, selector, matching_type, data))
}

impl Tlsa {
    /// Whether this record's association data matches `subject`, ignoring the usage.
    pub fn matches(&self, subject: Subject<'_>) -> bool {
        let Some(content) = subject.selected(self.selector()) else {
            return false;
        };
        match self.matching_type() {
            MatchingType::Full => content == self.data(),
            MatchingType::Sha256 => {
                digest::digest(&digest::SHA256, content).as_ref() == self.data()
            }
            MatchingType::Sha512 => {
                digest::digest(&digest::SHA512, content).as_ref() == self.data()
            }
            _ => false,
        }
    }
}

/// The records an SMTP client actually uses, in input order (T-03, T-05):
///
/// 1. unusable records are dropped (PKIX usages, unassigned fields, data of the wrong length:
///    RFC 7671 section 9 discards wrong-length records *before* choosing digests);
/// 2. for each (usage, selector) pair, of the digest matching types present only the strongest is
///    kept (SHA2-512 over SHA2-256);
/// 3. Full(0) records are exempt from step 2 and always kept.
///
/// `digests` lists the digest matching types the client supports, weakest first; a client that
/// knows only SHA2-256 passes `&[MatchingType::Sha256]`.
pub fn usable_records<'a>(records: &'a [Tlsa], digests: &[MatchingType]) -> Vec<&'a Tlsa> {
    let usable: Vec<&Tlsa> = records
        .iter()
        .filter(|r| r.usability() == Usability::Usable)
        .filter(|r| r.matching_type() == MatchingType::Full || digests.contains(&r.matching_type()))
        .collect();
    let strength = |m: MatchingType| digests.iter().position(|d| *d == m);
    let strongest = |u: Usage, s: Selector| {
        usable
            .iter()
            .filter(|r| r.usage() == u && r.selector() == s)
            .filter_map(|r| strength(r.matching_type()))
            .max()
    };
    usable
        .iter()
        .copied()
        .filter(|r| {
            r.matching_type() == MatchingType::Full
                || strength(r.matching_type()) == strongest(r.usage(), r.selector())
        })
        .collect()
}

/// The digests mxdane supports, weakest first: SHA2-256, then SHA2-512 (RFC 7671 section 9's
/// default ordering).
pub const SUPPORTED_DIGESTS: &[MatchingType] = &[MatchingType::Sha256, MatchingType::Sha512];

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> Tlsa {
        s.parse().unwrap()
    }

    // T-05: strongest digest per (usage, selector); Full(0) exempt; wrong length dropped first.
    #[test]
    fn t05_digest_agility() {
        let a256 = rec(&format!("3 1 1 {}", "aa".repeat(32)));
        let a512 = rec(&format!("3 1 2 {}", "bb".repeat(64)));
        let full = rec("3 1 0 3000");
        let ta256 = rec(&format!("2 1 1 {}", "cc".repeat(32)));
        let bad512 = rec(&format!("3 0 2 {}", "dd".repeat(32)));
        let c256 = rec(&format!("3 0 1 {}", "ee".repeat(32)));
        let set = vec![
            a256.clone(),
            a512.clone(),
            full.clone(),
            ta256.clone(),
            bad512,
            c256.clone(),
        ];
        let used = usable_records(&set, SUPPORTED_DIGESTS);
        // 3 1 1 loses to 3 1 2; 2 1 1 stays (other usage); the wrong-length 3 0 2 does not
        // shadow 3 0 1.
        assert_eq!(used, vec![&a512, &full, &ta256, &c256]);
        // A client without SHA2-512 keeps 3 1 1.
        let used = usable_records(&set, &[MatchingType::Sha256]);
        assert_eq!(used, vec![&a256, &full, &ta256, &c256]);
    }

    #[test]
    fn t04_pkix_usages_are_never_used() {
        let set = vec![
            rec(&format!("1 1 1 {}", "aa".repeat(32))),
            rec(&format!("0 0 1 {}", "aa".repeat(32))),
        ];
        assert!(usable_records(&set, SUPPORTED_DIGESTS).is_empty());
    }
}
