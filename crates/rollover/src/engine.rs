//! The engine: observe the world, fold what changed into events, decide, and act, writing
//! each event before the action it announces. Every action is idempotent and re-checked
//! against the world (an interrupted deployment asks the server what it presents), so a
//! process killed at any point and run again converges (P-05).
//!
//! The world (DNS servers, the DNS update channel, key files, the mail server) is behind the
//! [`World`] trait: `mxdane rollover` implements it with RFC 2136, the nameserver view and SMTP
//! probes; the tests with a simulated world whose secondaries lag and whose updates fail.

use std::collections::{BTreeMap, BTreeSet};

use crate::Ts;
use crate::lane::{Action, Cert, Decision, Event, Key, Lane, Scheme};
use crate::store::{LaneId, Store, StoreError};

/// What one authoritative server answered for one owner name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The server (name and address).
    pub server: String,
    /// The TLSA owner name.
    pub owner: String,
    /// The RRset (presentation forms) and its TTL, an empty set for "no such RRset", or why
    /// there is no usable answer (no reply, a signature that does not verify).
    pub rrset: Result<(BTreeSet<String>, u32), String>,
}

/// Everything the engine learns from DNS in one look.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Every server's answer for every owner.
    pub answers: Vec<Answer>,
    /// The zone's negative-caching TTL (RFC 2308: the SOA's minimum, capped by its TTL).
    pub negative_ttl: u32,
}

impl Observation {
    /// Whether every server serves `rdata` at every owner, and the largest TTL they give.
    fn everywhere(&self, rdata: &str) -> Option<u32> {
        let mut ttl = 0;
        if self.answers.is_empty() {
            return None;
        }
        for a in &self.answers {
            match &a.rrset {
                Ok((set, t)) if set.contains(rdata) => ttl = ttl.max(*t),
                _ => return None,
            }
        }
        Some(ttl)
    }

    /// Whether every server answered and none serves `rdata`.
    fn gone_everywhere(&self, rdata: &str) -> bool {
        !self.answers.is_empty()
            && self
                .answers
                .iter()
                .all(|a| matches!(&a.rrset, Ok((set, _)) if !set.contains(rdata)))
    }

    /// Whether no server has the RRset at all (a record added now makes it new).
    fn rrset_absent(&self) -> bool {
        self.answers
            .iter()
            .all(|a| matches!(&a.rrset, Ok((set, _)) if set.is_empty()))
    }
}

/// The world the engine acts on. `now` is passed for logs and simulated worlds.
pub trait World {
    /// Asks every authoritative server for the TLSA RRset at each owner.
    fn observe(&mut self, owners: &[String], now: Ts) -> Result<Observation, String>;
    /// Adds records at every owner, all in one change (idempotent).
    fn publish(&mut self, owners: &[String], rdatas: &[String], now: Ts) -> Result<(), String>;
    /// Deletes records at every owner, all in one change (idempotent).
    fn withdraw(&mut self, owners: &[String], rdatas: &[String], now: Ts) -> Result<(), String>;
    /// Makes a new key pair for a lane, written with mode 0600.
    fn make_key(&mut self, lane: &LaneId, now: Ts) -> Result<Key, String>;
    /// Whether the server already presents `cert` on every address (after an interrupted
    /// deployment).
    fn presents(&mut self, lane: &LaneId, cert: &Cert, now: Ts) -> Result<bool, String>;
    /// Installs `key` and `cert` atomically, reloads the server and probes it on every
    /// address; on any failure it puts `previous` back, reloads, and says why.
    fn deploy(
        &mut self,
        lane: &LaneId,
        key: &Key,
        cert: &Cert,
        previous: Option<(&Key, &Cert)>,
        now: Ts,
    ) -> Result<(), String>;
}

/// A lane as configured: its owner names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneSetup {
    /// The lane.
    pub id: LaneId,
    /// The TLSA owner names (`_PORT._tcp.BASE` for each base).
    pub owners: Vec<String>,
    /// The scheme (used by `init`).
    pub scheme: Scheme,
}

