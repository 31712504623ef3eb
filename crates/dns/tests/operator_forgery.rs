//! The operator side's forgery suite (issue 26; CHECKLIST D-18, M-01, P-03): the nameserver
//! view that check, the monitor, the rollover gate and the dns-01 check rest on, attacked by a
//! man in the middle on the upstream resolver's path (forged NS, A and DNSKEY RRsets: bogus to
//! libunbound) and by one on the path to the authoritative servers (rewritten TTLs and SOA
//! minimum, denials without proof, answers without AA, forged records, a stale copy). Every
//! lie must end as an error, an incomplete view or a disagreeing server, never as a signed
//! answer; an honest control run over the same world must give the facts, so a forgery that
//! silently did nothing fails its test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxdane_dns::direct::{self, Served, Zone};
use mxdane_dns::nameservers::{Connect, View, ViewError, ask_all};
use mxdane_dns::rdata::{Rdata, Record, rtype};
use mxdane_dns::update::{self, Change, TsigKey, Update};
use mxdane_dns::{
    Name, NetTransport, Resolver, Status, Transport, UnboundResolver, parse_trust_anchors,
};
use mxdane_lab::dns::World;
use mxdane_lab::dns::dynamic::{Dynamic, Running};
use mxdane_lab::dns::forge::Forgery;
use mxdane_lab::dns::keys::Algorithm;
use mxdane_lab::dns::server::DnsServer;
use mxdane_lab::dns::tamper::{Lie, Recording, Tampering};

const SECRET: &str = "bXhkYW5lLWxhYi11cGRhdGUta2V5LTEyMzQ1Njc4OTA=";
/// Where the forged nameserver addresses point (routed to the attacker's server).
const EVIL_IP: &str = "198.51.100.66";

fn key() -> TsigKey {
    TsigKey::parse_file(&format!(
        "key \"rollover.example.test.\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};"
    ))
    .unwrap()
}

