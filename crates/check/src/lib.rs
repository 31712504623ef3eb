//! `mxdane check`: the plan, then every host x address x key algorithm probed concurrently,
//! every authoritative nameserver of each TLSA zone asked directly, expiry and TTL advice, and
//! one verdict that monitoring can trust (ok, warning, critical, unknown).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod judge;
mod nameservers;
mod probe;
pub mod view;

use judge::judge;
pub use nameservers::nameserver_answers;
pub use probe::probe;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mxdane_dns::plan::{self, Decision, HostPlan, Outcome, Plan, Request, TlsaStatus};
use mxdane_dns::rdata::rtype;
use mxdane_dns::{Name, Resolver, Status, Transport};
use mxdane_smtp::{Connector, Policy, Security, SessionReport, Settings, SmtpError};
use mxdane_tls::{ChainCert, KeyFilter, RecordOutcome, TlsFailure, Verdict as TlsVerdict};
use mxdane_tlsa::Tlsa;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// Which address families to probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    /// IPv4 and IPv6.
    #[default]
    Any,
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

/// Options of a check.
#[derive(Clone, Debug)]
pub struct Options {
    /// The SMTP port.
    pub port: u16,
    /// A domain (its MX hosts) or one host.
    pub kind: plan::Kind,
    /// Warn about signatures and certificates expiring within this many days.
    pub expiry_days: u32,
    /// Also judge every chain at this time ("will it still verify then?").
    pub at: Option<OffsetDateTime>,
    /// Address families.
    pub family: Family,
    /// SMTP timeouts and limits.
    pub settings: Settings,
    /// Most probes at once.
    pub concurrency: usize,
    /// The name to say in EHLO.
    pub helo: String,
    /// The whole DNS phase (the plan) must end within this (D-19); past it the check says
    /// `unknown`, naming the limit.
    pub dns_deadline: Duration,
    /// Warn about a host whose only usable TLSA record is one DANE-EE record: no "next" key
    /// and no issuer record, so a key change breaks DANE unless the new record is published
    /// two TTLs ahead (RFC 7671 section 8.1; the monitor's `require-next`).
    pub require_next: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 25,
            kind: plan::Kind::Domain,
            expiry_days: 7,
            at: None,
            family: Family::Any,
            settings: Settings::default(),
            concurrency: 16,
            helo: "mxdane.invalid".into(),
            dns_deadline: Duration::from_secs(60),
            require_next: false,
        }
    }
}

/// How a check reaches the world (tests point everything at the lab).
#[derive(Clone)]
pub struct Environment {
    /// The resolver for the plan and the nameserver lookups.
    pub resolver: Arc<dyn Resolver>,
    /// Where SMTP connections go.
    pub connector: Connector,
    /// A transport to one authoritative nameserver address (port 53).
    pub nameserver: Arc<dyn Fn(SocketAddr) -> Arc<dyn Transport> + Send + Sync>,
}

/// The TLSA record that authenticated a server's chain, and the depth in the chain of the
/// certificate it matched (0: the leaf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    /// The record.
    pub record: Tlsa,
    /// The depth.
    pub depth: usize,
}

impl Matched {
    /// Whether the record is DANE-TA (an issuer's, so the chain's other certificates count).
    pub fn is_dane_ta(&self) -> bool {
        self.record.usage() == mxdane_tlsa::Usage::DaneTa
    }
}

/// The result of one probe (closed list; README's verdict table uses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    /// DANE authenticated the server.
    Verified,
    /// TLS without DANE authentication where none was required.
    Encrypted,
    /// No STARTTLS where none was required.
    Plaintext,
    /// The chain does not authenticate (see the reason).
    Mismatch,
    /// STARTTLS missing or refused where TLS was required.
    NoStartTls,
    /// The TLS handshake or session failed.
    TlsFailed,
    /// No connection.
    ConnectFailed,
    /// The server has no certificate of the probed key type.
    NoSuchCertificate,
    /// This machine cannot reach the address family (e.g. no IPv6 route).
    UnreachableLocally,
}

