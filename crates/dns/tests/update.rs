//! P-03: RFC 2136 updates signed with TSIG against the lab's dynamic zone: the primary takes
//! signed updates and refuses unsigned, forged and wrong-key ones; prerequisites catch a
//! concurrent edit; a frozen secondary keeps serving its old copy until it thaws; and every
//! server's answer is checked as the rollover engine checks it (asked directly, signature
//! verified with the zone's validated keys, TTL and negative TTL read).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mxdane_dns::nameservers::{Connect, ServerAnswer, ask_all};
use mxdane_dns::rdata::rtype;
use mxdane_dns::update::{self, Change, Prerequisite, TsigKey, Update, UpdateError, rcode};
use mxdane_dns::{Name, NetTransport, Transport, UnboundResolver, parse_trust_anchors};
use mxdane_lab::dns::World;
use mxdane_lab::dns::dynamic::Dynamic;

fn key(secret: &str) -> TsigKey {
    TsigKey::parse_file(&format!(
        "key \"rollover.example.test.\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};"
    ))
    .unwrap()
}

const SECRET: &str = "bXhkYW5lLWxhYi11cGRhdGUta2V5LTEyMzQ1Njc4OTA=";
const OTHER: &str = "YW5vdGhlci1zZWNyZXQtZm9yLWEtZm9yZ2VkLXVwZGF0ZQ==";

fn now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// Transports to the published nameserver addresses, through the lab's routes.
fn routed(routes: &std::collections::HashMap<SocketAddr, SocketAddr>) -> Arc<Connect> {
    let routes = routes.clone();
    Arc::new(move |addr: SocketAddr| -> Arc<dyn Transport> {
        Arc::new(NetTransport::new(
            routes.get(&addr).copied().unwrap_or(addr),
            Duration::from_secs(2),
        ))
    })
}

