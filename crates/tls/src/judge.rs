//! Judging a server chain against a TLSA RRset: the one place where DANE decides (RFC 7672
//! section 3; CHECKLIST T-03 to T-10). The rustls verifier and `mxdane tlsa verify` both call
//! [`verify_chain`]; nothing else in the workspace matches certificates against records.

use std::fmt;

use aws_lc_rs::digest;
use mxdane_tlsa::matching::SUPPORTED_DIGESTS;
use mxdane_tlsa::record::hex;
use mxdane_tlsa::{
    Certificate, MatchingType, Name, Selector, Subject, Tlsa, Unusable, Usability, Usage,
    usable_records,
};
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use time::OffsetDateTime;
use webpki::{EndEntityCert, KeyUsage};

use crate::names;

/// The certificate or key a record matched: a chain certificate, or data carried by a Full(0)
/// DANE-TA record itself (RFC 7671 section 5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// Index in the chain as the server sent it (leaf = 0), or `None` when the anchor comes
    /// from the record.
    pub position: Option<usize>,
    /// Subject of the certificate, or `None` for a bare public key (`2 1 0`).
    pub subject: Option<String>,
    /// SHA2-256 of the SubjectPublicKeyInfo, in hex (what `3 1 1` / `2 1 1` would publish).
    pub spki_sha256: String,
}

/// Why a record that matched something still does not authenticate the chain.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// A certificate between the leaf and the anchor (or the leaf) has expired.
    Expired,
    /// A certificate between the leaf and the anchor (or the leaf) is not valid yet.
    NotYetValid,
    /// The anchor certificate itself is outside its validity period (T-07; checked by us,
    /// because webpki trust anchors carry no dates).
    AnchorNotValid,
    /// No path leads from the leaf to the anchor: a missing intermediate, a wrong issuer, or a
    /// certificate re-signed by another key.
    NoPath,
    /// A signature on the path does not verify.
    BadSignature,
    /// A certificate on the path may not issue certificates, or the leaf is a CA.
    NotCa,
    /// The leaf's extended key usage excludes TLS servers.
    WrongKeyUsage,
    /// Anything else the path validator refused (see the detail).
    Other,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expired => "a certificate on the path has expired",
            Self::NotYetValid => "a certificate on the path is not valid yet",
            Self::AnchorNotValid => "the trust anchor certificate is outside its validity period",
            Self::NoPath => "no path leads from the leaf to the trust anchor",
            Self::BadSignature => "a signature on the path does not verify",
            Self::NotCa => "a certificate on the path is not allowed to act as a CA",
            Self::WrongKeyUsage => "the leaf's extended key usage excludes TLS servers",
            Self::Other => "the path validator refused the chain",
        })
    }
}

/// What became of one record (T-10).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The record authenticates the chain.
    Matched {
        /// What it matched.
        anchor: Anchor,
        /// Depth of the match in the verified chain (leaf = 0); for a bare key (`2 1 0`), the
        /// depth of the certificate it signed.
        depth: usize,
    },
    /// The record matches no certificate where its usage looks.
    NoMatch,
    /// A DANE-TA(2) record that matches only the leaf itself, which never makes it an anchor
    /// (T-07).
    LeafOnly,
    /// The record matched an anchor, but the path from the leaf to it fails.
    ChainInvalid {
        /// The anchor.
        anchor: Anchor,
        /// The class of failure.
        problem: ChainProblem,
        /// The validator's own words.
        detail: String,
    },
    /// The path validates, but the leaf carries none of the reference identifiers (T-08).
    NameMismatch {
        /// The anchor.
        anchor: Anchor,
        /// Depth of the anchor in the verified chain.
        depth: usize,
        /// The names the leaf presents (dNSNames, or CNs when it has none).
        presented: Vec<String>,
    },
    /// The record can never be used (RFC 7672 section 3.1; PKIX usages per section 3.1.3).
    Unusable(Unusable),
    /// Digest agility (RFC 7671 section 9): a stronger digest of the same usage and selector is
    /// present, so senders ignore this record.
    Superseded,
    /// The server's chain cannot be judged at all (empty, or an unreadable leaf).
    BadChain(String),
}

