//! `mxdane survey` (issue 17): DANE adoption and breakage across many domains. Domains stream
//! in (never loaded whole), each is planned as a DANE sender would (RFC 7672, through the
//! resolver's shared cache), and its DANE hosts are probed; a probe is made once per run for
//! each (address, TLSA base, TLSA RRset), however many domains share the host, so that most
//! of the work is DNS. Results go out one JSON line per domain, in input order, without times
//! or durations: a run resumed after a kill (`--resume`) writes exactly what an uninterrupted
//! run would have.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod queue;
pub mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use mxdane_dns::plan::{self, Decision, Outcome as PlanOutcome, Request, TlsaStatus};
use mxdane_tls::KeyFilter;
use serde::Serialize;

use mxdane_check::{Environment, Options, ProbeResult};

/// What a survey found for one domain (the summary counts these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every DANE host's every address authenticated by its TLSA records.
    DaneVerified,
    /// Usable TLSA records are published (`--dns-only`: nothing was probed).
    DanePublished,
    /// TLSA records are published, and something defeats them (see `broken`).
    DaneBroken,
    /// The MX RRset is signed, no MX host has TLSA records.
    SignedNoTlsa,
    /// The domain or its MX RRset is not signed (or sits below an insecure delegation).
    NoDnssec,
    /// The domain accepts no mail (null MX, RFC 7505).
    NullMx,
    /// The domain does not exist.
    NoSuchDomain,
    /// The resolver could not tell (failures, timeouts, bogus data outside TLSA).
    ResolverFailure,
    /// The input line is not a domain name.
    Invalid,
}

impl Outcome {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Self::DaneVerified => "dane-verified",
            Self::DanePublished => "dane-published",
            Self::DaneBroken => "dane-broken",
            Self::SignedNoTlsa => "signed-no-tlsa",
            Self::NoDnssec => "no-dnssec",
            Self::NullMx => "null-mx",
            Self::NoSuchDomain => "no-such-domain",
            Self::ResolverFailure => "resolver-failure",
            Self::Invalid => "invalid",
        }
    }
}

/// One probe's result as the survey keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeLine {
    /// The address.
    pub address: String,
    /// `verified`, `mismatch`, ... (as in `check`).
    pub result: String,
    /// Why, from `check`'s closed list.
    pub reason: Option<String>,
}

/// One MX host as the survey saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostLine {
    /// The plan's decision (`dane`, `tls-mandatory`, `opportunistic`, `skip`).
    pub decision: &'static str,
    /// The host.
    pub name: String,
    /// Its probes (DANE hosts only; none with `--dns-only`).
    pub probes: Vec<ProbeLine>,
    /// The TLSA lookup's status.
    pub tlsa: &'static str,
}

/// One domain's line of the output (keys in alphabetical order, as every JSON document of
/// mxdane).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainLine {
    /// For `dane-broken`: what broke it first (`mismatch`, `no-starttls`, `tls-failed`,
    /// `connect-failed`, `bogus-tlsa`, `unusable-tlsa`, `tlsa-lookup-failed`).
    pub broken: Option<String>,
    /// The domain (A-labels, no final dot), or the input line for `invalid`.
    pub domain: String,
    /// The MX hosts in the order a sender tries them.
    pub hosts: Vec<HostLine>,
    /// The MX lookup's status.
    pub mx: Option<&'static str>,
    /// The outcome.
    pub outcome: Outcome,
    /// Why, in words (the plan's reason, or the input problem).
    pub reason: String,
}

/// How far a survey goes for each domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// The plan, and an SMTP probe of every DANE host.
    #[default]
    Probe,
    /// The plan only: no SMTP (`--dns-only`).
    DnsOnly,
}

/// How a survey runs.
#[derive(Clone, Debug)]
pub struct SurveyOptions {
    /// Whether DANE hosts are probed, or only planned.
    pub scope: Scope,
    /// Domains in progress at once.
    pub concurrency: usize,
    /// The probes' port, timeouts, limits and EHLO name (`check`'s options).
    pub probe: Options,
    /// At most this many domains a second start per set of authoritative nameservers
    /// ([`Pacer`]); `None`: no limit beyond `concurrency`.
    pub ns_rate: Option<u32>,
}

impl Default for SurveyOptions {
    fn default() -> Self {
        Self {
            scope: Scope::Probe,
            concurrency: 64,
            probe: Options::default(),
            ns_rate: None,
        }
    }
}

