//! Lookahead for rollovers: what the monitor says about a lane of `mxdane rollover` (its
//! event log folded into a [`Lane`]) before any sender sees a mismatch. A lane that needs a
//! person (a failed deployment) is critical; a warning goes out when the lane has no next key
//! staged under "current + next" (RFC 7671 section 8.1: the next key's record must be
//! published two TTLs before the key goes live, so a key change now would break DANE), when a
//! record it asked for has not reached every authoritative server within `patience`, when the
//! engine has left due work undone for longer than `patience` (it is not running, or stuck),
//! when the certificate in service ends within the expiry window, or when ACME orders keep
//! failing.

use mxdane_rollover::lane::{Action, Lane, Scheme, ee};

use crate::Ts;
use crate::state::Level;

/// The lane's level and its problems at `now`; `last_event` is when its newest event was
/// written.
pub fn rollover(
    lane: &Lane,
    last_event: Ts,
    now: Ts,
    patience: Ts,
    expiry_days: u32,
) -> (Level, Vec<String>) {
    let mut critical = Vec::new();
    let mut warnings = Vec::new();
    let show = |t: Ts| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    };
    let Some((_, cert)) = &lane.current else {
        return (
            Level::Warning,
            vec!["not adopted yet (mxdane rollover init)".into()],
        );
    };
    let decision = lane.decide(now);
    if let Some(why) = &decision.needs_human {
        critical.push(format!("needs a person: {why}"));
    }
    if lane.scheme == Some(Scheme::CurrentNext) && lane.next.is_none() {
        warnings.push(
            "no next key is staged: a key change now would break DANE until a new key's record has been published for two TTLs".into(),
        );
    }
    if let Some(next) = &lane.next
        && lane.scheme == Some(Scheme::CurrentNext)
        && !lane.records.contains_key(&ee(&next.spki_sha256))
    {
        warnings.push(format!(
            "the next key's record \"{}\" is not published",
            ee(&next.spki_sha256)
        ));
    }
    for (rdata, r) in &lane.records {
        if !r.withdrawn && r.visible_since.is_none() && now - r.requested > patience {
            warnings.push(format!(
                "\"{rdata}\", asked for at {}, is not yet on every authoritative server",
                show(r.requested)
            ));
        }
    }
    // Work that was already due `patience` ago and is still undone, with nothing written to
    // the lane since: the engine (`mxdane rollover run`, its timer) is not doing its job. The
    // lane is a fold of its events, so without events its decision then is exact.
    if last_event < now - patience {
        let earlier = lane.decide(now - patience);
        let late: Vec<String> = decision
            .actions
            .iter()
            .filter(|a| earlier.actions.contains(a))
            .map(|a| match a {
                Action::StageNext => "stage a next key".to_owned(),
                Action::Publish { rdata } => format!("publish \"{rdata}\""),
                Action::Withdraw { rdata } => format!("withdraw \"{rdata}\""),
                Action::Deploy { cert } => {
                    format!("deploy the certificate for key {}", cert.spki_sha256)
                }
            })
            .collect();
        if !late.is_empty() {
            warnings.push(format!(
                "the rollover has waited longer than expected: since {} it should {}",
                show(now - patience),
                late.join(", ")
            ));
        }
    }
    let soon = now + i64::from(expiry_days) * 86_400;
    if cert.not_after > 0 && cert.not_after < soon {
        let line = format!(
            "the certificate in service ends at {}",
            show(cert.not_after)
        );
        if cert.not_after <= now {
            critical.push(line);
        } else {
            warnings.push(line);
        }
    }
    if lane.ordering.failures >= 3
        && let Some((why, at)) = &lane.ordering.last_failure
    {
        warnings.push(format!(
            "{} ACME orders failed in a row, the last at {}: {why}",
            lane.ordering.failures,
            show(*at)
        ));
    }
    let level = if !critical.is_empty() {
        Level::Critical
    } else if !warnings.is_empty() {
        Level::Warning
    } else {
        Level::Ok
    };
    critical.extend(warnings);
    (level, critical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxdane_rollover::lane::{Cert, Event, Key};

    fn key(n: u8) -> Key {
        Key {
            spki_sha256: format!("{n:02x}").repeat(32),
            file: format!("key{n}"),
        }
    }

    fn cert(k: u8, not_after: Ts) -> Cert {
        Cert {
            spki_sha256: key(k).spki_sha256,
            issuer_spki_sha256: Some("a0".repeat(32)),
            not_before: 0,
            not_after,
            pem: String::new(),
            key_file: None,
        }
    }

    const DAY: Ts = 86_400;

    /// A lane in good order at `t`: adopted, next key staged, both records visible.
    fn healthy(t: Ts) -> Lane {
        let mut lane = Lane::fold(&[
            Event::Adopted {
                key: key(1),
                cert: cert(1, t + 60 * DAY),
                scheme: Scheme::CurrentNext,
            },
            Event::NextStaged { key: key(2) },
        ]);
        for k in [1, 2] {
            let rdata = ee(&key(k).spki_sha256);
            lane.apply(&Event::PublishRequested {
                rdata: rdata.clone(),
                at: t,
                negative_ttl: 0,
            });
            lane.apply(&Event::Visible {
                rdata,
                at: t,
                ttl: 300,
            });
        }
        lane
    }

    #[test]
    fn p05_a_healthy_lane_is_ok_and_each_lookahead_problem_is_named() {
        let t = 1_000_000_000;
        let (level, problems) = rollover(&healthy(t), t, t + 60, 3600, 7);
        assert_eq!((level, problems.len()), (Level::Ok, 0), "{problems:?}");

        // No next key under current + next.
        let lane = Lane::fold(&[Event::Adopted {
            key: key(1),
            cert: cert(1, t + 60 * DAY),
            scheme: Scheme::CurrentNext,
        }]);
        let (level, problems) = rollover(&lane, t, t, 3600, 7);
        assert_eq!(level, Level::Warning);
        assert!(
            problems.iter().any(|p| p.starts_with("no next key")),
            "{problems:?}"
        );
        // Under current + issuer no next key is needed.
        let lane = Lane::fold(&[Event::Adopted {
            key: key(1),
            cert: cert(1, t + 60 * DAY),
            scheme: Scheme::CurrentIssuer,
        }]);
        assert!(
            !rollover(&lane, t, t, 3600, 7)
                .1
                .iter()
                .any(|p| p.starts_with("no next key"))
        );

        // A record that does not reach every server: fine for a while, then a warning.
        let mut lane = healthy(t);
        lane.apply(&Event::PublishRequested {
            rdata: ee(&"33".repeat(32)),
            at: t,
            negative_ttl: 0,
        });
        assert_eq!(rollover(&lane, t, t + 3600, 3600, 7).0, Level::Ok);
        let (level, problems) = rollover(&lane, t, t + 3601, 3600, 7);
        assert_eq!(level, Level::Warning);
        assert!(
            problems[0].contains("not yet on every authoritative server"),
            "{problems:?}"
        );

        // A submitted certificate whose gate opened (two TTLs after the next key's record was
        // seen everywhere) and that nobody deployed: the engine has an hour to do it.
        let mut lane = healthy(t);
        lane.apply(&Event::CertSubmitted {
            cert: cert(2, t + 90 * DAY),
        });
        let gate = t + 600;
        assert_eq!(rollover(&lane, t, gate + 3599, 3600, 7).0, Level::Ok);
        let (level, problems) = rollover(&lane, t, gate + 3600, 3600, 7);
        assert_eq!(level, Level::Warning, "{problems:?}");
        assert!(
            problems[0].contains("waited longer than expected") && problems[0].contains("deploy"),
            "{problems:?}"
        );
        // Had the engine written anything within the hour, it is still at work.
        assert_eq!(rollover(&lane, gate + 1, gate + 3600, 3600, 7).0, Level::Ok);

        // The certificate in service ends soon, then has ended.
        let lane = healthy(t);
        let end = t + 60 * DAY;
        assert_eq!(rollover(&lane, end, end - 8 * DAY, 3600, 7).0, Level::Ok);
        assert_eq!(
            rollover(&lane, end, end - 6 * DAY, 3600, 7).0,
            Level::Warning
        );
        assert_eq!(rollover(&lane, end, end, 3600, 7).0, Level::Critical);

        // A failed deployment needs a person.
        let mut lane = healthy(t);
        lane.apply(&Event::CertSubmitted {
            cert: cert(2, t + 90 * DAY),
        });
        lane.apply(&Event::DeployFailed {
            why: "reload failed".into(),
            at: t + 700,
        });
        let (level, problems) = rollover(&lane, t + 700, t + 701, 3600, 7);
        assert_eq!(level, Level::Critical, "{problems:?}");
        assert!(problems[0].contains("reload failed"));
    }
}