impl RecordOutcome {
    /// A short machine-readable name: `matched`, `no-match`, `leaf-only`, `chain-invalid`,
    /// `name-mismatch`, `unusable`, `superseded`, `bad-chain`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Matched { .. } => "matched",
            Self::NoMatch => "no-match",
            Self::LeafOnly => "leaf-only",
            Self::ChainInvalid { .. } => "chain-invalid",
            Self::NameMismatch { .. } => "name-mismatch",
            Self::Unusable(_) => "unusable",
            Self::Superseded => "superseded",
            Self::BadChain(_) => "bad-chain",
        }
    }

    // Ranks failures so that a record reports the most informative one of its candidates.
    fn rank(&self) -> u8 {
        match self {
            Self::Matched { .. } => 6,
            Self::NameMismatch { .. } => 5,
            Self::ChainInvalid { .. } => 4,
            Self::LeafOnly => 3,
            _ => 0,
        }
    }
}

impl fmt::Display for RecordOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |a: &Anchor| match (a.position, &a.subject) {
            (Some(p), Some(s)) => format!("the certificate at position {p} ({s})"),
            (None, Some(s)) => format!("the certificate carried by the record ({s})"),
            (_, None) => "the public key carried by the record".to_owned(),
        };
        match self {
            Self::Matched { anchor, depth } => {
                write!(f, "matches {} at depth {depth}", at(anchor))
            }
            Self::NoMatch => f.write_str("matches no certificate of the chain where its usage looks"),
            Self::LeafOnly => f.write_str(
                "matches only the leaf, and a DANE-TA(2) record must match a certificate above it",
            ),
            Self::ChainInvalid {
                anchor,
                problem,
                detail,
            } => write!(f, "matches {}, but {problem} ({detail})", at(anchor)),
            Self::NameMismatch {
                anchor,
                depth,
                presented,
            } => write!(
                f,
                "matches {} at depth {depth}, but the leaf's names ({}) include no reference identifier",
                at(anchor),
                if presented.is_empty() {
                    "none".to_owned()
                } else {
                    presented.join(", ")
                }
            ),
            Self::Unusable(why) => write!(f, "unusable: {why}"),
            Self::Superseded => f.write_str(
                "ignored: a stronger digest of the same usage and selector is present (RFC 7671 section 9)",
            ),
            Self::BadChain(why) => write!(f, "the chain cannot be judged: {why}"),
        }
    }
}

/// The overall verdict. Only this crate constructs [`Verdict::Authenticated`].
#[must_use]
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A usable record authenticated the chain.
    Authenticated {
        /// Index of the winning record in the input: DANE-EE(3) first, then DANE-TA(2) at the
        /// lowest depth (OpenSSL's preference).
        record: usize,
        /// Its depth in the verified chain.
        depth: usize,
        /// Keeps the variant unconstructible outside this crate.
        #[doc(hidden)]
        _sealed: Sealed,
    },
    /// No usable record authenticates the chain.
    NotAuthenticated,
}

/// A marker only this crate can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed(());

/// The outcome of every record plus the verdict.
#[derive(Clone, Debug)]
pub struct Report {
    outcomes: Vec<RecordOutcome>,
    verdict: Verdict,
    chain: Vec<ChainCert>,
}

/// One certificate of the chain as the server sent it, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCert {
    /// Subject (empty when the certificate cannot be parsed).
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Start of validity.
    pub not_before: Option<OffsetDateTime>,
    /// End of validity.
    pub not_after: Option<OffsetDateTime>,
    /// SHA2-256 of the SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    /// The key type, e.g. `ECDSA P-256`.
    pub key: String,
    /// The subjectAltName dNSNames.
    pub names: Vec<String>,
    /// The DER certificate.
    pub der: Vec<u8>,
}

impl Report {
    /// The chain as sent, leaf first.
    pub fn chain(&self) -> &[ChainCert] {
        &self.chain
    }

    /// One outcome per input record, in input order.
    pub fn outcomes(&self) -> &[RecordOutcome] {
        &self.outcomes
    }

    /// The verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Whether the chain is authenticated.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.verdict, Verdict::Authenticated { .. })
    }
}