impl ProbeResult {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Encrypted => "encrypted",
            Self::Plaintext => "plaintext",
            Self::Mismatch => "mismatch",
            Self::NoStartTls => "no-starttls",
            Self::TlsFailed => "tls-failed",
            Self::ConnectFailed => "connect-failed",
            Self::NoSuchCertificate => "no-such-certificate",
            Self::UnreachableLocally => "unreachable-locally",
        }
    }
}

/// Why a probe ended as it did: a closed list, for scripts (the prose is in `Probe::detail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeReason {
    /// No DANE record matches the chain.
    NoMatch,
    /// A DANE-TA record matched, but no reference identifier is in the certificate.
    NameMismatch,
    /// A DANE-TA chain is outside its validity (expired or not yet valid).
    Expired,
    /// A DANE-TA chain does not build (no path, bad signature, an issuer that is not a CA).
    ChainInvalid,
    /// The server does not offer STARTTLS.
    StarttlsNotOffered,
    /// The server refused the STARTTLS command.
    StarttlsRefused,
    /// The server sent data between its STARTTLS reply and the handshake (command injection).
    Injection,
    /// The TLS handshake failed (an alert, a protocol error, a bad handshake signature).
    TlsHandshake,
    /// The server has no certificate of the key type the probe asked for.
    OtherKeyType,
    /// The server refused an SMTP command (banner or EHLO) with an error reply.
    Rejected,
    /// The server broke the SMTP protocol (a malformed or over-long reply).
    ProtocolError,
    /// The server closed the connection.
    Closed,
    /// A step took longer than its timeout.
    Timeout,
    /// A network error (refused, reset), at connect or later.
    NetworkError,
    /// This machine has no route for the address family.
    NoRoute,
    /// The host name cannot be a TLS server name.
    UnusableName,
    /// The session ended without success for another reason.
    Incomplete,
}

impl ProbeReason {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoMatch => "no-match",
            Self::NameMismatch => "name-mismatch",
            Self::Expired => "expired",
            Self::ChainInvalid => "chain-invalid",
            Self::StarttlsNotOffered => "starttls-not-offered",
            Self::StarttlsRefused => "starttls-refused",
            Self::Injection => "injection",
            Self::TlsHandshake => "tls-handshake",
            Self::OtherKeyType => "other-key-type",
            Self::Rejected => "rejected",
            Self::ProtocolError => "protocol-error",
            Self::Closed => "closed",
            Self::Timeout => "timeout",
            Self::NetworkError => "network-error",
            Self::NoRoute => "no-route",
            Self::UnusableName => "unusable-name",
            Self::Incomplete => "incomplete",
        }
    }

    /// Every reason, for documentation and tests.
    pub const ALL: [Self; 17] = [
        Self::NoMatch,
        Self::NameMismatch,
        Self::Expired,
        Self::ChainInvalid,
        Self::StarttlsNotOffered,
        Self::StarttlsRefused,
        Self::Injection,
        Self::TlsHandshake,
        Self::OtherKeyType,
        Self::Rejected,
        Self::ProtocolError,
        Self::Closed,
        Self::Timeout,
        Self::NetworkError,
        Self::NoRoute,
        Self::UnusableName,
        Self::Incomplete,
    ];
}

/// One probe: an address and a key algorithm.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The address.
    pub ip: IpAddr,
    /// `default`, `rsa` or `ecdsa`.
    pub algorithm: &'static str,
    /// The result.
    pub result: ProbeResult,
    /// Why, for every result but `verified` and `encrypted` (a closed list).
    pub reason: Option<ProbeReason>,
    /// The same in prose, with what the server said or the error (may be empty).
    pub detail: String,
    /// TLS version.
    pub tls_version: Option<String>,
    /// Cipher suite.
    pub cipher: Option<String>,
    /// The chain the server sent.
    pub chain: Vec<ChainCert>,
    /// The record that matched and the depth.
    pub matched: Option<Matched>,
    /// With `--at`: whether the chain would still authenticate then.
    pub at_verifies: Option<bool>,
    /// How long the probe took.
    pub duration: std::time::Duration,
    /// The SMTP dialogue (`C: `, `S: `, `TLS: ` lines).
    pub transcript: Vec<String>,
}

/// What one authoritative nameserver says about a TLSA RRset (M-01).
pub use mxdane_dns::nameservers::ServerAnswer as NsAnswer;

