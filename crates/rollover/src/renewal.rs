//! When to ask for the next certificate (the ACME side of a rollover, issue 15), as pure
//! functions of time: a third of the lifetime before notAfter (Let's Encrypt's advice for
//! short-lived certificates), or inside the window the CA suggests through ACME Renewal
//! Information (RFC 9773) when it offers one; the instant within the window comes from a
//! per-lane seed, so that a fleet of servers does not ask at once, and stays the same from one
//! run to the next. Failed attempts back off exponentially unless the CA said when to come
//! back (Retry-After, RFC 8555 section 6.6 and RFC 9773 section 4.3).

use crate::Ts;
use crate::lane::{Key, Lane};

/// Whether a lane should order a certificate now, and if not, why and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Order now, for this key (the staged next key).
    Now {
        /// The key the CSR is for.
        key: Key,
        /// An open order to resume (its URL), placed by a run that stopped.
        resume: Option<String>,
    },
    /// Not due before this time.
    Later(Ts),
    /// A failed order is retried at this time.
    BackOff(Ts),
    /// Something else comes first (in words).
    Waiting(String),
}

/// The renewal decision for a lane: due a third of the lifetime before the end (or in the
/// CA's window), never while a certificate already waits for the gate or is being deployed,
/// never during a back-off, and always for the staged next key, whose record went out ahead.
pub fn renewal(lane: &Lane, seed: u64, now: Ts) -> Renewal {
    let Some((_, cert)) = &lane.current else {
        return Renewal::Waiting("adoption (mxdane rollover init)".into());
    };
    if lane.deploying.is_some() || lane.pending.is_some() {
        return Renewal::Waiting("the certificate already obtained to go live".into());
    }
    let window = lane
        .ordering
        .window
        .as_ref()
        .filter(|(spki, ..)| *spki == cert.spki_sha256)
        .map(|(_, s, e, _)| (*s, *e));
    let at = due(cert.not_before, cert.not_after, window, seed);
    if now < at {
        return Renewal::Later(at);
    }
    if let Some(r) = lane.ordering.retry_at
        && now < r
    {
        return Renewal::BackOff(r);
    }
    let Some(key) = &lane.next else {
        return Renewal::Waiting("a staged next key".into());
    };
    let resume = lane
        .ordering
        .open
        .as_ref()
        .filter(|(_, spki)| *spki == key.spki_sha256)
        .map(|(url, _)| url.clone());
    Renewal::Now {
        key: key.clone(),
        resume,
    }
}

/// Whether the CA's window for the certificate in service should be asked for (again).
pub fn ask_window(lane: &Lane, now: Ts) -> bool {
    let Some((_, cert)) = &lane.current else {
        return false;
    };
    match &lane.ordering.window {
        Some((spki, _, _, again)) if *spki == cert.spki_sha256 => now >= *again,
        _ => true,
    }
}

/// The first back-off after a failure, and the longest.
pub const BACKOFF_FIRST: i64 = 60;
/// The longest back-off: a day.
pub const BACKOFF_MAX: i64 = 86_400;