fn now() -> u32 {
    u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

fn owner() -> Name {
    Name::parse("_25._tcp.mx.example.test.")
}

/// A TLSA owner that was never published (its absence is what a denial must prove).
fn absent() -> Name {
    Name::parse("_25._tcp.none.example.test.")
}

struct Lab {
    dynamic: Arc<Dynamic>,
    running: Running,
}

/// The dynamic zone example.test (two servers, NSEC or NSEC3) with one TLSA record
/// (`3 1 1 aa`, TTL 300) published by a signed UPDATE.
fn lab(nsec3: bool) -> Lab {
    let base = World::builder().zone("example.test.", move |z| {
        let z = z.ttl(300).a("mx", "192.0.2.1").a("none", "192.0.2.2");
        if nsec3 {
            z.nsec3(1, "c0ffee", false)
        } else {
            z
        }
    });
    let dynamic = Dynamic::new(base, "example.test.", 2, vec![key()]);
    let running = dynamic.start_all().unwrap();
    publish(&running, 0xaa);
    Lab { dynamic, running }
}

fn publish(running: &Running, data: u8) {
    let u = Update {
        id: u16::from(data),
        zone: Name::parse("example.test."),
        prerequisites: Vec::new(),
        changes: vec![Change::Add {
            owner: owner(),
            rtype: rtype::TLSA,
            ttl: 300,
            rdata: vec![3, 1, 1, data],
        }],
    };
    update::send(
        &NetTransport::new(running.primary, Duration::from_secs(3)),
        &u,
        Some(&key()),
        u64::from(now()),
    )
    .unwrap();
}

fn resolver(l: &Lab, upstream: SocketAddr) -> UnboundResolver {
    let anchors = parse_trust_anchors(&l.running.trust_anchor).unwrap();
    UnboundResolver::forwarding(upstream, &anchors, Duration::from_secs(3)).unwrap()
}

/// Transports to the published addresses through the lab's routes (and `extra` ones), each
/// wrapped by `wrap`.
fn connect(
    l: &Lab,
    extra: Vec<(SocketAddr, SocketAddr)>,
    wrap: impl Fn(Arc<dyn Transport>) -> Arc<dyn Transport> + Send + Sync + 'static,
) -> Arc<Connect> {
    let mut routes = l.running.ns_routes.clone();
    routes.extend(extra);
    Arc::new(move |addr: SocketAddr| -> Arc<dyn Transport> {
        wrap(Arc::new(NetTransport::new(
            routes.get(&addr).copied().unwrap_or(addr),
            Duration::from_secs(2),
        )))
    })
}

fn honest(l: &Lab) -> Arc<Connect> {
    connect(l, Vec::new(), |t| t)
}

fn lying(l: &Lab, qtype: Option<u16>, lie: Lie) -> Arc<Connect> {
    connect(l, Vec::new(), move |t| {
        Arc::new(Tampering::new(t, qtype, lie.clone())) as Arc<dyn Transport>
    })
}

async fn view(l: &Lab, c: &Arc<Connect>, owner: &Name) -> View {
    ask_all(&resolver(l, l.running.recursive), c, owner, now())
        .await
        .unwrap()
}

/// Each server's (TLSA RRset or error, TTL, negative TTL, serial).
type Seen = Vec<(
    Result<Vec<String>, String>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
)>;

/// A server's TLSA RRset in presentation form (or why there is none).
fn texts(a: &mxdane_dns::nameservers::ServerAnswer) -> Result<Vec<String>, String> {
    a.tlsa
        .as_ref()
        .map(|t| t.iter().map(ToString::to_string).collect())
        .map_err(Clone::clone)
}

fn seen(v: &View) -> Seen {
    v.answers
        .iter()
        .map(|a| (texts(a), a.ttl, a.negative_ttl, a.serial))
        .collect()
}

fn all_fail(v: &View, what: &str) {
    assert_eq!(v.answers.len(), 2, "{what}: {v:?}");
    for a in &v.answers {
        assert!(
            a.tlsa.is_err() && a.signed.is_err(),
            "{what}: believed {a:?}"
        );
    }
}

// The control: honest servers give the signed RRset with its signed TTL, and a proven absence
// with the signed SOA's negative TTL, in an NSEC zone and in an NSEC3 zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m01_p03_control_honest_servers_give_signed_facts() {
    for nsec3 in [false, true] {
        let l = lab(nsec3);
        let v = view(&l, &honest(&l), &owner()).await;
        assert!(v.servers.incomplete().is_none(), "{:?}", v.servers);
        assert_eq!(v.answers.len(), 2);
        for a in &v.answers {
            assert_eq!(texts(a), Ok(vec!["3 1 1 aa".to_owned()]), "{a:?}");
            assert_eq!((a.ttl, a.signed.clone()), (Some(300), Ok(())), "{a:?}");
            assert!(a.serial.is_some() && a.negative_ttl.is_some(), "{a:?}");
        }
        let v = view(&l, &honest(&l), &absent()).await;
        for a in &v.answers {
            assert_eq!(a.tlsa, Ok(Vec::new()), "nsec3 {nsec3}: {a:?}");
            assert!(a.negative_ttl.is_some_and(|t| t > 0), "{a:?}");
        }
    }
}

// P-09 under a man in the middle: TTL 0 on every record of every answer (what would open the
// 2 x TTL gate at once). The TTL is the RRSIG's original TTL, and the negative TTL the signed
// SOA's: both stay 300.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_d18_rewritten_ttls_are_not_believed() {
    let l = lab(false);
    let truth = seen(&view(&l, &honest(&l), &owner()).await);
    let lied = seen(&view(&l, &lying(&l, None, Lie::Ttl(0)), &owner()).await);
    assert_eq!(lied, truth);
    assert!(lied.iter().all(|s| s.1 == Some(300)), "{lied:?}");
    let truth = seen(&view(&l, &honest(&l), &absent()).await);
    let lied = seen(&view(&l, &lying(&l, None, Lie::Ttl(0)), &absent()).await);
    assert_eq!(lied, truth);
}

