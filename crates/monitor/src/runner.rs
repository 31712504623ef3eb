//! `mxdane monitor`'s runner (issue 16): checks the targets that are due, at most
//! `concurrency` at a time, turns results into states with `crate::state` (a change
//! is confirmed by a second check before it counts), writes each check to the history before
//! the state it implies is shown, and keeps the snapshot the HTTP endpoints serve. Time is
//! passed in; the command line's loop reads the clock.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::Ts;
use crate::config::{Config, Target};
use crate::db::Store;
use crate::state::{Level, TargetState, Transition, seed};
use crate::store::{CheckRecord, NsRecord, ProbeRecord};
use futures_util::StreamExt;
use mxdane_dns::Name;
use serde::Serialize;

use mxdane_check::{self as check, CheckReport, Environment, Options};

/// What the HTTP endpoints show: the latest state of every target.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// Whether the first round has completed (503 until then).
    pub ready: bool,
    /// Completed rounds since the start.
    pub rounds: u64,
    /// When the last round completed.
    pub last_round: Option<Ts>,
    /// Checks this instance has written since it started (in a fleet, its share).
    pub checks: u64,
    /// Per target, by name.
    pub targets: BTreeMap<String, TargetView>,
    /// Per target, the last check's whole report (the per-target page shows it).
    #[serde(skip)]
    pub reports: BTreeMap<String, String>,
}

/// The history strip's periods: an hour each, a week in all.
pub const STRIP_WIDTH: Ts = 3600;
/// How many periods the strip shows.
pub const STRIP_BUCKETS: usize = 168;

/// One target as the endpoints show it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetView {
    /// The target's name.
    pub name: String,
    /// The confirmed state (None before the first check).
    pub state: Option<Level>,
    /// Since when.
    pub since: Option<Ts>,
    /// A different result waiting for confirmation.
    pub unconfirmed: Option<Level>,
    /// The last check.
    pub last_check: Option<Ts>,
    /// The last check whose result was ok.
    pub last_ok: Option<Ts>,
    /// When the next check is due.
    pub next_check: Ts,
    /// How long the last check took.
    pub duration_ms: u64,
    /// The last check's problems.
    pub problems: Vec<String>,
    /// The last check's probes.
    pub probes: Vec<ProbeView>,
    /// Per MX host: whether every authoritative server served the same TLSA RRset.
    pub nameservers_agree: BTreeMap<String, bool>,
    /// When the earliest signature the last check relied on expires (the MX RRset's and each
    /// host's lookups').
    pub rrsig_expires: Option<Ts>,
    /// When the earliest certificate of a DANE-TA-matched chain (above the leaf) expires.
    pub dane_ta_expires: Option<Ts>,
    /// The last week, an hour per entry, oldest first: the worst result checked in that hour
    /// (null: not checked).
    pub strip: Vec<Option<Level>>,
}

/// One probe as the endpoints show it.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeView {
    /// The MX host.
    pub host: String,
    /// The address.
    pub address: String,
    /// `default`, `rsa` or `ecdsa`.
    pub algorithm: String,
    /// `verified`, `failed`, ...
    pub result: String,
    /// Why, from a closed list.
    pub reason: Option<String>,
}

/// Turns a check report into the document stored as the check's report (the command line
/// passes `mxdane check --json`'s serialiser).
pub type Render = dyn Fn(&CheckReport) -> String + Send + Sync;

/// The runner.
pub struct Monitor {
    config: Config,
    /// How checks reach the world (tests swap it to change the world).
    pub env: Environment,
    store: Store,
    states: BTreeMap<String, TargetState>,
    render: Box<Render>,
    snapshot: Arc<RwLock<Snapshot>>,
    /// Alert destinations, by the name the outbox gives them (a URL or `mailto:ADDRESS`).
    hooks: Vec<(String, crate::alerts::Destination)>,
    sender: Option<crate::alerts::Sender>,
    /// The rollover lanes' target names, as last judged.
    lanes: Vec<String>,
}