/// A stable seed for a lane (FNV-1a of its service and algorithm).
pub fn seed(service: &str, algorithm: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in service.bytes().chain([0]).chain(algorithm.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// When a certificate valid from `not_before` to `not_after` should be renewed: inside the
/// CA's suggested window `ari` when there is one (and it is not inverted), otherwise inside
/// the last thirtieth of the lifetime's first two thirds (a day for 90-day certificates).
pub fn due(not_before: Ts, not_after: Ts, ari: Option<(Ts, Ts)>, seed: u64) -> Ts {
    let (start, end) = match ari {
        Some((s, e)) if e >= s => (s, e),
        _ => {
            let life = not_after.saturating_sub(not_before).max(0);
            let t = not_after - life / 3;
            (t - life / 90, t)
        }
    };
    let span = u64::try_from(end - start).unwrap_or(0);
    start + i64::try_from(seed % (span + 1)).unwrap_or(0)
}

/// When to try again after `failures` failed attempts (1 for the first): the CA's
/// Retry-After if it gave one, otherwise 1 min, 2 min, 4 min, ... up to a day.
pub fn retry_at(now: Ts, failures: u32, retry_after: Option<Ts>) -> Ts {
    if let Some(t) = retry_after {
        return t.max(now);
    }
    let shift = failures.saturating_sub(1).min(20);
    now + (BACKOFF_FIRST << shift).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_third_of_the_lifetime_before_the_end_within_a_stable_window() {
        let nb = 1_000_000;
        let na = nb + 90 * DAY;
        let s = seed("mail", "ecdsa");
        let d = due(nb, na, None, s);
        assert!(d >= na - 30 * DAY - DAY && d <= na - 30 * DAY, "{d}");
        assert_eq!(d, due(nb, na, None, s), "stable from run to run");
        assert_ne!(seed("mail", "ecdsa"), seed("mail", "rsa"));
        // Many lanes spread over the window.
        let spread: std::collections::BTreeSet<Ts> = (0..50)
            .map(|i| due(nb, na, None, seed(&format!("s{i}"), "ecdsa")))
            .collect();
        assert!(spread.len() > 40, "{}", spread.len());
        // 45-day certificates: renewed 15 days before the end.
        let d45 = due(nb, nb + 45 * DAY, None, 0);
        assert_eq!(d45, nb + 45 * DAY - 15 * DAY - (45 * DAY) / 90);
    }

    #[test]
    fn the_ca_s_window_wins_and_a_broken_one_is_ignored() {
        let (nb, na) = (0, 90 * DAY);
        assert_eq!(due(nb, na, Some((10 * DAY, 10 * DAY)), 12345), 10 * DAY);
        let d = due(nb, na, Some((5 * DAY, 6 * DAY)), 777);
        assert!((5 * DAY..=6 * DAY).contains(&d));
        assert_eq!(
            due(nb, na, Some((6 * DAY, 5 * DAY)), 0),
            due(nb, na, None, 0)
        );
        // A certificate whose dates are reversed is due at once, not in the far future.
        assert!(due(na, nb, None, 0) <= nb);
    }

    fn lane_due_at(not_after: Ts) -> Lane {
        use crate::lane::{Cert, Event, Scheme};
        let key = |n: u8| Key {
            spki_sha256: format!("{n:02x}").repeat(32),
            file: format!("k{n}"),
        };
        Lane::fold(&[
            Event::Adopted {
                key: key(1),
                cert: Cert {
                    spki_sha256: key(1).spki_sha256,
                    issuer_spki_sha256: None,
                    not_before: 0,
                    not_after,
                    pem: String::new(),
                    key_file: None,
                },
                scheme: Scheme::CurrentNext,
            },
            Event::NextStaged { key: key(2) },
        ])
    }

    #[test]
    fn p07_p05_orders_for_the_staged_key_when_due_resumes_and_backs_off() {
        use crate::lane::Event;
        let mut lane = lane_due_at(90 * DAY);
        let at = match renewal(&lane, 7, 0) {
            Renewal::Later(t) => t,
            other => panic!("{other:?}"),
        };
        assert!((59 * DAY..=60 * DAY).contains(&at), "{at}");
        let Renewal::Now { key, resume } = renewal(&lane, 7, at) else {
            panic!("due at {at}");
        };
        assert_eq!(
            key.spki_sha256,
            "02".repeat(32),
            "the staged key, never a fresh one"
        );
        assert_eq!(resume, None);
        // An order placed and interrupted is resumed, not placed again.
        lane.apply(&Event::OrderPlaced {
            account: "acct".into(),
            order: "https://ca/order/1".into(),
            spki_sha256: key.spki_sha256.clone(),
            at,
        });
        assert!(matches!(
            renewal(&lane, 7, at + 1),
            Renewal::Now { resume: Some(ref u), .. } if u == "https://ca/order/1"
        ));
        // A failure: the certificate in service stays, the next attempt waits.
        lane.apply(&Event::OrderFailed {
            why: "rateLimited".into(),
            at: at + 1,
            retry_at: at + 3600,
        });
        assert_eq!(renewal(&lane, 7, at + 2), Renewal::BackOff(at + 3600));
        assert!(matches!(
            renewal(&lane, 7, at + 3600),
            Renewal::Now { resume: None, .. }
        ));
        assert_eq!(lane.ordering.failures, 1);
        // The CA's window for this certificate moves the date.
        lane.apply(&Event::RenewalWindow {
            spki_sha256: "01".repeat(32),
            start: 10 * DAY,
            end: 10 * DAY,
            ask_again: 5 * DAY,
        });
        assert_eq!(renewal(&lane, 7, 0), Renewal::Later(10 * DAY));
        assert!(!ask_window(&lane, 5 * DAY - 1));
        assert!(ask_window(&lane, 5 * DAY));
    }

    #[test]
    fn p07_nothing_is_ordered_while_a_certificate_waits() {
        use crate::lane::Event;
        let mut lane = lane_due_at(90 * DAY);
        let mut cert = lane.current.clone().unwrap().1;
        cert.spki_sha256 = "02".repeat(32);
        lane.apply(&Event::CertSubmitted { cert });
        assert!(matches!(renewal(&lane, 7, 80 * DAY), Renewal::Waiting(_)));
        let lane = Lane::default();
        assert!(matches!(renewal(&lane, 7, 0), Renewal::Waiting(_)));
    }

    #[test]
    fn back_off_doubles_to_a_day_and_retry_after_is_honoured() {
        assert_eq!(retry_at(100, 1, None), 160);
        assert_eq!(retry_at(100, 2, None), 220);
        assert_eq!(retry_at(100, 3, None), 340);
        assert_eq!(retry_at(100, 40, None), 100 + DAY);
        assert_eq!(retry_at(100, 1, Some(5000)), 5000);
        assert_eq!(retry_at(100, 1, Some(50)), 100, "never in the past");
    }
}
