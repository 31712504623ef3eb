//! When to ask for the next certificate (the ACME side of a rollover, issue 15), as pure
//! functions of time: a third of the lifetime before notAfter (Let's Encrypt's advice for
//! short-lived certificates), or inside the window the CA suggests through ACME Renewal
//! Information (RFC 9773) when it offers one; the instant within the window comes from a
//! per-lane seed, so that a fleet of servers does not ask at once, and stays the same from one
//! run to the next. Failed attempts back off exponentially unless the CA said when to come
//! back (Retry-After, RFC 8555 section 6.6 and RFC 9773 section 4.3).

use crate::Ts;

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