// A rewritten SOA minimum breaks the SOA's signature: no serial, no negative TTL from it, and
// a denial whose SOA does not validate is not a proven absence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_d18_a_rewritten_soa_minimum_is_not_believed() {
    let l = lab(false);
    let v = view(&l, &lying(&l, None, Lie::SoaMinimum(0)), &owner()).await;
    for a in &v.answers {
        assert_eq!((a.serial, a.negative_ttl), (None, None), "{a:?}");
        assert!(a.tlsa.is_ok(), "the TLSA answer itself is honest: {a:?}");
    }
    all_fail(
        &view(&l, &lying(&l, None, Lie::SoaMinimum(0)), &absent()).await,
        "SOA minimum 0 on a denial",
    );
}

// "Gone from the server" only with a proof: NOERROR or NXDOMAIN without records and without
// NSEC/NSEC3, a denial whose records lost their signatures, and an answer without AA all fail,
// for a present RRset and for an absent one, in NSEC and NSEC3 zones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_m01_d18_denials_without_proof_and_answers_without_aa_are_errors() {
    for nsec3 in [false, true] {
        let l = lab(nsec3);
        for (what, lie) in [
            ("empty without proof", Lie::EmptyNoProof),
            ("NXDOMAIN without proof", Lie::NxdomainNoProof),
            ("unsigned denial", Lie::Unsigned),
            ("AA clear", Lie::NotAuthoritative),
        ] {
            let c = lying(&l, Some(rtype::TLSA), lie);
            all_fail(&view(&l, &c, &owner()).await, what);
            all_fail(&view(&l, &c, &absent()).await, what);
        }
    }
}

// Records put in place of the real ones (the "next" record an attacker wants seen on every
// server) fail the signature check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_d18_forged_records_on_the_direct_path_fail() {
    let l = lab(false);
    let forged = Lie::Records(
        rtype::TLSA,
        vec![mxdane_lab::dns::world::parse_tlsa("3 1 1 bb")],
    );
    all_fail(
        &view(&l, &lying(&l, Some(rtype::TLSA), forged.clone()), &owner()).await,
        "forged TLSA",
    );
    all_fail(
        &view(&l, &lying(&l, Some(rtype::TLSA), forged), &absent()).await,
        "forged TLSA where there is none",
    );
}

// A stale copy (an answer captured before the update, genuinely signed) replayed for one
// server: that server is seen without the new record, so the servers disagree and no gate can
// count the record as everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_m01_a_replayed_stale_copy_is_seen_as_a_lagging_server() {
    let l = lab(false);
    let log = Arc::new(Mutex::new(Vec::new()));
    let rec = log.clone();
    let recording = connect(&l, Vec::new(), move |t| {
        Arc::new(Recording::new(t, rec.clone())) as Arc<dyn Transport>
    });
    let before = view(&l, &recording, &owner()).await;
    publish(&l.running, 0xbb);
    // The secondary, ns2.example.test, as the lab routes its published address.
    let published = before
        .answers
        .iter()
        .find(|a| a.name.as_str() == "ns2.example.test.")
        .unwrap()
        .ip;
    let stale_server = l.running.ns_routes[&SocketAddr::new(published, 53)];
    let replay = connect(&l, Vec::new(), move |t| {
        if t.server() == stale_server {
            Arc::new(Tampering::new(
                t,
                Some(rtype::TLSA),
                Lie::Replay(log.clone()),
            )) as Arc<dyn Transport>
        } else {
            t
        }
    });
    let v = view(&l, &replay, &owner()).await;
    let mut sets: Vec<Vec<String>> = v.answers.iter().map(|a| texts(a).unwrap()).collect();
    sets.sort();
    assert_eq!(
        sets,
        [
            vec!["3 1 1 aa".to_owned()],
            vec!["3 1 1 aa".to_owned(), "3 1 1 bb".to_owned()]
        ],
        "{v:?}"
    );
}

/// The attacker's copy of example.test: its own keys (another algorithm, so other keys), the
/// record it wants believed, served by its own authoritative server.
fn evil() -> (Arc<World>, DnsServer) {
    let world = Arc::new(
        World::builder()
            .zone("example.test.", |z| {
                z.algorithm(Algorithm::Ed25519)
                    .ttl(300)
                    .a("mx", "192.0.2.1")
                    .tlsa("_25._tcp.mx", "3 1 1 ee")
            })
            .build(),
    );
    let server = DnsServer::authoritative(world.clone(), "example.test.", 0).unwrap();
    (world, server)
}

