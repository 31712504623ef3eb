//! The in-process DNS server answering the every-knob world: each fixture case gets the answer
//! a validating stub needs (checked here by verifying every RRSIG against the zone's DNSKEYs
//! with aws-lc-rs; the independent validators run in external_dns.rs), plus transport and
//! authoritative-mode behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use mxdane_lab::dns::fixtures::{self, Verdict};
use mxdane_lab::dns::keys;
use mxdane_lab::dns::message::{self, RawMessage, RawRecord, rcode};
use mxdane_lab::dns::name::Name;
use mxdane_lab::dns::rdata::{Rdata, rtype};
use mxdane_lab::dns::server::{self, DnsServer};
use mxdane_lab::dns::world::World;

fn world() -> Arc<World> {
    static WORLD: OnceLock<Arc<World>> = OnceLock::new();
    WORLD
        .get_or_init(|| Arc::new(fixtures::every_knob()))
        .clone()
}

fn query(server: &DnsServer, name: &str, qtype: u16) -> Option<RawMessage> {
    let raw = server::ask(
        server.addr(),
        &Name::parse(name),
        qtype,
        Duration::from_millis(800),
    )?;
    Some(message::parse_response(&raw).unwrap())
}

fn read_name(buf: &[u8]) -> (Name, usize) {
    let mut labels = Vec::new();
    let mut pos = 0;
    while buf[pos] != 0 {
        let l = usize::from(buf[pos]);
        labels.push(buf[pos + 1..pos + 1 + l].to_vec());
        pos += 1 + l;
    }
    (Name::from_labels(labels), pos + 1)
}

/// Verifies the RRSIGs of every RRset in `records` with the signer zone's DNSKEYs; returns the
/// first problem. RRsets without RRSIG are a problem only when `require` is set.
fn check_signatures(world: &World, records: &[RawRecord], require: bool) -> Result<usize, String> {
    let now = u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let mut sets: Vec<(Name, u16)> = records
        .iter()
        .filter(|r| r.rtype != rtype::RRSIG)
        .map(|r| (r.name.clone(), r.rtype))
        .collect();
    sets.dedup();
    let mut verified = 0;
    for (owner, t) in sets {
        let rrset: Vec<&RawRecord> = records
            .iter()
            .filter(|r| r.name == owner && r.rtype == t)
            .collect();
        let sigs: Vec<&RawRecord> = records
            .iter()
            .filter(|r| {
                r.name == owner && r.rtype == rtype::RRSIG && r.rdata[..2] == t.to_be_bytes()
            })
            .collect();
        // RFC 6672 section 5.3.1: a CNAME synthesized from a DNAME carries no RRSIG.
        let synthesized = t == rtype::CNAME
            && records.iter().any(|r| {
                r.rtype == rtype::DNAME && owner != r.name && owner.is_at_or_below(&r.name)
            });
        if sigs.is_empty() {
            if require && !synthesized {
                return Err(format!("{owner} type {t}: no RRSIG"));
            }
            continue;
        }
        let mut ok = false;
        let mut why = String::new();
        for sig in sigs {
            let d = &sig.rdata;
            let (alg, labels) = (d[2], d[3]);
            let orig_ttl = u32::from_be_bytes(d[4..8].try_into().unwrap());
            let exp = u32::from_be_bytes(d[8..12].try_into().unwrap());
            let inc = u32::from_be_bytes(d[12..16].try_into().unwrap());
            let tag = u16::from_be_bytes([d[16], d[17]]);
            let (signer, n) = read_name(&d[18..]);
            let header = &d[..18 + n];
            let signature = &d[18 + n..];
            if now > exp || now < inc {
                why = format!("{owner} type {t}: RRSIG outside its validity period");
                continue;
            }
            // Wildcard expansion: sign over `*.` + the rightmost `labels` labels.
            let signed_owner = if usize::from(labels) < owner.len() {
                owner.suffix(usize::from(labels)).child("*")
            } else {
                owner.clone()
            };
            let mut rdatas: Vec<&Vec<u8>> = rrset.iter().map(|r| &r.rdata).collect();
            rdatas.sort();
            let mut data = header.to_vec();
            for rd in rdatas {
                signed_owner.write_wire(&mut data);
                data.extend_from_slice(&t.to_be_bytes());
                data.extend_from_slice(&1u16.to_be_bytes());
                data.extend_from_slice(&orig_ttl.to_be_bytes());
                data.extend_from_slice(&u16::try_from(rd.len()).unwrap().to_be_bytes());
                data.extend_from_slice(rd);
            }
            let zone = world.zones().iter().find(|z| z.apex == signer).unwrap();
            let dnskeys = &zone.servers[0].nodes[&signer].rrsets[&rtype::DNSKEY];
            for k in dnskeys {
                let Rdata::Dnskey { key, .. } = &k.rdata else {
                    continue;
                };
                if keys::key_tag(&k.rdata.to_wire()) != tag {
                    continue;
                }
                let valid = match alg {
                    13 => {
                        let mut point = vec![4];
                        point.extend_from_slice(key);
                        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                            .verify(&data, signature)
                            .is_ok()
                    }
                    15 => UnparsedPublicKey::new(&signature::ED25519, key)
                        .verify(&data, signature)
                        .is_ok(),
                    8 => {
                        let elen = usize::from(key[0]);
                        let e = &key[1..1 + elen];
                        let n = &key[1 + elen..];
                        signature::RsaPublicKeyComponents { n, e }
                            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &data, signature)
                            .is_ok()
                    }
                    _ => false,
                };
                if valid {
                    ok = true;
                } else {
                    why = format!("{owner} type {t}: signature does not verify");
                }
            }
        }
        if !ok {
            return Err(if why.is_empty() {
                format!("{owner} type {t}: no matching DNSKEY")
            } else {
                why
            });
        }
        verified += 1;
    }
    Ok(verified)
}