/// Judges `chain` (leaf first, as the server sends it) against `records` at time `at`, with the
/// reference identifiers `names` for DANE-TA name checks (the TLSA base domain first, T-08).
///
/// Signatures on the path are checked with the aws-lc-rs provider's algorithms, as in a
/// handshake. DANE-EE(3) ignores names and dates (RFC 7672 section 3.1.1).
pub fn verify_chain(
    chain: &[CertificateDer<'_>],
    records: &[Tlsa],
    names: &[Name],
    at: UnixTime,
) -> Report {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    judge(
        chain,
        records,
        names,
        at,
        provider.signature_verification_algorithms.all,
    )
}

/// Whether `issuer` signed `leaf`: the leaf's signature verifies with the issuer's public key
/// (rustls-webpki path building with the issuer as the only anchor, at the leaf's notBefore so
/// that only the signature and the names' link are judged, not today's date). A subject name
/// that matches the leaf's issuer name proves nothing: another CA may use the same name, and
/// `current + issuer` publishes the issuer's key (RFC 7671 section 8.1), so it must be the key
/// that signs.
pub fn issued_by(leaf: &CertificateDer<'_>, issuer: &CertificateDer<'_>) -> bool {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let (Ok(ee), Ok(anchor), Ok(parsed)) = (
        EndEntityCert::try_from(leaf),
        webpki::anchor_from_trusted_cert(issuer),
        Certificate::from_der(leaf),
    ) else {
        return false;
    };
    let at = unix_time(parsed.not_before());
    ee.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &[anchor],
        &[],
        at,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .is_ok()
}

pub(crate) fn judge(
    chain: &[CertificateDer<'_>],
    records: &[Tlsa],
    names: &[Name],
    at: UnixTime,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Report {
    let parsed: Vec<Option<Certificate>> = chain
        .iter()
        .map(|c| Certificate::from_der(c).ok())
        .collect();
    let leaf = match parsed.first() {
        None => Err("the server sent no certificate".to_owned()),
        Some(None) => Err("the leaf certificate is not valid DER X.509".to_owned()),
        Some(Some(leaf)) => Ok(leaf),
    };
    let used = usable_records(records, SUPPORTED_DIGESTS);
    let ctx = Context {
        chain,
        parsed: &parsed,
        names,
        at,
        algs,
    };
    let outcomes: Vec<RecordOutcome> = records
        .iter()
        .map(|r| {
            if let Usability::Unusable(why) = r.usability() {
                return RecordOutcome::Unusable(why);
            }
            if !used.iter().any(|u| std::ptr::eq(*u, r)) {
                return RecordOutcome::Superseded;
            }
            let leaf = match &leaf {
                Ok(leaf) => *leaf,
                Err(why) => return RecordOutcome::BadChain(why.clone()),
            };
            match r.usage() {
                Usage::DaneEe if r.matches(Subject::Certificate(leaf)) => RecordOutcome::Matched {
                    anchor: anchor_of(leaf, Some(0)),
                    depth: 0,
                },
                Usage::DaneTa => ctx.dane_ta(r, leaf),
                _ => RecordOutcome::NoMatch,
            }
        })
        .collect();
    let winner = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            RecordOutcome::Matched { depth, .. } => {
                let ee = records[i].usage() == Usage::DaneEe;
                Some((!ee, *depth, i))
            }
            _ => None,
        })
        .min();
    let verdict = match winner {
        Some((_, depth, record)) => Verdict::Authenticated {
            record,
            depth,
            _sealed: Sealed(()),
        },
        None => Verdict::NotAuthenticated,
    };
    let chain = chain
        .iter()
        .zip(&parsed)
        .map(|(der, cert)| match cert {
            Some(c) => ChainCert {
                subject: c.subject().to_owned(),
                issuer: c.issuer().to_owned(),
                not_before: Some(c.not_before()),
                not_after: Some(c.not_after()),
                spki_sha256: sha256_hex(c.spki_der()),
                key: c.key_type().to_string(),
                names: c.dns_names().to_vec(),
                der: der.to_vec(),
            },
            None => ChainCert {
                subject: String::new(),
                issuer: String::new(),
                not_before: None,
                not_after: None,
                spki_sha256: String::new(),
                key: "unparseable".into(),
                names: Vec::new(),
                der: der.to_vec(),
            },
        })
        .collect();
    Report {
        outcomes,
        verdict,
        chain,
    }
}

struct Context<'a, 'c> {
    chain: &'a [CertificateDer<'c>],
    parsed: &'a [Option<Certificate>],
    names: &'a [Name],
    at: UnixTime,
    algs: &'a [&'a dyn SignatureVerificationAlgorithm],
}

