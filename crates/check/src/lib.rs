//! `mxdane check`: the plan, then every host x address x key algorithm probed concurrently,
//! every authoritative nameserver of each TLSA zone asked directly, expiry and TTL advice, and
//! one verdict that monitoring can trust (ok, warning, critical, unknown).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod view;

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
    /// Check a host instead of a domain.
    pub host: bool,
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
            host: false,
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
    pub matched: Option<(String, usize)>,
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

/// The verdict, with monitoring-plugin exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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

    /// The monitoring-plugin exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Critical => 2,
            Self::Unknown => 3,
        }
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
        host: options.host,
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

pub(crate) use mxdane_smtp::deliver::dane_target as target;

/// One probe of `ip` for host `h` under the plan's policy for it (the survey probes through
/// this too).
pub async fn probe(
    env: &Environment,
    h: &HostPlan,
    ip: IpAddr,
    alg: &'static str,
    filter: KeyFilter,
    options: &Options,
) -> Probe {
    let mut p = Probe {
        ip,
        algorithm: alg,
        result: ProbeResult::TlsFailed,
        reason: None,
        detail: String::new(),
        tls_version: None,
        cipher: None,
        chain: Vec::new(),
        matched: None,
        at_verifies: None,
        duration: std::time::Duration::ZERO,
        transcript: Vec::new(),
    };
    let started = tokio::time::Instant::now();
    let Some(t) = target(h, filter) else {
        p.reason = Some(ProbeReason::UnusableName);
        p.detail = format!("{} is not a usable TLS name", h.name);
        return p;
    };
    let policy = match h.decision {
        Decision::Dane => Policy::Dane(t),
        Decision::TlsMandatory => Policy::Encrypt(t),
        _ => Policy::May(t),
    };
    let s = mxdane_smtp::session(
        &env.connector,
        SocketAddr::new(ip, options.port),
        &policy,
        &options.helo,
        options.settings,
    )
    .await;
    fill(&mut p, &s, h, options);
    p.duration = started.elapsed();
    p
}

