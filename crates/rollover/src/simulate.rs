//! The sender's view of a rollover, proven instant by instant.
//!
//! A sender may ask any authoritative server (a lagging secondary included) at any instant and
//! keep the answer for its TTL (RFC 1035 section 3.2.1, RFC 2308 for negative answers). So an
//! RRset version that a server served during `[from, until)` with TTL `t` can sit in some
//! sender's cache at every instant of `[from, until + t)`. A certificate presented during
//! `[c0, c1)` is safe when every RRset version cacheable at some instant of `[c0, c1)`
//! authenticates it. A sender with no cached RRset (or a cached "no such RRset") is not doing
//! DANE with this server, so it cannot see a mismatch; only versions with records count.
//!
//! Everything is piecewise constant, so checking each pair of intervals is exact: no sampling.

use std::collections::BTreeSet;

use crate::Ts;

/// One RRset version: what one server served at one owner name during `[from, until)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The server (name or address), for the report.
    pub server: String,
    /// The TLSA owner name.
    pub owner: String,
    /// From when.
    pub from: Ts,
    /// Until when (None: still served at the end of the timeline).
    pub until: Option<Ts>,
    /// The records, in presentation form (`3 1 1 HEX`).
    pub records: BTreeSet<String>,
    /// The TTL the server gave them.
    pub ttl: u32,
    /// No look saw this version: it is the worst the server may have served between two
    /// looks (every deletion made as early as it could be, no addition yet).
    pub between_looks: bool,
}

/// One certificate presented by the mail server during `[from, until)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presented {
    /// A label for the report (e.g. "ecdsa key 3f2a…").
    pub label: String,
    /// From when.
    pub from: Ts,
    /// Until when (None: still presented at the end).
    pub until: Option<Ts>,
    /// The records that authenticate it (its key's `3 1 1`, its issuer's `2 1 1`).
    pub authenticated_by: Vec<String>,
}

/// The first window in which some sender would fail to authenticate the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// The window's start.
    pub from: Ts,
    /// Its end (None: open-ended).
    pub until: Option<Ts>,
    /// The certificate presented.
    pub cert: String,
    /// Where the failing RRset came from.
    pub server: String,
    /// Its owner.
    pub owner: String,
    /// The records the sender holds.
    pub records: BTreeSet<String>,
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let until = self
            .until
            .map_or_else(|| "the end".to_owned(), |u| u.to_string());
        write!(
            f,
            "from {} to {until}, a sender holding {} at {} from {} cannot authenticate {}",
            self.from,
            if self.records.is_empty() {
                "nothing".to_owned()
            } else {
                self.records
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            self.owner,
            self.server,
            self.cert
        )
    }
}

fn overlap(a: (Ts, Option<Ts>), b: (Ts, Option<Ts>)) -> Option<(Ts, Option<Ts>)> {
    let from = a.0.max(b.0);
    let until = match (a.1, b.1) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    };
    match until {
        Some(u) if u <= from => None,
        u => Some((from, u)),
    }
}

/// Every outage window of the timeline, earliest first (empty: no sender ever fails).
pub fn outages(served: &[Served], presented: &[Presented]) -> Vec<Outage> {
    let mut found = Vec::new();
    for s in served {
        if s.records.is_empty() {
            continue;
        }
        let cacheable = (s.from, s.until.map(|u| u + i64::from(s.ttl)));
        for p in presented {
            if p.authenticated_by.iter().any(|r| s.records.contains(r)) {
                continue;
            }
            if let Some((from, until)) = overlap(cacheable, (p.from, p.until)) {
                found.push(Outage {
                    from,
                    until,
                    cert: p.label.clone(),
                    server: if s.between_looks {
                        format!("{} (at worst, between two looks)", s.server)
                    } else {
                        s.server.clone()
                    },
                    owner: s.owner.clone(),
                    records: s.records.clone(),
                });
            }
        }
    }
    found.sort_by_key(|o| (o.from, o.until.unwrap_or(Ts::MAX)));
    found
}