/// What one step did and what each lane waits for.
#[derive(Clone, Debug, Default)]
pub struct StepReport {
    /// Per lane: the actions taken, in words.
    pub done: BTreeMap<LaneId, Vec<String>>,
    /// Per lane: the decision after the step.
    pub decisions: BTreeMap<LaneId, Decision>,
    /// Per lane: actions that failed (they are retried on the next step).
    pub errors: BTreeMap<LaneId, Vec<String>>,
}

impl StepReport {
    /// Whether anything was done.
    pub fn progressed(&self) -> bool {
        self.done.values().any(|d| !d.is_empty())
    }

    /// Whether some lane needs a person.
    pub fn needs_human(&self) -> bool {
        self.decisions.values().any(|d| d.needs_human.is_some())
    }
}

/// The events an observation implies for a lane: records newly seen on every server, no longer
/// seen everywhere, served with a larger TTL, or gone after a withdrawal.
pub fn observation_events(lane: &Lane, obs: &Observation, now: Ts) -> Vec<Event> {
    let mut out = Vec::new();
    for (rdata, rec) in &lane.records {
        let rdata = rdata.clone();
        if rec.withdrawn {
            if obs.gone_everywhere(&rdata) {
                out.push(Event::Gone { rdata });
            }
            continue;
        }
        match (obs.everywhere(&rdata), rec.visible_since) {
            (Some(ttl), None) => out.push(Event::Visible {
                rdata,
                at: now,
                ttl,
            }),
            (Some(ttl), Some(_)) if ttl > rec.ttl => out.push(Event::TtlRaised { rdata, ttl }),
            (None, Some(_)) => out.push(Event::NotVisible { rdata }),
            _ => {}
        }
    }
    out
}

/// The servers whose answer differs from what the lane last recorded for them: one
/// [`Event::Observed`] each, so that the history holds what every server was seen to serve
/// (answers that did not verify are not observations).
pub fn observed_changes(lane: &Lane, obs: &Observation, now: Ts) -> Vec<Event> {
    let mut out = Vec::new();
    for a in &obs.answers {
        let Ok((set, ttl)) = &a.rrset else {
            continue;
        };
        let key = (a.server.clone(), a.owner.clone());
        // The set iterates in order, as the recorded list was written: compared in place.
        let same = lane
            .observed
            .get(&key)
            .is_some_and(|(r, t)| t == ttl && r.iter().eq(set.iter()));
        if !same {
            out.push(Event::Observed {
                server: a.server.clone(),
                owner: a.owner.clone(),
                records: set.iter().cloned().collect(),
                ttl: *ttl,
                at: now,
            });
        }
    }
    out
}

fn push(map: &mut BTreeMap<LaneId, Vec<String>>, id: &LaneId, what: String) {
    map.entry(id.clone()).or_default().push(what);
}

/// One step's working state: the lanes as folded, what each look saw, the report, and the
/// failed additions (the record each was to add, by lane and error).
struct Pass {
    lanes: BTreeMap<LaneId, Lane>,
    setups: Vec<LaneSetup>,
    seen: BTreeMap<LaneId, Observation>,
    report: StepReport,
    unpublished: BTreeMap<(LaneId, String), String>,
    now: Ts,
}

/// An engine over a store and a world.
pub struct Engine<S, W> {
    /// The event store.
    pub store: S,
    /// The world.
    pub world: W,
    lanes: Vec<LaneSetup>,
}

/// Why a step stopped: the store failed (nothing after the failure happened).
#[derive(Debug)]
pub struct EngineError(pub String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        Self(e.0)
    }
}

impl<S: Store, W: World> Engine<S, W> {
    /// An engine for these lanes.
    pub fn new(store: S, world: W, lanes: Vec<LaneSetup>) -> Self {
        Self {
            store,
            world,
            lanes,
        }
    }

