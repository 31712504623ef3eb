//! The validator's building blocks against third-party vectors (../shared/vectors/dnssec):
//! NSEC3 hashes (RFC 5155 appendix A and others), key tags and DS digests (RFC 4034, 4509).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use data_encoding::{BASE32HEX_NOPAD, BASE64, HEXLOWER_PERMISSIVE};
use mxdane_dns::Name;
use mxdane_dns::dnssec as keys;
use mxdane_dns::rdata::Rdata;
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