/// A schedule in text, one change per line (`#` starts a comment; times are seconds since the
/// epoch or RFC 3339):
///
/// ```text
/// dns  TIME SERVER OWNER TTL [RDATA[, RDATA]...]   # from TIME, SERVER serves these at OWNER
/// cert TIME LABEL RDATA[, RDATA]...                # from TIME, the server presents LABEL,
///                                                  # which these records authenticate
/// ```
///
/// Each `dns` line ends the SERVER/OWNER's previous version, each `cert` line the previous
/// certificate of the same LABEL's algorithm (the label's first word, e.g. `ecdsa`).
pub fn parse_schedule(text: &str) -> Result<(Vec<Served>, Vec<Presented>), String> {
    let mut served: Vec<Served> = Vec::new();
    let mut presented: Vec<Presented> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: &str| format!("line {}: {what}: \"{}\"", i + 1, raw.trim());
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or("");
        let time = parse_time(words.next().ok_or_else(|| at("no time"))?)
            .ok_or_else(|| at("the time is neither seconds nor RFC 3339"))?;
        let records = |rest: Vec<&str>| -> BTreeSet<String> {
            rest.join(" ")
                .split(',')
                .map(|r| {
                    r.split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .to_ascii_lowercase()
                })
                .filter(|r| !r.is_empty())
                .collect()
        };
        match kind {
            "dns" => {
                let server = words.next().ok_or_else(|| at("no server"))?.to_owned();
                let owner = words
                    .next()
                    .ok_or_else(|| at("no owner"))?
                    .to_ascii_lowercase();
                let ttl: u32 = words
                    .next()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| at("no TTL"))?;
                for s in served.iter_mut() {
                    if s.server == server && s.owner == owner && s.until.is_none() {
                        if time < s.from {
                            return Err(at("times must not go backwards for a server"));
                        }
                        s.until = Some(time);
                    }
                }
                served.push(Served {
                    server,
                    owner,
                    from: time,
                    until: None,
                    records: records(words.collect()),
                    ttl,
                    between_looks: false,
                });
            }
            "cert" => {
                let label = words.next().ok_or_else(|| at("no label"))?.to_owned();
                let by: Vec<String> = records(words.collect()).into_iter().collect();
                if by.is_empty() {
                    return Err(at("a certificate needs the records that authenticate it"));
                }
                let family = label.split(['/', '-']).next().unwrap_or("").to_owned();
                for p in presented.iter_mut() {
                    if p.label.split(['/', '-']).next() == Some(family.as_str())
                        && p.until.is_none()
                    {
                        p.until = Some(time);
                    }
                }
                presented.push(Presented {
                    label,
                    from: time,
                    until: None,
                    authenticated_by: by,
                });
            }
            other => return Err(at(&format!("unknown kind \"{other}\" (dns or cert)"))),
        }
    }
    Ok((served, presented))
}

fn parse_time(text: &str) -> Option<Ts> {
    text.parse().ok().or_else(|| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(time::OffsetDateTime::unix_timestamp)
    })
}