    /// Every lane's state, folded from the store.
    pub fn lanes(&self) -> Result<BTreeMap<LaneId, Lane>, EngineError> {
        let mut out: BTreeMap<LaneId, Lane> = self
            .lanes
            .iter()
            .map(|l| (l.id.clone(), Lane::default()))
            .collect();
        for s in self.store.events()? {
            if let Some(lane) = out.get_mut(&s.lane) {
                lane.apply(&s.event);
            }
        }
        Ok(out)
    }

    fn record(
        &mut self,
        lane: &mut Lane,
        id: &LaneId,
        now: Ts,
        e: Event,
    ) -> Result<(), EngineError> {
        self.store.append(id, now, &e)?;
        lane.apply(&e);
        Ok(())
    }

    /// Adopts the certificate in service for a lane (`rollover init`); a lane that already has
    /// one is left alone.
    pub fn adopt(
        &mut self,
        id: &LaneId,
        key: Key,
        cert: Cert,
        now: Ts,
    ) -> Result<bool, EngineError> {
        let mut lanes = self.lanes()?;
        let scheme = self
            .lanes
            .iter()
            .find(|l| &l.id == id)
            .map(|l| l.scheme)
            .ok_or_else(|| EngineError(format!("no lane {}/{}", id.service, id.algorithm)))?;
        let Some(lane) = lanes.get_mut(id) else {
            return Ok(false);
        };
        if lane.current.is_some() {
            return Ok(false);
        }
        self.record(lane, id, now, Event::Adopted { key, cert, scheme })?;
        Ok(true)
    }

    /// Takes a certificate obtained elsewhere (ACME, `rollover submit`) if the lane accepts it.
    pub fn submit(&mut self, id: &LaneId, cert: Cert, now: Ts) -> Result<(), EngineError> {
        let mut lanes = self.lanes()?;
        let lane = lanes
            .get_mut(id)
            .ok_or_else(|| EngineError(format!("no lane {}/{}", id.service, id.algorithm)))?;
        lane.accepts(&cert, now).map_err(EngineError)?;
        self.record(lane, id, now, Event::CertSubmitted { cert })
    }

    /// Records an ACME bookkeeping event (an order placed or failed, the CA's renewal
    /// window). Events that move certificates or records are refused: those come only from
    /// [`Engine::step`], [`Engine::adopt`] and [`Engine::submit`], which check the gate.
    pub fn note(&mut self, id: &LaneId, e: Event, now: Ts) -> Result<(), EngineError> {
        if !matches!(
            e,
            Event::OrderPlaced { .. } | Event::OrderFailed { .. } | Event::RenewalWindow { .. }
        ) {
            return Err(EngineError(
                "only ACME bookkeeping events can be noted".into(),
            ));
        }
        let mut lanes = self.lanes()?;
        let lane = lanes
            .get_mut(id)
            .ok_or_else(|| EngineError(format!("no lane {}/{}", id.service, id.algorithm)))?;
        self.record(lane, id, now, e)
    }

    /// One pass over every lane: observe, fold, decide, act.
    ///
    /// Additions are batched per set of owner names: lanes that share an RRset (RSA and
    /// ECDSA of one service) enter it in one update, so no sender ever caches an RRset that
    /// holds one algorithm's record and not the other's.
    pub fn step(&mut self, now: Ts) -> Result<StepReport, EngineError> {
        let mut p = Pass {
            lanes: self.lanes()?,
            setups: self.lanes.clone(),
            seen: BTreeMap::new(),
            report: StepReport::default(),
            unpublished: BTreeMap::new(),
            now,
        };
        for s in &p.setups {
            p.report.done.insert(s.id.clone(), Vec::new());
            p.report.errors.insert(s.id.clone(), Vec::new());
        }
        self.observe_all(&mut p)?;
        self.stage_next(&mut p)?;
        self.publish_batches(&mut p)?;
        self.act_lanes(&mut p)?;
        self.record_failures(&mut p)?;
        for setup in &p.setups {
            if let Some(lane) = p.lanes.get(&setup.id) {
                p.report
                    .decisions
                    .insert(setup.id.clone(), lane.decide(now));
            }
        }
        Ok(p.report)
    }

