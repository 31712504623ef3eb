//! What `mxdane rollover status` and `plan` print: the lanes' JSON views and their text.

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Serialize)]
pub(super) struct WaitView {
    pub(super) what: String,
    pub(super) until: Option<String>,
}

#[derive(Serialize)]
pub(super) struct RecordView {
    pub(super) rdata: String,
    pub(super) visible_since: Option<String>,
    pub(super) ttl: u32,
    pub(super) withdrawn: bool,
}

#[derive(Serialize)]
pub(super) struct ServerView {
    pub(super) server: String,
    pub(super) owner: String,
    pub(super) records: Option<Vec<String>>,
    pub(super) ttl: Option<u32>,
    pub(super) error: Option<String>,
}

/// The lane's ACME side (issue 15).
#[derive(Serialize)]
pub(super) struct OrderingView {
    pub(super) account: Option<String>,
    pub(super) ca_window: Option<[String; 2]>,
    pub(super) failures: u32,
    pub(super) last_failure: Option<String>,
    pub(super) last_failure_at: Option<String>,
    pub(super) open_order: Option<String>,
    pub(super) retry_at: Option<String>,
}

/// The lane's last recorded failure (issue 26): an UPDATE refused, a timeout, a view that was
/// not Secure.
#[derive(Serialize)]
pub(super) struct FailureView {
    pub(super) at: String,
    pub(super) count: u32,
    pub(super) since: String,
    pub(super) why: String,
}

