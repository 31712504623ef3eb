//! What stays ours of DNSSEC validation, now that libunbound validates every lookup: trust
//! anchors (the IANA root keys, or a file of DS/DNSKEY lines), and checking RRSIGs over one
//! RRset with a DNSKEY RRset that libunbound already validated (RFC 4035 section 5.3), for the
//! answers fetched directly from each authoritative server.
//!
//! The chain of trust, zone cuts and denial of existence are libunbound's: the embedded
//! validator that did them here accepted forged denials (issue 12, F1 to F6) and was removed.

use aws_lc_rs::signature::{self, UnparsedPublicKey};

use crate::dnssec::{key_tag, signed_data};
use crate::name::Name;
use crate::rdata::{Rdata, Record};

/// The DNSSEC algorithms whose RRSIGs [`verify_rrset`] checks (RFC 8624 "MUST"/"RECOMMENDED"):
/// RSA/SHA-256 (8), RSA/SHA-512 (10), ECDSA P-256 (13), ECDSA P-384 (14), Ed25519 (15).
pub const SUPPORTED_ALGORITHMS: [u8; 5] = [8, 10, 13, 14, 15];

/// At most this many signature verifications per RRset: hostile data with many keys of one key
/// tag and many RRSIGs (KeyTrap, CVE-2023-50387) costs a bounded amount of CPU.
pub const MAX_VERIFICATIONS: usize = 8;

/// A trust anchor: DS or DNSKEY data for a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The zone.
    pub zone: Name,
    /// DS or DNSKEY record data.
    pub data: Rdata,
}

impl TrustAnchor {
    /// The anchor as one zone-file line (`. IN DS 20326 8 2 E06D...`), as libunbound takes it.
    pub fn presentation(&self) -> String {
        format!(
            "{} IN {} {}",
            self.zone,
            crate::rdata::type_name(self.data.rtype()),
            self.data
        )
    }
}

/// The IANA root KSKs (KSK-2017, tag 20326, and KSK-2024, tag 38696) as DS records.
pub fn iana_root_anchors() -> Vec<TrustAnchor> {
    let ds = |key_tag, hex: &str| TrustAnchor {
        zone: Name::root(),
        data: Rdata::Ds {
            key_tag,
            algorithm: 8,
            digest_type: 2,
            digest: data_encoding::HEXUPPER_PERMISSIVE
                .decode(hex.as_bytes())
                .unwrap_or_default(),
        },
    };
    vec![
        ds(
            20326,
            "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
        ),
        ds(
            38696,
            "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
        ),
    ]
}

/// The RRSIGs in `records` covering `owner`/`t`.
pub fn sigs_for(records: &[Record], owner: &Name, t: u16) -> Vec<Record> {
    records
        .iter()
        .filter(|r| {
            r.name == *owner
                && matches!(&r.rdata, Rdata::Rrsig { type_covered, .. } if *type_covered == t)
        })
        .cloned()
        .collect()
}

/// What a verified RRSIG vouches for, beyond the RRset's data: the signed fields a validator
/// uses (RFC 4035 section 5.3.3), which no man in the middle can rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The original TTL: the longest any validating resolver caches the RRset.
    pub original_ttl: u32,
    /// The labels field: fewer than the owner's means a wildcard expansion.
    pub labels: u8,
    /// The end of the signature's validity (seconds since 1970).
    pub expiration: u32,
}

/// Verifies that one of `sigs` (RRSIG records) by `zone` with one of `keys` (DNSKEY data)
/// signs `rrset` at time `now` (seconds since 1970), with the checks of RFC 4035 section 5.3,
/// and returns the verified signature's signed fields. Returns the reason for the last
/// failure otherwise (which key tag, which window).
pub fn verify_rrset(
    rrset: &[Record],
    sigs: &[Record],
    zone: &Name,
    keys: &[Rdata],
    now: u32,
) -> Result<Signature, String> {
    let Some(first) = rrset.first() else {
        return Err("empty RRset".into());
    };
    if sigs.is_empty() {
        return Err(format!(
            "{} {}: no RRSIG",
            first.name,
            crate::rdata::type_name(first.rtype())
        ));
    }
    let mut why = String::new();
    let mut attempts = 0usize;
    for sig in sigs {
        let Rdata::Rrsig {
            algorithm,
            labels,
            original_ttl,
            expiration,
            inception,
            key_tag: tag,
            signer,
            signature,
            ..
        } = &sig.rdata
        else {
            continue;
        };
        if signer != zone {
            why = format!("RRSIG by {signer}, expected the zone {zone}");
            continue;
        }
        if !SUPPORTED_ALGORITHMS.contains(algorithm) {
            why = format!("RRSIG algorithm {algorithm} is not supported");
            continue;
        }
        if usize::from(*labels) > first.name.len() {
            why = format!("RRSIG labels {labels} exceed the owner's");
            continue;
        }
        if now < *inception || now > *expiration {
            why = format!(
                "RRSIG (key tag {tag}) valid {} to {}, outside the validation time {}",
                crate::rdata::rrsig_time(*inception),
                crate::rdata::rrsig_time(*expiration),
                crate::rdata::rrsig_time(now)
            );
            continue;
        }
        let owner = if usize::from(*labels) < first.name.len() {
            first.name.suffix(usize::from(*labels)).child("*")
        } else {
            first.name.clone()
        };
        let canonical: Vec<Record> = rrset
            .iter()
            .map(|r| Record::new(owner.clone(), *original_ttl, r.rdata.clone()))
            .collect();
        let data = signed_data(&sig.rdata.rrsig_header(), &canonical, *original_ttl);
        let mut found = false;
        for k in keys {
            let Rdata::Dnskey {
                flags,
                protocol,
                algorithm: kalg,
                key,
            } = k
            else {
                continue;
            };
            if kalg != algorithm
                || *protocol != 3
                || flags & 0x0100 == 0
                || key_tag(&k.to_wire()) != *tag
            {
                continue;
            }
            found = true;
            attempts += 1;
            if attempts > MAX_VERIFICATIONS {
                return Err(format!(
                    "more than {MAX_VERIFICATIONS} signature checks for one RRset (colliding key tags or junk RRSIGs)"
                ));
            }
            if verify_signature(*algorithm, key, &data, signature) {
                return Ok(Signature {
                    original_ttl: *original_ttl,
                    labels: *labels,
                    expiration: *expiration,
                });
            }
            why = format!("the RRSIG by key tag {tag} does not verify");
        }
        if !found {
            why = format!("no DNSKEY of {zone} has key tag {tag} and algorithm {algorithm}");
        }
    }
    Err(why)
}

fn verify_signature(algorithm: u8, key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    match algorithm {
        8 | 10 => {
            let Some((&first, rest)) = key.split_first() else {
                return false;
            };
            let (elen, rest) = if first == 0 {
                if rest.len() < 2 {
                    return false;
                }
                (
                    usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                    &rest[2..],
                )
            } else {
                (usize::from(first), rest)
            };
            if rest.len() <= elen {
                return false;
            }
            let (e, n) = rest.split_at(elen);
            let params = if algorithm == 8 {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, data, sig)
                .is_ok()
        }
        13 | 14 => {
            let mut point = vec![4];
            point.extend_from_slice(key);
            let alg = if algorithm == 13 {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            UnparsedPublicKey::new(alg, point).verify(data, sig).is_ok()
        }
        15 => UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(data, sig)
            .is_ok(),
        _ => false,
    }
}