/// Whether the parent's DS for `apex` matches one of the zone's DNSKEYs.
fn ds_matches(world: &World, apex: &str) -> bool {
    let apex_name = Name::parse(apex);
    let parent = world.zone_for(&apex_name, true).unwrap();
    let zone = world.zone(apex).unwrap();
    let Some(ds_set) = parent.servers[0].nodes[&apex_name].rrsets.get(&rtype::DS) else {
        return false;
    };
    let Some(keys_set) = zone.servers[0].nodes[&apex_name].rrsets.get(&rtype::DNSKEY) else {
        return false;
    };
    ds_set.iter().any(|ds| {
        keys_set
            .iter()
            .any(|k| keys::ds(&apex_name, &k.rdata).as_ref() == Some(&ds.rdata))
    })
}

// Every fixture case gets the response its verdict needs, with signatures that verify (or,
// for the bogus knobs, that fail exactly where the knob says).
#[test]
fn every_fixture_case_is_answered_as_its_verdict_needs() {
    let world = world();
    let server = DnsServer::recursive(world.clone()).unwrap();
    let mut failures = Vec::new();
    for case in fixtures::CASES {
        let resp = query(&server, case.name, case.qtype);
        let all = |r: &RawMessage| {
            r.answer
                .iter()
                .chain(&r.authority)
                .cloned()
                .collect::<Vec<_>>()
        };
        let zone_apex = world
            .zone_for(&Name::parse(case.name), case.qtype == rtype::DS)
            .unwrap()
            .apex
            .to_string();
        let ok: Result<(), String> = match (case.verdict, &resp) {
            (Verdict::Timeout, None) => Ok(()),
            (_, None) => Err("no answer".into()),
            (Verdict::Servfail, Some(r)) if r.rcode == rcode::SERVFAIL => Ok(()),
            (Verdict::Secure, Some(r)) if r.rcode == rcode::NOERROR && !r.answer.is_empty() => {
                check_signatures(&world, &all(r), true).map(|_| ())
            }
            (Verdict::SecureNxdomain | Verdict::SecureNodata, Some(r))
                if r.answer
                    .iter()
                    .all(|a| a.rtype == rtype::CNAME || a.rtype == rtype::RRSIG)
                    && r.rcode
                        == if case.verdict == Verdict::SecureNxdomain {
                            rcode::NXDOMAIN
                        } else {
                            rcode::NOERROR
                        } =>
            {
                let denial = r
                    .authority
                    .iter()
                    .filter(|a| a.rtype == rtype::NSEC || a.rtype == rtype::NSEC3)
                    .count();
                if denial == 0 {
                    Err("no NSEC/NSEC3 proof".into())
                } else {
                    check_signatures(&world, &all(r), true).map(|_| ())
                }
            }
            // Somewhere along the chain an RRset is unsigned (an insecure zone); whatever is
            // signed verifies.
            (Verdict::Insecure, Some(r)) if r.rcode == rcode::NOERROR && !r.answer.is_empty() => {
                match check_signatures(&world, &r.answer, true) {
                    Err(e) if e.ends_with("no RRSIG") => {
                        check_signatures(&world, &all(r), false).map(|_| ())
                    }
                    Err(e) => Err(e),
                    Ok(_) => Err("every RRset is signed".into()),
                }
            }
            (Verdict::InsecureNxdomain, Some(r)) if r.rcode == rcode::NXDOMAIN => {
                if r.authority.iter().any(|a| a.rtype == rtype::RRSIG) {
                    Err("signed denial in an insecure zone".into())
                } else {
                    Ok(())
                }
            }
            (Verdict::Bogus, Some(r)) => {
                if check_signatures(&world, &all(r), true).is_err()
                    || !ds_matches(&world, &zone_apex)
                {
                    Ok(())
                } else {
                    Err("every signature verifies and the DS matches".into())
                }
            }
            (_, Some(r)) => Err(format!("rcode {} with {} answers", r.rcode, r.answer.len())),
        };
        if let Err(e) = ok {
            failures.push(format!("{} {} ({}): {e}", case.name, case.qtype, case.knob));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(fixtures::CASES.len() >= 40);
}

#[test]
fn ds_comes_from_the_parent_and_referrals_carry_ds_or_its_denial() {
    let world = world();
    let recursive = DnsServer::recursive(world.clone()).unwrap();
    let r = query(&recursive, "secure.test.", rtype::DS).unwrap();
    let sig = r.answer.iter().find(|a| a.rtype == rtype::RRSIG).unwrap();
    let (signer, _) = read_name(&sig.rdata[18..]);
    assert_eq!(signer, Name::parse("test."), "DS is signed by the parent");
    let tld = DnsServer::authoritative(world.clone(), "test.", 0).unwrap();
    let secure = query(&tld, "mx.secure.test.", rtype::A).unwrap();
    assert!(!secure.aa && secure.answer.is_empty());
    let types: Vec<u16> = secure.authority.iter().map(|a| a.rtype).collect();
    assert!(
        types.contains(&rtype::NS) && types.contains(&rtype::DS),
        "{types:?}"
    );
    assert!(
        secure.additional.iter().any(|a| a.rtype == rtype::A),
        "glue"
    );
    let insecure = query(&tld, "mx.insecure.test.", rtype::A).unwrap();
    let types: Vec<u16> = insecure.authority.iter().map(|a| a.rtype).collect();
    assert!(
        types.contains(&rtype::NS) && types.contains(&rtype::NSEC) && !types.contains(&rtype::DS),
        "{types:?}"
    );
    let child = DnsServer::authoritative(world.clone(), "secure.test.", 0).unwrap();
    let a = query(&child, "mx.secure.test.", rtype::A).unwrap();
    assert!(a.aa && a.answer.len() == 2);
    let refused = query(&child, "mx.nsec3.test.", rtype::A).unwrap();
    assert_eq!(refused.rcode, rcode::REFUSED);
}

#[test]
fn server_faults_and_diverging_servers() {
    let world = world();
    let sf = DnsServer::authoritative(world.clone(), "servfail.test.", 0).unwrap();
    assert_eq!(
        query(&sf, "_25._tcp.mx.servfail.test.", rtype::TLSA)
            .unwrap()
            .rcode,
        rcode::SERVFAIL
    );
    assert_eq!(
        query(&sf, "mx.servfail.test.", rtype::A).unwrap().rcode,
        rcode::NOERROR
    );
    let to = DnsServer::authoritative(world.clone(), "timeout.test.", 0).unwrap();
    assert!(query(&to, "_25._tcp.mx.timeout.test.", rtype::TLSA).is_none());
    assert!(query(&to, "mx.timeout.test.", rtype::A).is_some());
    let tlsa_of = |server: usize| {
        let s = DnsServer::authoritative(world.clone(), "rollover.test.", server).unwrap();
        let r = query(&s, "_25._tcp.mx.rollover.test.", rtype::TLSA).unwrap();
        assert_eq!(
            check_signatures(&world_for_server(server), &r.answer, true),
            Ok(1)
        );
        r.answer
            .iter()
            .find(|a| a.rtype == rtype::TLSA)
            .unwrap()
            .rdata
            .clone()
    };
    let (first, second) = (tlsa_of(0), tlsa_of(1));
    assert_ne!(first, second, "a half-finished rollover");
    assert!(
        first.ends_with(
            &data_encoding::HEXLOWER
                .decode(fixtures::DIGEST.as_bytes())
                .unwrap()
        )
    );
}

fn world_for_server(_server: usize) -> Arc<World> {
    // Both servers of a zone sign with the same keys.
    world()
}

#[test]
fn transport_truncation_tcp_formerr_and_do_bit() {
    let big = Arc::new(
        World::builder()
            .zone("big.test", |mut z| {
                for i in 0..40 {
                    z = z.txt("t", &format!("{i:03}{}", "x".repeat(100)));
                }
                z
            })
            .build(),
    );
    let server = DnsServer::recursive(big).unwrap();
    let name = Name::parse("t.big.test.");
    let flags = |cd| mxdane_dns::message::QueryFlags {
        rd: true,
        cd,
        dnssec_ok: true,
    };
    let query_wire = message::build_query(1, &name, rtype::TXT, flags(true));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(&query_wire, server.addr()).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    let udp = message::parse_response(&buf[..n]).unwrap();
    assert!(udp.tc && udp.answer.is_empty(), "truncated over UDP");
    let tcp = message::parse_response(
        &server::ask_tcp(server.addr(), &query_wire, Duration::from_secs(2)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        tcp.answer.iter().filter(|a| a.rtype == rtype::TXT).count(),
        40
    );
    // Garbage gets FORMERR with the id echoed.
    socket.send_to(&[0xab, 0xcd, 0x01], server.addr()).unwrap();
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..2], buf[3] & 0x0f),
        (&[0xab, 0xcd][..], rcode::FORMERR.to_be_bytes()[1])
    );
    // Without the DO bit, no RRSIGs.
    let mut no_do = message::build_query(2, &Name::parse("big.test."), rtype::SOA, flags(false));
    let len = no_do.len();
    no_do[len - 4] = 0;
    socket.send_to(&no_do, server.addr()).unwrap();
    let (n2, _) = socket.recv_from(&mut buf).unwrap();
    let plain = message::parse_response(&buf[..n2]).unwrap();
    assert!(!plain.answer.is_empty() && plain.answer.iter().all(|a| a.rtype != rtype::RRSIG));
    let _ = n;
    assert!(server.queries().len() >= 3);
}