/// A probe's identity: every domain whose host has this address, TLSA base and RRset gets
/// the same answer, so it is asked once.
type ProbeKey = (IpAddr, String, Vec<String>, Vec<String>);
type ProbeSlot = Arc<tokio::sync::OnceCell<ProbeOutcome>>;

/// A probe's result and reason, by their names.
pub type ProbeOutcome = (String, Option<String>);

/// Probe results shared beyond one process (the PostgreSQL queue's table): asked before a
/// probe is made, told after.
pub trait SharedProbes: Send + Sync {
    /// The result stored under `key`, if another worker made the probe.
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<ProbeOutcome>> + Send + 'a>>;
    /// Stores a result (the first one stored stays).
    fn put<'a>(
        &'a self,
        key: &'a str,
        outcome: &'a ProbeOutcome,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// A survey in progress: the environment and the probes made so far.
pub struct Survey {
    env: Environment,
    options: SurveyOptions,
    probes: Mutex<HashMap<ProbeKey, ProbeSlot>>,
    made: std::sync::atomic::AtomicU64,
    shared: Option<Arc<dyn SharedProbes>>,
    pacer: Option<Pacer>,
}

/// Politeness towards authoritative servers: domains served by the same nameservers start
/// at most `rate` a second, evenly spaced (each key keeps the earliest time its next domain
/// may start). A domain's key is its NS RRset (sorted), asked first through the resolver's
/// cache; a domain that is not a zone apex (no NS RRset of its own) goes by its parent's
/// name. Most of a domain's queries go to those servers (MX, DS, DNSKEY, the hosts' when they
/// are in the same zone), so the rate of domains bounds the rate of queries.
pub struct Pacer {
    interval: std::time::Duration,
    next: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl Pacer {
    /// At most `rate` domains a second per key (at least one).
    pub fn new(rate: u32) -> Self {
        Self {
            interval: std::time::Duration::from_secs(1) / rate.max(1),
            next: Mutex::default(),
        }
    }

    /// Waits until a domain of `key` may start, and books the next one's time.
    pub async fn wait(&self, key: String) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            // Times already past restrict nothing: dropping them keeps the table as small
            // as the keys in use.
            if next.len() >= 4096 {
                next.retain(|_, t| *t > now);
            }
            let slot = next.entry(key).or_insert(now);
            let at = (*slot).max(now);
            *slot = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// How many keys the table holds (for tests).
    pub fn keys(&self) -> usize {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Survey {
    /// A survey through `env`.
    pub fn new(env: Environment, options: SurveyOptions) -> Self {
        Self {
            env,
            probes: Mutex::default(),
            made: std::sync::atomic::AtomicU64::new(0),
            shared: None,
            pacer: options.ns_rate.map(Pacer::new),
            options,
        }
    }

    /// Shares probe results with other workers through `shared`.
    pub fn with_shared(mut self, shared: Arc<dyn SharedProbes>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The pacer, when `ns_rate` asked for one.
    pub fn pacer(&self) -> Option<&Pacer> {
        self.pacer.as_ref()
    }

    /// How many SMTP probes were made (not answered from the run's probe table).
    pub fn probes_made(&self) -> u64 {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key of `name`'s authoritative servers for the [`Pacer`].
    async fn nameservers(&self, name: &mxdane_dns::Name) -> String {
        let lookup = self
            .env
            .resolver
            .lookup(name, mxdane_dns::rdata::rtype::NS)
            .await;
        let mut servers: Vec<String> = lookup
            .ok()
            .into_iter()
            .flat_map(|l| l.records().to_vec())
            .filter_map(|r| match r {
                mxdane_dns::rdata::Rdata::Ns(n) => Some(n.as_str().to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        if servers.is_empty() {
            let text = name.as_str();
            return format!(
                "zone {}",
                text.split_once('.').map_or(text, |(_, parent)| parent)
            );
        }
        servers.sort();
        servers.join(" ")
    }

    /// Surveys one domain (`text` as the input line had it).
    pub async fn domain(&self, text: &str) -> DomainLine {
        let mut line = DomainLine {
            broken: None,
            domain: text.to_owned(),
            hosts: Vec::new(),
            mx: None,
            outcome: Outcome::Invalid,
            reason: String::new(),
        };
        let name = match mxdane_tlsa::idn::domain(text) {
            Ok(n) => n,
            Err(e) => {
                line.reason = e;
                return line;
            }
        };
        line.domain = name.as_str().trim_end_matches('.').to_owned();
        if let Some(pacer) = &self.pacer {
            pacer.wait(self.nameservers(&name).await).await;
        }
        let request = Request {
            destination: name,
            port: self.options.probe.port,
            kind: plan::Kind::Domain,
        };
        let p = plan::plan(self.env.resolver.as_ref(), &request).await;
        line.mx = p.mx_status();
        line.reason = p.reason.clone();
        line.outcome = match p.outcome {
            PlanOutcome::NullMx => Outcome::NullMx,
            PlanOutcome::NoSuchDomain => Outcome::NoSuchDomain,
            PlanOutcome::Defer if p.hosts.is_empty() => Outcome::ResolverFailure,
            _ => Outcome::SignedNoTlsa,
        };
        if matches!(
            line.outcome,
            Outcome::NullMx | Outcome::NoSuchDomain | Outcome::ResolverFailure
        ) {
            return line;
        }
        let mut dane = false;
        for h in &p.hosts {
            let mut host = HostLine {
                decision: h.decision.name(),
                name: h.name.as_str().trim_end_matches('.').to_owned(),
                probes: Vec::new(),
                tlsa: h.tlsa_status.name(),
            };
            let published = match &h.tlsa_status {
                TlsaStatus::Secure => true,
                TlsaStatus::Bogus(_) => {
                    line.broken.get_or_insert_with(|| "bogus-tlsa".into());
                    true
                }
                TlsaStatus::Indeterminate(_) | TlsaStatus::Failed(_)
                    if line.mx == Some("secure") =>
                {
                    line.broken
                        .get_or_insert_with(|| "tlsa-lookup-failed".into());
                    true
                }
                _ => false,
            };
            dane |= published;
            if h.decision == Decision::TlsMandatory {
                line.broken.get_or_insert_with(|| "unusable-tlsa".into());
            }
            if h.decision == Decision::Dane && self.options.scope == Scope::Probe {
                for a in &h.addresses {
                    let (result, reason) = self.probe(h, a.ip).await;
                    if result != ProbeResult::Verified.name() {
                        line.broken.get_or_insert_with(|| result.clone());
                    }
                    host.probes.push(ProbeLine {
                        address: a.ip.to_string(),
                        result,
                        reason,
                    });
                }
            }
            line.hosts.push(host);
        }
        line.outcome = if line.broken.is_some() {
            Outcome::DaneBroken
        } else if dane && self.options.scope == Scope::DnsOnly {
            Outcome::DanePublished
        } else if dane {
            Outcome::DaneVerified
        } else if line.mx == Some("secure") {
            Outcome::SignedNoTlsa
        } else if matches!(line.mx, Some("indeterminate" | "failed" | "bogus")) {
            Outcome::ResolverFailure
        } else {
            Outcome::NoDnssec
        };
        line
    }

    /// The probe of `ip` for host `h`, made once per run for its key.
    async fn probe(&self, h: &mxdane_dns::plan::HostPlan, ip: IpAddr) -> ProbeOutcome {
        let key: ProbeKey = (
            ip,
            h.tlsa_base
                .as_ref()
                .map_or_else(String::new, |n| n.as_str().to_owned()),
            {
                let mut t: Vec<String> = h.tlsa.iter().map(ToString::to_string).collect();
                t.sort();
                t
            },
            // Names matter only to DANE-TA (RFC 7672 section 3.2.3); DANE-EE ignores them,
            // so without a DANE-TA record every domain of the host shares the probe.
            if h.tlsa
                .iter()
                .any(|t| t.usage() == mxdane_tlsa::Usage::DaneTa)
            {
                h.reference_ids
                    .iter()
                    .map(|n| n.as_str().to_owned())
                    .collect()
            } else {
                Vec::new()
            },
        );
        let slot = {
            let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
            probes.entry(key.clone()).or_default().clone()
        };
        let name = format!(
            "{} {} {} {}",
            key.0,
            key.1,
            key.2.join(","),
            key.3.join(",")
        );
        slot.get_or_init(|| async {
            if let Some(shared) = &self.shared
                && let Some(o) = shared.get(&name).await
            {
                return o;
            }
            self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = mxdane_check::probe(
                &self.env,
                h,
                ip,
                "default",
                KeyFilter::Any,
                &self.options.probe,
            )
            .await;
            let o = (
                p.result.name().to_owned(),
                p.reason.map(|r| r.name().to_owned()),
            );
            if let Some(shared) = &self.shared {
                shared.put(&name, &o).await;
            }
            o
        })
        .await
        .clone()
    }
}

/// The domains of an input, one per line: `#` starts a comment, blank lines are skipped, names
/// are compared without case and final dot, and a name seen before is skipped (remembered by a
/// 64-bit hash, 8 octets a name: two different names colliding is a chance of about one in
/// 10^7 among a million names). Read lazily: the input is never held whole.
pub struct Domains<R> {
    lines: std::io::Lines<R>,
    seen: HashSet<u64>,
    /// The first read error, if any (the input then ends).
    pub error: Option<String>,
}

impl<R: BufRead> Domains<R> {
    /// Domains from `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            lines: reader.lines(),
            seen: HashSet::new(),
            error: None,
        }
    }
}

impl<R: BufRead> Iterator for Domains<R> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => {
                    self.error = Some(format!("the input cannot be read: {e}"));
                    return None;
                }
            };
            let text = line.split('#').next().unwrap_or("").trim();
            if text.is_empty() {
                continue;
            }
            let key = text.trim_end_matches('.').to_lowercase();
            let hash = {
                use std::hash::Hasher;
                // A fixed key: the same input gives the same result in every run (--resume).
                let mut h = std::collections::hash_map::DefaultHasher::new();
                h.write(key.as_bytes());
                h.finish()
            };
            if self.seen.insert(hash) {
                return Some(text.to_owned());
            }
        }
    }
}

/// Counts per outcome and per kind of breakage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Domains per outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// `dane-broken` domains per kind.
    pub broken: BTreeMap<String, u64>,
    /// Domains in all.
    pub domains: u64,
    /// SMTP probes made (each shared by every domain with the same host, address and records).
    pub probes: u64,
}

impl Summary {
    /// Counts one line.
    pub fn add(&mut self, line: &DomainLine) {
        *self.outcomes.entry(line.outcome.name()).or_default() += 1;
        if let Some(b) = &line.broken {
            *self.broken.entry(b.clone()).or_default() += 1;
        }
        self.domains += 1;
    }