    /// Observes every lane's owner names and folds what changed into events; a lane whose look failed, or each server whose answer is unusable, is an error.
    fn observe_all(&mut self, p: &mut Pass) -> Result<(), EngineError> {
        // Observe and fold.
        for setup in &p.setups {
            let Some(lane) = p.lanes.get_mut(&setup.id) else {
                continue;
            };
            match self.world.observe(&setup.owners, p.now) {
                Ok(obs) => {
                    // A server whose answer is unusable (no reply, a signature or a denial
                    // that does not verify) serves nothing the gate can count: said, and the
                    // gate stays shut for what it alone would have to confirm.
                    for a in &obs.answers {
                        if let Err(why) = &a.rrset {
                            push(
                                &mut p.report.errors,
                                &setup.id,
                                format!("{} at {}: {why}", a.server, a.owner),
                            );
                        }
                    }
                    self.fold_observation(lane, &setup.id, &obs, p.now)?;
                    p.seen.insert(setup.id.clone(), obs);
                }
                Err(e) => push(
                    &mut p.report.errors,
                    &setup.id,
                    format!("cannot observe DNS: {e}"),
                ),
            }
        }
        Ok(())
    }

    /// Stages new next keys first, so that their records go out with this step's additions.
    fn stage_next(&mut self, p: &mut Pass) -> Result<(), EngineError> {
        // New next keys first, so that their records go out with this step's additions.
        for setup in &p.setups {
            let (Some(lane), true) = (p.lanes.get_mut(&setup.id), p.seen.contains_key(&setup.id))
            else {
                continue;
            };
            if lane.decide(p.now).actions.contains(&Action::StageNext) {
                match self.act(lane, setup, Action::StageNext, p.now)? {
                    Ok(what) => push(&mut p.report.done, &setup.id, what),
                    Err(why) => push(&mut p.report.errors, &setup.id, why),
                }
            }
        }
        Ok(())
    }

    /// Publishes additions, batched per set of owner names.
    fn publish_batches(&mut self, p: &mut Pass) -> Result<(), EngineError> {
        // Additions, new ones announced by an event first; and records asked for earlier but
        // not yet everywhere, asked again (adding a record that is there is a no-op, and the
        // first request may have been lost when a process stopped).
        let mut batches: BTreeMap<Vec<String>, Vec<(LaneId, String, bool)>> = BTreeMap::new();
        for setup in &p.setups {
            let (Some(lane), Some(obs)) = (p.lanes.get(&setup.id), p.seen.get(&setup.id)) else {
                continue;
            };
            let batch = batches.entry(setup.owners.clone()).or_default();
            for a in lane.decide(p.now).actions {
                if let Action::Publish { rdata } = a {
                    batch.push((setup.id.clone(), rdata, true));
                }
            }
            for (rdata, rec) in &lane.records {
                if !rec.withdrawn && rec.visible_since.is_none() && obs.everywhere(rdata).is_none()
                {
                    batch.push((setup.id.clone(), rdata.clone(), false));
                }
            }
        }
        for (owners, items) in batches {
            if items.is_empty() {
                continue;
            }
            for (id, rdata, new) in &items {
                let (Some(lane), Some(obs)) = (p.lanes.get_mut(id), p.seen.get(id)) else {
                    continue;
                };
                if *new {
                    let negative_ttl = if obs.rrset_absent() {
                        obs.negative_ttl
                    } else {
                        0
                    };
                    self.record(
                        lane,
                        id,
                        p.now,
                        Event::PublishRequested {
                            rdata: rdata.clone(),
                            at: p.now,
                            negative_ttl,
                        },
                    )?;
                }
            }
            let mut rdatas: Vec<String> = items.iter().map(|i| i.1.clone()).collect();
            rdatas.sort();
            rdatas.dedup();
            let result = self.world.publish(&owners, &rdatas, p.now);
            for (id, rdata, new) in &items {
                match (&result, new) {
                    (Ok(()), true) => push(&mut p.report.done, id, format!("published {rdata}")),
                    (Ok(()), false) => {}
                    (Err(e), _) => {
                        let why = format!("publishing \"{rdata}\": {e}");
                        p.unpublished
                            .insert((id.clone(), why.clone()), rdata.clone());
                        push(&mut p.report.errors, id, why);
                    }
                }
            }
        }
        Ok(())
    }

