//! Generating the records an operator should publish (T-11), with the rollover schemes of the
//! seed how-to and RFC 7671 section 8.1: "current + next" (two `3 1 1`, the next key generated
//! before its certificate) and "current + issuer" (`3 1 1` plus `2 1 1` for an issuing CA that the
//! server sends).

use std::fmt;

use crate::input::{Certificate, PublicKey};
use crate::matching::{Subject, generate};
use crate::name::Name;
use crate::record::{MatchingType, Selector, Tlsa, Usage};

/// What a generated record pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The key of a certificate in service now.
    Current,
    /// A pre-generated key for the next certificate.
    Next,
    /// An issuing CA of the current certificate (usage DANE-TA).
    Issuer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Current => "current",
            Self::Next => "next",
            Self::Issuer => "issuer",
        })
    }
}

/// Which records to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// "current + next" when next keys are given, else "current + issuer" when an issuer
    /// certificate is available, else "current" alone (with a note).
    Auto,
    /// `3 1 1` for each current certificate and each next key.
    CurrentNext,
    /// `3 1 1` for each current certificate and `2 1 1` for its issuer.
    CurrentIssuer,
    /// `3 1 1` for each current certificate only.
    Current,
}

/// What to generate from.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The server's current certificates (one per key algorithm), each with a label for messages.
    pub leaves: Vec<(String, Certificate)>,
    /// CA certificates the server sends (from chain files or after the leaf in a cert file).
    pub issuers: Vec<Certificate>,
    /// Next keys, each with a label (the file name).
    pub next_keys: Vec<(String, PublicKey)>,
}