    /// The summary as text.
    pub fn text(&self) -> String {
        let mut s = format!("{} domains, {} SMTP probes\n", self.domains, self.probes);
        for (o, n) in &self.outcomes {
            s.push_str(&format!(
                "  {o:<18} {n:>10}  {:5.1} %\n",
                percent(*n, self.domains)
            ));
        }
        for (b, n) in &self.broken {
            s.push_str(&format!("    broken by {b:<18} {n:>6}\n"));
        }
        s
    }

    /// The summary as an SVG bar chart, for pasting into a report. (A dozen elements of
    /// text: a plotting library would bring far more code than it saves.)
    pub fn svg(&self) -> String {
        let rows: Vec<(String, u64)> = self
            .outcomes
            .iter()
            .map(|(o, n)| ((*o).to_owned(), *n))
            .chain(
                self.broken
                    .iter()
                    .map(|(b, n)| (format!("  broken: {b}"), *n)),
            )
            .collect();
        let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
        let (width, bar, row) = (720, 400.0, 28);
        let height = 50 + row * rows.len();
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"24\" font-size=\"16\">DANE survey: {} domains</text>\n",
            self.domains
        );
        for (i, (label, n)) in rows.iter().enumerate() {
            let y = 40 + row * i;
            let w = (bar * (*n as f64) / (max as f64)).round();
            let colour = match label.as_str() {
                "dane-verified" | "dane-published" => "#2e7d32",
                "dane-broken" => "#c62828",
                l if l.starts_with("  broken") => "#ef9a9a",
                "signed-no-tlsa" => "#1565c0",
                _ => "#9e9e9e",
            };
            s.push_str(&format!(
                "<text x=\"10\" y=\"{}\">{}</text>\n<rect x=\"190\" y=\"{y}\" width=\"{w}\" height=\"20\" fill=\"{colour}\"/>\n<text x=\"{}\" y=\"{}\">{n} ({:.1} %)</text>\n",
                y + 15,
                label.trim(),
                196.0 + w,
                y + 15,
                percent(*n, self.domains)
            ));
        }
        s.push_str("</svg>\n");
        s
    }
}

fn percent(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// Prepares an output file to be resumed: drops a last line that a kill cut short and returns
/// how many domains it holds (the first that many of the input are done).
pub fn resume_point(path: &std::path::Path) -> Result<u64, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if complete < text.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.set_len(complete as u64).map_err(|e| {
            format!(
                "{}: cannot cut the unfinished last line: {e}",
                path.display()
            )
        })?;
    }
    let lines = text[..complete].iter().filter(|b| **b == b'\n').count() as u64;
    // Every kept line must be a domain's line: a different file is not resumed over.
    for l in text[..complete]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
    {
        serde_json::from_slice::<serde_json::Value>(l)
            .ok()
            .filter(|v| v["domain"].is_string() && v["outcome"].is_string())
            .ok_or_else(|| format!("{}: not a survey output (a line is not a domain's result); nothing was changed", path.display()))?;
    }
    Ok(lines)
}