/// Every alert destination of `config` (webhooks with their secrets read).
fn hooks_of(config: &Config) -> Result<Vec<(String, crate::alerts::Destination)>, String> {
    use crate::alerts::Destination;
    let mut out = Vec::new();
    for a in &config.alerts {
        match (&a.webhook, &a.secret_file, &a.email) {
            (Some(url), Some(secret), _) => out.push((
                url.clone(),
                Destination::Webhook(crate::alerts::read_secret(secret)?),
            )),
            (_, _, Some(to)) => out.push((
                format!("mailto:{to}"),
                Destination::Email {
                    to: to.clone(),
                    from: a
                        .from
                        .clone()
                        .unwrap_or_else(|| format!("mxdane-monitor@{}", crate::alerts::hostname())),
                },
            )),
            _ => return Err("an alert without a destination".into()),
        }
    }
    Ok(out)
}

/// Whether any destination is a webhook (which needs the HTTP client).
fn any_webhook(hooks: &[(String, crate::alerts::Destination)]) -> bool {
    hooks
        .iter()
        .any(|(_, d)| matches!(d, crate::alerts::Destination::Webhook(_)))
}

/// The history's record of a check.
fn record(target: &str, at: Ts, duration_ms: u64, r: &CheckReport, doc: String) -> CheckRecord {
    let mut probes = Vec::new();
    let mut nameservers = Vec::new();
    for h in &r.hosts {
        let host = h.plan.name.to_string();
        for p in &h.probes {
            probes.push(ProbeRecord {
                host: host.clone(),
                address: p.ip.to_string(),
                algorithm: p.algorithm.to_owned(),
                result: p.result.name().to_owned(),
                reason: p.reason.map(|r| r.name().to_owned()),
                matched: p.matched.as_ref().map(|m| m.record.to_string()),
                depth: p.matched.as_ref().and_then(|m| u32::try_from(m.depth).ok()),
            });
        }
        for n in &h.nameservers {
            nameservers.push(NsRecord {
                host: host.clone(),
                server: format!("{} {}", n.name, n.ip),
                tlsa: n.tlsa.as_ref().ok().map(|t| {
                    t.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
                serial: n.serial,
            });
        }
    }
    CheckRecord {
        target: target.to_owned(),
        at,
        level: r.verdict,
        duration_ms,
        problems: r.critical.iter().chain(&r.warnings).cloned().collect(),
        report: doc,
        probes,
        nameservers,
    }
}

impl Monitor {
    /// A runner for `config`, its history opened (states carried over from the last run); in
    /// a fleet, `owner` names this instance (unique among the fleet's, e.g. host and process).
    pub async fn open(
        config: Config,
        env: Environment,
        render: Box<Render>,
        owner: &str,
    ) -> Result<Self, String> {
        if !config.is_fleet()
            && let Some(dir) = config.history.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let hooks = hooks_of(&config)?;
        let sender = if !any_webhook(&hooks) {
            None
        } else {
            Some(crate::alerts::Sender::new()?)
        };
        let store = Store::open(&config.history_location(), owner)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(f) = store.fleet() {
            let names: Vec<String> = config.targets.iter().map(Target::name).collect();
            f.register(&names).await.map_err(|e| e.to_string())?;
        }
        let states = store.states().await.map_err(|e| e.to_string())?;
        let mut env = env;
        env.connector = env
            .connector
            .limit_per_address(usize::try_from(config.per_address).unwrap_or(1));
        let mut m = Self {
            config,
            env,
            store,
            states,
            render,
            snapshot: Arc::default(),
            hooks,
            sender,
            lanes: Vec::new(),
        };
        m.publish(false);
        // What the last run knew, shown until the first round replaces it.
        let now = m
            .states
            .values()
            .filter_map(|s| s.last_check)
            .max()
            .unwrap_or(0);
        for t in m.config.targets.clone() {
            let name = t.name();
            m.update_strip(&name, now).await;
            if let Ok(Some(report)) = m.store.latest_report(&name).await
                && let Ok(mut s) = m.snapshot.write()
            {
                s.reports.insert(name, report);
            }
        }
        Ok(m)
    }

    /// Takes a new configuration (SIGHUP): targets, intervals, concurrency, retention and
    /// alerts change at once; the history file and the listen address need a restart. On an
    /// error nothing changes.
    pub async fn reload(&mut self, config: Config) -> Result<(), String> {
        if config.history != self.config.history {
            return Err(format!(
                "history moved from {} to {}: restart the monitor for that",
                crate::fleet::redact(&self.config.history_location()),
                crate::fleet::redact(&config.history_location())
            ));
        }
        if config.listen != self.config.listen {
            return Err(format!(
                "listen changed from {} to {}: restart the monitor for that",
                self.config.listen, config.listen
            ));
        }
        let hooks = hooks_of(&config)?;
        if self.sender.is_none() && any_webhook(&hooks) {
            self.sender = Some(crate::alerts::Sender::new()?);
        }
        self.hooks = hooks;
        if config.per_address != self.config.per_address {
            self.env.connector = self
                .env
                .connector
                .clone()
                .limit_per_address(usize::try_from(config.per_address).unwrap_or(1));
        }
        let names: std::collections::BTreeSet<String> =
            config.targets.iter().map(Target::name).collect();
        if let Some(f) = self.store.fleet() {
            let list: Vec<String> = names.iter().cloned().collect();
            f.register(&list).await.map_err(|e| e.to_string())?;
        }
        self.config = config;
        if self.config.rollover.is_none() {
            self.lanes.clear();
        }
        let lanes = self.lanes.clone();
        if let Ok(mut s) = self.snapshot.write() {
            s.targets
                .retain(|n, _| names.contains(n) || lanes.contains(n));
            s.reports
                .retain(|n, _| names.contains(n) || lanes.contains(n));
        }
        self.publish(false);
        Ok(())
    }

    /// The snapshot the endpoints serve.
    pub fn snapshot(&self) -> Arc<RwLock<Snapshot>> {
        self.snapshot.clone()
    }

    /// The history (for tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// When the next target is due.
    pub fn next_due(&self) -> Ts {
        self.config
            .targets
            .iter()
            .map(|t| self.states.get(&t.name()).map_or(0, |s| s.next_check))
            .min()
            .unwrap_or(Ts::MAX)
    }

    fn options(&self, t: &Target) -> Options {
        Options {
            port: t.port,
            kind: if t.is_host() {
                mxdane_dns::plan::Kind::Host
            } else {
                mxdane_dns::plan::Kind::Domain
            },
            expiry_days: self.config.expiry_days,
            require_next: self.config.require_next,
            ..Options::default()
        }
    }

    /// Checks every target due at `now` (all of them in the first round), at most
    /// `concurrency` at a time; returns the transitions confirmed, each written to the
    /// history with its check before it is returned. In a fleet, the due targets are claimed a
    /// batch at a time from the shared list, so that each is checked by one instance.
    pub async fn round(&mut self, now: Ts) -> Vec<(String, Transition)> {
        let concurrency = usize::try_from(self.config.concurrency).unwrap_or(1).max(1);
        let mut transitions = Vec::new();
        if self.store.fleet().is_some() {
            let names: Vec<String> = self.config.targets.iter().map(Target::name).collect();
            let lease = i64::from(self.config.lease);
            let batch = i64::try_from(concurrency).unwrap_or(1);
            // Bounded: every batch but the last claims `concurrency` targets.
            for _ in 0..=names.len() / concurrency {
                let Some(fleet) = self.store.fleet() else {
                    break;
                };
                let claimed = match fleet.claim(&names, now, lease, batch).await {
                    Ok(c) => c,
                    Err(e) => {
                        self.store_failed(&e.to_string());
                        break;
                    }
                };
                if claimed.is_empty() {
                    break;
                }
                let mut due = Vec::new();
                for (name, state) in claimed {
                    // The shared history knows the target's state best.
                    match state {
                        Some(s) => self.states.insert(name.clone(), s),
                        None => self.states.remove(&name),
                    };
                    if let Some(t) = self.config.targets.iter().find(|t| t.name() == name) {
                        due.push(t.clone());
                    }
                }
                transitions.extend(self.check_batch(due, now, concurrency).await);
            }
            // What the other instances found.
            if let Ok(states) = self.store.states().await {
                for (name, s) in states {
                    if self.config.targets.iter().any(|t| t.name() == name) {
                        self.states.insert(name, s);
                    }
                }
            }
        } else {
            let due: Vec<Target> = self
                .config
                .targets
                .iter()
                .filter(|t| {
                    self.states
                        .get(&t.name())
                        .is_none_or(|s| s.last_check.is_none() || s.next_check <= now)
                })
                .cloned()
                .collect();
            transitions = self.check_batch(due, now, concurrency).await;
            transitions.extend(self.rollover_round(now).await);
        }
        let keep = i64::from(self.config.retention_days) * 86_400;
        let _ = self.store.prune(now - keep).await;
        self.publish(true);
        if let Ok(mut s) = self.snapshot.write() {
            s.last_round = Some(now);
        }
        self.deliver(now).await;
        transitions
    }

    /// Shows a history that cannot be read or written on every target's page.
    fn store_failed(&self, why: &str) {
        if let Ok(mut s) = self.snapshot.write() {
            for v in s.targets.values_mut() {
                v.problems = vec![format!("the history could not be used: {why}")];
            }
        }
    }

    /// Checks `due`, at most `concurrency` at a time, and writes each result.
    async fn check_batch(
        &mut self,
        due: Vec<Target>,
        now: Ts,
        concurrency: usize,
    ) -> Vec<(String, Transition)> {
        let env = self.env.clone();
        let jobs = due.into_iter().map(|t| {
            let (env, options) = (env.clone(), self.options(&t));
            async move {
                let started = Instant::now();
                let report = match Name::try_parse(t.dns_name()) {
                    Ok(name) => Some(check::check(env, name, options).await),
                    Err(_) => None,
                };
                (t, report, started.elapsed())
            }
        });
        let results: Vec<_> = futures_util::stream::iter(jobs)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut transitions = Vec::new();
        for (t, report, took) in results {
            let name = t.name();
            let Some(report) = report else { continue };
            let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            let rec = record(&name, now, ms, &report, (self.render)(&report));
            let interval = self.config.interval_of(&t);
            let (tr, written) = self.commit(rec, interval).await;
            if let Some(tr) = tr {
                transitions.push((name.clone(), tr));
            }
            if written {
                self.update_view(&name, &report, ms);
            }
        }
        transitions
    }

    /// Judges every lane of the rollover configuration that is due (issue 16's lookahead):
    /// each is a target named `rollover:SERVICE:ALGORITHM`.
    async fn rollover_round(&mut self, now: Ts) -> Vec<(String, Transition)> {
        let Some(path) = self.config.rollover.clone() else {
            return Vec::new();
        };
        let patience = i64::from(self.config.rollover_patience);
        let judged = match lanes_now(&path, now, patience, self.config.expiry_days) {
            Ok(l) => l,
            Err(why) => vec![("rollover".to_owned(), Level::Unknown, vec![why])],
        };
        self.lanes = judged.iter().map(|(n, _, _)| n.clone()).collect();
        let mut transitions = Vec::new();
        for (name, level, problems) in judged {
            let due = self
                .states
                .get(&name)
                .is_none_or(|s| s.last_check.is_none() || s.next_check <= now);
            if !due {
                continue;
            }
            let report = serde_json::json!({
                "problems": problems,
                "state": level.name(),
                "target": name,
            })
            .to_string();
            let rec = CheckRecord {
                target: name.clone(),
                at: now,
                level,
                duration_ms: 0,
                problems: problems.clone(),
                report,
                probes: Vec::new(),
                nameservers: Vec::new(),
            };
            let (tr, written) = self.commit(rec, self.config.interval).await;
            if let Some(tr) = tr {
                transitions.push((name.clone(), tr));
            }
            if written && let Ok(mut s) = self.snapshot.write() {
                let v = s.targets.entry(name).or_default();
                v.problems = problems;
                v.duration_ms = 0;
            }
        }
        transitions
    }

    /// Turns a result into the target's state, writes both (with the transition and its
    /// alerts) and only then shows them: the transition, if one was confirmed, and whether
    /// the result was written.
    async fn commit(&mut self, rec: CheckRecord, interval: u32) -> (Option<Transition>, bool) {
        let name = rec.target.clone();
        let now = rec.at;
        let mut next = self.states.get(&name).cloned().unwrap_or_default();
        let tr = next.observe(rec.level, now, interval, seed(&name));
        let alerts: Vec<(String, String)> = match &tr {
            Some(tr) => {
                let payload = crate::alerts::Payload {
                    kind: if tr.to == Level::Ok {
                        "recovery"
                    } else {
                        "problem"
                    },
                    target: &name,
                    from: tr.from.name(),
                    to: tr.to.name(),
                    at: tr.at,
                    problems: &rec.problems,
                };
                let body = serde_json::to_string(&payload).unwrap_or_default();
                self.hooks
                    .iter()
                    .map(|(url, _)| (url.clone(), body.clone()))
                    .collect()
            }
            None => Vec::new(),
        };
        // The check, the state it implies and its alerts are written first; only then are
        // they shown and sent.
        match self.store.record(&rec, &next, tr.as_ref(), &alerts).await {
            Ok(_) => {
                self.states.insert(name.clone(), next);
                self.update_strip(&name, now).await;
                if let Ok(mut s) = self.snapshot.write() {
                    s.checks += 1;
                    s.reports.insert(name.clone(), rec.report.clone());
                }
                (tr, true)
            }
            Err(e) => {
                // Not stored, not believed: the target is checked again next round (in a
                // fleet, by whoever claims it next).
                if let Ok(mut s) = self.snapshot.write()
                    && let Some(v) = s.targets.get_mut(&name)
                {
                    v.problems = vec![format!("the history could not be written: {e}")];
                }
                (None, false)
            }
        }
    }

    /// Sends the alerts of the outbox (each tried once per round, up to
    /// [`crate::alerts::MAX_ATTEMPTS`] times).
    async fn deliver(&mut self, now: Ts) {
        if self.hooks.is_empty() {
            return;
        }
        let Ok(pending) = self
            .store
            .pending_alerts(crate::alerts::MAX_ATTEMPTS, now)
            .await
        else {
            return;
        };
        for (id, url, body) in pending {
            use crate::alerts::Destination;
            let result = match (self.hooks.iter().find(|(u, _)| *u == url), &self.sender) {
                (Some((_, Destination::Webhook(secret))), Some(sender)) => {
                    sender.post(&url, secret, &body, now).await
                }
                (Some((_, Destination::Email { to, from })), _) => {
                    crate::alerts::email(&self.env, to, from, &body, id)
                        .await
                        .map(|_| ())
                }
                // A destination no longer configured: it fails until the attempt limit.
                _ => Err("no longer configured".into()),
            };
            let _ = self
                .store
                .alert_attempt(id, now, result.as_ref().err().map(String::as_str))
                .await;
        }
    }

    async fn update_strip(&mut self, name: &str, now: Ts) {
        let since = now - STRIP_WIDTH * Ts::try_from(STRIP_BUCKETS).unwrap_or(0);
        let Ok(results) = self.store.levels_since(name, since).await else {
            return;
        };
        let strip = crate::state::strip(&results, now, STRIP_WIDTH, STRIP_BUCKETS);
        if let Ok(mut s) = self.snapshot.write() {
            s.targets.entry(name.to_owned()).or_default().strip = strip;
        }
    }

    fn update_view(&mut self, name: &str, r: &CheckReport, ms: u64) {
        let Ok(mut s) = self.snapshot.write() else {
            return;
        };
        let v = s.targets.entry(name.to_owned()).or_default();
        v.duration_ms = ms;
        v.problems = r.critical.iter().chain(&r.warnings).cloned().collect();
        // RRSIG times are 32-bit serial times (RFC 4034 section 3.1.5): seconds since 1970
        // until 2106.
        v.rrsig_expires = r
            .plan
            .mx
            .iter()
            .chain(r.hosts.iter().flat_map(|h| h.plan.lookups.iter()))
            .filter_map(|l| l.result.as_ref().ok().and_then(|x| x.expires()))
            .min()
            .map(i64::from);
        v.dane_ta_expires = r
            .hosts
            .iter()
            .flat_map(|h| h.probes.iter())
            .filter(|p| {
                p.matched
                    .as_ref()
                    .is_some_and(mxdane_check::Matched::is_dane_ta)
            })
            .flat_map(|p| p.chain.iter().skip(1))
            .filter_map(|c| c.not_after.map(|t| t.unix_timestamp()))
            .min();
        v.probes = r
            .hosts
            .iter()
            .flat_map(|h| {
                h.probes.iter().map(move |p| ProbeView {
                    host: h.plan.name.to_string(),
                    address: p.ip.to_string(),
                    algorithm: p.algorithm.to_owned(),
                    result: p.result.name().to_owned(),
                    reason: p.reason.map(|r| r.name().to_owned()),
                })
            })
            .collect();
        v.nameservers_agree = r
            .hosts
            .iter()
            .filter(|h| !h.nameservers.is_empty())
            .map(|h| {
                let first = h.nameservers.first().map(|n| n.tlsa.clone());
                let agree = h
                    .nameservers
                    .iter()
                    .all(|n| n.tlsa.is_ok() && Some(n.tlsa.clone()) == first);
                (h.plan.name.to_string(), agree)
            })
            .collect();
    }

    /// Copies the states into the snapshot; `round_done` marks a completed round.
    fn publish(&mut self, round_done: bool) {
        let Ok(mut s) = self.snapshot.write() else {
            return;
        };
        let names = self
            .config
            .targets
            .iter()
            .map(Target::name)
            .chain(self.lanes.iter().cloned());
        for name in names {
            let st = self.states.get(&name).cloned().unwrap_or_default();
            let v = s.targets.entry(name.clone()).or_default();
            v.name = name;
            v.state = st.level;
            v.since = st.level.map(|_| st.since);
            v.unconfirmed = st.unconfirmed;
            v.last_check = st.last_check;
            v.last_ok = st.last_ok;
            v.next_check = st.next_check;
        }
        if round_done {
            s.ready = true;
            s.rounds += 1;
        }
    }
}

/// Every lane of the rollover configuration at `path`, judged at `now`: `(target name, level,
/// problems)`. The rollover state is only read; a missing one is a warning, never created.
fn lanes_now(
    path: &std::path::Path,
    now: Ts,
    patience: Ts,
    expiry_days: u32,
) -> Result<Vec<(String, Level, Vec<String>)>, String> {
    use mxdane_rollover::store::Store as _;
    let config = mxdane_rollover::config::Config::read(path).map_err(|e| e.to_string())?;
    let setups = mxdane_rollover::config::lanes(&config)?;
    let name =
        |id: &mxdane_rollover::store::LaneId| format!("rollover:{}:{}", id.service, id.algorithm);
    if !config.state.exists() {
        return Ok(setups
            .iter()
            .map(|s| {
                (
                    name(&s.id),
                    Level::Warning,
                    vec![format!(
                        "no rollover state at {} (mxdane rollover init has not run)",
                        config.state.display()
                    )],
                )
            })
            .collect());
    }
    let events = mxdane_rollover::store::Sqlite::open(&config.state)
        .and_then(|s| s.events())
        .map_err(|e| e.to_string())?;
    Ok(setups
        .iter()
        .map(|s| {
            let mine: Vec<_> = events.iter().filter(|e| e.lane == s.id).collect();
            let lane = mxdane_rollover::lane::Lane::fold(mine.iter().map(|e| &e.event));
            let last = mine.iter().map(|e| e.at).max().unwrap_or(0);
            let (level, problems) =
                crate::lookahead::rollover(&lane, last, now, patience, expiry_days);
            (name(&s.id), level, problems)
        })
        .collect())
}