#[test]
fn export_writes_every_zone_and_a_trust_anchor() {
    let world = world();
    let dir = std::env::temp_dir().join(format!("mxdane-lab-export-{}", std::process::id()));
    let exported = world.export(&dir, 15353, 15354).unwrap();
    let zones = world.zones().len();
    assert!(
        exported.zone_files.len() > zones,
        "every zone, plus the second rollover server"
    );
    let ta = std::fs::read_to_string(&exported.trust_anchor).unwrap();
    assert!(ta.starts_with(". 3600 IN DS "), "{ta}");
    let knot = std::fs::read_to_string(&exported.knot_conf).unwrap();
    let unbound = std::fs::read_to_string(&exported.unbound_conf).unwrap();
    for z in world.zones() {
        assert!(knot.contains(&format!("domain: \"{}\"", z.apex)));
        assert!(unbound.contains(&format!("name: \"{}\"", z.apex)));
    }
    let secure = std::fs::read_to_string(dir.join("zones/secure.test.zone")).unwrap();
    let records = secure.lines().filter(|l| !l.starts_with(';')).count();
    assert_eq!(
        records,
        world.zone("secure.test").unwrap().servers[0]
            .all_records()
            .len()
    );
    assert!(secure.contains(" IN RRSIG TLSA 13 5 "));
    let _ = std::fs::remove_dir_all(&dir);
}