/// Runs a survey over `domains`, skipping the first `skip` (already in the output), writing
/// each domain's line to `out` in input order as soon as it and all before it are done;
/// `progress` sees each line. Returns the summary of the lines written now.
pub async fn run<I, W, P>(
    survey: &Survey,
    domains: I,
    skip: u64,
    out: &mut W,
    mut progress: P,
) -> Result<Summary, String>
where
    I: Iterator<Item = String>,
    W: Write,
    P: FnMut(&DomainLine),
{
    let concurrency = survey.options.concurrency.max(1);
    let mut lines =
        futures_util::stream::iter(domains.skip(usize::try_from(skip).unwrap_or(usize::MAX)))
            .map(|d| async move { survey.domain(&d).await })
            .buffered(concurrency);
    let mut summary = Summary::default();
    while let Some(line) = lines.next().await {
        let mut text = serde_json::to_string(&line).map_err(|e| e.to_string())?;
        text.push('\n');
        // One write per line: a kill leaves at most the last line unfinished.
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("the output cannot be written: {e}"))?;
        summary.add(&line);
        progress(&line);
    }
    summary.probes = survey.probes_made();
    Ok(summary)
}

/// Reads a survey output's lines back into a summary (`--resume` reports the whole run).
pub fn summarise(path: &std::path::Path) -> Result<Summary, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut s = Summary::default();
    for l in std::io::BufReader::new(f).lines() {
        let l = l.map_err(|e| format!("{}: {e}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&l).map_err(|e| format!("{}: {e}", path.display()))?;
        let outcome = v["outcome"].as_str().unwrap_or("invalid");
        let name = outcome_name(outcome);
        *s.outcomes.entry(name).or_default() += 1;
        if let Some(b) = v["broken"].as_str() {
            *s.broken.entry(b.to_owned()).or_default() += 1;
        }
        s.domains += 1;
    }
    Ok(s)
}

/// An outcome's name as stored (`invalid` for one this version does not know).
pub fn outcome_name(text: &str) -> &'static str {
    ALL.iter()
        .find(|o| o.name() == text)
        .map_or("invalid", |o| o.name())
}

