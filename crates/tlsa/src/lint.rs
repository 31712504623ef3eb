//! Linting a TLSA RRset against RFC 7671, RFC 7672 and the operational guidance of the seed
//! how-to (T-12). Each [`Rule`] has an identifier, a one-line explanation and the text behind it.
//!
//! Without the server's certificates the rules judge the records alone. Given the chains the
//! server presents (one per key algorithm for dual RSA+ECDSA servers), [`lint`] also simulates
//! the two kinds of sender that digest agility creates (one that knows only SHA2-256, one that
//! prefers SHA2-512) and reports every chain that some sender could not authenticate. That
//! simulation compares digests only: for DANE-TA(2) it checks that the anchor is in the chain,
//! not the signatures on the path (the TLS verifier does that).

use std::collections::BTreeMap;
use std::fmt;

use crate::input::Certificate;
use crate::matching::{Subject, usable_records};
use crate::name::Name;
use crate::record::{MatchingType, Selector, Tlsa, Unusable, Usability, Usage};
use crate::zone::ZoneRecord;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The record is unusable, or some sender would fail to authenticate the server.
    Error,
    /// Works today but is fragile or against operational advice.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// The lint rules.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Usage PKIX-TA(0) or PKIX-EE(1).
    PkixUsage,
    /// Unassigned or private-use usage, selector or matching type.
    UnassignedField,
    /// Data length that does not fit the matching type.
    DigestLength,
    /// Full(0) data that is not a certificate or public key.
    FullDataInvalid,
    /// `3 0 x`: pins the whole certificate.
    EeCertSelector,
    /// A digest other than SHA2-256 without a SHA2-256 record beside it.
    NoSha256,
    /// TTL above the advised 30 to 60 minutes.
    TtlHigh,
    /// No record that allows a safe rollover.
    NoRollover,
    /// More records at one owner than large senders process.
    TooManyRecords,
    /// The same record twice.
    Duplicate,
    /// An owner name that is not `_PORT._tcp.HOST`.
    OwnerName,
    /// A DANE-TA record whose anchor the server does not send.
    AnchorNotSent,
    /// A (usage, selector, matching type) combination that matches none of the server's chains.
    CombinationUnmatched,
    /// A server chain that some sender cannot authenticate with the published records.
    ChainFails,
}