impl Probe {
    /// Why, for people: the prose when there is some, else the reason's name.
    pub fn why(&self) -> &str {
        match (self.detail.is_empty(), self.reason) {
            (false, _) => &self.detail,
            (true, Some(r)) => r.name(),
            (true, None) => "",
        }
    }
}

/// One host's checks.
#[derive(Clone, Debug)]
pub struct HostCheck {
    /// Its plan.
    pub plan: HostPlan,
    /// Every probe.
    pub probes: Vec<Probe>,
    /// Every authoritative answer for its TLSA RRset.
    pub nameservers: Vec<NsAnswer>,
    /// Why those answers are not provably every server's, if they are not.
    pub nameserver_gap: Option<NsGap>,
}

/// Why the nameserver view of a host is missing or partial (P-03: it rests on validated data
/// only, and says what it could not see).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NsGap {
    /// No view: a lookup it rests on (the apex NS or DNSKEY RRset) is not secure or failed.
    Unavailable(String),
    /// Some servers could not be found, or the bounds left some out.
    Incomplete(String),
}

impl NsGap {
    /// The explanation.
    pub fn why(&self) -> &str {
        match self {
            Self::Unavailable(w) | Self::Incomplete(w) => w,
        }
    }
}

/// The verdict, with monitoring-plugin exit codes; the monitor's level of a target is this
/// (`mxdane_monitor::state::Level`), stored by its name.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// 0.
    Ok,
    /// 1.
    Warning,
    /// 2.
    Critical,
    /// 3: the checker itself could not resolve or reach anything.
    Unknown,
}

impl Verdict {
    /// `ok`, `warning`, `critical`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Unknown => "unknown",
        }
    }

    /// The inverse of [`Verdict::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Self::Ok),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }

    /// The monitoring-plugin exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Critical => 2,
            Self::Unknown => 3,
        }
    }

    /// The number the metrics use: the exit code.
    pub fn code(self) -> i64 {
        i64::from(self.exit_code())
    }
}

/// The whole check.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The plan.
    pub plan: Plan,
    /// Per host.
    pub hosts: Vec<HostCheck>,
    /// Problems that make the verdict critical.
    pub critical: Vec<String>,
    /// Problems that make it a warning.
    pub warnings: Vec<String>,
    /// Advice that does not change the verdict (TTLs outside the how-to's range).
    pub notes: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
}

const ALGORITHMS: [(&str, KeyFilter); 3] = [
    ("default", KeyFilter::Any),
    ("rsa", KeyFilter::Rsa),
    ("ecdsa", KeyFilter::Ecdsa),
];