    /// Everything else, lane by lane, and deletions asked for again.
    fn act_lanes(&mut self, p: &mut Pass) -> Result<(), EngineError> {
        // Everything else, lane by lane.
        for setup in &p.setups {
            let id = &setup.id;
            if !p.seen.contains_key(id) {
                continue;
            }
            let others = Self::needed_by_others(&p.lanes, setup, &p.setups, p.now);
            let Some(lane) = p.lanes.get_mut(id) else {
                continue;
            };
            for action in lane.decide(p.now).actions {
                match &action {
                    Action::Publish { .. } | Action::StageNext => continue,
                    // Lanes that share owner names share the RRset: a record one lane no
                    // longer needs may be another's.
                    Action::Withdraw { rdata } if others.contains(rdata) => continue,
                    _ => {}
                }
                match self.act(lane, setup, action, p.now)? {
                    Ok(what) => push(&mut p.report.done, id, what),
                    Err(why) => push(&mut p.report.errors, id, why),
                }
            }
            // Deletions asked for earlier and not yet done everywhere: asked again.
            if let Some(obs) = p.seen.get(id) {
                let again: Vec<String> = lane
                    .records
                    .iter()
                    .filter(|(r, rec)| rec.withdrawn && !obs.gone_everywhere(r))
                    .map(|(r, _)| r.clone())
                    .collect();
                if !again.is_empty()
                    && let Err(e) = self.world.withdraw(&setup.owners, &again, p.now)
                {
                    push(&mut p.report.errors, id, format!("withdrawing again: {e}"));
                }
            }
        }
        Ok(())
    }

    /// Records every failure of the step in the history.
    fn record_failures(&mut self, p: &mut Pass) -> Result<(), EngineError> {
        // Every failure goes into the history (at most once an hour while it repeats), so
        // that `status` and the simulator know what was refused.
        for setup in &p.setups {
            let Some(lane) = p.lanes.get_mut(&setup.id) else {
                continue;
            };
            for why in p.report.errors.get(&setup.id).into_iter().flatten() {
                let repeat = lane
                    .failures
                    .get(why)
                    .is_some_and(|f| p.now - f.at < crate::lane::FAILURE_RECORD_EVERY);
                if !repeat {
                    let e = Event::ActionFailed {
                        why: why.clone(),
                        at: p.now,
                        unpublished: p
                            .unpublished
                            .get(&(setup.id.clone(), why.clone()))
                            .into_iter()
                            .cloned()
                            .collect(),
                    };
                    self.record(lane, &setup.id, p.now, e)?;
                }
            }
        }
        Ok(())
    }

    /// The records other lanes with the same owner names need now (what they want
    /// published and what authenticates their live certificates).
    fn needed_by_others(
        lanes: &BTreeMap<LaneId, Lane>,
        setup: &LaneSetup,
        setups: &[LaneSetup],
        now: Ts,
    ) -> BTreeSet<String> {
        let mut need = BTreeSet::new();
        for other in setups {
            if other.id == setup.id || !other.owners.iter().any(|o| setup.owners.contains(o)) {
                continue;
            }
            if let Some(l) = lanes.get(&other.id) {
                need.extend(l.desired(now));
                if let Some((_, c)) = &l.current {
                    need.extend(c.authenticated_by());
                }
            }
        }
        need
    }

    fn fold_observation(
        &mut self,
        lane: &mut Lane,
        id: &LaneId,
        obs: &Observation,
        now: Ts,
    ) -> Result<(), EngineError> {
        for e in observed_changes(lane, obs, now) {
            self.record(lane, id, now, e)?;
        }
        for e in observation_events(lane, obs, now) {
            self.record(lane, id, now, e)?;
        }
        Ok(())
    }

