//! The validator's RRSIG check (RFC 4035 section 5.3) against third-party vectors
//! (../shared/vectors/dnssec/dnssec_rrsig_vectors.json: dnspython, miekg/dns, RFC examples).
//! Vectors of algorithms we do not validate (RFC 8624 / CHECKLIST D-03: 1, 3, 5, 7, 12, 16 and
//! unknown ones) must fail here (the chain treats such zones as insecure), and so must RSA keys
//! below 1024 bits; each such case is listed, so a change shows up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use data_encoding::BASE64;
use mxdane_dns::rdata::{Rdata, Record, rtype, type_code};
use mxdane_dns::{Name, SUPPORTED_ALGORITHMS, verify_rrset};
use serde_json::Value;

fn time(s: &str) -> u32 {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let t = time::PrimitiveDateTime::parse(s, fmt).unwrap().assume_utc();
    u32::try_from(t.unix_timestamp()).unwrap()
}

/// Reads one record in presentation form (the types the vectors use).
fn record(line: &str) -> Record {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (name, ttl, t) = (
        Name::parse(f[0]),
        f[1].parse().unwrap(),
        type_code(f[3]).unwrap(),
    );
    let r = &f[4..];
    let rdata = match t {
        rtype::A => Rdata::A(r[0].parse().unwrap()),
        rtype::NS => Rdata::Ns(Name::parse(r[0])),
        rtype::MX => Rdata::Mx(r[0].parse().unwrap(), Name::parse(r[1])),
        rtype::SOA => Rdata::Soa {
            mname: Name::parse(r[0]),
            rname: Name::parse(r[1]),
            serial: r[2].parse().unwrap(),
            refresh: r[3].parse().unwrap(),
            retry: r[4].parse().unwrap(),
            expire: r[5].parse().unwrap(),
            minimum: r[6].parse().unwrap(),
        },
        rtype::TXT => {
            let text = line.split_once(" TXT ").unwrap().1;
            Rdata::Txt(
                text.split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect(),
            )
        }
        rtype::DNSKEY => Rdata::Dnskey {
            flags: r[0].parse().unwrap(),
            protocol: r[1].parse().unwrap(),
            algorithm: r[2].parse().unwrap(),
            key: BASE64.decode(r[3..].concat().as_bytes()).unwrap(),
        },
        rtype::RRSIG => Rdata::Rrsig {
            type_covered: type_code(r[0]).unwrap(),
            algorithm: r[1].parse().unwrap(),
            labels: r[2].parse().unwrap(),
            original_ttl: r[3].parse().unwrap(),
            expiration: time(r[4]),
            inception: time(r[5]),
            key_tag: r[6].parse().unwrap(),
            signer: Name::parse(r[7]),
            signature: BASE64.decode(r[8..].concat().as_bytes()).unwrap(),
        },
        other => panic!("type {other} in a vector"),
    };
    Record::new(name, ttl, rdata)
}

#[test]
fn d03_rrsig_vectors() {
    let path = format!(
        "{}/../../../shared/vectors/dnssec/dnssec_rrsig_vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let vectors: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Valid upstream, refused here on purpose: RSA keys below 1024 bits (RFC 8624 section 3.1).
    let short_keys = ["rfc5702-rsasha256-example"];
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for v in &vectors {
        let id = v["id"].as_str().unwrap();
        let lines = |k: &str| -> Vec<Record> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|l| record(l.as_str().unwrap()))
                .collect()
        };
        let (rrset, sigs, keys) = (lines("rrset"), lines("rrsig"), lines("dnskey"));
        let signer = match &sigs[0].rdata {
            Rdata::Rrsig { signer, .. } => signer.clone(),
            _ => unreachable!(),
        };
        let keys: Vec<Rdata> = keys.into_iter().map(|k| k.rdata).collect();
        let now = u32::try_from(v["time"].as_u64().unwrap()).unwrap();
        let got = verify_rrset(&rrset, &sigs, &signer, &keys, now);
        let alg = match &sigs[0].rdata {
            Rdata::Rrsig { algorithm, .. } => *algorithm,
            _ => 0,
        };
        let want_valid = v["expect"] == "valid"
            && SUPPORTED_ALGORITHMS.contains(&alg)
            && !short_keys.contains(&id);
        if got.is_ok() != want_valid {
            failures.push(format!(
                "{id}: expected {}, got {got:?}",
                if want_valid { "valid" } else { "invalid" }
            ));
        }
        if want_valid {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    println!(
        "{} RRSIG vectors: {valid} verified, {invalid} refused",
        vectors.len()
    );
    assert_eq!(vectors.len(), 39);
    // Pinned: the supported-algorithm vectors that upstream calls valid (ECDSA P-256/P-384,
    // Ed25519, RSA/SHA-256 and SHA-512).
    assert_eq!(valid, 9, "vectors verified");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