/// Runs the check. The plan and DNS lookups are blocking and run on a blocking thread; the
/// probes run concurrently, at most `options.concurrency` at a time.
pub async fn check(env: Environment, destination: Name, options: Options) -> CheckReport {
    let request = Request {
        destination,
        port: options.port,
        kind: options.kind,
    };
    // Beside the plan: can our own resolver give a validated root DNSKEY at all? If not, every
    // answer below is suspect and the truth is "unknown", not a verdict about the domain.
    let root = Name::root();
    let planning = futures_util::future::join(
        plan::plan(env.resolver.as_ref(), &request),
        env.resolver.lookup(&root, rtype::DNSKEY),
    );
    let (plan, root_key) = match tokio::time::timeout(options.dns_deadline, planning).await {
        Ok(p) => p,
        Err(_) => {
            let why = format!(
                "the DNS phase took longer than {} s (limit dns_deadline): the checker cannot tell",
                options.dns_deadline.as_secs()
            );
            return CheckReport {
                plan: Plan {
                    request,
                    mx: None,
                    outcome: Outcome::Defer,
                    reason: why.clone(),
                    hosts: Vec::new(),
                    limits: vec![why.clone()],
                },
                hosts: Vec::new(),
                critical: vec![why],
                warnings: Vec::new(),
                notes: Vec::new(),
                verdict: Verdict::Unknown,
            };
        }
    };
    // The nameserver comparison runs beside the probes (it needs only the plan), one task
    // per host.
    let ns_tasks: Vec<_> = plan
        .hosts
        .iter()
        .enumerate()
        .map(|(hi, h)| {
            let (env, h, port) = (env.clone(), h.clone(), options.port);
            (
                hi,
                tokio::spawn(async move { nameserver_answers(&env, &h, port).await }),
            )
        })
        .collect();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = Vec::new();
    for (hi, h) in plan.hosts.iter().enumerate() {
        if h.decision == Decision::Skip {
            continue;
        }
        for a in &h.addresses {
            let wanted = match options.family {
                Family::Any => true,
                Family::V4 => a.ip.is_ipv4(),
                Family::V6 => a.ip.is_ipv6(),
            };
            if !wanted {
                continue;
            }
            for (alg, filter) in ALGORITHMS {
                let (h, ip, env, options, sem) = (
                    h.clone(),
                    a.ip,
                    env.clone(),
                    options.clone(),
                    semaphore.clone(),
                );
                tasks.push((
                    hi,
                    tokio::spawn(async move {
                        let _permit = sem.acquire_owned().await;
                        probe(&env, &h, ip, alg, filter, &options).await
                    }),
                ));
            }
        }
    }
    let mut lost = Vec::new();
    let mut hosts: Vec<HostCheck> = plan
        .hosts
        .iter()
        .map(|h| HostCheck {
            plan: h.clone(),
            probes: Vec::new(),
            nameservers: Vec::new(),
            nameserver_gap: None,
        })
        .collect();
    for (hi, (ns, gap)) in join_each(ns_tasks, "the nameserver comparison", &plan, &mut lost).await
    {
        hosts[hi].nameservers = ns;
        hosts[hi].nameserver_gap = gap;
    }
    for (hi, p) in join_each(tasks, "a probe", &plan, &mut lost).await {
        hosts[hi].probes.push(p);
    }
    let mut report = CheckReport {
        plan,
        hosts,
        critical: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        verdict: Verdict::Ok,
    };
    judge(&mut report, &options);
    if !lost.is_empty() {
        report.critical.splice(0..0, lost);
        report.verdict = Verdict::Unknown;
    }
    if let Some(why) = resolver_broken(&root_key, env.resolver.mode()) {
        report.critical.insert(0, why);
        report.verdict = Verdict::Unknown;
    }
    report
}

/// Waits for each host's tasks. A task that failed (a panic) is the checker's failure: it is
/// named in `lost` (which makes the verdict unknown), never silently left out (issue 19).
async fn join_each<T>(
    tasks: Vec<(usize, tokio::task::JoinHandle<T>)>,
    what: &str,
    plan: &Plan,
    lost: &mut Vec<String>,
) -> Vec<(usize, T)> {
    let mut done = Vec::with_capacity(tasks.len());
    for (hi, t) in tasks {
        match t.await {
            Ok(v) => done.push((hi, v)),
            Err(e) => lost.push(format!(
                "{}: {what} did not finish ({e}): the checker cannot tell",
                plan.hosts[hi].name
            )),
        }
    }
    done
}

/// Why the resolver cannot be trusted to judge anything, if it cannot: the root DNSKEY lookup
/// fails or is bogus (every chain of trust starts there), or, in trusted-AD mode, the resolver
/// does not validate it. (In validating mode an insecure root DNSKEY is fine: the trust anchor
/// may be for another zone.)
fn resolver_broken(
    root_key: &Result<mxdane_dns::Lookup, mxdane_dns::LookupError>,
    mode: &str,
) -> Option<String> {
    let hint = "fix the resolver, or choose another with --resolver or --recursive";
    match root_key {
        Err(e) => Some(format!(
            "our resolver cannot look up the root DNSKEY ({e}): the checker cannot tell; {hint}"
        )),
        Ok(l) if matches!(l.status(), Status::Bogus(_) | Status::Indeterminate(_)) => {
            Some(format!(
                "our resolver gives a root DNSKEY that does not validate ({}): the checker cannot tell; {hint}",
                l.status()
            ))
        }
        Ok(l) if mode == "trusted-ad" && *l.status() != Status::Secure => Some(format!(
            "the --trust-ad resolver does not validate (no AD bit on the root DNSKEY): the checker cannot tell; {hint}"
        )),
        Ok(_) => None,
    }
}

/// A TLSA record list for JSON.
pub fn tlsa_texts(t: &[Tlsa]) -> Vec<String> {
    t.iter().map(ToString::to_string).collect()
}
