//! How check results become a target's state, and when the target is checked next.
//!
//! A result that differs from the state is not believed at once: the target is checked again
//! soon ([`RETRY_AFTER`]), and only a second equal result changes the state (a transition,
//! which is what alerts). A result equal to the state, or a third different one, settles the
//! question. The first result of a new target sets its state without a transition.

use serde::{Deserialize, Serialize};

use crate::Ts;

/// A target's state: the verdict of `mxdane check` (monitoring-plugin meanings), the same type.
pub use mxdane_check::Verdict as Level;

/// How bad a level is, for summaries (ok < unknown < warning < critical).
pub fn badness(l: Level) -> u8 {
    match l {
        Level::Ok => 0,
        Level::Unknown => 1,
        Level::Warning => 2,
        Level::Critical => 3,
    }
}

/// The history strip: `buckets` periods of `width` seconds, the last ending with `now`, each the worst
/// result checked in it (None: not checked then), oldest first.
pub fn strip(results: &[(Ts, Level)], now: Ts, width: Ts, buckets: usize) -> Vec<Option<Level>> {
    let n = Ts::try_from(buckets).unwrap_or(0);
    // The last period ends with `now` itself: (now - width, now].
    let start = now - n * width + 1;
    let mut out = vec![None; buckets];
    for (at, l) in results {
        if *at < start || *at > now {
            continue;
        }
        let i = usize::try_from(((at - start) / width).min(n - 1)).unwrap_or(0);
        if out[i].is_none_or(|o: Level| badness(*l) > badness(o)) {
            out[i] = Some(*l);
        }
    }
    out
}

/// How soon a changed result is checked again before it counts.
pub const RETRY_AFTER: Ts = 30;

/// A state change: what alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state before.
    pub from: Level,
    /// The state now.
    pub to: Level,
    /// When the change was confirmed.
    pub at: Ts,
}

/// One target's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// The confirmed state (None before the first result).
    pub level: Option<Level>,
    /// Since when (the time of the result that confirmed it).
    pub since: Ts,
    /// A different result seen once, waiting for its confirmation.
    pub unconfirmed: Option<Level>,
    /// The last check.
    pub last_check: Option<Ts>,
    /// The last check whose result was ok.
    pub last_ok: Option<Ts>,
    /// When the next check is due.
    pub next_check: Ts,
}

/// A stable seed for a target (FNV-1a of its name): its place within the interval.
pub fn seed(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// When a target checked at `now` is checked next: one interval later, moved by up to a tenth
/// of it either way (stable per target), so that targets with one interval spread out.
pub fn next_after(now: Ts, interval: u32, seed: u64) -> Ts {
    let interval = i64::from(interval);
    let spread = interval / 5;
    let offset = i64::try_from(seed % u64::try_from(spread + 1).unwrap_or(1)).unwrap_or(0);
    now + interval - interval / 10 + offset
}

impl TargetState {
    /// Takes a check result at `now`; returns the transition it confirms, if any. The next
    /// check is due soon while a change waits for confirmation, else one interval on.
    pub fn observe(
        &mut self,
        result: Level,
        now: Ts,
        interval: u32,
        seed: u64,
    ) -> Option<Transition> {
        self.last_check = Some(now);
        if result == Level::Ok {
            self.last_ok = Some(now);
        }
        let mut transition = None;
        match self.level {
            None => {
                self.level = Some(result);
                self.since = now;
                self.unconfirmed = None;
            }
            Some(l) if l == result => self.unconfirmed = None,
            Some(l) => {
                if self.unconfirmed == Some(result) {
                    transition = Some(Transition {
                        from: l,
                        to: result,
                        at: now,
                    });
                    self.level = Some(result);
                    self.since = now;
                    self.unconfirmed = None;
                } else {
                    self.unconfirmed = Some(result);
                }
            }
        }
        self.next_check = if self.unconfirmed.is_some() {
            now + RETRY_AFTER
        } else {
            next_after(now, interval, seed)
        };
        transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_counts_only_when_a_second_check_confirms_it() {
        let mut s = TargetState::default();
        assert_eq!(
            s.observe(Level::Ok, 0, 300, 1),
            None,
            "the first result sets the state"
        );
        assert_eq!(s.level, Some(Level::Ok));
        // One lost packet: critical once, then ok again. Nobody is paged.
        assert_eq!(s.observe(Level::Critical, 300, 300, 1), None);
        assert_eq!(s.next_check, 330, "checked again soon");
        assert_eq!(s.observe(Level::Ok, 330, 300, 1), None);
        assert_eq!(s.level, Some(Level::Ok));
        assert_eq!(s.since, 0);
        // Really broken: the second critical is the transition, exactly once.
        assert_eq!(s.observe(Level::Critical, 600, 300, 1), None);
        let t = s.observe(Level::Critical, 630, 300, 1).unwrap();
        assert_eq!((t.from, t.to, t.at), (Level::Ok, Level::Critical, 630));
        assert_eq!(s.observe(Level::Critical, 930, 300, 1), None, "no repeat");
        // A different second result restarts the confirmation.
        assert_eq!(s.observe(Level::Warning, 1000, 300, 1), None);
        assert_eq!(s.observe(Level::Ok, 1030, 300, 1), None);
        assert_eq!(s.unconfirmed, Some(Level::Ok));
        let t = s.observe(Level::Ok, 1060, 300, 1).unwrap();
        assert_eq!((t.from, t.to), (Level::Critical, Level::Ok), "the recovery");
        assert_eq!(s.last_ok, Some(1060));
    }

    #[test]
    fn the_strip_keeps_the_worst_result_of_each_period() {
        let r = [
            (100, Level::Ok),
            (150, Level::Critical),
            (160, Level::Ok),
            (350, Level::Warning),
            (-5000, Level::Critical),
        ];
        let s = strip(&r, 400, 100, 4);
        assert_eq!(
            s,
            vec![
                Some(Level::Ok),
                Some(Level::Critical),
                None,
                Some(Level::Warning)
            ]
        );
    }

    #[test]
    fn targets_spread_over_a_tenth_of_the_interval_either_way() {
        let next: std::collections::BTreeSet<Ts> = (0..200)
            .map(|i| next_after(0, 300, seed(&format!("d{i}.example"))))
            .collect();
        assert!(next.iter().all(|t| (270..=330).contains(t)), "{next:?}");
        assert!(next.len() > 40, "{}", next.len());
        assert_eq!(next_after(0, 300, seed("a")), next_after(0, 300, seed("a")));
        for l in [Level::Ok, Level::Warning, Level::Critical, Level::Unknown] {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
    }
}