fn add(owner: &Name, data: u8) -> Change {
    Change::Add {
        owner: owner.clone(),
        rtype: rtype::TLSA,
        ttl: 300,
        rdata: vec![3, 1, 1, data],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_tsig_updates_prerequisites_and_a_lagging_secondary() {
    let base = World::builder().zone("example.test.", |z| z.ttl(300).a("mx", "192.0.2.1"));
    let dynamic = Dynamic::new(base, "example.test.", 2, vec![key(SECRET)]);
    let lab = dynamic.start_all().unwrap();
    let owner = Name::parse("_25._tcp.mx.example.test.");
    let zone = Name::parse("example.test.");
    let primary = NetTransport::new(lab.primary, Duration::from_secs(3));
    let send = |u: &Update, k: Option<&TsigKey>| update::send(&primary, u, k, now());
    let upd = |id, prerequisites, changes| Update {
        id,
        zone: zone.clone(),
        prerequisites,
        changes,
    };
    // Signed, with "no RRset yet" as the prerequisite: applied.
    let first = upd(
        1,
        vec![Prerequisite::Absent {
            owner: owner.clone(),
            rtype: rtype::TLSA,
        }],
        vec![add(&owner, 0xaa)],
    );
    send(&first, Some(&key(SECRET))).unwrap();
    // The same again: the RRset exists now, so the prerequisite fails (YXRRSET).
    assert_eq!(
        send(&first, Some(&key(SECRET))).unwrap_err(),
        UpdateError::Rcode(rcode::YXRRSET)
    );
    // Unsigned, wrong secret, unknown key name: refused, and nothing changes.
    let second = upd(2, Vec::new(), vec![add(&owner, 0xbb)]);
    assert_eq!(
        send(&second, None).unwrap_err(),
        UpdateError::Rcode(rcode::REFUSED)
    );
    assert_eq!(
        send(&second, Some(&key(OTHER))).unwrap_err(),
        UpdateError::Rcode(rcode::NOTAUTH)
    );
    let stranger = TsigKey {
        name: Name::parse("stranger.example.test."),
        ..key(SECRET)
    };
    assert_eq!(
        send(&second, Some(&stranger)).unwrap_err(),
        UpdateError::Rcode(rcode::NOTAUTH)
    );
    assert_eq!(dynamic.served(0, &owner).len(), 1);
    // A secondary does not take updates.
    let zi = dynamic
        .world()
        .zones()
        .iter()
        .position(|z| z.apex == zone)
        .unwrap();
    let secondary =
        lab.ns_routes[&SocketAddr::new(mxdane_lab::dns::world::ns_address(zi, 1).into(), 53)];
    assert_ne!(secondary, lab.primary);
    assert_eq!(
        update::send(
            &NetTransport::new(secondary, Duration::from_secs(3)),
            &second,
            Some(&key(SECRET)),
            now()
        )
        .unwrap_err(),
        UpdateError::Rcode(rcode::NOTAUTH)
    );
    // Freeze the secondary, then add a record: only the primary serves it.
    dynamic.freeze(1);
    let rrset_now = vec![vec![3, 1, 1, 0xaa]];
    let third = upd(
        3,
        vec![Prerequisite::Exactly {
            owner: owner.clone(),
            rtype: rtype::TLSA,
            rdatas: rrset_now.clone(),
        }],
        vec![add(&owner, 0xbb)],
    );
    send(&third, Some(&key(SECRET))).unwrap();
    assert_eq!(dynamic.served(0, &owner).len(), 2);
    assert_eq!(dynamic.served(1, &owner).len(), 1);
    // What the engine sees, asking each server directly and checking signatures.
    let anchors = parse_trust_anchors(&lab.trust_anchor).unwrap();
    let resolver =
        UnboundResolver::forwarding(lab.recursive, &anchors, Duration::from_secs(3)).unwrap();
    let connect = routed(&lab.ns_routes);
    let look = |answers: &[ServerAnswer]| -> Vec<(usize, bool, Option<u32>, Option<u32>)> {
        let mut v: Vec<_> = answers
            .iter()
            .map(|a| {
                (
                    a.tlsa.as_ref().map_or(0, Vec::len),
                    a.signed.is_ok(),
                    a.ttl,
                    a.negative_ttl,
                )
            })
            .collect();
        v.sort();
        v
    };
    let answers = ask_all(&resolver, &connect, &owner, u32::try_from(now()).unwrap())
        .await
        .unwrap()
        .answers;
    assert_eq!(
        look(&answers),
        vec![
            (1, true, Some(300), Some(300)),
            (2, true, Some(300), Some(300))
        ],
        "{answers:?}"
    );
    // A concurrent manual edit on the primary: the engine's prerequisite (the RRset it saw)
    // no longer holds, so its update fails instead of overwriting the edit.
    dynamic.edit(&owner, &[3, 1, 1, 0xcc], 300, true);
    let fourth = upd(
        4,
        vec![Prerequisite::Exactly {
            owner: owner.clone(),
            rtype: rtype::TLSA,
            rdatas: vec![vec![3, 1, 1, 0xaa], vec![3, 1, 1, 0xbb]],
        }],
        vec![Change::Delete {
            owner: owner.clone(),
            rtype: rtype::TLSA,
            rdata: vec![3, 1, 1, 0xaa],
        }],
    );
    assert_eq!(
        send(&fourth, Some(&key(SECRET))).unwrap_err(),
        UpdateError::Rcode(rcode::NXRRSET)
    );
    assert_eq!(dynamic.served(0, &owner).len(), 3);
    // The secondary thaws: every server serves the same three records, signed.
    dynamic.thaw(1);
    let answers = ask_all(&resolver, &connect, &owner, u32::try_from(now()).unwrap())
        .await
        .unwrap()
        .answers;
    assert_eq!(
        look(&answers),
        vec![
            (3, true, Some(300), Some(300)),
            (3, true, Some(300), Some(300))
        ],
        "{answers:?}"
    );
    assert!(
        dynamic.log().iter().any(|l| l.contains("BADSIG")),
        "{:?}",
        dynamic.log()
    );
}

// P-03: every authoritative server is asked, the union of the zone's own NS RRset and the
// parent's delegation: a secondary listed only by the parent (here frozen with old data) is
// asked too, so a gate cannot open while it lags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_servers_listed_only_by_the_parent_are_asked_too() {
    let base = World::builder().zone("example.test.", |z| {
        z.ttl(300).a("mx", "192.0.2.1").unlisted_servers(1)
    });
    let dynamic = Dynamic::new(base, "example.test.", 3, vec![key(SECRET)]);
    let lab = dynamic.start_all().unwrap();
    let owner = Name::parse("_25._tcp.mx.example.test.");
    dynamic.freeze(2);
    let add_one = Update {
        id: 9,
        zone: Name::parse("example.test."),
        prerequisites: Vec::new(),
        changes: vec![add(&owner, 0xaa)],
    };
    update::send(
        &NetTransport::new(lab.primary, Duration::from_secs(3)),
        &add_one,
        Some(&key(SECRET)),
        now(),
    )
    .unwrap();
    let anchors = parse_trust_anchors(&lab.trust_anchor).unwrap();
    let resolver =
        UnboundResolver::forwarding(lab.recursive, &anchors, Duration::from_secs(3)).unwrap();
    let connect = routed(&lab.ns_routes);
    let answers = ask_all(&resolver, &connect, &owner, u32::try_from(now()).unwrap())
        .await
        .unwrap()
        .answers;
    let mut names: Vec<String> = answers.iter().map(|a| a.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ns1.example.test.",
            "ns2.example.test.",
            "ns3.example.test."
        ],
        "{answers:?}"
    );
    let ns3 = answers
        .iter()
        .find(|a| a.name.as_str() == "ns3.example.test.")
        .unwrap();
    assert_eq!(ns3.tlsa, Ok(Vec::new()), "the unlisted, frozen server lags");
}