/// Finds the server's own certificate in the certificates of one file, whatever their order:
/// the one end-entity certificate (no CA basic constraint), or a lone self-signed certificate
/// (self-signed server certificates often carry `CA:TRUE`). The others are its issuers. A file
/// of CA certificates only (certbot's `chain.pem`) or with several end-entity certificates is
/// an error that says so: pinning a CA key as the "current" `3 1 1` breaks delivery.
pub fn split_leaf(certs: Vec<Certificate>) -> Result<(Certificate, Vec<Certificate>), String> {
    let end_entities: Vec<usize> = (0..certs.len()).filter(|i| !certs[*i].is_ca()).collect();
    let leaf = match end_entities.as_slice() {
        [i] => *i,
        [] if certs.len() == 1 && certs[0].is_self_issued() => 0,
        [] => {
            return Err(format!(
                "holds only CA certificates ({}): it looks like a chain file; give the server's own certificate (e.g. cert.pem or fullchain.pem), and the chain with --chain",
                certs
                    .iter()
                    .map(|c| format!("\"{}\"", c.subject()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        many => {
            return Err(format!(
                "holds {} end-entity certificates ({}): give one server certificate per --cert",
                many.len(),
                many.iter()
                    .map(|i| format!("\"{}\"", certs[*i].subject()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let mut rest = certs;
    let leaf = rest.remove(leaf);
    Ok((leaf, rest))
}

/// The shape of records to produce: usage 3 variants go to current and next keys, usage 2
/// variants to issuers.
pub type Variant = (Usage, Selector, MatchingType);

/// One generated record.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The record.
    pub record: Tlsa,
    /// What it pins.
    pub role: Role,
    /// A description of the pinned certificate or key, for the zone-file comment.
    pub pins: String,
}

/// The records, plus notes for the operator (printed on stderr by the CLI).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The records, without duplicates.
    pub records: Vec<Generated>,
    /// Remarks, e.g. that no rollover record could be made.
    pub notes: Vec<String>,
}

/// Generates the record set. `variants` overrides the preset's `3 1 1`/`2 1 1` shapes.
pub fn plan(
    inputs: &Inputs,
    preset: Preset,
    variants: Option<&[Variant]>,
) -> Result<Plan, GenerateError> {
    if inputs.leaves.is_empty() && inputs.next_keys.is_empty() {
        return Err(GenerateError::NoInput);
    }
    let mut plan = Plan::default();
    let issuers = issuers_of(inputs);
    let next_keys: Vec<&(String, PublicKey)> = inputs
        .next_keys
        .iter()
        .filter(|(label, key)| {
            let current = inputs
                .leaves
                .iter()
                .any(|(_, c)| c.spki_der() == key.spki_der());
            if current {
                plan.notes.push(format!(
                    "{label} holds the key of a current certificate, not a next key: skipped"
                ));
            }
            !current
        })
        .collect();
    let (with_next, with_issuer) = match (preset, variants) {
        (_, Some(v)) => (true, v.iter().any(|(u, _, _)| *u == Usage::DaneTa)),
        (Preset::Auto, None) => (
            !next_keys.is_empty(),
            next_keys.is_empty() && !issuers.is_empty(),
        ),
        (Preset::CurrentNext, None) => (true, false),
        (Preset::CurrentIssuer, None) => (false, true),
        (Preset::Current, None) => (false, false),
    };
    if with_next && next_keys.is_empty() && preset == Preset::CurrentNext {
        return Err(GenerateError::NeedsNextKey);
    }
    if with_issuer && issuers.is_empty() {
        return Err(GenerateError::NeedsIssuer);
    }
    let default_ee: &[Variant] = &[(Usage::DaneEe, Selector::Spki, MatchingType::Sha256)];
    let default_ta: &[Variant] = &[(Usage::DaneTa, Selector::Spki, MatchingType::Sha256)];
    let (ee, ta): (Vec<Variant>, Vec<Variant>) = match variants {
        Some(v) => {
            if let Some((u, _, _)) = v
                .iter()
                .find(|(u, _, _)| !matches!(u, Usage::DaneEe | Usage::DaneTa))
            {
                return Err(GenerateError::UnusableUsage(u.value()));
            }
            if let Some((u, sel, m)) = v.iter().find(|(_, sel, m)| {
                !matches!(sel, Selector::Cert | Selector::Spki)
                    || !matches!(
                        m,
                        MatchingType::Full | MatchingType::Sha256 | MatchingType::Sha512
                    )
            }) {
                return Err(GenerateError::Unproducible(
                    u.value(),
                    sel.value(),
                    m.value(),
                ));
            }
            v.iter().partition(|(u, _, _)| *u == Usage::DaneEe)
        }
        None => (default_ee.to_vec(), default_ta.to_vec()),
    };
    let mut add = |record: Option<Tlsa>, role, pins: String| {
        if let Some(record) = record.filter(|r| !plan.records.iter().any(|g| g.record == *r)) {
            plan.records.push(Generated { record, role, pins });
        }
    };
    for (_, cert) in &inputs.leaves {
        for &(u, s, m) in &ee {
            add(
                generate(Subject::Certificate(cert), u, s, m),
                Role::Current,
                describe_cert(cert),
            );
        }
    }
    if with_next {
        for (label, key) in &next_keys {
            for &(u, s, m) in &ee {
                if s == Selector::Cert {
                    plan.notes.push(format!("{label}: a bare key has no certificate to pin with selector 0: skipped {} 0 {}", u.value(), m.value()));
                }
                add(
                    generate(Subject::Key(key), u, s, m),
                    Role::Next,
                    format!("key={} file={label}", key.key_type()),
                );
            }
        }
    }
    if with_issuer {
        for cert in &issuers {
            for &(u, s, m) in &ta {
                add(
                    generate(Subject::Certificate(cert), u, s, m),
                    Role::Issuer,
                    describe_cert(cert),
                );
            }
        }
    }
    if plan.records.is_empty() {
        return Err(GenerateError::NothingGenerated);
    }
    if !plan.records.iter().any(|g| g.role != Role::Current) {
        plan.notes.push("only the current key is pinned: no safe rollover is possible; give the next key with --key, or the issuer with --chain (RFC 7671 section 8.1)".to_owned());
    }
    Ok(plan)
}

/// The issuing CA certificate (depth 1) of each leaf, found by name among the inputs.
fn issuers_of(inputs: &Inputs) -> Vec<Certificate> {
    let mut out: Vec<Certificate> = Vec::new();
    for (_, leaf) in &inputs.leaves {
        if leaf.is_self_issued() {
            continue;
        }
        if let Some(ca) = inputs
            .issuers
            .iter()
            .find(|c| c.subject() == leaf.issuer() && !out.contains(c))
        {
            out.push(ca.clone());
        }
    }
    out
}

fn describe_cert(c: &Certificate) -> String {
    let not_after = c
        .not_after()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| c.not_after().to_string());
    format!(
        "subject=\"{}\" issuer=\"{}\" notAfter={not_after} key={}",
        c.subject(),
        c.issuer(),
        c.key_type()
    )
}

/// A zone-file line for `record` at `owner`, with the pinned object as a comment.
pub fn zone_line(owner: &Name, g: &Generated) -> String {
    format!("{owner} IN TLSA {} ; {}: {}", g.record, g.role, g.pins)
}

/// Why nothing could be generated.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenerateError {
    /// Neither a certificate nor a key.
    NoInput,
    /// "current + next" without a next key.
    NeedsNextKey,
    /// "current + issuer" (or a usage 2 variant) without the issuer's certificate.
    NeedsIssuer,
    /// A variant with a usage other than 2 or 3.
    UnusableUsage(u8),
    /// A variant with a selector or matching type that no record can have.
    Unproducible(u8, u8, u8),
    /// Nothing came out (e.g. only selector 0 for bare next keys).
    NothingGenerated,
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoInput => f.write_str("no certificate or key to generate records from"),
            Self::NeedsNextKey => f.write_str("\"current + next\" needs the next key: give it with --key FILE"),
            Self::NeedsIssuer => f.write_str(
                "DANE-TA records need the issuing CA certificate: give the chain with --chain FILE (or a --cert file holding the full chain)",
            ),
            Self::Unproducible(u, sel, m) => write!(
                f,
                "--variant \"{u} {sel} {m}\": selector must be 0 or 1 and matching type 0, 1 or 2 (RFC 6698 section 2.1)"
            ),
            Self::NothingGenerated => f.write_str(
                "no record could be generated from these inputs and variants",
            ),
            Self::UnusableUsage(u) => write!(
                f,
                "usage {u} is not usable for SMTP (RFC 7672 section 3.1.3): generate DANE-TA(2) or DANE-EE(3) records"
            ),
        }
    }
}

impl std::error::Error for GenerateError {}