const ALL: [Outcome; 9] = [
    Outcome::DaneVerified,
    Outcome::DanePublished,
    Outcome::DaneBroken,
    Outcome::SignedNoTlsa,
    Outcome::NoDnssec,
    Outcome::NullMx,
    Outcome::NoSuchDomain,
    Outcome::ResolverFailure,
    Outcome::Invalid,
];

#[cfg(test)]
mod tests {
    use super::Pacer;
    use std::time::Duration;

    // Time is tokio's paused clock: the spacing is exact.
    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_domains_of_one_key_and_leaves_other_keys_alone() {
        let pacer = Pacer::new(10);
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            pacer.wait("ns1.a. ns2.a.".into()).await;
            at.push(start.elapsed());
        }
        assert_eq!(
            at,
            [0, 100, 200, 300, 400].map(Duration::from_millis),
            "one key: one domain every 100 ms"
        );
        // Another key starts at once; the first key stays booked.
        pacer.wait("ns1.b.".into()).await;
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        pacer.wait("ns1.a. ns2.a.".into()).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert_eq!(pacer.keys(), 2);
        // After a pause the key has no backlog: the next domain starts at once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = start.elapsed();
        pacer.wait("ns1.a. ns2.a.".into()).await;
        assert_eq!(start.elapsed(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_table_drops_keys_whose_time_has_passed() {
        let pacer = Pacer::new(1000);
        for i in 0..5000 {
            pacer.wait(format!("ns{i}.")).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        pacer.wait("ns-new.".into()).await;
        assert!(pacer.keys() < 10, "{} keys kept", pacer.keys());
    }
}