/// A time for people: RFC 3339 in UTC.
pub fn show_time(t: Ts) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// The timeline as lines a person can read, earliest first.
pub fn timeline(served: &[Served], presented: &[Presented]) -> Vec<String> {
    let mut lines: Vec<(Ts, String)> = Vec::new();
    for s in served {
        let records = if s.records.is_empty() {
            "no TLSA RRset".to_owned()
        } else {
            s.records
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let serves = if s.between_looks {
            "may have served, between two looks,"
        } else {
            "serves"
        };
        lines.push((
            s.from,
            format!(
                "{} {serves} {} (TTL {}) at {}",
                s.server, records, s.ttl, s.owner
            ),
        ));
    }
    for p in presented {
        lines.push((p.from, format!("the mail server presents {}", p.label)));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    lines
        .into_iter()
        .map(|(t, l)| format!("{}  {l}", show_time(t)))
        .collect()
}

/// The timeline the event log implies, replayed from what servers were observed to serve
/// ([`Event::Observed`](crate::lane::Event::Observed)), never from what was requested.
///
/// Each server's looks are replayed in order. A version seen first at `f` may have been served
/// since the last look that saw the version before it, but not before the engine asked for
/// the changes that make it (a server cannot serve a change before it exists); it may be
/// served until the first look that saw the next one. A server's first version counts from
/// the group's first observation. Histories recorded before observations were (or the part
/// of a history before its first observation) fall back to
/// the primary's requested versions, an over-approximation of what any server served.
/// Certificates are presented from adoption or deployment to the next deployment of their
/// lane.
pub fn from_history(
    events: &[crate::store::Stored],
    lanes: &[crate::engine::LaneSetup],
) -> (Vec<Served>, Vec<Presented>) {
    use crate::lane::Event;
    use std::collections::BTreeMap;
    let mut served = Vec::new();
    let mut presented: Vec<Presented> = Vec::new();
    // One RRset history per set of owner names.
    let mut groups: BTreeMap<Vec<String>, Vec<&crate::store::Stored>> = BTreeMap::new();
    for e in events {
        if let Some(l) = lanes.iter().find(|l| l.id == e.lane) {
            groups.entry(l.owners.clone()).or_default().push(e);
        }
    }
    for (owners, evs) in groups {
        let (first, seen) = observed_versions(&evs);
        for mut s in requested_versions(&owners, &evs) {
            // Requests stand in only for the time before the first observation (and a
            // version without records matters to no sender).
            match first {
                Some(_) if s.records.is_empty() => continue,
                Some(t0) if s.from >= t0 => continue,
                Some(t0) => s.until = Some(s.until.map_or(t0, |u| u.min(t0))),
                None => {}
            }
            served.push(s);
        }
        served.extend(seen);
    }
    let mut deploying: BTreeMap<&crate::store::LaneId, &crate::lane::Cert> = BTreeMap::new();
    for s in events {
        let start = |cert: &crate::lane::Cert, at: Ts, presented: &mut Vec<Presented>| {
            for p in presented.iter_mut() {
                if p.label
                    .starts_with(&format!("{}/{} ", s.lane.service, s.lane.algorithm))
                    && p.until.is_none()
                {
                    p.until = Some(at);
                }
            }
            presented.push(Presented {
                label: format!(
                    "{}/{} key {}",
                    s.lane.service,
                    s.lane.algorithm,
                    cert.spki_sha256.chars().take(16).collect::<String>()
                ),
                from: at,
                until: None,
                authenticated_by: cert.authenticated_by(),
            });
        };
        match &s.event {
            Event::Adopted { cert, .. } => start(cert, s.at, &mut presented),
            Event::DeployStarted { cert, .. } => {
                deploying.insert(&s.lane, cert);
            }
            Event::Deployed { at } => {
                if let Some(cert) = deploying.remove(&s.lane) {
                    start(cert, *at, &mut presented);
                }
            }
            _ => {}
        }
    }
    (served, presented)
}

/// The versions each server was observed to serve (see [`from_history`]), and the time of the
/// group's first observation (None: the history holds none).
fn observed_versions(evs: &[&crate::store::Stored]) -> (Option<Ts>, Vec<Served>) {
    use crate::lane::Event;
    use std::collections::BTreeMap;
    type Look = (Ts, BTreeSet<String>, u32);
    // Lanes that share owner names record the same look each: one look per instant.
    let mut looks: BTreeMap<(&String, &String), Vec<Look>> = BTreeMap::new();
    // When the engine asked for each record to be added (true) or deleted (false).
    let mut asked: BTreeMap<(bool, &String), Vec<Ts>> = BTreeMap::new();
    for s in evs {
        match &s.event {
            Event::Observed {
                server,
                owner,
                records,
                ttl,
                at,
            } => {
                let l = looks.entry((server, owner)).or_default();
                let look = (*at, records.iter().cloned().collect(), *ttl);
                if !l.contains(&look) {
                    l.push(look);
                }
            }
            Event::PublishRequested { rdata, at, .. } => {
                asked.entry((true, rdata)).or_default().push(*at);
            }
            Event::WithdrawRequested { rdata, at } => {
                asked.entry((false, rdata)).or_default().push(*at);
            }
            _ => {}
        }
    }
    let first = looks.values().flatten().map(|l| l.0).min();
    let Some(t0) = first else {
        return (None, Vec::new());
    };
    // The earliest time the primary may have made a change of `rdata` (added or deleted) that
    // a server shows at the look at `by` and did not show at the look at `after`: the first
    // request for it since the last request for the opposite change made before `after` (the
    // server had applied that one; a later opposite request may not have reached it, and a
    // later request for the same change, from a lane that shares the RRset or a retry, does
    // not make it later). A step looks before it acts: requests made at the instant of a
    // look come after it.
    let request = |add: bool, rdata: &String, after: Ts, by: Ts| -> Option<Ts> {
        let applied = asked
            .get(&(!add, rdata))
            .into_iter()
            .flatten()
            .copied()
            .filter(|t| *t < after)
            .max();
        asked
            .get(&(add, rdata))?
            .iter()
            .copied()
            .filter(|t| *t < by && applied.is_none_or(|u| *t >= u))
            .min()
    };
    let mut out = Vec::new();
    for ((server, owner), mut l) in looks {
        l.sort_by_key(|x| x.0);
        // Runs of equal versions: (first look, last look, records, ttl).
        let mut runs: Vec<(Ts, Ts, BTreeSet<String>, u32)> = Vec::new();
        for (at, records, ttl) in l {
            match runs.last_mut() {
                Some(r) if r.2 == records && r.3 == ttl => r.1 = at,
                _ => runs.push((at, at, records, ttl)),
            }
        }
        for (k, run) in runs.iter().enumerate() {
            let mut from = t0;
            if let Some(before) = k.checked_sub(1).and_then(|j| runs.get(j)) {
                // Between the two looks the server went from one version to the other, change
                // by change, in an order the history does not tell (an addition refused and
                // asked again comes after a deletion asked later). No change happened before
                // the last look at the version before, nor before it was first asked for (one
                // nobody asked for, made by hand, only after that last look).
                let earliest =
                    |add: bool, r: &String| request(add, r, before.1, run.0).unwrap_or(before.1);
                let added: Vec<Ts> = run
                    .2
                    .difference(&before.2)
                    .map(|r| earliest(true, r))
                    .collect();
                let mut deleted: Vec<(Ts, &String)> = before
                    .2
                    .difference(&run.2)
                    .map(|r| (earliest(false, r), r))
                    .collect();
                deleted.sort();
                from = added
                    .iter()
                    .chain(deleted.iter().map(|d| &d.0))
                    .copied()
                    .fold(before.1, Ts::max);
                for (at, records) in worst_between(&before.2, &deleted, &run.2) {
                    out.push(Served {
                        server: server.clone(),
                        owner: owner.clone(),
                        from: before.1.max(at).max(0),
                        until: Some(run.0),
                        records,
                        ttl: run.3.max(before.3),
                        between_looks: true,
                    });
                }
            }
            out.push(Served {
                server: server.clone(),
                owner: owner.clone(),
                from: from.max(0),
                until: runs.get(k + 1).map(|next| next.0),
                records: run.2.clone(),
                ttl: run.3,
                between_looks: false,
            });
        }
    }
    (first, out)
}

/// The worst versions a server may have served between a look that saw `before` and one
/// that saw `after`: every deletion made as early as it can be (`deleted`, sorted by that
/// time), no addition yet (an addition only helps a sender); each with the time it may begin.
/// The last, when it is `after` itself, is left out (it is served anyway).
fn worst_between(
    before: &BTreeSet<String>,
    deleted: &[(Ts, &String)],
    after: &BTreeSet<String>,
) -> Vec<(Ts, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut version = before.clone();
    let mut i = 0;
    while let Some(&(at, _)) = deleted.get(i) {
        while let Some(&(t, r)) = deleted.get(i)
            && t == at
        {
            version.remove(r);
            i += 1;
        }
        if version == *after {
            break;
        }
        out.push((at, version.clone()));
    }
    out
}

/// The primary's versions as the requests in the log imply them: every server serves some
/// past version of the primary's RRset; version k (from the change that made it) may be
/// served until the next change was seen on every server (open-ended while it is not).
fn requested_versions(owners: &[String], evs: &[&crate::store::Stored]) -> Vec<Served> {
    use crate::lane::Event;
    use std::collections::BTreeMap;
    let mut served = Vec::new();
    // Versions of the primary's RRset; changes made at one instant (one update) make one
    // version. `ends[k]` are the changes that turned version k into version k + 1.
    let mut versions: Vec<(Ts, BTreeSet<String>)> = vec![(Ts::MIN, BTreeSet::new())];
    let mut ends: Vec<Vec<(bool, String)>> = Vec::new();
    let mut ttl = 0u32;
    let mut seen_at: BTreeMap<(bool, String), Vec<Ts>> = BTreeMap::new();
    // Additions the primary refused or that failed, never seen everywhere afterwards:
    // no server served them (the history replays what servers were seen to serve, and a
    // refused request is not a version).
    let ever_visible: BTreeSet<&String> = evs
        .iter()
        .filter_map(|s| match &s.event {
            Event::Visible { rdata, .. } => Some(rdata),
            _ => None,
        })
        .collect();
    let refused: BTreeSet<(Ts, &String)> = evs
        .iter()
        .filter_map(|s| match &s.event {
            Event::ActionFailed {
                at, unpublished, ..
            } => Some(unpublished.iter().map(move |r| (*at, r))),
            _ => None,
        })
        .flatten()
        .filter(|(_, r)| !ever_visible.contains(r))
        .collect();
    for s in evs {
        let change = match &s.event {
            Event::PublishRequested { rdata, at, .. } if refused.contains(&(*at, rdata)) => None,
            Event::PublishRequested { rdata, at, .. } => Some((true, rdata.clone(), *at)),
            Event::WithdrawRequested { rdata, at } => Some((false, rdata.clone(), *at)),
            Event::Visible { rdata, at, ttl: t } => {
                ttl = ttl.max(*t);
                seen_at.entry((true, rdata.clone())).or_default().push(*at);
                None
            }
            Event::Gone { rdata } => {
                seen_at
                    .entry((false, rdata.clone()))
                    .or_default()
                    .push(s.at);
                None
            }
            _ => None,
        };
        let Some((add, rdata, at)) = change else {
            continue;
        };
        let mut next = versions.last().map(|v| v.1.clone()).unwrap_or_default();
        let changed = if add {
            next.insert(rdata.clone())
        } else {
            next.remove(&rdata)
        };
        if !changed {
            continue;
        }
        match (versions.last_mut(), ends.last_mut()) {
            (Some(last), Some(end)) if last.0 == at => {
                last.1 = next;
                end.push((add, rdata));
            }
            _ => {
                ends.push(vec![(add, rdata)]);
                versions.push((at, next));
            }
        }
    }
    // When each batch of changes was first seen on every server: any one change of it seen
    // everywhere (before a later change undid it) shows that every server has moved to
    // that version or later, because servers apply the primary's updates in order.
    let undone_at = |j: usize, c: &(bool, String)| -> Option<Ts> {
        ends.iter()
            .enumerate()
            .skip(j + 1)
            .find(|(_, batch)| batch.iter().any(|(_, r)| *r == c.1))
            .and_then(|(i, _)| versions.get(i + 1).map(|v| v.0))
    };
    let seen: Vec<Option<Ts>> = ends
        .iter()
        .enumerate()
        .map(|(j, batch)| {
            let from = versions.get(j + 1).map_or(Ts::MAX, |v| v.0);
            batch
                .iter()
                .filter_map(|c| {
                    let limit = undone_at(j, c).unwrap_or(Ts::MAX);
                    seen_at
                        .get(c)?
                        .iter()
                        .copied()
                        .find(|t| *t >= from && *t < limit)
                })
                .min()
        })
        .collect();
    for (k, (from, records)) in versions.iter().enumerate() {
        // Version k may be served until some later version was seen everywhere.
        let until = seen.iter().skip(k).flatten().copied().min();
        for o in owners {
            served.push(Served {
                server: "some server".into(),
                owner: o.clone(),
                from: (*from).max(0),
                until,
                records: records.clone(),
                ttl,
                between_looks: false,
            });
        }
    }
    served
}

/// A lane whose history holds records that were asked for and never seen on every server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpublished {
    /// The lane.
    pub lane: crate::store::LaneId,
    /// Whether any record of the lane was ever seen on every server.
    pub ever_published: bool,
    /// The records asked for (and not withdrawn since) that no look ever saw everywhere.
    pub records: Vec<String>,
    /// The lane's last recorded failure.
    pub last_failure: Option<crate::lane::Failure>,
}

/// Every lane with records that were asked for and never seen on every server (refused,
/// failed, or still on their way), with its last failure: what `simulate --history` must say
/// besides the outages, since a refused update leaves nothing that could fail.
pub fn unpublished(
    events: &[crate::store::Stored],
    lanes: &[crate::engine::LaneSetup],
) -> Vec<Unpublished> {
    use crate::lane::Event;
    let mut out = Vec::new();
    for l in lanes {
        let evs = events.iter().filter(|e| e.lane == l.id);
        let mut asked: BTreeSet<String> = BTreeSet::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut lane = crate::lane::Lane::default();
        for e in evs {
            lane.apply(&e.event);
            match &e.event {
                Event::PublishRequested { rdata, .. } => {
                    asked.insert(rdata.clone());
                }
                Event::WithdrawRequested { rdata, .. } => {
                    asked.remove(rdata);
                }
                Event::Visible { rdata, .. } => {
                    seen.insert(rdata.clone());
                }
                _ => {}
            }
        }
        let records: Vec<String> = asked.difference(&seen).cloned().collect();
        if !records.is_empty() {
            out.push(Unpublished {
                lane: l.id.clone(),
                ever_published: !seen.is_empty(),
                records,
                last_failure: lane.last_failure().cloned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