impl Rule {
    /// The stable identifier, e.g. `pkix-usage`.
    pub fn id(self) -> &'static str {
        self.describe().0
    }

    /// One line: why the rule exists.
    pub fn explanation(self) -> &'static str {
        self.describe().1
    }

    /// The specification or guidance behind the rule.
    pub fn reference(self) -> &'static str {
        self.describe().2
    }

    /// Every rule, in report order.
    pub const ALL: &'static [Rule] = &[
        Rule::PkixUsage,
        Rule::UnassignedField,
        Rule::DigestLength,
        Rule::FullDataInvalid,
        Rule::EeCertSelector,
        Rule::NoSha256,
        Rule::TtlHigh,
        Rule::NoRollover,
        Rule::TooManyRecords,
        Rule::Duplicate,
        Rule::OwnerName,
        Rule::AnchorNotSent,
        Rule::CombinationUnmatched,
        Rule::ChainFails,
    ];

    fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::PkixUsage => (
                "pkix-usage",
                "SMTP clients share no set of public CAs, so they treat PKIX-TA(0) and PKIX-EE(1) records as unusable",
                "RFC 7672 section 3.1.3",
            ),
            Self::UnassignedField => (
                "unassigned-field",
                "a record with an unassigned or private-use field can never match",
                "RFC 6698 section 2.1; RFC 7672 section 3.1",
            ),
            Self::DigestLength => (
                "digest-length",
                "data whose length does not fit the matching type is discarded by senders before anything else",
                "RFC 6698 section 2.1.3; RFC 7671 section 9",
            ),
            Self::FullDataInvalid => (
                "full-data-invalid",
                "Full(0) data must be the DER certificate (selector 0) or SubjectPublicKeyInfo (selector 1)",
                "RFC 6698 sections 2.1.2 and 2.1.3",
            ),
            Self::EeCertSelector => (
                "ee-cert-selector",
                "3 0 x pins the whole certificate, which changes at every renewal (every few weeks with ACME); 3 1 1 survives renewals with the same key",
                "RFC 7671 sections 5.1 and 8.1; seed how-to",
            ),
            Self::NoSha256 => (
                "no-sha256",
                "senders may support only SHA2-256: publish a SHA2-256 record beside every SHA2-512 or Full(0) record",
                "RFC 7671 section 9; RFC 7672 section 3.1",
            ),
            Self::TtlHigh => (
                "ttl-high",
                "a TLSA TTL above one hour slows every fix and stretches each rollover (2 x TTL); 1800 to 3600 seconds is advised",
                "seed how-to; RFC 7671 section 8.1",
            ),
            Self::NoRollover => (
                "no-rollover",
                "with a single key pinned there is no safe rollover: publish \"current + next\" (3 1 1 + 3 1 1) or \"current + issuer\" (3 1 1 + 2 1 1)",
                "RFC 7671 section 8.1; seed how-to",
            ),
            Self::TooManyRecords => (
                "too-many-records",
                "large senders stop processing TLSA RRsets beyond about 12 records, and large RRsets need TCP",
                "RFC 7671 section 10.1",
            ),
            Self::Duplicate => (
                "duplicate",
                "an RRset holds each record once; duplicates are dropped by servers and usually hide a copy-and-paste mistake",
                "RFC 2181 section 5",
            ),
            Self::OwnerName => (
                "owner-name",
                "TLSA records for SMTP live at _PORT._tcp.HOST (for MX delivery _25._tcp.MX-HOST)",
                "RFC 6698 section 3; RFC 7672 section 2.2.3",
            ),
            Self::AnchorNotSent => (
                "anchor-not-sent",
                "a DANE-TA(2) digest can only match a certificate the server sends in its chain",
                "RFC 7672 section 3.1.2",
            ),
            Self::CombinationUnmatched => (
                "combination-unmatched",
                "every (usage, selector, matching type) combination published must match the current chain, or senders that choose that combination fail",
                "RFC 7671 sections 8.4 and 9",
            ),
            Self::ChainFails => (
                "chain-fails",
                "some sender cannot authenticate this server chain with the records published (each key algorithm needs its own records)",
                "RFC 7671 sections 8.4 and 9; RFC 7672 section 3.1",
            ),
        }
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Error or warning.
    pub severity: Severity,
    /// The owner the finding is about (`None` for bare RDATA input).
    pub owner: Option<Name>,
    /// The input line of the record it is about, if it is about one record.
    pub line: Option<usize>,
    /// The record it is about, in presentation form.
    pub record: Option<String>,
    /// What is wrong, in one sentence that names the inputs.
    pub message: String,
}

/// A certificate chain as a server presents it: leaf first.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Where it came from (a file name), for messages.
    pub label: String,
    /// The certificates, leaf first.
    pub certificates: Vec<Certificate>,
}

impl Chain {
    fn describe(&self) -> String {
        match self.certificates.first() {
            Some(leaf) => format!("{} ({}, {})", self.label, leaf.key_type(), leaf.subject()),
            None => self.label.clone(),
        }
    }
}

/// Records with more entries than this at one owner draw a warning.
pub const MAX_RECORDS: usize = 12;
/// TTLs above this draw a warning (seed how-to: 1800 to 3600 seconds).
pub const MAX_TTL: u32 = 3600;

