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
                    server: s.server.clone(),
                    owner: s.owner.clone(),
                    records: s.records.clone(),
                });
            }
        }
    }
    found.sort_by_key(|o| (o.from, o.until.unwrap_or(Ts::MAX)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(server: &str, from: Ts, until: Option<Ts>, records: &[&str]) -> Served {
        Served {
            server: server.into(),
            owner: "_25._tcp.mx.example.".into(),
            from,
            until,
            records: records.iter().map(|r| (*r).to_owned()).collect(),
            ttl: 300,
        }
    }

    fn cert(label: &str, from: Ts, until: Option<Ts>, by: &str) -> Presented {
        Presented {
            label: label.into(),
            from,
            until,
            authenticated_by: vec![by.into()],
        }
    }

    #[test]
    fn switching_after_2_ttl_on_every_server_is_safe() {
        let s = [
            served("ns1", 0, Some(100), &["A"]),
            served("ns1", 100, None, &["A", "B"]),
            served("ns2", 0, Some(400), &["A"]),
            served("ns2", 400, None, &["A", "B"]),
        ];
        let p = [
            cert("old", 0, Some(1000), "A"),
            cert("new", 1000, None, "B"),
        ];
        assert_eq!(outages(&s, &p), vec![]);
    }

    #[test]
    fn switching_before_a_lagging_secondary_caught_up_is_an_outage() {
        let s = [
            served("ns1", 0, Some(100), &["A"]),
            served("ns1", 100, None, &["A", "B"]),
            served("ns2", 0, Some(900), &["A"]),
            served("ns2", 900, None, &["A", "B"]),
        ];
        // The switch at 1000 is 2 x TTL after ns1 but only 100 s after ns2: a sender that
        // asked ns2 at 899 holds "A" alone until 1199.
        let p = [
            cert("old", 0, Some(1000), "A"),
            cert("new", 1000, None, "B"),
        ];
        let o = outages(&s, &p);
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(
            (o[0].from, o[0].until, o[0].server.as_str()),
            (1000, Some(1200), "ns2")
        );
        assert!(o[0].to_string().contains("cannot authenticate new"));
    }

    #[test]
    fn withdrawing_the_live_key_s_record_is_an_outage() {
        let s = [
            served("ns1", 0, Some(500), &["A", "B"]),
            served("ns1", 500, None, &["B"]),
        ];
        let p = [cert("old", 0, None, "A")];
        let o = outages(&s, &p);
        assert_eq!((o[0].from, o[0].until), (500, None));
    }

    #[test]
    fn no_rrset_is_not_dane_and_not_an_outage() {
        let s = [served("ns1", 0, None, &[])];
        assert!(outages(&s, &[cert("c", 0, None, "A")]).is_empty());
    }
}
