//! Third-party vectors from ../shared/vectors: dnspython's TLSA presentation cases (T-01) and
//! GnuTLS's libdane cases (T-01, T-02, matching primitives).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use mxdane_tlsa::{Certificate, Name, Subject, Tlsa, Usability, parse_zone, read_material};
use serde_json::Value;

fn shared(rel: &str) -> PathBuf {
    let base = std::env::var_os("MXDANE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    base.join(rel)
}

fn json(rel: &str) -> Value {
    let path = shared(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn cert_from_pem(pem: &str) -> Certificate {
    read_material(pem.as_bytes())
        .unwrap()
        .certificates
        .remove(0)
}

#[test]
fn t01_dnspython_presentation_vectors() {
    let v = json("vectors/tlsa-text/tlsa_presentation_vectors.json");
    let cases = v["cases"].as_array().unwrap();
    let (mut zone_cases, mut equal_cases, mut error_cases) = (0, 0, 0);
    for case in cases {
        if let Some(input) = case["input"].as_str() {
            let origin = Name::try_parse(case["origin"].as_str().unwrap()).unwrap();
            let ours = parse_zone(input, Some(&origin)).unwrap();
            let canonical = case["expect_canonical"].as_str().unwrap();
            let theirs = parse_zone(canonical, Some(&origin)).unwrap();
            assert_eq!(ours.len(), 1, "{input}");
            assert_eq!(ours[0].owner, theirs[0].owner, "{input}");
            assert_eq!(ours[0].record, theirs[0].record, "{input}");
            assert_eq!(theirs[0].ttl, Some(3600));
            // Our printing of the RDATA is the canonical one.
            let rdata = canonical
                .split_once(&format!("{} ", ours[0].rtype))
                .unwrap()
                .1;
            assert_eq!(ours[0].record.to_string(), rdata, "{input}");
            zone_cases += 1;
        } else if let Some(a) = case["rdata_a"].as_str() {
            let b = case["rdata_b"].as_str().unwrap();
            assert_eq!(case["expect"], "equal");
            assert_eq!(a.parse::<Tlsa>().unwrap(), b.parse::<Tlsa>().unwrap());
            equal_cases += 1;
        } else {
            let rdata = case["rdata"].as_str().unwrap();
            assert!(case["expect"].as_str().unwrap().contains("syntax error"));
            let err = rdata.parse::<Tlsa>().unwrap_err();
            assert!(err.to_string().contains("hex"), "{err}");
            error_cases += 1;
        }
    }
    assert_eq!(
        (zone_cases, equal_cases, error_cases),
        (4, 1, 1),
        "every vector was run"
    );
}

#[test]
fn t02_gnutls_wire_and_matching_vectors() {
    let v = json("vectors/gnutls/dane_c_vectors.json");
    let mut matched = 0;
    for case in v.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let wire: Vec<Tlsa> = case["tlsa_rdata_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Tlsa::from_wire(&hex(h.as_str().unwrap())).unwrap())
            .collect();
        let text: Vec<Tlsa> = case["tlsa_presentation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(wire, text, "{name}: wire and presentation forms agree");
        for (r, t) in wire
            .iter()
            .zip(case["tlsa_presentation"].as_array().unwrap())
        {
            assert_eq!(&r.to_string(), t.as_str().unwrap());
            assert_eq!(Tlsa::from_wire(&r.to_wire()).unwrap(), *r);
        }
        let Some(cert_pem) = case["cert_pem"].as_str() else {
            continue;
        };
        let cert = cert_from_pem(cert_pem);
        let ca = case["ca_pem"].as_str().map(cert_from_pem);
        let status = case["expected_status"].as_str().unwrap();
        // A record's digest matches the certificate its usage points at: EE usages the server
        // certificate, CA usages the CA certificate.
        let hits = wire
            .iter()
            .filter(|r| match r.usage().value() {
                0 | 2 => ca
                    .as_ref()
                    .is_some_and(|c| r.matches(Subject::Certificate(c))),
                _ => r.matches(Subject::Certificate(&cert)),
            })
            .count();
        match status {
            "0" => {
                assert!(hits > 0, "{name}: some record matches");
                matched += 1;
            }
            _ => assert_eq!(hits, 0, "{name}: no record matches ({status})"),
        }
        // T-04: the PKIX-TA records of these vectors are unusable for SMTP.
        for r in wire.iter().filter(|r| r.usage().value() == 0) {
            assert!(matches!(r.usability(), Usability::Unusable(_)));
        }
    }
    assert_eq!(matched, 4, "four GnuTLS cases expect a match (status 0)");
}

#[test]
fn t01_gnutls_dane_test_rr_pins_the_ecc256_certificate() {
    let rr = std::fs::read_to_string(shared("vectors/gnutls/dane-test.rr")).unwrap();
    let records = parse_zone(&rr, None).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].owner.as_ref().unwrap().as_str(),
        "_443._tcp.www.example.com."
    );
    let ecc =
        read_material(&std::fs::read(shared("vectors/gnutls/cert-ecc256.pem")).unwrap()).unwrap();
    let rsa =
        read_material(&std::fs::read(shared("vectors/gnutls/cert-rsa-2432.pem")).unwrap()).unwrap();
    assert!(
        records[0]
            .record
            .matches(Subject::Certificate(&ecc.certificates[0]))
    );
    assert!(
        !records[0]
            .record
            .matches(Subject::Certificate(&rsa.certificates[0]))
    );
    assert_eq!(rsa.certificates[0].key_type().to_string(), "RSA-2432");
    assert_eq!(ecc.certificates[0].key_type().to_string(), "ECDSA P-256");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
