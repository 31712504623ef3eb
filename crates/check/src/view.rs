//! The JSON documents of `dns`, `check` and `lab demo` (schemas in docs/json.md) as typed
//! views: serde derives the text, the golden files pin it. Fields are declared in alphabetical
//! order because that is the documented key order.
// The fields are the JSON documents' keys, each described in docs/json.md.
#![allow(missing_docs)]

use crate::{CheckReport, Probe};
use mxdane_dns::plan::{HostPlan, LookupReport, Plan};
use mxdane_dns::rdata::type_name;
use mxdane_tls::ChainCert;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `dns` document; `check` adds the fields that are `None` for `dns`.
#[derive(Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    critical: Option<Vec<String>>,
    domain: String,
    hosts: Vec<Host>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mx_lookup: Option<Lookup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mx_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<Vec<String>>,
    outcome: &'static str,
    port: u16,
    reason: String,
    resolver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Host {
    addresses: Vec<Address>,
    decision: &'static str,
    lookups: Vec<Lookup>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nameservers: Option<Vec<Nameserver>>,
    preference: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probes: Option<Vec<ProbeView>>,
    reason: String,
    reference_ids: Vec<String>,
    tlsa: Vec<String>,
    tlsa_base: Option<String>,
    tlsa_status: &'static str,
}

#[derive(Serialize)]
struct Address {
    ip: String,
    status: &'static str,
}

#[derive(Serialize)]
struct Lookup {
    name: String,
    result: String,
    status: &'static str,
    #[serde(rename = "type")]
    qtype: String,
}

#[derive(Serialize)]
struct ProbeView {
    algorithm: &'static str,
    chain: Vec<Cert>,
    cipher: Option<String>,
    detail: String,
    duration_ms: u64,
    ip: String,
    matched: Option<Matched>,
    reason: Option<&'static str>,
    result: &'static str,
    tls_version: Option<String>,
    verifies_at: Option<bool>,
}

#[derive(Serialize)]
struct Cert {
    depth: usize,
    issuer: String,
    key: String,
    not_after: Option<String>,
    not_before: Option<String>,
    spki_sha256: String,
    subject: String,
}

#[derive(Serialize)]
pub struct Matched {
    pub depth: usize,
    pub record: String,
}

#[derive(Serialize)]
struct Nameserver {
    error: Option<String>,
    ip: String,
    name: String,
    owner: String,
    serial: Option<u32>,
    signature: String,
    tlsa: Option<Vec<String>>,
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

fn lookup(l: &LookupReport) -> Lookup {
    Lookup {
        name: l.name.to_string(),
        result: l.summary(),
        status: l.status_name(),
        qtype: type_name(l.qtype),
    }
}

fn host(h: &HostPlan) -> Host {
    Host {
        addresses: h
            .addresses
            .iter()
            .map(|a| Address {
                ip: a.ip.to_string(),
                status: a.status.name(),
            })
            .collect(),
        decision: h.decision.name(),
        lookups: h.lookups.iter().map(lookup).collect(),
        name: h.name.to_string(),
        nameservers: None,
        preference: h.preference,
        probes: None,
        reason: h.reason.clone(),
        reference_ids: h.reference_ids.iter().map(ToString::to_string).collect(),
        tlsa: h.tlsa.iter().map(ToString::to_string).collect(),
        tlsa_base: h.tlsa_base.as_ref().map(ToString::to_string),
        tlsa_status: h.tlsa_status.name(),
    }
}

fn cert(depth: usize, c: &ChainCert) -> Cert {
    Cert {
        depth,
        issuer: c.issuer.clone(),
        key: c.key.clone(),
        not_after: rfc3339(c.not_after),
        not_before: rfc3339(c.not_before),
        spki_sha256: c.spki_sha256.clone(),
        subject: c.subject.clone(),
    }
}

fn probe(p: &Probe) -> ProbeView {
    ProbeView {
        algorithm: p.algorithm,
        chain: p
            .chain
            .iter()
            .enumerate()
            .map(|(d, c)| cert(d, c))
            .collect(),
        cipher: p.cipher.clone(),
        detail: p.detail.clone(),
        duration_ms: u64::try_from(p.duration.as_millis()).unwrap_or(u64::MAX),
        ip: p.ip.to_string(),
        matched: p.matched.as_ref().map(|m| Matched {
            depth: m.depth,
            record: m.record.to_string(),
        }),
        reason: p.reason.map(|r| r.name()),
        result: p.result.name(),
        tls_version: p.tls_version.clone(),
        verifies_at: p.at_verifies,
    }
}

/// The `dns` document for a plan.
pub fn plan(p: &Plan, mode: Option<&'static str>, server: &str) -> Report {
    Report {
        critical: None,
        domain: p.request.destination.to_string(),
        hosts: p.hosts.iter().map(host).collect(),
        mode,
        mx_lookup: p.mx.as_ref().map(lookup),
        // A failed lookup is "indeterminate" in this field; the lookup itself says why.
        mx_status: p.mx.as_ref().map(|mx| match mx.status_name() {
            "failed" => "indeterminate",
            s => s,
        }),
        notes: None,
        outcome: p.outcome.name(),
        port: p.request.port,
        reason: p.reason.clone(),
        resolver: server.to_owned(),
        verdict: None,
        warnings: None,
    }
}

/// The `check` document: the plan's, each host extended with its probes and nameservers,
/// and the verdict with its findings.
pub fn check(r: &CheckReport, server: &str) -> Report {
    let mut v = plan(&r.plan, None, server);
    v.hosts = r
        .hosts
        .iter()
        .map(|h| Host {
            probes: Some(h.probes.iter().map(probe).collect()),
            nameservers: Some(
                h.nameservers
                    .iter()
                    .map(|n| Nameserver {
                        error: n.tlsa.as_ref().err().cloned(),
                        ip: n.ip.to_string(),
                        name: n.name.to_string(),
                        owner: n.owner.to_string(),
                        serial: n.serial,
                        signature: match &n.signed {
                            Ok(()) => "valid".to_owned(),
                            Err(e) => e.clone(),
                        },
                        tlsa: n
                            .tlsa
                            .as_ref()
                            .ok()
                            .map(|t| t.iter().map(ToString::to_string).collect()),
                    })
                    .collect(),
            ),
            ..host(&h.plan)
        })
        .collect();
    v.critical = Some(r.critical.clone());
    v.notes = Some(r.notes.clone());
    v.verdict = Some(r.verdict.name());
    v.warnings = Some(r.warnings.clone());
    v
}

/// `tlsa generate --json`.
#[derive(Serialize)]
pub struct Generated<'a> {
    pub notes: &'a [String],
    pub records: Vec<GeneratedRecord<'a>>,
}