fn rrset(world: &World, owner: &str, t: u16) -> Vec<Record> {
    let owner = Name::parse(owner);
    world.zone("example.test.").unwrap().servers[0]
        .all_records()
        .into_iter()
        .filter(|r| {
            r.name == owner
                && (r.rtype() == t
                    || matches!(&r.rdata, Rdata::Rrsig { type_covered, .. } if *type_covered == t))
        })
        .collect()
}

// The review's proof of concept, on the upstream resolver's path: NS, A and DNSKEY RRsets
// forged so that the "authoritative servers" are the attacker's and its keys "verify" them.
// The forgery is potent (the attacker's answer verifies with the attacker's keys); libunbound
// calls each forged RRset bogus, and the view refuses to exist, or leaves the forged servers
// out and says so: never a signed answer from the attacker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d18_p03_m01_forged_ns_dnskey_and_addresses_give_no_signed_answer() {
    let l = lab(false);
    let (evil_world, evil_server) = evil();
    let evil_addr: SocketAddr = format!("{EVIL_IP}:53").parse().unwrap();
    // Potent: judged with the attacker's keys, its server's answer is a signed RRset.
    let evil_keys: Vec<Rdata> = dnskeys(&evil_world);
    let apex = Name::parse("example.test.");
    let t = NetTransport::new(evil_server.addr(), Duration::from_secs(2));
    let zone = Zone {
        apex: &apex,
        keys: &evil_keys,
        now: now(),
    };
    assert!(matches!(
        mxdane_dns::nameservers::ask(&t, &owner(), rtype::TLSA, &zone),
        Ok(Served::Rrset { .. })
    ));
    let ns_a = |name: &str| Forgery::Substitute {
        target: Name::parse(name),
        qtype: rtype::A,
        answer: vec![Record::new(
            Name::parse(name),
            300,
            Rdata::A(EVIL_IP.parse().unwrap()),
        )],
    };
    let forged_ns = Forgery::Substitute {
        target: apex.clone(),
        qtype: rtype::NS,
        answer: vec![Record::new(
            apex.clone(),
            300,
            Rdata::Ns(Name::parse("ns.attacker.example.test.")),
        )],
    };
    let forged_keys = Forgery::Substitute {
        target: apex.clone(),
        qtype: rtype::DNSKEY,
        answer: rrset(&evil_world, "example.test.", rtype::DNSKEY),
    };
    let ns_names: Vec<String> = vec![
        "ns1.example.test.".into(),
        "ns2.example.test.".into(),
        "ns.attacker.example.test.".into(),
    ];
    let cases: Vec<(&str, Vec<Forgery>)> = vec![
        (
            "NS",
            vec![forged_ns.clone(), ns_a("ns.attacker.example.test.")],
        ),
        ("DNSKEY", vec![forged_keys.clone()]),
        (
            "NS + DNSKEY + A",
            std::iter::once(forged_ns)
                .chain(std::iter::once(forged_keys))
                .chain(ns_names.iter().map(|n| ns_a(n)))
                .collect(),
        ),
        ("A", ns_names.iter().map(|n| ns_a(n)).collect()),
    ];
    let c = connect(&l, vec![(evil_addr, evil_server.addr())], |t| t);
    for (what, forgeries) in cases {
        let mitm = DnsServer::shared_forging(l.dynamic.shared(), forgeries).unwrap();
        let r = resolver(&l, mitm.addr());
        // P-03: libunbound hands the forged data over with "bogus"; no caller gets it as
        // records to decide on.
        for (name, t) in [
            ("example.test.", rtype::NS),
            ("example.test.", rtype::DNSKEY),
        ] {
            let lookup = r.lookup(&Name::parse(name), t).await.unwrap();
            if matches!(lookup.status(), Status::Bogus(_)) {
                assert!(lookup.records().is_empty(), "{what}: {lookup:?}");
                assert!(
                    !lookup.unvalidated_records().is_empty(),
                    "{what}: {lookup:?}"
                );
            }
        }
        let r = ask_all(&r, &c, &owner(), now()).await;
        match r {
            Err(ViewError::NotSecure { status, .. }) => {
                assert!(matches!(status, Status::Bogus(_)), "{what}: {status}");
            }
            Err(e) => panic!("{what}: {e}"),
            Ok(v) => {
                // Only the forged addresses: the servers are left out, and the view says so.
                assert!(v.servers.incomplete().is_some(), "{what}: {v:?}");
                assert!(
                    v.answers.iter().all(|a| a.ip.to_string() != EVIL_IP),
                    "{what}: the attacker's server was asked: {v:?}"
                );
            }
        }
    }
    // The control through the same man in the middle with nothing to forge.
    let mitm = DnsServer::shared_forging(l.dynamic.shared(), Vec::new()).unwrap();
    let v = ask_all(&resolver(&l, mitm.addr()), &c, &owner(), now())
        .await
        .unwrap();
    assert!(v.servers.incomplete().is_none());
    assert!(
        v.answers
            .iter()
            .all(|a| texts(a) == Ok(vec!["3 1 1 aa".to_owned()]))
    );
}