fn fill(p: &mut Probe, s: &SessionReport, h: &HostPlan, options: &Options) {
    p.transcript = s.transcript.clone();
    if let Some(tls) = &s.tls {
        if !tls.version.is_empty() {
            p.tls_version = Some(tls.version.clone());
            p.cipher = Some(tls.cipher.clone());
        }
        if let Some(r) = &tls.report {
            p.chain = r.chain().to_vec();
            if let TlsVerdict::Authenticated { record, depth, .. } = r.verdict() {
                p.matched = h.tlsa.get(*record).map(|t| (t.to_string(), *depth));
            }
            if let Some(at) = options.at {
                let ders: Vec<_> = p.chain.iter().map(|c| c.der.clone().into()).collect();
                let names: Vec<Name> = h.reference_ids.to_vec();
                let later =
                    mxdane_tls::verify_chain(&ders, &h.tlsa, &names, mxdane_tls::unix_time(at));
                p.at_verifies = Some(later.is_authenticated());
            }
        }
    }
    let detail = s
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    use ProbeReason as R;
    let (result, reason, detail) = match (&s.error, s.success, s.security) {
        (None, true, Security::Authenticated) => (ProbeResult::Verified, None, String::new()),
        (None, true, Security::Encrypted) => (ProbeResult::Encrypted, None, String::new()),
        (None, true, Security::Plaintext) => (
            ProbeResult::Plaintext,
            Some(R::StarttlsNotOffered),
            "no STARTTLS, none required".into(),
        ),
        (Some(SmtpError::NoStartTls), ..) => (
            ProbeResult::NoStartTls,
            Some(R::StarttlsNotOffered),
            "STARTTLS is not offered".into(),
        ),
        (Some(SmtpError::Rejected(mxdane_smtp::Stage::StartTls, r)), ..) => (
            ProbeResult::NoStartTls,
            Some(R::StarttlsRefused),
            format!("STARTTLS refused: {}", r.summary()),
        ),
        (Some(SmtpError::Tls(TlsFailure::NotAuthenticated(r))), ..) => {
            let reason = mismatch_reason(r.outcomes());
            (ProbeResult::Mismatch, Some(reason), String::new())
        }
        (Some(SmtpError::Tls(TlsFailure::NoCertificateOfType { .. })), ..) => (
            ProbeResult::NoSuchCertificate,
            Some(R::OtherKeyType),
            detail,
        ),
        (Some(SmtpError::Io(e)), ..) if s.reached == mxdane_smtp::Stage::Connect => {
            let local = matches!(e.raw_os_error(), Some(101 | 99))
                || (p.ip.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable);
            if local {
                (
                    ProbeResult::UnreachableLocally,
                    Some(R::NoRoute),
                    e.to_string(),
                )
            } else {
                (
                    ProbeResult::ConnectFailed,
                    Some(R::NetworkError),
                    e.to_string(),
                )
            }
        }
        (Some(SmtpError::Timeout(mxdane_smtp::Stage::Connect)), ..) => (
            ProbeResult::ConnectFailed,
            Some(R::Timeout),
            "connect timed out".into(),
        ),
        (Some(e), ..) => {
            let reason = match e {
                SmtpError::Tls(TlsFailure::Io(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    R::Closed
                }
                SmtpError::Io(_) | SmtpError::Tls(TlsFailure::Io(_)) => R::NetworkError,
                SmtpError::Closed => R::Closed,
                SmtpError::Timeout(_) => R::Timeout,
                SmtpError::Protocol(_) => R::ProtocolError,
                // A probe sends no message: these come only from a mail transaction.
                SmtpError::Rejected(..) | SmtpError::TooBig { .. } | SmtpError::Utf8Unsupported => {
                    R::Rejected
                }
                SmtpError::Injection(_) => R::Injection,
                SmtpError::Tls(_) => R::TlsHandshake,
                SmtpError::NoStartTls => R::StarttlsNotOffered,
            };
            (ProbeResult::TlsFailed, Some(reason), detail)
        }
        (None, ..) => (
            ProbeResult::TlsFailed,
            Some(R::Incomplete),
            "the session ended without success".into(),
        ),
    };
    p.result = result;
    p.reason = reason;
    p.detail = detail;
}

fn mismatch_reason(outcomes: &[RecordOutcome]) -> ProbeReason {
    let mut best = ProbeReason::NoMatch;
    for o in outcomes {
        match o {
            RecordOutcome::NameMismatch { .. } => best = ProbeReason::NameMismatch,
            RecordOutcome::ChainInvalid { problem, .. } if best != ProbeReason::NameMismatch => {
                best = match problem {
                    mxdane_tls::ChainProblem::Expired
                    | mxdane_tls::ChainProblem::NotYetValid
                    | mxdane_tls::ChainProblem::AnchorNotValid => ProbeReason::Expired,
                    _ => ProbeReason::ChainInvalid,
                };
            }
            _ => {}
        }
    }
    best
}

/// Asks every authoritative nameserver of the zone of `h`'s TLSA RRset for it (M-01), with
/// why the answers are not every server's when they are not.
pub async fn nameserver_answers(
    env: &Environment,
    h: &HostPlan,
    port: u16,
) -> (Vec<NsAnswer>, Option<NsGap>) {
    let Some(base) = &h.tlsa_base else {
        return (Vec::new(), None);
    };
    let owner = match base.tlsa_owner(port) {
        Ok(o) => o,
        Err(e) => return (Vec::new(), Some(NsGap::Unavailable(e.to_string()))),
    };
    // A TLSA owner that is an alias (RFC 7672 section 2.2.3): the servers that matter are
    // those of the name at the end of the validated chain.
    let owner = match env.resolver.lookup(&owner, rtype::TLSA).await {
        Ok(l) if *l.status() == Status::Secure => l.final_name().clone(),
        _ => owner,
    };
    let now = u32::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(u32::MAX);
    match mxdane_dns::nameservers::ask_all(env.resolver.as_ref(), &env.nameserver, &owner, now)
        .await
    {
        Ok(view) => {
            let gap = view.servers.incomplete().map(NsGap::Incomplete);
            (view.answers, gap)
        }
        Err(e) => (Vec::new(), Some(NsGap::Unavailable(e.to_string()))),
    }
}

fn judge(r: &mut CheckReport, options: &Options) {
    let now = OffsetDateTime::now_utc();
    // A window past what the calendar holds (a library caller's huge expiry_days) ends at its
    // last day.
    let soon = now
        .checked_add(time::Duration::days(i64::from(options.expiry_days)))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc());
    let soon_unix = u32::try_from(soon.unix_timestamp()).unwrap_or(u32::MAX);
    let (mut crit, mut warn, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    // The resolver itself is unusable: unknown.
    if let Some(mx) = &r.plan.mx
        && let Err(e) = &mx.result
        && matches!(
            e,
            mxdane_dns::LookupError::Timeout { .. } | mxdane_dns::LookupError::Network(_)
        )
    {
        r.critical.push(format!("the MX lookup failed: {e}"));
        r.verdict = Verdict::Unknown;
        return;
    }
    // D-19: a bound that cut the work short is said; what was checked is only part.
    for l in &r.plan.limits {
        warn.push(format!("work bound reached: {l}"));
    }
    if let Some(mx) = &r.plan.mx {
        match &mx.result {
            Ok(l) if matches!(l.status(), Status::Bogus(_)) => {
                crit.push(format!("the MX lookup is bogus: {}", l.status()))
            }
            Ok(l) => {
                if let Some(e) = l.expires().filter(|e| *e < soon_unix) {
                    warn.push(format!(
                        "the MX RRSIG expires at {}",
                        mxdane_dns::rdata::rrsig_time(e)
                    ));
                }
            }
            Err(e) => crit.push(format!("the MX lookup failed: {e}")),
        }
    }
    match r.plan.outcome {
        Outcome::NoSuchDomain => warn.push("the domain does not exist".into()),
        Outcome::NullMx => warn.push("the domain accepts no mail (null MX)".into()),
        _ => {}
    }
    // Mail that cannot be delivered is never ok: no host of the destination can be tried.
    if r.plan.outcome == Outcome::Defer
        && !r.hosts.is_empty()
        && r.hosts.iter().all(|h| h.plan.decision == Decision::Skip)
    {
        crit.push(format!(
            "no host can be tried: mail to {} is deferred ({})",
            r.plan.request.destination, r.plan.reason
        ));
    }
    let any_dane = r.hosts.iter().any(|h| h.plan.decision == Decision::Dane);
    let any_lookup_ok = r.hosts.iter().any(|h| !h.plan.addresses.is_empty());
    if !any_dane && r.plan.outcome == Outcome::Deliverable {
        warn.push("DANE is not in effect: no host has usable TLSA records".into());
    }
    if any_dane && r.plan.mx_status() == Some("insecure") {
        warn.push(
            "the MX lookup is insecure: DANE protects the hosts, but not the list of hosts (RFC 7672 section 2.2.1)"
                .into(),
        );
    }
    let working = r.hosts.iter().any(|h| {
        h.probes.iter().any(|p| {
            matches!(
                p.result,
                ProbeResult::Verified | ProbeResult::Encrypted | ProbeResult::Plaintext
            )
        })
    });
    for h in &r.hosts {
        let name = &h.plan.name;
        if options.require_next && h.plan.decision == Decision::Dane {
            let usable: Vec<&Tlsa> = h
                .plan
                .tlsa
                .iter()
                .filter(|t| {
                    matches!(
                        t.usage(),
                        mxdane_tlsa::Usage::DaneEe | mxdane_tlsa::Usage::DaneTa
                    )
                })
                .collect();
            if let [only] = usable.as_slice()
                && only.usage() == mxdane_tlsa::Usage::DaneEe
            {
                warn.push(format!(
                    "{name}: one DANE-EE record and nothing else: no next key's record and no issuer record is published, so a key change breaks DANE unless its record goes out two TTLs ahead (RFC 7671 section 8.1)"
                ));
            }
        }
        match &h.plan.tlsa_status {
            TlsaStatus::Bogus(why) => {
                crit.push(format!("{name}: the TLSA lookup is bogus ({why})"))
            }
            TlsaStatus::Failed(why) if any_lookup_ok => crit.push(format!(
                "{name}: the TLSA lookup fails ({why}) while other lookups work: DANE senders defer"
            )),
            TlsaStatus::Indeterminate(why) => {
                crit.push(format!("{name}: the TLSA lookup is indeterminate ({why})"))
            }
            _ => {}
        }
        // A host that cannot be tried (its name does not exist, its address lookups fail or
        // are bogus): mail for it waits or goes elsewhere.
        if h.plan.decision == Decision::Skip && h.plan.addresses.is_empty() {
            warn.push(format!("{name}: cannot be tried: {}", h.plan.reason));
        }
        for l in &h.plan.lookups {
            if let Ok(look) = &l.result {
                if let Some(e) = look.expires().filter(|e| *e < soon_unix) {
                    warn.push(format!(
                        "{}: the {} RRSIG expires at {}",
                        l.name,
                        mxdane_dns::rdata::type_name(l.qtype),
                        mxdane_dns::rdata::rrsig_time(e)
                    ));
                }
                // Advice, not a fault: it never changes the verdict.
                if l.qtype == rtype::TLSA
                    && let Some(ttl) = look.ttl()
                    && !(1800..=3600).contains(&ttl)
                {
                    notes.push(format!(
                        "{}: TLSA TTL {ttl} s is outside the how-to's 1800 to 3600 s (a short TTL costs queries; a long one slows rollovers)",
                        l.name
                    ));
                }
            }
        }
        let required = matches!(h.plan.decision, Decision::Dane | Decision::TlsMandatory);
        for p in &h.probes {
            let what = format!("{name} {} {}", p.ip, p.algorithm);
            match p.result {
                ProbeResult::Mismatch | ProbeResult::NoStartTls | ProbeResult::TlsFailed
                    if required =>
                {
                    crit.push(format!("{what}: {} ({})", p.result.name(), p.why()));
                }
                ProbeResult::ConnectFailed if working => {
                    warn.push(format!("{what}: unreachable ({})", p.why()))
                }
                ProbeResult::ConnectFailed => {
                    crit.push(format!("{what}: unreachable ({})", p.why()))
                }
                _ => {}
            }
            if let Some(false) = p.at_verifies {
                warn.push(format!("{what}: would not verify at the --at time"));
            }
            // DANE-TA chain certificates expiring soon.
            if h.plan.decision == Decision::Dane
                && p.matched
                    .as_ref()
                    .is_some_and(|(rec, _)| rec.starts_with("2 "))
            {
                for c in p.chain.iter().skip(1) {
                    if c.not_after.is_some_and(|t| t < soon) {
                        warn.push(format!(
                            "{what}: chain certificate {} expires {}",
                            c.subject,
                            c.not_after.map(|t| t.to_string()).unwrap_or_default()
                        ));
                    }
                }
            }
        }
        // M-01: every authoritative server must publish the same TLSA RRset.
        let sets: BTreeSet<Vec<String>> = h
            .nameservers
            .iter()
            .filter_map(|a| a.tlsa.clone().ok())
            .collect();
        if sets.len() > 1 {
            warn.push(format!(
                "{name}: the authoritative servers publish different TLSA RRsets"
            ));
        }
        let serials: BTreeSet<u32> = h.nameservers.iter().filter_map(|a| a.serial).collect();
        if serials.len() > 1 {
            warn.push(format!(
                "{name}: the authoritative servers have different SOA serials {serials:?}"
            ));
        }
        for a in &h.nameservers {
            if let Err(e) = &a.tlsa {
                crit.push(format!(
                    "{name}: nameserver {} ({}) fails the TLSA query: {e}",
                    a.name, a.ip
                ));
            }
        }
        match &h.nameserver_gap {
            Some(NsGap::Unavailable(e)) => crit.push(format!(
                "{name}: the authoritative servers cannot be checked: {e}"
            )),
            Some(NsGap::Incomplete(e)) => warn.push(format!(
                "{name}: not every authoritative server was checked: {e}"
            )),
            None => {}
        }
    }
    crit.dedup();
    warn.dedup();
    notes.dedup();
    r.notes = notes;
    r.verdict = if !crit.is_empty() {
        Verdict::Critical
    } else if !warn.is_empty() {
        Verdict::Warning
    } else {
        Verdict::Ok
    };
    r.critical = crit;
    r.warnings = warn;
}

/// A TLSA record list for JSON.
pub fn tlsa_texts(t: &[Tlsa]) -> Vec<String> {
    t.iter().map(ToString::to_string).collect()
}