    /// What `step` would do now, changing nothing: every lane observed and decided, nothing
    /// written and nothing sent.
    pub fn plan(
        &mut self,
        now: Ts,
    ) -> Result<BTreeMap<LaneId, Result<Decision, String>>, EngineError> {
        let mut lanes = self.lanes()?;
        let mut out = BTreeMap::new();
        for setup in self.lanes.clone() {
            let Some(lane) = lanes.get_mut(&setup.id) else {
                continue;
            };
            let d = match self.world.observe(&setup.owners, now) {
                Ok(obs) => {
                    for e in observation_events(lane, &obs, now) {
                        lane.apply(&e);
                    }
                    Ok(lane.decide(now))
                }
                Err(e) => Err(format!("cannot observe DNS: {e}")),
            };
            out.insert(setup.id.clone(), d);
        }
        Ok(out)
    }

    /// Performs one action: Ok(Ok(what)) when done, Ok(Err(why)) when the world refused (the
    /// step goes on), Err when the store failed (the step stops).
    fn act(
        &mut self,
        lane: &mut Lane,
        setup: &LaneSetup,
        action: Action,
        now: Ts,
    ) -> Result<Result<String, String>, EngineError> {
        let id = &setup.id;
        Ok(match action {
            Action::StageNext => match self.world.make_key(id, now) {
                Ok(key) => {
                    let what = format!("staged next key {}", key.spki_sha256);
                    self.record(lane, id, now, Event::NextStaged { key })?;
                    Ok(what)
                }
                Err(e) => Err(format!("cannot make the next key: {e}")),
            },
            Action::Publish { rdata } => Err(format!("\"{rdata}\" is published in a batch")),
            Action::Withdraw { rdata } => {
                self.record(
                    lane,
                    id,
                    now,
                    Event::WithdrawRequested {
                        rdata: rdata.clone(),
                        at: now,
                    },
                )?;
                self.world
                    .withdraw(&setup.owners, std::slice::from_ref(&rdata), now)
                    .map(|()| format!("withdrew {rdata}"))
                    .map_err(|e| format!("withdrawing \"{rdata}\": {e}"))
            }
            Action::Deploy { cert } => {
                if lane.deploying.as_ref() != Some(&cert) {
                    self.record(
                        lane,
                        id,
                        now,
                        Event::DeployStarted {
                            cert: cert.clone(),
                            at: now,
                        },
                    )?;
                } else if self.world.presents(id, &cert, now) == Ok(true) {
                    // Interrupted after the switch: the server already serves it.
                    self.record(lane, id, now, Event::Deployed { at: now })?;
                    return Ok(Ok(format!(
                        "confirmed certificate for {}",
                        cert.spki_sha256
                    )));
                }
                let key = match (&lane.current, &lane.next) {
                    (Some((k, _)), _) if k.spki_sha256 == cert.spki_sha256 => k.clone(),
                    (_, Some(k)) if k.spki_sha256 == cert.spki_sha256 => k.clone(),
                    _ => Key {
                        spki_sha256: cert.spki_sha256.clone(),
                        file: cert.key_file.clone().unwrap_or_default(),
                    },
                };
                let previous = lane.current.clone();
                match self.world.deploy(
                    id,
                    &key,
                    &cert,
                    previous.as_ref().map(|(k, c)| (k, c)),
                    now,
                ) {
                    Ok(()) => {
                        self.record(lane, id, now, Event::Deployed { at: now })?;
                        Ok(format!("deployed certificate for {}", cert.spki_sha256))
                    }
                    Err(why) => {
                        self.record(
                            lane,
                            id,
                            now,
                            Event::DeployFailed {
                                why: why.clone(),
                                at: now,
                            },
                        )?;
                        Err(format!("deployment failed, previous pair restored: {why}"))
                    }
                }
            }
        })
    }
}