impl Context<'_, '_> {
    /// DANE-TA(2) (T-07, T-08): every candidate anchor is tried; the best outcome wins.
    fn dane_ta(&self, record: &Tlsa, leaf: &Certificate) -> RecordOutcome {
        let mut best = RecordOutcome::NoMatch;
        let mut consider = |o: RecordOutcome| {
            let better = match (&o, &best) {
                (
                    RecordOutcome::Matched { depth: a, .. },
                    RecordOutcome::Matched { depth: b, .. },
                ) => a < b,
                _ => o.rank() > best.rank(),
            };
            if better {
                best = o;
            }
        };
        let mut in_chain = false;
        for (position, cert) in self.parsed.iter().enumerate().skip(1) {
            let Some(cert) = cert else { continue };
            if record.matches(Subject::Certificate(cert)) {
                in_chain = true;
                let der = &self.chain[position];
                consider(self.with_certificate(der, cert, Some(position), leaf));
            }
        }
        if record.matches(Subject::Certificate(leaf)) && !in_chain {
            consider(RecordOutcome::LeafOnly);
        }
        if record.matching_type() == MatchingType::Full && !in_chain {
            match record.selector() {
                Selector::Cert => {
                    if let Ok(cert) = Certificate::from_der(record.data())
                        && cert.der() != leaf.der()
                    {
                        let der = CertificateDer::from(record.data());
                        consider(self.with_certificate(&der, &cert, None, leaf));
                    }
                }
                Selector::Spki if record.data() != leaf.spki_der() => {
                    consider(self.with_key(record.data(), leaf));
                }
                _ => {}
            }
        }
        best
    }

    /// A certificate anchor, from the chain (`position`) or from a `2 0 0` record.
    fn with_certificate(
        &self,
        der: &CertificateDer<'_>,
        cert: &Certificate,
        position: Option<usize>,
        leaf: &Certificate,
    ) -> RecordOutcome {
        let anchor = anchor_of(cert, position);
        let invalid = |problem, detail: String| RecordOutcome::ChainInvalid {
            anchor: anchor.clone(),
            problem,
            detail,
        };
        let trust = match webpki::anchor_from_trusted_cert(der) {
            Ok(t) => t,
            Err(e) => return invalid(ChainProblem::Other, format!("anchor unreadable: {e}")),
        };
        // A certificate without the CA basic constraint may not sign certificates (RFC 5280
        // section 4.2.1.9), so it cannot be the trust anchor that signs the server's chain;
        // webpki does not check its anchors' constraints, OpenSSL does.
        if !cert.is_ca() {
            return invalid(
                ChainProblem::NotCa,
                format!("the anchor \"{}\" is not a CA certificate", cert.subject()),
            );
        }
        // T-07: the anchor's own validity period; webpki anchors carry no dates.
        let now = unix_to_datetime(self.at);
        if now < cert.not_before() || now > cert.not_after() {
            return invalid(
                ChainProblem::AnchorNotValid,
                format!("valid {} to {}", cert.not_before(), cert.not_after()),
            );
        }
        match self.path(&[trust], der) {
            Ok(intermediates) => self.named(anchor, intermediates + 1, leaf),
            Err((problem, detail)) => invalid(problem, detail),
        }
    }

    /// A bare public key from a `2 1 0` record: accepted as the signer of whichever chain
    /// certificate it signed (the topmost one, in practice).
    fn with_key(&self, spki: &[u8], leaf: &Certificate) -> RecordOutcome {
        let anchor = Anchor {
            position: None,
            subject: None,
            spki_sha256: sha256_hex(spki),
        };
        let Some(key) = der_contents(spki) else {
            return RecordOutcome::ChainInvalid {
                anchor,
                problem: ChainProblem::Other,
                detail: "the record's key is not a DER SubjectPublicKeyInfo".to_owned(),
            };
        };
        // One anchor per distinct issuer name in the chain: webpki finds an anchor by name.
        let mut issuers: Vec<&[u8]> = Vec::new();
        for der in self.chain {
            if let Some(issuer) = issuer_name(der)
                && !issuers.contains(&issuer)
            {
                issuers.push(issuer);
            }
        }
        let anchors: Vec<TrustAnchor<'_>> = issuers
            .iter()
            .map(|subject| TrustAnchor {
                subject: (*subject).into(),
                subject_public_key_info: key.into(),
                name_constraints: None,
            })
            .collect();
        match self.path(&anchors, &CertificateDer::from(&[][..])) {
            Ok(intermediates) => self.named(anchor, intermediates, leaf),
            Err((problem, detail)) => RecordOutcome::ChainInvalid {
                anchor,
                problem,
                detail,
            },
        }
    }