#[derive(Serialize)]
pub struct GeneratedRecord<'a> {
    pub data: String,
    pub matching_type: u8,
    pub owner: &'a str,
    pub pins: &'a str,
    pub rdata: String,
    pub role: String,
    pub selector: u8,
    pub usage: u8,
}

/// `tlsa lint --json`.
#[derive(Serialize)]
pub struct Lint<'a> {
    pub chains: usize,
    pub errors: usize,
    pub findings: Vec<Finding<'a>>,
    pub records: usize,
    pub warnings: usize,
}

#[derive(Serialize)]
pub struct Finding<'a> {
    pub explanation: &'static str,
    pub line: Option<usize>,
    pub message: &'a str,
    pub owner: Option<&'a str>,
    pub record: Option<&'a str>,
    pub reference: &'static str,
    pub rule: &'static str,
    pub severity: String,
}

/// `tlsa verify --json` (with records given).
#[derive(Serialize)]
pub struct Verify<'a> {
    pub at: Option<String>,
    pub chain: Vec<VerifyCert>,
    pub matched: Option<Matched>,
    pub names: Vec<&'a str>,
    pub records: Vec<RecordResult>,
    pub verdict: &'static str,
}

#[derive(Serialize)]
pub struct VerifyCert {
    pub depth: usize,
    pub issuer: String,
    pub key: String,
    pub not_after: Option<String>,
    pub not_before: Option<String>,
    pub subject: String,
}

impl VerifyCert {
    pub fn new(depth: usize, c: &mxdane_tlsa::Certificate) -> Self {
        Self {
            depth,
            issuer: c.issuer().to_owned(),
            key: c.key_type().to_string(),
            not_after: rfc3339(Some(c.not_after())),
            not_before: rfc3339(Some(c.not_before())),
            subject: c.subject().to_owned(),
        }
    }
}

/// One record's outcome, with the anchor and depth it concerns (T-10).
#[derive(Serialize)]
pub struct RecordResult {
    pub anchor: Option<AnchorView>,
    pub depth: Option<usize>,
    pub detail: String,
    pub record: String,
    pub result: &'static str,
}

#[derive(Serialize)]
pub struct AnchorView {
    position: Option<usize>,
    spki_sha256: String,
    subject: Option<String>,
}

impl RecordResult {
    pub fn new(record: &mxdane_tlsa::Tlsa, o: &mxdane_tls::RecordOutcome) -> Self {
        use mxdane_tls::RecordOutcome as O;
        let anchor = |a: &mxdane_tls::Anchor| {
            Some(AnchorView {
                position: a.position,
                spki_sha256: a.spki_sha256.clone(),
                subject: a.subject.clone(),
            })
        };
        let (anchor, depth) = match o {
            O::Matched { anchor: a, depth }
            | O::NameMismatch {
                anchor: a, depth, ..
            } => (anchor(a), Some(*depth)),
            O::ChainInvalid { anchor: a, .. } => (anchor(a), None),
            _ => (None, None),
        };
        Self {
            anchor,
            depth,
            detail: o.to_string(),
            record: record.to_string(),
            result: o.kind(),
        }
    }
}

/// The pre-deployment gate's document (`tlsa verify --host --json`).
#[derive(Serialize)]
pub struct Gate<'a> {
    pub at: Option<String>,
    pub cannot_tell: &'a [String],
    pub gate: &'static str,
    pub host: &'a str,
    pub owner: Option<String>,
    pub servers: Vec<GateServer<'a>>,
}

#[derive(Serialize)]
pub struct GateServer<'a> {
    pub detail: &'a str,
    pub ip: String,
    pub name: String,
    pub records: &'a [String],
    pub result: &'static str,
}

/// RFC 3339, for the documents' times.
pub fn time(t: OffsetDateTime) -> Option<String> {
    rfc3339(Some(t))
}