/// Lints `records` (grouped by owner), with the server's `chains` when known.
///
/// The chains are taken to be what the server behind every owner in the input presents.
pub fn lint(records: &[ZoneRecord], chains: &[Chain]) -> Vec<Finding> {
    let mut groups: BTreeMap<Option<&Name>, Vec<&ZoneRecord>> = BTreeMap::new();
    for r in records {
        groups.entry(r.owner.as_ref()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (owner, group) in groups {
        lint_group(owner, &group, chains, &mut out);
    }
    out
}

fn lint_group(
    owner: Option<&Name>,
    group: &[&ZoneRecord],
    chains: &[Chain],
    out: &mut Vec<Finding>,
) {
    let mut push = |rule: Rule, severity, zr: Option<&ZoneRecord>, message: String| {
        out.push(Finding {
            rule,
            severity,
            owner: owner.cloned(),
            line: zr.map(|z| z.line),
            record: zr.map(|z| z.record.to_string()),
            message,
        });
    };
    let at = |zr: &ZoneRecord| format!("\"{}\" (line {})", zr.record, zr.line);

    if let Some(o) = owner.filter(|o| o.split_tlsa_owner().is_none()) {
        push(
            Rule::OwnerName,
            Severity::Warning,
            None,
            format!("owner {o} is not of the form _PORT._tcp.HOST"),
        );
    }
    for (i, zr) in group.iter().enumerate() {
        let r = &zr.record;
        if let Usability::Unusable(why) = r.usability() {
            let rule = match why {
                Unusable::PkixUsage(_) => Rule::PkixUsage,
                Unusable::DigestLength { .. } | Unusable::EmptyData => Rule::DigestLength,
                _ => Rule::UnassignedField,
            };
            push(
                rule,
                Severity::Error,
                Some(zr),
                format!("{} is unusable: {why}", at(zr)),
            );
        } else if r.matching_type() == MatchingType::Full && !full_data_parses(r) {
            push(
                Rule::FullDataInvalid,
                Severity::Error,
                Some(zr),
                format!("{}: {}", at(zr), Rule::FullDataInvalid.explanation()),
            );
        }
        if (r.usage(), r.selector()) == (Usage::DaneEe, Selector::Cert) {
            push(
                Rule::EeCertSelector,
                Severity::Warning,
                Some(zr),
                format!(
                    "{} pins the whole certificate: use 3 1 1 to survive renewals",
                    at(zr)
                ),
            );
        }
        if let Some(ttl) = zr.ttl.filter(|t| *t > MAX_TTL) {
            push(
                Rule::TtlHigh,
                Severity::Warning,
                Some(zr),
                format!(
                    "{} has TTL {ttl}, above the advised 1800 to 3600 seconds",
                    at(zr)
                ),
            );
        }
        if group[..i].iter().any(|earlier| earlier.record == zr.record) {
            push(
                Rule::Duplicate,
                Severity::Warning,
                Some(zr),
                format!("{} appears more than once", at(zr)),
            );
        }
    }
    let all: Vec<Tlsa> = group.iter().map(|z| z.record.clone()).collect();
    let usable: Vec<&ZoneRecord> = group
        .iter()
        .copied()
        .filter(|z| z.record.usability() == Usability::Usable)
        .collect();
    for zr in &usable {
        let r = &zr.record;
        let has_sha256 = usable.iter().any(|o| {
            (
                o.record.usage(),
                o.record.selector(),
                o.record.matching_type(),
            ) == (r.usage(), r.selector(), MatchingType::Sha256)
        });
        if r.matching_type() != MatchingType::Sha256 && !has_sha256 {
            push(
                Rule::NoSha256,
                Severity::Warning,
                Some(zr),
                format!(
                    "{} has no SHA2-256 ({} {} 1) record beside it",
                    at(zr),
                    r.usage().value(),
                    r.selector().value()
                ),
            );
        }
    }
    if group.len() > MAX_RECORDS {
        push(
            Rule::TooManyRecords,
            Severity::Warning,
            None,
            format!(
                "{} records at one owner; senders may stop after {MAX_RECORDS}",
                group.len()
            ),
        );
    }

    if chains.is_empty() {
        let distinct: Vec<&Tlsa> = usable
            .iter()
            .map(|z| &z.record)
            .fold(Vec::new(), |mut v, r| {
                if !v.contains(&r) {
                    v.push(r);
                }
                v
            });
        if distinct.len() == 1 {
            push(
                Rule::NoRollover,
                Severity::Warning,
                None,
                format!(
                    "only one usable record ({}): {}",
                    distinct[0],
                    Rule::NoRollover.explanation()
                ),
            );
        }
        return;
    }

    // With the server's chains.
    for zr in &usable {
        let r = &zr.record;
        if r.usage() == Usage::DaneTa && r.matching_type() != MatchingType::Full {
            let sent = chains.iter().any(|c| {
                c.certificates
                    .iter()
                    .skip(1)
                    .any(|cert| r.matches(Subject::Certificate(cert)))
            });
            if !sent {
                push(
                    Rule::AnchorNotSent,
                    Severity::Warning,
                    Some(zr),
                    format!(
                        "{} matches no CA certificate the server sends (depth 1 or more)",
                        at(zr)
                    ),
                );
            }
        }
    }
    let mut combos: Vec<(u8, u8, u8)> = usable.iter().map(|z| z.record.params()).collect();
    combos.sort_unstable();
    combos.dedup();
    for combo in combos {
        let any = usable
            .iter()
            .filter(|z| z.record.params() == combo)
            .any(|z| chains.iter().any(|c| chain_matches(&z.record, c)));
        if !any {
            push(
                Rule::CombinationUnmatched,
                Severity::Warning,
                None,
                format!(
                    "no {} {} {} record matches the server's current chain(s)",
                    combo.0, combo.1, combo.2
                ),
            );
        }
    }
    let profiles: [(&str, &[MatchingType]); 2] = [
        ("a sender that knows only SHA2-256", &[MatchingType::Sha256]),
        (
            "a sender that prefers SHA2-512 (digest agility)",
            &[MatchingType::Sha256, MatchingType::Sha512],
        ),
    ];
    for chain in chains {
        for (who, digests) in profiles {
            let used = usable_records(&all, digests);
            if !used.iter().any(|r| chain_matches(r, chain)) {
                let shown: Vec<String> = used.iter().map(|r| r.to_string()).collect();
                push(
                    Rule::ChainFails,
                    Severity::Error,
                    None,
                    format!(
                        "{who} cannot authenticate chain {}: it matches none of the records such a sender uses [{}]",
                        chain.describe(),
                        shown.join("; ")
                    ),
                );
            }
        }
    }
    let pins_next = usable.iter().any(|z| {
        z.record.usage() == Usage::DaneTa || !chains.iter().any(|c| chain_matches(&z.record, c))
    });
    if !pins_next {
        push(
            Rule::NoRollover,
            Severity::Warning,
            None,
            format!(
                "every record pins a key the server uses now: {}",
                Rule::NoRollover.explanation()
            ),
        );
    }
}

/// Whether a usable record matches the chain where its usage looks: DANE-EE(3) at the leaf,
/// DANE-TA(2) at depth 1 or more, or a Full(0) DANE-TA key or certificate that signed the top.
fn chain_matches(r: &Tlsa, chain: &Chain) -> bool {
    let certs = &chain.certificates;
    match r.usage() {
        Usage::DaneEe => certs
            .first()
            .is_some_and(|leaf| r.matches(Subject::Certificate(leaf))),
        Usage::DaneTa => {
            certs
                .iter()
                .skip(1)
                .any(|c| r.matches(Subject::Certificate(c)))
                || (r.matching_type() == MatchingType::Full && full_anchor_issued_top(r, certs))
        }
        _ => false,
    }
}

/// A Full(0) anchor not sent: approximated by name (its subject is the top certificate's issuer).
fn full_anchor_issued_top(r: &Tlsa, certs: &[Certificate]) -> bool {
    let Some(top) = certs.last() else {
        return false;
    };
    match r.selector() {
        Selector::Cert => {
            Certificate::from_der(r.data()).is_ok_and(|a| a.subject() == top.issuer())
        }
        // A bare key carries no name: accept it when the top certificate is not self-issued
        // (the TLS verifier checks the signature).
        _ => !top.is_self_issued(),
    }
}

fn full_data_parses(r: &Tlsa) -> bool {
    match r.selector() {
        Selector::Cert => Certificate::from_der(r.data()).is_ok(),
        Selector::Spki => crate::input::PublicKey::from_spki_der(r.data()).is_ok(),
        _ => true,
    }
}