impl FailureView {
    pub(super) fn new(f: &mxdane_rollover::lane::Failure) -> Self {
        Self {
            at: show_time(f.at),
            count: f.count,
            since: show_time(f.since),
            why: f.why.clone(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct LaneView {
    pub(super) acme: Option<OrderingView>,
    pub(super) algorithm: String,
    pub(super) current: Option<String>,
    pub(super) current_not_after: Option<String>,
    pub(super) done: Vec<String>,
    pub(super) errors: Vec<String>,
    pub(super) last_failure: Option<FailureView>,
    pub(super) needs_human: Option<String>,
    pub(super) next: Option<String>,
    pub(super) pending: Option<String>,
    pub(super) records: Vec<RecordView>,
    pub(super) renewal_due: Option<String>,
    pub(super) scheme: Option<&'static str>,
    pub(super) servers: Vec<ServerView>,
    pub(super) service: String,
    pub(super) waits: Vec<WaitView>,
}

impl LaneView {
    pub(super) fn new(
        id: &LaneId,
        lane: Option<&Lane>,
        d: Option<&Decision>,
        error: Option<&String>,
    ) -> Self {
        let mut v = Self {
            acme: lane.map(|l| {
                let o = &l.ordering;
                OrderingView {
                    account: o.account.clone(),
                    ca_window: o
                        .window
                        .as_ref()
                        .filter(|(_, s, e, _)| s <= e)
                        .map(|(_, s, e, _)| [show_time(*s), show_time(*e)]),
                    failures: o.failures,
                    last_failure: o.last_failure.as_ref().map(|(w, _)| w.clone()),
                    last_failure_at: o.last_failure.as_ref().map(|(_, t)| show_time(*t)),
                    open_order: o.open.as_ref().map(|(u, _)| u.clone()),
                    retry_at: o.retry_at.map(show_time),
                }
            }),
            algorithm: id.algorithm.clone(),
            current: lane
                .and_then(|l| l.current.as_ref())
                .map(|(k, _)| k.spki_sha256.clone()),
            current_not_after: lane
                .and_then(|l| l.current.as_ref())
                .map(|(_, c)| show_time(c.not_after)),
            done: Vec::new(),
            errors: error.into_iter().cloned().collect(),
            last_failure: lane.and_then(Lane::last_failure).map(FailureView::new),
            needs_human: d.and_then(|d| d.needs_human.clone()),
            next: lane
                .and_then(|l| l.next.as_ref())
                .map(|k| k.spki_sha256.clone()),
            pending: lane
                .and_then(|l| l.pending.as_ref())
                .map(|c| c.spki_sha256.clone()),
            records: Vec::new(),
            renewal_due: lane.and_then(|l| {
                let (_, c) = l.current.as_ref()?;
                let window = l
                    .ordering
                    .window
                    .as_ref()
                    .filter(|(spki, ..)| *spki == c.spki_sha256)
                    .map(|(_, s, e, _)| (*s, *e));
                Some(show_time(mxdane_rollover::renewal::due(
                    c.not_before,
                    c.not_after,
                    window,
                    mxdane_rollover::renewal::seed(&id.service, &id.algorithm),
                )))
            }),
            scheme: lane.and_then(|l| l.scheme).map(|s| s.name()),
            servers: Vec::new(),
            service: id.service.clone(),
            waits: d
                .map(|d| {
                    d.waits
                        .iter()
                        .map(|w| WaitView {
                            what: w.what.clone(),
                            until: w.until.map(show_time),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        if let Some(l) = lane {
            v.records = l
                .records
                .iter()
                .map(|(r, rec)| RecordView {
                    rdata: r.clone(),
                    visible_since: rec.visible_since.map(show_time),
                    ttl: rec.ttl,
                    withdrawn: rec.withdrawn,
                })
                .collect();
        }
        v
    }
}

pub(super) fn short(hex: &str) -> String {
    format!("{}…", hex.chars().take(16).collect::<String>())
}

pub(super) fn print_decision(
    id: &LaneId,
    d: &Decision,
    out: &mut impl Write,
) -> Result<(), Failure> {
    for a in &d.actions {
        say!(out, "{}/{}: to do: {a:?}", id.service, id.algorithm);
    }
    for w in &d.waits {
        match w.until {
            Some(t) => say!(
                out,
                "{}/{}: waiting until {} for {}",
                id.service,
                id.algorithm,
                show_time(t),
                w.what
            ),
            None => say!(
                out,
                "{}/{}: waiting for {}",
                id.service,
                id.algorithm,
                w.what
            ),
        }
    }
    if let Some(h) = &d.needs_human {
        say!(out, "{}/{}: NEEDS A HUMAN: {h}", id.service, id.algorithm);
    }
    if d.actions.is_empty() && d.waits.is_empty() && d.needs_human.is_none() {
        say!(out, "{}/{}: steady", id.service, id.algorithm);
    }
    Ok(())
}

pub(super) fn print_status(v: &LaneView, out: &mut impl Write) -> Result<(), Failure> {
    say!(
        out,
        "{}/{} ({})",
        v.service,
        v.algorithm,
        v.scheme
            .unwrap_or("not adopted: run `mxdane rollover init`")
    );
    if let Some(c) = &v.current {
        say!(
            out,
            "  current: 3 1 1 {} (certificate valid until {})",
            short(c),
            v.current_not_after.as_deref().unwrap_or("?")
        );
    }
    if let Some(d) = &v.renewal_due {
        say!(
            out,
            "  renewal due: {d} (`mxdane rollover csr` gives the CSR for the staged key)"
        );
    }
    if let Some(a) = &v.acme {
        if let Some([s, e]) = &a.ca_window {
            say!(out, "  CA's renewal window: {s} to {e} (RFC 9773)");
        }
        if let Some(o) = &a.open_order {
            say!(out, "  ACME order in progress: {o}");
        }
        if let (Some(w), Some(t), 1..) = (&a.last_failure, &a.last_failure_at, a.failures) {
            say!(
                out,
                "  ACME: {} failed attempt(s), the last at {t}: {w}",
                a.failures
            );
        }
        if let Some(t) = &a.retry_at {
            say!(out, "  ACME: next attempt not before {t}");
        }
    }
    if let Some(f) = &v.last_failure {
        say!(out, "  last failure at {}: {}", f.at, f.why);
        if f.count > 1 {
            say!(
                out,
                "    (recorded {} times since {}; while it repeats, once an hour)",
                f.count,
                f.since
            );
        }
    }
    if let Some(n) = &v.next {
        say!(out, "  next:    3 1 1 {} (staged)", short(n));
    }
    if let Some(p) = &v.pending {
        say!(out, "  pending: a certificate for {}", short(p));
    }
    for r in &v.records {
        let state = match (&r.visible_since, r.withdrawn) {
            (_, true) => "withdrawn, still on some server".to_owned(),
            (Some(t), false) => format!("on every server since {t} (TTL {})", r.ttl),
            (None, false) => "requested, not yet on every server".to_owned(),
        };
        say!(out, "  record {}: {state}", r.rdata);
    }
    for s in &v.servers {
        match (&s.records, &s.error) {
            (Some(r), _) => say!(
                out,
                "  server {} at {}: {} of the lane's records, TTL {}",
                s.server,
                s.owner,
                r.len(),
                s.ttl.unwrap_or(0)
            ),
            (None, Some(e)) => say!(out, "  server {} at {}: {e}", s.server, s.owner),
            _ => {}
        }
    }
    for w in &v.waits {
        match &w.until {
            Some(t) => say!(out, "  waiting until {t} for {}", w.what),
            None => say!(out, "  waiting for {}", w.what),
        }
    }
    if let Some(h) = &v.needs_human {
        say!(out, "  NEEDS A HUMAN: {h}");
    }
    Ok(())
}
