//! The validator's building blocks against third-party vectors (../shared/vectors/dnssec):
//! NSEC3 hashes (RFC 5155 appendix A and others), key tags and DS digests (RFC 4034, 4509),
//! and the signed data and signature of a deterministic Ed25519 RRSIG (RFC 8080 section 6),
//! made by the lab's signer with this crate's canonical form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXLOWER_PERMISSIVE};
use mxdane_dns::Name;
use mxdane_dns::dnssec as keys;
use mxdane_dns::rdata::{Rdata, Record};
use mxdane_lab::dns::keys::ZoneKey;
use serde_json::Value;

fn vectors(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../../shared/vectors/dnssec/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap()
}

fn dnskey(text: &str) -> Rdata {
    let p: Vec<&str> = text.split_whitespace().collect();
    Rdata::Dnskey {
        flags: p[0].parse().unwrap(),
        protocol: p[1].parse().unwrap(),
        algorithm: p[2].parse().unwrap(),
        key: BASE64.decode(p[3..].concat().as_bytes()).unwrap(),
    }
}

#[test]
fn nsec3_hashes_match_the_vectors() {
    let cases = vectors("nsec3_hash_vectors.json");
    for v in &cases {
        let salt = match v["salt"].as_str().unwrap() {
            "-" => Vec::new(),
            s => hex(s),
        };
        let h = keys::nsec3_hash(
            &Name::parse(v["name"].as_str().unwrap()),
            &salt,
            u16::try_from(v["iterations"].as_u64().unwrap()).unwrap(),
        );
        assert_eq!(
            BASE32HEX_NOPAD.encode(&h).to_ascii_lowercase(),
            v["hash"].as_str().unwrap().to_ascii_lowercase(),
            "{v}"
        );
    }
    assert_eq!(cases.len(), 20);
}

#[test]
fn key_tags_and_sha256_ds_match_the_vectors() {
    let mut ds_checked = 0;
    for v in vectors("ds_keytag_vectors.json") {
        let key = dnskey(v["dnskey_rdata"].as_str().unwrap());
        let tag = keys::key_tag(&key.to_wire());
        assert_eq!(u64::from(tag), v["key_tag"].as_u64().unwrap(), "{v}");
        let Some(ds) = v["ds"].as_str() else { continue };
        let ds: Vec<&str> = ds.split_whitespace().collect();
        if ds[2] == "2" {
            let Some(Rdata::Ds { digest, .. }) =
                keys::ds(&Name::parse(v["owner"].as_str().unwrap()), &key)
            else {
                panic!("DS");
            };
            assert_eq!(digest, hex(&ds[3..].concat()), "{v}");
            ds_checked += 1;
        }
    }
    assert!(ds_checked >= 5, "only {ds_checked} SHA-256 DS vectors");
}

fn rrsig_time(s: &str) -> u32 {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let t = time::PrimitiveDateTime::parse(s, fmt).unwrap().assume_utc();
    u32::try_from(t.unix_timestamp()).unwrap()
}

// RFC 8080 section 6: Ed25519 is deterministic, so our signed data and signature must equal
// the RFC's bytes.
#[test]
fn ed25519_rrsig_is_byte_exact() {
    let mut checked = 0;
    for v in vectors("dnssec_signing_vectors.json") {
        if !v["id"].as_str().unwrap().starts_with("rfc8080-ed25519") {
            continue;
        }
        let seed_b64 = v["private_key"]
            .as_str()
            .unwrap()
            .rsplit("PrivateKey: ")
            .next()
            .unwrap();
        let key =
            ZoneKey::ed25519_from_seed(&BASE64.decode(seed_b64.trim().as_bytes()).unwrap(), true)
                .unwrap();
        let dnskey_text: Vec<&str> = v["dnskey"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(key.dnskey(), dnskey(&dnskey_text[4..].join(" ")));
        let rrset: Vec<Record> = v["rrset"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let p: Vec<&str> = r.as_str().unwrap().split_whitespace().collect();
                assert_eq!(p[3], "MX");
                Record::new(
                    Name::parse(p[0]),
                    p[1].parse().unwrap(),
                    Rdata::Mx(p[4].parse().unwrap(), Name::parse(p[5])),
                )
            })
            .collect();
        let want: Vec<&str> = v["expected_rrsig"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect();
        let signer = Name::parse(want[11]);
        let sig = mxdane_lab::dns::keys::sign_rrset(
            &rrset,
            &key,
            &signer,
            rrsig_time(want[9]),
            rrsig_time(want[8]),
        );
        let Rdata::Rrsig {
            signature,
            labels,
            key_tag,
            ..
        } = &sig.rdata
        else {
            panic!("RRSIG");
        };
        assert_eq!(labels.to_string(), want[6]);
        assert_eq!(key_tag.to_string(), want[10]);
        let data = keys::signed_data(&sig.rdata.rrsig_header(), &rrset, rrset[0].ttl);
        assert_eq!(data, hex(v["signed_data_hex"].as_str().unwrap()));
        assert_eq!(
            *signature,
            BASE64.decode(want[12..].concat().as_bytes()).unwrap()
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}