    /// Validates the path from the leaf to one of `anchors` with webpki; returns the number of
    /// intermediates on it. Copies of the anchor certificate are left out of the intermediates.
    fn path(
        &self,
        anchors: &[TrustAnchor<'_>],
        anchor_der: &CertificateDer<'_>,
    ) -> Result<usize, (ChainProblem, String)> {
        let ee = EndEntityCert::try_from(&self.chain[0])
            .map_err(|e| (ChainProblem::Other, format!("leaf unreadable: {e}")))?;
        let intermediates: Vec<CertificateDer<'_>> = self.chain[1..]
            .iter()
            .filter(|c| c.as_ref() != anchor_der.as_ref())
            .cloned()
            .collect();
        ee.verify_for_usage(
            self.algs,
            anchors,
            &intermediates,
            self.at,
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|p| p.intermediate_certificates().count())
        .map_err(|e| (classify(&e), e.to_string()))
    }

    /// T-08: after the path, the leaf must carry a reference identifier.
    fn named(&self, anchor: Anchor, depth: usize, leaf: &Certificate) -> RecordOutcome {
        // The CAs above the leaf: their name constraints bind the CN fallback too (webpki
        // checks them for subjectAltNames only). Every chain certificate but the leaf counts,
        // which is stricter than the verified path alone.
        let issuers: Vec<&Certificate> = self.parsed.iter().skip(1).flatten().collect();
        if names::leaf_matches(leaf, self.names, &issuers) {
            RecordOutcome::Matched { anchor, depth }
        } else {
            RecordOutcome::NameMismatch {
                anchor,
                depth,
                presented: names::presented_names(leaf).to_vec(),
            }
        }
    }
}

fn classify(e: &webpki::Error) -> ChainProblem {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => ChainProblem::Expired,
        E::CertNotValidYet { .. } => ChainProblem::NotYetValid,
        E::UnknownIssuer => ChainProblem::NoPath,
        E::InvalidSignatureForPublicKey => ChainProblem::BadSignature,
        E::CaUsedAsEndEntity | E::EndEntityUsedAsCa | E::PathLenConstraintViolated => {
            ChainProblem::NotCa
        }
        E::RequiredEkuNotFoundContext(_) => ChainProblem::WrongKeyUsage,
        _ => ChainProblem::Other,
    }
}

fn anchor_of(cert: &Certificate, position: Option<usize>) -> Anchor {
    Anchor {
        position,
        subject: Some(cert.subject().to_owned()),
        spki_sha256: sha256_hex(cert.spki_der()),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn unix_to_datetime(at: UnixTime) -> OffsetDateTime {
    i64::try_from(at.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The time `at` as rustls and webpki want it (times before 1970 become 1970).
pub fn unix_time(at: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(at.unix_timestamp()).unwrap_or(0),
    ))
}

/// The contents of a DER TLV (without its tag and length), if `der` is exactly one SEQUENCE.
fn der_contents(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        (
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            rest,
        )
    };
    (rest.len() == len).then_some(rest)
}

/// The contents of a certificate's issuer Name, as webpki compares it with anchor subjects.
fn issuer_name<'a>(der: &'a CertificateDer<'_>) -> Option<&'a [u8]> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    der_contents(cert.tbs_certificate.issuer.as_raw())
}

#[cfg(test)]
mod tests {
    use super::der_contents;

    #[test]
    fn der_contents_reads_short_and_long_lengths_and_refuses_junk() {
        assert_eq!(der_contents(&[0x30, 0x02, 1, 2]), Some(&[1u8, 2][..]));
        let long: Vec<u8> = [0x30, 0x81, 0x80]
            .into_iter()
            .chain(std::iter::repeat_n(7, 0x80))
            .collect();
        assert_eq!(der_contents(&long).map(<[u8]>::len), Some(0x80));
        assert_eq!(der_contents(&[0x31, 0x00]), None);
        assert_eq!(der_contents(&[0x30, 0x03, 1, 2]), None);
        assert_eq!(der_contents(&[0x30, 0x80]), None);
        assert_eq!(der_contents(&[]), None);
    }
}
