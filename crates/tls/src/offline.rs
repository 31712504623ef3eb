//! Judging a chain against TLSA records without a handshake (`mxdane tlsa verify`).

use mxdane_tlsa::matching::SUPPORTED_DIGESTS;
use mxdane_tlsa::{
    Certificate, DnsName, MatchingType, Subject, Tlsa, Unusable, Usability, Usage, usable_records,
};
use time::OffsetDateTime;

/// What became of one record.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The record authenticates the chain; the certificate at `depth` matched (0 = leaf).
    Matched {
        /// Chain depth of the matching certificate.
        depth: usize,
    },
    /// The record matches no certificate where its usage looks.
    NoMatch,
    /// The record can never be used (RFC 7672 section 3.1).
    Unusable(Unusable),
    /// Digest agility (RFC 7671 section 9): a stronger digest of the same usage and selector is
    /// present, so senders ignore this record.
    Superseded,
    /// The record matched a chain certificate, but judging it needs a check this version lacks.
    NotJudged {
        /// Chain depth of the certificate the digest matched, if any.
        depth: Option<usize>,
        /// What is missing.
        reason: &'static str,
    },
}

/// The overall verdict. Only this crate constructs [`Verdict::Authenticated`].
#[must_use]
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A usable record authenticated the chain.
    Authenticated {
        /// Index of the record in the input.
        record: usize,
        /// Chain depth of the matching certificate.
        depth: usize,
        /// Keeps the variant unconstructible outside this crate.
        #[doc(hidden)]
        _sealed: Sealed,
    },
    /// No usable record authenticates the chain.
    NotAuthenticated,
    /// Nothing authenticated, but some records could not be judged: no guess is made.
    Undetermined,
}

/// A marker only this crate can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed(());

/// The outcome of every record plus the verdict.
#[derive(Clone, Debug)]
pub struct Report {
    outcomes: Vec<RecordOutcome>,
    verdict: Verdict,
}

impl Report {
    /// One outcome per input record, in input order.
    pub fn outcomes(&self) -> &[RecordOutcome] {
        &self.outcomes
    }

    /// The verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }
}

const TA_PENDING: &str = "DANE-TA(2) path validation and name checks are not implemented yet";

/// Judges `chain` (leaf first, as the server sends it) against `records` at time `at`, with the
/// reference identifiers `names` for DANE-TA name checks (the TLSA base domain first).
///
/// DANE-EE(3) ignores names and dates (RFC 7672 section 3.1.1), so `names` and `at` only matter
/// to DANE-TA(2), which this version does not judge yet.
pub fn verify_chain(
    chain: &[Certificate],
    records: &[Tlsa],
    names: &[DnsName],
    at: OffsetDateTime,
) -> Report {
    let _ = (names, at);
    let used = usable_records(records, SUPPORTED_DIGESTS);
    let outcomes: Vec<RecordOutcome> = records
        .iter()
        .map(|r| {
            if let Usability::Unusable(why) = r.usability() {
                return RecordOutcome::Unusable(why);
            }
            if !used.iter().any(|u| std::ptr::eq(*u, r)) {
                return RecordOutcome::Superseded;
            }
            match r.usage() {
                Usage::DaneEe => match chain.first() {
                    Some(leaf) if r.matches(Subject::Certificate(leaf)) => {
                        RecordOutcome::Matched { depth: 0 }
                    }
                    _ => RecordOutcome::NoMatch,
                },
                _ => {
                    let depth = chain
                        .iter()
                        .enumerate()
                        .skip(1)
                        .find(|(_, c)| r.matches(Subject::Certificate(c)))
                        .map(|(d, _)| d);
                    if depth.is_some() || r.matching_type() == MatchingType::Full {
                        RecordOutcome::NotJudged {
                            depth,
                            reason: TA_PENDING,
                        }
                    } else {
                        RecordOutcome::NoMatch
                    }
                }
            }
        })
        .collect();
    let verdict = match outcomes.iter().enumerate().find_map(|(i, o)| match o {
        RecordOutcome::Matched { depth } => Some((i, *depth)),
        _ => None,
    }) {
        Some((record, depth)) => Verdict::Authenticated {
            record,
            depth,
            _sealed: Sealed(()),
        },
        None if outcomes
            .iter()
            .any(|o| matches!(o, RecordOutcome::NotJudged { .. })) =>
        {
            Verdict::Undetermined
        }
        None => Verdict::NotAuthenticated,
    };
    Report { outcomes, verdict }
}