// The judge on its own: an honest denial judged with keys that are not the zone's fails (the
// keys that judge are the validated ones, never those an answer brings).
/// The DNSKEY RRset of `world`'s `example.test.` zone (the attacker's keys).
fn dnskeys(world: &World) -> Vec<Rdata> {
    rrset(world, "example.test.", rtype::DNSKEY)
        .into_iter()
        .filter(|r| r.rtype() == rtype::DNSKEY)
        .map(|r| r.rdata)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d18_a_denial_judged_with_other_keys_fails() {
    let l = lab(false);
    let (evil_world, _evil_server) = evil();
    let evil_keys: Vec<Rdata> = dnskeys(&evil_world);
    let apex = Name::parse("example.test.");
    let t = NetTransport::new(l.running.primary, Duration::from_secs(2));
    let flags = mxdane_dns::message::QueryFlags {
        rd: false,
        cd: true,
        dnssec_ok: true,
    };
    let m = t.exchange(&absent(), rtype::TLSA, flags).unwrap();
    let zone = Zone {
        apex: &apex,
        keys: &evil_keys,
        now: now(),
    };
    assert!(direct::judge(&m, &absent(), rtype::TLSA, &zone).is_err());
}

// Issue 26, on the upstream resolver's path, cases (3) and (1): the zone's NS or DNSKEY RRset
// denied with NXDOMAIN or NODATA "proven" by the root's genuinely signed records, or every
// signature at and below the zone stripped (an unsigned answer that could say anything). Each
// is bogus to libunbound, so the view refuses to exist and names the lookup: no server is
// asked and nothing becomes a fact. Breaks if `find_apex` or the DNSKEY lookup in
// `authoritative_servers` takes records from a lookup that is not Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d18_p03_m01_upstream_denials_and_stripped_signatures_give_no_view() {
    let l = lab(false);
    let apex = Name::parse("example.test.");
    let deny = |qtype: u16, nodata: bool| Forgery::ReplayDenial {
        target: apex.clone(),
        qtype,
        from: Name::root(),
        nodata,
    };
    let cases: Vec<(&str, Vec<Forgery>)> = vec![
        ("NS denied (NXDOMAIN)", vec![deny(rtype::NS, false)]),
        ("NS denied (NODATA)", vec![deny(rtype::NS, true)]),
        ("DNSKEY denied (NODATA)", vec![deny(rtype::DNSKEY, true)]),
        (
            "signatures stripped",
            vec![Forgery::StripRrsigs {
                below: apex.clone(),
            }],
        ),
    ];
    let c = connect(&l, Vec::new(), |t| t);
    for (what, forgeries) in cases {
        let mitm = DnsServer::shared_forging(l.dynamic.shared(), forgeries).unwrap();
        match ask_all(&resolver(&l, mitm.addr()), &c, &owner(), now()).await {
            Err(ViewError::NotSecure { name, status, .. }) => {
                assert!(
                    matches!(status, Status::Bogus(_)),
                    "{what}: {name} {status}"
                );
            }
            Err(e) => panic!("{what}: not the error expected: {e}"),
            Ok(v) => panic!("{what}: a view from unvalidated data: {v:?}"),
        }
    }
}
