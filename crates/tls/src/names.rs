//! Name checks for DANE-TA(2) (RFC 7672 sections 3.2.2 and 3.2.3; CHECKLIST T-08, T-09).
//!
//! DANE-EE(3) never checks names (RFC 7672 section 3.1.1); this module is only reached after a
//! DANE-TA(2) anchor has validated the path.

use mxdane_tlsa::{Certificate, Name};

/// The names the leaf presents for matching: its subjectAltName dNSNames, or, only when it has
/// none, its subject common names (the fallback of RFC 7672 section 3.2.2 that webpki lacks).
pub(crate) fn presented_names(leaf: &Certificate) -> &[String] {
    if leaf.dns_names().is_empty() {
        leaf.common_names()
    } else {
        leaf.dns_names()
    }
}

/// Whether the leaf carries one of the reference identifiers. When the names come from the
/// subject CN (no subjectAltName), every issuer's DNS name constraints must allow the name
/// (RFC 5280 section 4.2.1.10): a CA limited to other domains cannot vouch for it that way.
pub(crate) fn leaf_matches(
    leaf: &Certificate,
    references: &[Name],
    issuers: &[&Certificate],
) -> bool {
    let cn_fallback = leaf.dns_names().is_empty();
    presented_names(leaf).iter().any(|presented| {
        (!cn_fallback || issuers.iter().all(|ca| constraints_allow(ca, presented)))
            && references
                .iter()
                .any(|reference| name_matches(presented, reference.as_str()))
    })
}

/// Whether `ca`'s DNS name constraints allow `name`: inside a permitted subtree when any are
/// listed, inside no excluded one. Constraints we cannot read allow nothing.
fn constraints_allow(ca: &Certificate, name: &str) -> bool {
    let Some(nc) = ca.name_constraints() else {
        return true;
    };
    if nc.other_kinds && nc.permitted.is_empty() && nc.excluded.is_empty() {
        return false;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let within = |subtree: &String| {
        let base = subtree.trim_start_matches('.').trim_end_matches('.');
        base.is_empty() || name == base || name.ends_with(&format!(".{base}"))
    };
    (nc.permitted.is_empty() || nc.permitted.iter().any(within)) && !nc.excluded.iter().any(within)
}

/// Compares one presented name with one reference identifier, case-insensitively and ignoring a
/// trailing dot on either side.
///
/// A wildcard is accepted only as the whole leftmost label and stands for exactly one label
/// (T-09; RFC 7672 section 3.2.3): `*.example.test` matches `mx.example.test`, but neither
/// `a.mx.example.test` nor `example.test`. Partial wildcards (`mx*.example.test`) never match,
/// and, as in OpenSSL, a wildcard needs at least two labels to its right (`*.test` matches
/// nothing). A reference identifier is never itself treated as a pattern.
pub(crate) fn name_matches(presented: &str, reference: &str) -> bool {
    let presented = presented.strip_suffix('.').unwrap_or(presented);
    let reference = reference.strip_suffix('.').unwrap_or(reference);
    if presented.is_empty() || reference.is_empty() || reference.contains('*') {
        return false;
    }
    match presented.strip_prefix("*.") {
        Some(parent) => {
            if parent.contains('*') || !parent.contains('.') {
                return false;
            }
            match reference.split_once('.') {
                Some((first, rest)) => !first.is_empty() && rest.eq_ignore_ascii_case(parent),
                None => false,
            }
        }
        None => !presented.contains('*') && presented.eq_ignore_ascii_case(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    // T-09: the wildcard rule, exhaustively on small cases.
    #[test]
    fn t09_wildcard_matches_exactly_one_leftmost_label() {
        let cases = [
            ("*.example.test", "mx.example.test", true),
            ("*.example.test", "MX.Example.Test.", true),
            ("*.example.test", "a.mx.example.test", false),
            ("*.example.test", "example.test", false),
            ("*.example.test", ".example.test", false),
            ("mx*.example.test", "mx1.example.test", false),
            ("*mx.example.test", "amx.example.test", false),
            ("m*x.example.test", "mx.example.test", false),
            ("mx.*.test", "mx.example.test", false),
            ("*.*.test", "a.b.test", false),
            ("*.test", "example.test", false),
            ("*", "test", false),
            ("mx.example.test", "mx.example.test.", true),
            ("mx.example.test.", "MX.EXAMPLE.TEST", true),
            ("mx.example.test", "mx2.example.test", false),
            ("mx.example.test", "*.example.test", false),
            ("", "mx.example.test", false),
        ];
        for (presented, reference, want) in cases {
            assert_eq!(
                name_matches(presented, reference),
                want,
                "{presented} vs {reference}"
            );
        }
    }
}
